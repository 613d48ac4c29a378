//! Accounts: users, sessions (refresh-token families), passwords and revocations.

use super::*;

impl Store {
    /// `created_by`: the member of staff who created the account; `None` when a person signs
    /// up themselves.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
        created_by: Option<&Actor>,
    ) -> Result<UserRecord, OnboardingError> {
        let id = new_id();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(email)
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        match inserted {
            Ok(_) => {
                let actor = created_by
                    .cloned()
                    .unwrap_or_else(|| Actor::account(&id, role));
                let change = Change::new("account.created", "account", &id).summary(role.as_str());
                audit::record(&mut tx, &actor, &change).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(UserRecord {
                    id,
                    email: email.to_owned(),
                    name: name.to_owned(),
                    role,
                    password_hash: password_hash.to_owned(),
                    cluster_user: None,
                    language: None,
                    deactivated_at: None,
                })
            }
            Err(e) if e.is_unique_on("users.email", "users_email_key") => Err(
                OnboardingError::Conflict("an account with this email already exists".into()),
            ),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, OnboardingError> {
        self.user_where("email", email).await
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, OnboardingError> {
        self.user_where("id", id).await
    }

    /// The user whose unique `column` (a fixed name, never input) equals `value`.
    async fn user_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<UserRecord>, OnboardingError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {column} = $1"
        ))
        .bind(value)
        .fetch_optional(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(row.as_ref().map(UserRecord::from_row).transpose()?)
    }

    pub async fn insert_refresh_token(
        &self,
        token: NewRefreshToken<'_>,
    ) -> Result<(), OnboardingError> {
        let mut conn = self.db.pool().acquire().await.map_err(StoreError::from)?;
        insert_refresh(&mut conn, &token).await
    }

    /// Presents a refresh token: marks it used and lets `next` issue the next pair of the same
    /// family, all in one transaction. A token that was used or revoked before revokes its
    /// whole family, since someone holds a copy.
    pub async fn rotate_refresh_token<T>(
        &self,
        token_hash: &str,
        next: impl FnOnce(
            &UserRecord,
            Vec<String>,
            &str,
        ) -> Result<(T, String, String, i64), OnboardingError>,
    ) -> Result<RefreshOutcome<T>, OnboardingError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let Some((id, family_id, user_id, expires_at, used_at, revoked_at)) = row else {
            return Ok(RefreshOutcome::Unknown);
        };
        // The person's row first, locked (a no-op write on Postgres; SQLite's one writer
        // serialises anyway), as an admin's change to the account takes it: a refresh racing
        // a deactivation or a new role either finishes before it, and its new token is among
        // those the change revokes, or waits and sees the change. Then the token itself.
        let user_row = sqlx::query(&format!(
            "UPDATE users SET role = role WHERE id = $1 RETURNING {USER_COLUMNS}"
        ))
        .bind(&user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let user = UserRecord::from_row(&user_row)?;
        let claimed = if used_at.is_some() || revoked_at.is_some() {
            0
        } else {
            sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL")
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?
                .rows_affected()
        };
        if claimed != 1 {
            revoke_family(&mut tx, &family_id, now).await?;
            let issued: Vec<(String,)> =
                sqlx::query_as("SELECT access_jti FROM refresh_tokens WHERE family_id = $1")
                    .bind(&family_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(RefreshOutcome::Reused(
                issued.into_iter().map(|(jti,)| jti).collect(),
            ));
        }
        // A deactivated account's sessions ended with it; one that slipped past ends here.
        if expires_at <= now || user.deactivated_at.is_some() {
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(RefreshOutcome::Expired);
        }
        let companies: Vec<(String,)> = sqlx::query_as(
            "SELECT company_id FROM company_members WHERE user_id = $1 ORDER BY company_id",
        )
        .bind(&user_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let companies = companies.into_iter().map(|(id,)| id).collect();
        let (result, new_hash, access_jti, new_expires_at) = next(&user, companies, &family_id)?;
        insert_refresh(
            &mut tx,
            &NewRefreshToken {
                family_id: &family_id,
                user_id: &user_id,
                token_hash: &new_hash,
                access_jti: &access_jti,
                expires_at: new_expires_at,
            },
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(RefreshOutcome::Rotated(result))
    }

    /// A new password for `user_id`: every refresh family of the person is revoked in the same
    /// transaction. Answers the access token ids those families issued that may still be live,
    /// for the caller to refuse at once.
    pub async fn replace_password(
        &self,
        user_id: &str,
        password_hash: &str,
        revoke_until: i64,
        actor: &Actor,
    ) -> Result<Vec<String>, OnboardingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?
            .rows_affected();
        if changed != 1 {
            return Err(OnboardingError::NotFound("user"));
        }
        let live = end_sessions(&mut tx, user_id, revoke_until).await?;
        let change = Change::new("account.password_changed", "account", user_id)
            .summary("other sessions ended");
        audit::record(&mut tx, actor, &change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(live)
    }

    /// Every account that is not a firm member's (programme managers, operators, admins),
    /// deactivated ones included, by name.
    pub async fn staff_users(&self) -> Result<Vec<UserRecord>, OnboardingError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE role <> $1 ORDER BY name, email"
        ))
        .bind(Role::FirmMember.as_str())
        .fetch_all(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(UserRecord::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Changes a staff account's role and whether it may sign in, in one transaction that
    /// locks the admins first, so two admins demoting each other cannot both pass `allowed`
    /// (given the account before, what it becomes, and how many active admins there are).
    /// Its sessions end, so the change holds at once; answers the account as changed and the
    /// access token ids that may still be live, for the caller to refuse at once. With
    /// `new_password_hash`, the account's password is replaced in the same transaction.
    pub async fn change_staff(
        &self,
        user_id: &str,
        new_password_hash: Option<&str>,
        revoke_until: i64,
        actor: &Actor,
        change: impl FnOnce(&UserRecord, usize) -> Result<(Role, bool), OnboardingError>,
    ) -> Result<(UserRecord, Vec<String>), OnboardingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        // A no-op write takes the admins' row locks on Postgres; SQLite's single writer
        // serialises anyway.
        let admins: Vec<(String,)> = sqlx::query_as(
            "UPDATE users SET role = role WHERE role = $1 AND deactivated_at IS NULL RETURNING id",
        )
        .bind(Role::Admin.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let user = row
            .as_ref()
            .map(UserRecord::from_row)
            .transpose()?
            .ok_or(OnboardingError::NotFound("staff account"))?;
        let (role, active) = change(&user, admins.len())?;
        let deactivated_at = if active {
            None
        } else {
            Some(user.deactivated_at.unwrap_or_else(now_ms))
        };
        sqlx::query("UPDATE users SET role = $1, deactivated_at = $2 WHERE id = $3")
            .bind(role.as_str())
            .bind(deactivated_at)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        if let Some(hash) = new_password_hash {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        let live = end_sessions(&mut tx, user_id, revoke_until).await?;
        let state = |role: Role, active: bool| {
            format!(
                "{} {}",
                role.as_str(),
                if active { "ACTIVE" } else { "DEACTIVATED" }
            )
        };
        let mut summary = format!(
            "{} → {}",
            state(user.role, user.deactivated_at.is_none()),
            state(role, active)
        );
        if new_password_hash.is_some() {
            summary.push_str(", password set");
        }
        audit::record(
            &mut tx,
            actor,
            &Change::new("account.staff_changed", "account", user_id).summary(summary),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok((
            UserRecord {
                role,
                deactivated_at,
                ..user
            },
            live,
        ))
    }

    /// (id, name) of the people among `ids`; unknown ids are absent.
    /// The people behind `ids` (absent: no such person).
    pub async fn user_names(&self, ids: &[String]) -> Result<Vec<UserName>, OnboardingError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT id, name, role, email FROM users WHERE id IN ({placeholders}) ORDER BY id"
        );
        let mut query = sqlx::query_as::<_, UserName>(&sql);
        for id in ids {
            query = query.bind(id);
        }
        Ok(query
            .fetch_all(self.db.reads())
            .await
            .map_err(StoreError::from)?)
    }

    /// Revokes the refresh family the access token `access_jti` was issued with.
    pub async fn revoke_family_of_access(&self, access_jti: &str) -> Result<(), OnboardingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let family: Option<(String,)> =
            sqlx::query_as("SELECT family_id FROM refresh_tokens WHERE access_jti = $1")
                .bind(access_jti)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        if let Some((family_id,)) = family {
            revoke_family(&mut tx, &family_id, now_ms()).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Keeps a revocation until `expires_at` (the longest asked for wins).
    pub async fn record_revocation(
        &self,
        token_id: &str,
        expires_at: i64,
    ) -> Result<(), OnboardingError> {
        let mut conn = self.db.pool().acquire().await.map_err(StoreError::from)?;
        record_revocation_on(&mut conn, token_id, expires_at).await
    }

    /// Revocations of tokens that expire after `after` (unix secs); older ones are dropped.
    pub async fn live_revocations(
        &self,
        after: i64,
    ) -> Result<Vec<(String, i64)>, OnboardingError> {
        sqlx::query("DELETE FROM revocations WHERE expires_at < $1")
            .bind(after)
            .execute(self.db.pool())
            .await
            .map_err(StoreError::from)?;
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT token_id, expires_at FROM revocations WHERE expires_at >= $1")
                .bind(after)
                .fetch_all(self.db.reads())
                .await
                .map_err(StoreError::from)?;
        Ok(rows)
    }

    /// Changes a person's own name, cluster user name and language.
    pub async fn update_user(
        &self,
        id: &str,
        name: &str,
        cluster_user: Option<&str>,
        language: Option<&str>,
        actor: &Actor,
    ) -> Result<(), OnboardingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let changed = sqlx::query(
            "UPDATE users SET name = $1, cluster_user = $2, language = $3 WHERE id = $4",
        )
        .bind(name)
        .bind(cluster_user)
        .bind(language)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if changed != 1 {
            return Err(OnboardingError::NotFound("user"));
        }
        // The name is personal and stays out of the hashed trail; the cluster user name is an
        // account's identifier on the cluster, as the account id is here.
        let summary = format!(
            "profile saved; cluster user {}; language {}",
            if cluster_user.is_some() {
                "set"
            } else {
                "none"
            },
            language.unwrap_or("-")
        );
        audit::record(
            &mut tx,
            actor,
            &Change::new("account.updated", "account", id).summary(summary),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

async fn insert_refresh(
    conn: &mut sqlx::AnyConnection,
    token: &NewRefreshToken<'_>,
) -> Result<(), OnboardingError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, access_jti, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(token.family_id)
    .bind(token.user_id)
    .bind(token.token_hash)
    .bind(token.access_jti)
    .bind(now_ms())
    .bind(token.expires_at)
    .execute(conn)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

async fn revoke_family(
    conn: &mut sqlx::AnyConnection,
    family_id: &str,
    now: i64,
) -> Result<(), OnboardingError> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family_id)
    .execute(conn)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

/// Keeps `token_id` refused until `expires_at` (unix secs), or longer if it already was.
async fn record_revocation_on(
    conn: &mut sqlx::AnyConnection,
    token_id: &str,
    expires_at: i64,
) -> Result<(), OnboardingError> {
    sqlx::query(
        "INSERT INTO revocations (token_id, expires_at) VALUES ($1, $2) \
         ON CONFLICT (token_id) DO UPDATE SET expires_at = \
         CASE WHEN excluded.expires_at > revocations.expires_at THEN excluded.expires_at ELSE revocations.expires_at END",
    )
    .bind(token_id)
    .bind(expires_at)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

/// Ends a person's sessions in the change's own transaction: their refresh tokens, and the
/// access tokens those issued, recorded as revoked until `revoke_until` (so the revocation is
/// as durable as the change; the caller then tells the verifiers' cache), and every password
/// reset still pending (a link mailed before the change no longer works). Answers those access
/// token ids.
pub(super) async fn end_sessions(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    revoke_until: i64,
) -> Result<Vec<String>, OnboardingError> {
    let now = now_ms();
    let live: Vec<(String,)> = sqlx::query_as(
        "SELECT access_jti FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL AND expires_at >= $2",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from)?;
    let live: Vec<String> = live.into_iter().map(|(jti,)| jti).collect();
    for jti in &live {
        record_revocation_on(conn, jti, revoke_until).await?;
    }
    Ok(live)
}
