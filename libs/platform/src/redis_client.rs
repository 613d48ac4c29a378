//! Opening Redis: `redis://` in the clear on a private network, `rediss://` over TLS for
//! managed Redis that encrypts in transit (ElastiCache, Memorystore, Azure Cache). A TLS
//! server is verified against the operating system's trust store, or, when a CA bundle is
//! given (`AXV_REDIS_CA_FILE`), against that bundle alone. `rediss://host/#insecure` skips
//! verification; it exists for debugging and `--check-config` refuses it.

use redis::{Client, IntoConnectionInfo, RedisResult, TlsCertificates, io::tcp::TcpSettings};

/// A client for `url` (no connection is made). `root_ca_pem` is only valid with `rediss://`.
/// Its connections set TCP_NODELAY (redis-rs leaves it off): every request waits on Redis for
/// a rate-limit count, and Nagle's algorithm would hold a small command behind an unacked one.
pub fn open(url: &str, root_ca_pem: Option<&[u8]>) -> RedisResult<Client> {
    let info = url.into_connection_info()?;
    let settings = info.tcp_settings().clone().set_nodelay(true);
    let info = info.set_tcp_settings(settings);
    match root_ca_pem {
        Some(pem) => Client::build_with_tls(
            info,
            TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        ),
        None => Client::open(info),
    }
}

/// The settings [`open`] gives every connection.
pub fn tcp_settings(client: &Client) -> &TcpSettings {
    client.get_connection_info().tcp_settings()
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

    #[test]
    fn connections_send_without_delay() {
        for url in ["redis://127.0.0.1:6379", "rediss://redis.example:6380/0"] {
            let Ok(client) = open(url, None) else {
                panic!("{url} refused")
            };
            assert!(tcp_settings(&client).nodelay(), "{url}");
        }
    }
}
