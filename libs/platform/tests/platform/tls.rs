//! TLS to Postgres and Redis, as managed services that enforce encryption in transit demand:
//! the real servers behind a terminator that refuses plaintext, a CA made for each test, and
//! the clients configured the way operators configure them (`sslmode`/`sslrootcert` in
//! `DATABASE_URL`; `rediss://` with `AXV_REDIS_CA_FILE`).

use std::{net::SocketAddr, str::FromStr, time::Duration};

use axv_platform::{
    config::PlatformArgs,
    db::{Database, DatabaseConfig},
    events::Event,
    testing::{
        TestDb, redis_available, redis_test_url,
        tls::{Protocol, TestPki, TlsTerminator},
        unique_prefix,
    },
};
use clap::Parser;
use futures::StreamExt;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    platform: PlatformArgs,
}

fn platform_args(args: &[&str]) -> PlatformArgs {
    Cli::try_parse_from(std::iter::once("axv").chain(args.iter().copied()))
        .unwrap()
        .platform
}

async fn resolve(host: &str, port: u16) -> SocketAddr {
    tokio::net::lookup_host((host, port))
        .await
        .unwrap()
        .next()
        .unwrap()
}

/// The test database's URL pointed at `front` (as `localhost`, the name the certificate
/// carries), with `tls` added to its query.
fn through(db: &TestDb, front: SocketAddr, tls: &str) -> DatabaseConfig {
    let url = db.config.url.clone().unwrap();
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
    let authority = format!("{}:{}", options.get_host(), options.get_port());
    assert!(
        url.contains(&authority),
        "the test URL names host and port: {url}"
    );
    let url = url.replacen(&authority, &format!("localhost:{}", front.port()), 1);
    let separator = if url.contains('?') { '&' } else { '?' };
    DatabaseConfig {
        url: Some(format!("{url}{separator}{tls}")),
        ..db.config.clone()
    }
}

/// The URL parameters of a server verified (chain and name) against `ca`'s bundle.
fn verified_by(ca: &TestPki) -> String {
    format!("sslmode=verify-full&sslrootcert={}", ca.ca_file().display())
}

/// A fresh test database behind a TLS terminator with a fresh CA (None: no Postgres, outside CI).
async fn postgres_behind_tls() -> Option<(TestDb, TestPki, TlsTerminator)> {
    let db = TestDb::postgres().await?;
    let pki = TestPki::new("axv test CA");
    let url = db.config.url.clone().unwrap();
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
    let upstream = resolve(options.get_host(), options.get_port()).await;
    let front = TlsTerminator::start(&pki, Protocol::Postgres, upstream).await;
    Some((db, pki, front))
}

/// The test Redis behind a TLS terminator with a fresh CA (None: no Redis, outside CI).
async fn redis_behind_tls() -> Option<(redis::Client, TestPki, TlsTerminator)> {
    if !redis_available().await {
        return None;
    }
    let upstream_client = redis::Client::open(redis_test_url().as_str()).unwrap();
    let upstream = match upstream_client.get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(host, port) => resolve(host, *port).await,
        other => panic!("the test Redis is plain TCP, not {other:?}"),
    };
    let pki = TestPki::new("axv test CA");
    let front = TlsTerminator::start(&pki, Protocol::Direct, upstream).await;
    Some((upstream_client, pki, front))
}

#[tokio::test]
async fn postgres_over_tls_verified_against_the_operators_ca() {
    let Some((db, pki, front)) = postgres_behind_tls().await else {
        return;
    };
    let config = through(&db, front.addr, &verified_by(&pki));
    let database = Database::connect(&config, "tls_check").await.unwrap();
    let answer: i32 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(database.pool())
        .await
        .unwrap();
    assert_eq!(answer, 42);
    assert!(front.handshakes() >= 1, "the connection went through TLS");
}

#[tokio::test]
async fn postgres_refuses_what_is_not_verified_tls() {
    let Some((db, _, front)) = postgres_behind_tls().await else {
        return;
    };

    // Plaintext to a server that requires TLS: the server's refusal reaches the caller.
    let Err(plain) =
        Database::connect(&through(&db, front.addr, "sslmode=disable"), "tls_check").await
    else {
        panic!("plaintext is refused");
    };
    assert!(plain.to_string().contains("TLS required"), "{plain}");

    // A certificate from a CA the operator did not name is not trusted.
    let stranger = TestPki::new("someone else's CA");
    let config = through(&db, front.addr, &verified_by(&stranger));
    let Err(unverified) = Database::connect(&config, "tls_check").await else {
        panic!("an unknown issuer is refused");
    };
    assert!(
        unverified
            .to_string()
            .to_lowercase()
            .contains("certificate"),
        "{unverified}"
    );
    assert_eq!(front.handshakes(), 0, "no session was established");
}

#[tokio::test]
async fn redis_over_tls_carries_the_cache_and_the_event_bus() {
    let Some((upstream, pki, front)) = redis_behind_tls().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix();
    let args = platform_args(&[
        "--data-dir",
        &data_dir.path().display().to_string(),
        "--redis-url",
        &format!("rediss://localhost:{}", front.addr.port()),
        "--redis-ca-file",
        &pki.ca_file().display().to_string(),
        "--redis-prefix",
        &prefix,
    ]);
    args.check().unwrap();
    let platform = args.build().await.unwrap();

    platform
        .kv
        .set("tls:key", b"over tls", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        platform.kv.get("tls:key").await.unwrap().as_deref(),
        Some(&b"over tls"[..])
    );
    // Written to the real Redis behind the terminator.
    let mut plain = upstream.get_multiplexed_async_connection().await.unwrap();
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg(format!("{prefix}tls:key"))
        .query_async(&mut plain)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"over tls"[..]));

    let mut events = platform.bus.subscribe();
    // The reader attaches asynchronously; publish until it sees one.
    let event = Event::new("test", "tls.checked", "subject-tls");
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            platform.bus.publish(&event).await.unwrap();
            if let Ok(Some(seen)) =
                tokio::time::timeout(Duration::from_millis(500), events.next()).await
            {
                return seen;
            }
        }
    })
    .await
    .expect("an event over the TLS bus");
    assert_eq!(received.kind, "tls.checked");
    assert!(
        front.handshakes() >= 2,
        "kv and bus connections both used TLS"
    );
}

#[tokio::test]
async fn redis_refuses_what_is_not_verified_tls() {
    let Some((_, pki, front)) = redis_behind_tls().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let data_dir = data_dir.path().display().to_string();
    let stranger = TestPki::new("someone else's CA");

    let unknown_issuer = platform_args(&[
        "--data-dir",
        &data_dir,
        "--redis-url",
        &format!("rediss://localhost:{}", front.addr.port()),
        "--redis-ca-file",
        &stranger.ca_file().display().to_string(),
    ]);
    let error = unknown_issuer.build().await.err().expect("unknown issuer");
    assert!(error.to_string().contains("REDIS_URL"), "{error}");

    let plaintext = platform_args(&[
        "--data-dir",
        &data_dir,
        "--redis-url",
        &format!("redis://localhost:{}", front.addr.port()),
    ]);
    assert!(plaintext.build().await.is_err(), "plaintext to a TLS port");
    assert_eq!(front.handshakes(), 0);

    // A CA bundle with a plain URL, or TLS that skips verification, is a configuration error.
    let mixed = platform_args(&[
        "--data-dir",
        &data_dir,
        "--redis-url",
        "redis://localhost:6379",
        "--redis-ca-file",
        &pki.ca_file().display().to_string(),
    ]);
    assert!(
        mixed
            .check()
            .unwrap_err()
            .to_string()
            .contains("AXV_REDIS_CA_FILE")
    );
    let insecure = platform_args(&[
        "--data-dir",
        &data_dir,
        "--redis-url",
        "rediss://localhost:6379/#insecure",
    ]);
    assert!(
        insecure
            .check()
            .unwrap_err()
            .to_string()
            .contains("REDIS_URL")
    );
}
