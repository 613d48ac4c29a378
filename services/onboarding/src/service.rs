//! Onboarding's use cases: accounts, tokens, companies and their review. Decides who may do
//! what (with the rules in `domain`) and drives the store; knows nothing about protobuf.

use axv_platform::calendar::today_kst;
use std::{collections::HashSet, sync::Arc, time::Duration};

use axv_auth::{
    CLIENT_TOKEN_MAX_TTL, Caller, IssuedToken, RevocationList, Role, TokenIssuer,
    client_secret_matches, client_subject, subject_revocation_key,
};
use axv_platform::{audit::Actor, ids::is_valid_id, kv::RateLimiter};
use chrono::Utc;

use crate::{
    domain::{
        CompanyAction, CompanyDraft, CompanyInput, Email, Sector, View, api_client_role,
        authorize_api_client_admin, authorize_transition, company_view, normalize_note,
        validate_cluster_user, validate_language, validate_name, validate_password,
        validate_password_of,
    },
    error::OnboardingError,
    store::{
        ApiClientRecord, CompanyCounts, CompanyFilter, CompanyRecord, ListScope, NewRefreshToken,
        RefreshOutcome, StatusChangeRecord, Store, UserName, UserRecord,
    },
};

/// Failed logins allowed per email, and per client address, in one window.
/// Failures one address may make on one account before that pair is refused for the window.
pub const LOGIN_FAILURES_PER_EMAIL: i64 = 5;
/// Failures on one account from everywhere after which every further attempt on it is slowed
/// (never refused, so an attacker elsewhere cannot lock the owner out).
pub const LOGIN_FAILURES_BEFORE_DELAY: i64 = 5;
/// The longest a slowed attempt waits.
pub const LOGIN_MAX_DELAY: Duration = Duration::from_secs(8);
pub const LOGIN_FAILURES_PER_ADDRESS: i64 = 20;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

use axv_platform::pagination::PageRequest;
pub const MAX_BATCH: usize = 500;

mod password_reset;
mod staff;

pub use password_reset::IssuedReset;
pub use staff::StaffChange;

/// What a successful sign-in hands back.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: UserRecord,
    pub access: IssuedToken,
    pub refresh_token: String,
}

/// A company with what the caller may see of it.
#[derive(Debug, Clone)]
pub struct VisibleCompany {
    pub company: CompanyRecord,
    pub view: View,
    pub history: Vec<StatusChangeRecord>,
}

pub struct CompanyPage {
    pub companies: Vec<VisibleCompany>,
    /// Empty on the last page.
    pub next_page_token: String,
    pub total: i64,
}

#[derive(Clone)]
pub struct Onboarding {
    store: Store,
    issuer: Arc<TokenIssuer>,
    revocations: Arc<dyn RevocationList>,
    limiter: RateLimiter,
    refresh_ttl: Duration,
}

fn require(caller: Option<&Caller>) -> Result<&Caller, OnboardingError> {
    caller.ok_or_else(|| OnboardingError::Unauthenticated("authentication required".into()))
}

fn internal(error: impl std::fmt::Display) -> OnboardingError {
    OnboardingError::Internal(error.to_string())
}

/// Sign-ins fail closed when failures cannot be counted (Redis down): guessing must not get
/// cheaper during an outage. The caller is told to retry.
fn counting_unavailable(error: impl std::fmt::Display) -> OnboardingError {
    tracing::warn!(%error, "sign-in failures cannot be counted; sign-in refused");
    OnboardingError::Unavailable("sign-in is busy for a moment; try again shortly".into())
}

impl Onboarding {
    pub fn new(
        store: Store,
        issuer: Arc<TokenIssuer>,
        revocations: Arc<dyn RevocationList>,
        limiter: RateLimiter,
        refresh_ttl: Duration,
    ) -> Self {
        Self {
            store,
            issuer,
            revocations,
            limiter,
            refresh_ttl,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn refresh_expiry(&self) -> i64 {
        Utc::now().timestamp_millis()
            + i64::try_from(self.refresh_ttl.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// Issues an access token and a new refresh family for `user`.
    async fn start_session(&self, user: UserRecord) -> Result<Session, OnboardingError> {
        let companies = self.store.company_ids_of(&user.id).await?;
        let access = self
            .issuer
            .issue(&user.id, user.role, companies)
            .map_err(internal)?;
        let refresh = axv_auth::new_refresh_secret();
        let family_id = axv_platform::ids::new_id();
        self.store
            .insert_refresh_token(NewRefreshToken {
                family_id: &family_id,
                user_id: &user.id,
                token_hash: &refresh.hash,
                access_jti: &access.jti,
                expires_at: self.refresh_expiry(),
            })
            .await?;
        Ok(Session {
            user,
            access,
            refresh_token: refresh.token,
        })
    }

    /// Creates a firm member's account. Staff accounts are created by operators (`axv seed`).
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        name: &str,
    ) -> Result<Session, OnboardingError> {
        self.create_account(email, password, name, Role::FirmMember)
            .await
    }

    pub async fn create_account(
        &self,
        email: &str,
        password: &str,
        name: &str,
        role: Role,
    ) -> Result<Session, OnboardingError> {
        let email = Email::parse("email", email)?;
        validate_password(password)?;
        let name = validate_name("name", name, 100)?;
        let hash = hash_blocking(password.to_owned()).await?;
        let user = self
            .store
            .create_user(email.as_str(), &name, role, &hash, None)
            .await?;
        self.start_session(user).await
    }

    /// Checks the password. Failures are counted per (account, address) and per address, and a
    /// caller over either budget is refused before the password is even checked; so an attacker
    /// elsewhere exhausts only their own budgets, not the owner's. Failures on the account from
    /// everywhere slow every further attempt on it progressively instead (see
    /// [`login_delay`]).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client_address: &str,
    ) -> Result<Session, OnboardingError> {
        let email = Email::parse("email", email)?;
        let pair_key = format!("login:pair:{}:{client_address}", email.as_str());
        let account_key = format!("login:email:{}", email.as_str());
        let address_key = format!("login:addr:{client_address}");
        for (key, limit) in [
            (&pair_key, LOGIN_FAILURES_PER_EMAIL),
            (&address_key, LOGIN_FAILURES_PER_ADDRESS),
        ] {
            if let Some(wait) = self
                .limiter
                .is_exhausted(key, limit, LOGIN_WINDOW)
                .await
                .map_err(counting_unavailable)?
            {
                return Err(OnboardingError::RateLimited {
                    retry_after_secs: wait.as_secs().max(1),
                });
            }
        }
        let account_failures = self
            .limiter
            .used(&account_key, LOGIN_WINDOW)
            .await
            .map_err(counting_unavailable)?;
        if let Some(delay) = login_delay(account_failures) {
            tokio::time::sleep(delay).await;
        }
        let user = self.store.user_by_email(email.as_str()).await?;
        let ok = match &user {
            Some(user) => verify_blocking(password.to_owned(), user.password_hash.clone()).await?,
            None => {
                // Same work for unknown emails, so timing does not reveal which accounts exist.
                let _ = verify_blocking(password.to_owned(), dummy_hash()).await;
                false
            }
        };
        match user {
            Some(user) if ok => {
                self.limiter
                    .reset(&pair_key)
                    .await
                    .map_err(counting_unavailable)?;
                // Who it is is proven, but the account may not sign in; said only to someone
                // who knows the password.
                if user.deactivated_at.is_some() {
                    return Err(OnboardingError::Forbidden(
                        "this account was deactivated; ask an administrator".into(),
                    ));
                }
                self.start_session(user).await
            }
            _ => {
                for (key, limit) in [
                    (&pair_key, LOGIN_FAILURES_PER_EMAIL),
                    (&account_key, i64::MAX),
                    (&address_key, LOGIN_FAILURES_PER_ADDRESS),
                ] {
                    self.limiter
                        .hit(key, limit, LOGIN_WINDOW, 1)
                        .await
                        .map_err(counting_unavailable)?;
                }
                Err(OnboardingError::Unauthenticated(
                    "invalid email or password".into(),
                ))
            }
        }
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, OnboardingError> {
        let hash = axv_auth::hash_refresh_token(refresh_token);
        let issuer = self.issuer.clone();
        let expires_at = self.refresh_expiry();
        let outcome = self
            .store
            .rotate_refresh_token(&hash, |user, companies, _family| {
                let access = issuer
                    .issue(&user.id, user.role, companies)
                    .map_err(internal)?;
                let refresh = axv_auth::new_refresh_secret();
                let jti = access.jti.clone();
                Ok((
                    (user.clone(), access, refresh.token),
                    refresh.hash,
                    jti,
                    expires_at,
                ))
            })
            .await?;
        match outcome {
            RefreshOutcome::Rotated((user, access, refresh_token)) => Ok(Session {
                user,
                access,
                refresh_token,
            }),
            RefreshOutcome::Reused(access_jtis) => {
                tracing::warn!("refresh token reused; its family is revoked");
                // Whoever holds a copy may hold the family's access tokens too: they go now,
                // not when they expire.
                let expires_at = self.revoked_access_until();
                for jti in &access_jtis {
                    self.revocations
                        .revoke(jti, expires_at)
                        .await
                        .map_err(internal)?;
                }
                Err(OnboardingError::Unauthenticated(
                    "refresh token is no longer valid".into(),
                ))
            }
            RefreshOutcome::Expired | RefreshOutcome::Unknown => Err(
                OnboardingError::Unauthenticated("refresh token is no longer valid".into()),
            ),
        }
    }

    /// Tells the verifiers at once of access tokens a committed change already recorded as
    /// revoked. Never fails the change: what the cache does not take, the reseeder refills
    /// from the table.
    pub(crate) async fn tell_revocations(&self, token_ids: &[String], expires_at: i64) {
        for jti in token_ids {
            if let Err(error) = self.revocations.revoke(jti, expires_at).await {
                tracing::warn!(%error, "a recorded revocation was not passed on at once");
            }
        }
    }

    /// Until when a revoked access token must stay refused: an access token issued now
    /// expires then (unix secs).
    pub(crate) fn revoked_access_until(&self) -> i64 {
        chrono::Utc::now().timestamp().saturating_add(
            i64::try_from(self.issuer.access_ttl().as_secs()).unwrap_or(i64::MAX / 2),
        )
    }

    /// Ends the caller's session: its access token is refused from now on and its refresh
    /// family can no longer be used.
    pub async fn logout(&self, caller: Option<&Caller>) -> Result<(), OnboardingError> {
        let caller = require(caller)?;
        self.revocations
            .revoke(&caller.token_id, caller.expires_at)
            .await
            .map_err(internal)?;
        self.store.revoke_family_of_access(&caller.token_id).await
    }

    pub async fn me(
        &self,
        caller: Option<&Caller>,
    ) -> Result<(UserRecord, Vec<String>), OnboardingError> {
        let caller = require(caller)?;
        let user = self
            .store
            .user_by_id(&caller.subject)
            .await?
            .ok_or(OnboardingError::NotFound("user"))?;
        let companies = self.store.company_ids_of(&user.id).await?;
        Ok((user, companies))
    }

    /// A person changes their own name, cluster user name and language (empty clears those).
    pub async fn update_me(
        &self,
        caller: Option<&Caller>,
        name: Option<&str>,
        cluster_user: Option<&str>,
        language: Option<&str>,
    ) -> Result<UserRecord, OnboardingError> {
        let caller = require(caller)?;
        let current = self
            .store
            .user_by_id(&caller.subject)
            .await?
            .ok_or(OnboardingError::NotFound("user"))?;
        let name = match name {
            Some(name) => validate_name("name", name, 100)?,
            None => current.name.clone(),
        };
        let cluster_user = match cluster_user {
            Some(given) => validate_cluster_user(given)?,
            None => current.cluster_user.clone(),
        };
        let language = match language {
            Some(given) => validate_language(given)?,
            None => current.language.clone(),
        };
        self.store
            .update_user(
                &current.id,
                &name,
                cluster_user.as_deref(),
                language.as_deref(),
                &Actor::of(caller),
            )
            .await?;
        Ok(UserRecord {
            name,
            cluster_user,
            language,
            ..current
        })
    }

    /// A person changes their own password, proving they know the current one. Every other
    /// sign-in ends (a stolen session does not outlive the change); the caller carries on with
    /// a new session.
    pub async fn change_password(
        &self,
        caller: Option<&Caller>,
        current_password: &str,
        new_password: &str,
    ) -> Result<Session, OnboardingError> {
        let caller = require(caller)?;
        let user = self
            .store
            .user_by_id(&caller.subject)
            .await?
            .ok_or(OnboardingError::NotFound("user"))?;
        if !verify_blocking(current_password.to_owned(), user.password_hash.clone()).await? {
            return Err(OnboardingError::invalid(
                "currentPassword",
                "is not your current password",
            ));
        }
        validate_password_of("newPassword", new_password)?;
        let hash = hash_blocking(new_password.to_owned()).await?;
        let expires_at = self.revoked_access_until();
        let live = self
            .store
            .replace_password(&user.id, &hash, expires_at, &Actor::of(caller))
            .await?;
        // With the token this change came with, which is not one of the sessions the store ended.
        let mut ended = live;
        ended.push(caller.token_id.clone());
        self.tell_revocations(&ended, expires_at).await;
        self.start_session(UserRecord {
            password_hash: hash,
            ..user
        })
        .await
    }

    /// The names and roles behind account ids, for any signed-in caller; ids of no person are
    /// absent. E-mail addresses only where the caller may see them: staff see every one, others
    /// their own and the programme office's.
    pub async fn user_names(
        &self,
        caller: Option<&Caller>,
        ids: &[String],
    ) -> Result<Vec<(UserName, bool)>, OnboardingError> {
        let caller = require(caller)?;
        if ids.len() > MAX_BATCH {
            return Err(OnboardingError::invalid(
                "ids",
                format!("at most {MAX_BATCH} per call"),
            ));
        }
        let unique: Vec<String> = ids
            .iter()
            .filter(|id| is_valid_id(id))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        Ok(self
            .store
            .user_names(&unique)
            .await?
            .into_iter()
            .map(|user| {
                let email_shown =
                    caller.is_staff() || user.id == caller.subject || user.role.is_staff();
                (user, email_shown)
            })
            .collect())
    }

    /// Members' cluster user names per company, for the data center's sacctmgr export: staff
    /// and operators only (a firm reads its own members through `members`).
    pub async fn cluster_users(
        &self,
        caller: Option<&Caller>,
        company_ids: &[String],
    ) -> Result<Vec<(String, String)>, OnboardingError> {
        let caller = require(caller)?;
        if !(caller.is_staff() || caller.role == Role::Operator) {
            return Err(OnboardingError::Forbidden(
                "cluster user names are for the data center's operators and staff".into(),
            ));
        }
        self.store.cluster_users_of(company_ids).await
    }

    pub async fn create_company(
        &self,
        caller: Option<&Caller>,
        input: CompanyInput,
    ) -> Result<VisibleCompany, OnboardingError> {
        let caller = require(caller)?;
        if caller.role != Role::FirmMember && !caller.is_staff() {
            return Err(OnboardingError::Forbidden(
                "only firm members register companies".into(),
            ));
        }
        let draft = CompanyDraft::validate(input, today_kst())?;
        let company = self
            .store
            .create_company(&draft, &Actor::of(caller))
            .await?;
        self.with_history(company, View::Full).await
    }

    /// The company and how `caller` sees it, or NOT_FOUND when it may not see it at all.
    async fn visible(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<(CompanyRecord, View, bool), OnboardingError> {
        if !is_valid_id(id) {
            return Err(OnboardingError::NotFound("company"));
        }
        let company = self
            .store
            .company(id)
            .await?
            .ok_or(OnboardingError::NotFound("company"))?;
        let is_member = match caller {
            Some(c) if c.role == Role::FirmMember => self.store.is_member(id, &c.subject).await?,
            _ => false,
        };
        let view = company_view(caller, is_member, company.status)
            .ok_or(OnboardingError::NotFound("company"))?;
        Ok((company, view, is_member))
    }

    async fn with_history(
        &self,
        company: CompanyRecord,
        view: View,
    ) -> Result<VisibleCompany, OnboardingError> {
        let history = if view == View::Full {
            self.store
                .histories(std::slice::from_ref(&company.id))
                .await?
                .remove(&company.id)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(VisibleCompany {
            company,
            view,
            history,
        })
    }

    pub async fn update_company(
        &self,
        caller: Option<&Caller>,
        id: &str,
        input: CompanyInput,
    ) -> Result<VisibleCompany, OnboardingError> {
        let caller = require(caller)?;
        let (_, view, is_member) = self.visible(Some(caller), id).await?;
        if view != View::Full || !(is_member || caller.is_staff()) {
            return Err(OnboardingError::NotFound("company"));
        }
        let draft = CompanyDraft::validate(input, today_kst())?;
        let company = self
            .store
            .update_company(id, &draft, &Actor::of(caller))
            .await?;
        self.with_history(company, View::Full).await
    }

    pub async fn company(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<VisibleCompany, OnboardingError> {
        let (company, view, _) = self.visible(caller, id).await?;
        self.with_history(company, view).await
    }

    /// For DataLoaders: what the caller may see of each id, in one pass; others are omitted.
    pub async fn batch_get(
        &self,
        caller: Option<&Caller>,
        ids: &[String],
    ) -> Result<Vec<VisibleCompany>, OnboardingError> {
        if ids.len() > MAX_BATCH {
            return Err(OnboardingError::invalid(
                "ids",
                format!("at most {MAX_BATCH} per call"),
            ));
        }
        let unique: Vec<String> = ids
            .iter()
            .filter(|id| is_valid_id(id))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let companies = self.store.companies_by_ids(&unique).await?;
        let memberships: HashSet<String> = match caller {
            Some(c) if c.role == Role::FirmMember => self
                .store
                .company_ids_of(&c.subject)
                .await?
                .into_iter()
                .collect(),
            _ => HashSet::new(),
        };
        let visible: Vec<(CompanyRecord, View)> = companies
            .into_iter()
            .filter_map(|company| {
                let view = company_view(caller, memberships.contains(&company.id), company.status)?;
                Some((company, view))
            })
            .collect();
        let full_ids: Vec<String> = visible
            .iter()
            .filter(|(_, view)| *view == View::Full)
            .map(|(c, _)| c.id.clone())
            .collect();
        let mut histories = self.store.histories(&full_ids).await?;
        Ok(visible
            .into_iter()
            .map(|(company, view)| {
                let history = histories.remove(&company.id).unwrap_or_default();
                VisibleCompany {
                    company,
                    view,
                    history,
                }
            })
            .collect())
    }

    /// Each role's companies; with `directory`, every caller gets the public directory of
    /// APPROVED companies (a firm finding a partner by name), which anonymous callers always get.
    pub async fn list(
        &self,
        caller: Option<&Caller>,
        filter: CompanyFilter,
        page: &PageRequest,
        directory: bool,
    ) -> Result<CompanyPage, OnboardingError> {
        let (scope, view) = match caller.map(|c| c.role) {
            _ if directory => (ListScope::PublicOnly, View::Public),
            Some(Role::ProgramManager | Role::Admin) => (ListScope::All, View::Full),
            Some(Role::FirmMember) => {
                let subject = caller.map(|c| c.subject.clone()).unwrap_or_default();
                (ListScope::MemberOf(subject), View::Full)
            }
            Some(Role::Dashboard | Role::Operator) | None => (ListScope::PublicOnly, View::Public),
        };
        let (companies, total) = self
            .store
            .list_companies(&scope, &filter, page.after(), page.fetch_limit())
            .await?;
        let (companies, next_page_token) = page.finish(companies, |c| &c.id);
        let full_ids: Vec<String> = if view == View::Full {
            companies.iter().map(|c| c.id.clone()).collect()
        } else {
            Vec::new()
        };
        let mut histories = self.store.histories(&full_ids).await?;
        let companies = companies
            .into_iter()
            .map(|company| {
                let history = histories.remove(&company.id).unwrap_or_default();
                VisibleCompany {
                    company,
                    view,
                    history,
                }
            })
            .collect();
        Ok(CompanyPage {
            companies,
            next_page_token,
            total,
        })
    }

    /// Public headcounts: no company is named, so every caller may ask, anonymous included;
    /// counting named companies tells their status, so only staff may.
    pub async fn count(
        &self,
        caller: Option<&Caller>,
        sectors: &[Sector],
        company_ids: &[String],
    ) -> Result<CompanyCounts, OnboardingError> {
        if !company_ids.is_empty() && !caller.is_some_and(Caller::is_staff) {
            return Err(OnboardingError::Forbidden(
                "counting named companies is for programme staff".into(),
            ));
        }
        self.store.count_companies(sectors, company_ids).await
    }

    pub async fn transition(
        &self,
        caller: Option<&Caller>,
        id: &str,
        action: CompanyAction,
        note: Option<&str>,
    ) -> Result<VisibleCompany, OnboardingError> {
        let caller = require(caller)?;
        let (_, _, is_member) = self.visible(Some(caller), id).await?;
        authorize_transition(caller, is_member, action)?;
        let note = normalize_note(action, note)?;
        let company = self
            .store
            .transition(id, action, &Actor::of(caller), note.as_deref(), |_| Ok(()))
            .await?;
        self.with_history(company, View::Full).await
    }

    pub async fn add_member(
        &self,
        caller: Option<&Caller>,
        company_id: &str,
        email: &str,
    ) -> Result<UserRecord, OnboardingError> {
        let caller = require(caller)?;
        let (company, view, is_member) = self.visible(Some(caller), company_id).await?;
        if view != View::Full || !(is_member || caller.is_staff()) {
            return Err(OnboardingError::NotFound("company"));
        }
        // A suspended company's membership is frozen with it: nobody new joins until it is
        // reinstated.
        if company.status == crate::domain::CompanyStatus::Suspended {
            return Err(OnboardingError::Precondition(
                "the company is suspended: members can be added once it is reinstated".into(),
            ));
        }
        let email = Email::parse("email", email)?;
        let user = self
            .store
            .user_by_email(email.as_str())
            .await?
            .ok_or(OnboardingError::NotFound("account"))?;
        if user.role != Role::FirmMember {
            return Err(OnboardingError::invalid(
                "email",
                "only firm members' accounts can join a company",
            ));
        }
        self.store
            .add_member(company_id, &user.id, &Actor::of(caller))
            .await?;
        Ok(user)
    }

    pub async fn members(
        &self,
        caller: Option<&Caller>,
        company_id: &str,
    ) -> Result<Vec<UserRecord>, OnboardingError> {
        let caller = require(caller)?;
        let (_, view, is_member) = self.visible(Some(caller), company_id).await?;
        if view != View::Full || !(is_member || caller.is_staff()) {
            return Err(OnboardingError::NotFound("company"));
        }
        self.store.members_of(company_id).await
    }
}

/// The one answer to every refused token exchange: which part was wrong is not told.
const INVALID_CLIENT: &str = "invalid client credentials";
/// Longer secrets than this are refused unread (ours are 49 characters).
const MAX_CLIENT_SECRET_LEN: usize = 256;

/// API clients (OAuth 2.0 client credentials, RFC 6749 §4.4).
impl Onboarding {
    /// Registers a client; returns it and its secret, which is shown this once and stored only
    /// as a digest (see [`axv_auth::hash_client_secret`] for why a digest and not Argon2id).
    pub async fn register_api_client(
        &self,
        caller: Option<&Caller>,
        name: &str,
        role: Option<Role>,
    ) -> Result<(ApiClientRecord, String), OnboardingError> {
        let caller = require(caller)?;
        authorize_api_client_admin(caller)?;
        let name = validate_name("name", name, 100)?;
        let role = api_client_role(role)?;
        let secret = axv_auth::new_client_secret();
        let client = self
            .store
            .create_api_client(&name, role, &secret.hash, &Actor::of(caller))
            .await?;
        tracing::info!(client_id = %client.id, role = %role, by = %caller.subject, "API client registered");
        Ok((client, secret.secret))
    }

    pub async fn api_clients(
        &self,
        caller: Option<&Caller>,
    ) -> Result<Vec<ApiClientRecord>, OnboardingError> {
        authorize_api_client_admin(require(caller)?)?;
        self.store.api_clients().await
    }

    /// Revokes the client: its next exchange is refused (the store's guard), and so, at once, is
    /// every token it holds: its subject goes on the revocation list (Redis in a multi-replica
    /// deployment, so every service and gateway replica sees it) for as long as any token issued
    /// to a client can live. Revoking again re-asserts that entry, so a retry after a failed
    /// revocation-list write completes the revocation.
    pub async fn revoke_api_client(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<ApiClientRecord, OnboardingError> {
        let caller = require(caller)?;
        authorize_api_client_admin(caller)?;
        if !is_valid_id(id) {
            return Err(OnboardingError::NotFound("API client"));
        }
        let client = self.store.revoke_api_client(id, &Actor::of(caller)).await?;
        let until = Utc::now().timestamp()
            + i64::try_from(CLIENT_TOKEN_MAX_TTL.as_secs()).unwrap_or(i64::MAX / 2);
        self.revocations
            .revoke(&subject_revocation_key(&client_subject(&client.id)), until)
            .await
            .map_err(internal)?;
        tracing::info!(client_id = %id, by = %caller.subject, "API client revoked");
        Ok(client)
    }

    /// The client-credentials grant: a short-lived access token for a registered, unrevoked
    /// client presenting its secret. Every refusal is the same UNAUTHENTICATED.
    pub async fn exchange_client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<IssuedToken, OnboardingError> {
        let refused = || OnboardingError::Unauthenticated(INVALID_CLIENT.into());
        if !is_valid_id(client_id)
            || client_secret.is_empty()
            || client_secret.len() > MAX_CLIENT_SECRET_LEN
        {
            return Err(refused());
        }
        let Some((client, secret_hash)) = self.store.api_client_credentials(client_id).await?
        else {
            tracing::info!(client_id, "token exchange refused: unknown client");
            return Err(refused());
        };
        // Checked before looking at revocation, so a revoked client's secret costs the same.
        let secret_ok = client_secret_matches(client_secret, &secret_hash);
        if !secret_ok || client.revoked_at.is_some() {
            tracing::info!(
                client_id,
                "token exchange refused: wrong secret or revoked client"
            );
            return Err(refused());
        }
        // Guarded on `revoked_at`: a revocation that committed since the read above wins.
        if !self.store.touch_api_client(&client.id).await? {
            return Err(refused());
        }
        self.issuer
            .issue_with_max_ttl(
                &client_subject(&client.id),
                client.role,
                Vec::new(),
                CLIENT_TOKEN_MAX_TTL,
            )
            .map_err(internal)
    }
}

/// A real argon2id hash, verified against for unknown emails so they cost the same time.
fn dummy_hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| axv_auth::hash_password("no account has this password").unwrap_or_default())
        .clone()
}

// Argon2 is deliberately slow; keep it off the async worker threads.
/// How long an attempt on an account waits after `failures` failures on it from anywhere in
/// the window: nothing for the first few, then 0.25 s doubling per failure, at most
/// [`LOGIN_MAX_DELAY`]. It slows guessing across many addresses without locking anyone out.
pub fn login_delay(failures: i64) -> Option<Duration> {
    let over = failures.checked_sub(LOGIN_FAILURES_BEFORE_DELAY)?;
    if over < 0 {
        return None;
    }
    let millis = 250_u64.saturating_mul(1_u64 << over.min(16));
    Some(Duration::from_millis(millis).min(LOGIN_MAX_DELAY))
}

/// At most one Argon2id computation per core at once, whatever the number of people signing
/// in together: each takes 19 MiB, and a hundred at once on blocking threads grew the process
/// to a gigabyte the allocator kept. More at once would not finish sooner anyway.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores.clamp(1, 8))
    })
}

async fn hash_blocking(password: String) -> Result<String, OnboardingError> {
    let _slot = hashing_slots().acquire().await.map_err(internal)?;
    tokio::task::spawn_blocking(move || axv_auth::hash_password(&password))
        .await
        .map_err(internal)?
        .map_err(internal)
}

async fn verify_blocking(password: String, hash: String) -> Result<bool, OnboardingError> {
    let _slot = hashing_slots().acquire().await.map_err(internal)?;
    tokio::task::spawn_blocking(move || axv_auth::verify_password(&password, &hash))
        .await
        .map_err(internal)
}

#[cfg(test)]
mod login_delay_tests {
    use super::*;

    #[test]
    fn delays_start_after_a_few_failures_double_and_cap() {
        assert_eq!(login_delay(0), None);
        assert_eq!(login_delay(LOGIN_FAILURES_BEFORE_DELAY - 1), None);
        assert_eq!(
            login_delay(LOGIN_FAILURES_BEFORE_DELAY),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            login_delay(LOGIN_FAILURES_BEFORE_DELAY + 2),
            Some(Duration::from_millis(1000))
        );
        assert_eq!(login_delay(1_000), Some(LOGIN_MAX_DELAY));
        assert_eq!(login_delay(i64::MAX), Some(LOGIN_MAX_DELAY));
    }
}
