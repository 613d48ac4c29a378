-- API clients: machines that sign in with the OAuth 2.0 client-credentials grant.
-- Portable SQL: runs unchanged on Postgres and SQLite.

CREATE TABLE api_clients (
    -- UUIDv7; tokens issued to the client carry `sub = client:<id>`.
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- DASHBOARD or OPERATOR.
    role TEXT NOT NULL,
    -- Lowercase hex SHA-256 of the secret; the secret itself is never stored.
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT,
    revoked_by TEXT
);
