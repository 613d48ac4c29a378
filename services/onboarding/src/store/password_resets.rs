//! Password resets by e-mail: a request recorded with its event, the link's token issued when
//! notify asks for it, and the reset that uses it once.

use super::accounts::end_sessions;
use super::*;

impl Store {
    /// Records a reset requested for `user_id`, usable until `lifetime_ms` from now, announced
    /// by an `account.password_reset_requested` event (its subject the request's id, no secret
    /// in it) in the same transaction.
    pub async fn request_password_reset(
        &self,
        user_id: &str,
        lifetime_ms: i64,
    ) -> Result<String, OnboardingError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
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
        Ok(id)
    }

    /// Gives the pending request `request_id` its token (as `token_hash`), once: a request
    /// that has a token already, was used or ended, or expired, gets none (`None`), so one
    /// link at most is ever mailed for it and it never outlives the request's lifetime.
    /// Answers whose request it is and when the link expires.
    pub async fn issue_password_reset(
        &self,
        request_id: &str,
        token_hash: &str,
    ) -> Result<Option<(String, i64)>, OnboardingError> {
        Ok(sqlx::query_as(
            "UPDATE password_resets SET token_hash = $1 \
             WHERE id = $2 AND token_hash IS NULL AND used_at IS NULL AND expires_at > $3 \
             RETURNING user_id, expires_at",
        )
        .bind(token_hash)
        .bind(request_id)
        .bind(now_ms())
        .fetch_optional(self.db.pool())
        .await
        .map_err(StoreError::from)?)
    }

    /// Whether a pending, unexpired reset has the token digest `token_hash` (a cheap check
    /// before a new password is hashed).
    pub async fn password_reset_pending(&self, token_hash: &str) -> Result<bool, OnboardingError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM password_resets \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at >= $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(row.is_some())
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
        let owner: Option<(String, String)> = sqlx::query_as(
            "SELECT p.user_id, u.role FROM password_resets p JOIN users u ON u.id = p.user_id \
             WHERE p.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let Some((user_id, role)) = owner else {
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(None);
        };
        // The account's row first, as every password change locks it (no deadlock with one
        // running meanwhile); then the token, taken by one statement alone, so a second use of
        // it finds it used.
        let changed = sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE id = $2 AND deactivated_at IS NULL",
        )
        .bind(password_hash)
        .bind(&user_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        let taken = sqlx::query(
            "UPDATE password_resets SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at >= $1",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if changed != 1 || taken != 1 {
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(None);
        }
        let live = end_sessions(&mut tx, &user_id, revoke_until).await?;
        // The person proved they hold the account's e-mail; the account acts on itself.
        let role = Role::try_from(role).map_err(|e| StoreError::Config(e.to_string()))?;
        let actor = Actor::account(&user_id, role);
        let change = Change::new("account.password_reset", "account", &user_id)
            .summary("reset by e-mail link; sessions ended");
        audit::record(&mut tx, &actor, &change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some((user_id, live)))
    }
}
