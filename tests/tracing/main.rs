//! One request is one trace: the gateway's span and the onboarding RPC's server span share a
//! trace id, carried over gRPC as W3C `traceparent`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use axv_e2e::TestPlatform;
use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value,
    trace::v1::Span,
};
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
    // The server span ends after its answer is sent, so it may finish a moment after the
    // gateway has its answer (other tasks of the platform share this thread).
    let mut spans = Vec::new();
    for _ in 0..40 {
        provider.force_flush().unwrap();
        spans = exporter.get_finished_spans().unwrap();
        if spans
            .iter()
            .any(|s| s.span_kind == SpanKind::Server && s.name.contains("ListCompanies"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
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

/// What a real OTLP/gRPC receiver got: (service.name, span) for every exported span.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<(String, Span)>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                received.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Exported over OTLP to a real receiver, as a collector gets it from `axv up`: a mutation that
/// crosses services (vouchers asks onboarding about the company) is one trace through both
/// hops; each component's spans carry its own `service.name`; and each SQL statement is a span
/// of its component, named by operation and table, carrying no value from the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_per_request_across_services_and_sql_exported_per_component() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let guard = axv_telemetry::init_with_config(axv_telemetry::TelemetryConfig {
        service_name: "axv".into(),
        log_format: axv_telemetry::LogFormat::Pretty,
        // `RUST_LOG` decides what is exported too: the platform's spans are at INFO.
        log_filter: "warn,axv_telemetry=info,axv_gateway=info".into(),
        otlp_endpoint: Some(endpoint),
    })
    .unwrap();

    let p = TestPlatform::start_embedded().await;
    let firm = p.sign_up("trace@vouchers.kr").await;
    let company = p.approved_company(&firm, 7101, "추적기업").await;
    let program = p.open_programme().await;
    let secret = "이 사유는 추적에 남지 않는다";
    let applied = p
        .graphql(
            Some(&firm),
            "mutation($input: VoucherApplicationInput!) { applyForVoucher(input: $input) { id } }",
            json!({ "input": { "programId": program, "companyId": company,
                "requestedAmount": 3_600, "justification": secret } }),
        )
        .await;
    assert!(applied["errors"].is_null(), "{applied}");
    // Shutting telemetry down flushes every component's exporter.
    drop(guard);
    p.stop().await;

    let spans = receiver.0.lock().unwrap().clone();
    server.abort();
    let names: Vec<(&str, &str)> = spans
        .iter()
        .map(|(s, span)| (s.as_str(), span.name.as_str()))
        .collect();
    let find = |service: &str, name: &str| {
        spans
            .iter()
            .find(|(s, span)| s == service && span.name.contains(name))
            .map(|(_, span)| span.clone())
            .unwrap_or_else(|| panic!("no {name:?} span from {service:?} in {names:?}"))
    };
    let apply = find("axv-vouchers", "VouchersService/ApplyForVoucher");
    let trace = apply.trace_id.clone();
    let in_trace = |service: &str, name: &str| {
        spans
            .iter()
            .find(|(s, span)| s == service && span.name.contains(name) && span.trace_id == trace)
            .map(|(_, span)| span.clone())
            .unwrap_or_else(|| panic!("no {name:?} span from {service:?} in the trace: {names:?}"))
    };
    // The request's trace, from the gateway through vouchers to onboarding, with SQL under each.
    in_trace("axv-gateway", "POST /graphql");
    in_trace("axv-onboarding", "OnboardingService/");
    let insert = in_trace("axv-vouchers", "INSERT applications");
    in_trace("axv-onboarding", "SELECT ");
    let attribute = |span: &Span, key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
    };
    assert_eq!(
        attribute(&insert, "db.system.name").as_deref(),
        Some("sqlite")
    );
    assert_eq!(
        attribute(&insert, "db.collection.name").as_deref(),
        Some("applications")
    );
    assert!(insert.start_time_unix_nano <= insert.end_time_unix_nano);
    for (_, span) in &spans {
        for kv in &span.attributes {
            assert!(
                !format!("{:?}", kv.value).contains(secret),
                "{} carries a request value in {}",
                span.name,
                kv.key
            );
        }
    }
    let _ = find("axv-gateway", "graphql");
}
