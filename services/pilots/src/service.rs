//! The pilot registry's use cases: who may register, move and read pilots, what onboarding
//! says about the companies involved, and the store doing it.

use std::{collections::HashMap, sync::Arc};

use axv_auth::{Caller, Role, TokenIssuer};
use axv_platform::{
    audit::Actor,
    ids::is_valid_id,
    pagination::{MAX_PAGE_SIZE, PageRequest},
};
use axv_proto::{common::v1 as common, onboarding::v1 as onboarding};
use tonic::transport::Channel;

use crate::{
    domain::{
        ParticipantState, PilotAction, PilotDraft, PilotInput, View, authorize, check_note,
        lead_suspended_refusal, parse_date, pilot_view, text,
    },
    error::PilotsError,
    store::{
        CompanySnapshot, ListScope, PilotCountFilter, PilotCounts, PilotFilter, PilotRecord, Store,
    },
};

pub type OnboardingClient = onboarding::onboarding_service_client::OnboardingServiceClient<Channel>;

pub const MAX_BATCH: usize = 500;

fn require(caller: Option<&Caller>) -> Result<&Caller, PilotsError> {
    caller.ok_or_else(|| PilotsError::Unauthenticated("authentication required".into()))
}

/// A pilot as one caller sees it.
pub struct VisiblePilot {
    pub pilot: PilotRecord,
    pub view: View,
}

#[derive(Clone)]
pub struct Pilots {
    store: Store,
    onboarding: OnboardingClient,
    /// Signs the service's own short-lived token for looking up companies the caller cannot
    /// see itself (a partner named by the lead firm).
    issuer: Arc<TokenIssuer>,
}

impl Pilots {
    pub fn new(store: Store, onboarding: OnboardingClient, issuer: Arc<TokenIssuer>) -> Self {
        Self {
            store,
            onboarding,
            issuer,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The firm caller's companies, from onboarding (membership changes after tokens are issued).
    async fn companies_of(&self, caller: &Caller) -> Result<Vec<String>, PilotsError> {
        let me = self
            .onboarding
            .clone()
            .get_me(PilotsError::request(
                Some(&caller.raw_token),
                onboarding::GetMeRequest {},
            )?)
            .await
            .map_err(PilotsError::upstream("company"))?;
        Ok(me.into_inner().company_ids)
    }

    /// A company's public fields and status, asked with the service's own identity.
    async fn company(&self, id: &str) -> Result<(CompanySnapshot, String), PilotsError> {
        let token = axv_platform::error::service_token(&self.issuer, crate::NAME)?;
        let company = self
            .onboarding
            .clone()
            .get_company(PilotsError::request(
                Some(&token),
                onboarding::GetCompanyRequest { id: id.to_owned() },
            )?)
            .await
            .map_err(PilotsError::upstream("company"))?
            .into_inner()
            .company
            .ok_or(PilotsError::NotFound("company"))?;
        let name = |n: &str, prefix: &str| n.trim_start_matches(prefix).to_owned();
        let sector = common::Sector::name_of(company.sector)
            .unwrap_or_default()
            .to_owned();
        let presence = onboarding::GwangjuPresence::try_from(company.presence)
            .map(|p| name(p.as_str_name(), "GWANGJU_PRESENCE_"))
            .unwrap_or_default();
        let status = onboarding::CompanyStatus::try_from(company.status)
            .map(|s| name(s.as_str_name(), "COMPANY_STATUS_"))
            .unwrap_or_default();
        Ok((
            CompanySnapshot {
                id: company.id,
                name_ko: company.name_ko,
                sector,
                presence,
            },
            status,
        ))
    }

    /// The firm's companies, or `None` for callers that are not firms.
    async fn firm_companies(
        &self,
        caller: Option<&Caller>,
    ) -> Result<Option<Vec<String>>, PilotsError> {
        match caller {
            Some(c) if c.role == Role::FirmMember => Ok(Some(self.companies_of(c).await?)),
            _ => Ok(None),
        }
    }

    fn view_of(
        caller: Option<&Caller>,
        own: Option<&[String]>,
        pilot: &PilotRecord,
    ) -> Option<View> {
        let related = own.is_some_and(|own| {
            pilot
                .participants
                .iter()
                .any(|p| p.state.sees_pilot() && own.contains(&p.company.id))
        });
        pilot_view(caller, related, pilot.status)
    }

    /// The pilot, how the caller sees it, and whether the caller belongs to its lead company.
    async fn visible(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<(PilotRecord, View, bool), PilotsError> {
        let pilot = if is_valid_id(id) {
            self.store.pilot(id).await?
        } else {
            None
        };
        let pilot = pilot.ok_or(PilotsError::NotFound("pilot"))?;
        let own = self.firm_companies(caller).await?;
        let view =
            Self::view_of(caller, own.as_deref(), &pilot).ok_or(PilotsError::NotFound("pilot"))?;
        let lead_member = own.is_some_and(|own| own.contains(&pilot.lead.id));
        Ok((pilot, view, lead_member))
    }

    pub async fn register(
        &self,
        caller: Option<&Caller>,
        input: PilotInput,
    ) -> Result<VisiblePilot, PilotsError> {
        let who = require(caller)?;
        if !matches!(
            who.role,
            Role::FirmMember | Role::ProgramManager | Role::Admin
        ) {
            return Err(PilotsError::Forbidden(
                "firms register pilots for their own companies".into(),
            ));
        }
        let draft = PilotDraft::validate(&input)?;
        if !is_valid_id(&input.lead_company_id) {
            return Err(PilotsError::NotFound("company"));
        }
        if who.role == Role::FirmMember
            && !self
                .companies_of(who)
                .await?
                .contains(&input.lead_company_id)
        {
            return Err(PilotsError::NotFound("company"));
        }
        let (lead, status) = self.company(&input.lead_company_id).await?;
        if status != "APPROVED" {
            return Err(PilotsError::refused(
                axv_platform::error::Reason::CompanyNotApproved,
                format!("the lead company is {status}; only APPROVED companies lead pilots"),
            ));
        }
        let pilot = self.store.create(&draft, &lead, &Actor::of(who)).await?;
        Ok(VisiblePilot {
            pilot,
            view: View::Full,
        })
    }

    /// The lead company's members edit a DRAFT pilot; the lead company cannot change.
    pub async fn update(
        &self,
        caller: Option<&Caller>,
        id: &str,
        input: PilotInput,
    ) -> Result<VisiblePilot, PilotsError> {
        require(caller)?;
        let (pilot, _, lead_member) = self.visible(caller, id).await?;
        if !lead_member {
            return Err(PilotsError::Forbidden(
                "only the lead company's members edit its pilot".into(),
            ));
        }
        let draft = PilotDraft::validate(&input)?;
        if input.lead_company_id != pilot.lead.id {
            return Err(PilotsError::invalid(
                "leadCompanyId",
                "cannot change; register a new pilot for another lead company",
            ));
        }
        if !pilot.status.is_editable() {
            return Err(PilotsError::refused(
                axv_platform::error::Reason::NotEditable,
                format!(
                    "only a DRAFT pilot can be edited; this one is {}",
                    pilot.status
                ),
            ));
        }
        self.refuse_if_lead_suspended(&pilot).await?;
        let pilot = self
            .store
            .update(&pilot.id, &draft, &pilot.lead, &Actor::of(require(caller)?))
            .await?;
        Ok(VisiblePilot {
            pilot,
            view: View::Full,
        })
    }

    pub async fn transition(
        &self,
        caller: Option<&Caller>,
        id: &str,
        action: PilotAction,
        note: Option<&str>,
    ) -> Result<VisiblePilot, PilotsError> {
        let who = require(caller)?;
        let (pilot, _, lead_member) = self.visible(caller, id).await?;
        authorize(who, lead_member, action)?;
        if !who.is_staff() {
            self.refuse_if_lead_suspended(&pilot).await?;
        }
        let pilot = self
            .store
            .transition(&pilot.id, action, &Actor::of(who), |current| {
                check_note(action, note, current.open_milestones())
            })
            .await?;
        Ok(VisiblePilot {
            pilot,
            view: View::Full,
        })
    }

    pub async fn get(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<VisiblePilot, PilotsError> {
        let (pilot, view, _) = self.visible(caller, id).await?;
        Ok(VisiblePilot { pilot, view })
    }

    pub async fn batch_get(
        &self,
        caller: Option<&Caller>,
        ids: &[String],
    ) -> Result<Vec<VisiblePilot>, PilotsError> {
        if ids.len() > MAX_BATCH {
            return Err(PilotsError::invalid(
                "ids",
                format!("at most {MAX_BATCH} per call"),
            ));
        }
        let ids: Vec<String> = ids.iter().filter(|id| is_valid_id(id)).cloned().collect();
        let own = self.firm_companies(caller).await?;
        Ok(self
            .store
            .pilots_by_ids(&ids)
            .await?
            .into_iter()
            .filter_map(|pilot| {
                Self::view_of(caller, own.as_deref(), &pilot)
                    .map(|view| VisiblePilot { pilot, view })
            })
            .collect())
    }

    pub async fn list(
        &self,
        caller: Option<&Caller>,
        filter: PilotFilter,
        page: &PageRequest,
    ) -> Result<(Vec<VisiblePilot>, i64), PilotsError> {
        let (scope, view) = match caller.map(|c| c.role) {
            Some(Role::ProgramManager | Role::Admin) => (ListScope::All, View::Full),
            Some(Role::FirmMember) => {
                let own = self.firm_companies(caller).await?.unwrap_or_default();
                (ListScope::Related(own), View::Full)
            }
            _ => (ListScope::PublicOnly, View::Public),
        };
        let (pilots, total) = self
            .store
            .list(&scope, &filter, page.after(), page.fetch_limit())
            .await?;
        Ok((
            pilots
                .into_iter()
                .map(|pilot| VisiblePilot { pilot, view })
                .collect(),
            total,
        ))
    }

    /// Public headcounts: no pilot is named, so every caller may ask, anonymous included;
    /// counting named companies' pilots tells what they lead, so only staff may.
    pub async fn count(
        &self,
        caller: Option<&Caller>,
        filter: &PilotCountFilter,
    ) -> Result<PilotCounts, PilotsError> {
        if !filter.lead_company_ids.is_empty() && !caller.is_some_and(Caller::is_staff) {
            return Err(PilotsError::Forbidden(
                "counting named companies' pilots is for programme staff".into(),
            ));
        }
        self.store.count(filter).await
    }

    /// For Company.pilots: each company's pilots the caller may see.
    pub async fn of_companies(
        &self,
        caller: Option<&Caller>,
        company_ids: &[String],
        per_company: usize,
    ) -> Result<Vec<(String, Vec<VisiblePilot>, i64)>, PilotsError> {
        if company_ids.len() > MAX_BATCH {
            return Err(PilotsError::invalid(
                "companyIds",
                format!("at most {MAX_BATCH} per call"),
            ));
        }
        let own = self.firm_companies(caller).await?;
        let grouped: HashMap<String, (Vec<PilotRecord>, i64)> = self
            .store
            .pilots_of_companies(company_ids, per_company.clamp(1, MAX_PAGE_SIZE + 1))
            .await?;
        Ok(grouped
            .into_iter()
            .map(|(company, (pilots, total))| {
                let visible: Vec<VisiblePilot> = pilots
                    .into_iter()
                    .filter_map(|pilot| {
                        Self::view_of(caller, own.as_deref(), &pilot)
                            .map(|view| VisiblePilot { pilot, view })
                    })
                    .collect();
                // Outsiders see only what is public, and the total counts only that.
                let total = if matches!(
                    caller.map(|c| c.role),
                    Some(Role::ProgramManager | Role::Admin)
                ) {
                    total
                } else {
                    visible.len() as i64
                };
                (company, visible, total)
            })
            .collect())
    }

    /// Participants and milestones: the lead company's members and managers, while the pilot
    /// is not over.
    async fn editable(
        &self,
        caller: Option<&Caller>,
        pilot_id: &str,
    ) -> Result<PilotRecord, PilotsError> {
        let who = require(caller)?;
        let (pilot, _, lead_member) = self.visible(caller, pilot_id).await?;
        if !(lead_member || who.is_staff()) {
            return Err(PilotsError::Forbidden(
                "only the lead company or a manager may change the pilot".into(),
            ));
        }
        if !pilot.status.is_open() {
            return Err(PilotsError::refused(
                axv_platform::error::Reason::WrongState,
                format!("the pilot is {}", pilot.status),
            ));
        }
        if !who.is_staff() {
            self.refuse_if_lead_suspended(&pilot).await?;
        }
        Ok(pilot)
    }

    /// A firm changes nothing on a pilot whose lead company is suspended.
    async fn refuse_if_lead_suspended(&self, pilot: &PilotRecord) -> Result<(), PilotsError> {
        let (_, status) = self.company(&pilot.lead.id).await?;
        match lead_suspended_refusal(&status) {
            Some(refusal) => Err(PilotsError::Precondition(refusal)),
            None => Ok(()),
        }
    }

    pub async fn add_participant(
        &self,
        caller: Option<&Caller>,
        pilot_id: &str,
        company_id: &str,
        role: &str,
    ) -> Result<VisiblePilot, PilotsError> {
        let pilot = self.editable(caller, pilot_id).await?;
        let role = text("role", &role.to_lowercase(), 50)?;
        if role == "lead" {
            return Err(PilotsError::invalid(
                "role",
                "the lead is set at registration",
            ));
        }
        let staff = caller.is_some_and(Caller::is_staff);
        if !is_valid_id(company_id) {
            return Err(PilotsError::NotFound("company"));
        }
        let (company, status) = self.company(company_id).await?;
        if status != "APPROVED" {
            // A firm learns nothing of a company the public does not see: not that it exists,
            // nor its state. The same answer as for no company at all.
            if !staff {
                return Err(PilotsError::NotFound("company"));
            }
            return Err(PilotsError::refused(
                axv_platform::error::Reason::CompanyNotApproved,
                format!("the company is {status}; only APPROVED companies take part in pilots"),
            ));
        }
        // The partner consents: it takes part only once one of its members accepts.
        self.store
            .add_participant(
                &pilot,
                &company,
                &role,
                ParticipantState::Invited,
                &Actor::of(require(caller)?),
            )
            .await?;
        self.get(caller, &pilot.id).await
    }

    /// A member of the invited company accepts or declines, while the pilot is not over and
    /// the company is in good standing. Anyone else learns nothing (NOT_FOUND), managers
    /// included: the consent is the company's own.
    pub async fn answer_invitation(
        &self,
        caller: Option<&Caller>,
        pilot_id: &str,
        company_id: &str,
        accept: bool,
        note: Option<&str>,
    ) -> Result<VisiblePilot, PilotsError> {
        let who = require(caller)?;
        if who.role != Role::FirmMember {
            return Err(PilotsError::Forbidden(
                "only the invited company's members answer its invitation".into(),
            ));
        }
        let (pilot, view, _) = self.visible(caller, pilot_id).await?;
        let member = is_valid_id(company_id)
            && self
                .companies_of(who)
                .await?
                .iter()
                .any(|c| c == company_id);
        let invited = pilot
            .participant(company_id)
            .filter(|p| member && p.role != "lead")
            .ok_or(PilotsError::NotFound("invitation"))?;
        let answer = invited.state.answer(accept)?;
        if !pilot.status.is_open() {
            return Err(PilotsError::refused(
                axv_platform::error::Reason::WrongState,
                format!("the pilot is {}", pilot.status),
            ));
        }
        let note = match note.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => Some(text("note", n, 2000)?),
            None => None,
        };
        if accept {
            let (_, status) = self.company(company_id).await?;
            if status != "APPROVED" {
                return Err(PilotsError::refused(
                    axv_platform::error::Reason::CompanyNotApproved,
                    format!("the company is {status}; only APPROVED companies take part in pilots"),
                ));
            }
        }
        self.store
            .answer_invitation(&pilot, company_id, answer, &Actor::of(who), note.as_deref())
            .await?;
        // As the caller saw it when answering: a company that declined sees it no more after.
        let pilot = self
            .store
            .pilot(&pilot.id)
            .await?
            .ok_or(PilotsError::NotFound("pilot"))?;
        Ok(VisiblePilot { pilot, view })
    }

    pub async fn add_milestone(
        &self,
        caller: Option<&Caller>,
        pilot_id: &str,
        title: &str,
        due_on: &str,
    ) -> Result<VisiblePilot, PilotsError> {
        let pilot = self.editable(caller, pilot_id).await?;
        let title = text("title", title, 200)?;
        let due_on = parse_date("dueOn", due_on)?;
        self.store
            .add_milestone(
                &pilot.id,
                &title,
                due_on,
                &pilot.lead.id,
                &Actor::of(require(caller)?),
            )
            .await?;
        self.get(caller, &pilot.id).await
    }

    pub async fn complete_milestone(
        &self,
        caller: Option<&Caller>,
        pilot_id: &str,
        milestone_id: &str,
        evidence: Option<&str>,
    ) -> Result<VisiblePilot, PilotsError> {
        let pilot = self.editable(caller, pilot_id).await?;
        let evidence = match evidence.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => Some(text("evidence", e, 2000)?),
            None => None,
        };
        self.store
            .complete_milestone(
                &pilot.id,
                milestone_id,
                evidence.as_deref(),
                &pilot.lead.id,
                &Actor::of(require(caller)?),
            )
            .await?;
        self.get(caller, &pilot.id).await
    }
}
