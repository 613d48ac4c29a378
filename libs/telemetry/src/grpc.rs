//! tower layers tracing and counting gRPC calls, on the server and client side.
//!
//! A call is finished when its `grpc-status` is known: from the response headers (tonic sends
//! errors trailers-only), else from the trailers at the end of the response body, else `OK`
//! when the body ends without trailers. A response dropped before that counts as `Canceled`.

use std::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicBool, Ordering},
    task::{Context, Poll, ready},
    time::Instant,
};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::trace::TraceContextExt;
use pin_project_lite::pin_project;
use tonic::Code;
use tower::{Layer, Service};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{metrics, propagation};

/// Paths neither traced, logged nor counted: probes and tooling would drown everything else.
const UNTRACKED_PREFIXES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// tower layer for tonic servers:
/// `tonic::transport::Server::builder().layer(GrpcServerLayer::new())`.
///
/// Per call: continues the caller's trace from `traceparent`, opens an `INFO` span
/// `grpc.server` (`otel.name = "<service>/<method>"`, `rpc.*` attributes,
/// `rpc.grpc.status_code` when done), and counts `grpc_server_handled_total` /
/// `grpc_server_handling_seconds` by code. Health and reflection calls pass straight through.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcServerLayer;

impl GrpcServerLayer {
    pub fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for GrpcServerLayer {
    type Service = GrpcTelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcTelemetryService {
            inner,
            side: Side::Server,
        }
    }
}

/// tower layer for tonic client channels:
/// `ServiceBuilder::new().layer(GrpcClientLayer).service(channel)`.
///
/// Per call: opens an `INFO` span `grpc.client` under the current span, injects its context as
/// `traceparent`/`tracestate`, and counts `grpc_client_handled_total` /
/// `grpc_client_handling_seconds` by code. Transport failures count as `Unavailable`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcClientLayer;

impl GrpcClientLayer {
    pub fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for GrpcClientLayer {
    type Service = GrpcTelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcTelemetryService {
            inner,
            side: Side::Client,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

/// The service produced by [`GrpcServerLayer`] and [`GrpcClientLayer`].
#[derive(Clone, Debug)]
pub struct GrpcTelemetryService<S> {
    inner: S,
    side: Side,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GrpcTelemetryService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<GrpcTelemetryBody<ResBody>>;
    type Error = S::Error;
    type Future = GrpcTelemetryFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let path = request.uri().path();
        if UNTRACKED_PREFIXES
            .iter()
            .any(|prefix| path.starts_with(prefix))
        {
            return GrpcTelemetryFuture {
                inner: self.inner.call(request),
                tracker: None,
            };
        }
        let (service, method) = split_path(path);
        let span = match self.side {
            Side::Server => server_span(&service, &method, request.headers()),
            Side::Client => {
                let span = client_span(&service, &method);
                let cx = span.context();
                // A disabled client span (filtered out) still forwards the caller's context.
                let cx = if cx.span().span_context().is_valid() {
                    cx
                } else {
                    propagation::current_context()
                };
                propagation::inject_context(&cx, request.headers_mut());
                span
            }
        };
        let tracker = Tracker {
            side: self.side,
            service,
            method,
            start: Instant::now(),
            span,
            done: false,
        };
        let inner = tracker.span.in_scope(|| self.inner.call(request));
        GrpcTelemetryFuture {
            inner,
            tracker: Some(tracker),
        }
    }
}

fn server_span(service: &str, method: &str, headers: &HeaderMap) -> Span {
    // Explicit root: a server call starts a trace unless the caller sent one.
    let span = tracing::info_span!(
        parent: None,
        "grpc.server",
        otel.name = format!("{service}/{method}"),
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        trace_id = Empty,
    );
    let parent = propagation::extract_headers(headers);
    if parent.span().span_context().is_valid() {
        // Only fails when no OpenTelemetry layer sees the span, and then there is nothing to link.
        let _ = span.set_parent(parent);
    }
    // On the span so every log line of the call carries it.
    let span_context = span.context().span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", span_context.trace_id().to_string());
    }
    span
}

fn client_span(service: &str, method: &str) -> Span {
    tracing::info_span!(
        "grpc.client",
        otel.name = format!("{service}/{method}"),
        otel.kind = "client",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
    )
}

/// `/pkg.Service/Method` => (`pkg.Service`, `Method`).
fn split_path(path: &str) -> (String, String) {
    match path.trim_start_matches('/').split_once('/') {
        Some((service, method)) if !service.is_empty() && !method.is_empty() => {
            (service.to_owned(), method.to_owned())
        }
        _ => ("unknown".to_owned(), "unknown".to_owned()),
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|value| Code::from_bytes(value.as_bytes()))
}

/// One call in flight; records its outcome exactly once, as `Canceled` if dropped unfinished.
struct Tracker {
    side: Side,
    service: String,
    method: String,
    start: Instant,
    span: Span,
    done: bool,
}

impl Tracker {
    fn finish(&mut self, code: Code) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = self.start.elapsed();
        let all = metrics::global();
        let (handled, duration) = match self.side {
            Side::Server => (&all.grpc_server_handled, &all.grpc_server_duration),
            Side::Client => (&all.grpc_client_handled, &all.grpc_client_duration),
        };
        let code_name = code_name(code);
        let labels = [self.service.as_str(), self.method.as_str(), code_name];
        handled.with_label_values(&labels).inc();
        duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());

        self.span.record("rpc.grpc.status_code", i32::from(code));
        let failed = is_error(self.side, code);
        if failed {
            self.span.record("otel.status_code", "ERROR");
        }
        let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
        match self.side {
            Side::Server if failed => tracing::warn!(
                parent: &self.span, grpc.code = code_name, elapsed_ms, "gRPC call failed"
            ),
            Side::Server => {
                tracing::info!(parent: &self.span, grpc.code = code_name, elapsed_ms, "gRPC call")
            }
            // The server logs its side; the client's line is for debugging.
            Side::Client => {
                tracing::debug!(parent: &self.span, grpc.code = code_name, elapsed_ms, "gRPC call")
            }
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

/// OpenTelemetry's gRPC conventions: a client marks every non-OK status as an error, a server
/// only those that are its own fault.
fn is_error(side: Side, code: Code) -> bool {
    match side {
        Side::Client => code != Code::Ok,
        Side::Server => matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ),
    }
}

/// Canonical code names as gRPC's own Prometheus middleware labels them.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

pin_project! {
    /// Response future of [`GrpcTelemetryService`].
    pub struct GrpcTelemetryFuture<F> {
        #[pin]
        inner: F,
        tracker: Option<Tracker>,
    }
}

impl<F, B, E> Future for GrpcTelemetryFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<GrpcTelemetryBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.tracker.as_ref().map(|tracker| tracker.span.enter());
            ready!(this.inner.poll(cx))
        };
        let Some(mut tracker) = this.tracker.take() else {
            return Poll::Ready(result.map(|response| response.map(GrpcTelemetryBody::untracked)));
        };
        Poll::Ready(match result {
            Ok(response) => match grpc_status(response.headers()) {
                Some(code) => {
                    tracker.finish(code);
                    Ok(response.map(GrpcTelemetryBody::untracked))
                }
                None => Ok(response.map(|body| GrpcTelemetryBody::tracked(body, Some(tracker)))),
            },
            Err(error) => {
                // tonic answers a server-side service error as Unknown; a client-side error is
                // the transport failing to reach the peer.
                tracker.finish(match tracker.side {
                    Side::Server => Code::Unknown,
                    Side::Client => Code::Unavailable,
                });
                Err(error)
            }
        })
    }
}

pin_project! {
    /// Response body of [`GrpcTelemetryService`]: watches for the `grpc-status` trailer.
    pub struct GrpcTelemetryBody<B> {
        #[pin]
        inner: B,
        tracker: Option<Tracker>,
        // Set when the consumer saw `is_end_stream()` (Drop cannot ask `B`, it has no bounds).
        ended: AtomicBool,
    }

    impl<B> PinnedDrop for GrpcTelemetryBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // A body that was complete but never polled to the end (hyper skips empty ones)
            // finished normally; anything else was abandoned and the tracker says Canceled.
            if let Some(tracker) = this.tracker.as_mut()
                && this.ended.load(Ordering::Relaxed)
            {
                tracker.finish(Code::Ok);
            }
        }
    }
}

impl<B> GrpcTelemetryBody<B> {
    fn untracked(inner: B) -> Self {
        Self::tracked(inner, None)
    }

    fn tracked(inner: B, tracker: Option<Tracker>) -> Self {
        Self {
            inner,
            tracker,
            ended: AtomicBool::new(false),
        }
    }
}

impl<B: Body> Body for GrpcTelemetryBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = {
            // Streamed responses are produced here; keep them inside the call's span.
            let _entered = this.tracker.as_ref().map(|tracker| tracker.span.enter());
            ready!(this.inner.poll_frame(cx))
        };
        if let Some(tracker) = this.tracker.as_mut() {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(trailers) = frame.trailers_ref() {
                        tracker.finish(grpc_status(trailers).unwrap_or(Code::Ok));
                    }
                }
                Some(Err(_)) => tracker.finish(Code::Unknown),
                None => tracker.finish(Code::Ok),
            }
            if tracker.done {
                // Ends the span now rather than whenever the body is dropped.
                *this.tracker = None;
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        let ended = self.inner.is_end_stream();
        if ended {
            self.ended.store(true, Ordering::Relaxed);
        }
        ended
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for GrpcTelemetryBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTelemetryBody").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_grpc_paths() {
        assert_eq!(
            split_path("/axv.vouchers.v1.VoucherService/GetVoucher"),
            (
                "axv.vouchers.v1.VoucherService".to_owned(),
                "GetVoucher".to_owned()
            )
        );
        assert_eq!(
            split_path("/"),
            ("unknown".to_owned(), "unknown".to_owned())
        );
    }

    #[test]
    fn server_errors_follow_semantic_conventions() {
        assert!(!is_error(Side::Server, Code::NotFound));
        assert!(is_error(Side::Server, Code::Internal));
        assert!(is_error(Side::Client, Code::NotFound));
    }
}
