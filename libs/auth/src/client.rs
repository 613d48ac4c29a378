//! Machine clients (OAuth 2.0 client credentials, RFC 6749 §4.4): the subject their tokens
//! carry, their secrets, and revoking every token of a client at once.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Access tokens of API clients have `sub = "client:<client id>"`; user ids are bare UUIDs
/// and external issuers' subjects are namespaced by their issuer, so neither can take this form.
pub const CLIENT_SUBJECT_PREFIX: &str = "client:";

/// The longest an access token issued to an API client may live, whatever the platform's access
/// TTL is configured to. Revoking a client keeps its subject on the revocation list this long,
/// which then covers every token any replica can have issued to it.
pub const CLIENT_TOKEN_MAX_TTL: Duration = Duration::from_secs(15 * 60);

/// Secrets start with this, so secret scanners (and people) can tell what a leaked string is.
const SECRET_PREFIX: &str = "axvcs_";

/// `client:<client_id>`.
pub fn client_subject(client_id: &str) -> String {
    format!("{CLIENT_SUBJECT_PREFIX}{client_id}")
}

pub fn is_client_subject(subject: &str) -> bool {
    subject.starts_with(CLIENT_SUBJECT_PREFIX)
}

/// The revocation-list entry that, while present, refuses every token of `subject`
/// (jtis are UUIDs, so the `subject:` namespace cannot collide with them).
pub fn subject_revocation_key(subject: &str) -> String {
    format!("subject:{subject}")
}

/// A new client secret: `secret` is shown to the admin once, only `hash` is stored.
#[derive(Clone)]
pub struct ClientSecret {
    /// `axvcs_` and base64url (no padding) of 32 random bytes.
    pub secret: String,
    /// Lowercase hex SHA-256 of `secret`.
    pub hash: String,
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecret")
            .field("secret", &"[redacted]")
            .field("hash", &self.hash)
            .finish()
    }
}

pub fn new_client_secret() -> ClientSecret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{SECRET_PREFIX}{}", B64.encode(bytes));
    ClientSecret {
        hash: hash_client_secret(&secret),
        secret,
    }
}

/// The stored form of a client secret: a plain SHA-256 digest, not Argon2id.
///
/// Argon2id exists to make guessing *low-entropy* passwords from a stolen hash expensive. A
/// client secret is 256 bits from the OS's CSPRNG, so a leaked digest cannot be brute-forced
/// however fast the hash is, and a slow hash would buy nothing while costing tens of
/// milliseconds of CPU on every token exchange (machine clients exchange often, and a CPU-bound
/// token endpoint is an easy denial of service). The same reasoning as for refresh tokens.
pub fn hash_client_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `presented` is the secret whose digest is `stored_hash`, compared in constant time
/// (the digest's bytes are compared without an early exit, so timing reveals no prefix).
pub fn client_secret_matches(presented: &str, stored_hash: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let Ok(stored) = hex::decode(stored_hash) else {
        return false;
    };
    constant_time_eq(&presented, &stored)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        // Lengths are public (always 32 for a well-formed digest).
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keep the optimiser from turning the fold back into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_match_only_themselves() {
        let a = new_client_secret();
        let b = new_client_secret();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("axvcs_"));
        assert_eq!(
            B64.decode(&a.secret["axvcs_".len()..])
                .map(|v| v.len())
                .ok(),
            Some(32)
        );
        assert_eq!(a.hash, hash_client_secret(&a.secret));
        assert!(client_secret_matches(&a.secret, &a.hash));
        assert!(!client_secret_matches(&b.secret, &a.hash));
        assert!(!client_secret_matches("", &a.hash));
        assert!(!client_secret_matches(&a.secret, "not hex"));
        assert!(!client_secret_matches(&a.secret, ""));
        assert!(!format!("{a:?}").contains(&a.secret));
    }

    #[test]
    fn subjects_and_revocation_keys() {
        let subject = client_subject("0190-abc");
        assert_eq!(subject, "client:0190-abc");
        assert!(is_client_subject(&subject));
        assert!(!is_client_subject("0190-abc"));
        assert!(!is_client_subject("https://idp|client:x"));
        assert_eq!(subject_revocation_key(&subject), "subject:client:0190-abc");
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
