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

/// One page asked of a list: its size (validated) and the row it starts after. The store reads
/// `fetch_limit()` rows, one more than the page, and `finish` turns that extra row into the next
/// page's token. Every list goes through this one type because the extra row is easy to lose:
/// a layer in between that clamps the limit to the page size makes every page look like the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    size: usize,
    after: Option<String>,
}

/// Which part of a page request is wrong, with the proto/GraphQL field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageRequestError {
    #[error("must be between 1 and {MAX_PAGE_SIZE}")]
    Size,
    #[error("{0}")]
    Cursor(InvalidCursor),
}

impl PageRequestError {
    pub fn field(&self) -> &'static str {
        match self {
            Self::Size => "pageSize",
            Self::Cursor(_) => "pageToken",
        }
    }
}

impl PageRequest {
    /// From a list request's `page_size` (0 = the default) and `page_token` (empty = the start).
    pub fn parse(size: i32, token: &str) -> Result<Self, PageRequestError> {
        let size = page_size(i64::from(size)).map_err(|_| PageRequestError::Size)?;
        let after = decode_cursor(token).map_err(PageRequestError::Cursor)?;
        Ok(Self { size, after })
    }

    /// The first `size` rows (clamped to 1..=MAX_PAGE_SIZE), for callers inside the platform.
    pub fn first(size: usize) -> Self {
        Self {
            size: size.clamp(1, MAX_PAGE_SIZE),
            after: None,
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// How many rows the store reads: the page and one more.
    pub fn fetch_limit(&self) -> usize {
        self.size + 1
    }

    /// Trims rows read with `fetch_limit()` to the page; the next page's token is the last kept
    /// row's cursor, or empty when nothing follows.
    pub fn finish<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> &str) -> (Vec<T>, String) {
        if rows.len() > self.size {
            rows.truncate(self.size);
            let token = rows
                .last()
                .map(|row| encode_cursor(id(row)))
                .unwrap_or_default();
            (rows, token)
        } else {
            (rows, String::new())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|_| crate::ids::new_id()).collect()
    }

    #[test]
    fn a_page_reads_one_row_more_and_finishes_with_a_token_only_when_more_follow() {
        let page = PageRequest::parse(100, "").unwrap();
        assert_eq!(page.fetch_limit(), 101);
        let (rows, token) = page.finish(ids(101), |id| id);
        assert_eq!(rows.len(), 100);
        assert_eq!(
            decode_cursor(&token).unwrap().as_deref(),
            rows.last().map(String::as_str)
        );
        let (rows, token) = page.finish(ids(100), |id| id);
        assert_eq!((rows.len(), token.as_str()), (100, ""));
        let (rows, token) = PageRequest::parse(0, "").unwrap().finish(ids(5), |id| id);
        assert_eq!((rows.len(), token.as_str()), (5, ""));
    }

    #[test]
    fn page_requests_refuse_bad_sizes_and_tokens_naming_the_field() {
        assert_eq!(PageRequest::parse(0, "").unwrap().size(), DEFAULT_PAGE_SIZE);
        for bad in [-1, 101, i32::MAX] {
            assert_eq!(PageRequest::parse(bad, "").unwrap_err().field(), "pageSize");
        }
        assert_eq!(
            PageRequest::parse(10, "garbage").unwrap_err().field(),
            "pageToken"
        );
        let id = crate::ids::new_id();
        assert_eq!(
            PageRequest::parse(10, &encode_cursor(&id)).unwrap().after(),
            Some(id.as_str())
        );
        assert_eq!(PageRequest::first(1_000).size(), MAX_PAGE_SIZE);
    }

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
}
