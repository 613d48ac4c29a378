//! Cross-site request forgery: a page on another site can make a browser send a GET, or a POST
//! with a form's content type, without asking first (no CORS preflight). Such requests run
//! only if they carry something a browser would have preflighted: a JSON content type, an
//! `Authorization` header, or one of the headers GraphQL clients send for this purpose.

use axum::http::{HeaderMap, header};

/// Headers whose presence proves the request was preflighted (browsers never add them to a
/// simple request): Apollo's and GraphQL-over-HTTP's conventions, and the usual one.
const PREFLIGHT_HEADERS: [&str; 4] = [
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "graphql-require-preflight",
    "x-requested-with",
];

/// Content types a cross-site form or `fetch` may send without a preflight.
fn is_simple_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
    )
}

/// Whether a browser would have had to preflight this request.
pub fn is_preflighted(headers: &HeaderMap) -> bool {
    let non_simple_content = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !is_simple_content_type(v));
    non_simple_content
        || headers.contains_key(header::AUTHORIZATION)
        || PREFLIGHT_HEADERS.iter().any(|h| headers.contains_key(*h))
}

pub const REFUSAL: &str = "this request could have been sent by another site: send it with a JSON \
     body, an Authorization header or an `apollo-require-preflight: true` header";

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn simple_requests_are_not_preflighted() {
        assert!(!is_preflighted(&with(&[])));
        assert!(!is_preflighted(&with(&[("content-type", "text/plain")])));
        assert!(!is_preflighted(&with(&[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
        )])));
        assert!(!is_preflighted(&with(&[("accept", "application/json")])));
    }

    #[test]
    fn json_tokens_and_client_headers_are() {
        assert!(is_preflighted(&with(&[(
            "content-type",
            "application/json"
        )])));
        assert!(is_preflighted(&with(&[("authorization", "Bearer x")])));
        assert!(is_preflighted(&with(&[(
            "apollo-require-preflight",
            "true"
        )])));
        assert!(is_preflighted(&with(&[(
            "x-apollo-operation-name",
            "Stats"
        )])));
    }
}
