-- Revoked access tokens (by jti) and API clients (by subject key), kept until the tokens would
-- have expired. Redis (or the in-process store) is only a cache of this table, refilled from it
-- when it comes back empty, so a restart of the cache brings no signed-out token back.
CREATE TABLE revocations (
    token_id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revocations_expiry ON revocations (expires_at);
