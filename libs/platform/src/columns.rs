//! How values the `Any` driver cannot decode are stored, so records derive `sqlx::FromRow`
//! with `#[sqlx(try_from = "...")]` instead of hand-written row mappers: dates as
//! `YYYY-MM-DD` text, flags as 0/1 integers, short lists as comma-separated text and string
//! enums (see [`crate::string_enum!`]) as their names (`try_from = "String"`).

use chrono::NaiveDate;

/// A stored value that does not read as its type; the row decode fails with it.
#[derive(Debug, thiserror::Error)]
#[error("stored {what} {value:?} is not valid")]
pub struct BadColumn {
    pub what: &'static str,
    pub value: String,
}

impl BadColumn {
    pub fn new(what: &'static str, value: impl Into<String>) -> Self {
        Self {
            what,
            value: value.into(),
        }
    }
}

/// A calendar date column (`2026-03-01`): `#[sqlx(try_from = "StoredDate")]`.
#[derive(Debug, sqlx::Type)]
#[sqlx(transparent)]
pub struct StoredDate(String);

impl TryFrom<StoredDate> for NaiveDate {
    type Error = BadColumn;

    fn try_from(StoredDate(text): StoredDate) -> Result<Self, BadColumn> {
        NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| BadColumn::new("date", text))
    }
}

/// A boolean column, 0 or 1 on both backends: `#[sqlx(try_from = "StoredFlag")]`.
#[derive(Debug, sqlx::Type)]
#[sqlx(transparent)]
pub struct StoredFlag(i64);

impl From<StoredFlag> for bool {
    fn from(StoredFlag(value): StoredFlag) -> bool {
        value != 0
    }
}

/// A short list of names without commas (`ENERGY,DATA`; empty is none):
/// `#[sqlx(try_from = "StoredList")]`.
#[derive(Debug, sqlx::Type)]
#[sqlx(transparent)]
pub struct StoredList(String);

impl From<StoredList> for Vec<String> {
    fn from(StoredList(text): StoredList) -> Vec<String> {
        text.split(',')
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_read_as_their_types() {
        let date = NaiveDate::try_from(StoredDate("2026-03-01".into())).ok();
        assert_eq!(date, NaiveDate::from_ymd_opt(2026, 3, 1));
        let bad = NaiveDate::try_from(StoredDate("2026-13-01".into()));
        assert!(bad.is_err_and(|e| e.to_string().contains("2026-13-01")));
        assert!(bool::from(StoredFlag(1)));
        assert!(!bool::from(StoredFlag(0)));
        assert_eq!(Vec::<String>::from(StoredList("A,B".into())), ["A", "B"]);
        assert!(Vec::<String>::from(StoredList(String::new())).is_empty());
    }
}
