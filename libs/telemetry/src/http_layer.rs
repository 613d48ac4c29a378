//! axum middleware tracing and counting HTTP requests.

use std::time::Instant;

use axum::{extract::MatchedPath, extract::Request, middleware::Next, response::Response};
use opentelemetry::trace::TraceContextExt;
use tracing::{Instrument as _, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{metrics, propagation};

/// Paths neither traced, logged nor counted: probes and scrapes would drown real traffic.
const UNTRACKED_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/metrics"];

/// Route label for requests that matched no route, so random paths cannot blow up the
/// metric's cardinality.
const UNMATCHED_ROUTE: &str = "unmatched";

/// axum middleware (`axum::middleware::from_fn(http_middleware)`, added with `Router::layer`
/// so the matched route is known): continues the caller's trace from `traceparent`, opens an
/// `INFO` span `http.server` (`otel.name = "<METHOD> <route>"`), and counts
/// `http_requests_total` / `http_request_duration_seconds` by route template, method and
/// status. `/healthz`, `/livez`, `/readyz` and `/metrics` pass straight through.
pub async fn http_middleware(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if UNTRACKED_PATHS.contains(&path) {
        return next.run(request).await;
    }
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str().to_owned());
    let route_label = route.as_deref().unwrap_or(UNMATCHED_ROUTE).to_owned();
    let span = tracing::info_span!(
        parent: None,
        "http.server",
        otel.name = match &route {
            Some(route) => format!("{method} {route}"),
            None => method.clone(),
        },
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method.as_str(),
        http.route = route.as_deref(),
        url.path = path,
        http.response.status_code = Empty,
        trace_id = Empty,
    );
    let parent = propagation::extract_headers(request.headers());
    if parent.span().span_context().is_valid() {
        // Only fails when no OpenTelemetry layer sees the span, and then there is nothing to link.
        let _ = span.set_parent(parent);
    }
    let span_context = span.context().span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", span_context.trace_id().to_string());
    }

    let start = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = start.elapsed();

    let status = response.status();
    let status_label = status.as_str();
    let labels = [route_label.as_str(), method.as_str(), status_label];
    let all = metrics::global();
    all.http_requests.with_label_values(&labels).inc();
    all.http_duration
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());

    // As i64: tracing-opentelemetry would turn an unsigned value into a string attribute.
    span.record("http.response.status_code", i64::from(status.as_u16()));
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    // OpenTelemetry's HTTP conventions: on a server only 5xx is an error.
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
        tracing::warn!(parent: &span, status = status.as_u16(), elapsed_ms, "HTTP request failed");
    } else {
        tracing::info!(parent: &span, status = status.as_u16(), elapsed_ms, "HTTP request");
    }
    response
}
