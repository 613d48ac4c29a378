//! Identifiers and clock helpers shared by every store.

/// A new time-ordered id (UUIDv7), as the text the stores keep.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `id` is a well-formed UUID; anything else can never match a row, so callers answer
/// NOT_FOUND without touching the database.
pub fn is_valid_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok()
}

/// Unix milliseconds now, the stores' timestamp representation.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
