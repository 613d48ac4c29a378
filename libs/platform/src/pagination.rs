//! Cursor pagination shared by every list RPC and the gateway's connections: a cursor is the
//! last row's id, opaque to clients (base64url), so services can change the ordering key later.

use base64::Engine;

const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const DEFAULT_PAGE_SIZE: usize = 20;
pub const MAX_PAGE_SIZE: usize = 100;

pub fn encode_cursor(id: &str) -> String {
    ENGINE.encode(format!("c:{id}"))
}

/// The id inside a cursor; `Ok(None)` for an empty token (the first page), `Err` for anything
/// this platform did not issue.
pub fn decode_cursor(token: &str) -> Result<Option<String>, InvalidCursor> {
    if token.is_empty() {
        return Ok(None);
    }
    let bytes = ENGINE.decode(token).map_err(|_| InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
    let id = text.strip_prefix("c:").ok_or(InvalidCursor)?;
    if crate::ids::is_valid_id(id) {
        Ok(Some(id.to_owned()))
    } else {
        Err(InvalidCursor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor this service issued")]
pub struct InvalidCursor;

/// A requested page size: 0 means the default, anything above the maximum is refused.
pub fn page_size(requested: i64) -> Result<usize, String> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if (1..=MAX_PAGE_SIZE as i64).contains(&n) => Ok(n as usize),
        _ => Err(format!("must be between 1 and {MAX_PAGE_SIZE}")),
    }
}

/// The next page's token for a list fetched with one row more than `size` (to learn whether
/// another page follows): trims `rows` to the page and returns the last row's cursor, or an
/// empty token on the last page.
pub fn next_page_token<T>(rows: &mut Vec<T>, size: usize, id: impl Fn(&T) -> &str) -> String {
    if rows.len() > size {
        rows.truncate(size);
        rows.last()
            .map(|row| encode_cursor(id(row)))
            .unwrap_or_default()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = crate::ids::new_id();
        assert_eq!(decode_cursor(&encode_cursor(&id)).unwrap(), Some(id));
        assert_eq!(decode_cursor("").unwrap(), None);
        for bad in [
            "garbage",
            "Yzp4",
            &ENGINE.encode("c:not-a-uuid"),
            &ENGINE.encode("x:0190"),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0), Ok(20));
        assert_eq!(page_size(1), Ok(1));
        assert_eq!(page_size(100), Ok(100));
        assert!(page_size(101).is_err());
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn the_extra_row_decides_the_next_token() {
        let ids = [
            crate::ids::new_id(),
            crate::ids::new_id(),
            crate::ids::new_id(),
        ];
        let mut full: Vec<&str> = ids.iter().map(String::as_str).collect();
        let token = next_page_token(&mut full, 2, |id| id);
        assert_eq!(full.len(), 2);
        assert_eq!(
            decode_cursor(&token).unwrap().as_deref(),
            Some(ids[1].as_str())
        );
        let mut last: Vec<&str> = ids[..2].iter().map(String::as_str).collect();
        assert_eq!(next_page_token(&mut last, 2, |id| id), "");
        assert_eq!(last.len(), 2);
    }
}
