//! Authentication for the AX Valley platform: roles and claims, Ed25519 token signing,
//! verification of our own and external OIDC tokens (JWKS), revocation (per token, and per API
//! client), password, refresh-token and client-secret primitives, and the tonic/axum glue that
//! puts a [`Caller`] on requests.

mod axum_extract;
mod claims;
pub mod client;
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
pub use client::{
    CLIENT_SUBJECT_PREFIX, CLIENT_TOKEN_MAX_TTL, ClientSecret, client_secret_matches,
    client_subject, hash_client_secret, is_client_subject, new_client_secret,
    subject_revocation_key,
};
pub use error::AuthError;
pub use issuer::{IssuedToken, TokenIssuer};
pub use keys::{SigningKey, VerificationKey};
pub use password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, hash_password, verify_password};
pub use refresh::{RefreshSecret, hash_refresh_token, is_well_formed_secret, new_refresh_secret};
pub use revocation::{InMemoryRevocations, RevocationList};
pub use role::{ParseRoleError, Role};
pub use tonic_layer::{
    AuthLayer, AuthService, attach_bearer, bearer_token, caller, require_caller,
};
pub use verifier::{OidcIssuer, SERVICE_SUBJECT_PREFIX, Verifier};
