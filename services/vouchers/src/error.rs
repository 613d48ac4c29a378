//! The vouchers service's errors, each with its one place in the shared catalogue.

use axv_platform::{ErrorCode, db::StoreError, error::DomainError};

/// Clone: one batch's failure is every caller's answer in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VouchersError {
    #[error("{field} {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// The same id was used for a different request, or a racing change won.
    #[error("{0}")]
    Conflict(String),
    /// Outside the window, an ineligible company, over the cap.
    #[error("not eligible: {0}")]
    NotEligible(String),
    /// A state that does not allow the move, or a balance that does not cover it.
    #[error("{0}")]
    Precondition(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl VouchersError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        VouchersError::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

impl DomainError for VouchersError {
    fn code(&self) -> ErrorCode {
        match self {
            VouchersError::InvalidInput { .. } => ErrorCode::BadUserInput,
            VouchersError::NotFound(_) => ErrorCode::NotFound,
            VouchersError::Forbidden(_) => ErrorCode::Forbidden,
            VouchersError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            VouchersError::Conflict(_) => ErrorCode::Conflict,
            VouchersError::NotEligible(_) | VouchersError::Precondition(_) => {
                ErrorCode::FailedPrecondition
            }
            VouchersError::Unavailable(_) => ErrorCode::Unavailable,
            VouchersError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for VouchersError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => VouchersError::NotFound("record"),
            other => VouchersError::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for VouchersError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::from(error).into()
    }
}

impl From<VouchersError> for tonic::Status {
    fn from(error: VouchersError) -> Self {
        error.to_status()
    }
}
