//! Accounts: sign up, sign in, sign out, my account. The API's tokens stay in the server-side
//! session; a form refused keeps everything typed except passwords and says what to fix beside
//! the field.

use askama::Template;
use axum::{Form, extract::State, http::StatusCode, response::Response};
use serde::Deserialize;

use super::error_page;
use crate::{
    Console, Layout, Visit,
    api::{self, ApiError},
    i18n::Lang,
    render,
    session::{Sessions, SignedIn},
};

/// One input of a form as the template shows it.
pub struct Field {
    pub name: &'static str,
    pub label: String,
    pub kind: &'static str,
    pub value: String,
    pub autocomplete: &'static str,
    pub required: bool,
    pub hint: Option<String>,
    pub error: Option<String>,
}

impl Field {
    fn new(
        lang: Lang,
        name: &'static str,
        label_key: &str,
        kind: &'static str,
        autocomplete: &'static str,
    ) -> Self {
        Self {
            name,
            label: lang.t(label_key),
            kind,
            value: String::new(),
            autocomplete,
            required: true,
            hint: None,
            error: None,
        }
    }

    fn value(mut self, value: &str) -> Self {
        self.value = value.to_owned();
        self
    }

    fn hint(mut self, hint: String) -> Self {
        self.hint = Some(hint);
        self
    }
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage {
    layout: Layout,
    heading: String,
    action: &'static str,
    submit: String,
    error: Option<String>,
    fields: Vec<Field>,
    aside: Option<(String, String, &'static str)>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    role: String,
    error: Option<String>,
    fields: Vec<Field>,
}

/// The session's record of a sign-in from the API's answer.
fn signed_in(
    access_token: String,
    refresh_token: String,
    expires_at: &str,
    user_id: String,
    name: String,
    email: String,
    role: String,
) -> SignedIn {
    let access_expires_at = chrono::DateTime::parse_from_rfc3339(expires_at)
        .map(|t| t.timestamp_millis())
        // Unknown expiry: refresh at the next request rather than trust a stale token.
        .unwrap_or(0);
    SignedIn {
        user_id,
        name,
        email,
        role,
        access_token,
        refresh_token,
        access_expires_at,
    }
}

/// Each operation answering with an `AuthPayload` (signing up, in, refreshing) gets its own
/// generated type; each becomes the session's record the same way.
macro_rules! signed_in_from {
    ($($payload:ty),+ $(,)?) => {$(
        impl From<$payload> for SignedIn {
            fn from(auth: $payload) -> Self {
                signed_in(
                    auth.access_token,
                    auth.refresh_token,
                    &auth.expires_at,
                    auth.user.id,
                    auth.user.name,
                    auth.user.email,
                    format!("{:?}", auth.user.role),
                )
            }
        }
    )+};
}

signed_in_from!(
    api::sign_up::SignUpSignUp,
    api::login::LoginLogin,
    api::refresh::RefreshRefreshToken,
);

/// Signs the session in as `user`, under a fresh id (no session fixation), with `notice`.
fn start_signed_in<'a>(
    visit: &'a mut Visit,
    user: SignedIn,
    notice: &str,
) -> &'a mut crate::session::Session {
    let session = visit.session_or_start();
    Sessions::renew(session);
    session.user = Some(user);
    session.notice = Some(notice.into());
    session
}

/// Puts a refusal beside the field it is about, else above the form.
fn place_error(lang: Lang, error: &ApiError, fields: &mut [Field]) -> Option<String> {
    let sentence = lang.t_with(error.message_key(), &[("detail", error.message.clone())]);
    for field in fields.iter_mut() {
        if error.is_about(field.name) {
            field.error = Some(error.message.clone());
            return Some(sentence);
        }
    }
    Some(sentence)
}

#[derive(Deserialize, Default)]
pub struct SignUpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

fn signup_fields(lang: Lang, form: &SignUpForm) -> Vec<Field> {
    vec![
        Field::new(lang, "name", "signup-name", "text", "name").value(&form.name),
        Field::new(lang, "email", "signup-email", "email", "email").value(&form.email),
        Field::new(
            lang,
            "password",
            "signup-password",
            "password",
            "new-password",
        )
        .hint(lang.t("signup-password-hint")),
        Field::new(
            lang,
            "password_confirm",
            "signup-password-confirm",
            "password",
            "new-password",
        ),
    ]
}

async fn show_signup(
    console: &Console,
    visit: &mut Visit,
    form: &SignUpForm,
    error: Option<String>,
    mut fields: Vec<Field>,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    visit.session_or_start();
    if fields.is_empty() {
        fields = signup_fields(lang, form);
    }
    let title = lang.t("signup-title");
    let layout = visit.layout(console, title.clone(), "");
    let page = FormPage {
        layout,
        heading: title,
        action: "/signup",
        submit: lang.t("signup-submit"),
        error,
        fields,
        aside: Some((lang.t("signup-have-account"), lang.t("nav-login"), "/login")),
    };
    visit.respond(console, status, render(&page)).await
}

pub async fn signup_form(State(console): State<Console>, mut visit: Visit) -> Response {
    show_signup(
        &console,
        &mut visit,
        &SignUpForm::default(),
        None,
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

pub async fn signup(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<SignUpForm>,
) -> Response {
    let lang = visit.lang;
    let fresh = visit.posted_by_session(&form.csrf);
    if !fresh {
        let notice = Some(lang.t("notice-stale-form"));
        return show_signup(
            &console,
            &mut visit,
            &form,
            notice,
            Vec::new(),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let mut fields = signup_fields(lang, &form);
    if form.password != form.password_confirm {
        let message = lang.t("signup-mismatch");
        if let Some(field) = fields.iter_mut().find(|f| f.name == "password_confirm") {
            field.error = Some(message.clone());
        }
        return show_signup(
            &console,
            &mut visit,
            &form,
            Some(message),
            fields,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let answer = console
        .api
        .run::<api::SignUp>(
            None,
            &visit.client_address,
            api::sign_up::Variables {
                input: api::sign_up::SignUpInput {
                    email: form.email.trim().to_owned(),
                    password: form.password.clone(),
                    name: form.name.trim().to_owned(),
                },
            },
        )
        .await;
    match answer {
        Ok(data) => {
            start_signed_in(&mut visit, data.sign_up.into(), "notice-signed-up");
            visit.redirect(&console, "/account").await
        }
        Err(error)
            if matches!(
                error.code.as_str(),
                "BAD_USER_INPUT" | "CONFLICT" | "RATE_LIMITED"
            ) =>
        {
            let message = place_error(lang, &error, &mut fields);
            let status = if error.code == "RATE_LIMITED" {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::BAD_REQUEST
            };
            show_signup(&console, &mut visit, &form, message, fields, status).await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn show_login(
    console: &Console,
    visit: &mut Visit,
    email: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    visit.session_or_start();
    let fields = vec![
        Field::new(lang, "email", "login-email", "email", "username").value(email),
        Field::new(
            lang,
            "password",
            "login-password",
            "password",
            "current-password",
        ),
    ];
    let title = lang.t("login-title");
    let layout = visit.layout(console, title.clone(), "");
    let page = FormPage {
        layout,
        heading: title,
        action: "/login",
        submit: lang.t("login-submit"),
        error,
        fields,
        aside: Some((lang.t("login-no-account"), lang.t("nav-signup"), "/signup")),
    };
    visit.respond(console, status, render(&page)).await
}

pub async fn login_form(State(console): State<Console>, mut visit: Visit) -> Response {
    show_login(&console, &mut visit, "", None, StatusCode::OK).await
}

pub async fn login(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = visit.lang;
    let fresh = visit.posted_by_session(&form.csrf);
    if !fresh {
        let notice = Some(lang.t("notice-stale-form"));
        return show_login(
            &console,
            &mut visit,
            &form.email,
            notice,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let answer = console
        .api
        .run::<api::Login>(
            None,
            &visit.client_address,
            api::login::Variables {
                email: form.email.trim().to_owned(),
                password: form.password.clone(),
            },
        )
        .await;
    match answer {
        Ok(data) => {
            let session = start_signed_in(&mut visit, data.login.into(), "notice-signed-in");
            let back = session
                .return_to
                .take()
                .filter(|path| path.starts_with('/') && !path.starts_with("//"))
                .unwrap_or_else(|| "/".to_owned());
            visit.redirect(&console, &back).await
        }
        Err(error) if matches!(error.code.as_str(), "UNAUTHENTICATED" | "BAD_USER_INPUT") => {
            let message = Some(lang.t("login-failed"));
            show_login(
                &console,
                &mut visit,
                &form.email,
                message,
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
        Err(error) if error.code == "RATE_LIMITED" => {
            let message = Some(visit.explain(&error));
            show_login(
                &console,
                &mut visit,
                &form.email,
                message,
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

#[derive(Deserialize, Default)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<CsrfForm>,
) -> Response {
    let fresh = visit.posted_by_session(&form.csrf);
    if !fresh {
        // A forged sign-out changes nothing; go home.
        return visit.redirect(&console, "/").await;
    }
    if let Some(token) = visit.token(&console).await
        && let Err(error) = console
            .api
            .run::<api::Logout>(Some(&token), &visit.client_address, api::logout::Variables)
            .await
    {
        tracing::warn!(%error, "the API did not revoke the session's tokens");
    }
    if let Some(old) = visit.session.take() {
        console.sessions.forget(&old).await;
    }
    let session = visit.session_or_start();
    session.notice = Some("notice-signed-out".into());
    visit.redirect(&console, "/").await
}

#[derive(Deserialize, Default)]
pub struct AccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

async fn show_account(
    console: &Console,
    visit: &mut Visit,
    name: Option<&str>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    let Some(user) = visit.session.as_ref().and_then(|s| s.user.clone()) else {
        return visit.redirect(console, "/login").await;
    };
    let mut fields = vec![
        Field::new(lang, "name", "account-name", "text", "name").value(name.unwrap_or(&user.name)),
    ];
    if let Some(message) = &error
        && name.is_some()
    {
        fields[0].error = Some(message.clone());
    }
    let title = lang.t("account-title");
    let layout = visit.layout(console, title, "");
    let page = AccountPage {
        layout,
        email: user.email,
        role: lang.t(&super::label_key("role", &user.role)),
        error,
        fields,
    };
    visit.respond(console, status, render(&page)).await
}

pub async fn account(State(console): State<Console>, mut visit: Visit) -> Response {
    if let Err(response) = visit.require_sign_in(&console).await {
        return response;
    }
    show_account(&console, &mut visit, None, None, StatusCode::OK).await
}

pub async fn update_account(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<AccountForm>,
) -> Response {
    let lang = visit.lang;
    let fresh = visit.posted_by_session(&form.csrf);
    let Some(token) = visit.token(&console).await else {
        return visit.redirect(&console, "/login").await;
    };
    if !fresh {
        let notice = Some(lang.t("notice-stale-form"));
        return show_account(
            &console,
            &mut visit,
            Some(&form.name),
            notice,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let answer = console
        .api
        .run::<api::UpdateName>(
            Some(&token),
            &visit.client_address,
            api::update_name::Variables {
                name: form.name.trim().to_owned(),
            },
        )
        .await;
    match answer {
        Ok(data) => {
            if let Some(session) = visit.session.as_mut() {
                if let Some(user) = session.user.as_mut() {
                    user.name = data.update_me.name;
                }
                session.notice = Some("account-saved".into());
            }
            visit.redirect(&console, "/account").await
        }
        Err(error) if error.code == "BAD_USER_INPUT" => {
            let message = Some(visit.explain(&error));
            show_account(
                &console,
                &mut visit,
                Some(&form.name),
                message,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}
