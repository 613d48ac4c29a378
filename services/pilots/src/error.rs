//! The pilots service's errors: only the refusals every service shares.

pub type PilotsError = axv_platform::error::ServiceError;
