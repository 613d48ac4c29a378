//! `axv-outcomes`: outcome reports per pilot and period, and the programme's aggregate figures
//! with small-group suppression.
//!
//! So far: `domain` (pure) — the report state machine and versioning, reporting periods, the
//! figures' rules, and aggregation whose public figures resist the subtraction attack. The
//! store, gRPC service and gateway part follow (issue 6).

pub mod domain;

use axv_platform::{ErrorCode, error::DomainError};

pub use domain::OutcomesError;

impl DomainError for OutcomesError {
    fn code(&self) -> ErrorCode {
        match self {
            OutcomesError::InvalidInput { .. } => ErrorCode::BadUserInput,
            OutcomesError::Precondition(_) => ErrorCode::FailedPrecondition,
            OutcomesError::Forbidden(_) => ErrorCode::Forbidden,
        }
    }
}

impl From<OutcomesError> for tonic::Status {
    fn from(error: OutcomesError) -> Self {
        error.to_status()
    }
}
