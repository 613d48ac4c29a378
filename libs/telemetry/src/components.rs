//! One `service.name` per component, also when `axv up` runs them all in one process. A
//! resource (and so `service.name`) belongs to a tracer provider, so each component gets its
//! own provider, and [`ComponentTracer`] sends each span to the right one: a gRPC server span
//! to the component its `rpc.service` names (`axv.vouchers.v1.VouchersService` -> vouchers),
//! an HTTP server span (it has `http.route`) to the gateway, every other span to its parent's
//! component, and spans with none of these (background work) to the process's own name.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use opentelemetry::{
    Context,
    trace::{SpanBuilder, SpanId, SpanKind, TraceContextExt, Tracer, TracerProvider as _},
};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SdkTracer, SdkTracerProvider, SpanData, SpanProcessor, TracerProviderBuilder},
};

/// Starts the provider of one component (`service.name` = `axv-<component>`).
pub type ProviderFactory = Box<dyn Fn(&str) -> TracerProviderBuilder + Send + Sync>;

/// Which component owns each span still open, so its children follow it. Entries go when the
/// span ends (see [`ForgetEndedSpans`]); a cap keeps a leak from growing without bound.
type Owners = Arc<Mutex<HashMap<SpanId, Arc<str>>>>;
const MAX_OPEN_SPANS: usize = 100_000;

/// Each component's provider and its tracer, made on the component's first span.
type Providers = HashMap<Arc<str>, (SdkTracerProvider, SdkTracer)>;

#[derive(Clone)]
pub struct ComponentTracer {
    tracer_name: &'static str,
    default: SdkTracer,
    make: Arc<ProviderFactory>,
    providers: Arc<Mutex<Providers>>,
    owners: Owners,
}

impl std::fmt::Debug for ComponentTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentTracer").finish_non_exhaustive()
    }
}

impl ComponentTracer {
    pub fn new(
        tracer_name: &'static str,
        default: &SdkTracerProvider,
        make: ProviderFactory,
    ) -> Self {
        Self {
            tracer_name,
            default: default.tracer(tracer_name),
            make: Arc::new(make),
            providers: Arc::default(),
            owners: Arc::default(),
        }
    }

    /// Every provider made so far, to flush and shut down with the process.
    pub fn providers(&self) -> Vec<SdkTracerProvider> {
        self.providers
            .lock()
            .map(|p| p.values().map(|(provider, _)| provider.clone()).collect())
            .unwrap_or_default()
    }

    fn tracer_of(&self, component: &Arc<str>) -> SdkTracer {
        let Ok(mut providers) = self.providers.lock() else {
            return self.default.clone();
        };
        providers
            .entry(component.clone())
            .or_insert_with(|| {
                let provider = (self.make)(component)
                    .with_span_processor(ForgetEndedSpans(self.owners.clone()))
                    .build();
                let tracer = provider.tracer(self.tracer_name);
                (provider, tracer)
            })
            .1
            .clone()
    }

    fn owner(&self, builder: &SpanBuilder, parent: &Context) -> Option<Arc<str>> {
        if builder.span_kind == Some(SpanKind::Server) {
            let attributes = builder.attributes.iter().flatten();
            for kv in attributes {
                match kv.key.as_str() {
                    "rpc.service" => {
                        if let Some(component) = component_of_service(&kv.value.as_str()) {
                            return Some(component.into());
                        }
                    }
                    "http.route" => return Some(Arc::from("gateway")),
                    _ => {}
                }
            }
        }
        let parent = parent.span().span_context().span_id();
        self.owners.lock().ok()?.get(&parent).cloned()
    }
}

/// `axv.vouchers.v1.VouchersService` -> `vouchers`.
pub fn component_of_service(service: &str) -> Option<&str> {
    let mut parts = service.split('.');
    match (parts.next(), parts.next()) {
        (Some("axv"), Some(component)) if !component.is_empty() => Some(component),
        _ => None,
    }
}

impl Tracer for ComponentTracer {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        let Some(component) = self.owner(&builder, parent_cx) else {
            return self.default.build_with_context(builder, parent_cx);
        };
        let span = self
            .tracer_of(&component)
            .build_with_context(builder, parent_cx);
        if let Ok(mut owners) = self.owners.lock() {
            if owners.len() >= MAX_OPEN_SPANS {
                owners.clear();
            }
            use opentelemetry::trace::Span as _;
            owners.insert(span.span_context().span_id(), component);
        }
        span
    }
}

/// Drops an ended span from the owners map.
#[derive(Debug)]
struct ForgetEndedSpans(Owners);

impl SpanProcessor for ForgetEndedSpans {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &Context) {}

    fn on_end(&self, span: SpanData) {
        if let Ok(mut owners) = self.0.lock() {
            owners.remove(&span.span_context.span_id());
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_come_from_the_platform_s_service_names() {
        assert_eq!(
            component_of_service("axv.vouchers.v1.VouchersService"),
            Some("vouchers")
        );
        assert_eq!(component_of_service("grpc.health.v1.Health"), None);
        assert_eq!(component_of_service("axv"), None);
    }
}
