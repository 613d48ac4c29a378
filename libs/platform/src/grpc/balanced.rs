//! Channels that spread calls over every instance of a service. One HTTP/2 connection to a
//! Kubernetes ClusterIP would pin all of a client's calls to the one pod kube-proxy picked
//! for it, so scaling a service out would not relieve it. Instead the service's name is
//! resolved again every few seconds (a headless Service answers with the address of each
//! ready pod), each address gets its own connection, and every call goes to the less loaded
//! of two (tower's power-of-two-choices balancer). Under docker compose or with one
//! address, this is one connection, as before.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use tokio::sync::mpsc::Sender;
use tonic::transport::{Channel, Endpoint, channel::Change};

/// How often the addresses are asked for again (CoreDNS answers for headless Services with a
/// 5 s TTL).
pub const REFRESH: Duration = Duration::from_secs(5);

/// Where a service's instances are.
#[async_trait]
pub trait Resolve: Send + Sync + 'static {
    async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>>;
}

/// The system resolver (DNS under Kubernetes and compose). IPv4 addresses are used when there
/// are any: a dual-stack name (`localhost`, a dual-stack cluster's pods) also has IPv6 ones,
/// which a server listening on `0.0.0.0` does not answer, and every call balanced onto them
/// would fail.
pub struct Dns {
    host: String,
    port: u16,
}

#[async_trait]
impl Resolve for Dns {
    async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .collect();
        if addresses.iter().any(SocketAddr::is_ipv4) {
            Ok(addresses.into_iter().filter(SocketAddr::is_ipv4).collect())
        } else {
            Ok(addresses)
        }
    }
}

/// A fixed, changeable list of addresses (tests, and callers that know the instances).
#[derive(Clone, Default)]
pub struct StaticAddresses(Arc<Mutex<Vec<SocketAddr>>>);

impl StaticAddresses {
    pub fn set(&self, addresses: Vec<SocketAddr>) {
        if let Ok(mut current) = self.0.lock() {
            *current = addresses;
        }
    }
}

#[async_trait]
impl Resolve for StaticAddresses {
    async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        self.0
            .lock()
            .map(|addresses| addresses.clone())
            .map_err(|_| std::io::Error::other("address list poisoned"))
    }
}

/// Connection settings every instance's connection gets.
#[derive(Clone, Copy, Debug)]
pub struct ChannelSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl ChannelSettings {
    fn endpoint(&self, uri: String) -> Result<Endpoint, tonic::transport::Error> {
        Ok(Endpoint::from_shared(uri)?
            // tonic's default, written out: a call must not wait for the previous one's ACK.
            .tcp_nodelay(true)
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            // A pod that vanished without closing its connections is noticed within 40 s.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10)))
    }
}

/// A lazily connecting channel to every address `url`'s host resolves to, kept current.
pub fn channel(url: &str, settings: ChannelSettings) -> Result<Channel, tonic::transport::Error> {
    let named = settings.endpoint(url.to_owned())?;
    let uri = named.uri().clone();
    // The resolver is a task: without a runtime (or a host) there is only the one channel.
    let (Some(host), Ok(_)) = (uri.host(), tokio::runtime::Handle::try_current()) else {
        return Ok(named.connect_lazy());
    };
    let default_port = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    let resolver = Dns {
        // An IPv6 literal comes bracketed in a URI.
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: uri.port_u16().unwrap_or(default_port),
    };
    Ok(balanced(named, settings, resolver, REFRESH))
}

/// Which connection an entry of the balancer is.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Instance {
    /// The service's name, connected as written: used until an address is known, so a name
    /// that does not resolve yet fails calls quickly instead of leaving them waiting.
    ByName,
    Address(SocketAddr),
}

/// A channel over the addresses `resolver` gives, asked again every `refresh`; `named` (the
/// service's URL) stands in while none are known. Needs a Tokio runtime.
pub fn balanced(
    named: Endpoint,
    settings: ChannelSettings,
    resolver: impl Resolve,
    refresh: Duration,
) -> Channel {
    let (channel, changes) = Channel::balance_channel::<Instance>(16);
    tokio::spawn(keep_current(named, settings, resolver, refresh, changes));
    channel
}

async fn keep_current(
    named: Endpoint,
    settings: ChannelSettings,
    resolver: impl Resolve,
    refresh: Duration,
    changes: Sender<Change<Instance, Endpoint>>,
) {
    let scheme = named.uri().scheme_str().unwrap_or("http").to_owned();
    let origin = named.uri().clone();
    let mut current: HashSet<SocketAddr> = HashSet::new();
    let mut by_name = false;
    loop {
        let mut sent = Vec::new();
        match resolver.resolve().await {
            Ok(addresses) if !addresses.is_empty() => {
                let next: HashSet<SocketAddr> = addresses.into_iter().collect();
                for address in next.difference(&current) {
                    match settings.endpoint(format!("{scheme}://{address}")) {
                        // Calls keep the service's name as their authority.
                        Ok(endpoint) => sent.push(Change::Insert(
                            Instance::Address(*address),
                            endpoint.origin(origin.clone()),
                        )),
                        Err(error) => tracing::warn!(%address, %error, "unusable address"),
                    }
                }
                for address in current.difference(&next) {
                    sent.push(Change::Remove(Instance::Address(*address)));
                }
                if by_name {
                    sent.push(Change::Remove(Instance::ByName));
                    by_name = false;
                }
                current = next;
            }
            // Nothing resolved: keep what was known (its calls fail fast if it is gone, and
            // the next answer replaces it); with nothing known yet, connect by name.
            result => {
                if let Err(error) = result {
                    tracing::debug!(uri = %origin, %error, "service name did not resolve");
                }
                if current.is_empty() && !by_name {
                    sent.push(Change::Insert(Instance::ByName, named.clone()));
                    by_name = true;
                }
            }
        }
        for change in sent {
            if changes.send(change).await.is_err() {
                return;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(refresh) => {}
            // Every clone of the channel is gone.
            () = changes.closed() => return,
        }
    }
}
