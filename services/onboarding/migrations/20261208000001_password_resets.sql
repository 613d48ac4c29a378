-- Password resets by e-mail. A request is recorded (and announced to notify by an event with no
-- secret in it); notify then asks for the link's token, stored here only as its SHA-256 digest,
-- usable once until `expires_at` (unix ms). A new password, a deactivation or a role change
-- ends every reset still pending.
CREATE TABLE password_resets (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    token_hash TEXT,
    requested_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE UNIQUE INDEX password_resets_token ON password_resets (token_hash);
CREATE INDEX password_resets_user ON password_resets (user_id, used_at);
