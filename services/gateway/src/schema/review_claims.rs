//! Picking an item up for review ("I'm reviewing this"), so two managers do not decide the same
//! company, application, pilot or report. A claim is the gateway's own coordination state, not
//! a rule of any service: it lives in the shared key-value store (Redis across replicas) for a
//! working day and then lapses. While one manager holds an item, another manager's decision on
//! it is refused (CONFLICT, `extensions.field = "reviewClaim"`) until they take it over
//! explicitly; firms' own actions are never held up by it.

use std::time::Duration;

use async_graphql::{ComplexObject, Context, ErrorExtensions, ID, Object, Result, SimpleObject};
use axv_platform::{ErrorCode, ids::is_valid_id, kv::SharedKv};

use super::{
    onboarding::{User, user_for, user_name},
    scalars::DateTime,
};
use crate::{context::RequestContext, errors::error};

/// How long a claim lasts without being renewed: a working day.
pub const CLAIM_TTL: Duration = Duration::from_secs(12 * 3600);
/// The most items one worklist page asks about at once.
const MAX_SUBJECTS: usize = 500;

/// The claims, in the key-value store every gateway replica shares.
#[derive(Clone)]
pub struct ReviewClaims {
    kv: SharedKv,
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
struct Held {
    by: String,
    at_ms: i64,
}

/// What a pick-up came to.
enum PickUp {
    Mine(Held),
    HeldBy(Held),
}

fn unavailable(e: impl std::fmt::Display) -> async_graphql::Error {
    tracing::warn!(error = %e, "review claims unavailable");
    error(ErrorCode::Unavailable, "review claims unavailable")
}

impl ReviewClaims {
    pub fn new(kv: SharedKv) -> Self {
        Self { kv }
    }

    fn key(subject: &str) -> String {
        format!("review-claim:{subject}")
    }

    async fn held(&self, subject: &str) -> Result<Option<Held>> {
        Ok(self
            .kv
            .get(&Self::key(subject))
            .await
            .map_err(unavailable)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    async fn pick_up(&self, subject: &str, by: &str, take_over: bool) -> Result<PickUp> {
        let mine = Held {
            by: by.to_owned(),
            at_ms: chrono::Utc::now().timestamp_millis(),
        };
        let bytes = serde_json::to_vec(&mine).unwrap_or_default();
        let key = Self::key(subject);
        // Two tries: a claim that lapses between the two reads is simply free the second time.
        for _ in 0..2 {
            if take_over {
                self.kv
                    .set(&key, &bytes, CLAIM_TTL)
                    .await
                    .map_err(unavailable)?;
                return Ok(PickUp::Mine(mine));
            }
            if self
                .kv
                .set_if_absent(&key, &bytes, CLAIM_TTL)
                .await
                .map_err(unavailable)?
            {
                return Ok(PickUp::Mine(mine));
            }
            match self.held(subject).await? {
                // Picking up one's own item again renews it.
                Some(held) if held.by == by => break,
                Some(held) => return Ok(PickUp::HeldBy(held)),
                None => continue,
            }
        }
        // One's own claim renewed, or a claim that kept lapsing under us: ours now.
        self.kv
            .set(&key, &bytes, CLAIM_TTL)
            .await
            .map_err(unavailable)?;
        Ok(PickUp::Mine(mine))
    }

    /// Lets go of `by`'s claim. Compare-and-delete: a take-over written between the read and
    /// the deletion is another claim, and stays.
    async fn release(&self, subject: &str, by: &str) -> Result<bool> {
        let key = Self::key(subject);
        let Some(bytes) = self.kv.get(&key).await.map_err(unavailable)? else {
            return Ok(false);
        };
        match serde_json::from_slice::<Held>(&bytes) {
            Ok(held) if held.by == by => self.kv.delete_if(&key, &bytes).await.map_err(unavailable),
            _ => Ok(false),
        }
    }
}

/// Who holds an item for review, and since when.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct ReviewClaim {
    /// The company, voucher application, pilot or outcome report.
    pub subject_id: ID,
    /// The manager holding it.
    pub by: ID,
    pub at: DateTime,
}

#[ComplexObject]
impl ReviewClaim {
    /// The manager's name.
    async fn by_name(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        user_name(ctx, &self.by).await
    }

    /// The manager holding it, with name and role.
    async fn by_user(&self, ctx: &Context<'_>) -> Result<User> {
        user_for(ctx, &self.by, "PROGRAM_MANAGER").await
    }
}

impl ReviewClaim {
    fn of(subject: &str, held: Held) -> Self {
        Self {
            subject_id: ID(subject.to_owned()),
            by: ID(held.by),
            at: DateTime::from_millis(held.at_ms),
        }
    }
}

/// The staff caller's id; claims are the programme office's (managers and admins).
fn staff(ctx: &Context<'_>) -> Result<String> {
    let rc = ctx.data::<RequestContext>()?;
    match &rc.caller {
        Some(caller) if caller.is_staff() => Ok(caller.subject.clone()),
        Some(_) => Err(error(
            ErrorCode::Forbidden,
            "only programme managers and admins pick items up for review",
        )),
        None => Err(crate::errors::unauthenticated()),
    }
}

fn claims<'a>(ctx: &'a Context<'_>) -> Result<&'a ReviewClaims> {
    ctx.data::<ReviewClaims>()
}

/// Refuses a staff caller's decision on `subject` while another manager holds it; anyone
/// else (a firm acting on its own item) passes.
pub(super) async fn ensure_not_held_by_another(ctx: &Context<'_>, subject: &str) -> Result<()> {
    let rc = ctx.data::<RequestContext>()?;
    let Some(caller) = rc.caller.as_ref().filter(|c| c.is_staff()) else {
        return Ok(());
    };
    match claims(ctx)?.held(subject).await? {
        Some(held) if held.by != caller.subject => Err(held_by_another(ctx, &held).await),
        _ => Ok(()),
    }
}

/// The refusal naming the manager who holds the item.
async fn held_by_another(ctx: &Context<'_>, held: &Held) -> async_graphql::Error {
    let name = user_name(ctx, &held.by)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| "another manager".to_owned());
    error(
        ErrorCode::Conflict,
        format!("{name} picked this up for review; take it over to decide"),
    )
    .extend_with(|_, extensions| extensions.set("field", "reviewClaim"))
}

/// Runs a decision on `subject`: refused while another manager holds it, and the caller's own
/// claim let go once the decision succeeded.
pub(super) async fn decide<T>(
    ctx: &Context<'_>,
    subject: &str,
    decision: impl Future<Output = Result<T>>,
) -> Result<T> {
    ensure_not_held_by_another(ctx, subject).await?;
    let decided = decision.await?;
    decided_by_caller(ctx, subject).await;
    Ok(decided)
}

/// Lets go of `subject` once the staff caller decided on it: the item has left the queue (or
/// waits on the firm), so nobody is held off it. A claim that cannot be removed is logged, not
/// an error, since the decision itself succeeded; it lapses on its own.
pub(super) async fn decided_by_caller(ctx: &Context<'_>, subject: &str) {
    let Ok(by) = staff(ctx) else {
        return;
    };
    if let Ok(claims) = claims(ctx)
        && let Err(e) = claims.release(subject, &by).await
    {
        tracing::warn!(error = ?e.message, "the review claim was not released");
    }
}

/// Marks `subject` as picked up by the staff caller after an action that starts a review (a
/// company's START_REVIEW); a claim that cannot be written is logged, not an error, since
/// the action itself succeeded.
pub(super) async fn picked_up_by_caller(ctx: &Context<'_>, subject: &str) {
    let Ok(by) = staff(ctx) else {
        return;
    };
    if let Ok(claims) = claims(ctx)
        && let Err(e) = claims.pick_up(subject, &by, true).await
    {
        tracing::warn!(error = ?e.message, "the review claim was not recorded");
    }
}

#[derive(Default)]
pub struct ReviewClaimsQuery;

#[Object]
impl ReviewClaimsQuery {
    /// Managers and admins: who holds which of these items for review (items nobody holds are
    /// absent). At most 500 ids.
    async fn review_claims(
        &self,
        ctx: &Context<'_>,
        subject_ids: Vec<ID>,
    ) -> Result<Vec<ReviewClaim>> {
        staff(ctx)?;
        if subject_ids.len() > MAX_SUBJECTS {
            return Err(error(
                ErrorCode::BadUserInput,
                format!("subjectIds holds at most {MAX_SUBJECTS} ids"),
            ));
        }
        let claims = claims(ctx)?;
        // Looked up side by side: a worklist asks about a few hundred items at once.
        let lookups = subject_ids
            .iter()
            .filter(|id| is_valid_id(id))
            .map(|subject| async move {
                Ok::<_, async_graphql::Error>(
                    claims
                        .held(subject)
                        .await?
                        .map(|claim| ReviewClaim::of(subject, claim)),
                )
            });
        let found = futures::future::try_join_all(lookups).await?;
        Ok(found.into_iter().flatten().collect())
    }
}

#[derive(Default)]
pub struct ReviewClaimsMutation;

#[Object]
impl ReviewClaimsMutation {
    /// Managers and admins: "I'm reviewing this" for a company, voucher application, pilot or
    /// outcome report, for a working day. Held by another manager: CONFLICT naming them, unless
    /// `takeOver` is true, which takes it over. Picking up one's own item again renews it.
    async fn pick_up_for_review(
        &self,
        ctx: &Context<'_>,
        subject_id: ID,
        take_over: Option<bool>,
    ) -> Result<ReviewClaim> {
        let by = staff(ctx)?;
        if !is_valid_id(&subject_id) {
            return Err(error(ErrorCode::NotFound, "no such item"));
        }
        match claims(ctx)?
            .pick_up(&subject_id, &by, take_over.unwrap_or(false))
            .await?
        {
            PickUp::Mine(held) => Ok(ReviewClaim::of(&subject_id, held)),
            PickUp::HeldBy(held) => Err(held_by_another(ctx, &held).await),
        }
    }

    /// Managers and admins: lets go of an item the caller holds; `false` when the caller did
    /// not hold it.
    async fn release_review(&self, ctx: &Context<'_>, subject_id: ID) -> Result<bool> {
        let by = staff(ctx)?;
        claims(ctx)?.release(&subject_id, &by).await
    }
}
