//! Password resets by e-mail: a request recorded with its event, the link's token issued when
//! notify asks for it, and the reset that uses it once.

use super::accounts::end_sessions;
use super::*;

impl Store {
    /// Records a reset requested for `user_id`, announced by an `account.password_reset_requested`
    /// event (its subject the request's id, no secret in it) in the same transaction. `None`
    /// when `per_hour` requests were already made in the past hour: nothing more is sent.
    pub async fn request_password_reset(
        &self,
        user_id: &str,
        per_hour: i64,
        lifetime_ms: i64,
    ) -> Result<Option<String>, OnboardingError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let (recent,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM password_resets WHERE user_id = $1 AND requested_at > $2",
        )
        .bind(user_id)
        .bind(now - 3_600_000)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if recent >= per_hour {
            return Ok(None);
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO password_resets (id, user_id, requested_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(now)
        .bind(now + lifetime_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let event = Event::new(SERVICE, "account.password_reset_requested", &id)
            .with_payload(serde_json::json!({ "userId": user_id }));
        self.outbox.enqueue(&mut tx, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(Some(id))
    }

    /// Gives the pending request `request_id` its token (as `token_hash`), usable until
    /// `expires_at`; a token issued before for it stops working. Answers whose request it is,
    /// or `None` when it was used or ended meanwhile.
    pub async fn issue_password_reset(
        &self,
        request_id: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<Option<String>, OnboardingError> {
        let row: Option<(String,)> = sqlx::query_as(
            "UPDATE password_resets SET token_hash = $1, expires_at = $2 \
             WHERE id = $3 AND used_at IS NULL RETURNING user_id",
        )
        .bind(token_hash)
        .bind(expires_at)
        .bind(request_id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(row.map(|(user,)| user))
    }

    /// Sets the password of the account whose pending, unexpired reset token has the digest
    /// `token_hash`, using the token up and ending every session (and any other reset) of the
    /// account, in one transaction. Answers the account and the access token ids that may still
    /// be live; `None`, with nothing changed, when the token is unknown, used or expired.
    pub async fn reset_password(
        &self,
        token_hash: &str,
        password_hash: &str,
        revoke_until: i64,
    ) -> Result<Option<(String, Vec<String>)>, OnboardingError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        // Taken by this statement alone: a second use of the same token finds it used.
        let taken: Option<(String,)> = sqlx::query_as(
            "UPDATE password_resets SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at >= $1 RETURNING user_id",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let Some((user_id,)) = taken else {
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(None);
        };
        let changed = sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE id = $2 AND deactivated_at IS NULL",
        )
        .bind(password_hash)
        .bind(&user_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if changed != 1 {
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(None);
        }
        let live = end_sessions(&mut tx, &user_id, revoke_until).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some((user_id, live)))
    }
}
