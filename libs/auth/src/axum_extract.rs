//! axum extractors for the HTTP side (the GraphQL gateway).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use serde_json::json;

use crate::tonic_layer::bearer_token;
use crate::{AuthError, Caller, Verifier};

/// The caller if the request carries a valid bearer token, `None` without one; an
/// invalid token is rejected (401) rather than silently treated as anonymous.
#[derive(Clone, Debug)]
pub struct MaybeCaller(pub Option<Caller>);

/// The caller; 401 without a valid bearer token.
#[derive(Clone, Debug)]
pub struct RequireCaller(pub Caller);

/// Why an extractor refused the request, rendered as a GraphQL-style error body.
#[derive(Debug)]
pub struct AuthRejection(pub AuthError);

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let (status, code) = if self.0.is_client_error() {
            (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED")
        } else if self.0.is_unavailable() {
            tracing::warn!(error = %self.0, "could not verify bearer token");
            (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE")
        } else {
            tracing::warn!(error = %self.0, "could not verify bearer token");
            (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL")
        };
        let body = json!({
            "errors": [{"message": self.0.public_message(), "extensions": {"code": code}}]
        });
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

async fn extract<S>(parts: &mut Parts, state: &S) -> Result<Option<Caller>, AuthRejection>
where
    Arc<Verifier>: FromRef<S>,
{
    // Already verified by an earlier extractor (or a layer) for this request.
    if let Some(caller) = parts.extensions.get::<Caller>() {
        return Ok(Some(caller.clone()));
    }
    let token = match bearer_token(&parts.headers) {
        None => return Ok(None),
        Some(token) => token.map_err(AuthRejection)?.to_owned(),
    };
    let verifier = Arc::<Verifier>::from_ref(state);
    let caller = verifier.verify(&token).await.map_err(AuthRejection)?;
    parts.extensions.insert(caller.clone());
    Ok(Some(caller))
}

impl<S> FromRequestParts<S> for MaybeCaller
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        extract(parts, state).await.map(MaybeCaller)
    }
}

impl<S> FromRequestParts<S> for RequireCaller
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        extract(parts, state)
            .await?
            .map(RequireCaller)
            .ok_or(AuthRejection(AuthError::MissingToken))
    }
}
