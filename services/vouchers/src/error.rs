//! The vouchers service's errors: the refusals every service shares, and its own.

use axv_platform::{
    ErrorCode,
    error::{DomainError, ServiceError},
};

pub type VouchersError = ServiceError<VoucherRefusal>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum VoucherRefusal {
    /// Outside the window, an ineligible company, over the cap.
    #[error("not eligible: {0}")]
    NotEligible(String),
}

impl DomainError for VoucherRefusal {
    fn code(&self) -> ErrorCode {
        match self {
            VoucherRefusal::NotEligible(_) => ErrorCode::FailedPrecondition,
        }
    }
}

/// Refused as not eligible, for the reason given.
pub fn not_eligible(reason: impl Into<String>) -> VouchersError {
    ServiceError::Domain(VoucherRefusal::NotEligible(reason.into()))
}
