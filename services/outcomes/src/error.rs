//! The outcomes service's errors, each with its one place in the shared catalogue.

use axv_platform::{ErrorCode, db::StoreError, error::DomainError};

use crate::domain::OutcomesError;

#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
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
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Precondition(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl ReportsError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ReportsError::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

impl DomainError for ReportsError {
    fn code(&self) -> ErrorCode {
        match self {
            ReportsError::InvalidInput { .. } => ErrorCode::BadUserInput,
            ReportsError::NotFound(_) => ErrorCode::NotFound,
            ReportsError::Forbidden(_) => ErrorCode::Forbidden,
            ReportsError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ReportsError::Conflict(_) => ErrorCode::Conflict,
            ReportsError::Precondition(_) => ErrorCode::FailedPrecondition,
            ReportsError::Unavailable(_) => ErrorCode::Unavailable,
            ReportsError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<OutcomesError> for ReportsError {
    fn from(error: OutcomesError) -> Self {
        match error {
            OutcomesError::InvalidInput { field, message } => {
                ReportsError::InvalidInput { field, message }
            }
            OutcomesError::Precondition(m) => ReportsError::Precondition(m),
            OutcomesError::Forbidden(m) => ReportsError::Forbidden(m),
        }
    }
}

impl From<StoreError> for ReportsError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ReportsError::NotFound("record"),
            StoreError::UniqueViolation(what) => ReportsError::Conflict(what),
            other => ReportsError::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for ReportsError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::from(error).into()
    }
}

impl From<ReportsError> for tonic::Status {
    fn from(error: ReportsError) -> Self {
        error.to_status()
    }
}
