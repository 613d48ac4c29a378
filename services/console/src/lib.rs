//! `axv-console`: the platform's face for people. Server-rendered pages (askama, with htmx for
//! partial updates; every form also works as a plain POST without JavaScript), in Korean first
//! and English, styled with the KRDS component kit and the Pretendard GOV font, all embedded in
//! the binary. It is one more client of the gateway's public GraphQL contract (`api`), calling
//! it with the signed-in person's own token, so it has no rules of its own to drift.
//!
//! - `assets`: embedded static files under content-hashed names.
//! - `i18n`: Fluent messages and the person's language; `format`: numbers, won and hours.
//! - `session`: server-side sessions, CSRF; `api`: typed GraphQL operations.
//! - `charts`: SVG charts with their tables; `pages/*`: one module per part of the site.

pub mod api;
pub mod assets;
pub mod charts;
pub mod exports;
pub mod format;
pub mod i18n;
pub mod pages;
pub mod session;

use std::{net::SocketAddr, sync::Arc};

use askama::Template;
use axum::{
    Router,
    extract::{ConnectInfo, DefaultBodyLimit, FromRef, FromRequestParts},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use axv_platform::kv::SharedKv;

use crate::{
    api::{Api, ApiError},
    assets::Assets,
    i18n::Lang,
    pages::review,
    session::{Session, Sessions},
};

/// What the console needs: where the gateway's GraphQL is, where sessions live, and whether
/// people reach it over TLS.
#[derive(Clone)]
pub struct Console {
    pub api: Api,
    /// The largest document the platform takes (the documents service's limit), said beside
    /// upload fields.
    pub max_upload_bytes: u64,
    pub sessions: Sessions,
    pub assets: Arc<Assets>,
    /// The header's unread counts, reused for a while rather than asked on every page.
    pub unread: pages::inbox::UnreadCounts,
}

impl Console {
    /// `graphql_url`: the gateway's endpoint; `secure`: people reach the console over TLS;
    /// `relay_key`: the gateway's key for the console relaying its visitors' addresses.
    pub fn new(
        graphql_url: impl Into<String>,
        kv: SharedKv,
        secure: bool,
        relay_key: Option<String>,
    ) -> Self {
        Self {
            api: Api::new(graphql_url, relay_key),
            max_upload_bytes: 25 * 1024 * 1024,
            sessions: Sessions::new(kv, secure),
            assets: Assets::load(),
            unread: pages::inbox::UnreadCounts::default(),
        }
    }

    /// With the platform's document size limit (`AXV_DOCUMENT_MAX_MB`).
    pub fn with_max_upload(mut self, bytes: u64) -> Self {
        self.max_upload_bytes = bytes;
        self
    }
}

impl FromRef<Console> for Arc<Assets> {
    fn from_ref(console: &Console) -> Self {
        console.assets.clone()
    }
}

pub fn router(console: Console) -> Router {
    // A document form is its file and a few small fields.
    let upload_form_limit = usize::try_from(console.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    Router::new()
        .route("/", get(pages::home::page))
        .route("/how-to-take-part", get(pages::home::how_to))
        .route("/pilots", get(pages::pilots::registry))
        .route("/pilots/{id}", get(pages::pilots::pilot))
        .route(
            "/signup",
            get(pages::account::signup_form).post(pages::account::signup),
        )
        .route(
            "/login",
            get(pages::account::login_form).post(pages::account::login),
        )
        .route("/logout", post(pages::account::logout))
        .route(
            "/account",
            get(pages::account::account).post(pages::account::update_account),
        )
        .route(
            "/companies",
            get(pages::companies::list).post(pages::companies::create),
        )
        .route("/companies/new", get(pages::companies::new_form))
        .route(
            "/companies/check-business-number",
            post(pages::companies::check_business_number),
        )
        .route("/companies/{id}", get(pages::companies::detail))
        .route(
            "/companies/{id}/edit",
            get(pages::companies::edit_form).post(pages::companies::update),
        )
        .route("/companies/{id}/submit", post(pages::companies::submit))
        .route(
            "/companies/{id}/members",
            post(pages::companies::add_member),
        )
        .route("/vouchers", get(pages::vouchers::list))
        .route(
            "/vouchers/apply",
            get(pages::vouchers::apply_form).post(pages::vouchers::apply),
        )
        .route("/vouchers/{id}", get(pages::vouchers::detail))
        .route(
            "/vouchers/applications/{id}",
            get(pages::vouchers::application),
        )
        .route(
            "/vouchers/{id}/ledger.csv",
            get(pages::vouchers::ledger_csv),
        )
        .route(
            "/my-pilots",
            get(pages::my_pilots::list).post(pages::my_pilots::create),
        )
        .route("/my-pilots/new", get(pages::my_pilots::new_form))
        .route("/my-pilots/{id}", get(pages::my_pilots::detail))
        .route(
            "/my-pilots/{id}/edit",
            get(pages::my_pilots::edit_form).post(pages::my_pilots::update),
        )
        .route("/my-pilots/{id}/submit", post(pages::my_pilots::submit))
        .route("/my-pilots/{id}/start", post(pages::my_pilots::start))
        .route("/my-pilots/{id}/partners", get(pages::my_pilots::partners))
        .route(
            "/my-pilots/{id}/participants",
            post(pages::my_pilots::invite),
        )
        .route("/my-pilots/{id}/invitation", post(pages::my_pilots::answer))
        .route(
            "/my-pilots/{id}/milestones",
            post(pages::my_pilots::add_milestone),
        )
        .route(
            "/my-pilots/{id}/milestones/{milestone}/complete",
            post(pages::my_pilots::complete_milestone),
        )
        .route(
            "/reports",
            get(pages::reports::list).post(pages::reports::create),
        )
        .route("/reports/new", get(pages::reports::new_form))
        .route("/reports/{id}", get(pages::reports::detail))
        .route(
            "/reports/{id}/edit",
            get(pages::reports::edit_form).post(pages::reports::update),
        )
        .route("/reports/{id}/submit", post(pages::reports::submit))
        .route("/reports/{id}/amend", post(pages::reports::amend))
        .route("/inbox", get(pages::inbox::page))
        .route("/inbox/link", get(pages::inbox::link))
        .route("/inbox/read", post(pages::inbox::read_all))
        .route("/inbox/{id}", get(pages::inbox::open))
        .route("/review", get(pages::review::worklist))
        .route("/review/live", get(pages::review::live))
        .route("/audit", get(pages::audit::page))
        .route("/audit.csv", get(pages::audit::csv))
        .route("/programmes", get(pages::programmes::list))
        .route(
            "/programmes/new",
            get(pages::programmes::new_call).post(pages::programmes::create_call),
        )
        .route(
            "/programmes/pools/new",
            get(pages::programmes::new_pool).post(pages::programmes::create_pool),
        )
        .route(
            "/usage",
            get(pages::usage::list)
                .post(pages::usage::upload)
                .layer(DefaultBodyLimit::max(pages::usage::MAX_UPLOAD_BYTES)),
        )
        .route("/usage/{id}", get(pages::usage::detail))
        .route(
            "/files",
            axum::routing::post(pages::documents::upload)
                .layer(DefaultBodyLimit::max(upload_form_limit)),
        )
        .route("/files/{id}", get(pages::documents::download))
        .route(
            "/files/{id}/delete",
            get(pages::documents::confirm_delete).post(pages::documents::delete),
        )
        .route("/figures", get(pages::figures::page))
        .route("/figures.xlsx", get(pages::figures::xlsx))
        .route("/figures/{file}", get(pages::figures::csv))
        .route("/admin/staff", get(pages::staff::list))
        .route(
            "/admin/staff/new",
            get(pages::staff::new_form).post(pages::staff::create),
        )
        .route("/admin/staff/{id}/created", get(pages::staff::created))
        .route("/admin/staff/{id}/reissued", get(pages::staff::reissued))
        .route(
            "/admin/staff/{id}/reissue",
            get(pages::staff::confirm_reissue).post(pages::staff::reissue),
        )
        .route("/admin/staff/{id}/{change}", post(pages::staff::change))
        .route("/admin/api-clients", get(pages::api_clients::list))
        .route(
            "/admin/api-clients/new",
            get(pages::api_clients::new_form).post(pages::api_clients::register),
        )
        .route(
            "/admin/api-clients/{id}/created",
            get(pages::api_clients::created),
        )
        .route(
            "/admin/api-clients/{id}/revoke",
            get(pages::api_clients::confirm_revoke).post(pages::api_clients::revoke),
        )
        .route("/review/companies/{id}", decision::<review::Company>())
        .route("/review/companies/{id}/claim", claim::<review::Company>())
        .route(
            "/review/applications/{id}/claim",
            claim::<review::Application>(),
        )
        .route("/review/pilots/{id}/claim", claim::<review::Pilot>())
        .route("/review/reports/{id}/claim", claim::<review::Report>())
        .route(
            "/review/applications/{id}",
            decision::<review::Application>(),
        )
        .route("/review/pilots/{id}", decision::<review::Pilot>())
        .route("/review/reports/{id}", decision::<review::Report>())
        .route("/account/password", post(pages::account::change_password))
        .route(
            "/account/notifications",
            get(pages::notification_settings::page).post(pages::notification_settings::save),
        )
        .route(
            "/password/forgot",
            get(pages::password_reset::forgot_form).post(pages::password_reset::forgot),
        )
        .route(
            "/password/reset/{token}",
            get(pages::password_reset::reset_form).post(pages::password_reset::reset),
        )
        .route(
            "/unsubscribe/{token}",
            get(pages::notification_settings::ask).post(pages::notification_settings::confirm),
        )
        .route("/lang/{code}", get(pages::switch_language))
        .route("/assets/{*file}", get(assets::serve))
        .fallback(pages::not_found)
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// A decision page's routes: the page, and its form posted back to it.
fn decision<D: review::Decide + 'static>() -> axum::routing::MethodRouter<Console> {
    get(review::page::<D>).post(review::decide::<D>)
}

/// The decision form's review-claim buttons (pick up, take over, let go) for one kind.
fn claim<D: review::Decide + 'static>() -> axum::routing::MethodRouter<Console> {
    post(review::claims::change::<D>)
}

/// Nothing on a console page may come from another origin or run inline.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

async fn security_headers(request: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let own_policy = response
        .extensions()
        .get::<pages::documents::OwnPolicy>()
        .is_some();
    let headers = response.headers_mut();
    // A downloaded document keeps its stricter policy (nothing in it runs at all).
    if !own_policy {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages carry the person's name and CSRF token.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// One request as the pages see it: the person's language, session and address.
pub struct Visit {
    pub lang: Lang,
    pub session: Option<Session>,
    pub client_address: String,
    pub path: String,
    /// Only a GET page is somewhere to come back to after signing in.
    pub is_get: bool,
    pub headers: HeaderMap,
    /// A language the person just chose, for the language cookie.
    chosen_language: Option<Option<Lang>>,
}

impl FromRequestParts<Console> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Console,
    ) -> Result<Self, Self::Rejection> {
        let client_address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(
                || "unknown".to_owned(),
                |ConnectInfo(addr)| addr.ip().to_string(),
            );
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let session = console.sessions.load(&parts.headers).await;
        // The header's switch (a cookie) first, then the person's setting, then the browser.
        let chosen = session
            .as_ref()
            .and_then(|s| s.user.as_ref())
            .and_then(|u| u.language.as_deref())
            .and_then(Lang::parse);
        Ok(Visit {
            lang: Lang::from_headers_or(&parts.headers, chosen),
            session,
            client_address,
            path,
            is_get: parts.method == axum::http::Method::GET,
            headers: parts.headers.clone(),
            chosen_language: None,
        })
    }
}

impl Visit {
    /// Whether a POST is the session's own (its CSRF token, from this site).
    pub fn posted_by_session(&self, csrf: &str) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| session::is_same_site_post(s, csrf, &self.headers))
    }

    /// A programme manager or an admin: the programme office's pages are theirs.
    pub fn is_staff(&self) -> bool {
        pages::review::STAFF_ROLES
            .iter()
            .any(|role| self.has_role(role))
    }

    /// An operator or an admin: the usage uploads are theirs.
    pub fn meters_usage(&self) -> bool {
        pages::usage::METERING_ROLES
            .iter()
            .any(|role| self.has_role(role))
    }

    /// The signed-in person's account id.
    pub fn user_id(&self) -> Option<&str> {
        self.session
            .as_ref()
            .and_then(|s| s.user.as_ref())
            .map(|u| u.user_id.as_str())
    }

    /// Whether the signed-in person has the API's `role` (`ADMIN`...).
    pub fn has_role(&self, role: &str) -> bool {
        self.session
            .as_ref()
            .and_then(|s| s.user.as_ref())
            .is_some_and(|u| u.role == role)
    }

    /// Forgets the signed-in person (the API ended their sign-in), keeping the session for
    /// `notice` on the next page.
    pub fn end_sign_in(&mut self, notice: &str) {
        if let Some(session) = self.session.as_mut() {
            session.user = None;
            session.notice = Some(notice.into());
        }
    }

    /// The session, started now if the visitor has none (a form needs its CSRF token).
    pub fn session_or_start(&mut self) -> &mut Session {
        self.session.get_or_insert_with(Sessions::start)
    }

    /// The signed-in person's access token, refreshed first when it is about to expire. A
    /// refresh the API refuses signs the person out (the session stays, for its notice).
    pub async fn token(&mut self, console: &Console) -> Option<String> {
        let session = self.session.as_mut()?;
        let user = session.user.as_ref()?;
        let now = chrono::Utc::now().timestamp_millis();
        if user.access_expires_at - now > 60_000 {
            return Some(user.access_token.clone());
        }
        let refreshed = console
            .api
            .run::<api::Refresh>(
                None,
                &self.client_address,
                api::refresh::Variables {
                    refresh_token: user.refresh_token.clone(),
                },
            )
            .await;
        match refreshed {
            Ok(data) => {
                session.user = Some(data.refresh_token.into());
                if let Err(error) = console.sessions.save(session).await {
                    tracing::warn!(%error, "refreshed session not saved");
                }
                session.user.as_ref().map(|u| u.access_token.clone())
            }
            Err(error) if error.code == "UNAVAILABLE" => Some(user.access_token.clone()),
            Err(_) => {
                session.user = None;
                session.notice = Some("notice-session-expired".into());
                let _ = console.sessions.save(session).await;
                None
            }
        }
    }

    /// The signed-in person's token, or the sign-in page, which brings the person back to `back`
    /// saying `notice`: for a form whose content cannot be kept for later (a file).
    pub async fn require_sign_in_back_to(
        &mut self,
        console: &Console,
        back: &str,
        notice: &str,
    ) -> Result<String, Response> {
        if let Some(token) = self.token(console).await {
            return Ok(token);
        }
        let session = self.session_or_start();
        session.return_to = Some(back.to_owned());
        session.notice = Some(notice.to_owned());
        Err(self.redirect(console, "/login").await)
    }

    /// The signed-in person's token, or the sign-in page, which brings the person back here
    /// (a GET page; after a POST, the page the form is on).
    pub async fn require_sign_in(&mut self, console: &Console) -> Result<String, Response> {
        if let Some(token) = self.token(console).await {
            return Ok(token);
        }
        let back = self.is_get.then(|| self.path.clone());
        let session = self.session_or_start();
        session.return_to = back;
        Err(self.redirect(console, "/login").await)
    }

    /// The signed-in person's token for a POST; without one, what they typed is kept in the
    /// session (`fields`, never passwords) and the sign-in page shown, after which they send
    /// it again with one click.
    pub async fn require_sign_in_to_post(
        &mut self,
        console: &Console,
        form: &impl serde::Serialize,
    ) -> Result<String, Response> {
        if let Some(token) = self.token(console).await {
            return Ok(token);
        }
        let action = self.path.clone();
        let session = self.session_or_start();
        session.pending_form = Some(session::PendingForm::of(action, form));
        session.notice = Some("notice-form-kept".into());
        Err(self.redirect(console, "/login").await)
    }

    /// The token for a form that only acts (no fields to show again): signed in, and posted
    /// by this session; a forged or stale one changes nothing and goes `back`.
    pub async fn require_post_from_session(
        &mut self,
        console: &Console,
        form: &impl serde::Serialize,
        csrf: &str,
        back: &str,
    ) -> Result<String, Response> {
        let token = self.require_sign_in_to_post(console, form).await?;
        if !self.posted_by_session(csrf) {
            return Err(self.redirect(console, back).await);
        }
        Ok(token)
    }

    /// Goes to `to` with `alert` (a sentence in the person's language) shown above its content.
    pub async fn redirect_with_alert(
        &mut self,
        console: &Console,
        alert: String,
        to: &str,
    ) -> Response {
        if let Some(session) = self.session.as_mut() {
            session.alert = Some(alert);
        }
        self.redirect(console, to).await
    }

    /// A redirect after a POST that tells the person, on the next page, what was done.
    pub async fn redirect_with_notice(
        &mut self,
        console: &Console,
        notice: &str,
        to: &str,
    ) -> Response {
        if let Some(session) = self.session.as_mut() {
            session.notice = Some(notice.into());
        }
        self.redirect(console, to).await
    }

    /// Keeps a secret the API handed over once for the page at `path`, then goes there: the
    /// secret is shown on that page's first visit only.
    pub async fn reveal_at(&mut self, console: &Console, path: &str, secret: String) -> Response {
        if let Some(session) = self.session.as_mut() {
            session.revealed = Some(session::Revealed {
                path: path.to_owned(),
                secret,
            });
        }
        self.redirect(console, path).await
    }

    /// Where the outcome of the form with this `once` token waits (see `pages::once`).
    pub fn once_key(&self, token: &str) -> Option<String> {
        Sessions::once_key(self.session.as_ref()?, token)
    }

    /// The secret kept for this page, taken: a reload no longer shows it.
    pub fn take_revealed(&mut self) -> Option<String> {
        let session = self.session.as_mut()?;
        let path = self.path.split('?').next().unwrap_or_default();
        if session.revealed.as_ref()?.path != path {
            return None;
        }
        session.revealed.take().map(|r| r.secret)
    }

    /// The language the person chose (`None`: the browser's), for this page and the cookie.
    pub fn choose_language(&mut self, lang: Option<Lang>) {
        if let Some(lang) = lang {
            self.lang = lang;
        }
        self.chosen_language = Some(lang);
    }

    fn language_cookie(&self) -> Option<HeaderValue> {
        let cookie = match self.chosen_language? {
            Some(lang) => i18n::language_cookie(lang),
            None => format!("{}=; Path=/; SameSite=Lax; Max-Age=0", i18n::LANG_COOKIE),
        };
        HeaderValue::from_str(&cookie).ok()
    }

    /// The frame every page shares. Takes the session's one-time notice.
    pub fn layout(&mut self, console: &Console, title: String, section: &'static str) -> Layout {
        let lang = self.lang;
        let notice = self
            .session
            .as_mut()
            .and_then(|s| s.notice.take())
            .map(|key| lang.t(&key));
        let alert = self.session.as_mut().and_then(|s| s.alert.take());
        Layout {
            lang,
            title,
            section,
            path: self.path.clone(),
            user_name: self
                .session
                .as_ref()
                .and_then(|s| s.user.as_ref())
                .map(|u| u.name.clone()),
            firm_member: self
                .session
                .as_ref()
                .and_then(|s| s.user.as_ref())
                .is_some_and(|u| u.role == "FIRM_MEMBER"),
            staff: self.is_staff(),
            metering: self.meters_usage(),
            admin: self.has_role("ADMIN"),
            csrf: self
                .session
                .as_ref()
                .map(|s| s.csrf.clone())
                .unwrap_or_default(),
            notice,
            alert,
            assets: console.assets.clone(),
        }
    }

    /// Sends `page` with the session (saved, its cookie set) when there is one.
    pub async fn respond(
        &self,
        console: &Console,
        status: StatusCode,
        page: Html<String>,
    ) -> Response {
        let mut response = (status, page).into_response();
        if let Some(cookie) = self.language_cookie() {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        if let Some(session) = &self.session {
            match console.sessions.save(session).await {
                Ok(()) => {
                    response
                        .headers_mut()
                        .append(header::SET_COOKIE, console.sessions.set_cookie(session));
                }
                Err(error) => tracing::warn!(%error, "session not saved"),
            }
        }
        response
    }

    /// A redirect after a POST, with the session saved and its cookie set.
    pub async fn redirect(&self, console: &Console, to: &str) -> Response {
        let mut response = (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")),
            )],
        )
            .into_response();
        if let Some(cookie) = self.language_cookie() {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        if let Some(session) = &self.session {
            if let Err(error) = console.sessions.save(session).await {
                tracing::warn!(%error, "session not saved");
            }
            response
                .headers_mut()
                .append(header::SET_COOKIE, console.sessions.set_cookie(session));
        }
        response
    }

    /// The sentence for an API refusal, in the person's language.
    pub fn explain(&self, error: &ApiError) -> String {
        self.lang
            .t_with(error.message_key(), &[("detail", error.message.clone())])
    }
}

/// What every page's frame shows.
pub struct Layout {
    pub lang: Lang,
    pub title: String,
    /// Which main-menu entry is current.
    pub section: &'static str,
    pub path: String,
    pub user_name: Option<String>,
    /// A firm member: the header offers "내 기업".
    pub firm_member: bool,
    /// A programme manager or an admin: the header offers "검토 대기함".
    pub staff: bool,
    /// An operator or an admin: the header offers "사용량 업로드".
    pub metering: bool,
    /// An admin: the header offers "관리" (staff accounts, API clients).
    pub admin: bool,
    pub csrf: String,
    pub notice: Option<String>,
    pub alert: Option<String>,
    pub assets: Arc<Assets>,
}

impl Layout {
    pub fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }

    /// A message about someone or something by name (`{ $name }`), e.g. a row's own label.
    pub fn t_with_name(&self, key: &str, name: &str) -> String {
        self.lang.t_with(key, &[("name", name.to_owned())])
    }

    pub fn asset(&self, path: &str) -> &str {
        self.assets.url(path)
    }
}

/// Renders a template, or a plain error if the template itself fails (it cannot at run time
/// for what compiles, but never panic on a person's request).
pub fn render(template: &impl Template) -> Html<String> {
    match template.render() {
        Ok(html) => Html(html),
        Err(error) => {
            tracing::error!(%error, "template failed");
            Html("<!DOCTYPE html><title>Error</title><p>internal error</p>".to_owned())
        }
    }
}
