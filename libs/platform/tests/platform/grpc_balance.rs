//! Calls through a balanced channel reach every instance the resolver names, follow the list
//! as instances come and go, and fall back to the service's name while nothing resolves; over
//! real gRPC servers (the standard health service), counting the calls each one answers.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use axv_platform::grpc::balanced::{self, ChannelSettings, Resolve, StaticAddresses};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const SETTINGS: ChannelSettings = ChannelSettings {
    connect_timeout: Duration::from_secs(2),
    request_timeout: Duration::from_secs(5),
};
const REFRESH: Duration = Duration::from_millis(50);

/// A gRPC server on a free port that counts the calls it answers.
struct Instance {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Instance {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let (_reporter, health) = tonic_health::server::health_reporter();
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .layer(tonic::service::InterceptorLayer::new(
                    move |request: tonic::Request<()>| {
                        counted.fetch_add(1, Ordering::SeqCst);
                        Ok(request)
                    },
                ))
                .add_service(health)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        Self { addr, calls, task }
    }

    fn take_calls(&self) -> usize {
        self.calls.swap(0, Ordering::SeqCst)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn call_many(channel: &Channel, n: usize) {
    let calls = (0..n).map(|_| {
        let mut client = HealthClient::new(channel.clone());
        async move {
            client
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .unwrap()
        }
    });
    futures::future::join_all(calls).await;
}

/// Waits until the balancer has taken in what the resolver last said.
async fn settle() {
    tokio::time::sleep(REFRESH * 6).await;
}

fn named(url: &str) -> Endpoint {
    Endpoint::from_shared(url.to_owned()).unwrap()
}

#[tokio::test]
async fn calls_are_spread_over_the_instances_and_follow_them() {
    let (a, b, c) = (
        Instance::start().await,
        Instance::start().await,
        Instance::start().await,
    );
    let instances = StaticAddresses::default();
    instances.set(vec![a.addr, b.addr]);
    // The name never resolves: only the resolver's addresses can answer.
    let channel = balanced::balanced(
        named("http://vouchers.invalid:50052"),
        SETTINGS,
        instances.clone(),
        REFRESH,
    );
    settle().await;

    call_many(&channel, 200).await;
    let (on_a, on_b) = (a.take_calls(), b.take_calls());
    assert_eq!(on_a + on_b, 200);
    assert!(
        on_a >= 20 && on_b >= 20,
        "both instances get calls: {on_a} / {on_b}"
    );

    // Scaled: a goes away, c arrives.
    instances.set(vec![b.addr, c.addr]);
    settle().await;
    call_many(&channel, 200).await;
    let (on_a, on_b, on_c) = (a.take_calls(), b.take_calls(), c.take_calls());
    assert_eq!(on_a, 0, "a removed instance gets no calls");
    assert!(on_b >= 20 && on_c >= 20, "{on_b} / {on_c}");

    // A resolver that answers nothing (DNS trouble) leaves the known instances in place.
    instances.set(vec![]);
    settle().await;
    call_many(&channel, 50).await;
    assert_eq!(b.take_calls() + c.take_calls(), 50);
}

struct Unresolvable;

#[async_trait]
impl Resolve for Unresolvable {
    async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        Err(std::io::Error::other("no such host"))
    }
}

#[tokio::test]
async fn until_addresses_are_known_the_name_is_used() {
    let a = Instance::start().await;
    let channel = balanced::balanced(
        named(&format!("http://{}", a.addr)),
        SETTINGS,
        Unresolvable,
        REFRESH,
    );
    call_many(&channel, 10).await;
    assert_eq!(a.take_calls(), 10);
}

#[tokio::test]
async fn a_service_url_resolves_through_dns() {
    let a = Instance::start().await;
    // `localhost` also resolves to ::1, where nothing listens: IPv4 is preferred.
    let channel =
        balanced::channel(&format!("http://localhost:{}", a.addr.port()), SETTINGS).unwrap();
    call_many(&channel, 20).await;
    assert_eq!(a.take_calls(), 20);
}

/// A call in flight when its replica dies (a stream the server is answering when the
/// connection to it goes away, as when the pod is killed) comes back as UNAVAILABLE, something
/// to retry, never as INTERNAL.
#[tokio::test]
async fn a_call_cut_off_by_a_dying_replica_is_unavailable() {
    let instance = Instance::start().await;
    // The "replica" is reached through a TCP relay whose connections die with it.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let server = instance.addr;
    let relaying = tokio::spawn(async move {
        let (mut client, _) = relay.accept().await.unwrap();
        let mut upstream = tokio::net::TcpStream::connect(server).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
    let channel = Endpoint::from_shared(format!("http://{relay_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut watch = HealthClient::new(channel)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(watch.message().await.unwrap().is_some());
    relaying.abort();
    let cut = match tokio::time::timeout(Duration::from_secs(10), watch.message()).await {
        Ok(Err(status)) => status,
        other => panic!("the stream should fail when its replica dies: {other:?}"),
    };
    assert_eq!(
        axv_platform::ErrorCode::from_grpc(cut.code()),
        axv_platform::ErrorCode::Unavailable,
        "{cut:?}"
    );
}
