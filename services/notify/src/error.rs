//! Notify's errors: only the refusals every service shares.

pub type NotifyError = axv_platform::error::ServiceError;
