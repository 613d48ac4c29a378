//! Process-wide Prometheus metrics in one registry, served as text by whoever exposes
//! `/metrics` (see [`render`]).

use std::sync::OnceLock;

use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

const GRPC_LABELS: &[&str] = &["grpc_service", "grpc_method", "grpc_code"];
const HTTP_LABELS: &[&str] = &["route", "method", "status"];

/// Process-wide metrics. `grpc_code` label values are the canonical gRPC code names as
/// Prometheus exporters elsewhere spell them (`OK`, `Canceled`, `NotFound`, `Internal`, ...).
#[derive(Debug)]
pub struct Metrics {
    pub registry: Registry,
    /// `grpc_server_handled_total{grpc_service,grpc_method,grpc_code}`
    pub grpc_server_handled: IntCounterVec,
    /// `grpc_server_handling_seconds{grpc_service,grpc_method,grpc_code}`
    pub grpc_server_duration: HistogramVec,
    /// `grpc_client_handled_total{grpc_service,grpc_method,grpc_code}`
    pub grpc_client_handled: IntCounterVec,
    /// `grpc_client_handling_seconds{grpc_service,grpc_method,grpc_code}`
    pub grpc_client_duration: HistogramVec,
    /// `http_requests_total{route,method,status}`
    pub http_requests: IntCounterVec,
    /// `http_request_duration_seconds{route,method,status}`
    pub http_duration: HistogramVec,
    /// `cache_requests_total{cache,result}`, result `hit` or `miss`.
    pub cache_requests: IntCounterVec,
    /// `graphql_operation_duration_seconds{operation,type,outcome}`; `outcome` is `ok` or
    /// `error` (any error in the response).
    pub graphql_duration: HistogramVec,
    /// `events_dead_lettered_total{group}`: events a consumer group gave up on after every
    /// attempt, parked for an operator (alert on any).
    pub events_dead_lettered: IntCounterVec,
    /// `events_trimmed_unread_total`: events dropped from the bus before some consumer group
    /// handled them (only past the stream's hard cap; alert on any).
    pub events_trimmed_unread: prometheus::IntCounter,
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let grpc_server_handled = counter(
            &registry,
            "grpc_server_handled_total",
            "RPCs completed on the server, by gRPC status code.",
            GRPC_LABELS,
        );
        let grpc_server_duration = histogram(
            &registry,
            "grpc_server_handling_seconds",
            "Time from receiving an RPC to sending its status, in seconds.",
            GRPC_LABELS,
        );
        let grpc_client_handled = counter(
            &registry,
            "grpc_client_handled_total",
            "RPCs completed by clients, by gRPC status code.",
            GRPC_LABELS,
        );
        let grpc_client_duration = histogram(
            &registry,
            "grpc_client_handling_seconds",
            "Time from sending an RPC to receiving its status, in seconds.",
            GRPC_LABELS,
        );
        let http_requests = counter(
            &registry,
            "http_requests_total",
            "HTTP requests served.",
            HTTP_LABELS,
        );
        let http_duration = histogram(
            &registry,
            "http_request_duration_seconds",
            "Time to produce the HTTP response head, in seconds.",
            HTTP_LABELS,
        );
        let cache_requests = counter(
            &registry,
            "cache_requests_total",
            "Cache lookups, by cache and result (hit or miss).",
            &["cache", "result"],
        );
        let graphql_duration = histogram(
            &registry,
            "graphql_operation_duration_seconds",
            "Time to execute one GraphQL operation, by operation name, type and outcome.",
            &["operation", "type", "outcome"],
        );
        let events_dead_lettered = counter(
            &registry,
            "events_dead_lettered_total",
            "Events a consumer group parked as dead after every attempt failed.",
            &["group"],
        );
        let events_trimmed_unread = counter(
            &registry,
            "events_trimmed_unread_total",
            "Events dropped from the bus before every consumer group had handled them.",
            &[],
        )
        .with_label_values(&[] as &[&str]);
        Self {
            registry,
            events_dead_lettered,
            events_trimmed_unread,
            cache_requests,
            graphql_duration,
            grpc_server_handled,
            grpc_server_duration,
            grpc_client_handled,
            grpc_client_duration,
            http_requests,
            http_duration,
        }
    }
}

impl Metrics {
    pub fn cache_hit(&self, cache: &str) {
        self.cache_requests.with_label_values(&[cache, "hit"]).inc();
    }

    pub fn cache_miss(&self, cache: &str) {
        self.cache_requests
            .with_label_values(&[cache, "miss"])
            .inc();
    }
}

// Names, help texts and labels are constants of this module and each is registered once, so
// failure here is a programming error caught by the tests, not a runtime condition.
#[allow(clippy::expect_used, reason = "static metric definitions")]
fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter definition");
    registry
        .register(Box::new(vec.clone()))
        .expect("counter registered once");
    vec
}

#[allow(clippy::expect_used, reason = "static metric definitions")]
fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let vec = HistogramVec::new(HistogramOpts::new(name, help), labels)
        .expect("valid histogram definition");
    registry
        .register(Box::new(vec.clone()))
        .expect("histogram registered once");
    vec
}

/// The process-wide metrics, created on first use.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The registry in the Prometheus text exposition format (content type
/// [`CONTENT_TYPE`]).
pub fn render() -> String {
    let families = global().registry.gather();
    let mut buffer = Vec::new();
    // Encoding into memory only fails on malformed families, which `Registry` never yields;
    // a scrape then gets a comment rather than a crashed server.
    if let Err(error) = TextEncoder::new().encode(&families, &mut buffer) {
        return format!("# error encoding metrics: {error}\n");
    }
    String::from_utf8(buffer).unwrap_or_else(|error| format!("# error encoding metrics: {error}\n"))
}

/// `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Registers another collector (e.g. ledger transfer counters) in the same registry, so one
/// `/metrics` shows everything. Fails if a metric of the same name is already registered.
pub fn register(collector: Box<dyn prometheus::core::Collector>) -> Result<(), prometheus::Error> {
    global().registry.register(collector)
}
