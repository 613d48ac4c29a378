-- The audit trail every service keeps (libs/platform/src/audit.rs): one hash chain per
-- service, appended in the same transaction as each change it records. Run as part of every
-- service's migrations. Portable SQL: runs unchanged on Postgres and SQLite.

CREATE TABLE audit_entries (
    -- Position in the chain, from 1, without gaps.
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    -- ACCOUNT, API_CLIENT or SYSTEM.
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_role TEXT,
    action TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    company_id TEXT,
    summary TEXT NOT NULL,
    -- What the person wrote, outside the hashed content: the chain covers note_digest, the
    -- SHA-256 of note_salt, a newline and the note, so the note and its salt can be erased
    -- (a person's erasure request) without breaking the chain, while editing it breaks it.
    note TEXT,
    note_salt TEXT,
    note_digest TEXT,
    trace_id TEXT,
    -- Lowercase hex SHA-256 of the previous entry's hash and this entry's canonical content.
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_entries_at ON audit_entries (at, seq);
CREATE INDEX audit_entries_object ON audit_entries (object_id, at);
CREATE INDEX audit_entries_company ON audit_entries (company_id, at);
CREATE INDEX audit_entries_actor ON audit_entries (actor_id, at);

-- The chain's latest link. Appending updates this one row first, which serialises appends on
-- Postgres (the row lock is held to commit) as SQLite's single writer does.
CREATE TABLE audit_chain (
    id INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_chain (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The transactional outbox (libs/platform/src/outbox.rs), which the chain's daily head leaves
-- through. Services older than this migration made their own in their first migration; for
-- them this is a no-op.
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    published_at BIGINT,
    lease_until BIGINT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (published_at, created_at);
