-- How each person wants a category's e-mail: at once (no row), in a daily digest, or not at all.
-- The in-app inbox keeps every message whatever is chosen.
CREATE TABLE notify_preferences (
    user_id TEXT NOT NULL,
    category TEXT NOT NULL,
    delivery TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, category)
);

-- Whose e-mail it is and of which category, for one-click unsubscribe (RFC 8058): the link
-- carries a random token, looked up by its SHA-256 digest (the stored copy of the e-mail holds
-- the link, as the e-mail itself does); `*` is a digest (every category gathered in digests).
ALTER TABLE mail_outbox ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_outbox ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_outbox ADD COLUMN unsubscribe_hash TEXT;
ALTER TABLE mail_outbox ADD COLUMN unsubscribe_url TEXT;
-- A message useless after this moment (unix ms; a password reset's link): not sent later, and
-- its body blanked once sent or given up, so no usable link stays stored.
ALTER TABLE mail_outbox ADD COLUMN discard_after BIGINT;
CREATE UNIQUE INDEX mail_outbox_unsubscribe ON mail_outbox (unsubscribe_hash);

-- Messages waiting for their person's daily digest: deleted in the transaction that files the
-- digest taking them, so each goes out in one digest only.
CREATE TABLE digest_items (
    notification_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    category TEXT NOT NULL,
    to_address TEXT NOT NULL,
    to_name TEXT NOT NULL,
    lang TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX digest_items_pending ON digest_items (user_id, created_at);

-- Work that one replica at a time does (the digest and reminder scheduler): held until
-- `until_ms` by `holder`.
CREATE TABLE notify_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
