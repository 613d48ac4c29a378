//! Numbers as people read them: thousands separators, won in 억/만 for Korean readers, compute
//! in GPU-hours (the API keeps base units: seconds), dates in Korea's time zone.

use crate::i18n::Lang;

/// 1234567 -> "1,234,567".
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Won, short: "₩996억", "₩1조 2,345억", "₩3,500만" in Korean; "₩99.6B", "₩35.0M" in English.
pub fn won_short(krw: i64, lang: Lang) -> String {
    const EOK: i64 = 100_000_000;
    const JO: i64 = 10_000 * EOK;
    const MAN: i64 = 10_000;
    let sign = if krw < 0 { "-" } else { "" };
    let krw = krw.unsigned_abs() as i64;
    match lang {
        Lang::Ko => {
            if krw >= JO {
                let (jo, eok) = (krw / JO, (krw % JO) / EOK);
                if eok == 0 {
                    format!("{sign}₩{}조", grouped(jo))
                } else {
                    format!("{sign}₩{}조 {}억", grouped(jo), grouped(eok))
                }
            } else if krw >= EOK {
                format!("{sign}₩{}억", grouped((krw + EOK / 2) / EOK))
            } else if krw >= MAN {
                format!("{sign}₩{}만", grouped(krw / MAN))
            } else {
                format!("{sign}₩{}", grouped(krw))
            }
        }
        Lang::En => {
            let (value, unit) = if krw >= 1_000_000_000_000 {
                (krw as f64 / 1e12, "T")
            } else if krw >= 1_000_000_000 {
                (krw as f64 / 1e9, "B")
            } else if krw >= 1_000_000 {
                (krw as f64 / 1e6, "M")
            } else {
                return format!("{sign}₩{}", grouped(krw));
            };
            format!("{sign}₩{value:.1}{unit}")
        }
    }
}

/// Won in full, for tables: "₩99,600,000,000".
pub fn won(krw: i64) -> String {
    format!("₩{}", grouped(krw))
}

/// Seconds of compute as whole hours: 36000 -> "10".
pub fn hours(seconds: i64) -> String {
    grouped(seconds / 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(-1_234_567), "-1,234,567");
        assert_eq!(won_short(99_600_000_000, Lang::Ko), "₩996억");
        assert_eq!(won_short(1_234_500_000_000, Lang::Ko), "₩1조 2,345억");
        assert_eq!(won_short(35_000_000, Lang::Ko), "₩3,500만");
        assert_eq!(won_short(5_000, Lang::Ko), "₩5,000");
        assert_eq!(won_short(99_600_000_000, Lang::En), "₩99.6B");
        assert_eq!(won_short(35_000_000, Lang::En), "₩35.0M");
        assert_eq!(won(1_710_000_000), "₩1,710,000,000");
        assert_eq!(hours(36_000 * 100), "1,000");
    }
}

/// Today in Korea, `YYYY-MM-DD` (programmes open and close on Korean calendar days).
pub fn today_kst() -> String {
    axv_platform::calendar::today_kst().to_string()
}

/// An RFC 3339 instant as Korea's wall clock: `2026-12-07 09:05` (KST).
pub fn kst(instant: &str) -> String {
    let Ok(at) = chrono::DateTime::parse_from_rfc3339(instant) else {
        return instant.to_owned();
    };
    at.with_timezone(&axv_platform::calendar::KST)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

#[cfg(test)]
mod kst_tests {
    #[test]
    fn instants_read_in_korean_time() {
        assert_eq!(super::kst("2026-12-06T16:40:57.163Z"), "2026-12-07 01:40");
        assert_eq!(super::kst("not a time"), "not a time");
    }
}

/// Seconds of compute as hours with one decimal, for ledger lines: 5400 -> "1.5".
pub fn hours_precise(seconds: i64) -> String {
    let tenths = (seconds.unsigned_abs() as i64 * 10 + 1800) / 3600;
    let sign = if seconds < 0 && tenths > 0 { "-" } else { "" };
    format!("{sign}{}.{}", grouped(tenths / 10), tenths % 10)
}

#[cfg(test)]
mod hours_tests {
    #[test]
    fn ledger_hours_keep_a_decimal() {
        assert_eq!(super::hours_precise(5_400), "1.5");
        assert_eq!(super::hours_precise(-3_600 * 1_234), "-1,234.0");
        assert_eq!(super::hours_precise(0), "0.0");
    }
}

/// Whole calendar days in Korea from `instant` (RFC 3339) or `date` (`YYYY-MM-DD`) to `today`:
/// how long an item has waited (negative for a date still ahead). `None` when unreadable.
pub fn days_since(instant_or_date: &str, today: chrono::NaiveDate) -> Option<i64> {
    let day = match chrono::DateTime::parse_from_rfc3339(instant_or_date) {
        Ok(at) => at.with_timezone(&axv_platform::calendar::KST).date_naive(),
        Err(_) => chrono::NaiveDate::parse_from_str(instant_or_date, "%Y-%m-%d").ok()?,
    };
    Some((today - day).num_days())
}

#[cfg(test)]
mod days_tests {
    #[test]
    fn days_count_in_korean_calendar_days() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap_or_default();
        // 16:00 UTC on the 5th is already the 6th in Korea.
        assert_eq!(super::days_since("2026-12-05T16:00:00Z", today), Some(1));
        assert_eq!(super::days_since("2026-12-05T14:00:00Z", today), Some(2));
        assert_eq!(super::days_since("2026-12-01", today), Some(6));
        assert_eq!(super::days_since("2026-12-31", today), Some(-24));
        assert_eq!(super::days_since("soon", today), None);
    }
}

/// A file's size as people read it: "850 KB", "1.2 MB" (1 KB = 1,024 bytes, as file managers
/// count).
pub fn file_size(bytes: i64) -> String {
    const KB: f64 = 1024.0;
    let bytes = bytes.max(0) as f64;
    if bytes < KB * KB {
        format!("{} KB", ((bytes / KB).ceil() as i64).max(1))
    } else {
        let mb = bytes / (KB * KB);
        if mb < 10.0 {
            format!("{mb:.1} MB")
        } else {
            format!("{mb:.0} MB")
        }
    }
}
