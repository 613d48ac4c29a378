//! Authentication for the AX Valley platform: roles and claims, Ed25519 token signing,
//! verification of our own and external OIDC tokens (JWKS), revocation, password and
//! refresh-token primitives, and the tonic/axum glue that puts a [`Caller`] on requests.

mod axum_extract;
mod claims;
mod error;
mod issuer;
mod keys;
pub mod password;
pub mod refresh;
mod revocation;
mod role;
pub mod tonic_layer;
mod verifier;

pub use axum_extract::{AuthRejection, MaybeCaller, RequireCaller};
pub use claims::{Caller, Claims};
pub use error::AuthError;
pub use issuer::{IssuedToken, TokenIssuer};
pub use keys::{SigningKey, VerificationKey};
pub use password::{hash_password, verify_password};
pub use refresh::{RefreshSecret, hash_refresh_token, new_refresh_secret};
pub use revocation::{InMemoryRevocations, RevocationList};
pub use role::{ParseRoleError, Role};
pub use tonic_layer::{
    AuthLayer, AuthService, attach_bearer, bearer_token, caller, require_caller,
};
pub use verifier::{OidcIssuer, Verifier};
