//! Telemetry for every AX Valley process: the `tracing` subscriber (pretty or JSON logs),
//! OpenTelemetry span export over OTLP/gRPC, W3C trace-context propagation across gRPC and
//! HTTP hops, and Prometheus metrics.
//!
//! Production code calls [`init`] once at start and keeps the [`TelemetryGuard`] alive until
//! exit. Tests that assert on spans call [`init_with_tracer_provider`] with an in-memory
//! exporter; it installs a *thread-default* subscriber so tests in one binary do not fight over
//! the global one.

pub mod components;
mod grpc;
mod http_layer;
pub mod metrics;
pub mod propagation;
pub mod sql_spans;

use std::{io::IsTerminal, str::FromStr, sync::Mutex};

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer as _, Registry,
    filter::{FilterExt as _, LevelFilter, Targets},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

pub use grpc::{
    GrpcClientLayer, GrpcServerLayer, GrpcTelemetryBody, GrpcTelemetryFuture, GrpcTelemetryService,
};
pub use http_layer::http_middleware;

const ENV_LOG_FORMAT: &str = "AXV_LOG_FORMAT";
const ENV_LOG_FILTER: &str = "RUST_LOG";
const ENV_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
const ENV_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const ENV_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// `info`, minus OpenTelemetry's own start-up chatter (its errors and warnings still show).
const DEFAULT_FILTER: &str = "info,opentelemetry=warn";
/// Scope name of the tracer our spans are created with.
const TRACER_NAME: &str = "axv";

/// How log lines are written (to stderr, so CLI commands keep stdout for their output).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when stderr is a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, with the current span's fields (including `trace_id`).
    Json,
}

impl LogFormat {
    /// From `AXV_LOG_FORMAT`: `json` => [`LogFormat::Json`]; unset, empty, `pretty` or `text`
    /// => [`LogFormat::Pretty`]; anything else is an error naming the variable.
    pub fn from_env() -> Result<Self, TelemetryError> {
        match env_var(ENV_LOG_FORMAT)? {
            None => Ok(Self::Pretty),
            Some(value) => value.parse().map_err(|()| TelemetryError::InvalidSetting {
                name: ENV_LOG_FORMAT,
                value,
                reason: "expected `json` or `pretty`".into(),
            }),
        }
    }
}

impl FromStr for LogFormat {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "" | "pretty" | "text" => Ok(Self::Pretty),
            _ => Err(()),
        }
    }
}

/// A setting that cannot be used; the message names the variable so the operator can fix it.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid {name}={value:?}: {reason}")]
    InvalidSetting {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot build the OTLP span exporter for {name}={endpoint:?}: {source}")]
    Exporter {
        name: &'static str,
        endpoint: String,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error(
        "{name} is set but no Tokio runtime is running: call axv_telemetry::init from inside the runtime"
    )]
    NoRuntime { name: &'static str },
}

/// Everything [`init_with_config`] needs; [`TelemetryConfig::from_env`] reads the standard
/// variables, and a CLI can override fields from its flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `service.name` resource attribute of exported spans.
    pub service_name: String,
    pub log_format: LogFormat,
    /// `EnvFilter` directives, e.g. `info,axv_vouchers=debug`.
    pub log_filter: String,
    /// OTLP/gRPC collector address (`http://host:4317`); `None` disables span export.
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// `OTEL_SERVICE_NAME` (else `default_service_name`), `AXV_LOG_FORMAT`, `RUST_LOG` (else
    /// `info,opentelemetry=warn`), and `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn from_env(default_service_name: &str) -> Result<Self, TelemetryError> {
        let otlp_endpoint = match env_var(ENV_OTLP_TRACES_ENDPOINT)? {
            Some(endpoint) => Some(endpoint),
            None => env_var(ENV_OTLP_ENDPOINT)?,
        };
        Ok(Self {
            service_name: env_var(ENV_SERVICE_NAME)?
                .unwrap_or_else(|| default_service_name.to_owned()),
            log_format: LogFormat::from_env()?,
            log_filter: env_var(ENV_LOG_FILTER)?.unwrap_or_else(|| DEFAULT_FILTER.to_owned()),
            otlp_endpoint,
        })
    }
}

/// Keeps span export running; on drop, flushes buffered spans and shuts the tracer provider
/// down. A no-op when export is disabled or telemetry was already initialised.
#[must_use = "dropping the guard shuts span export down"]
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    router: Option<components::ComponentTracer>,
}

impl TelemetryGuard {
    /// A guard that does nothing (export disabled, or `init` already ran).
    pub fn noop() -> Self {
        Self::default()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let mut providers: Vec<SdkTracerProvider> = self
            .router
            .take()
            .map(|router| router.providers())
            .unwrap_or_default();
        providers.extend(self.provider.take());
        if providers.is_empty() {
            return;
        }
        let shutdown = move || {
            providers
                .iter()
                .map(SdkTracerProvider::shutdown)
                .find(Result::is_err)
                .unwrap_or(Ok(()))
        };
        // The OTLP exporter's channel is driven by the Tokio runtime; blocking a multi-thread
        // worker without `block_in_place` could stall the very task that sends the last batch.
        let result = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(shutdown),
            _ => shutdown(),
        };
        if let Err(error) = result {
            tracing::warn!(%error, "OpenTelemetry tracer provider did not shut down cleanly");
        }
    }
}

/// Returned by [`init_with_tracer_provider`]: the subscriber stays the current thread's default
/// until this is dropped, then buffered spans are flushed. The provider is not shut down (the
/// test may still read its exporter; the in-memory exporter forgets its spans on shutdown).
/// Not `Send`: it restores the thread's previous subscriber on drop.
#[must_use = "dropping the guard uninstalls the subscriber"]
pub struct ScopedTelemetryGuard {
    subscriber: Option<tracing::subscriber::DefaultGuard>,
    provider: SdkTracerProvider,
}

impl std::fmt::Debug for ScopedTelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedTelemetryGuard")
            .finish_non_exhaustive()
    }
}

impl Drop for ScopedTelemetryGuard {
    fn drop(&mut self) {
        // Uninstall first so flushing cannot create spans in the subscriber being torn down.
        self.subscriber.take();
        // A failed flush only loses test spans, and the test's own assertion will say so.
        let _ = self.provider.force_flush();
    }
}

/// Serialises `init` calls and remembers whether one succeeded.
static INITIALISED: Mutex<bool> = Mutex::new(false);

/// Installs the global subscriber from the environment (see [`TelemetryConfig::from_env`]):
/// fmt layer (JSON when `AXV_LOG_FORMAT=json`), `EnvFilter` from `RUST_LOG` (default `info`),
/// and an OpenTelemetry layer exporting spans over OTLP/gRPC when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`service.name` = `OTEL_SERVICE_NAME` or
/// `service_name`). Sets the global W3C TraceContext propagator.
///
/// Calling it again returns `Ok` with a no-op guard, as does finding a global subscriber that
/// someone else installed. With export enabled it must run inside a Tokio runtime.
pub fn init(service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    init_with_config(TelemetryConfig::from_env(service_name)?)
}

/// [`init`] with explicit settings (e.g. from CLI flags).
pub fn init_with_config(config: TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    // A poisoned lock only means another init panicked; the flag itself is still meaningful.
    let mut initialised = INITIALISED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if *initialised {
        return Ok(TelemetryGuard::noop());
    }

    // `RUST_LOG` filters logs and exported spans, each layer on its own: a global filter would
    // also hide sqlx's statement events (DEBUG) from the SQL span layer.
    let env_filter = || {
        EnvFilter::builder()
            .parse(&config.log_filter)
            .map_err(|error| TelemetryError::InvalidSetting {
                name: ENV_LOG_FILTER,
                value: config.log_filter.clone(),
                reason: error.to_string(),
            })
    };
    let log_filter = env_filter()?;
    // Without an endpoint spans are still made (and exported nowhere), so every request has a
    // trace id for its logs and error responses, and `traceparent` still crosses services.
    let endpoint = config
        .otlp_endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned);
    let provider = match &endpoint {
        Some(endpoint) => Some(otlp_provider(endpoint, &config.service_name)?.build()),
        None => Some(SdkTracerProvider::builder().build()),
    };
    // Each component's spans under its own `service.name` (see `components`).
    let router = provider.as_ref().map(|provider| {
        components::ComponentTracer::new(
            TRACER_NAME,
            provider,
            Box::new(move |component| {
                let name = format!("axv-{component}");
                match &endpoint {
                    Some(endpoint) => otlp_provider(endpoint, &name).unwrap_or_else(|error| {
                        tracing::warn!(%error, component, "no span export for this component");
                        SdkTracerProvider::builder()
                    }),
                    None => SdkTracerProvider::builder(),
                }
            }),
        )
    });
    set_propagator();

    let ansi = std::io::stderr().is_terminal();
    let logs = match config.log_format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            // The span list carries every enclosing span's fields, so the request span's
            // `trace_id` is on each line even inside nested spans.
            .with_current_span(false)
            .with_span_list(true)
            .boxed(),
    }
    .with_filter(log_filter);
    let otel = match &router {
        Some(router) => Some(
            tracing_opentelemetry::layer()
                .with_tracer(router.clone())
                .with_filter(env_filter()?.and(otel_noise_filter(LevelFilter::TRACE))),
        ),
        None => None,
    };
    let sql = router.as_ref().map(|router| {
        sql_spans::SqlSpanLayer::new(router.clone(), database_system())
            .with_filter(sql_spans::filter())
    });
    let installed = Registry::default()
        .with(logs)
        .with(otel)
        .with(sql)
        .try_init();

    match (installed, provider) {
        (Ok(()), provider) => {
            *initialised = true;
            if let Some(provider) = &provider {
                opentelemetry::global::set_tracer_provider(provider.clone());
            }
            Ok(TelemetryGuard { provider, router })
        }
        // Someone else owns the global subscriber (e.g. a test harness): keep theirs, export
        // nothing of ours.
        (Err(_), Some(provider)) => {
            let _ = provider.shutdown();
            Ok(TelemetryGuard::noop())
        }
        (Err(_), None) => Ok(TelemetryGuard::noop()),
    }
}

/// For tests: makes a subscriber with the OpenTelemetry layer over `provider` the current
/// thread's default (not the global one, so tests in one binary stay independent) and sets the
/// global W3C propagator. Log lines go to the test writer only when `TEST_LOG` is set (filtered
/// by `RUST_LOG`, default `info`). Spans at `INFO` and above are exported.
///
/// Under a multi-thread runtime, spans recorded on other worker threads are not seen; use
/// `#[tokio::test]` (current-thread) for span assertions.
pub fn init_with_tracer_provider(
    provider: SdkTracerProvider,
    service_name: &str,
) -> ScopedTelemetryGuard {
    set_propagator();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service_name.to_owned()))
        .with_filter(otel_noise_filter(LevelFilter::INFO));
    let logs = std::env::var_os("TEST_LOG").map(|_| {
        let directives =
            std::env::var(ENV_LOG_FILTER).unwrap_or_else(|_| DEFAULT_FILTER.to_owned());
        // A bad RUST_LOG in a test run should not hide logs altogether.
        let filter = EnvFilter::builder().parse_lossy(directives);
        tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(filter)
    });
    let sql =
        sql_spans::SqlSpanLayer::new(provider.tracer(service_name.to_owned()), database_system())
            .with_filter(sql_spans::filter());
    let subscriber = Registry::default().with(otel).with(sql).with(logs);
    ScopedTelemetryGuard {
        subscriber: Some(tracing::subscriber::set_default(subscriber)),
        provider,
    }
}

/// Hex trace id (32 lowercase digits) of the current span's OpenTelemetry context, when there
/// is one. Put it in error responses so a report can be matched to its trace.
pub fn current_trace_id() -> Option<String> {
    let from_span = tracing::Span::current().context();
    let span_context = from_span.span().span_context().clone();
    let span_context = if span_context.is_valid() {
        span_context
    } else {
        opentelemetry::Context::current()
            .span()
            .span_context()
            .clone()
    };
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

fn set_propagator() {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
}

/// Keeps the exporter's own transport (tonic, h2, hyper) and OpenTelemetry internals out of
/// the exported spans: exporting them would make every export produce more to export.
/// The database the process's SQL spans are for, by the platform's convention: Postgres when
/// `DATABASE_URL` names it, else the embedded SQLite.
fn database_system() -> &'static str {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => "postgresql",
        _ => "sqlite",
    }
}

fn otel_noise_filter(level: LevelFilter) -> Targets {
    Targets::new().with_default(level).with_targets(
        [
            "h2",
            "hyper",
            "hyper_util",
            "tonic",
            "tower",
            "opentelemetry",
            "opentelemetry_sdk",
            "opentelemetry_otlp",
        ]
        .map(|target| (target, LevelFilter::OFF)),
    )
}

fn otlp_provider(
    endpoint: &str,
    service_name: &str,
) -> Result<opentelemetry_sdk::trace::TracerProviderBuilder, TelemetryError> {
    let name = otlp_endpoint_var();
    validate_endpoint(name, endpoint)?;
    // tonic's lazy channel spawns its connection task onto the current runtime.
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(TelemetryError::NoRuntime { name });
    }
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|source| TelemetryError::Exporter {
            name,
            endpoint: endpoint.to_owned(),
            source,
        })?;
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource))
}

/// The variable the endpoint came from, for error messages.
fn otlp_endpoint_var() -> &'static str {
    if std::env::var_os(ENV_OTLP_TRACES_ENDPOINT).is_some_and(|v| !v.is_empty()) {
        ENV_OTLP_TRACES_ENDPOINT
    } else {
        ENV_OTLP_ENDPOINT
    }
}

fn validate_endpoint(name: &'static str, endpoint: &str) -> Result<(), TelemetryError> {
    let invalid = |reason: &str| TelemetryError::InvalidSetting {
        name,
        value: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        // The workspace builds tonic without TLS; failing here beats silently never exporting.
        Some("https") => {
            return Err(invalid(
                "https is not supported by this build; use a plaintext http:// collector (e.g. a local agent)",
            ));
        }
        _ => {
            return Err(invalid(
                "expected an http:// URL such as http://otel-collector:4317",
            ));
        }
    }
    if uri.authority().is_none() {
        return Err(invalid(
            "missing host, expected e.g. http://otel-collector:4317",
        ));
    }
    Ok(())
}

/// An environment variable, treating unset and empty alike; non-UTF-8 is an error naming it.
fn env_var(name: &'static str) -> Result<Option<String>, TelemetryError> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(value)) => Err(TelemetryError::InvalidSetting {
            name,
            value: value.to_string_lossy().into_owned(),
            reason: "not valid UTF-8".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_parses() {
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!(" JSON ".parse(), Ok(LogFormat::Json));
        assert_eq!("pretty".parse(), Ok(LogFormat::Pretty));
        assert_eq!("".parse(), Ok(LogFormat::Pretty));
        assert_eq!("jsno".parse::<LogFormat>(), Err(()));
    }

    #[test]
    fn endpoint_validation_names_the_variable() {
        assert!(validate_endpoint(ENV_OTLP_ENDPOINT, "http://collector:4317").is_ok());
        for bad in [
            "collector:4317",
            "https://collector:4317",
            "http://",
            "not a url",
        ] {
            let error = validate_endpoint(ENV_OTLP_ENDPOINT, bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(ENV_OTLP_ENDPOINT), "{bad}: {error}");
        }
    }
}
