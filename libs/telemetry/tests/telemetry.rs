#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Propagation, the gRPC and HTTP layers, and metrics, observed through an in-memory span
//! exporter. Each test installs its own thread-default subscriber, and uses its own gRPC
//! service / HTTP route names because the metrics registry is process-wide.

use std::{
    convert::Infallible,
    future::poll_fn,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{Router, middleware::from_fn, routing::get};
use axv_telemetry::{
    GrpcClientLayer, GrpcServerLayer, ScopedTelemetryGuard, http_middleware,
    init_with_tracer_provider, metrics,
    propagation::{TraceContextInterceptor, extract_headers, extract_metadata, inject_headers},
};
use http::{HeaderMap, HeaderValue};
use http_body::Frame;
use opentelemetry::{
    KeyValue, Value,
    trace::{SpanId, SpanKind, Status, TraceContextExt, TraceId},
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tonic::{codegen::Bytes, service::Interceptor};
use tower::{Layer, Service, ServiceExt};
use tracing_opentelemetry::OpenTelemetrySpanExt;

const REMOTE_TRACE: &str = "4bf92f3577b34da6a3ce929b0e0e4736";
const REMOTE_SPAN: &str = "00f067aa0ba902b7";

fn telemetry() -> (InMemorySpanExporter, ScopedTelemetryGuard) {
    let exporter = InMemorySpanExporter::default();
    // The simple processor exports as each span ends, so spans are visible without flushing.
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let guard = init_with_tracer_provider(provider, "telemetry-test");
    (exporter, guard)
}

fn finished(exporter: &InMemorySpanExporter) -> Vec<SpanData> {
    exporter.get_finished_spans().unwrap()
}

fn span_named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|span| span.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no span {name} in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
}

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn remote_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let traceparent = format!("00-{REMOTE_TRACE}-{REMOTE_SPAN}-01");
    headers.insert("traceparent", HeaderValue::from_str(&traceparent).unwrap());
    headers
}

fn grpc_handled(side_server: bool, service: &str, method: &str, code: &str) -> u64 {
    let all = metrics::global();
    let vec = if side_server {
        &all.grpc_server_handled
    } else {
        &all.grpc_client_handled
    };
    vec.with_label_values(&[service, method, code]).get()
}

#[test]
fn injected_context_extracts_to_the_same_trace() {
    let (exporter, guard) = telemetry();

    let client = tracing::info_span!("client");
    let client_cx = client.context();
    let client_trace = client_cx.span().span_context().trace_id();
    assert_ne!(client_trace, TraceId::INVALID);

    let mut headers = HeaderMap::new();
    client.in_scope(|| inject_headers(&mut headers));
    assert!(headers.contains_key("traceparent"), "{headers:?}");
    let extracted = extract_headers(&headers);
    assert_eq!(extracted.span().span_context().trace_id(), client_trace);
    assert!(extracted.span().span_context().is_remote());

    // The interceptor path writes the same context into gRPC metadata.
    let request = client
        .in_scope(|| TraceContextInterceptor.call(tonic::Request::new(())))
        .unwrap();
    let from_metadata = extract_metadata(request.metadata());
    assert_eq!(from_metadata.span().span_context().trace_id(), client_trace);

    let server = tracing::info_span!(parent: None, "server");
    server.set_parent(extracted).unwrap();
    let child_trace = server.in_scope(|| {
        assert_eq!(
            axv_telemetry::current_trace_id(),
            Some(client_trace.to_string())
        );
        tracing::Span::current()
            .context()
            .span()
            .span_context()
            .trace_id()
    });
    assert_eq!(child_trace, client_trace);

    drop(server);
    drop(client);
    drop(guard);
    let spans = finished(&exporter);
    let client_span = span_named(&spans, "client");
    let server_span = span_named(&spans, "server");
    assert_eq!(server_span.span_context.trace_id(), client_trace);
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );
}

#[test]
fn no_trace_id_outside_spans() {
    let (_exporter, _guard) = telemetry();
    assert_eq!(axv_telemetry::current_trace_id(), None);
}

/// A handler answering trailers-only, as tonic does for every error status.
async fn not_found(_: http::Request<()>) -> Result<http::Response<tonic::body::Body>, Infallible> {
    let mut response = http::Response::new(tonic::body::Body::empty());
    response
        .headers_mut()
        .insert("grpc-status", HeaderValue::from_static("5"));
    Ok(response)
}

#[tokio::test]
async fn server_layer_counts_trailers_only_status_and_continues_the_remote_trace() {
    let (exporter, _guard) = telemetry();
    let mut service = GrpcServerLayer::new().layer(tower::service_fn(not_found));

    let mut request = http::Request::new(());
    *request.uri_mut() = "/test.NotFoundService/Get".parse().unwrap();
    *request.headers_mut() = remote_headers();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    drop(response);

    // Code label values are the canonical gRPC names: 5 => "NotFound".
    assert_eq!(
        grpc_handled(true, "test.NotFoundService", "Get", "NotFound"),
        1
    );
    let count = metrics::global()
        .grpc_server_duration
        .with_label_values(&["test.NotFoundService", "Get", "NotFound"])
        .get_sample_count();
    assert_eq!(count, 1);

    let spans = finished(&exporter);
    let span = span_named(&spans, "test.NotFoundService/Get");
    assert_eq!(span.span_context.trace_id().to_string(), REMOTE_TRACE);
    assert_eq!(span.parent_span_id, SpanId::from_hex(REMOTE_SPAN).unwrap());
    assert!(span.parent_span_is_remote);
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(attribute(span, "rpc.system"), Some(Value::from("grpc")));
    assert_eq!(
        attribute(span, "rpc.service"),
        Some(Value::from("test.NotFoundService"))
    );
    assert_eq!(attribute(span, "rpc.method"), Some(Value::from("Get")));
    assert_eq!(attribute(span, "rpc.grpc.status_code"), Some(Value::I64(5)));
    // NOT_FOUND is the caller's problem, not a server error.
    assert_eq!(span.status, Status::Unset);
}

/// A response body carrying one message and then the status in trailers, like a tonic
/// success (or a streaming failure).
struct TrailersBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl TrailersBody {
    fn new(status: &'static str) -> Self {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static(status));
        Self {
            data: Some(Bytes::from_static(b"\0\0\0\0\0")),
            trailers: Some(trailers),
        }
    }
}

impl http_body::Body for TrailersBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(
            self.trailers
                .take()
                .map(|trailers| Ok(Frame::trailers(trailers))),
        )
    }
}

async fn read_to_end<B>(mut body: B) -> Option<HeaderMap>
where
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut trailers = None;
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(found) = frame.unwrap().into_trailers() {
            trailers = Some(found);
        }
    }
    trailers
}

#[tokio::test]
async fn server_layer_reads_status_from_trailers_and_cancellation_on_drop() {
    let (exporter, _guard) = telemetry();
    let mut service =
        GrpcServerLayer::new().layer(tower::service_fn(|request: http::Request<()>| async move {
            let status = if request.uri().path().ends_with("Fail") {
                "13"
            } else {
                "0"
            };
            Ok::<_, Infallible>(http::Response::new(TrailersBody::new(status)))
        }));

    for method in ["Ok", "Fail", "Dropped"] {
        let mut request = http::Request::new(());
        *request.uri_mut() = format!("/test.TrailerService/{method}").parse().unwrap();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        if method != "Dropped" {
            read_to_end(response.into_body()).await.unwrap();
        }
    }

    assert_eq!(grpc_handled(true, "test.TrailerService", "Ok", "OK"), 1);
    assert_eq!(
        grpc_handled(true, "test.TrailerService", "Fail", "Internal"),
        1
    );
    assert_eq!(
        grpc_handled(true, "test.TrailerService", "Dropped", "Canceled"),
        1
    );

    let spans = finished(&exporter);
    let failed = span_named(&spans, "test.TrailerService/Fail");
    assert_eq!(
        attribute(failed, "rpc.grpc.status_code"),
        Some(Value::I64(13))
    );
    assert!(
        matches!(failed.status, Status::Error { .. }),
        "{:?}",
        failed.status
    );
    // Without a traceparent the server starts a new trace.
    let ok = span_named(&spans, "test.TrailerService/Ok");
    assert_eq!(ok.parent_span_id, SpanId::INVALID);
}

#[tokio::test]
async fn health_and_reflection_are_neither_traced_nor_counted() {
    let (exporter, _guard) = telemetry();
    let mut service = GrpcServerLayer::new().layer(tower::service_fn(not_found));

    for path in [
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ] {
        let mut request = http::Request::new(());
        *request.uri_mut() = path.parse().unwrap();
        *request.headers_mut() = remote_headers();
        service.ready().await.unwrap().call(request).await.unwrap();
    }

    assert!(finished(&exporter).is_empty());
    let rendered = metrics::render();
    assert!(!rendered.contains("grpc.health.v1.Health"), "{rendered}");
    assert!(
        !rendered.contains("grpc.reflection.v1.ServerReflection"),
        "{rendered}"
    );
}

/// A raw gRPC service for a real tonic server: answers `OK` in trailers.
#[derive(Clone)]
struct PingService;

impl tonic::server::NamedService for PingService {
    const NAME: &'static str = "test.Ping";
}

impl Service<http::Request<tonic::body::Body>> for PingService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        // The caller's context reached the handler: its span is the server span's child.
        let inner = tracing::info_span!("handler", path = request.uri().path());
        drop(inner);
        let mut response = http::Response::new(tonic::body::Body::new(TrailersBody::new("0")));
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/grpc"));
        std::future::ready(Ok(response))
    }
}

#[tokio::test]
async fn client_and_server_layers_share_one_trace_over_a_real_connection() {
    let (exporter, _guard) = telemetry();

    let incoming = tonic::transport::server::TcpIncoming::bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = incoming.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcServerLayer::new())
            .add_routes(tonic::service::Routes::new(PingService))
            .serve_with_incoming(incoming),
    );

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tower::ServiceBuilder::new()
        .layer(GrpcClientLayer)
        .service(channel);

    let root = tracing::info_span!("request");
    let root_trace = root.context().span().span_context().trace_id();
    let mut request = http::Request::new(tonic::body::Body::empty());
    *request.uri_mut() = "/test.Ping/Ping".parse().unwrap();
    request
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    let response = {
        use tracing::Instrument as _;
        async { client.ready().await.unwrap().call(request).await.unwrap() }
            .instrument(root.clone())
            .await
    };
    let trailers = read_to_end(response.into_body()).await.unwrap();
    assert_eq!(trailers.get("grpc-status").unwrap(), "0");
    drop(root);
    server.abort();

    assert_eq!(grpc_handled(false, "test.Ping", "Ping", "OK"), 1);
    // The server records when its response body has been sent; give it a moment.
    for _ in 0..100 {
        if grpc_handled(true, "test.Ping", "Ping", "OK") == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(grpc_handled(true, "test.Ping", "Ping", "OK"), 1);

    let spans = finished(&exporter);
    let client_span = spans
        .iter()
        .find(|s| s.name == "test.Ping/Ping" && s.span_kind == SpanKind::Client)
        .unwrap();
    let server_span = spans
        .iter()
        .find(|s| s.name == "test.Ping/Ping" && s.span_kind == SpanKind::Server)
        .unwrap();
    let handler = span_named(&spans, "handler");
    let root = span_named(&spans, "request");
    assert_eq!(client_span.span_context.trace_id(), root_trace);
    assert_eq!(client_span.parent_span_id, root.span_context.span_id());
    assert_eq!(server_span.span_context.trace_id(), root_trace);
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );
    assert_eq!(handler.parent_span_id, server_span.span_context.span_id());
    assert_eq!(
        attribute(client_span, "rpc.grpc.status_code"),
        Some(Value::I64(0))
    );
}

async fn item() -> &'static str {
    "item"
}

#[tokio::test]
async fn http_middleware_traces_by_route_and_skips_probes() {
    let (exporter, _guard) = telemetry();
    let app = Router::new()
        .route("/items/{id}", get(item))
        .route("/healthz", get(item))
        .layer(from_fn(http_middleware));

    let mut request = http::Request::get("/items/42")
        .body(axum::body::Body::empty())
        .unwrap();
    *request.headers_mut() = remote_headers();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let missing = http::Request::get("/nowhere/7")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.clone().oneshot(missing).await.unwrap().status(), 404);
    let probe = http::Request::get("/healthz")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.oneshot(probe).await.unwrap().status(), 200);

    let all = metrics::global();
    assert_eq!(
        all.http_requests
            .with_label_values(&["/items/{id}", "GET", "200"])
            .get(),
        1
    );
    assert_eq!(
        all.http_requests
            .with_label_values(&["unmatched", "GET", "404"])
            .get(),
        1
    );
    assert!(!metrics::render().contains("route=\"/healthz\""));

    let spans = finished(&exporter);
    assert_eq!(spans.len(), 2, "{spans:?}");
    let span = span_named(&spans, "GET /items/{id}");
    assert_eq!(span.span_context.trace_id().to_string(), REMOTE_TRACE);
    assert_eq!(span.parent_span_id, SpanId::from_hex(REMOTE_SPAN).unwrap());
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(
        attribute(span, "http.route"),
        Some(Value::from("/items/{id}"))
    );
    assert_eq!(
        attribute(span, "http.response.status_code"),
        Some(Value::I64(200))
    );
}

#[test]
fn render_lists_every_metric_and_registered_collectors() {
    let all = metrics::global();
    // A vector shows up once it has a series.
    let grpc = ["test.RenderService", "Get", "OK"];
    all.grpc_server_handled.with_label_values(&grpc).inc();
    all.grpc_server_duration
        .with_label_values(&grpc)
        .observe(0.01);
    all.grpc_client_handled.with_label_values(&grpc).inc();
    all.grpc_client_duration
        .with_label_values(&grpc)
        .observe(0.01);
    let http = ["/render", "GET", "200"];
    all.http_requests.with_label_values(&http).inc();
    all.http_duration.with_label_values(&http).observe(0.01);
    let extra =
        prometheus::IntCounter::new("test_render_extra_total", "A collector from another crate.")
            .unwrap();
    metrics::register(Box::new(extra.clone())).unwrap();
    extra.inc();
    // Registering the same name twice is refused rather than silently duplicated.
    assert!(metrics::register(Box::new(extra)).is_err());

    let rendered = metrics::render();
    for name in [
        "grpc_server_handled_total",
        "grpc_server_handling_seconds_bucket",
        "grpc_client_handled_total",
        "grpc_client_handling_seconds_count",
        "http_requests_total",
        "http_request_duration_seconds_sum",
        "test_render_extra_total 1",
    ] {
        assert!(rendered.contains(name), "{name} missing from:\n{rendered}");
    }
    assert!(rendered.contains(
        "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Get\",grpc_service=\"test.RenderService\"} 1"
    ));
}
