#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `init` installs the *global* subscriber, so it gets its own test binary and one test that
//! walks through the cases in order.

use std::time::{Duration, Instant};

use axv_telemetry::{LogFormat, TelemetryConfig, TelemetryError, init_with_config};

fn config(filter: &str, endpoint: Option<&str>) -> TelemetryConfig {
    TelemetryConfig {
        service_name: "init-test".into(),
        log_format: LogFormat::Json,
        log_filter: filter.into(),
        otlp_endpoint: endpoint.map(str::to_owned),
    }
}

#[test]
fn bad_settings_fail_naming_the_variable_and_a_second_init_is_a_no_op() {
    let error = init_with_config(config("info,=[", None)).unwrap_err();
    assert!(error.to_string().contains("RUST_LOG"), "{error}");

    let error = init_with_config(config("info", Some("collector:4317"))).unwrap_err();
    assert!(
        error.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{error}"
    );

    // The exporter's channel needs a runtime; outside one that is an error, not a panic.
    let error = init_with_config(config("info", Some("http://127.0.0.1:4317"))).unwrap_err();
    assert!(matches!(error, TelemetryError::NoRuntime { .. }), "{error}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Nothing listens on port 1: export fails, but neither init nor shutdown hangs.
        let guard = init_with_config(config("info", Some("http://127.0.0.1:1"))).unwrap();
        let again = axv_telemetry::init("init-test").unwrap();
        drop(again);

        let span = tracing::info_span!("exported");
        assert!(
            span.in_scope(axv_telemetry::current_trace_id)
                .is_some_and(|id| id.len() == 32)
        );
        drop(span);

        let started = Instant::now();
        drop(guard);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "shutdown took {:?}",
            started.elapsed()
        );
    });
}
