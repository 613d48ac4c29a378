//! Whose address a request is. Services count failed sign-ins per client address; behind the
//! gateway the TCP peer is the gateway, which passes the end client's address along in
//! `x-forwarded-for`. That header is believed only from peers in `AXV_TRUSTED_PROXIES` (the
//! gateways' addresses or network), else anyone reaching a service could pick the address
//! their failures are counted against.

use std::net::IpAddr;

use ipnet::IpNet;

pub const TRUSTED_PROXIES_VAR: &str = "AXV_TRUSTED_PROXIES";
/// `axv up` runs the gateway in the same process, calling the services over loopback.
const DEFAULT_TRUSTED: &str = "127.0.0.0/8,::1/128";

/// A comma-separated list of addresses and networks (`10.0.0.0/8,192.0.2.7`).
pub fn parse_trusted_proxies(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{part:?} is not an address or a network (CIDR)"))
        })
        .collect()
}

/// The trusted proxies from the environment (checked at start by `--check-config`; a value
/// that does not parse trusts only loopback).
pub fn trusted_proxies() -> &'static [IpNet] {
    static TRUSTED: std::sync::OnceLock<Vec<IpNet>> = std::sync::OnceLock::new();
    TRUSTED.get_or_init(|| {
        let text = std::env::var(TRUSTED_PROXIES_VAR).unwrap_or_else(|_| DEFAULT_TRUSTED.into());
        parse_trusted_proxies(&text)
            .or_else(|_| parse_trusted_proxies(DEFAULT_TRUSTED))
            .unwrap_or_default()
    })
}

/// The end client's address: what a trusted peer forwarded (its right-most hop, the one the
/// peer itself added), else the peer.
pub fn client_address(peer: Option<IpAddr>, forwarded: Option<&str>, trusted: &[IpNet]) -> String {
    let forwarded = forwarded
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match (peer, forwarded) {
        (Some(peer), Some(forwarded)) if trusted.iter().any(|net| net.contains(&peer)) => {
            forwarded.to_owned()
        }
        (Some(peer), _) => peer.to_string(),
        (None, _) => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_from_trusted_peers() {
        let trusted = parse_trusted_proxies("10.0.0.0/8, 192.0.2.7").unwrap();
        let gateway: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            client_address(Some(gateway), Some("198.51.100.4"), &trusted),
            "198.51.100.4"
        );
        assert_eq!(
            client_address(Some(gateway), Some("1.1.1.1, 198.51.100.4"), &trusted),
            "198.51.100.4"
        );
        assert_eq!(
            client_address(Some(stranger), Some("198.51.100.4"), &trusted),
            "203.0.113.9"
        );
        assert_eq!(
            client_address(
                Some("192.0.2.7".parse().unwrap()),
                Some("198.51.100.5"),
                &trusted
            ),
            "198.51.100.5"
        );
        assert_eq!(
            client_address(None, Some("198.51.100.4"), &trusted),
            "unknown"
        );
        assert!(parse_trusted_proxies("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxies("gateway").is_err());
        assert_eq!(parse_trusted_proxies(DEFAULT_TRUSTED).unwrap().len(), 2);
    }
}
