//! The tonic service: maps protobuf to the use cases in `service` and errors to `Status`.
//! Thin on purpose; every rule lives in `domain` and `service`.

use axv_auth::{Caller, Role, caller};
use axv_platform::pagination::PageRequest;
use axv_proto::{common::v1 as common, onboarding::v1 as pb};
use tonic::{Request, Response, Status};

use crate::{
    domain::{CompanyAction, CompanyInput, CompanyStatus, GwangjuPresence, Sector, View},
    error::OnboardingError,
    service::{Onboarding, Session, StaffChange, VisibleCompany},
    store::{ApiClientRecord, CompanyFilter, UserRecord},
};

pub struct OnboardingGrpc {
    service: Onboarding,
}

impl OnboardingGrpc {
    pub fn new(service: Onboarding) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::onboarding_service_server::OnboardingServiceServer<Self> {
        pb::onboarding_service_server::OnboardingServiceServer::new(self)
    }
}

pub fn role_to_pb(role: Role) -> pb::Role {
    match role {
        Role::FirmMember => pb::Role::FirmMember,
        Role::ProgramManager => pb::Role::ProgramManager,
        Role::Operator => pb::Role::Operator,
        Role::Dashboard => pb::Role::Dashboard,
        Role::Admin => pb::Role::Admin,
    }
}

/// `None` for UNSPECIFIED or an unknown number.
pub fn role_from_pb(value: i32) -> Option<Role> {
    Some(match pb::Role::try_from(value).ok()? {
        pb::Role::Unspecified => return None,
        pb::Role::FirmMember => Role::FirmMember,
        pb::Role::ProgramManager => Role::ProgramManager,
        pb::Role::Operator => Role::Operator,
        pb::Role::Dashboard => Role::Dashboard,
        pb::Role::Admin => Role::Admin,
    })
}

pub fn sector_to_pb(sector: Sector) -> common::Sector {
    match sector {
        Sector::Mobility => common::Sector::Mobility,
        Sector::ArtificialIntelligence => common::Sector::ArtificialIntelligence,
        Sector::CultureContent => common::Sector::CultureContent,
        Sector::Energy => common::Sector::Energy,
        Sector::Healthcare => common::Sector::Healthcare,
        Sector::PhotonicsAppliances => common::Sector::PhotonicsAppliances,
        Sector::SmartComponents => common::Sector::SmartComponents,
        Sector::Semiconductors => common::Sector::Semiconductors,
        Sector::Data => common::Sector::Data,
    }
}

pub fn sector_from_pb(value: i32) -> Option<Sector> {
    Some(match common::Sector::try_from(value).ok()? {
        common::Sector::Unspecified => return None,
        common::Sector::Mobility => Sector::Mobility,
        common::Sector::ArtificialIntelligence => Sector::ArtificialIntelligence,
        common::Sector::CultureContent => Sector::CultureContent,
        common::Sector::Energy => Sector::Energy,
        common::Sector::Healthcare => Sector::Healthcare,
        common::Sector::PhotonicsAppliances => Sector::PhotonicsAppliances,
        common::Sector::SmartComponents => Sector::SmartComponents,
        common::Sector::Semiconductors => Sector::Semiconductors,
        common::Sector::Data => Sector::Data,
    })
}

pub fn presence_to_pb(presence: GwangjuPresence) -> pb::GwangjuPresence {
    match presence {
        GwangjuPresence::Headquarters => pb::GwangjuPresence::Headquarters,
        GwangjuPresence::Branch => pb::GwangjuPresence::Branch,
        GwangjuPresence::ResearchLab => pb::GwangjuPresence::ResearchLab,
        GwangjuPresence::Planned => pb::GwangjuPresence::Planned,
        GwangjuPresence::None => pb::GwangjuPresence::None,
    }
}

pub fn presence_from_pb(value: i32) -> Option<GwangjuPresence> {
    Some(match pb::GwangjuPresence::try_from(value).ok()? {
        pb::GwangjuPresence::Unspecified => return None,
        pb::GwangjuPresence::Headquarters => GwangjuPresence::Headquarters,
        pb::GwangjuPresence::Branch => GwangjuPresence::Branch,
        pb::GwangjuPresence::ResearchLab => GwangjuPresence::ResearchLab,
        pb::GwangjuPresence::Planned => GwangjuPresence::Planned,
        pb::GwangjuPresence::None => GwangjuPresence::None,
    })
}

pub fn status_to_pb(status: CompanyStatus) -> pb::CompanyStatus {
    match status {
        CompanyStatus::Draft => pb::CompanyStatus::Draft,
        CompanyStatus::Submitted => pb::CompanyStatus::Submitted,
        CompanyStatus::UnderReview => pb::CompanyStatus::UnderReview,
        CompanyStatus::ChangesRequested => pb::CompanyStatus::ChangesRequested,
        CompanyStatus::Approved => pb::CompanyStatus::Approved,
        CompanyStatus::Rejected => pb::CompanyStatus::Rejected,
        CompanyStatus::Suspended => pb::CompanyStatus::Suspended,
    }
}

pub fn status_from_pb(value: i32) -> Option<CompanyStatus> {
    Some(match pb::CompanyStatus::try_from(value).ok()? {
        pb::CompanyStatus::Unspecified => return None,
        pb::CompanyStatus::Draft => CompanyStatus::Draft,
        pb::CompanyStatus::Submitted => CompanyStatus::Submitted,
        pb::CompanyStatus::UnderReview => CompanyStatus::UnderReview,
        pb::CompanyStatus::ChangesRequested => CompanyStatus::ChangesRequested,
        pb::CompanyStatus::Approved => CompanyStatus::Approved,
        pb::CompanyStatus::Rejected => CompanyStatus::Rejected,
        pb::CompanyStatus::Suspended => CompanyStatus::Suspended,
    })
}

fn action_from_pb(value: i32) -> Result<CompanyAction, OnboardingError> {
    let invalid = || OnboardingError::invalid("action", "must be one of the company actions");
    Ok(
        match pb::CompanyAction::try_from(value).map_err(|_| invalid())? {
            pb::CompanyAction::Unspecified => return Err(invalid()),
            pb::CompanyAction::Submit => CompanyAction::Submit,
            pb::CompanyAction::StartReview => CompanyAction::StartReview,
            pb::CompanyAction::Approve => CompanyAction::Approve,
            pb::CompanyAction::Reject => CompanyAction::Reject,
            pb::CompanyAction::RequestChanges => CompanyAction::RequestChanges,
            pb::CompanyAction::Suspend => CompanyAction::Suspend,
            pb::CompanyAction::Reinstate => CompanyAction::Reinstate,
        },
    )
}

fn user_to_pb(user: &UserRecord) -> pb::User {
    pb::User {
        id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        role: role_to_pb(user.role).into(),
        cluster_user: user.cluster_user.clone(),
        language: user.language.clone(),
        deactivated_at_ms: user.deactivated_at,
    }
}

fn api_client_to_pb(client: ApiClientRecord) -> pb::ApiClient {
    pb::ApiClient {
        id: client.id,
        name: client.name,
        role: role_to_pb(client.role).into(),
        created_at_ms: client.created_at,
        created_by: client.created_by,
        last_used_at_ms: client.last_used_at,
        revoked_at_ms: client.revoked_at,
    }
}

fn session_parts(session: Session) -> (Option<pb::User>, Option<pb::TokenPair>) {
    (
        Some(user_to_pb(&session.user)),
        Some(pb::TokenPair {
            access_token: session.access.token,
            refresh_token: session.refresh_token,
            expires_at_ms: session.access.expires_at.saturating_mul(1000),
        }),
    )
}

fn company_to_pb(visible: VisibleCompany) -> pb::Company {
    let VisibleCompany {
        company: c,
        view,
        history,
    } = visible;
    let full = view == View::Full;
    pb::Company {
        id: c.id,
        business_number: full.then_some(c.business_number),
        name_ko: c.name_ko,
        name_en: c.name_en,
        sector: sector_to_pb(c.sector).into(),
        presence: presence_to_pb(c.presence).into(),
        employees: if full {
            c.employees.and_then(|e| i32::try_from(e).ok())
        } else {
            None
        },
        founded_on: if full { c.founded_on } else { None },
        contact_email: full.then_some(c.contact_email),
        status: status_to_pb(c.status).into(),
        history: history
            .into_iter()
            .map(|h| common::StatusChange {
                from: h.from.unwrap_or_default(),
                to: h.to,
                at_ms: h.at,
                by: h.actor,
                note: h.note,
            })
            .collect(),
        created_at_ms: c.created_at,
        updated_at_ms: c.updated_at,
        full_view: full,
    }
}

fn company_input(input: Option<pb::CompanyInput>) -> Result<CompanyInput, OnboardingError> {
    let input = input.ok_or_else(|| OnboardingError::invalid("input", "is required"))?;
    Ok(CompanyInput {
        business_number: input.business_number,
        name_ko: input.name_ko,
        name_en: input.name_en,
        sector: sector_from_pb(input.sector),
        presence: presence_from_pb(input.presence),
        employees: input.employees.map(i64::from),
        founded_on: input.founded_on,
        contact_email: input.contact_email,
    })
}

/// The client's address for rate limiting: what the gateway forwards in `x-forwarded-for`
/// when the peer is a trusted proxy (`AXV_TRUSTED_PROXIES`), else the peer itself.
fn client_address<T>(request: &Request<T>) -> String {
    axv_platform::net::client_address(
        request.remote_addr().map(|a| a.ip()),
        request
            .metadata()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok()),
        axv_platform::net::trusted_proxies(),
    )
}

fn who<T>(request: &Request<T>) -> Option<Caller> {
    caller(request).cloned()
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::onboarding_service_server::OnboardingService for OnboardingGrpc {
    async fn sign_up(&self, request: Request<pb::SignUpRequest>) -> Reply<pb::SignUpResponse> {
        let r = request.into_inner();
        let (user, tokens) =
            session_parts(self.service.sign_up(&r.email, &r.password, &r.name).await?);
        Ok(Response::new(pb::SignUpResponse { user, tokens }))
    }

    async fn login(&self, request: Request<pb::LoginRequest>) -> Reply<pb::LoginResponse> {
        let address = client_address(&request);
        let r = request.into_inner();
        let (user, tokens) =
            session_parts(self.service.login(&r.email, &r.password, &address).await?);
        Ok(Response::new(pb::LoginResponse { user, tokens }))
    }

    async fn refresh_token(
        &self,
        request: Request<pb::RefreshTokenRequest>,
    ) -> Reply<pb::RefreshTokenResponse> {
        let (user, tokens) = session_parts(
            self.service
                .refresh(&request.into_inner().refresh_token)
                .await?,
        );
        Ok(Response::new(pb::RefreshTokenResponse { user, tokens }))
    }

    async fn logout(&self, request: Request<pb::LogoutRequest>) -> Reply<pb::LogoutResponse> {
        self.service.logout(caller(&request)).await?;
        Ok(Response::new(pb::LogoutResponse {}))
    }

    async fn get_me(&self, request: Request<pb::GetMeRequest>) -> Reply<pb::GetMeResponse> {
        let (user, company_ids) = self.service.me(caller(&request)).await?;
        Ok(Response::new(pb::GetMeResponse {
            user: Some(user_to_pb(&user)),
            company_ids,
        }))
    }

    async fn update_me(
        &self,
        request: Request<pb::UpdateMeRequest>,
    ) -> Reply<pb::UpdateMeResponse> {
        let r = request.get_ref();
        let user = self
            .service
            .update_me(
                caller(&request),
                r.name.as_deref(),
                r.cluster_user.as_deref(),
                r.language.as_deref(),
            )
            .await?;
        Ok(Response::new(pb::UpdateMeResponse {
            user: Some(user_to_pb(&user)),
        }))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Reply<pb::ChangePasswordResponse> {
        let r = request.get_ref();
        let session = self
            .service
            .change_password(caller(&request), &r.current_password, &r.new_password)
            .await?;
        let (user, tokens) = session_parts(session);
        Ok(Response::new(pb::ChangePasswordResponse { user, tokens }))
    }

    async fn request_password_reset(
        &self,
        request: Request<pb::RequestPasswordResetRequest>,
    ) -> Reply<pb::RequestPasswordResetResponse> {
        let address = client_address(&request);
        self.service
            .request_password_reset(&request.get_ref().email, &address)
            .await?;
        Ok(Response::new(pb::RequestPasswordResetResponse {}))
    }

    async fn issue_password_reset(
        &self,
        request: Request<pb::IssuePasswordResetRequest>,
    ) -> Reply<pb::IssuePasswordResetResponse> {
        let issued = self
            .service
            .issue_password_reset(caller(&request), &request.get_ref().request_id)
            .await?;
        Ok(Response::new(pb::IssuePasswordResetResponse {
            token: issued.token,
            email: issued.email,
            name: issued.name,
            language: issued.language,
            expires_at_ms: issued.expires_at_ms,
        }))
    }

    async fn reset_password(
        &self,
        request: Request<pb::ResetPasswordRequest>,
    ) -> Reply<pb::ResetPasswordResponse> {
        let r = request.get_ref();
        self.service
            .reset_password(&r.token, &r.new_password)
            .await?;
        Ok(Response::new(pb::ResetPasswordResponse {}))
    }

    async fn batch_get_user_names(
        &self,
        request: Request<pb::BatchGetUserNamesRequest>,
    ) -> Reply<pb::BatchGetUserNamesResponse> {
        let names = self
            .service
            .user_names(caller(&request), &request.get_ref().ids)
            .await?;
        Ok(Response::new(pb::BatchGetUserNamesResponse {
            names: names
                .into_iter()
                .map(|(user, email_shown)| pb::UserName {
                    role: role_to_pb(user.role) as i32,
                    email: email_shown.then_some(user.email),
                    id: user.id,
                    name: user.name,
                })
                .collect(),
        }))
    }

    async fn list_cluster_users(
        &self,
        request: Request<pb::ListClusterUsersRequest>,
    ) -> Reply<pb::ListClusterUsersResponse> {
        let users = self
            .service
            .cluster_users(caller(&request), &request.get_ref().company_ids)
            .await?;
        Ok(Response::new(pb::ListClusterUsersResponse {
            users: users
                .into_iter()
                .map(|(company_id, cluster_user)| pb::ClusterUser {
                    company_id,
                    cluster_user,
                })
                .collect(),
        }))
    }

    async fn create_company(
        &self,
        request: Request<pb::CreateCompanyRequest>,
    ) -> Reply<pb::CreateCompanyResponse> {
        let caller = who(&request);
        let input = company_input(request.into_inner().input)?;
        let company = self.service.create_company(caller.as_ref(), input).await?;
        Ok(Response::new(pb::CreateCompanyResponse {
            company: Some(company_to_pb(company)),
        }))
    }

    async fn update_company(
        &self,
        request: Request<pb::UpdateCompanyRequest>,
    ) -> Reply<pb::UpdateCompanyResponse> {
        let caller = who(&request);
        let r = request.into_inner();
        let input = company_input(r.input)?;
        let company = self
            .service
            .update_company(caller.as_ref(), &r.id, input)
            .await?;
        Ok(Response::new(pb::UpdateCompanyResponse {
            company: Some(company_to_pb(company)),
        }))
    }

    async fn get_company(
        &self,
        request: Request<pb::GetCompanyRequest>,
    ) -> Reply<pb::GetCompanyResponse> {
        let company = self
            .service
            .company(caller(&request), &request.get_ref().id)
            .await?;
        Ok(Response::new(pb::GetCompanyResponse {
            company: Some(company_to_pb(company)),
        }))
    }

    async fn list_companies(
        &self,
        request: Request<pb::ListCompaniesRequest>,
    ) -> Reply<pb::ListCompaniesResponse> {
        let caller = who(&request);
        let r = request.into_inner();
        let f = r.filter.unwrap_or_default();
        let mut filter = CompanyFilter {
            text: f.text,
            ..CompanyFilter::default()
        };
        for value in f.statuses {
            filter.statuses.push(status_from_pb(value).ok_or_else(|| {
                OnboardingError::invalid("filter.statuses", "has an unknown status")
            })?);
        }
        for value in f.sectors {
            filter.sectors.push(sector_from_pb(value).ok_or_else(|| {
                OnboardingError::invalid("filter.sectors", "has an unknown sector")
            })?);
        }
        for value in f.presences {
            filter
                .presences
                .push(presence_from_pb(value).ok_or_else(|| {
                    OnboardingError::invalid("filter.presences", "has an unknown presence")
                })?);
        }
        let request_page = PageRequest::parse(r.page_size, &r.page_token)
            .map_err(|e| OnboardingError::invalid(e.field(), e.to_string()))?;
        let page = self
            .service
            .list(caller.as_ref(), filter, &request_page, r.directory)
            .await?;
        Ok(Response::new(pb::ListCompaniesResponse {
            companies: page.companies.into_iter().map(company_to_pb).collect(),
            next_page_token: page.next_page_token,
            total_count: page.total,
        }))
    }

    async fn batch_get_companies(
        &self,
        request: Request<pb::BatchGetCompaniesRequest>,
    ) -> Reply<pb::BatchGetCompaniesResponse> {
        let companies = self
            .service
            .batch_get(caller(&request), &request.get_ref().ids)
            .await?;
        Ok(Response::new(pb::BatchGetCompaniesResponse {
            companies: companies.into_iter().map(company_to_pb).collect(),
        }))
    }

    async fn transition_company(
        &self,
        request: Request<pb::TransitionCompanyRequest>,
    ) -> Reply<pb::TransitionCompanyResponse> {
        let caller = who(&request);
        let r = request.into_inner();
        let action = action_from_pb(r.action)?;
        let company = self
            .service
            .transition(caller.as_ref(), &r.id, action, r.note.as_deref())
            .await?;
        Ok(Response::new(pb::TransitionCompanyResponse {
            company: Some(company_to_pb(company)),
        }))
    }

    async fn add_company_member(
        &self,
        request: Request<pb::AddCompanyMemberRequest>,
    ) -> Reply<pb::AddCompanyMemberResponse> {
        let caller = who(&request);
        let r = request.into_inner();
        let member = self
            .service
            .add_member(caller.as_ref(), &r.company_id, &r.email)
            .await?;
        Ok(Response::new(pb::AddCompanyMemberResponse {
            member: Some(user_to_pb(&member)),
        }))
    }

    async fn list_company_members(
        &self,
        request: Request<pb::ListCompanyMembersRequest>,
    ) -> Reply<pb::ListCompanyMembersResponse> {
        let members = self
            .service
            .members(caller(&request), &request.get_ref().company_id)
            .await?;
        Ok(Response::new(pb::ListCompanyMembersResponse {
            members: members.iter().map(user_to_pb).collect(),
        }))
    }

    // No caller check: headcounts name no company, so anonymous callers are answered too.
    async fn count_companies(
        &self,
        request: Request<pb::CountCompaniesRequest>,
    ) -> Reply<pb::CountCompaniesResponse> {
        let who = caller(&request).cloned();
        let request = request.into_inner();
        let sectors = request
            .sectors
            .into_iter()
            .map(|value| {
                sector_from_pb(value)
                    .ok_or_else(|| OnboardingError::invalid("sectors", "has an unknown sector"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let counts = self
            .service
            .count(who.as_ref(), &sectors, &request.company_ids)
            .await?;
        Ok(Response::new(pb::CountCompaniesResponse {
            registered: counts.registered,
            approved: counts.approved,
        }))
    }

    async fn register_api_client(
        &self,
        request: Request<pb::RegisterApiClientRequest>,
    ) -> Reply<pb::RegisterApiClientResponse> {
        let caller = who(&request);
        let r = request.into_inner();
        let (client, secret) = self
            .service
            .register_api_client(caller.as_ref(), &r.name, role_from_pb(r.role))
            .await?;
        Ok(Response::new(pb::RegisterApiClientResponse {
            client: Some(api_client_to_pb(client)),
            client_secret: secret,
        }))
    }

    async fn list_api_clients(
        &self,
        request: Request<pb::ListApiClientsRequest>,
    ) -> Reply<pb::ListApiClientsResponse> {
        let clients = self.service.api_clients(caller(&request)).await?;
        Ok(Response::new(pb::ListApiClientsResponse {
            clients: clients.into_iter().map(api_client_to_pb).collect(),
        }))
    }

    async fn revoke_api_client(
        &self,
        request: Request<pb::RevokeApiClientRequest>,
    ) -> Reply<pb::RevokeApiClientResponse> {
        let client = self
            .service
            .revoke_api_client(caller(&request), &request.get_ref().id)
            .await?;
        Ok(Response::new(pb::RevokeApiClientResponse {
            client: Some(api_client_to_pb(client)),
        }))
    }

    async fn list_staff(
        &self,
        request: Request<pb::ListStaffRequest>,
    ) -> Reply<pb::ListStaffResponse> {
        let users = self.service.staff(caller(&request)).await?;
        Ok(Response::new(pb::ListStaffResponse {
            users: users.iter().map(user_to_pb).collect(),
        }))
    }

    async fn create_staff_account(
        &self,
        request: Request<pb::CreateStaffAccountRequest>,
    ) -> Reply<pb::CreateStaffAccountResponse> {
        let r = request.get_ref();
        let (user, temporary_password) = self
            .service
            .create_staff_account(caller(&request), &r.email, &r.name, role_from_pb(r.role))
            .await?;
        Ok(Response::new(pb::CreateStaffAccountResponse {
            user: Some(user_to_pb(&user)),
            temporary_password,
        }))
    }

    async fn change_staff_account(
        &self,
        request: Request<pb::ChangeStaffAccountRequest>,
    ) -> Reply<pb::ChangeStaffAccountResponse> {
        use pb::change_staff_account_request::Change;
        let r = request.get_ref();
        let change = match r.change {
            Some(Change::Role(role)) => StaffChange::Role(role_from_pb(role).ok_or_else(|| {
                OnboardingError::invalid("role", "must be PROGRAM_MANAGER, OPERATOR or ADMIN")
            })?),
            Some(Change::Deactivate(true)) => StaffChange::Deactivate,
            Some(Change::Reactivate(true)) => StaffChange::Reactivate,
            Some(Change::ReissuePassword(true)) => StaffChange::ReissuePassword,
            _ => {
                return Err(OnboardingError::invalid(
                    "change",
                    "must be a role, deactivate, reactivate or reissue_password",
                )
                .into());
            }
        };
        let (user, temporary_password) = self
            .service
            .change_staff_account(caller(&request), &r.user_id, change)
            .await?;
        Ok(Response::new(pb::ChangeStaffAccountResponse {
            user: Some(user_to_pb(&user)),
            temporary_password,
        }))
    }

    // No caller check: presenting the client's credentials is the authentication.
    async fn exchange_client_credentials(
        &self,
        request: Request<pb::ExchangeClientCredentialsRequest>,
    ) -> Reply<pb::ExchangeClientCredentialsResponse> {
        let r = request.into_inner();
        let token = self
            .service
            .exchange_client_credentials(&r.client_id, &r.client_secret)
            .await?;
        let now = chrono::Utc::now().timestamp();
        Ok(Response::new(pb::ExchangeClientCredentialsResponse {
            access_token: token.token,
            expires_at_ms: token.expires_at.saturating_mul(1000),
            expires_in_secs: (token.expires_at - now).max(0),
        }))
    }
}
