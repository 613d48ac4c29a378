//! CSV exports for spreadsheets, beside GraphQL: the programme's figures
//! (`GET /export/stats.csv`, [`stats`]) and the audit trail (`GET /export/audit.csv`,
//! [`audit`]). Each is charged against the caller's rate-limit budget like the query it
//! mirrors, and answers what that query would.

pub mod audit;
pub mod stats;

pub use audit::audit_csv;
pub use stats::stats_csv;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use axv_platform::ErrorCode;

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
