//! SQL for notify's own tables: the events acted on, each person's inbox and the e-mail
//! waiting to go out, on SQLite and Postgres alike.

use axv_platform::{
    db::{Database, StoreError},
    ids::now_ms,
    outbox::Outbox,
};

use crate::error::NotifyError;

/// A message for one person, with the e-mail that carries it when they have an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub subject_id: String,
    pub title: String,
    pub body: String,
    pub link: String,
    pub mail: Option<NewMail>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationRecord {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub subject_id: String,
    pub title: String,
    pub body: String,
    pub link: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

/// An e-mail claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailRecord {
    pub id: String,
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub attempts: i64,
}

/// An e-mail as `axv mail` lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailListing {
    pub created_at: i64,
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub text_body: String,
    pub sent_at: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

const NOTIFICATION_COLUMNS: &str =
    "id, user_id, kind, subject_id, title, body, link, created_at, read_at";
const MAIL_COLUMNS: &str = "id, to_address, to_name, subject, text_body, html_body, attempts";

#[derive(Clone)]
pub struct Store {
    db: Database,
    outbox: Outbox,
}

impl Store {
    pub fn new(db: Database, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Files an event's messages and their e-mail once: `false`, and nothing written, when
    /// the event was acted on before (a redelivery, another replica).
    pub async fn record_event(
        &self,
        event_id: &str,
        kind: &str,
        notifications: &[NewNotification],
    ) -> Result<bool, NotifyError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let first = sqlx::query(
            "INSERT INTO handled_events (event_id, kind, handled_at) VALUES ($1, $2, $3) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id)
        .bind(kind)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected()
            == 1;
        if !first {
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(false);
        }
        for n in notifications {
            sqlx::query(&format!(
                "INSERT INTO notifications ({NOTIFICATION_COLUMNS}, event_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)"
            ))
            .bind(&n.id)
            .bind(&n.user_id)
            .bind(&n.kind)
            .bind(&n.subject_id)
            .bind(&n.title)
            .bind(&n.body)
            .bind(&n.link)
            .bind(now)
            .bind(event_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            if let Some(mail) = &n.mail {
                sqlx::query(
                    "INSERT INTO mail_outbox (id, notification_id, to_address, to_name, subject, \
                     text_body, html_body, created_at, next_attempt_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(axv_platform::ids::new_id())
                .bind(&n.id)
                .bind(&mail.to_address)
                .bind(&mail.to_name)
                .bind(&mail.subject)
                .bind(&mail.text_body)
                .bind(&mail.html_body)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            }
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(true)
    }

    /// Events that happened before this moment (unix ms) tell no one, if set.
    pub async fn quiet_before(&self) -> Result<Option<i64>, NotifyError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT value FROM notify_settings WHERE name = 'quiet_before'")
                .fetch_optional(self.db.reads())
                .await
                .map_err(StoreError::from)?;
        Ok(row.map(|(value,)| value))
    }

    /// Makes everything that happened before `at` (unix ms) history that tells no one.
    pub async fn set_quiet_before(&self, at: i64) -> Result<(), NotifyError> {
        sqlx::query(
            "INSERT INTO notify_settings (name, value) VALUES ('quiet_before', $1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(at)
        .execute(self.db.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    /// `user_id`'s notifications newest first (`limit` after the cursor `before`), how many
    /// the listing holds, and how many are unread.
    pub async fn inbox(
        &self,
        user_id: &str,
        unread_only: bool,
        before: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<NotificationRecord>, i64, i64), NotifyError> {
        let unread_clause = if unread_only {
            " AND read_at IS NULL"
        } else {
            ""
        };
        // Counted first: a message filed meanwhile shows in the page, never only in the count.
        let (total, unread): (i64, i64) = sqlx::query_as(&format!(
            "SELECT COUNT(*), COUNT(CASE WHEN read_at IS NULL THEN 1 END) FROM notifications \
             WHERE user_id = $1{unread_clause}"
        ))
        .bind(user_id)
        .fetch_one(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Ids are UUIDv7: their order is the order the messages were written.
        let rows: Vec<NotificationRecord> = match before {
            Some(before) => sqlx::query_as(&format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
                 WHERE user_id = $1{unread_clause} AND id < $2 ORDER BY id DESC LIMIT $3"
            ))
            .bind(user_id)
            .bind(before)
            .bind(limit)
            .fetch_all(self.db.reads())
            .await
            .map_err(StoreError::from)?,
            None => sqlx::query_as(&format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
                 WHERE user_id = $1{unread_clause} ORDER BY id DESC LIMIT $2"
            ))
            .bind(user_id)
            .bind(limit)
            .fetch_all(self.db.reads())
            .await
            .map_err(StoreError::from)?,
        };
        Ok((rows, total, unread))
    }

    /// Marks `user_id`'s notifications read (`ids`, or all of them); answers how many stay
    /// unread. Another person's ids match nothing.
    pub async fn mark_read(
        &self,
        user_id: &str,
        ids: Option<&[String]>,
    ) -> Result<i64, NotifyError> {
        let now = now_ms();
        match ids {
            None => {
                sqlx::query(
                    "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL",
                )
                .bind(now)
                .bind(user_id)
                .execute(self.db.pool())
                .await
                .map_err(StoreError::from)?;
            }
            Some(ids) if !ids.is_empty() => {
                let sql = format!(
                    "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL \
                     AND id IN ({})",
                    axv_platform::db::placeholders(3, ids.len())
                );
                let mut query = sqlx::query(&sql).bind(now).bind(user_id);
                for id in ids {
                    query = query.bind(id);
                }
                query
                    .execute(self.db.pool())
                    .await
                    .map_err(StoreError::from)?;
            }
            Some(_) => {}
        }
        let (unread,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(self.db.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(unread)
    }

    /// The oldest e-mail due now, claimed for `lease_ms` (longer than sending one can take):
    /// another sender (a replica) skips it until the lease ends, so it goes out once unless
    /// its sender dies between sending and recording it. One at a time, so a slow server never
    /// leaves claimed mail waiting past its lease.
    pub async fn claim_due_mail(&self, lease_ms: i64) -> Result<Option<MailRecord>, NotifyError> {
        let now = now_ms();
        // A few tries: another sender may take the row between the read and the claim.
        for _ in 0..3 {
            let due: Option<(String,)> = sqlx::query_as(
                "SELECT id FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
                 AND claimed_until < $1 ORDER BY created_at LIMIT 1",
            )
            .bind(now)
            .fetch_optional(self.db.pool())
            .await
            .map_err(StoreError::from)?;
            let Some((id,)) = due else {
                return Ok(None);
            };
            // Claimed only if it is still due and no one else took it meanwhile.
            let row: Option<MailRecord> = sqlx::query_as(&format!(
                "UPDATE mail_outbox SET claimed_until = $1 WHERE id = $2 AND sent_at IS NULL \
                 AND next_attempt_at <= $3 AND claimed_until < $3 RETURNING {MAIL_COLUMNS}"
            ))
            .bind(now + lease_ms)
            .bind(&id)
            .bind(now)
            .fetch_optional(self.db.pool())
            .await
            .map_err(StoreError::from)?;
            if row.is_some() {
                return Ok(row);
            }
        }
        Ok(None)
    }

    pub async fn mail_sent(&self, id: &str) -> Result<(), NotifyError> {
        sqlx::query("UPDATE mail_outbox SET sent_at = $1, attempts = attempts + 1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// A failed attempt: tried again at `retry_at`, or never (`None`, the address is unusable).
    pub async fn mail_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), NotifyError> {
        sqlx::query(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = $2, claimed_until = 0 WHERE id = $3",
        )
        .bind(error)
        .bind(retry_at.unwrap_or(i64::MAX))
        .bind(id)
        .execute(self.db.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    /// The newest `limit` e-mails, sent or not, for `axv mail`.
    pub async fn recent_mail(&self, limit: usize) -> Result<Vec<MailListing>, NotifyError> {
        Ok(sqlx::query_as(
            "SELECT created_at, to_address, to_name, subject, text_body, sent_at, attempts, \
             last_error FROM mail_outbox ORDER BY created_at DESC, id DESC LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.db.reads())
        .await
        .map_err(StoreError::from)?)
    }

    /// E-mails not sent yet (waiting or failing), for tests and health.
    pub async fn mail_waiting(&self) -> Result<i64, NotifyError> {
        let (waiting,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL")
                .fetch_one(self.db.reads())
                .await
                .map_err(StoreError::from)?;
        Ok(waiting)
    }
}
