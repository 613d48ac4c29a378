//! Password hashing: Argon2id with the crate's default (OWASP-recommended) parameters,
//! stored as a PHC string so parameters can be raised later without breaking old hashes.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::AuthError;

/// The shortest password a person may choose, in characters (NIST SP 800-63B's length rule;
/// the console says it before asking the API).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Long enough for any passphrase, short enough that hashing cannot be used to burn CPU.
pub const MAX_PASSWORD_CHARS: usize = 256;

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Password(e.to_string()))
}

/// True when `password` matches `phc`; false for a wrong password and for a malformed
/// or non-Argon2 hash alike.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // Parameters (variant, memory, iterations) come from the stored hash itself.
    hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted() {
        let (Ok(a), Ok(b)) = (hash_password("same"), hash_password("same")) else {
            panic!("hashing failed");
        };
        assert_ne!(a, b);
        assert!(verify_password("same", &a) && verify_password("same", &b));
        assert!(!verify_password("same", "not a phc string"));
        assert!(!verify_password("same", ""));
    }
}
