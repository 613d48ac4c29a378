-- Onboarding's own tables. Portable SQL: runs unchanged on Postgres and SQLite.

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

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    -- Stored lowercased, so the unique index makes email case-insensitively unique.
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    -- sha256 of the token; the token itself is never stored.
    token_hash TEXT NOT NULL,
    -- The access token issued with it, so logout can find the family.
    access_jti TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX refresh_tokens_token_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_access_jti ON refresh_tokens (access_jti);

CREATE TABLE companies (
    id TEXT PRIMARY KEY,
    business_number TEXT NOT NULL,
    name_ko TEXT NOT NULL,
    name_en TEXT,
    sector TEXT NOT NULL,
    presence TEXT NOT NULL,
    employees BIGINT,
    founded_on TEXT,
    contact_email TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX companies_business_number_key ON companies (business_number);
CREATE INDEX companies_status ON companies (status, id);

CREATE TABLE company_members (
    company_id TEXT NOT NULL REFERENCES companies (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    added_at BIGINT NOT NULL,
    added_by TEXT NOT NULL,
    PRIMARY KEY (company_id, user_id)
);
CREATE INDEX company_members_user ON company_members (user_id);

CREATE TABLE company_status_changes (
    id TEXT PRIMARY KEY,
    company_id TEXT NOT NULL REFERENCES companies (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT
);
CREATE INDEX company_status_changes_company ON company_status_changes (company_id, at);
