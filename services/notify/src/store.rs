//! SQL for notify's own tables: the events acted on, each person's inbox and the e-mail
//! waiting to go out, on SQLite and Postgres alike.

use axv_platform::{
    db::{Database, StoreError},
    ids::now_ms,
    outbox::Outbox,
};

use std::collections::HashMap;

use crate::{domain::Delivery, error::NotifyError};

/// What a sent e-mail that held a short-lived secret keeps of its text.
const BLANKED: &str = "(the message held a short-lived link; its body is not kept)";

/// Marks `event_id` acted on in `tx`: `false` when it was before (a redelivery, another
/// replica), and then nothing else may be written for it.
async fn first_handling(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    event_id: &str,
    kind: &str,
    now: i64,
) -> Result<bool, NotifyError> {
    Ok(sqlx::query(
        "INSERT INTO handled_events (event_id, kind, handled_at) VALUES ($1, $2, $3) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(kind)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?
    .rows_affected()
        == 1)
}

/// Files one e-mail in `mail_outbox`, due now.
async fn insert_mail(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    notification_id: &str,
    mail: &NewMail,
    now: i64,
) -> Result<(), NotifyError> {
    let (hash, url) = match &mail.unsubscribe {
        Some((hash, url)) => (Some(hash.as_str()), Some(url.as_str())),
        None => (None, None),
    };
    sqlx::query(
        "INSERT INTO mail_outbox (id, notification_id, to_address, to_name, subject, text_body, \
         html_body, created_at, next_attempt_at, user_id, category, unsubscribe_hash, \
         unsubscribe_url, discard_after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13)",
    )
    .bind(id)
    .bind(notification_id)
    .bind(&mail.to_address)
    .bind(&mail.to_name)
    .bind(&mail.subject)
    .bind(&mail.text_body)
    .bind(&mail.html_body)
    .bind(now)
    .bind(&mail.user_id)
    .bind(&mail.category)
    .bind(hash)
    .bind(url)
    .bind(mail.discard_after)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

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
    /// How it reaches the person by e-mail, if at all (the inbox always keeps it).
    pub delivery: MailDelivery,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailDelivery {
    /// An e-mail of its own, now.
    Now(NewMail),
    /// A line in the person's next daily digest, sent to this address.
    Digest(Addressee),
    /// Inbox only: no address, or the person turned the category's e-mail off.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressee {
    /// The category the message is of: a digest gathers it only while the person still
    /// wants that category's e-mail.
    pub category: String,
    pub address: String,
    pub name: String,
    /// `ko` or `en`.
    pub lang: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// Whose it is, and its category (`*` for a digest): what one-click unsubscribe turns off.
    pub user_id: String,
    pub category: String,
    /// The SHA-256 digest of the unsubscribe link's token, and the link itself (for the
    /// `List-Unsubscribe` header), when the console's address is known.
    pub unsubscribe: Option<(String, String)>,
    /// When the message becomes useless (unix ms): not sent after it, body blanked once sent.
    pub discard_after: Option<i64>,
}

/// Messages one digest lists at most (a backlog beyond it goes in the next).
pub const DIGEST_MAX: usize = 200;

/// A waiting message as read, with its person's current choice for its category.
#[derive(sqlx::FromRow)]
struct DigestRow {
    #[sqlx(flatten)]
    entry: DigestEntry,
    delivery: String,
}

impl DigestRow {
    fn split(self) -> (DigestEntry, String) {
        (self.entry, self.delivery)
    }
}

/// A message waiting for a digest, with what the digest needs to say it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DigestEntry {
    pub notification_id: String,
    pub to_address: String,
    pub to_name: String,
    pub lang: String,
    pub title: String,
    pub body: String,
    pub link: String,
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
    pub unsubscribe_url: Option<String>,
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
const MAIL_COLUMNS: &str =
    "id, to_address, to_name, subject, text_body, html_body, attempts, unsubscribe_url";

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
        if !first_handling(&mut tx, event_id, kind, now).await? {
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
            match &n.delivery {
                MailDelivery::Now(mail) => {
                    insert_mail(&mut tx, &axv_platform::ids::new_id(), &n.id, mail, now).await?;
                }
                MailDelivery::Digest(to) => {
                    sqlx::query(
                        "INSERT INTO digest_items (notification_id, user_id, category, \
                         to_address, to_name, lang, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&n.id)
                    .bind(&n.user_id)
                    .bind(&to.category)
                    .bind(&to.address)
                    .bind(&to.name)
                    .bind(&to.lang)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
                }
                MailDelivery::None => {}
            }
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(true)
    }

    /// Each of `user_ids`' choice for `category`'s e-mail; those who chose nothing are absent
    /// (the default).
    pub async fn deliveries(
        &self,
        category: &str,
        user_ids: &[String],
    ) -> Result<HashMap<String, Delivery>, NotifyError> {
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT user_id, delivery FROM notify_preferences WHERE category = $1 \
             AND user_id IN ({})",
            axv_platform::db::placeholders(2, user_ids.len())
        );
        let mut query = sqlx::query_as::<_, (String, String)>(&sql).bind(category);
        for id in user_ids {
            query = query.bind(id);
        }
        let rows = query
            .fetch_all(self.db.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(rows
            .into_iter()
            .map(|(user, delivery)| (user, Delivery::parse(&delivery)))
            .collect())
    }

    /// `user_id`'s choices, by category name; categories never chosen are absent.
    pub async fn preferences(
        &self,
        user_id: &str,
    ) -> Result<HashMap<String, Delivery>, NotifyError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT category, delivery FROM notify_preferences WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(self.db.pool())
                .await
                .map_err(StoreError::from)?;
        Ok(rows
            .into_iter()
            .map(|(category, delivery)| (category, Delivery::parse(&delivery)))
            .collect())
    }

    /// Records `user_id`'s choices (category name, delivery), all or none.
    pub async fn set_preferences(
        &self,
        user_id: &str,
        choices: &[(String, Delivery)],
    ) -> Result<(), NotifyError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        for (category, delivery) in choices {
            sqlx::query(
                "INSERT INTO notify_preferences (user_id, category, delivery, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, category) \
                 DO UPDATE SET delivery = excluded.delivery, updated_at = excluded.updated_at",
            )
            .bind(user_id)
            .bind(category)
            .bind(delivery.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Whose e-mail an unsubscribe token (as its digest) came in, and its category.
    pub async fn unsubscribe_target(
        &self,
        hash: &str,
    ) -> Result<Option<(String, String)>, NotifyError> {
        Ok(
            sqlx::query_as("SELECT user_id, category FROM mail_outbox WHERE unsubscribe_hash = $1")
                .bind(hash)
                .fetch_optional(self.db.pool())
                .await
                .map_err(StoreError::from)?,
        )
    }

    /// The people with messages filed before `cutoff` (unix ms) waiting for a digest.
    pub async fn digest_due(&self, cutoff: i64) -> Result<Vec<String>, NotifyError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT user_id FROM digest_items WHERE created_at < $1 ORDER BY user_id",
        )
        .bind(cutoff)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(|(user,)| user).collect())
    }

    /// Files `user_id`'s digest of what waits from before `cutoff` (at most
    /// [`DIGEST_MAX`] messages, oldest first, the rest in the next), written by `compose`, and
    /// takes those messages out of waiting, in one transaction: `false`, nothing written, when
    /// nothing waits or another sender took them meanwhile. Messages of a category the person
    /// has since turned off are dropped; those of a category switched to immediate e-mail still
    /// come, in this digest.
    pub async fn file_digest(
        &self,
        user_id: &str,
        cutoff: i64,
        compose: impl FnOnce(&[DigestEntry]) -> NewMail,
    ) -> Result<bool, NotifyError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let entries: Vec<(DigestEntry, String)> = sqlx::query_as::<_, DigestRow>(&format!(
            "SELECT d.notification_id, d.to_address, d.to_name, d.lang, n.title, n.body, n.link, \
             COALESCE(p.delivery, '') AS delivery \
             FROM digest_items d JOIN notifications n ON n.id = d.notification_id \
             LEFT JOIN notify_preferences p ON p.user_id = d.user_id AND p.category = d.category \
             WHERE d.user_id = $1 AND d.created_at < $2 \
             ORDER BY d.created_at, d.notification_id LIMIT {DIGEST_MAX}"
        ))
        .bind(user_id)
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .into_iter()
        .map(DigestRow::split)
        .collect();
        if entries.is_empty() {
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(false);
        }
        let sql = format!(
            "DELETE FROM digest_items WHERE notification_id IN ({})",
            axv_platform::db::placeholders(1, entries.len())
        );
        let mut taking = sqlx::query(&sql);
        for (entry, _) in &entries {
            taking = taking.bind(&entry.notification_id);
        }
        let taken = taking
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?
            .rows_affected();
        if usize::try_from(taken).ok() != Some(entries.len()) {
            // Another sender took some of them between the read and the delete.
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(false);
        }
        let wanted: Vec<DigestEntry> = entries
            .into_iter()
            .filter(|(_, delivery)| Delivery::parse(delivery) != Delivery::Off)
            .map(|(entry, _)| entry)
            .collect();
        if let Some(last) = wanted.last() {
            let mail = compose(&wanted);
            let id = axv_platform::ids::new_id();
            insert_mail(&mut tx, &id, &last.notification_id, &mail, now).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(!wanted.is_empty())
    }

    /// Holds the lease `name` for `holder` until `now + ttl_ms`, if it is free, expired or
    /// already theirs: `true` when held.
    pub async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, NotifyError> {
        let now = now_ms();
        let held = sqlx::query(
            "INSERT INTO notify_leases (name, holder, until_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             until_ms = excluded.until_ms \
             WHERE notify_leases.until_ms < $4 OR notify_leases.holder = excluded.holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(self.db.pool())
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        Ok(held == 1)
    }

    /// Gives up the lease `name` if `holder` holds it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), NotifyError> {
        sqlx::query("DELETE FROM notify_leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.db.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// Whether the event was acted on already.
    pub async fn is_handled(&self, event_id: &str) -> Result<bool, NotifyError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT event_id FROM handled_events WHERE event_id = $1")
                .bind(event_id)
                .fetch_optional(self.db.pool())
                .await
                .map_err(StoreError::from)?;
        Ok(row.is_some())
    }

    /// Files an event's one e-mail that has no inbox message (a password reset's link), once:
    /// `false`, nothing written, when the event was acted on before.
    pub async fn record_event_mail(
        &self,
        event_id: &str,
        kind: &str,
        mail: Option<&NewMail>,
    ) -> Result<bool, NotifyError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        if !first_handling(&mut tx, event_id, kind, now).await? {
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(false);
        }
        if let Some(mail) = mail {
            insert_mail(&mut tx, &axv_platform::ids::new_id(), "", mail, now).await?;
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
                 AND claimed_until < $1 AND (discard_after IS NULL OR discard_after > $1) \
                 ORDER BY created_at LIMIT 1",
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

    /// Records an e-mail sent; one that holds a short-lived secret loses its body.
    pub async fn mail_sent(&self, id: &str) -> Result<(), NotifyError> {
        sqlx::query(&format!(
            "UPDATE mail_outbox SET sent_at = $1, attempts = attempts + 1, \
             text_body = CASE WHEN discard_after IS NULL THEN text_body ELSE '{BLANKED}' END, \
             html_body = CASE WHEN discard_after IS NULL THEN html_body ELSE '' END \
             WHERE id = $2"
        ))
        .bind(now_ms())
        .bind(id)
        .execute(self.db.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    /// Gives up the e-mail past its `discard_after` not sent yet, blanking its body; answers
    /// how many.
    pub async fn discard_stale_mail(&self) -> Result<u64, NotifyError> {
        Ok(sqlx::query(&format!(
            "UPDATE mail_outbox SET text_body = '{BLANKED}', html_body = '', \
             next_attempt_at = $1, last_error = 'not sent before it became useless' \
             WHERE sent_at IS NULL AND discard_after IS NOT NULL AND discard_after <= $2 \
             AND next_attempt_at < $1"
        ))
        .bind(i64::MAX)
        .bind(now_ms())
        .execute(self.db.pool())
        .await
        .map_err(StoreError::from)?
        .rows_affected())
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
