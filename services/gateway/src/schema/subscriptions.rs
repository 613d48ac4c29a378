//! `programEvents`: the programme's events as they happen, each subscriber seeing only what it
//! may (see `crate::events`).

use async_graphql::{Context, ID, Result, SimpleObject, Subscription};
use futures::{Stream, StreamExt};

use super::scalars::DateTime;
use crate::{
    clients::Clients,
    context::RequestContext,
    events::{EventHub, Subscriber},
};

#[derive(SimpleObject, Clone, Debug)]
pub struct ProgramEvent {
    pub id: ID,
    /// `<entity>.<what happened>`, e.g. `voucher.issued`, `report.verified`.
    pub kind: String,
    pub at: DateTime,
    /// The company, voucher, pilot or report the event is about.
    pub subject_id: ID,
}

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Events of the given kinds (exact, or `report.*` for a family; all when omitted).
    /// Managers see every event, firm members their companies' and public ones, dashboards
    /// and anonymous subscribers public ones only.
    async fn program_events(
        &self,
        ctx: &Context<'_>,
        kinds: Option<Vec<String>>,
    ) -> Result<impl Stream<Item = ProgramEvent> + use<>> {
        let hub = ctx.data::<EventHub>()?;
        let clients = ctx.data::<Clients>()?;
        let rc = ctx.data::<RequestContext>()?;
        let subscriber = Subscriber::new(hub, clients, rc, kinds.unwrap_or_default()).await;
        Ok(subscriber.into_stream().map(|event| ProgramEvent {
            id: ID(event.id.clone()),
            kind: event.kind.clone(),
            at: DateTime::from_millis(event.occurred_at_ms),
            subject_id: ID(event.subject_id.clone()),
        }))
    }
}
