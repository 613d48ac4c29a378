//! The use cases: filing each event's messages for the people concerned, and each person's
//! inbox.

use std::{collections::BTreeMap, sync::Arc};

use axv_auth::{Caller, Role, TokenIssuer};
use axv_platform::{
    events::Event,
    ids::{is_valid_id, new_id},
    pagination::PageRequest,
};
use axv_proto::onboarding::v1::{
    self as onboarding, onboarding_service_client::OnboardingServiceClient,
};
use tonic::transport::Channel;

use crate::{
    domain::{self, Audience, Lang, Names},
    error::NotifyError,
    store::{NewMail, NewNotification, NotificationRecord, Store},
};

/// A person to tell, as onboarding knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub lang: Lang,
}

#[derive(Clone)]
pub struct Notify {
    store: Store,
    onboarding: OnboardingServiceClient<Channel>,
    issuer: Arc<TokenIssuer>,
    /// The console's address for links in e-mail (`https://axv.gwangju.go.kr`), if known.
    public_url: Option<String>,
    /// Wakes the e-mail sender when new mail is filed.
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

fn require(caller: Option<&Caller>) -> Result<&Caller, NotifyError> {
    caller.ok_or_else(|| NotifyError::Unauthenticated("authentication required".into()))
}

/// Machines (dashboards, operators' upload jobs) have no inbox.
fn person(caller: Option<&Caller>) -> Result<&Caller, NotifyError> {
    let caller = require(caller)?;
    if caller.role == Role::Dashboard || !is_valid_id(&caller.subject) {
        return Err(NotifyError::Forbidden(
            "notifications are for people's accounts".into(),
        ));
    }
    Ok(caller)
}

impl Notify {
    pub fn new(
        store: Store,
        onboarding: OnboardingServiceClient<Channel>,
        issuer: Arc<TokenIssuer>,
        public_url: Option<String>,
    ) -> Self {
        Self {
            store,
            onboarding,
            issuer,
            public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
            wake: Arc::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn service_token(&self) -> Result<String, NotifyError> {
        axv_platform::error::service_token(&self.issuer, crate::NAME)
    }

    /// The caller's inbox, newest first; with the count of unread messages.
    pub async fn inbox(
        &self,
        caller: Option<&Caller>,
        page: &PageRequest,
        unread_only: bool,
    ) -> Result<(Vec<NotificationRecord>, String, i64, i64), NotifyError> {
        let caller = person(caller)?;
        let (rows, total, unread) = self
            .store
            .inbox(
                &caller.subject,
                unread_only,
                page.after(),
                page.fetch_limit(),
            )
            .await?;
        let (rows, next) = page.finish(rows, |n| n.id.as_str());
        Ok((rows, next, total, unread))
    }

    /// Marks the caller's own notifications read (`ids`, or all); answers the unread count.
    pub async fn mark_read(
        &self,
        caller: Option<&Caller>,
        ids: &[String],
        all: bool,
    ) -> Result<i64, NotifyError> {
        let caller = person(caller)?;
        if ids.len() > axv_platform::pagination::MAX_PAGE_SIZE {
            return Err(NotifyError::invalid("ids", "must be at most 100 at a time"));
        }
        let ids: Vec<String> = ids.iter().filter(|id| is_valid_id(id)).cloned().collect();
        self.store
            .mark_read(&caller.subject, (!all).then_some(ids.as_slice()))
            .await
    }

    /// Files `event`'s messages for everyone it concerns, once. `Err` means "try again later"
    /// (onboarding did not answer); nothing is filed then.
    pub async fn handle(&self, event: &Event) -> Result<(), NotifyError> {
        let Some(audience) = domain::audience(event) else {
            return Ok(());
        };
        // History (the demo's seeded past): acted on, nobody told.
        if self
            .store
            .quiet_before()
            .await?
            .is_some_and(|before| event.occurred_at_ms < before)
        {
            self.store.record_event(&event.id, &event.kind, &[]).await?;
            return Ok(());
        }
        let token = self.service_token()?;
        let recipients = self.recipients(&token, &audience).await?;
        let company = match domain::company_of(event) {
            Some(id) => self.company_names(&token, &id).await?,
            None => (String::new(), None),
        };
        let item = domain::item_of(event);
        let notifications: Vec<NewNotification> = recipients
            .iter()
            .filter_map(|r| {
                let names = Names {
                    company: match (r.lang, &company.1) {
                        (Lang::En, Some(en)) => en.clone(),
                        _ => company.0.clone(),
                    },
                    item: item.clone(),
                };
                let message = domain::message(event, r.lang, &names)?;
                let url = format!(
                    "{}{}",
                    self.public_url.as_deref().unwrap_or(""),
                    message.link
                );
                let site = match r.lang {
                    Lang::Ko => "AX 실증밸리",
                    Lang::En => "AX Valley",
                };
                let mail = (!r.email.is_empty()).then(|| NewMail {
                    to_address: r.email.clone(),
                    to_name: r.name.clone(),
                    subject: format!("[{site}] {}", message.title),
                    text_body: domain::mail_text(&message, &url, r.lang),
                    html_body: domain::mail_html(&message, &url, r.lang),
                });
                Some(NewNotification {
                    id: new_id(),
                    user_id: r.user_id.clone(),
                    kind: event.kind.clone(),
                    subject_id: event.subject_id.clone(),
                    title: message.title,
                    body: message.body,
                    link: message.link,
                    mail,
                })
            })
            .collect();
        if self
            .store
            .record_event(&event.id, &event.kind, &notifications)
            .await?
        {
            tracing::info!(event = %event.id, kind = %event.kind, people = notifications.len(), "notified");
            self.wake.notify_one();
        }
        Ok(())
    }

    /// The people an audience is, each once.
    async fn recipients(
        &self,
        token: &str,
        audience: &Audience,
    ) -> Result<Vec<Recipient>, NotifyError> {
        let mut people: BTreeMap<String, Recipient> = BTreeMap::new();
        let mut add = |user: onboarding::User| {
            people.insert(
                user.id.clone(),
                Recipient {
                    user_id: user.id,
                    email: user.email,
                    name: user.name,
                    lang: Lang::of(user.language.as_deref()),
                },
            );
        };
        match audience {
            Audience::Members(companies) => {
                for company_id in companies {
                    let members = self
                        .onboarding
                        .clone()
                        .list_company_members(NotifyError::request(
                            Some(token),
                            onboarding::ListCompanyMembersRequest {
                                company_id: company_id.clone(),
                            },
                        )?)
                        .await
                        .map_err(NotifyError::upstream("company"));
                    match members {
                        Ok(answer) => answer.into_inner().members.into_iter().for_each(&mut add),
                        // A company that is gone has nobody left to tell; the others still hear.
                        Err(NotifyError::NotFound(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
            }
            Audience::Managers => {
                let staff = self
                    .onboarding
                    .clone()
                    .list_staff(NotifyError::request(
                        Some(token),
                        onboarding::ListStaffRequest {},
                    )?)
                    .await
                    .map_err(NotifyError::upstream("staff"))?
                    .into_inner()
                    .users;
                staff
                    .into_iter()
                    .filter(|u| {
                        u.role() == onboarding::Role::ProgramManager
                            && u.deactivated_at_ms.is_none()
                    })
                    .for_each(&mut add);
            }
        }
        Ok(people.into_values().collect())
    }

    /// A company's Korean and English names.
    async fn company_names(
        &self,
        token: &str,
        company_id: &str,
    ) -> Result<(String, Option<String>), NotifyError> {
        let companies = self
            .onboarding
            .clone()
            .batch_get_companies(NotifyError::request(
                Some(token),
                onboarding::BatchGetCompaniesRequest {
                    ids: vec![company_id.to_owned()],
                },
            )?)
            .await
            .map_err(NotifyError::upstream("company"))?
            .into_inner()
            .companies;
        Ok(companies
            .into_iter()
            .next()
            .map(|c| (c.name_ko, c.name_en))
            .unwrap_or_default())
    }
}
