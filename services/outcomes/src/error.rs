//! The outcomes service's errors: the refusals every service shares; the pure domain's own
//! ([`OutcomesError`]) are among them.

use axv_platform::error::ServiceError;

use crate::domain::OutcomesError;

pub type ReportsError = ServiceError;

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
