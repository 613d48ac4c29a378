-- The pilot registry's own tables. Portable SQL: runs unchanged on Postgres and SQLite.

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

CREATE TABLE pilots (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    title_en TEXT,
    summary TEXT NOT NULL,
    domain TEXT NOT NULL,
    lead_company_id TEXT NOT NULL,
    lead_company_name_ko TEXT NOT NULL,
    lead_company_sector TEXT NOT NULL,
    lead_company_presence TEXT NOT NULL,
    site TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    budget_national BIGINT NOT NULL,
    budget_city BIGINT NOT NULL,
    budget_private BIGINT NOT NULL,
    regulatory_sandbox BIGINT NOT NULL,
    sandbox_reference TEXT,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX pilots_status ON pilots (status, id);
CREATE INDEX pilots_domain ON pilots (domain, id);

-- The lead company is a participant too (role 'lead'), so "a company's pilots" is one lookup.
CREATE TABLE pilot_participants (
    pilot_id TEXT NOT NULL REFERENCES pilots (id),
    company_id TEXT NOT NULL,
    role TEXT NOT NULL,
    name_ko TEXT NOT NULL,
    sector TEXT NOT NULL,
    presence TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (pilot_id, company_id)
);
CREATE INDEX pilot_participants_company ON pilot_participants (company_id, pilot_id);

CREATE TABLE pilot_milestones (
    id TEXT PRIMARY KEY,
    pilot_id TEXT NOT NULL REFERENCES pilots (id),
    title TEXT NOT NULL,
    due_on TEXT NOT NULL,
    completed_at BIGINT,
    evidence TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX pilot_milestones_pilot ON pilot_milestones (pilot_id, due_on);

CREATE TABLE pilot_status_changes (
    id TEXT PRIMARY KEY,
    pilot_id TEXT NOT NULL REFERENCES pilots (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT
);
CREATE INDEX pilot_status_changes_pilot ON pilot_status_changes (pilot_id, at);
