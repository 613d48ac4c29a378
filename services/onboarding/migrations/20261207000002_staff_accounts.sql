-- A staff account an admin deactivated (someone who left the office): it cannot sign in, and
-- its sessions ended when it was deactivated. NULL: active. Kept, not deleted, so the names in
-- every history stay.
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;
