//! The onboarding part of the contract: accounts, the viewer, companies and their review.

use async_graphql::{
    Context, ID, InputObject, Object, Result, SimpleObject, dataloader::DataLoader,
};
use axv_proto::common::v1 as common_pb;
use axv_proto::onboarding::v1 as pb;

use super::{
    connection::{connection, page_size},
    scalars::{Date, DateTime},
    support::mirror_enum,
};
use crate::{
    clients::{Clients, request},
    context::RequestContext,
    errors::{bad_input, from_status, unauthenticated},
    loaders::{CompanyLoader, UserNameLoader},
};

mirror_enum!(
    Role,
    pb::Role {
        FirmMember,
        ProgramManager,
        Operator,
        Dashboard,
        Admin
    }
);

impl Role {
    /// A role as tokens and records spell it (`PROGRAM_MANAGER`); `None` when unknown.
    pub(super) fn named(name: &str) -> Option<Self> {
        Self::from_pb(pb::Role::from_str_name(&format!("ROLE_{name}"))? as i32)
    }
}
mirror_enum!(
    Sector,
    common_pb::Sector {
        Mobility,
        ArtificialIntelligence,
        CultureContent,
        Energy,
        Healthcare,
        PhotonicsAppliances,
        SmartComponents,
        Semiconductors,
        Data,
    }
);
mirror_enum!(
    GwangjuPresence,
    pb::GwangjuPresence {
        Headquarters,
        Branch,
        ResearchLab,
        Planned,
        None
    }
);
mirror_enum!(
    CompanyStatus,
    pb::CompanyStatus {
        Draft,
        Submitted,
        UnderReview,
        ChangesRequested,
        Approved,
        Rejected,
        Suspended,
    }
);

#[derive(SimpleObject, Clone, Debug)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The person's user name on the data center's Slurm cluster, when given: the operators'
    /// sacctmgr export makes it a user of each of the company's voucher accounts.
    pub cluster_user_name: Option<String>,
    /// The console's language the person chose (`ko` or `en`); `null` lets the browser's
    /// language decide.
    pub language: Option<String>,
    /// When an admin deactivated this staff account; it cannot sign in. `null`: active.
    pub deactivated_at: Option<DateTime>,
}

impl User {
    pub(super) fn from_pb(user: pb::User) -> Self {
        User {
            id: ID(user.id),
            email: user.email,
            name: user.name,
            role: Role::from_pb(user.role).unwrap_or(Role::FirmMember),
            cluster_user_name: user.cluster_user,
            language: user.language,
            deactivated_at: user.deactivated_at_ms.map(DateTime::from_millis),
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct AuthPayload {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime,
    pub user: User,
}

impl AuthPayload {
    fn from_pb(user: Option<pb::User>, tokens: Option<pb::TokenPair>) -> Result<Self> {
        let (Some(user), Some(tokens)) = (user, tokens) else {
            return Err(crate::errors::error(
                axv_platform::ErrorCode::Internal,
                "incomplete session",
            ));
        };
        Ok(AuthPayload {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: DateTime::from_millis(tokens.expires_at_ms),
            user: User::from_pb(user),
        })
    }
}

#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct StatusChange {
    pub from: Option<String>,
    pub to: String,
    pub at: DateTime,
    pub by: ID,
    pub note: Option<String>,
}

impl StatusChange {
    /// Every service's history entry looks the same.
    pub fn from_pb(change: &axv_proto::common::v1::StatusChange) -> Self {
        StatusChange {
            from: (!change.from.is_empty()).then(|| change.from.clone()),
            to: change.to.clone(),
            at: DateTime::from_millis(change.at_ms),
            by: ID(change.by.clone()),
            note: change.note.clone(),
        }
    }
}

#[async_graphql::ComplexObject]
impl StatusChange {
    /// The name of the person who made the change; `null` for an API client or the system
    /// (and for anonymous callers).
    async fn by_name(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        user_name(ctx, &self.by).await
    }

    /// The person who made the change, with name and role; `null` for an API client or the
    /// system (and for anonymous callers).
    async fn by_user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let (_, rc) = parts(ctx)?;
        if rc.caller.is_none() || !axv_platform::ids::is_valid_id(&self.by) {
            return Ok(None);
        }
        user_for(ctx, &self.by, "").await.map(Some)
    }
}

/// Who `subject` is, as a [`User`] to show wherever the API says who did something: a
/// person's name and role (`email` only where the caller may see it: staff see every address,
/// others their own and the programme office's); an API client (`client:<id>`) or anyone the
/// caller may not look up appears by its id, in `role_hint` (the role it acted in).
pub(super) async fn user_for(ctx: &Context<'_>, subject: &str, role_hint: &str) -> Result<User> {
    let (_, rc) = parts(ctx)?;
    let found = if rc.caller.is_some() && axv_platform::ids::is_valid_id(subject) {
        ctx.data::<DataLoader<UserNameLoader>>()?
            .load_one(subject.to_owned())
            .await
            .map_err(|e| (*e).clone())?
    } else {
        None
    };
    let role = match &found {
        Some(found) => Role::from_pb(found.role),
        None => None,
    }
    .or_else(|| Role::named(role_hint))
    .unwrap_or(Role::FirmMember);
    Ok(User {
        id: ID(subject.to_owned()),
        email: found
            .as_ref()
            .and_then(|f| f.email.clone())
            .unwrap_or_default(),
        name: found.map_or_else(|| subject.to_owned(), |f| f.name),
        role,
        cluster_user_name: None,
        language: None,
        deactivated_at: None,
    })
}

/// The name of the person whose id `subject` is, for a signed-in caller; `None` for an API
/// client's subject, the system, or an anonymous caller.
pub(super) async fn user_name(ctx: &Context<'_>, subject: &str) -> Result<Option<String>> {
    let (_, rc) = parts(ctx)?;
    if rc.caller.is_none() || !axv_platform::ids::is_valid_id(subject) {
        return Ok(None);
    }
    let loader = ctx.data::<DataLoader<UserNameLoader>>()?;
    Ok(loader
        .load_one(subject.to_owned())
        .await
        .map_err(|e| (*e).clone())?
        .map(|found| found.name))
}

/// A company as the caller may see it: outside the company and the programme office only the
/// public fields are filled in.
#[derive(Clone, Debug)]
pub struct Company(pub pb::Company);

#[Object]
impl Company {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Files attached to it that the caller may read (none for dashboards and anonymous
    /// callers), oldest first.
    async fn documents(&self, ctx: &Context<'_>) -> Result<Vec<super::documents::Document>> {
        super::documents::documents_of(
            ctx,
            super::documents::DocumentParentKind::Company,
            &self.0.id,
            "",
        )
        .await
    }
    async fn business_number(&self) -> Option<&str> {
        self.0.business_number.as_deref()
    }
    async fn name_ko(&self) -> &str {
        &self.0.name_ko
    }
    async fn name_en(&self) -> Option<&str> {
        self.0.name_en.as_deref()
    }
    async fn sector(&self) -> Result<Sector> {
        Sector::from_pb(self.0.sector)
            .ok_or_else(|| crate::errors::error(axv_platform::ErrorCode::Internal, "sector"))
    }
    async fn presence(&self) -> Result<GwangjuPresence> {
        GwangjuPresence::from_pb(self.0.presence)
            .ok_or_else(|| crate::errors::error(axv_platform::ErrorCode::Internal, "presence"))
    }
    async fn employees(&self) -> Option<i32> {
        self.0.employees
    }
    async fn founded_on(&self) -> Option<Date> {
        self.0.founded_on.as_deref().and_then(Date::parse_text)
    }
    async fn contact_email(&self) -> Option<&str> {
        self.0.contact_email.as_deref()
    }
    async fn status(&self) -> Result<CompanyStatus> {
        CompanyStatus::from_pb(self.0.status)
            .ok_or_else(|| crate::errors::error(axv_platform::ErrorCode::Internal, "status"))
    }
    /// Every transition, oldest first; empty for callers who see only public fields.
    async fn history(&self) -> Vec<StatusChange> {
        self.0.history.iter().map(StatusChange::from_pb).collect()
    }
    /// The company's vouchers in issue order; loaded for every company of a list in one call.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn vouchers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<super::vouchers::VoucherConnection> {
        super::vouchers::company_vouchers(ctx, &self.0.id, first, after).await
    }
    /// The pilots the company leads or takes part in, in registration order; loaded for every
    /// company of a list in one call.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn pilots(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<super::pilots::PilotConnection> {
        super::pilots::company_pilots(ctx, &self.0.id, first, after).await
    }
}

pub struct Viewer {
    user: User,
    company_ids: Vec<String>,
}

#[Object]
impl Viewer {
    async fn user(&self) -> &User {
        &self.user
    }
    /// The companies the viewer belongs to.
    async fn companies(&self, ctx: &Context<'_>) -> Result<Vec<Company>> {
        let loader = ctx.data::<DataLoader<CompanyLoader>>()?;
        let mut found = loader
            .load_many(self.company_ids.iter().cloned())
            .await
            .map_err(|e| (*e).clone())?;
        Ok(self
            .company_ids
            .iter()
            .filter_map(|id| found.remove(id))
            .map(Company)
            .collect())
    }
}

#[derive(InputObject, Debug, Clone)]
pub struct UpdateMeInput {
    /// Unset keeps the current name.
    pub name: Option<String>,
    /// The user name you run jobs under on the data center's Slurm cluster; empty clears it.
    /// Lowercase letters, digits, `_`, `.` and `-`, starting with a letter or `_`.
    pub cluster_user_name: Option<String>,
    /// The console's language: `ko` or `en`; empty clears the choice.
    pub language: Option<String>,
}

#[derive(InputObject, Debug, Clone)]
pub struct SignUpInput {
    pub email: String,
    /// At least 12 characters.
    pub password: String,
    pub name: String,
}

#[derive(InputObject, Debug, Clone)]
pub struct CompanyInput {
    /// Ten digits; dashes allowed (124-81-00998).
    pub business_number: String,
    pub name_ko: String,
    pub name_en: Option<String>,
    pub sector: Sector,
    pub presence: GwangjuPresence,
    pub employees: Option<i32>,
    pub founded_on: Option<Date>,
    pub contact_email: String,
}

impl From<CompanyInput> for pb::CompanyInput {
    fn from(input: CompanyInput) -> Self {
        pb::CompanyInput {
            business_number: input.business_number,
            name_ko: input.name_ko,
            name_en: input.name_en,
            sector: common_pb::Sector::from(input.sector).into(),
            presence: pb::GwangjuPresence::from(input.presence).into(),
            employees: input.employees,
            founded_on: input.founded_on.map(|d| d.0.format("%Y-%m-%d").to_string()),
            contact_email: input.contact_email,
        }
    }
}

#[derive(InputObject, Debug, Clone, Default)]
pub struct CompanyFilter {
    pub statuses: Option<Vec<CompanyStatus>>,
    pub sectors: Option<Vec<Sector>>,
    pub presences: Option<Vec<GwangjuPresence>>,
    /// Case-insensitive text in the Korean or English name.
    pub text: Option<String>,
}

/// The company through the request's DataLoader; `None` when the caller may not see it.
pub(crate) async fn load_company(ctx: &Context<'_>, id: &str) -> Result<Option<Company>> {
    Ok(ctx
        .data::<DataLoader<CompanyLoader>>()?
        .load_one(id.to_owned())
        .await
        .map_err(|e| (*e).clone())?
        .map(Company))
}

/// Like [`load_company`], for non-null fields: a company the caller may not see is NOT_FOUND.
pub(crate) async fn require_company(ctx: &Context<'_>, id: &str) -> Result<Company> {
    load_company(ctx, id)
        .await?
        .ok_or_else(|| crate::errors::error(axv_platform::ErrorCode::NotFound, "company not found"))
}

pub(crate) fn parts(ctx: &Context<'_>) -> Result<(Clients, RequestContext)> {
    Ok((
        ctx.data::<Clients>()?.clone(),
        ctx.data::<RequestContext>()?.clone(),
    ))
}

fn company_of(response: Option<pb::Company>) -> Result<Company> {
    response
        .map(Company)
        .ok_or_else(|| crate::errors::error(axv_platform::ErrorCode::Internal, "missing company"))
}

connection!(CompanyConnection, CompanyEdge, Company);

#[derive(Default)]
pub struct OnboardingQuery;

#[Object]
impl OnboardingQuery {
    /// The signed-in user and their companies; null when anonymous.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<Viewer>> {
        let (clients, rc) = parts(ctx)?;
        // API clients (dashboards, operators' tools) are no user: like anonymous callers.
        if rc
            .caller
            .as_ref()
            .is_none_or(|c| axv_auth::is_client_subject(&c.subject))
        {
            return Ok(None);
        }
        let me = clients
            .onboarding
            .clone()
            .get_me(request(&rc, pb::GetMeRequest {}))
            .await
            .map_err(from_status)?
            .into_inner();
        let user = me.user.map(User::from_pb).ok_or_else(unauthenticated)?;
        Ok(Some(Viewer {
            user,
            company_ids: me.company_ids,
        }))
    }

    async fn company(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Company>> {
        let response = call!(
            ctx,
            onboarding.get_company(pb::GetCompanyRequest { id: id.0 })
        )?;
        Ok(response.company.map(Company))
    }

    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn companies(
        &self,
        ctx: &Context<'_>,
        filter: Option<CompanyFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CompanyConnection> {
        list_companies(ctx, filter, first, after, false).await
    }

    /// APPROVED companies' public fields (names, sector), for any caller: how a firm finds a
    /// partner company by name to invite to its pilot. `filter.statuses` cannot widen it.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn company_directory(
        &self,
        ctx: &Context<'_>,
        filter: Option<CompanyFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CompanyConnection> {
        list_companies(ctx, filter, first, after, true).await
    }
}

/// `companies` and `companyDirectory`: one page of the onboarding service's list.
async fn list_companies(
    ctx: &Context<'_>,
    filter: Option<CompanyFilter>,
    first: Option<i32>,
    after: Option<String>,
    directory: bool,
) -> Result<CompanyConnection> {
    let (clients, rc) = parts(ctx)?;
    let size = page_size(first)?;
    if let Some(after) = &after {
        axv_platform::pagination::decode_cursor(after)
            .map_err(|_| bad_input("after is not a cursor from this API"))?;
    }
    let filter = filter.unwrap_or_default();
    let response = clients
        .onboarding
        .clone()
        .list_companies(request(
            &rc,
            pb::ListCompaniesRequest {
                filter: Some(pb::CompanyFilter {
                    statuses: filter
                        .statuses
                        .unwrap_or_default()
                        .into_iter()
                        .map(|s| pb::CompanyStatus::from(s).into())
                        .collect(),
                    sectors: filter
                        .sectors
                        .unwrap_or_default()
                        .into_iter()
                        .map(|s| common_pb::Sector::from(s).into())
                        .collect(),
                    presences: filter
                        .presences
                        .unwrap_or_default()
                        .into_iter()
                        .map(|p| pb::GwangjuPresence::from(p).into())
                        .collect(),
                    text: filter.text,
                }),
                page_size: size,
                page_token: after.unwrap_or_default(),
                directory,
            },
        ))
        .await
        .map_err(from_status)?
        .into_inner();
    let nodes = response
        .companies
        .into_iter()
        .map(|c| (c.id.clone(), Company(c)))
        .collect();
    Ok(CompanyConnection::from_page(
        nodes,
        response.next_page_token,
        response.total_count,
    ))
}

#[derive(Default)]
pub struct OnboardingMutation;

impl OnboardingMutation {
    async fn transition(
        ctx: &Context<'_>,
        id: ID,
        action: pb::CompanyAction,
        note: Option<String>,
    ) -> Result<Company> {
        super::review_claims::ensure_not_held_by_another(ctx, &id).await?;
        let subject = id.0.clone();
        let response = call!(
            ctx,
            onboarding.transition_company(pb::TransitionCompanyRequest {
                id: id.0,
                action: action.into(),
                note,
            })
        )?;
        // Starting a review picks the company up; any other staff decision lets it go.
        if action == pb::CompanyAction::StartReview {
            super::review_claims::picked_up_by_caller(ctx, &subject).await;
        } else {
            super::review_claims::decided_by_caller(ctx, &subject).await;
        }
        company_of(response.company)
    }
}

#[Object]
impl OnboardingMutation {
    /// The signed-in person changes their own name, cluster user name and language.
    async fn update_me(&self, ctx: &Context<'_>, input: UpdateMeInput) -> Result<User> {
        let r = call!(
            ctx,
            onboarding.update_me(pb::UpdateMeRequest {
                name: input.name,
                cluster_user: input.cluster_user_name,
                language: input.language,
            })
        )?;
        r.user.map(User::from_pb).ok_or_else(unauthenticated)
    }

    /// The signed-in person changes their own password, giving the current one
    /// (BAD_USER_INPUT on `currentPassword` when it is wrong, on `newPassword` when it is too
    /// short). Every other sign-in of the person ends; the answer carries the caller's new
    /// tokens.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<AuthPayload> {
        let r = call!(
            ctx,
            onboarding.change_password(pb::ChangePasswordRequest {
                current_password,
                new_password,
            })
        )?;
        AuthPayload::from_pb(r.user, r.tokens)
    }

    /// Asks for a link to set a new password, e-mailed to `email` and usable once for 30
    /// minutes. Always `true`, whether an account has the address or not (RATE_LIMITED only
    /// when this client address asked too often).
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        call!(
            ctx,
            onboarding.request_password_reset(pb::RequestPasswordResetRequest { email })
        )?;
        Ok(true)
    }

    /// Sets a new password with the token of a mailed link: once, within 30 minutes, and not
    /// after a newer password was set. Every session of the account ends; the person then
    /// signs in. BAD_USER_INPUT on `token` for a link that cannot be used, on `newPassword` for
    /// a password too short or long.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Result<bool> {
        call!(
            ctx,
            onboarding.reset_password(pb::ResetPasswordRequest {
                token,
                new_password,
            })
        )?;
        Ok(true)
    }

    /// Accounts are limited per client address (`signUp` has a budget of its own).
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> Result<AuthPayload> {
        if let Some(charge) = ctx.data_opt::<crate::rate_limit::Charge>()
            && let Err(limited) = charge.sign_up().await
        {
            return Err(crate::errors::error(
                axv_platform::ErrorCode::RateLimited,
                format!(
                    "too many accounts were created from this address; retry after {} s",
                    limited.retry_after.as_secs()
                ),
            ));
        }
        let r = call!(
            ctx,
            onboarding.sign_up(pb::SignUpRequest {
                email: input.email,
                password: input.password,
                name: input.name,
            })
        )?;
        AuthPayload::from_pb(r.user, r.tokens)
    }

    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<AuthPayload> {
        let r = call!(ctx, onboarding.login(pb::LoginRequest { email, password }))?;
        AuthPayload::from_pb(r.user, r.tokens)
    }

    /// Rotates the refresh token; presenting an already-used one revokes its whole family.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        let r = call!(
            ctx,
            onboarding.refresh_token(pb::RefreshTokenRequest { refresh_token })
        )?;
        AuthPayload::from_pb(r.user, r.tokens)
    }

    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let (clients, rc) = parts(ctx)?;
        if rc.caller.is_none() {
            return Err(unauthenticated());
        }
        clients
            .onboarding
            .clone()
            .logout(request(&rc, pb::LogoutRequest {}))
            .await
            .map_err(from_status)?;
        Ok(true)
    }

    /// The caller becomes the company's first member.
    async fn create_company(&self, ctx: &Context<'_>, input: CompanyInput) -> Result<Company> {
        let response = call!(
            ctx,
            onboarding.create_company(pb::CreateCompanyRequest {
                input: Some(input.into()),
            })
        )?;
        company_of(response.company)
    }

    /// Only while the company is DRAFT or CHANGES_REQUESTED.
    async fn update_company(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CompanyInput,
    ) -> Result<Company> {
        let response = call!(
            ctx,
            onboarding.update_company(pb::UpdateCompanyRequest {
                id: id.0,
                input: Some(input.into()),
            })
        )?;
        company_of(response.company)
    }

    async fn submit_company(&self, ctx: &Context<'_>, id: ID) -> Result<Company> {
        Self::transition(ctx, id, pb::CompanyAction::Submit, None).await
    }

    async fn start_company_review(&self, ctx: &Context<'_>, id: ID) -> Result<Company> {
        Self::transition(ctx, id, pb::CompanyAction::StartReview, None).await
    }

    async fn approve_company(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: Option<String>,
    ) -> Result<Company> {
        Self::transition(ctx, id, pb::CompanyAction::Approve, note).await
    }

    async fn reject_company(&self, ctx: &Context<'_>, id: ID, note: String) -> Result<Company> {
        Self::transition(ctx, id, pb::CompanyAction::Reject, Some(note)).await
    }

    async fn request_company_changes(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: String,
    ) -> Result<Company> {
        Self::transition(ctx, id, pb::CompanyAction::RequestChanges, Some(note)).await
    }

    async fn suspend_company(&self, ctx: &Context<'_>, id: ID, note: String) -> Result<Company> {
        Self::transition(ctx, id, pb::CompanyAction::Suspend, Some(note)).await
    }

    async fn reinstate_company(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: Option<String>,
    ) -> Result<Company> {
        Self::transition(ctx, id, pb::CompanyAction::Reinstate, note).await
    }

    /// Adds an existing firm member's account to a company the caller belongs to.
    async fn add_company_member(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        email: String,
    ) -> Result<User> {
        let response = call!(
            ctx,
            onboarding.add_company_member(pb::AddCompanyMemberRequest {
                company_id: company_id.0,
                email,
            })
        )?;
        response.member.map(User::from_pb).ok_or_else(|| {
            crate::errors::error(axv_platform::ErrorCode::Internal, "missing member")
        })
    }
}
