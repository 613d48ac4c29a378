//! gRPC glue: a tower layer that authenticates requests, and helpers for handlers and clients.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::metadata::AsciiMetadataValue;

use crate::{AuthError, Caller, Verifier};

/// The bearer token of an `authorization` header: `None` when there is no such header,
/// an error when there is one but it does not hold a bearer token.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<Result<&str, AuthError>> {
    let value = headers.get(http::header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    Some(parsed.ok_or(AuthError::Malformed))
}

/// Paths served without authentication: health checks and reflection must work for
/// probes and tooling that hold no token.
fn is_public_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

/// Authenticates gRPC requests: `Server::builder().layer(AuthLayer::new(verifier))`.
///
/// No `authorization` header: the request goes through anonymously (handlers decide with
/// [`require_caller`]). A header that does not verify: answered at once with
/// UNAUTHENTICATED. A valid token: the [`Caller`] is put in the request extensions.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<Verifier>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around the gRPC routes.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: Arc<Verifier>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, ResBody> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let token = if is_public_path(req.uri().path()) {
            None
        } else {
            match bearer_token(req.headers()) {
                None => None,
                Some(Ok(token)) => Some(token.to_owned()),
                Some(Err(e)) => return Box::pin(std::future::ready(Ok(reject(&e)))),
            }
        };
        let Some(token) = token else {
            return Box::pin(self.inner.call(req));
        };
        // The service that was polled ready is the one that must be called; leave a
        // fresh clone in its place (the usual tower pattern for async middleware).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            match verifier.verify(&token).await {
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Err(e) => Ok(reject(&e)),
            }
        })
    }
}

fn reject<ResBody: Default>(error: &AuthError) -> http::Response<ResBody> {
    if error.is_client_error() {
        tracing::debug!(%error, "refused bearer token");
    } else {
        tracing::warn!(%error, "could not verify bearer token");
    }
    error.to_status().into_http()
}

/// The authenticated caller, if the request carried a valid token.
pub fn caller<T>(req: &tonic::Request<T>) -> Option<&Caller> {
    req.extensions().get::<Caller>()
}

/// The authenticated caller, or UNAUTHENTICATED.
pub fn require_caller<T>(req: &tonic::Request<T>) -> Result<&Caller, tonic::Status> {
    caller(req).ok_or_else(|| tonic::Status::unauthenticated("authentication required"))
}

/// Adds `authorization: Bearer <token>` to an outgoing gRPC request.
pub fn attach_bearer<T>(req: &mut tonic::Request<T>, token: &str) -> Result<(), tonic::Status> {
    let mut value = AsciiMetadataValue::try_from(format!("Bearer {token}"))
        .map_err(|_| tonic::Status::invalid_argument("token is not a valid header value"))?;
    // Keeps the value out of HPACK's dynamic table and out of debug output.
    value.set_sensitive(true);
    req.metadata_mut().insert("authorization", value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_headers() {
        let mut headers = http::HeaderMap::new();
        assert!(bearer_token(&headers).is_none());
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer abc.def.ghi"),
        );
        assert!(matches!(bearer_token(&headers), Some(Ok("abc.def.ghi"))));
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("bearer  xyz "),
        );
        assert!(matches!(bearer_token(&headers), Some(Ok("xyz"))));
        for bad in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "abc"] {
            headers.insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_static(bad),
            );
            assert!(
                matches!(bearer_token(&headers), Some(Err(AuthError::Malformed))),
                "{bad}"
            );
        }
    }

    #[test]
    fn attaches_bearer_metadata() {
        let mut req = tonic::Request::new(());
        assert!(attach_bearer(&mut req, "abc").is_ok());
        let got = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        assert_eq!(got, Some("Bearer abc"));
        assert!(attach_bearer(&mut req, "bad\nvalue").is_err());
        assert!(require_caller(&req).is_err());
    }
}
