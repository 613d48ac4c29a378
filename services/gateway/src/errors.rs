//! Errors as clients see them: a message, `extensions.code` from the shared catalogue and the
//! trace id. Internal details stay in the logs.

use async_graphql::{ErrorExtensions, ServerError};
use axv_platform::ErrorCode;

pub fn error(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    let message = match code {
        ErrorCode::Internal => "internal error".to_owned(),
        ErrorCode::Unavailable => "a service is unavailable; try again".to_owned(),
        _ => message.into(),
    };
    async_graphql::Error::new(message).extend_with(|_, extensions| {
        extensions.set("code", code.as_str());
        if let Some(trace_id) = axv_telemetry::current_trace_id() {
            extensions.set("traceId", trace_id);
        }
    })
}

pub fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    error(ErrorCode::BadUserInput, message)
}

pub fn unauthenticated() -> async_graphql::Error {
    error(ErrorCode::Unauthenticated, "authentication required")
}

/// A service's refusal, with its code carried over one-to-one.
pub fn from_status(status: tonic::Status) -> async_graphql::Error {
    let code = ErrorCode::from_grpc(status.code());
    if matches!(code, ErrorCode::Internal | ErrorCode::Unavailable) {
        tracing::error!(grpc_code = ?status.code(), message = status.message(), "downstream call failed");
    }
    let answered = error(code, status.message());
    // Why it was refused, for clients that explain it in a person's own words.
    match axv_platform::error::Reason::of_status(&status) {
        Some(reason) => answered.extend_with(|_, extensions| {
            extensions.set("reason", reason.as_str());
        }),
        None => answered,
    }
}

/// Errors raised by async-graphql itself (parse, validation, limits) get a code too; those with
/// no path concern the request as a whole.
pub fn complete_extensions(errors: &mut [ServerError], trace_id: Option<&str>) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            // Without a path the document never ran; with one, an argument that failed to
            // coerce (async-graphql's own wording) is still the caller's input.
            let coercion = [
                "Failed to parse",
                "Invalid value for argument",
                "Expected input type",
            ]
            .iter()
            .any(|start| error.message.starts_with(start))
                || error.message.contains("(occurred while parsing");
            let code = if error.path.is_empty() || coercion {
                ErrorCode::BadUserInput
            } else {
                ErrorCode::Internal
            };
            extensions.set("code", code.as_str());
        }
        if extensions.get("traceId").is_none()
            && let Some(trace_id) = trace_id
        {
            extensions.set("traceId", trace_id);
        }
    }
}
