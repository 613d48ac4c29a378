//! Onboarding's errors: the refusals every service shares, and the company's own.

use axv_platform::{
    ErrorCode,
    error::{DomainError, Reason, ServiceError},
};

use crate::domain::{CompanyAction, CompanyStatus};

pub type OnboardingError = ServiceError<CompanyRefusal>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum CompanyRefusal {
    #[error("cannot {action} a company that is {from}")]
    InvalidTransition {
        action: CompanyAction,
        from: CompanyStatus,
    },
    #[error("the application can only be changed while DRAFT or CHANGES_REQUESTED; it is {0}")]
    NotEditable(CompanyStatus),
}

impl DomainError for CompanyRefusal {
    fn code(&self) -> ErrorCode {
        match self {
            CompanyRefusal::InvalidTransition { .. } | CompanyRefusal::NotEditable(_) => {
                ErrorCode::FailedPrecondition
            }
        }
    }

    fn reason(&self) -> Option<Reason> {
        Some(match self {
            CompanyRefusal::InvalidTransition { .. } => Reason::WrongState,
            CompanyRefusal::NotEditable(_) => Reason::NotEditable,
        })
    }
}
