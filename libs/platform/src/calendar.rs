//! Gwangju's calendar: programmes open and close, vouchers expire, reports fall due and pilots'
//! milestones are due on Korean calendar days (KST, UTC+9, no daylight saving).

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// Korea Standard Time.
pub const KST: FixedOffset = match FixedOffset::east_opt(9 * 3600) {
    Some(offset) => offset,
    // Checked when compiling: 9 hours is within a day.
    None => panic!("UTC+9 is a valid offset"),
};

/// Today's date in Korea.
pub fn today_kst() -> NaiveDate {
    date_kst(Utc::now())
}

/// The Korean calendar day of an instant.
pub fn date_kst(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&KST).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_korean_day_starts_at_15_utc() {
        let before = DateTime::parse_from_rfc3339("2026-12-06T14:59:59Z").map(|t| t.to_utc());
        let after = DateTime::parse_from_rfc3339("2026-12-06T15:00:00Z").map(|t| t.to_utc());
        assert_eq!(
            before.map(date_kst).ok(),
            NaiveDate::from_ymd_opt(2026, 12, 6)
        );
        assert_eq!(
            after.map(date_kst).ok(),
            NaiveDate::from_ymd_opt(2026, 12, 7)
        );
    }
}
