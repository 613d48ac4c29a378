//! One request is one trace: the gateway's span and the onboarding RPC's server span share a
//! trace id, carried over gRPC as W3C `traceparent`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axv_e2e::TestPlatform;
use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::json;

// The default current-thread runtime: every task of the platform runs on this thread, which
// carries the test's subscriber.
#[tokio::test]
async fn a_graphql_request_is_one_trace_across_the_grpc_hop() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let _telemetry = axv_telemetry::init_with_tracer_provider(provider.clone(), "axv-e2e");

    let p = TestPlatform::start_embedded().await;
    let response = p
        .graphql(None, "{ companies { totalCount } }", json!({}))
        .await;
    assert_eq!(response["data"]["companies"]["totalCount"], 0, "{response}");
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server && s.name.contains("ListCompanies"))
        .unwrap_or_else(|| {
            panic!(
                "no onboarding server span in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    let http = spans
        .iter()
        .find(|s| s.name.contains("/graphql") || s.name.starts_with("POST"))
        .unwrap_or_else(|| {
            panic!(
                "no gateway span in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_ne!(http.span_context.trace_id(), TraceId::INVALID);
    assert_eq!(
        server.span_context.trace_id(),
        http.span_context.trace_id(),
        "gateway and onboarding spans are one trace"
    );
    // The server span continues the gateway's client call, not a new root.
    assert!(
        server.parent_span_is_remote,
        "the server span's parent came over the wire"
    );
    p.stop().await;
}
