//! The GraphQL schema: one query and one mutation root merged from each domain's part.

/// One call to a service for a resolver, as the caller (its token, address and trace):
/// `call!(ctx, vouchers.create_program(message))?` is the response message, or the service's
/// refusal as the GraphQL error of the same code. A resolver is then its query and its mapping.
macro_rules! call {
    ($ctx:expr, $service:ident . $method:ident ( $message:expr )) => {{
        let caller = $ctx.data::<$crate::context::RequestContext>()?;
        $ctx.data::<$crate::clients::Clients>()?
            .$service
            .clone()
            .$method($crate::clients::request(caller, $message))
            .await
            .map(tonic::Response::into_inner)
            .map_err($crate::errors::from_status)
    }};
}

pub mod api_clients;
pub mod audit;
pub mod connection;
pub mod documents;
pub mod notifications;
pub mod onboarding;
pub mod outcomes;
pub mod pilots;
pub mod review_claims;
pub mod scalars;
pub mod staff;
pub mod stats;
pub mod subscriptions;
pub mod support;
pub mod usage;
pub mod vouchers;

use async_graphql::{MergedObject, Schema};

#[derive(MergedObject, Default)]
pub struct Query(
    onboarding::OnboardingQuery,
    vouchers::VouchersQuery,
    pilots::PilotsQuery,
    outcomes::OutcomesQuery,
    stats::StatsQuery,
    api_clients::ApiClientsQuery,
    usage::UsageQuery,
    staff::StaffQuery,
    review_claims::ReviewClaimsQuery,
    notifications::NotificationsQuery,
    documents::DocumentsQuery,
    audit::AuditQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    onboarding::OnboardingMutation,
    vouchers::VouchersMutation,
    pilots::PilotsMutation,
    outcomes::OutcomesMutation,
    stats::StatsMutation,
    api_clients::ApiClientsMutation,
    staff::StaffMutation,
    review_claims::ReviewClaimsMutation,
    notifications::NotificationsMutation,
    documents::DocumentsMutation,
);

pub type AppSchema = Schema<Query, Mutation, subscriptions::SubscriptionRoot>;

/// Limits that keep one request, one client or a crowd from costing the services too much,
/// and the gateway's policies towards browsers and persisted queries.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_batch: usize,
    pub introspection: bool,
    pub rate_limits: crate::rate_limit::RateLimits,
    /// Requests served at once; more are refused with 503 at once rather than queued.
    pub max_in_flight: usize,
    /// Browser origins allowed to call the API (CORS); empty allows none.
    pub cors_origins: Vec<String>,
    pub persisted_queries: crate::persisted::Mode,
    /// sha256 -> query, from the persisted query manifest.
    pub persisted_manifest: std::collections::HashMap<String, String>,
    /// The web console's relay key: a request carrying it in `x-axv-console-relay` is the
    /// console calling for a visitor, whose address is its `X-Forwarded-For` (so each visitor
    /// has its own per-address budget, not the console's one address).
    pub console_relay_key: Option<String>,
    /// The largest file a GraphQL multipart upload may carry (the documents service's limit):
    /// larger ones are refused before they fill the gateway's temporary disk.
    pub max_upload_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 5_000,
            max_aliases: 30,
            max_batch: 5,
            introspection: true,
            rate_limits: crate::rate_limit::RateLimits::default(),
            max_in_flight: 1_024,
            cors_origins: Vec::new(),
            persisted_queries: crate::persisted::Mode::default(),
            persisted_manifest: std::collections::HashMap::new(),
            console_relay_key: None,
            max_upload_bytes: 25 * 1024 * 1024,
        }
    }
}

pub fn build(limits: &Limits) -> AppSchema {
    builder(limits).finish()
}

/// The schema `/graphql/ws` runs: subscriptions only, charged and limited as HTTP requests are
/// (see `ws_guard`).
pub fn build_for_websocket(limits: &Limits) -> AppSchema {
    builder(limits)
        .extension(crate::ws_guard::SubscriptionsOnly {
            max_aliases: limits.max_aliases,
        })
        .finish()
}

fn builder(
    limits: &Limits,
) -> async_graphql::SchemaBuilder<Query, Mutation, subscriptions::SubscriptionRoot> {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        subscriptions::SubscriptionRoot,
    )
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_directives(10)
    .extension(crate::rate_limit::CostMeter);
    if !limits.introspection {
        // Suggestions ("did you mean ...?") would leak the schema that introspection hides.
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder
}

/// How deep the standard introspection query nests (`ofType` seven levels down, as GraphiQL
/// and code generators ask), with room to spare; ordinary queries keep `Limits::max_depth`.
const INTROSPECTION_DEPTH: usize = 32;

/// A schema that answers introspection only, with a depth limit the standard introspection
/// query fits in; `None` where introspection is switched off. Requests whose every root field
/// is `__schema`, `__type` or `__typename` run here, so GraphiQL's documentation and code
/// generators work without opening the depth limit to anything else.
pub fn build_introspection(limits: &Limits) -> Option<AppSchema> {
    limits.introspection.then(|| {
        Schema::build(
            Query::default(),
            Mutation::default(),
            subscriptions::SubscriptionRoot,
        )
        .introspection_only()
        .limit_depth(INTROSPECTION_DEPTH)
        .limit_complexity(limits.max_complexity.max(2_000))
        .limit_directives(10)
        .finish()
    })
}

/// The SDL checked in as `schema.graphql`.
pub fn sdl() -> String {
    build(&Limits::default()).sdl()
}
