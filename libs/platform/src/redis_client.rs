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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_bundle_needs_a_tls_url() {
        assert!(open("redis://127.0.0.1:6379", None).is_ok());
        assert!(open("rediss://redis.example:6380", None).is_ok());
        assert!(open("redis://127.0.0.1:6379", Some(b"")).is_err());
    }
}
