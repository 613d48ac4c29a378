-- Every sacct file charged is kept with its answer: who sent it, what it charged per voucher
-- and every line refused, so an operator can look back at last month's file. Written in the
-- ingestion's own transaction: an upload is in the history exactly when its charges are.
CREATE TABLE usage_uploads (
    id TEXT PRIMARY KEY,
    cluster TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    overage BIGINT NOT NULL,
    overage_jobs BIGINT NOT NULL
);
CREATE TABLE usage_upload_charges (
    upload_id TEXT NOT NULL,
    voucher_id TEXT NOT NULL,
    jobs BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    overage BIGINT NOT NULL,
    PRIMARY KEY (upload_id, voucher_id)
);
CREATE TABLE usage_upload_rejections (
    upload_id TEXT NOT NULL,
    line BIGINT NOT NULL,
    -- MALFORMED, UNKNOWN_VOUCHER, NOT_GPU_VOUCHER, VOUCHER_NOT_SPENDABLE,
    -- COMPANY_NOT_IN_GOOD_STANDING: why, for readers in any language; `reason` in words.
    kind TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX usage_upload_rejections_upload ON usage_upload_rejections (upload_id, line);
