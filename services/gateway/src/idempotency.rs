//! `Idempotency-Key` on POST requests (the IETF httpapi draft's semantics): the first response to
//! a key, success or error, is kept for 24 hours per caller and replayed to retries without
//! running the request again; the same key with a different request is refused (422), and a
//! retry while the first is still running gets 409.

use std::time::Duration;

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use axv_platform::{
    ErrorCode,
    kv::{Claim, IdempotencyStore, SharedKv},
};
use base64::Engine as _;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
/// How long a response is kept for retries.
pub const KEEP: Duration = Duration::from_secs(24 * 3600);
/// How long a running request holds its key before a crash is assumed.
const LOCK: Duration = Duration::from_secs(60);
/// Responses larger than this are not kept (GraphQL mutation answers are far smaller).
const MAX_KEPT_BYTES: usize = 1024 * 1024;

pub fn store(kv: SharedKv) -> IdempotencyStore {
    IdempotencyStore::new(kv, KEEP, LOCK)
}

/// The key, if the request carries a well-formed one; `Err` for a malformed one.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, &'static str> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| "Idempotency-Key must be visible ASCII")?
        .trim()
        // The draft's structured-field form is a quoted string; bare tokens are common too.
        .trim_matches('"');
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("Idempotency-Key must be 1 to 255 visible ASCII characters");
    }
    Ok(Some(key.to_owned()))
}

/// What identifies "the same request": its body and the response format asked for.
pub fn fingerprint(body: &[u8], headers: &HeaderMap) -> String {
    let mut digest = Sha256::new();
    digest.update(body);
    digest.update(b"\0");
    if let Some(accept) = headers.get(header::ACCEPT) {
        digest.update(accept.as_bytes());
    }
    hex::encode(digest.finalize())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    status: u16,
    content_type: String,
    body: String,
}

fn refusal(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    (status, axum::Json(body)).into_response()
}

fn replay(kept: &[u8]) -> Response {
    let Ok(kept) = serde_json::from_slice::<Kept>(kept) else {
        return refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error",
        );
    };
    let body = base64::engine::general_purpose::STANDARD
        .decode(kept.body)
        .unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    if let Ok(value) = HeaderValue::from_str(&kept.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Runs `run` once per (scope, key); replays its response to retries.
pub async fn once(
    store: &IdempotencyStore,
    scope: &str,
    key: &str,
    fingerprint: &str,
    run: impl Future<Output = Response>,
) -> Response {
    match store.begin(scope, key, fingerprint).await {
        Ok(Claim::Started) => {}
        Ok(Claim::Completed(kept)) => return replay(&kept),
        Ok(Claim::InProgress) => {
            return refusal(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                "a request with this Idempotency-Key is still being processed",
            );
        }
        Ok(Claim::Mismatch) => {
            return refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::BadUserInput,
                "this Idempotency-Key was used for a different request",
            );
        }
        Err(error) => {
            tracing::error!(%error, "idempotency store unavailable");
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "a service is unavailable; try again",
            );
        }
    }
    let response = run.await;
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_KEPT_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            // Too large to keep: let a retry run it again rather than replay half of it.
            let _ = store.abandon(scope, key).await;
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "internal error",
            );
        }
    };
    let kept = Kept {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned(),
        body: base64::engine::general_purpose::STANDARD.encode(&bytes),
    };
    match serde_json::to_vec(&kept) {
        Ok(record) => {
            if let Err(error) = store.complete(scope, key, fingerprint, &record).await {
                tracing::error!(%error, "could not keep an idempotent response");
                let _ = store.abandon(scope, key).await;
            }
        }
        Err(_) => {
            let _ = store.abandon(scope, key).await;
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use axv_platform::kv::MemoryKv;

    use super::*;

    #[test]
    fn keys_are_checked() {
        let mut headers = HeaderMap::new();
        assert_eq!(key_of(&headers), Ok(None));
        headers.insert(HEADER, HeaderValue::from_static("\"abc-123\""));
        assert_eq!(key_of(&headers), Ok(Some("abc-123".to_owned())));
        headers.insert(HEADER, HeaderValue::from_static("has space"));
        assert!(key_of(&headers).is_err());
        headers.insert(HEADER, HeaderValue::from_static(""));
        assert!(key_of(&headers).is_err());
    }

    async fn body_of(response: Response) -> String {
        String::from_utf8(
            axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_first_answer_is_replayed_and_a_different_request_refused() {
        let store = store(Arc::new(MemoryKv::default()));
        let runs = Arc::new(AtomicUsize::new(0));
        let run = |text: &'static str| {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                (StatusCode::OK, text).into_response()
            }
        };
        let first = once(&store, "user:1", "k1", "fp", run("first")).await;
        assert_eq!(body_of(first).await, "first");
        let retry = once(&store, "user:1", "k1", "fp", run("second")).await;
        assert_eq!(retry.headers()["idempotent-replayed"], "true");
        assert_eq!(body_of(retry).await, "first");
        let other = once(&store, "user:1", "k1", "other", run("third")).await;
        assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // Keys are per caller.
        let elsewhere = once(&store, "user:2", "k1", "other", run("fourth")).await;
        assert_eq!(body_of(elsewhere).await, "fourth");
        // The retry and the mismatch never ran.
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_retry_while_the_first_runs_is_a_conflict() {
        let store = store(Arc::new(MemoryKv::default()));
        assert_eq!(
            store.begin("user:1", "k2", "fp").await.unwrap(),
            Claim::Started
        );
        let retry = once(&store, "user:1", "k2", "fp", async {
            (StatusCode::OK, "never").into_response()
        })
        .await;
        assert_eq!(retry.status(), StatusCode::CONFLICT);
    }
}
