//! What a platform access token says, and who a verified request comes from.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Role;

/// The payload of an access token issued by the platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    /// Companies a firm member acts for; empty for staff and machine clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub companies: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
}

/// The authenticated caller of a request, built from a verified token.
#[derive(Clone)]
pub struct Caller {
    pub subject: String,
    pub role: Role,
    pub company_ids: Vec<String>,
    pub token_id: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub issuer: String,
    /// The bearer token as presented, for forwarding to downstream services.
    pub raw_token: Arc<str>,
}

impl Caller {
    pub fn is_staff(&self) -> bool {
        self.role.is_staff()
    }

    pub fn belongs_to(&self, company_id: &str) -> bool {
        self.company_ids.iter().any(|c| c == company_id)
    }
}

// Hand-written so that logging a caller never writes a usable bearer token to the logs.
impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("subject", &self.subject)
            .field("role", &self.role)
            .field("company_ids", &self.company_ids)
            .field("token_id", &self.token_id)
            .field("expires_at", &self.expires_at)
            .field("issuer", &self.issuer)
            .field("raw_token", &"[redacted]")
            .finish()
    }
}
