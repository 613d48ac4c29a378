-- Files attached to a company, a voucher application, a pilot, a milestone or an outcome report.
-- The bytes live in object storage under `object_key`; a deleted document keeps its row (who
-- deleted it and when) and loses its bytes once the retention period has passed (`purged_at`).
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    parent_kind TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    -- A milestone's pilot; '' for other kinds.
    pilot_id TEXT NOT NULL DEFAULT '',
    company_id TEXT NOT NULL,
    parent_version BIGINT NOT NULL DEFAULT 0,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    object_key TEXT NOT NULL,
    scan_status TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    -- The uploader's role then (an API client has no account to look it up by).
    uploader_role TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    deleted_by TEXT,
    deleted_at BIGINT,
    purged_at BIGINT,
    -- Scans that could not decide (the scanner failed), and when to try again.
    scan_attempts BIGINT NOT NULL DEFAULT 0,
    next_scan_at BIGINT
);
CREATE INDEX documents_by_parent ON documents (parent_kind, parent_id, uploaded_at);
CREATE INDEX documents_to_purge ON documents (deleted_at) WHERE purged_at IS NULL AND deleted_at IS NOT NULL;
CREATE INDEX documents_to_scan ON documents (next_scan_at) WHERE scan_status = 'PENDING';

-- Bytes and documents held by each parent's live documents, so the limits hold under
-- concurrent uploads: a document is recorded only by an UPDATE that keeps both within them.
CREATE TABLE document_parents (
    parent_kind TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    total_bytes BIGINT NOT NULL DEFAULT 0,
    document_count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (parent_kind, parent_id)
);
