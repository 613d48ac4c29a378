//! The pilots service's errors, each with its one place in the shared catalogue.

use axv_platform::{ErrorCode, db::StoreError, error::DomainError};

#[derive(Debug, thiserror::Error)]
pub enum PilotsError {
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

impl PilotsError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        PilotsError::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

impl DomainError for PilotsError {
    fn code(&self) -> ErrorCode {
        match self {
            PilotsError::InvalidInput { .. } => ErrorCode::BadUserInput,
            PilotsError::NotFound(_) => ErrorCode::NotFound,
            PilotsError::Forbidden(_) => ErrorCode::Forbidden,
            PilotsError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            PilotsError::Conflict(_) => ErrorCode::Conflict,
            PilotsError::Precondition(_) => ErrorCode::FailedPrecondition,
            PilotsError::Unavailable(_) => ErrorCode::Unavailable,
            PilotsError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for PilotsError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => PilotsError::NotFound("record"),
            other => PilotsError::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for PilotsError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::from(error).into()
    }
}

impl From<PilotsError> for tonic::Status {
    fn from(error: PilotsError) -> Self {
        error.to_status()
    }
}
