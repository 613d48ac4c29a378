-- Outcome reports' own tables. Portable SQL: runs unchanged on Postgres and SQLite.

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

-- One row per version; versions of one report share lineage_id. sector and domain are
-- snapshots of the pilot's lead company and domain when the report was created.
CREATE TABLE outcome_reports (
    id TEXT PRIMARY KEY,
    lineage_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    pilot_id TEXT NOT NULL,
    company_id TEXT NOT NULL,
    sector TEXT NOT NULL,
    domain TEXT NOT NULL,
    period_start TEXT NOT NULL,
    period_end TEXT NOT NULL,
    models_developed BIGINT NOT NULL,
    models_improved BIGINT NOT NULL,
    models_commercialized BIGINT NOT NULL,
    patents_filed BIGINT NOT NULL,
    patents_registered BIGINT NOT NULL,
    papers BIGINT NOT NULL,
    new_hires BIGINT NOT NULL,
    revenue_krw BIGINT NOT NULL,
    investment_krw BIGINT NOT NULL,
    compute_consumed BIGINT NOT NULL,
    evidence TEXT NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (lineage_id, version)
);
CREATE INDEX outcome_reports_pilot ON outcome_reports (pilot_id, period_start);
CREATE INDEX outcome_reports_company ON outcome_reports (company_id, id);
CREATE INDEX outcome_reports_status ON outcome_reports (status, id);

CREATE TABLE outcome_report_changes (
    id TEXT PRIMARY KEY,
    report_id TEXT NOT NULL REFERENCES outcome_reports (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT
);
CREATE INDEX outcome_report_changes_report ON outcome_report_changes (report_id, at);
