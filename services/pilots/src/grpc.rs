//! The tonic service: protobuf <-> the use cases in `service`, errors -> `Status`.

use axv_auth::caller;
use axv_platform::calendar::today_kst;
use axv_platform::pagination::PageRequest;
use axv_proto::{common::v1 as common, pilots::v1 as pb};
use tonic::{Request, Response, Status};

use crate::{
    domain::{
        ParticipantState, PilotAction, PilotDomain, PilotInput, PilotStatus, View, is_overdue,
        parse_date,
    },
    error::PilotsError,
    service::{Pilots, VisiblePilot},
    store::{PilotCountFilter, PilotFilter},
};

pub struct PilotsGrpc {
    service: Pilots,
}

impl PilotsGrpc {
    pub fn new(service: Pilots) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::pilots_service_server::PilotsServiceServer<Self> {
        pb::pilots_service_server::PilotsServiceServer::new(self)
    }
}

macro_rules! mirror {
    ($to:ident, $from:ident, $domain:ident, $pb:ty { $($variant:ident),+ $(,)? }) => {
        pub fn $to(value: $domain) -> $pb {
            match value { $($domain::$variant => <$pb>::$variant),+ }
        }

        pub fn $from(value: i32) -> Option<$domain> {
            match <$pb>::try_from(value).ok()? {
                $(<$pb>::$variant => Some($domain::$variant),)+
                _ => None,
            }
        }
    };
}

mirror!(
    domain_to_pb,
    domain_from_pb,
    PilotDomain,
    common::PilotDomain {
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
mirror!(
    status_to_pb,
    status_from_pb,
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
mirror!(
    participant_state_to_pb,
    participant_state_from_pb,
    ParticipantState,
    pb::ParticipantState {
        Invited,
        Accepted,
        Declined,
    }
);
mirror!(
    action_to_pb,
    action_from_pb,
    PilotAction,
    pb::PilotAction {
        Submit,
        Approve,
        Reject,
        Start,
        Complete,
        Suspend,
        Resume,
        Cancel,
    }
);

/// Public callers get the registry's fields only.
fn pilot_to_pb(visible: VisiblePilot) -> pb::Pilot {
    let VisiblePilot { pilot: p, view } = visible;
    let full = view == View::Full;
    let today = today_kst();
    let mut out = pb::Pilot {
        id: p.id,
        title: p.draft.title,
        title_en: p.draft.title_en,
        summary: String::new(),
        domain: domain_to_pb(p.draft.domain).into(),
        lead_company_id: p.lead.id,
        lead_company_name_ko: p.lead.name_ko,
        lead_company_sector: common::Sector::value_of(&p.lead.sector),
        lead_company_presence: p.lead.presence,
        participants: Vec::new(),
        site: p.draft.site,
        starts_on: p.draft.starts_on.to_string(),
        ends_on: p.draft.ends_on.to_string(),
        budget_national: 0,
        budget_city: 0,
        budget_private: 0,
        regulatory_sandbox: false,
        sandbox_reference: None,
        milestones: Vec::new(),
        status: status_to_pb(p.status).into(),
        history: Vec::new(),
        full_view: full,
        created_at_ms: p.created_at,
    };
    if full {
        out.summary = p.draft.summary;
        out.budget_national = p.draft.budget_national;
        out.budget_city = p.draft.budget_city;
        out.budget_private = p.draft.budget_private;
        out.regulatory_sandbox = p.draft.regulatory_sandbox;
        out.sandbox_reference = p.draft.sandbox_reference;
        out.participants = p
            .participants
            .into_iter()
            .map(|r| pb::Participant {
                company_id: r.company.id,
                role: r.role,
                name_ko: r.company.name_ko,
                sector: common::Sector::value_of(&r.company.sector),
                presence: r.company.presence,
                state: participant_state_to_pb(r.state).into(),
            })
            .collect();
        out.milestones = p
            .milestones
            .into_iter()
            .map(|m| pb::Milestone {
                overdue: is_overdue(m.due_on, m.completed_at.is_some(), today),
                id: m.id,
                title: m.title,
                due_on: m.due_on.to_string(),
                completed_at_ms: m.completed_at.unwrap_or(0),
                evidence: m.evidence,
            })
            .collect();
        out.history = p
            .history
            .into_iter()
            .map(|h| common::StatusChange {
                from: h.from.unwrap_or_default(),
                to: h.to,
                at_ms: h.at,
                by: h.actor,
                note: h.note,
            })
            .collect();
    }
    out
}

fn input_from_pb(input: Option<pb::PilotInput>) -> Result<PilotInput, PilotsError> {
    let i = input.ok_or_else(|| PilotsError::invalid("input", "is required"))?;
    Ok(PilotInput {
        title: i.title,
        title_en: i.title_en,
        summary: i.summary,
        domain: domain_from_pb(i.domain),
        lead_company_id: i.lead_company_id,
        site: i.site,
        starts_on: i.starts_on,
        ends_on: i.ends_on,
        budget_national: i.budget_national,
        budget_city: i.budget_city,
        budget_private: i.budget_private,
        regulatory_sandbox: i.regulatory_sandbox,
        sandbox_reference: i.sandbox_reference,
    })
}

fn filter_from_pb(f: pb::PilotFilter) -> Result<PilotFilter, PilotsError> {
    let date = |field, value: Option<String>| {
        value
            .filter(|v| !v.is_empty())
            .map(|v| parse_date(field, &v))
            .transpose()
    };
    Ok(PilotFilter {
        domains: f
            .domains
            .into_iter()
            .map(|d| {
                domain_from_pb(d)
                    .ok_or_else(|| PilotsError::invalid("filter.domains", "has an unknown domain"))
            })
            .collect::<Result<_, _>>()?,
        statuses: f
            .statuses
            .into_iter()
            .map(|s| {
                status_from_pb(s)
                    .ok_or_else(|| PilotsError::invalid("filter.statuses", "has an unknown status"))
            })
            .collect::<Result<_, _>>()?,
        company_id: f.company_id.filter(|c| !c.is_empty()),
        site: f.site,
        active_from: date("filter.activeFrom", f.active_from)?,
        active_until: date("filter.activeUntil", f.active_until)?,
        text: f.text,
    })
}

/// A sector as pilots keep the lead company's (its name, MOBILITY...); an unknown one would
/// otherwise count nothing and look like a real zero.
fn lead_sector(value: i32) -> Result<String, PilotsError> {
    common::Sector::name_of(value)
        .map(str::to_owned)
        .ok_or_else(|| PilotsError::invalid("leadSectors", "has an unknown sector"))
}

fn count_filter_from_pb(r: pb::CountPilotsRequest) -> Result<PilotCountFilter, PilotsError> {
    let date = |field, value: Option<String>| {
        value
            .filter(|v| !v.is_empty())
            .map(|v| parse_date(field, &v))
            .transpose()
    };
    Ok(PilotCountFilter {
        lead_sectors: r
            .lead_sectors
            .into_iter()
            .map(lead_sector)
            .collect::<Result<_, _>>()?,
        domains: r
            .domains
            .into_iter()
            .map(|d| {
                domain_from_pb(d)
                    .ok_or_else(|| PilotsError::invalid("domains", "has an unknown domain"))
            })
            .collect::<Result<_, _>>()?,
        active_from: date("activeFrom", r.active_from)?,
        active_until: date("activeUntil", r.active_until)?,
        lead_company_ids: r.lead_company_ids,
    })
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::pilots_service_server::PilotsService for PilotsGrpc {
    async fn register_pilot(
        &self,
        request: Request<pb::RegisterPilotRequest>,
    ) -> Reply<pb::RegisterPilotResponse> {
        let input = input_from_pb(request.get_ref().input.clone())?;
        let pilot = self.service.register(caller(&request), input).await?;
        Ok(Response::new(pb::RegisterPilotResponse {
            pilot: Some(pilot_to_pb(pilot)),
        }))
    }

    async fn update_pilot(
        &self,
        request: Request<pb::UpdatePilotRequest>,
    ) -> Reply<pb::UpdatePilotResponse> {
        let input = input_from_pb(request.get_ref().input.clone())?;
        let pilot = self
            .service
            .update(caller(&request), &request.get_ref().id, input)
            .await?;
        Ok(Response::new(pb::UpdatePilotResponse {
            pilot: Some(pilot_to_pb(pilot)),
        }))
    }

    async fn transition_pilot(
        &self,
        request: Request<pb::TransitionPilotRequest>,
    ) -> Reply<pb::TransitionPilotResponse> {
        let r = request.get_ref();
        let action = action_from_pb(r.action)
            .ok_or_else(|| PilotsError::invalid("action", "must be one of the pilot actions"))?;
        let pilot = self
            .service
            .transition(caller(&request), &r.id, action, r.note.as_deref())
            .await?;
        Ok(Response::new(pb::TransitionPilotResponse {
            pilot: Some(pilot_to_pb(pilot)),
        }))
    }

    async fn get_pilot(
        &self,
        request: Request<pb::GetPilotRequest>,
    ) -> Reply<pb::GetPilotResponse> {
        let pilot = self
            .service
            .get(caller(&request), &request.get_ref().id)
            .await?;
        Ok(Response::new(pb::GetPilotResponse {
            pilot: Some(pilot_to_pb(pilot)),
        }))
    }

    async fn list_pilots(
        &self,
        request: Request<pb::ListPilotsRequest>,
    ) -> Reply<pb::ListPilotsResponse> {
        let r = request.get_ref();
        let filter = filter_from_pb(r.filter.clone().unwrap_or_default())?;
        let page = PageRequest::parse(r.page_size, &r.page_token)
            .map_err(|e| PilotsError::invalid(e.field(), e.to_string()))?;
        let (pilots, total) = self.service.list(caller(&request), filter, &page).await?;
        let (pilots, next_page_token) = page.finish(pilots, |p| &p.pilot.id);
        Ok(Response::new(pb::ListPilotsResponse {
            pilots: pilots.into_iter().map(pilot_to_pb).collect(),
            next_page_token,
            total_count: total,
        }))
    }

    async fn batch_get_pilots(
        &self,
        request: Request<pb::BatchGetPilotsRequest>,
    ) -> Reply<pb::BatchGetPilotsResponse> {
        let pilots = self
            .service
            .batch_get(caller(&request), &request.get_ref().ids)
            .await?;
        Ok(Response::new(pb::BatchGetPilotsResponse {
            pilots: pilots.into_iter().map(pilot_to_pb).collect(),
        }))
    }

    async fn list_company_pilots(
        &self,
        request: Request<pb::ListCompanyPilotsRequest>,
    ) -> Reply<pb::ListCompanyPilotsResponse> {
        let r = request.get_ref();
        let per_company = usize::try_from(r.per_company).unwrap_or(0).max(1);
        let grouped = self
            .service
            .of_companies(caller(&request), &r.company_ids, per_company)
            .await?;
        Ok(Response::new(pb::ListCompanyPilotsResponse {
            companies: grouped
                .into_iter()
                .map(|(company_id, pilots, total)| pb::CompanyPilots {
                    company_id,
                    pilots: pilots.into_iter().map(pilot_to_pb).collect(),
                    total,
                })
                .collect(),
        }))
    }

    async fn add_participant(
        &self,
        request: Request<pb::AddParticipantRequest>,
    ) -> Reply<pb::AddParticipantResponse> {
        let r = request.get_ref();
        let pilot = self
            .service
            .add_participant(caller(&request), &r.pilot_id, &r.company_id, &r.role)
            .await?;
        Ok(Response::new(pb::AddParticipantResponse {
            pilot: Some(pilot_to_pb(pilot)),
        }))
    }

    async fn answer_invitation(
        &self,
        request: Request<pb::AnswerInvitationRequest>,
    ) -> Reply<pb::AnswerInvitationResponse> {
        let r = request.get_ref();
        let pilot = self
            .service
            .answer_invitation(
                caller(&request),
                &r.pilot_id,
                &r.company_id,
                r.accept,
                r.note.as_deref(),
            )
            .await?;
        Ok(Response::new(pb::AnswerInvitationResponse {
            pilot: Some(pilot_to_pb(pilot)),
        }))
    }

    async fn add_milestone(
        &self,
        request: Request<pb::AddMilestoneRequest>,
    ) -> Reply<pb::AddMilestoneResponse> {
        let r = request.get_ref();
        let pilot = self
            .service
            .add_milestone(caller(&request), &r.pilot_id, &r.title, &r.due_on)
            .await?;
        Ok(Response::new(pb::AddMilestoneResponse {
            pilot: Some(pilot_to_pb(pilot)),
        }))
    }

    async fn complete_milestone(
        &self,
        request: Request<pb::CompleteMilestoneRequest>,
    ) -> Reply<pb::CompleteMilestoneResponse> {
        let r = request.get_ref();
        let pilot = self
            .service
            .complete_milestone(
                caller(&request),
                &r.pilot_id,
                &r.milestone_id,
                r.evidence.as_deref(),
            )
            .await?;
        Ok(Response::new(pb::CompleteMilestoneResponse {
            pilot: Some(pilot_to_pb(pilot)),
        }))
    }

    // No caller check: headcounts name no pilot, so anonymous callers are answered too.
    async fn count_pilots(
        &self,
        request: Request<pb::CountPilotsRequest>,
    ) -> Reply<pb::CountPilotsResponse> {
        let who = caller(&request).cloned();
        let filter = count_filter_from_pb(request.into_inner())?;
        let counts = self.service.count(who.as_ref(), &filter).await?;
        Ok(Response::new(pb::CountPilotsResponse {
            pilots: counts.pilots,
            active: counts.active,
        }))
    }
}
