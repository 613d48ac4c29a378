//! Onboarding's errors, each with its one place in the shared catalogue.

use axv_platform::{ErrorCode, db::StoreError, error::DomainError};

use crate::domain::{CompanyAction, CompanyStatus};

#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
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
    #[error("cannot {action} a company that is {from}")]
    InvalidTransition {
        action: CompanyAction,
        from: CompanyStatus,
    },
    #[error("the application can only be changed while DRAFT or CHANGES_REQUESTED; it is {0}")]
    NotEditable(CompanyStatus),
    /// Refused in the object's present state, for the reason given.
    #[error("{0}")]
    Precondition(String),
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// A store the operation needs did not answer; a retry may pass.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl OnboardingError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        OnboardingError::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

impl DomainError for OnboardingError {
    fn code(&self) -> ErrorCode {
        match self {
            OnboardingError::InvalidInput { .. } => ErrorCode::BadUserInput,
            OnboardingError::NotFound(_) => ErrorCode::NotFound,
            OnboardingError::Forbidden(_) => ErrorCode::Forbidden,
            OnboardingError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            OnboardingError::Conflict(_) => ErrorCode::Conflict,
            OnboardingError::InvalidTransition { .. }
            | OnboardingError::NotEditable(_)
            | OnboardingError::Precondition(_) => ErrorCode::FailedPrecondition,
            OnboardingError::RateLimited { .. } => ErrorCode::RateLimited,
            OnboardingError::Unavailable(_) => ErrorCode::Unavailable,
            OnboardingError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for OnboardingError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => OnboardingError::NotFound("record"),
            other => OnboardingError::Internal(other.to_string()),
        }
    }
}

impl From<OnboardingError> for tonic::Status {
    fn from(error: OnboardingError) -> Self {
        let mut status = error.to_status();
        if let OnboardingError::RateLimited { retry_after_secs } = error
            && let Ok(value) = retry_after_secs.to_string().parse()
        {
            status.metadata_mut().insert("retry-after", value);
        }
        status
    }
}
