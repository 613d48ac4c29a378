//! The stable error catalogue. Every domain error maps to exactly one [`ErrorCode`], which maps
//! to exactly one gRPC code and one GraphQL `extensions.code`, so a client sees the same
//! answer whichever door it came in through.

use tonic::{Code, Status};

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

/// Implemented by each service's error enum; gives the one mapping to `tonic::Status`.
pub trait DomainError: std::error::Error {
    fn code(&self) -> ErrorCode;

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
    fn graphql_codes_are_distinct() {
        let names: std::collections::HashSet<_> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }
}
