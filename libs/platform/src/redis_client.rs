//! Opening Redis: `redis://` in the clear on a private network, `rediss://` over TLS for
//! managed Redis that encrypts in transit (ElastiCache, Memorystore, Azure Cache). A TLS
//! server is verified against the operating system's trust store, or, when a CA bundle is
//! given (`AXV_REDIS_CA_FILE`), against that bundle alone. `rediss://host/#insecure` skips
//! verification; it exists for debugging and `--check-config` refuses it.

use redis::{Client, RedisResult, TlsCertificates};

/// A client for `url` (no connection is made). `root_ca_pem` is only valid with `rediss://`.
pub fn open(url: &str, root_ca_pem: Option<&[u8]>) -> RedisResult<Client> {
    match root_ca_pem {
        Some(pem) => Client::build_with_tls(
            url,
            TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        ),
        None => Client::open(url),
    }
}

/// Whether a CA bundle holds at least one certificate (an empty store would refuse every
/// server, which is better reported at start than at the first connection).
pub fn has_certificate(pem: &[u8]) -> bool {
    pem.windows(CERTIFICATE_HEADER.len())
        .any(|window| window == CERTIFICATE_HEADER)
}

const CERTIFICATE_HEADER: &[u8] = b"-----BEGIN CERTIFICATE-----";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_bundle_needs_a_tls_url() {
        assert!(open("redis://127.0.0.1:6379", None).is_ok());
        assert!(open("rediss://redis.example:6380", None).is_ok());
        assert!(open("redis://127.0.0.1:6379", Some(b"")).is_err());
    }

    #[test]
    fn a_bundle_without_certificates_is_recognised() {
        assert!(!has_certificate(b"not a certificate"));
        assert!(has_certificate(
            b"junk\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        ));
    }
}
