-- What outcomes knows of each pilot from the pilots service's events, to list the reports
-- its lead company owes. event_at orders updates, so a late or replayed event never
-- overwrites a newer one.
CREATE TABLE pilot_schedules (
    pilot_id TEXT PRIMARY KEY,
    company_id TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    event_at BIGINT NOT NULL
);
CREATE INDEX pilot_schedules_status ON pilot_schedules (status, company_id);

-- One row per pilot that has reports; creating or editing a report upserts it first, which
-- on Postgres locks the row, so two concurrent writes cannot both pass the overlap check.
CREATE TABLE pilot_report_locks (
    pilot_id TEXT PRIMARY KEY,
    touched_at BIGINT NOT NULL
);
