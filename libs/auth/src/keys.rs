//! Signing keys (the platform's own, Ed25519) and verification keys (own or from a JWKS).

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::AuthError;

/// The platform's token-signing key: Ed25519, used with `alg: EdDSA`.
///
/// Its `kid` is the RFC 7638 JWK thumbprint of the public key, so the same key always has
/// the same id on every replica and a rotated key gets a new one without bookkeeping.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    encoding: EncodingKey,
    kid: String,
}

impl SigningKey {
    pub fn generate() -> SigningKey {
        Self::from_dalek(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    fn from_dalek(key: ed25519_dalek::SigningKey) -> SigningKey {
        let x = B64.encode(key.verifying_key().as_bytes());
        let kid = okp_thumbprint(&x);
        // jsonwebtoken wants the PKCS#8 document; producing it from a valid key cannot fail
        // short of an allocation failure, but stay total anyway and fall back to an empty
        // key, which then fails loudly at signing time.
        let der = key
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        SigningKey {
            encoding: EncodingKey::from_ed_der(&der),
            key,
            kid,
        }
    }

    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, AuthError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(Self::from_dalek)
            .map_err(|_| AuthError::Key("not an Ed25519 PKCS#8 PEM private key".into()))
    }

    pub fn to_pkcs8_pem(&self) -> Result<String, AuthError> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.as_str().to_owned())
            .map_err(|e| AuthError::Key(format!("encoding PKCS#8: {e}")))
    }

    pub fn load(path: &Path) -> Result<SigningKey, AuthError> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| AuthError::Key(format!("reading {}: {e}", path.display())))?;
        warn_if_readable_by_others(path);
        Self::from_pkcs8_pem(&pem).map_err(|_| {
            AuthError::Key(format!(
                "{} is not an Ed25519 PKCS#8 PEM key",
                path.display()
            ))
        })
    }

    /// Loads the key at `path`, or creates it (mode 0600, parent directories included).
    ///
    /// Safe when several processes start at once: the new key is written to a private
    /// temporary file and hard-linked into place, which fails if another process won the
    /// race, in which case its key is loaded instead.
    pub fn load_or_generate(path: &Path) -> Result<SigningKey, AuthError> {
        match std::fs::metadata(path) {
            Ok(_) => return Self::load(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(AuthError::Key(format!("reading {}: {e}", path.display()))),
        }
        let io_err = |what: &str, e: std::io::Error| {
            AuthError::Key(format!("{what} {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_err("creating the directory of", e))?;
        }
        let key = SigningKey::generate();
        let pem = key.to_pkcs8_pem()?;

        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(
            ".tmp-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let tmp = std::path::PathBuf::from(tmp_name);
        let written = write_private(&tmp, pem.as_bytes()).map_err(|e| io_err("writing", e));
        let placed = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            // Filesystems without hard links: a plain rename still never exposes a
            // half-written file, it just is not exclusive.
            Err(_) => std::fs::rename(&tmp, path)
                .map(|()| true)
                .map_err(|e| io_err("writing", e)),
        });
        let _ = std::fs::remove_file(&tmp);
        if placed? {
            tracing::info!(path = %path.display(), kid = %key.kid, "generated a new token signing key");
            Ok(key)
        } else {
            Self::load(path)
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK, for publishing in a JWKS document.
    pub fn public_jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": B64.encode(self.key.verifying_key().as_bytes()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    pub fn verification_key(&self) -> VerificationKey {
        VerificationKey {
            kid: self.kid.clone(),
            alg: Algorithm::EdDSA,
            key: DecodingKey::from_ed_der(self.key.verifying_key().as_bytes()),
            issuer: None,
        }
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "token signing key is accessible to other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// A public key that verifies tokens, pinned to exactly one algorithm.
///
/// Pinning is what defeats algorithm confusion: the token's `alg` header is only ever
/// compared with this, never used to decide how to interpret the key.
#[derive(Clone)]
pub struct VerificationKey {
    kid: String,
    alg: Algorithm,
    key: DecodingKey,
    /// The issuer whose tokens this key may sign; set when the key is added to a verifier.
    issuer: Option<Arc<str>>,
}

impl VerificationKey {
    /// Builds a key from a public JWK: OKP/Ed25519 (EdDSA), EC P-256 (ES256) or P-384
    /// (ES384), RSA of 2048 to 4096 bits (RS256 unless the JWK's `alg` names another RSA
    /// algorithm). Symmetric (`oct`) keys are refused: we never verify with shared secrets.
    pub fn from_jwk(jwk: &Value) -> Result<Self, AuthError> {
        let bad = |why: &str| AuthError::Key(format!("unusable JWK: {why}"));
        let obj = jwk.as_object().ok_or_else(|| bad("not an object"))?;
        let field = |name: &str| obj.get(name).and_then(Value::as_str);
        let b64 = |name: &str| -> Result<Vec<u8>, AuthError> {
            let s = field(name).ok_or_else(|| bad(&format!("no `{name}`")))?;
            B64.decode(s.trim_end_matches('='))
                .map_err(|_| bad(&format!("`{name}` is not base64url")))
        };
        if let Some(u) = obj.get("use")
            && u.as_str() != Some("sig")
        {
            return Err(bad("not a signing key"));
        }
        let declared = match obj.get("alg") {
            None => None,
            Some(Value::String(a)) => Some(a.as_str()),
            Some(_) => return Err(bad("`alg` is not a string")),
        };
        let pin = |default: Algorithm, allowed: &[Algorithm]| -> Result<Algorithm, AuthError> {
            match declared {
                None => Ok(default),
                Some(name) => allowed
                    .iter()
                    .copied()
                    .find(|a| alg_name(*a) == name)
                    .ok_or_else(|| bad(&format!("algorithm `{name}` does not fit the key"))),
            }
        };

        let (alg, key, thumbprint) = match field("kty") {
            Some("OKP") => {
                if field("crv") != Some("Ed25519") {
                    return Err(bad("only the Ed25519 curve is supported for OKP keys"));
                }
                let x = b64("x")?;
                let bytes: [u8; 32] = x
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("Ed25519 key is not 32 bytes"))?;
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| bad("invalid Ed25519 point"))?;
                let alg = pin(Algorithm::EdDSA, &[Algorithm::EdDSA])?;
                (
                    alg,
                    DecodingKey::from_ed_der(&bytes),
                    okp_thumbprint(&B64.encode(bytes)),
                )
            }
            Some("EC") => {
                let (alg, len) = match field("crv") {
                    Some("P-256") => (pin(Algorithm::ES256, &[Algorithm::ES256])?, 32),
                    Some("P-384") => (pin(Algorithm::ES384, &[Algorithm::ES384])?, 48),
                    _ => return Err(bad("only P-256 and P-384 EC keys are supported")),
                };
                let (x, y) = (b64("x")?, b64("y")?);
                if x.len() != len || y.len() != len {
                    return Err(bad("EC coordinates have the wrong length"));
                }
                let (x, y) = (B64.encode(x), B64.encode(y));
                let key =
                    DecodingKey::from_ec_components(&x, &y).map_err(|_| bad("invalid EC key"))?;
                let crv = field("crv").unwrap_or_default();
                (
                    alg,
                    key,
                    thumbprint(&[("crv", crv), ("kty", "EC"), ("x", &x), ("y", &y)]),
                )
            }
            Some("RSA") => {
                let alg = pin(
                    Algorithm::RS256,
                    &[
                        Algorithm::RS256,
                        Algorithm::RS384,
                        Algorithm::RS512,
                        Algorithm::PS256,
                        Algorithm::PS384,
                        Algorithm::PS512,
                    ],
                )?;
                let n = strip_leading_zeros(b64("n")?);
                let e = strip_leading_zeros(b64("e")?);
                let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
                if !(2048..=4096).contains(&bits) {
                    return Err(bad("RSA modulus must be 2048 to 4096 bits"));
                }
                if e.is_empty() || e.len() > 8 {
                    return Err(bad("invalid RSA exponent"));
                }
                let (n64, e64) = (B64.encode(&n), B64.encode(&e));
                let key = DecodingKey::from_rsa_raw_components(&n, &e);
                (
                    alg,
                    key,
                    thumbprint(&[("e", &e64), ("kty", "RSA"), ("n", &n64)]),
                )
            }
            Some(other) => return Err(bad(&format!("key type `{other}` is not supported"))),
            None => return Err(bad("no `kty`")),
        };
        let kid = match obj.get("kid") {
            None => thumbprint,
            Some(Value::String(k)) if !k.is_empty() => k.clone(),
            Some(_) => return Err(bad("`kid` is not a non-empty string")),
        };
        Ok(VerificationKey {
            kid,
            alg,
            key,
            issuer: None,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm tokens signed by this key must declare.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    pub(crate) fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    pub(crate) fn bound_to(mut self, issuer: Arc<str>) -> Self {
        self.issuer = Some(issuer);
        self
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The JOSE name of an algorithm (`RS256`, `EdDSA`, ...).
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}

fn strip_leading_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

fn okp_thumbprint(x: &str) -> String {
    thumbprint(&[("crv", "Ed25519"), ("kty", "OKP"), ("x", x)])
}

/// RFC 7638: SHA-256 over the required members, in lexicographic order, without
/// whitespace. Built by hand because serde_json's map order depends on crate features.
fn thumbprint(members: &[(&str, &str)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::from(*k), Value::from(*v)))
        .collect();
    B64.encode(Sha256::digest(format!("{{{}}}", body.join(","))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // The RSA example of RFC 7638 section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let tp = thumbprint(&[("e", "AQAB"), ("kty", "RSA"), ("n", n)]);
        assert_eq!(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        let jwk = json!({"kty": "RSA", "n": n, "e": "AQAB"});
        assert_eq!(VerificationKey::from_jwk(&jwk).unwrap().kid(), tp);
    }

    #[test]
    fn pem_roundtrip_keeps_the_kid() {
        let key = SigningKey::generate();
        let again = SigningKey::from_pkcs8_pem(&key.to_pkcs8_pem().unwrap()).unwrap();
        assert_eq!(key.kid(), again.kid());
        let vk = VerificationKey::from_jwk(&key.public_jwk()).unwrap();
        assert_eq!(vk.kid(), key.kid());
        assert_eq!(vk.algorithm(), Algorithm::EdDSA);
        assert!(SigningKey::from_pkcs8_pem("not a key").is_err());
    }

    #[test]
    fn load_or_generate_creates_once_then_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/signing.pem");
        let first = SigningKey::load_or_generate(&path).unwrap();
        let second = SigningKey::load_or_generate(&path).unwrap();
        assert_eq!(first.kid(), second.kid());
        assert_eq!(SigningKey::load(&path).unwrap().kid(), first.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn load_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(SigningKey::load(&path), Err(AuthError::Key(_))));
        assert!(matches!(
            SigningKey::load_or_generate(&path),
            Err(AuthError::Key(_))
        ));
        assert!(SigningKey::load(&dir.path().join("missing.pem")).is_err());
    }

    #[test]
    fn from_jwk_refuses_symmetric_and_weak_keys() {
        assert!(VerificationKey::from_jwk(&json!({"kty": "oct", "k": "c2VjcmV0"})).is_err());
        let small_rsa = json!({"kty": "RSA", "n": B64.encode([0xffu8; 128]), "e": "AQAB"});
        assert!(VerificationKey::from_jwk(&small_rsa).is_err());
        let key = SigningKey::generate();
        let mut jwk = key.public_jwk();
        jwk["alg"] = json!("HS256");
        assert!(VerificationKey::from_jwk(&jwk).is_err());
        let mut jwk = key.public_jwk();
        jwk["x"] = json!("AAAA");
        assert!(VerificationKey::from_jwk(&jwk).is_err());
        let mut jwk = key.public_jwk();
        jwk["use"] = json!("enc");
        assert!(VerificationKey::from_jwk(&jwk).is_err());
    }
}
