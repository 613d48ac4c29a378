-- Releases of the public figures: every public answer comes from the latest one. `basis` is
-- the JSON of what the release answers from (counted reports, voucher cells, companies and
-- pilots, cell by cell as the held-revision rule left them); `held_cells` names the cells
-- whose live changes it held back, without their values.
CREATE TABLE stats_releases (
    number BIGINT PRIMARY KEY,
    release_date TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    published_by TEXT NOT NULL,
    note TEXT NOT NULL,
    -- Calendar releases: the quarter they follow ("2026-Q3"), at most one each; NULL when a
    -- manager published early.
    schedule_key TEXT UNIQUE,
    held_cells TEXT NOT NULL,
    basis TEXT NOT NULL
);
