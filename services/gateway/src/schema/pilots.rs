//! The pilots part of the contract: the pilot (demonstration) project registry, its consortium,
//! milestones and linked vouchers. The pilots service decides who may see and do what; resolvers
//! pass the caller's token and map its answers. Public callers (dashboards, operators,
//! anonymous) get the registry's fields only: the others read empty, and budgets are a
//! FORBIDDEN error on that field alone, so a public query asking only for public fields works.

use async_graphql::{Context, ID, InputObject, Object, Result, dataloader::DataLoader};
use axv_platform::ErrorCode;
use axv_proto::common::v1 as common_pb;
use axv_proto::{onboarding::v1 as onboarding_pb, pilots::v1 as pb};

use super::{
    connection::{PageAsk, check_cursor, connection, page_size, preloaded_page},
    onboarding::{Company, StatusChange, parts},
    outcomes::OutcomeReport,
    scalars::{Date, DateTime, Long},
    support::{date, date_text, internal, mirror_enum},
    vouchers::Voucher,
};
use crate::{
    clients::request,
    errors::{error, from_status},
    loaders::{
        CompanyLoader, CompanyPilotsLoader, PilotLoader, PilotReportsLoader, PilotVouchersKey,
        PilotVouchersLoader,
    },
};

mirror_enum!(
    PilotDomain,
    common_pb::PilotDomain {
        AutonomousDriving,
        Healthcare,
        Energy,
        Traffic,
        PublicSafety,
        AiSemiconductor,
        ManufacturingRobotics,
        CultureContent,
        Data,
        Other,
    }
);
mirror_enum!(
    PilotStatus,
    pb::PilotStatus {
        Draft,
        Submitted,
        Approved,
        Rejected,
        Active,
        Completed,
        Suspended,
        Cancelled,
    }
);
mirror_enum!(
    ParticipantState,
    pb::ParticipantState {
        Invited,
        Accepted,
        Declined,
    }
);

/// A company as the pilot recorded it (its presence as onboarding's enum name without its
/// prefix, e.g. "HEADQUARTERS"): the public fields only, for callers onboarding shows nothing
/// of. Companies take part in pilots only once APPROVED.
fn snapshot_company(id: &str, name_ko: &str, sector: i32, presence: &str) -> Company {
    Company(onboarding_pb::Company {
        id: id.to_owned(),
        name_ko: name_ko.to_owned(),
        sector,
        presence: onboarding_pb::GwangjuPresence::from_str_name(&format!(
            "GWANGJU_PRESENCE_{presence}"
        ))
        .map_or(0, i32::from),
        status: onboarding_pb::CompanyStatus::Approved.into(),
        full_view: false,
        ..onboarding_pb::Company::default()
    })
}

/// The company as onboarding shows it to the caller, else the pilot's snapshot of it.
async fn company_or_snapshot(
    ctx: &Context<'_>,
    id: &str,
    snapshot: impl FnOnce() -> Company,
) -> Result<Company> {
    let found = ctx
        .data::<DataLoader<CompanyLoader>>()?
        .load_one(id.to_owned())
        .await
        .map_err(|e| (*e).clone())?;
    Ok(found.map(Company).unwrap_or_else(snapshot))
}

/// `Voucher.pilot`: `None` for a pilot the caller may not see.
pub(crate) async fn load_pilot(ctx: &Context<'_>, id: &str) -> Result<Option<Pilot>> {
    Ok(ctx
        .data::<DataLoader<PilotLoader>>()?
        .load_one(id.to_owned())
        .await
        .map_err(|e| (*e).clone())?
        .map(Pilot))
}

/// A pilot as the caller may see it; `full_view` is false for the public registry.
#[derive(Clone, Debug)]
pub struct Pilot(pub pb::Pilot);

impl Pilot {
    /// Fields outside the public registry: FORBIDDEN for public callers, on that field only.
    fn full_only(&self, field: &str) -> Result<()> {
        if self.0.full_view {
            Ok(())
        } else {
            Err(error(
                ErrorCode::Forbidden,
                format!("{field} is shown only to the pilot's companies and programme managers"),
            ))
        }
    }
}

#[Object]
impl Pilot {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Files attached to it (plans, agreements) that the caller may read: its companies and
    /// staff; none for others.
    async fn documents(&self, ctx: &Context<'_>) -> Result<Vec<super::documents::Document>> {
        super::documents::documents_of(
            ctx,
            super::documents::DocumentParentKind::Pilot,
            &self.0.id,
            "",
        )
        .await
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn title_en(&self) -> Option<&str> {
        self.0.title_en.as_deref()
    }
    /// Null for callers who see only the public registry.
    async fn summary(&self) -> Option<&str> {
        Some(self.0.summary.as_str()).filter(|s| !s.is_empty())
    }
    async fn domain(&self) -> Result<PilotDomain> {
        PilotDomain::from_pb(self.0.domain).ok_or_else(|| internal("domain"))
    }
    async fn status(&self) -> Result<PilotStatus> {
        PilotStatus::from_pb(self.0.status).ok_or_else(|| internal("status"))
    }
    /// As onboarding shows it to the caller; else the public fields the pilot recorded.
    async fn lead_company(&self, ctx: &Context<'_>) -> Result<Company> {
        let p = &self.0;
        company_or_snapshot(ctx, &p.lead_company_id, || {
            snapshot_company(
                &p.lead_company_id,
                &p.lead_company_name_ko,
                p.lead_company_sector,
                &p.lead_company_presence,
            )
        })
        .await
    }
    /// The consortium, the lead company included (role "lead"), with each partner's answer
    /// to its invitation (only ACCEPTED companies take part); empty for public callers.
    async fn participants(&self) -> Vec<PilotParticipant> {
        self.0
            .participants
            .iter()
            .cloned()
            .map(PilotParticipant)
            .collect()
    }
    /// The site or testbed, e.g. "광주 첨단3지구 자율주행 실증지구".
    async fn site(&self) -> &str {
        &self.0.site
    }
    async fn starts_on(&self) -> Result<Date> {
        date(&self.0.starts_on, "startsOn")
    }
    async fn ends_on(&self) -> Result<Date> {
        date(&self.0.ends_on, "endsOn")
    }
    /// KRW. FORBIDDEN for public callers.
    async fn budget_national(&self) -> Result<Long> {
        self.full_only("budgetNational")?;
        Ok(Long(self.0.budget_national))
    }
    /// KRW. FORBIDDEN for public callers.
    async fn budget_city(&self) -> Result<Long> {
        self.full_only("budgetCity")?;
        Ok(Long(self.0.budget_city))
    }
    /// KRW. FORBIDDEN for public callers.
    async fn budget_private(&self) -> Result<Long> {
        self.full_only("budgetPrivate")?;
        Ok(Long(self.0.budget_private))
    }
    /// Runs under a regulatory sandbox (규제자유특구/샌드박스). FORBIDDEN for public callers.
    async fn regulatory_sandbox(&self) -> Result<bool> {
        self.full_only("regulatorySandbox")?;
        Ok(self.0.regulatory_sandbox)
    }
    /// The sandbox designation, when there is one.
    async fn sandbox_reference(&self) -> Option<&str> {
        self.0.sandbox_reference.as_deref()
    }
    /// By due date; empty for public callers.
    async fn milestones(&self) -> Vec<Milestone> {
        self.0
            .milestones
            .iter()
            .map(|m| Milestone(m.clone(), self.0.id.clone()))
            .collect()
    }
    /// The vouchers the pilot's companies linked to it, as far as the caller may see them (a
    /// firm sees its own companies' only); empty for public callers.
    async fn vouchers(&self, ctx: &Context<'_>) -> Result<Vec<Voucher>> {
        if !self.0.full_view {
            return Ok(Vec::new());
        }
        let mut company_ids: Vec<String> = self
            .0
            .participants
            .iter()
            .map(|p| p.company_id.clone())
            .chain(std::iter::once(self.0.lead_company_id.clone()))
            .collect();
        company_ids.sort();
        company_ids.dedup();
        let key = PilotVouchersKey {
            pilot_id: self.0.id.clone(),
            company_ids,
        };
        Ok(ctx
            .data::<DataLoader<PilotVouchersLoader>>()?
            .load_one(key)
            .await
            .map_err(|e| (*e).clone())?
            .unwrap_or_default()
            .into_iter()
            .map(Voucher)
            .collect())
    }
    /// The pilot's outcome reports the caller may see (current versions); empty for public
    /// callers.
    async fn outcome_reports(&self, ctx: &Context<'_>) -> Result<Vec<OutcomeReport>> {
        if !self.0.full_view {
            return Ok(Vec::new());
        }
        Ok(ctx
            .data::<DataLoader<PilotReportsLoader>>()?
            .load_one(self.0.id.clone())
            .await
            .map_err(|e| (*e).clone())?
            .unwrap_or_default()
            .into_iter()
            .map(OutcomeReport)
            .collect())
    }
    /// Every transition, oldest first; empty for public callers.
    async fn history(&self) -> Vec<StatusChange> {
        self.0.history.iter().map(StatusChange::from_pb).collect()
    }
    async fn created_at(&self) -> DateTime {
        DateTime::from_millis(self.0.created_at_ms)
    }
}

/// A company of the pilot's consortium and its role in it.
#[derive(Clone, Debug)]
pub struct PilotParticipant(pub pb::Participant);

#[Object]
impl PilotParticipant {
    /// As onboarding shows it to the caller; else the public fields recorded when it joined.
    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        let p = &self.0;
        company_or_snapshot(ctx, &p.company_id, || {
            snapshot_company(&p.company_id, &p.name_ko, p.sector, &p.presence)
        })
        .await
    }
    /// lead, partner, hospital, university, public agency...
    async fn role(&self) -> &str {
        &self.0.role
    }
    /// A partner is INVITED until one of its members accepts or declines; the lead is ACCEPTED.
    async fn state(&self) -> Result<ParticipantState> {
        ParticipantState::from_pb(self.0.state).ok_or_else(|| internal("state"))
    }
}

#[derive(Clone, Debug)]
/// A milestone, and its pilot's id (its documents are named with it).
pub struct Milestone(pub pb::Milestone, pub String);

#[Object]
impl Milestone {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Files attached to it that the caller may read (none for dashboards and anonymous
    /// callers), oldest first.
    async fn documents(&self, ctx: &Context<'_>) -> Result<Vec<super::documents::Document>> {
        super::documents::documents_of(
            ctx,
            super::documents::DocumentParentKind::Milestone,
            &self.0.id,
            &self.1,
        )
        .await
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn due_on(&self) -> Result<Date> {
        date(&self.0.due_on, "dueOn")
    }
    /// Null while open.
    async fn completed_at(&self) -> Option<DateTime> {
        (self.0.completed_at_ms != 0).then(|| DateTime::from_millis(self.0.completed_at_ms))
    }
    /// Text or a link given on completion.
    async fn evidence(&self) -> Option<&str> {
        self.0.evidence.as_deref()
    }
    /// Open and past its due date (Asia/Seoul).
    async fn overdue(&self) -> bool {
        self.0.overdue
    }
}

#[derive(InputObject, Debug, Clone)]
pub struct PilotInput {
    pub title: String,
    pub domain: PilotDomain,
    /// One of the caller's APPROVED companies.
    pub lead_company_id: ID,
    pub site: String,
    pub starts_on: Date,
    /// After `startsOn`.
    pub ends_on: Date,
    /// KRW, not negative.
    pub budget_national: Long,
    pub budget_city: Long,
    pub budget_private: Long,
    pub regulatory_sandbox: bool,
    pub title_en: Option<String>,
    pub summary: Option<String>,
    pub sandbox_reference: Option<String>,
}

impl From<PilotInput> for pb::PilotInput {
    fn from(input: PilotInput) -> Self {
        pb::PilotInput {
            title: input.title,
            title_en: input.title_en,
            summary: input.summary.unwrap_or_default(),
            domain: common_pb::PilotDomain::from(input.domain).into(),
            lead_company_id: input.lead_company_id.0,
            site: input.site,
            starts_on: date_text(input.starts_on),
            ends_on: date_text(input.ends_on),
            budget_national: input.budget_national.0,
            budget_city: input.budget_city.0,
            budget_private: input.budget_private.0,
            regulatory_sandbox: input.regulatory_sandbox,
            sandbox_reference: input.sandbox_reference,
        }
    }
}

#[derive(InputObject, Debug, Clone)]
pub struct MilestoneInput {
    pub title: String,
    pub due_on: Date,
}

#[derive(InputObject, Debug, Clone, Default)]
pub struct PilotFilter {
    pub domains: Option<Vec<PilotDomain>>,
    pub statuses: Option<Vec<PilotStatus>>,
    /// Pilots this company leads or takes part in.
    pub company_id: Option<ID>,
    /// Case-insensitive text in the site.
    pub site: Option<String>,
    /// Pilots whose period overlaps [activeFrom, activeUntil] (either optional).
    pub active_from: Option<Date>,
    pub active_until: Option<Date>,
    /// Case-insensitive text in the title (Korean or English).
    pub text: Option<String>,
}

impl From<PilotFilter> for pb::PilotFilter {
    fn from(filter: PilotFilter) -> Self {
        pb::PilotFilter {
            domains: filter
                .domains
                .unwrap_or_default()
                .into_iter()
                .map(|d| common_pb::PilotDomain::from(d).into())
                .collect(),
            statuses: filter
                .statuses
                .unwrap_or_default()
                .into_iter()
                .map(|s| pb::PilotStatus::from(s).into())
                .collect(),
            company_id: filter.company_id.map(|id| id.0),
            site: filter.site,
            active_from: filter.active_from.map(date_text),
            active_until: filter.active_until.map(date_text),
            text: filter.text,
        }
    }
}

connection!(PilotConnection, PilotEdge, Pilot);

async fn list_pilots(
    ctx: &Context<'_>,
    filter: pb::PilotFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PilotConnection> {
    let (clients, rc) = parts(ctx)?;
    let size = page_size(first)?;
    check_cursor(after.as_deref())?;
    let question = pb::ListPilotsRequest {
        filter: Some(filter),
        page_size: size,
        page_token: after.unwrap_or_default(),
    };
    let load = async {
        clients
            .pilots
            .clone()
            .list_pilots(request(&rc, question.clone()))
            .await
            .map(tonic::Response::into_inner)
    };
    // The public registry is the same for every anonymous caller and dashboard, and polled.
    let response = if crate::cache::is_public(rc.caller.as_ref()) {
        ctx.data::<crate::cache::ResponseCache>()?
            .get_or_load("public_pilots", rc.caller.as_ref(), &question, load)
            .await
    } else {
        load.await
    }
    .map_err(from_status)?;
    let nodes = response
        .pilots
        .into_iter()
        .map(|p| (p.id.clone(), Pilot(p)))
        .collect();
    Ok(PilotConnection::from_page(
        nodes,
        response.next_page_token,
        response.total_count,
    ))
}

/// `Company.pilots`: pages within the company's first pilots loaded for the whole level in one
/// call; only a page reaching past them asks the service for that company alone.
pub(crate) async fn company_pilots(
    ctx: &Context<'_>,
    company_id: &str,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PilotConnection> {
    let ask = PageAsk::parse(first, after.as_deref())?;
    let loaded = ctx
        .data::<DataLoader<CompanyPilotsLoader>>()?
        .load_one(company_id.to_owned())
        .await
        .map_err(|e| (*e).clone())?
        .unwrap_or_default();
    match preloaded_page(loaded.pilots, loaded.total, |p| &p.id, &ask) {
        Some(page) => Ok(page.connection(Pilot, PilotConnection::from_page)),
        None => {
            let filter = pb::PilotFilter {
                company_id: Some(company_id.to_owned()),
                ..pb::PilotFilter::default()
            };
            list_pilots(ctx, filter, first, after).await
        }
    }
}

fn pilot_of(pilot: Option<pb::Pilot>) -> Result<Pilot> {
    pilot.map(Pilot).ok_or_else(|| internal("missing pilot"))
}

#[derive(Default)]
pub struct PilotsQuery;

#[Object]
impl PilotsQuery {
    /// NOT_FOUND for a pilot the caller may not see.
    async fn pilot(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Pilot>> {
        let response = call!(ctx, pilots.get_pilot(pb::GetPilotRequest { id: id.0 }))?;
        Ok(response.pilot.map(Pilot))
    }

    /// Firms see the pilots their companies lead or take part in; managers and admins every
    /// one; everyone else the public registry (approved, active, suspended and completed
    /// pilots, public fields only).
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn pilots(
        &self,
        ctx: &Context<'_>,
        filter: Option<PilotFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PilotConnection> {
        list_pilots(ctx, filter.unwrap_or_default().into(), first, after).await
    }
}

#[derive(Default)]
pub struct PilotsMutation;

impl PilotsMutation {
    async fn transition(
        ctx: &Context<'_>,
        id: ID,
        action: pb::PilotAction,
        note: Option<String>,
    ) -> Result<Pilot> {
        let request = pb::TransitionPilotRequest {
            id: id.0.clone(),
            action: action.into(),
            note,
        };
        let response = super::review_claims::decide(ctx, &id, async {
            call!(ctx, pilots.transition_pilot(request))
        })
        .await?;
        pilot_of(response.pilot)
    }

    async fn answer_invitation(
        ctx: &Context<'_>,
        pilot_id: ID,
        company_id: ID,
        accept: bool,
        note: Option<String>,
    ) -> Result<Pilot> {
        let response = call!(
            ctx,
            pilots.answer_invitation(pb::AnswerInvitationRequest {
                pilot_id: pilot_id.0,
                company_id: company_id.0,
                accept,
                note,
            })
        )?;
        pilot_of(response.pilot)
    }
}

#[Object]
impl PilotsMutation {
    /// A firm for one of its APPROVED companies (or a manager); the pilot starts as DRAFT.
    async fn register_pilot(&self, ctx: &Context<'_>, input: PilotInput) -> Result<Pilot> {
        let response = call!(
            ctx,
            pilots.register_pilot(pb::RegisterPilotRequest {
                input: Some(input.into()),
            })
        )?;
        pilot_of(response.pilot)
    }

    /// The lead company edits its DRAFT pilot. The lead company cannot change: `input.leadCompanyId`
    /// must be the pilot's own.
    async fn update_pilot(&self, ctx: &Context<'_>, id: ID, input: PilotInput) -> Result<Pilot> {
        let response = call!(
            ctx,
            pilots.update_pilot(pb::UpdatePilotRequest {
                id: id.0,
                input: Some(input.into()),
            })
        )?;
        pilot_of(response.pilot)
    }

    /// The lead company: DRAFT -> SUBMITTED.
    async fn submit_pilot(&self, ctx: &Context<'_>, id: ID) -> Result<Pilot> {
        Self::transition(ctx, id, pb::PilotAction::Submit, None).await
    }

    /// Managers: SUBMITTED -> APPROVED.
    async fn approve_pilot(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: Option<String>,
    ) -> Result<Pilot> {
        Self::transition(ctx, id, pb::PilotAction::Approve, note).await
    }

    /// Managers: SUBMITTED -> REJECTED.
    async fn reject_pilot(&self, ctx: &Context<'_>, id: ID, note: String) -> Result<Pilot> {
        Self::transition(ctx, id, pb::PilotAction::Reject, Some(note)).await
    }

    /// The lead company: APPROVED -> ACTIVE.
    async fn start_pilot(&self, ctx: &Context<'_>, id: ID) -> Result<Pilot> {
        Self::transition(ctx, id, pb::PilotAction::Start, None).await
    }

    /// Managers: ACTIVE -> COMPLETED. With milestones still open the note must say why
    /// (FAILED_PRECONDITION without one).
    async fn complete_pilot(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: Option<String>,
    ) -> Result<Pilot> {
        Self::transition(ctx, id, pb::PilotAction::Complete, note).await
    }

    /// Managers: ACTIVE -> SUSPENDED.
    async fn suspend_pilot(&self, ctx: &Context<'_>, id: ID, note: String) -> Result<Pilot> {
        Self::transition(ctx, id, pb::PilotAction::Suspend, Some(note)).await
    }

    /// Managers: SUSPENDED -> ACTIVE.
    async fn resume_pilot(&self, ctx: &Context<'_>, id: ID, note: Option<String>) -> Result<Pilot> {
        Self::transition(ctx, id, pb::PilotAction::Resume, note).await
    }

    /// Managers: any pilot not yet over -> CANCELLED.
    async fn cancel_pilot(&self, ctx: &Context<'_>, id: ID, note: String) -> Result<Pilot> {
        Self::transition(ctx, id, pb::PilotAction::Cancel, Some(note)).await
    }

    /// The lead company or a manager, while the pilot is not over; the company must be
    /// APPROVED. `role` is free text (partner, hospital, university...), not "lead". The
    /// company is INVITED: it takes part once one of its members calls
    /// `acceptPilotInvitation`. A company that declined may be invited again.
    async fn add_pilot_participant(
        &self,
        ctx: &Context<'_>,
        pilot_id: ID,
        company_id: ID,
        role: String,
    ) -> Result<Pilot> {
        let response = call!(
            ctx,
            pilots.add_participant(pb::AddParticipantRequest {
                pilot_id: pilot_id.0,
                company_id: company_id.0,
                role,
            })
        )?;
        pilot_of(response.pilot)
    }

    /// A member of the invited company, while the pilot is not over and the company is
    /// APPROVED: the company takes part from now on. NOT_FOUND for anyone else.
    async fn accept_pilot_invitation(
        &self,
        ctx: &Context<'_>,
        pilot_id: ID,
        company_id: ID,
    ) -> Result<Pilot> {
        Self::answer_invitation(ctx, pilot_id, company_id, true, None).await
    }

    /// A member of the invited company, while the pilot is not over; `note` tells the lead
    /// company why. NOT_FOUND for anyone else.
    async fn decline_pilot_invitation(
        &self,
        ctx: &Context<'_>,
        pilot_id: ID,
        company_id: ID,
        note: Option<String>,
    ) -> Result<Pilot> {
        Self::answer_invitation(ctx, pilot_id, company_id, false, note).await
    }

    /// The lead company or a manager, while the pilot is not over.
    async fn add_milestone(
        &self,
        ctx: &Context<'_>,
        pilot_id: ID,
        input: MilestoneInput,
    ) -> Result<Pilot> {
        let response = call!(
            ctx,
            pilots.add_milestone(pb::AddMilestoneRequest {
                pilot_id: pilot_id.0,
                title: input.title,
                due_on: date_text(input.due_on),
            })
        )?;
        pilot_of(response.pilot)
    }

    /// The lead company or a manager; `evidence` is text or a link.
    async fn complete_milestone(
        &self,
        ctx: &Context<'_>,
        pilot_id: ID,
        milestone_id: ID,
        evidence: Option<String>,
    ) -> Result<Pilot> {
        let response = call!(
            ctx,
            pilots.complete_milestone(pb::CompleteMilestoneRequest {
                pilot_id: pilot_id.0,
                milestone_id: milestone_id.0,
                evidence,
            })
        )?;
        pilot_of(response.pilot)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn snapshots_map_onboarding_names() {
        let company = snapshot_company(
            "c1",
            "광주모빌리티",
            common_pb::Sector::Mobility.into(),
            "HEADQUARTERS",
        );
        assert_eq!(company.0.sector, i32::from(common_pb::Sector::Mobility));
        assert_eq!(
            company.0.presence,
            i32::from(onboarding_pb::GwangjuPresence::Headquarters)
        );
        assert_eq!(
            company.0.status,
            i32::from(onboarding_pb::CompanyStatus::Approved)
        );
        assert!(!company.0.full_view);
        let research = snapshot_company("c2", "연구소", 0, "RESEARCH_LAB");
        assert_eq!(
            research.0.presence,
            i32::from(onboarding_pb::GwangjuPresence::ResearchLab)
        );
        assert_eq!(research.0.sector, 0, "an unknown sector stays unset");
    }

    #[test]
    fn public_pilots_refuse_budgets_only() {
        let public = Pilot(pb::Pilot {
            full_view: false,
            ..pb::Pilot::default()
        });
        assert!(public.full_only("budgetNational").is_err());
        let full = Pilot(pb::Pilot {
            full_view: true,
            ..pb::Pilot::default()
        });
        assert!(full.full_only("budgetNational").is_ok());
    }
}
