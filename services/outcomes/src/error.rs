//! The outcomes service's errors: only the refusals every service shares.

pub type ReportsError = axv_platform::error::ServiceError;
