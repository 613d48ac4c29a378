//! A span per SQL statement. sqlx creates no spans of its own: it logs one event (target
//! `sqlx::query`) as each statement finishes, with its text and how long it took. This layer
//! turns that event into an OpenTelemetry client span under the span the statement ran in,
//! named `<OPERATION> <table>` with the semantic-convention attributes. Bound values never
//! appear (sqlx does not log them) and neither does the statement's text: the operation and
//! table say what a trace reader needs without copying queries into the trace store.

use std::time::{Duration, SystemTime};

use opentelemetry::{
    Context, KeyValue,
    trace::{SpanContext, SpanKind, TraceContextExt, TraceFlags, TraceState, Tracer},
};
use tracing::{Event, Subscriber, field::Field};
use tracing_opentelemetry::OtelData;
use tracing_subscriber::{Layer, layer::Context as LayerContext, registry::LookupSpan};

/// The target sqlx logs each finished statement under.
pub const SQLX_TARGET: &str = "sqlx::query";

/// What the layer must see: sqlx's statement events, and the spans they run in (a layer sees
/// only the spans its own filter lets through, so without them no statement has a parent).
pub fn filter() -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(|meta| {
        if meta.is_event() {
            meta.target() == SQLX_TARGET
        } else {
            *meta.level() <= tracing::Level::INFO
        }
    })
}

/// See the module documentation. Give it the same tracer as the OpenTelemetry layer.
pub struct SqlSpanLayer<T> {
    tracer: T,
    /// `db.system.name`: `postgresql` or `sqlite`, as the process is configured.
    system: &'static str,
}

impl<T> SqlSpanLayer<T> {
    pub fn new(tracer: T, system: &'static str) -> Self {
        Self { tracer, system }
    }
}

/// What a statement does and to which table, from its text: `("SELECT", Some("vouchers"))`.
pub fn statement_name(sql: &str) -> (String, Option<String>) {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    let operation = words
        .first()
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_else(|| "SQL".to_owned());
    let after = |keyword: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(keyword))
            .and_then(|i| words.get(i + 1))
    };
    let table = match operation.as_str() {
        "INSERT" => after("INTO"),
        "UPDATE" => words.get(1),
        "DELETE" | "SELECT" | "WITH" => after("FROM"),
        _ => None,
    }
    .map(|t| t.trim_matches('"').to_owned())
    .filter(|t| {
        t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    });
    (operation, table)
}

#[derive(Default)]
struct StatementFields {
    summary: String,
    statement: String,
    elapsed_secs: f64,
}

impl tracing::field::Visit for StatementFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.statement = value.to_owned(),
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S, T> Layer<S> for SqlSpanLayer<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        if event.metadata().target() != SQLX_TARGET {
            return;
        }
        // Statements outside any traced work (the outbox relay's polling) would each be a trace
        // of their own: they are left out.
        let Some(parent) = ctx.event_span(event) else {
            return;
        };
        let parent_context = {
            let extensions = parent.extensions();
            let Some(otel) = extensions.get::<OtelData>() else {
                return;
            };
            let (Some(trace_id), Some(span_id)) = (otel.trace_id(), otel.span_id()) else {
                return;
            };
            SpanContext::new(
                trace_id,
                span_id,
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            )
        };
        let mut fields = StatementFields::default();
        event.record(&mut fields);
        // sqlx gives the whole text only when it is longer than its one-line summary.
        let text = if fields.statement.trim().is_empty() {
            fields.summary.as_str()
        } else {
            fields.statement.as_str()
        };
        let (operation, table) = statement_name(text);
        let ended = SystemTime::now();
        let started = Duration::try_from_secs_f64(fields.elapsed_secs)
            .ok()
            .and_then(|elapsed| ended.checked_sub(elapsed))
            .unwrap_or(ended);
        let name = match &table {
            Some(table) => format!("{operation} {table}"),
            None => operation.clone(),
        };
        let mut attributes = vec![
            KeyValue::new("db.system.name", self.system),
            KeyValue::new("db.operation.name", operation),
        ];
        if let Some(table) = table {
            attributes.push(KeyValue::new("db.collection.name", table));
        }
        let parent = Context::new().with_remote_span_context(parent_context);
        let mut span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(started)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        opentelemetry::trace::Span::end_with_timestamp(&mut span, ended);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_named_by_operation_and_table_only() {
        let cases = [
            (
                "SELECT id, code FROM vouchers WHERE id IN ($1, $2)",
                "SELECT",
                Some("vouchers"),
            ),
            (
                "INSERT INTO ledger_transfers (id, kind) VALUES ($1, $2)",
                "INSERT",
                Some("ledger_transfers"),
            ),
            (
                "UPDATE vouchers SET status = $1 WHERE id = $2",
                "UPDATE",
                Some("vouchers"),
            ),
            ("delete from outbox where id = $1", "DELETE", Some("outbox")),
            (
                "SELECT CAST(SUM(balance) AS BIGINT) FROM ledger_accounts",
                "SELECT",
                Some("ledger_accounts"),
            ),
            ("BEGIN", "BEGIN", None),
            ("", "SQL", None),
        ];
        for (sql, operation, table) in cases {
            let (op, t) = statement_name(sql);
            assert_eq!((op.as_str(), t.as_deref()), (operation, table), "{sql}");
        }
    }
}
