//! Issuing the platform's own access tokens.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Header};

use crate::{AuthError, Claims, Role, SigningKey, Verifier};

/// Signs short-lived access tokens with the platform key.
pub struct TokenIssuer {
    key: SigningKey,
    issuer: String,
    audience: String,
    access_ttl: Duration,
}

/// A freshly signed access token.
#[derive(Clone)]
pub struct IssuedToken {
    pub token: String,
    pub jti: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[redacted]")
            .field("jti", &self.jti)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl TokenIssuer {
    pub fn new(
        key: SigningKey,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        access_ttl: Duration,
    ) -> Self {
        Self {
            key,
            issuer: issuer.into(),
            audience: audience.into(),
            access_ttl,
        }
    }

    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        companies: Vec<String>,
    ) -> Result<IssuedToken, AuthError> {
        self.issue_with_max_ttl(subject, role, companies, self.access_ttl)
    }

    /// Like [`TokenIssuer::issue`], living `max_ttl` or the issuer's access TTL, whichever
    /// is shorter (API clients' tokens are capped below a long configured TTL).
    pub fn issue_with_max_ttl(
        &self,
        subject: &str,
        role: Role,
        companies: Vec<String>,
        max_ttl: Duration,
    ) -> Result<IssuedToken, AuthError> {
        if subject.is_empty() {
            return Err(AuthError::MissingClaim("sub"));
        }
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.access_ttl.min(max_ttl).as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            companies,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now.saturating_add(ttl),
            iat: now,
            nbf: now,
            jti: uuid::Uuid::now_v7().to_string(),
        };
        let token = self.sign(&claims)?;
        Ok(IssuedToken {
            token,
            jti: claims.jti,
            expires_at: claims.exp,
        })
    }

    /// Signs exactly these claims with the platform key (its `kid` in the header). For tools
    /// and tests that need a token with chosen times; services use [`TokenIssuer::issue`].
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key.kid().to_owned());
        jsonwebtoken::encode(&header, claims, self.key.encoding_key())
            .map_err(|e| AuthError::Key(format!("signing: {e}")))
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// A verifier that accepts this issuer's tokens (add revocations and further keys as needed).
    pub fn verifier(&self) -> Verifier {
        Verifier::new(&*self.issuer, &*self.audience).with_key(self.key.verification_key())
    }
}
