//! The one error type of the crate and how it maps onto gRPC statuses.

/// Everything that can go wrong while issuing or verifying credentials.
///
/// The `Display` text is for logs; callers facing clients use [`AuthError::to_status`]
/// (or the axum rejection), which never reveals why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    MissingToken,
    #[error("malformed token")]
    Malformed,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("token signed with an unknown key")]
    UnknownKey,
    #[error("token algorithm is not allowed")]
    DisallowedAlgorithm,
    #[error("token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    #[error("token revoked")]
    Revoked,
    #[error("JWKS: {0}")]
    Jwks(String),
    #[error("key: {0}")]
    Key(String),
    #[error("password hashing: {0}")]
    Password(String),
    #[error("revocation store: {0}")]
    Store(String),
}

impl AuthError {
    /// True for errors caused by the presented credential (as opposed to our own
    /// infrastructure failing): these are answered with UNAUTHENTICATED / 401.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            AuthError::Jwks(_) | AuthError::Key(_) | AuthError::Password(_) | AuthError::Store(_)
        )
    }

    /// True when a store the check needs (the revocation list, an issuer's keys) did not
    /// answer: nothing is wrong with the credential, and a retry may pass. Refused, never let
    /// through (a revoked token must not slip in while Redis is down).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AuthError::Store(_) | AuthError::Jwks(_))
    }

    /// The message a client may see: deliberately generic so that probing tokens
    /// teaches an attacker nothing about keys, issuers or clocks.
    pub fn public_message(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "authentication required",
            e if e.is_client_error() => "invalid or expired token",
            e if e.is_unavailable() => "sign-in checks are unavailable; try again shortly",
            _ => "internal error",
        }
    }

    /// The gRPC status for this error.
    pub fn to_status(&self) -> tonic::Status {
        if self.is_client_error() {
            tonic::Status::unauthenticated(self.public_message())
        } else if self.is_unavailable() {
            tonic::Status::unavailable(self.public_message())
        } else {
            tonic::Status::internal(self.public_message())
        }
    }
}

impl From<AuthError> for tonic::Status {
    fn from(e: AuthError) -> Self {
        e.to_status()
    }
}
