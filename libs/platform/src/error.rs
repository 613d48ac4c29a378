//! The stable error catalogue. Every domain error maps to exactly one [`ErrorCode`], which maps
//! to exactly one gRPC code and one GraphQL `extensions.code`, so a client sees the same
//! answer whichever door it came in through.

use std::convert::Infallible;

use tonic::{Code, Status};

use crate::db::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    NotFound,
    Conflict,
    FailedPrecondition,
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::BadUserInput,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::FailedPrecondition,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The GraphQL `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::FailedPrecondition => "FAILED_PRECONDITION",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    pub fn grpc_code(self) -> Code {
        match self {
            ErrorCode::Unauthenticated => Code::Unauthenticated,
            ErrorCode::Forbidden => Code::PermissionDenied,
            ErrorCode::BadUserInput => Code::InvalidArgument,
            ErrorCode::NotFound => Code::NotFound,
            ErrorCode::Conflict => Code::AlreadyExists,
            ErrorCode::FailedPrecondition => Code::FailedPrecondition,
            ErrorCode::RateLimited => Code::ResourceExhausted,
            ErrorCode::Unavailable => Code::Unavailable,
            ErrorCode::Internal => Code::Internal,
        }
    }

    /// The inverse of [`ErrorCode::grpc_code`], for clients (the gateway) turning a status back
    /// into a GraphQL error. Codes outside the catalogue are internal.
    pub fn from_grpc(code: Code) -> ErrorCode {
        match code {
            Code::Unauthenticated => ErrorCode::Unauthenticated,
            Code::PermissionDenied => ErrorCode::Forbidden,
            Code::InvalidArgument | Code::OutOfRange => ErrorCode::BadUserInput,
            Code::NotFound => ErrorCode::NotFound,
            Code::AlreadyExists | Code::Aborted => ErrorCode::Conflict,
            Code::FailedPrecondition => ErrorCode::FailedPrecondition,
            Code::ResourceExhausted => ErrorCode::RateLimited,
            // tonic reports a call cut off in flight (a replica dying, its connection reset) as
            // Unknown; no service of ours answers Unknown itself (every error has its code),
            // so it is the transport, and worth a retry.
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
                ErrorCode::Unavailable
            }
            _ => ErrorCode::Internal,
        }
    }

    pub fn status(self, message: impl Into<String>) -> Status {
        Status::new(self.grpc_code(), message)
    }
}

/// Why something was refused in its present state (FAILED_PRECONDITION; a refused file is
/// BAD_USER_INPUT), for clients that
/// explain it in a person's own words rather than show the service's English. It travels as
/// the [`REASON_METADATA`] of the gRPC status and as the GraphQL `extensions.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The object is no longer in a state the action applies to: someone acted on it first.
    WrongState,
    /// It can no longer be edited: it was submitted, decided or verified.
    NotEditable,
    /// The resource pool has less left uncommitted than the grant.
    PoolShort,
    /// The change would leave the platform without an active admin.
    LastAdmin,
    /// A pilot completes with milestones still open and no note saying why.
    OpenMilestones,
    /// A report's period has not ended yet.
    PeriodNotOver,
    /// The company is not (or no longer) approved for the programme.
    CompanyNotApproved,
    /// The account is deactivated.
    AccountDeactivated,
    /// The pilot is not under way or completed (reports are filed for those only).
    PilotNotRunning,
    /// A file's bytes are none of the document types the platform takes.
    UnsupportedFileType,
    /// A file is over the size limit for one document.
    FileTooLarge,
    /// The parent's documents would go over their total size limit.
    ParentFull,
    /// The malware scanner has not yet passed the document.
    ScanPending,
    /// The malware scanner refused the document.
    Infected,
    /// The item already holds as many documents as it may.
    TooManyDocuments,
    /// The file is empty.
    EmptyFile,
    /// An old Office file (.doc, .xls, .ppt) or another compound file that is not HWP.
    OldOfficeFormat,
    /// A file name that is a path, or nothing at all.
    BadFileName,
}

/// The gRPC metadata key that carries a refusal's [`Reason`].
pub const REASON_METADATA: &str = "axv-reason";

impl Reason {
    pub const ALL: [Reason; 18] = [
        Reason::WrongState,
        Reason::NotEditable,
        Reason::PoolShort,
        Reason::LastAdmin,
        Reason::OpenMilestones,
        Reason::PeriodNotOver,
        Reason::CompanyNotApproved,
        Reason::AccountDeactivated,
        Reason::PilotNotRunning,
        Reason::UnsupportedFileType,
        Reason::FileTooLarge,
        Reason::ParentFull,
        Reason::ScanPending,
        Reason::Infected,
        Reason::TooManyDocuments,
        Reason::EmptyFile,
        Reason::OldOfficeFormat,
        Reason::BadFileName,
    ];

    /// The GraphQL `extensions.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::WrongState => "WRONG_STATE",
            Reason::NotEditable => "NOT_EDITABLE",
            Reason::PoolShort => "POOL_SHORT",
            Reason::LastAdmin => "LAST_ADMIN",
            Reason::OpenMilestones => "OPEN_MILESTONES",
            Reason::PeriodNotOver => "PERIOD_NOT_OVER",
            Reason::CompanyNotApproved => "COMPANY_NOT_APPROVED",
            Reason::AccountDeactivated => "ACCOUNT_DEACTIVATED",
            Reason::PilotNotRunning => "PILOT_NOT_RUNNING",
            Reason::UnsupportedFileType => "UNSUPPORTED_FILE_TYPE",
            Reason::FileTooLarge => "FILE_TOO_LARGE",
            Reason::ParentFull => "PARENT_FULL",
            Reason::ScanPending => "SCAN_PENDING",
            Reason::Infected => "INFECTED",
            Reason::TooManyDocuments => "TOO_MANY_DOCUMENTS",
            Reason::EmptyFile => "EMPTY_FILE",
            Reason::OldOfficeFormat => "OLD_OFFICE_FORMAT",
            Reason::BadFileName => "BAD_FILE_NAME",
        }
    }

    pub fn from_name(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The reason a status carries, if any.
    pub fn of_status(status: &Status) -> Option<Reason> {
        status
            .metadata()
            .get(REASON_METADATA)
            .and_then(|value| value.to_str().ok())
            .and_then(Reason::from_name)
    }
}

/// Implemented by each service's error enum; gives the one mapping to `tonic::Status`.
pub trait DomainError: std::error::Error {
    fn code(&self) -> ErrorCode;

    /// Why a FAILED_PRECONDITION was answered, when a client can say it better than the
    /// message.
    fn reason(&self) -> Option<Reason> {
        None
    }

    /// What the client is told. Internal errors say nothing more than that; their details go
    /// to the log with the trace id instead.
    fn client_message(&self) -> String {
        if self.code() == ErrorCode::Internal {
            "internal error".to_owned()
        } else {
            self.to_string()
        }
    }

    fn to_status(&self) -> Status {
        if self.code() == ErrorCode::Internal {
            tracing::error!(error = %self, "internal error");
        }
        self.code().status(self.client_message())
    }
}

/// A service error: the refusals every service shares, plus the service's own (`E`), each with
/// its one [`ErrorCode`]. A service without refusals of its own uses `ServiceError` as is.
/// Clone: one batch's failure is every caller's answer in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError<E: DomainError = Infallible> {
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
    /// Refused in the object's present state (or a balance that does not cover it), for the
    /// reason given.
    #[error("{0}")]
    Precondition(String),
    /// A refusal in the present state whose reason clients explain in their own words.
    #[error("{message}")]
    Refused { reason: Reason, message: String },
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// A store or service the operation needs did not answer; a retry may pass.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
    /// A refusal only this service makes.
    #[error(transparent)]
    Domain(E),
}

impl<E: DomainError> ServiceError<E> {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::InvalidInput {
            field,
            message: message.into(),
        }
    }

    /// Refused in the present state, for `reason`.
    pub fn refused(reason: Reason, message: impl Into<String>) -> Self {
        ServiceError::Refused {
            reason,
            message: message.into(),
        }
    }
}

impl<E: DomainError> ServiceError<E> {
    /// `message` for another service, with the trace context and the call timeout, as the
    /// bearer of `token`: the caller's own (the other service then applies the caller's rights)
    /// or this service's ([`service_token`]); `None` calls anonymously.
    pub fn request<T>(token: Option<&str>, message: T) -> Result<tonic::Request<T>, Self> {
        crate::grpc::outbound(token, message).map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// Another service's refusal as this service's: its NOT_FOUND is `what` not found, its
    /// UNAUTHENTICATED the caller's; anything else means it could not answer.
    pub fn upstream(what: &'static str) -> impl Fn(Status) -> Self {
        move |status| match status.code() {
            Code::NotFound => ServiceError::NotFound(what),
            Code::Unauthenticated => {
                ServiceError::Unauthenticated("authentication required".into())
            }
            code => ServiceError::Unavailable(format!("{what} lookup answered {code:?}")),
        }
    }
}

/// A short-lived admin token naming `service` (`service:pilots`), for the service's own reads
/// of other services' data that its callers may not read themselves.
pub fn service_token<E: DomainError>(
    issuer: &axv_auth::TokenIssuer,
    service: &str,
) -> Result<String, ServiceError<E>> {
    issuer
        .issue(
            &format!("service:{service}"),
            axv_auth::Role::Admin,
            Vec::new(),
        )
        .map(|issued| issued.token)
        .map_err(|e| ServiceError::Internal(format!("service token: {e}")))
}

impl<E: DomainError> DomainError for ServiceError<E> {
    fn code(&self) -> ErrorCode {
        match self {
            ServiceError::InvalidInput { .. } => ErrorCode::BadUserInput,
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::Forbidden(_) => ErrorCode::Forbidden,
            ServiceError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ServiceError::Conflict(_) => ErrorCode::Conflict,
            ServiceError::Precondition(_) | ServiceError::Refused { .. } => {
                ErrorCode::FailedPrecondition
            }
            ServiceError::RateLimited { .. } => ErrorCode::RateLimited,
            ServiceError::Unavailable(_) => ErrorCode::Unavailable,
            ServiceError::Internal(_) => ErrorCode::Internal,
            ServiceError::Domain(own) => own.code(),
        }
    }

    fn reason(&self) -> Option<Reason> {
        match self {
            ServiceError::Refused { reason, .. } => Some(*reason),
            ServiceError::Domain(own) => own.reason(),
            _ => None,
        }
    }
}

/// What a client makes of a status it was answered.
impl From<&Status> for ErrorCode {
    fn from(status: &Status) -> Self {
        ErrorCode::from_grpc(status.code())
    }
}

impl<E: DomainError> From<&ServiceError<E>> for ErrorCode {
    fn from(error: &ServiceError<E>) -> Self {
        error.code()
    }
}

/// For a service with no refusals of its own.
impl DomainError for Infallible {
    fn code(&self) -> ErrorCode {
        match *self {}
    }
}

impl<E: DomainError> From<StoreError> for ServiceError<E> {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ServiceError::NotFound("record"),
            StoreError::UniqueViolation(what) => ServiceError::Conflict(what),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl<E: DomainError> From<sqlx::Error> for ServiceError<E> {
    fn from(error: sqlx::Error) -> Self {
        StoreError::from(error).into()
    }
}

impl<E: DomainError> From<ServiceError<E>> for Status {
    fn from(error: ServiceError<E>) -> Self {
        let mut status = error.to_status();
        // When to come back; the gateway's token endpoint passes it on as HTTP Retry-After.
        if let ServiceError::RateLimited { retry_after_secs } = error
            && let Ok(value) = retry_after_secs.to_string().parse()
        {
            status.metadata_mut().insert("retry-after", value);
        }
        if let Some(reason) = error.reason() {
            status.metadata_mut().insert(
                REASON_METADATA,
                tonic::metadata::MetadataValue::from_static(reason.as_str()),
            );
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_grpc() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_grpc(code.grpc_code()), code, "{code:?}");
        }
    }

    #[test]
    fn another_services_refusals_become_ours() {
        let answered = ServiceError::<Infallible>::upstream("pilot");
        assert_eq!(
            answered(Status::not_found("gone")).code(),
            ErrorCode::NotFound
        );
        let not_signed_in = answered(Status::unauthenticated("expired"));
        assert_eq!(not_signed_in.code(), ErrorCode::Unauthenticated);
        let down = answered(Status::internal("boom"));
        assert_eq!(down.code(), ErrorCode::Unavailable);
        assert_eq!(
            down.to_string(),
            "unavailable: pilot lookup answered Internal"
        );
    }

    #[test]
    fn a_refusals_reason_travels_with_its_status() {
        for reason in Reason::ALL {
            let status = Status::from(ServiceError::<Infallible>::refused(reason, "no"));
            assert_eq!(status.code(), Code::FailedPrecondition);
            assert_eq!(status.message(), "no");
            assert_eq!(Reason::of_status(&status), Some(reason));
            assert_eq!(Reason::from_name(reason.as_str()), Some(reason));
        }
        let plain = Status::from(ServiceError::<Infallible>::Precondition("no".into()));
        assert_eq!(Reason::of_status(&plain), None);
    }

    #[test]
    fn a_rate_limited_status_says_when_to_come_back() {
        let status = Status::from(ServiceError::<Infallible>::RateLimited {
            retry_after_secs: 7,
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status
                .metadata()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
    }

    #[test]
    fn graphql_codes_are_distinct() {
        let names: std::collections::HashSet<_> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }
}
