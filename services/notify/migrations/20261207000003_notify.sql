-- Notifications: the events acted on (each once, whatever the replicas and restarts), each
-- person's inbox, and the e-mail waiting to go out.

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    published_at BIGINT,
    lease_until BIGINT
);
CREATE INDEX outbox_pending ON outbox (published_at, created_at);

-- Events that happened before `quiet_before` (unix ms) are history: acted on without telling
-- anyone, e.g. the demo's seeded past.
CREATE TABLE notify_settings (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- One row per event acted on, written in the transaction that files its messages.
CREATE TABLE handled_events (
    event_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    handled_at BIGINT NOT NULL
);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT,
    UNIQUE (event_id, user_id)
);
CREATE INDEX notifications_inbox ON notifications (user_id, id);

-- E-mail to send: claimed by one sender at a time (claimed_until), retried with backoff.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    notification_id TEXT NOT NULL,
    to_address TEXT NOT NULL,
    to_name TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    sent_at BIGINT,
    last_error TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);
