//! `axv healthcheck`: probes a running component from inside its container (Docker's
//! HEALTHCHECK has no curl or grpcurl to call on a slim image).

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The targets probed when none is named: the process's HTTP port (the gateway) or its
/// metrics port (a gRPC service), from the same variables the process reads; one answering
/// is enough, since a container runs one or the other.
pub fn default_targets() -> Vec<String> {
    let port = |variable: &str, default: u16| {
        std::env::var(variable)
            .ok()
            .and_then(|listen| listen.rsplit_once(':')?.1.parse::<u16>().ok())
            .unwrap_or(default)
    };
    vec![
        format!("http://127.0.0.1:{}/healthz", port("AXV_HTTP_LISTEN", 8080)),
        format!(
            "http://127.0.0.1:{}/healthz",
            port("AXV_METRICS_LISTEN", 9464)
        ),
    ]
}

/// Probes `target`: `http://host:port/path` passes on a 2xx answer, `grpc://host:port[/service]`
/// when the standard health service answers SERVING (for `service`, or the whole server).
pub async fn probe(target: &str, timeout: Duration) -> anyhow::Result<String> {
    let uri: axum::http::Uri = target
        .parse()
        .with_context(|| format!("{target:?} is not a URL"))?;
    let Some(authority) = uri.authority().map(|a| a.as_str().to_owned()) else {
        bail!("{target:?} has no host:port");
    };
    let work = async {
        match uri.scheme_str() {
            Some("http") => http(&authority, uri.path()).await,
            Some("grpc") => grpc(&authority, uri.path().trim_start_matches('/')).await,
            _ => bail!("{target:?}: expected http://host:port/path or grpc://host:port"),
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| anyhow::anyhow!("{target}: no answer within {timeout:?}"))?
        .with_context(|| target.to_owned())
}

async fn http(authority: &str, path: &str) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(authority).await?;
    let path = if path.is_empty() { "/" } else { path };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    // The status line is all we need; a probe never reads a large body.
    let mut buffer = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = String::from_utf8_lossy(&head);
    let status_line = line.lines().next().unwrap_or_default().trim().to_owned();
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok());
    match code {
        Some(code) if (200..300).contains(&code) => Ok(status_line),
        _ => bail!("answered {status_line:?}"),
    }
}

async fn grpc(authority: &str, service: &str) -> anyhow::Result<String> {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{authority}"))?
        .connect()
        .await?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    match response.get_ref().status() {
        ServingStatus::Serving => Ok("SERVING".to_owned()),
        other => bail!("health is {}", other.as_str_name()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn http_probe_reads_the_status_line() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .route(
                "/readyz",
                axum::routing::get(|| async {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, "no")
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let timeout = Duration::from_secs(5);
        let ok = probe(&format!("http://{addr}/healthz"), timeout).await;
        assert!(ok.as_ref().is_ok_and(|line| line.contains("200")), "{ok:?}");
        let unready = probe(&format!("http://{addr}/readyz"), timeout).await;
        assert!(
            unready
                .as_ref()
                .is_err_and(|e| format!("{e:#}").contains("503")),
            "{unready:?}"
        );
        assert!(probe("ftp://127.0.0.1:1/", timeout).await.is_err());
    }
}
