//! Refresh-token primitives: an unguessable secret for the client, a digest for storage.
//! (Token families, rotation and reuse detection live in the onboarding service's store.)

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new refresh token: `token` goes to the client, only `hash` is stored.
#[derive(Clone)]
pub struct RefreshSecret {
    /// base64url (no padding) of 32 random bytes.
    pub token: String,
    /// Lowercase hex SHA-256 of `token`.
    pub hash: String,
}

impl std::fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshSecret")
            .field("token", &"[redacted]")
            .field("hash", &self.hash)
            .finish()
    }
}

pub fn new_refresh_secret() -> RefreshSecret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = B64.encode(bytes);
    RefreshSecret {
        hash: hash_refresh_token(&token),
        token,
    }
}

/// Whether `token` has the shape of a secret [`new_refresh_secret`] makes (base64url of 32
/// bytes): anything else was never issued, and is refused without a lookup.
pub fn is_well_formed_secret(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The stored form of a refresh token. A plain digest suffices (no salt or slow hash):
/// the token has 256 bits of entropy, so there is nothing to brute-force, and a
/// deterministic digest is what lets the store look the token up.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
