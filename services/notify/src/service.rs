//! The use cases: filing each event's messages for the people concerned, and each person's
//! inbox.

use std::{collections::BTreeMap, sync::Arc};

use axv_auth::{Caller, Role, TokenIssuer};
use axv_platform::{
    events::Event,
    ids::{is_valid_id, new_id},
    pagination::PageRequest,
};
use axv_proto::{
    onboarding::v1::{self as onboarding, onboarding_service_client::OnboardingServiceClient},
    outcomes::v1::{self as outcomes, outcomes_service_client::OutcomesServiceClient},
    vouchers::v1::{self as vouchers, vouchers_service_client::VouchersServiceClient},
};
use tonic::transport::Channel;

use crate::{
    domain::{self, Audience, Category, Delivery, Lang, MailLinks, Names},
    error::NotifyError,
    reminders,
    store::{Addressee, MailDelivery, NewMail, NewNotification, NotificationRecord, Store},
};

/// The services notify calls.
pub struct Upstreams {
    pub onboarding: Channel,
    pub outcomes: Channel,
    pub vouchers: Channel,
}

/// How a person hears of one category by e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preference {
    pub category: Category,
    pub delivery: Delivery,
}

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
    /// Where reminders learn of reports owed and vouchers about to expire.
    outcomes: OutcomesServiceClient<Channel>,
    vouchers: VouchersServiceClient<Channel>,
    issuer: Arc<TokenIssuer>,
    /// The console's address for links in e-mail (`https://axv.gwangju.go.kr`), if known.
    public_url: Option<String>,
    /// Wakes the e-mail sender when new mail is filed.
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

/// The category a digest's e-mail is filed under: its unsubscribe turns off every category
/// gathered in digests.
const DIGEST: &str = "*";
/// The category of security messages (a password reset's link): never turned off, no
/// unsubscribe link.
const SECURITY: &str = "security";
/// The console's page where a person chooses how they hear of each category.
pub const SETTINGS_PATH: &str = "/account/notifications";

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
        upstreams: Upstreams,
        issuer: Arc<TokenIssuer>,
        public_url: Option<String>,
    ) -> Self {
        Self {
            store,
            onboarding: OnboardingServiceClient::new(upstreams.onboarding),
            outcomes: OutcomesServiceClient::new(upstreams.outcomes),
            vouchers: VouchersServiceClient::new(upstreams.vouchers),
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

    /// The caller's choice for each category their role hears of (the default where they
    /// chose nothing).
    pub async fn preferences(
        &self,
        caller: Option<&Caller>,
    ) -> Result<Vec<Preference>, NotifyError> {
        let caller = person(caller)?;
        let chosen = self.store.preferences(&caller.subject).await?;
        Ok(Category::for_role(caller.role)
            .iter()
            .map(|category| Preference {
                category: *category,
                delivery: chosen.get(category.as_str()).copied().unwrap_or_default(),
            })
            .collect())
    }

    /// Records the caller's choices, (category, delivery) by name, all or none; answers every
    /// preference after it. A category the caller's role does not hear of is refused.
    pub async fn set_preferences(
        &self,
        caller: Option<&Caller>,
        choices: &[(String, String)],
    ) -> Result<Vec<Preference>, NotifyError> {
        let person = person(caller)?;
        let allowed = Category::for_role(person.role);
        let mut parsed = Vec::with_capacity(choices.len());
        for (category, delivery) in choices {
            let category = Category::parse(category)
                .filter(|c| allowed.contains(c))
                .ok_or_else(|| {
                    NotifyError::invalid(
                        "category",
                        format!("{category:?} is not a category of notifications you receive"),
                    )
                })?;
            let delivery = Delivery::from_name(delivery).ok_or_else(|| {
                NotifyError::invalid(
                    "delivery",
                    format!("{delivery:?} must be immediate, digest or off"),
                )
            })?;
            parsed.push((category.as_str().to_owned(), delivery));
        }
        self.store.set_preferences(&person.subject, &parsed).await?;
        self.preferences(caller).await
    }

    /// One-click unsubscribe (RFC 8058), with the token an e-mail's link carries: turns off
    /// that e-mail's category (a digest's: every category gathered in digests). Needs no
    /// sign-in: the token is the proof. Answers the categories turned off.
    pub async fn unsubscribe(&self, token: &str) -> Result<Vec<Category>, NotifyError> {
        let unknown = || NotifyError::NotFound("unsubscribe link");
        if !axv_auth::is_well_formed_secret(token) {
            return Err(unknown());
        }
        let (user_id, category) = self
            .store
            .unsubscribe_target(&axv_auth::hash_refresh_token(token))
            .await?
            .ok_or_else(unknown)?;
        let categories: Vec<Category> = if category == DIGEST {
            let chosen = self.store.preferences(&user_id).await?;
            Category::ALL
                .into_iter()
                .filter(|c| chosen.get(c.as_str()) == Some(&Delivery::Digest))
                .collect()
        } else {
            Category::parse(&category).into_iter().collect()
        };
        let off: Vec<(String, Delivery)> = categories
            .iter()
            .map(|c| (c.as_str().to_owned(), Delivery::Off))
            .collect();
        self.store.set_preferences(&user_id, &off).await?;
        tracing::info!(user = %user_id, category = %category, "unsubscribed");
        Ok(categories)
    }

    /// Files each person's daily digest of what waits from before the latest digest moment
    /// at `now_ms` (08:00 in Korea): each message in one digest only, whatever the replicas.
    /// Answers how many digests were filed.
    pub async fn send_digests(&self, now_ms: i64) -> Result<usize, NotifyError> {
        let cutoff = domain::digest_cutoff(now_ms);
        let mut filed = 0;
        for user_id in self.store.digest_due(cutoff).await? {
            // One person's failure (a busy database) leaves the others' digests to go out.
            match self
                .store
                .file_digest(&user_id, cutoff, |entries| {
                    self.compose_digest(&user_id, entries)
                })
                .await
            {
                Ok(true) => filed += 1,
                Ok(false) => {}
                Err(error) => tracing::warn!(user = %user_id, %error, "digest not filed"),
            }
        }
        if filed > 0 {
            tracing::info!(digests = filed, "daily digests filed");
            self.wake.notify_one();
        }
        Ok(filed)
    }

    fn compose_digest(&self, user_id: &str, entries: &[crate::store::DigestEntry]) -> NewMail {
        // The latest address and language the person had when a message was filed.
        let last = entries.last();
        let lang = Lang::of(last.map(|e| e.lang.as_str()));
        let messages: Vec<(domain::Message, String)> = entries
            .iter()
            .map(|e| {
                let message = domain::Message {
                    title: e.title.clone(),
                    body: e.body.clone(),
                    link: e.link.clone(),
                };
                let url = self.url(&e.link);
                (message, url)
            })
            .collect();
        let unsubscribe = self.unsubscribe_link();
        let links = self.links(unsubscribe.as_ref());
        NewMail {
            to_address: last.map(|e| e.to_address.clone()).unwrap_or_default(),
            to_name: last.map(|e| e.to_name.clone()).unwrap_or_default(),
            subject: domain::digest_subject(entries.len(), lang),
            text_body: domain::digest_text(&messages, &links, lang),
            html_body: domain::digest_html(&messages, &links, lang),
            user_id: user_id.to_owned(),
            category: DIGEST.to_owned(),
            unsubscribe,
            discard_after: None,
        }
    }

    /// A console path as a link in e-mail.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.as_deref().unwrap_or(""))
    }

    /// A new one-click unsubscribe link: (the token's digest to store, the link), when the
    /// console's address is known (a relative link in e-mail leads nowhere).
    fn unsubscribe_link(&self) -> Option<(String, String)> {
        let public = self.public_url.as_deref()?;
        let secret = axv_auth::new_refresh_secret();
        Some((
            secret.hash,
            format!("{public}/unsubscribe/{}", secret.token),
        ))
    }

    fn links(&self, unsubscribe: Option<&(String, String)>) -> MailLinks {
        MailLinks {
            settings: self.url(SETTINGS_PATH),
            unsubscribe: unsubscribe.map(|(_, url)| url.clone()),
        }
    }

    /// Tells of the reminders due on `today` (Korea's date) that were not told yet: reports
    /// coming due or overdue, vouchers about to expire (see [`crate::reminders`]). What one
    /// upstream answers is told even when the other fails; a reminder not filed now (onboarding
    /// did not answer) stops the run with `Err`, to be tried again soon. Answers how many were
    /// told.
    pub async fn send_reminders(&self, today: chrono::NaiveDate) -> Result<usize, NotifyError> {
        let token = self.service_token()?;
        let owed = self.owed_reports(&token).await.unwrap_or_else(|error| {
            tracing::warn!(%error, "reports owed not read: no report reminders this run");
            Vec::new()
        });
        let live = self.live_vouchers(&token).await.unwrap_or_else(|error| {
            tracing::warn!(%error, "vouchers not read: no voucher reminders this run");
            Vec::new()
        });
        let mut told = 0;
        for event in reminders::due(today, &owed, &live) {
            if self.store.is_handled(&event.id).await? {
                continue;
            }
            if self.handle(&event).await? {
                told += 1;
            }
        }
        if told > 0 {
            tracing::info!(reminders = told, "reminders told");
        }
        Ok(told)
    }

    /// The reports ACTIVE pilots owe (every company's: the service token is staff's).
    async fn owed_reports(&self, token: &str) -> Result<Vec<reminders::OwedReport>, NotifyError> {
        let reports = self
            .outcomes
            .clone()
            .list_due_reports(NotifyError::request(
                Some(token),
                outcomes::ListDueReportsRequest {
                    overdue_only: false,
                },
            )?)
            .await
            .map_err(NotifyError::upstream("due reports"))?
            .into_inner()
            .reports;
        Ok(reports
            .into_iter()
            .filter_map(|r| match r.period_end.parse() {
                Ok(period_end) => Some(reminders::OwedReport {
                    period_end,
                    pilot_id: r.pilot_id,
                    company_id: r.company_id,
                    pilot_title: r.pilot_title,
                }),
                Err(_) => {
                    tracing::warn!(pilot = %r.pilot_id, end = %r.period_end, "a period's end is no date");
                    None
                }
            })
            .collect())
    }

    /// Every ACTIVE voucher, page by page.
    async fn live_vouchers(&self, token: &str) -> Result<Vec<reminders::LiveVoucher>, NotifyError> {
        let mut live = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .vouchers
                .clone()
                .list_vouchers(NotifyError::request(
                    Some(token),
                    vouchers::ListVouchersRequest {
                        filter: Some(vouchers::VoucherFilter {
                            statuses: vec![vouchers::VoucherStatus::Active.into()],
                            ..Default::default()
                        }),
                        page_size: 100,
                        page_token: page_token.clone(),
                    },
                )?)
                .await
                .map_err(NotifyError::upstream("vouchers"))?
                .into_inner();
            live.extend(page.vouchers.into_iter().filter_map(|v| {
                match v.valid_until.parse() {
                    Ok(valid_until) => Some(reminders::LiveVoucher {
                        valid_until,
                        voucher_id: v.id,
                        company_id: v.company_id,
                        code: v.code,
                    }),
                    Err(_) => {
                        tracing::warn!(voucher = %v.id, until = %v.valid_until, "a voucher's last day is no date");
                        None
                    }
                }
            }));
            if page.next_page_token.is_empty() {
                return Ok(live);
            }
            page_token = page.next_page_token;
        }
    }

    /// Files `event`'s messages for everyone it concerns, once: `true` when this call filed
    /// them (not a redelivery, nor another replica first). `Err` means "try again later"
    /// (onboarding did not answer); nothing is filed then.
    pub async fn handle(&self, event: &Event) -> Result<bool, NotifyError> {
        if event.kind == domain::PASSWORD_RESET_REQUESTED {
            self.mail_password_reset(event).await?;
            return Ok(false);
        }
        let Some(audience) = domain::audience(event) else {
            return Ok(false);
        };
        // History (the demo's seeded past): acted on, nobody told.
        if self
            .store
            .quiet_before()
            .await?
            .is_some_and(|before| event.occurred_at_ms < before)
        {
            self.store.record_event(&event.id, &event.kind, &[]).await?;
            return Ok(false);
        }
        let token = self.service_token()?;
        let recipients = self.recipients(&token, &audience).await?;
        let company = match domain::company_of(event) {
            Some(id) => self.company_names(&token, &id).await?,
            None => (String::new(), None),
        };
        let item = domain::item_of(event);
        let category = domain::category_of(&event.kind);
        let user_ids: Vec<String> = recipients.iter().map(|r| r.user_id.clone()).collect();
        let choices = match category {
            Some(category) => self.store.deliveries(category.as_str(), &user_ids).await?,
            None => Default::default(),
        };
        let notifications: Vec<NewNotification> = recipients
            .iter()
            .filter_map(|r| {
                let names = Names {
                    company: match (r.lang, &company.1) {
                        (Lang::En, Some(en)) => en.clone(),
                        _ => company.0.clone(),
                    },
                    item: item.clone(),
                    when: domain::when_of(event, r.lang),
                };
                let message = domain::message(event, r.lang, &names)?;
                let choice = choices.get(&r.user_id).copied().unwrap_or_default();
                let delivery = match (r.email.is_empty(), choice) {
                    (true, _) | (false, Delivery::Off) => MailDelivery::None,
                    (false, Delivery::Digest) => MailDelivery::Digest(Addressee {
                        category: category.map(|c| c.as_str()).unwrap_or_default().to_owned(),
                        address: r.email.clone(),
                        name: r.name.clone(),
                        lang: r.lang.as_str().to_owned(),
                    }),
                    (false, Delivery::Immediate) => {
                        let url = self.url(&message.link);
                        let unsubscribe = self.unsubscribe_link();
                        let links = self.links(unsubscribe.as_ref());
                        MailDelivery::Now(NewMail {
                            to_address: r.email.clone(),
                            to_name: r.name.clone(),
                            subject: format!("[{}] {}", domain::site(r.lang), message.title),
                            text_body: domain::mail_text(&message, &url, &links, r.lang),
                            html_body: domain::mail_html(&message, &url, &links, r.lang),
                            user_id: r.user_id.clone(),
                            category: category.map(|c| c.as_str()).unwrap_or_default().to_owned(),
                            unsubscribe,
                            discard_after: None,
                        })
                    }
                };
                Some(NewNotification {
                    id: new_id(),
                    user_id: r.user_id.clone(),
                    kind: event.kind.clone(),
                    subject_id: event.subject_id.clone(),
                    title: message.title,
                    body: message.body,
                    link: message.link,
                    delivery,
                })
            })
            .collect();
        let filed = self
            .store
            .record_event(&event.id, &event.kind, &notifications)
            .await?;
        if filed {
            tracing::info!(event = %event.id, kind = %event.kind, people = notifications.len(), "notified");
            self.wake.notify_one();
        }
        Ok(filed)
    }

    /// Mails the link of a password reset requested (the event's subject is the request):
    /// its token comes from onboarding, which issues one per request only, so a redelivered
    /// event (or a second replica) gets NOT_FOUND and sends nothing. The e-mail is not sent
    /// after the link expires, and its body is blanked once sent.
    async fn mail_password_reset(&self, event: &Event) -> Result<(), NotifyError> {
        if self.store.is_handled(&event.id).await? {
            return Ok(());
        }
        let token = self.service_token()?;
        let issued = self
            .onboarding
            .clone()
            .issue_password_reset(NotifyError::request(
                Some(&token),
                onboarding::IssuePasswordResetRequest {
                    request_id: event.subject_id.clone(),
                },
            )?)
            .await
            .map_err(NotifyError::upstream("password reset"));
        let issued = match issued {
            Ok(answer) => answer.into_inner(),
            Err(NotifyError::NotFound(_)) => {
                self.store
                    .record_event_mail(&event.id, &event.kind, None)
                    .await?;
                return Ok(());
            }
            Err(other) => return Err(other),
        };
        let lang = Lang::of(issued.language.as_deref());
        let url = self.url(&format!("/password/reset/{}", issued.token));
        // Rounded up: a link issued a moment ago for 30 minutes says 30.
        let minutes =
            ((issued.expires_at_ms - axv_platform::ids::now_ms()).max(0) + 59_999) / 60_000;
        let (subject, text_body, html_body) =
            domain::password_reset_mail(&issued.name, &url, minutes.max(1), lang);
        let mail = NewMail {
            to_address: issued.email,
            to_name: issued.name,
            subject,
            text_body,
            html_body,
            user_id: String::new(),
            category: SECURITY.to_owned(),
            unsubscribe: None,
            discard_after: Some(issued.expires_at_ms),
        };
        if self
            .store
            .record_event_mail(&event.id, &event.kind, Some(&mail))
            .await?
        {
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
