-- The vouchers service's own tables. Portable SQL: runs unchanged on Postgres and SQLite.

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

-- Events from other services already acted on: consumers are idempotent.
CREATE TABLE processed_events (
    id TEXT PRIMARY KEY,
    processed_at BIGINT NOT NULL
);

CREATE TABLE resource_pools (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    funding TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE programs (
    id TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES resource_pools (id),
    name TEXT NOT NULL,
    opens_on TEXT NOT NULL,
    closes_on TEXT NOT NULL,
    max_per_company BIGINT NOT NULL,
    -- Comma-separated sector names; empty means every sector.
    sectors TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    program_id TEXT NOT NULL REFERENCES programs (id),
    company_id TEXT NOT NULL,
    requested_amount BIGINT NOT NULL,
    justification TEXT NOT NULL,
    pilot_id TEXT,
    status TEXT NOT NULL,
    voucher_id TEXT,
    decision_note TEXT,
    decided_by TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX applications_company ON applications (company_id, id);
CREATE INDEX applications_status ON applications (status, id);

-- What each company was granted per programme: the cap is enforced by a conditional update
-- of this row, so two approvals at once cannot both slip under it.
CREATE TABLE program_company_totals (
    program_id TEXT NOT NULL,
    company_id TEXT NOT NULL,
    granted BIGINT NOT NULL,
    PRIMARY KEY (program_id, company_id)
);

CREATE TABLE vouchers (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    company_id TEXT NOT NULL,
    pilot_id TEXT,
    program_id TEXT NOT NULL,
    pool_id TEXT NOT NULL,
    application_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    granted BIGINT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    status TEXT NOT NULL,
    -- 1 once the 80%-used warning went out.
    low_balance_notified BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX vouchers_code_key ON vouchers (code);
CREATE INDEX vouchers_company ON vouchers (company_id, id);
CREATE INDEX vouchers_status ON vouchers (status, valid_until);

-- Balances of the double-entry ledger, kept with the transfers that produced them.
CREATE TABLE ledger_accounts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    pool_id TEXT NOT NULL,
    voucher_id TEXT,
    balance BIGINT NOT NULL,
    may_go_negative BIGINT NOT NULL
);
CREATE INDEX ledger_accounts_pool ON ledger_accounts (pool_id, kind);

-- One row per idempotent ledger operation: the same id again returns the first result.
CREATE TABLE ledger_operations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Append-only.
CREATE TABLE ledger_transfers (
    id TEXT PRIMARY KEY,
    operation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    debit_account TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    amount BIGINT NOT NULL,
    voucher_id TEXT,
    -- The voucher's spendable balance once this transfer applied.
    voucher_balance_after BIGINT,
    reference TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_transfers_voucher ON ledger_transfers (voucher_id, id);

CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    voucher_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    committed_amount BIGINT NOT NULL,
    cluster TEXT,
    job_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX holds_open ON holds (state, expires_at);

CREATE TABLE usage_records (
    id TEXT PRIMARY KEY,
    cluster TEXT NOT NULL,
    job_id TEXT NOT NULL,
    voucher_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    source TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX usage_records_job_key ON usage_records (cluster, job_id);
CREATE INDEX usage_records_voucher ON usage_records (voucher_id, ended_at);
