//! CSV exports for spreadsheets, beside GraphQL: the programme's figures
//! (`GET /export/stats.csv`, [`stats`]) and the audit trail (`GET /export/audit.csv`,
//! [`audit`]). Each is charged against the caller's rate-limit budget like the query it
//! mirrors, and answers what that query would.

pub mod audit;
pub mod stats;

pub use audit::audit_csv;
pub use stats::stats_csv;

use std::net::SocketAddr;

use axum::{
    Extension,
    extract::ConnectInfo,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use axv_auth::Caller;
use axv_platform::ErrorCode;

use crate::{AppState, context::RequestContext, http::client_address};

/// Excel reads a CSV file as the system's legacy code page (CP949 in Korea) unless it starts
/// with a UTF-8 byte order mark, and shows Korean names as mojibake.
pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

pub(crate) fn bad_request(message: &str) -> Response {
    crate::http::request_error(
        StatusCode::BAD_REQUEST,
        ErrorCode::BadUserInput,
        message,
        false,
    )
}

/// The request's context once the caller's budget took `cost` (an export costs about what the
/// queries it stands for would); the refusal to send back otherwise.
pub(crate) async fn charged(
    state: &AppState,
    caller: Option<Caller>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    cost: i64,
) -> Result<RequestContext, Response> {
    let address = client_address(headers, connect, state.limits.console_relay_key.as_deref());
    let charge = crate::http::charge_request(state, caller.as_ref(), &address, false).await?;
    if let Err(limited) = charge.cost(cost).await {
        return Err(crate::http::rate_limited(limited, false));
    }
    Ok(RequestContext {
        token: caller.as_ref().map(|c| c.raw_token.clone()),
        caller,
        client_address: address,
    })
}

/// A CSV document to download as `file_name` (ASCII).
pub(crate) fn csv_response(body: Vec<u8>, file_name: &'static str) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}
