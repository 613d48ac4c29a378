//! Accounts: sign up, sign in, sign out, my account. The API's tokens stay in the server-side
//! session; a form refused keeps everything typed except passwords and says what to fix beside
//! the field.

use askama::Template;
use axum::{Form, extract::State, http::StatusCode, response::Response};
use serde::{Deserialize, Serialize};

use super::{
    Choice, error_page,
    form::{CsrfOnly, Field, Fields, FormPage, new_password_mistake, place_error},
};
use crate::{
    Console, Layout, Visit, api,
    i18n::Lang,
    render,
    session::{PendingForm, Sessions, SignedIn},
};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    role: String,
    error: Option<String>,
    fields: Vec<Field>,
    password_error: Option<String>,
    password_fields: Vec<Field>,
}

/// An access token's expiry as the session keeps it (unix milliseconds).
fn expiry_millis(expires_at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(expires_at)
        .map(|t| t.timestamp_millis())
        // Unknown expiry: refresh at the next request rather than trust a stale token.
        .unwrap_or(0)
}

/// Each operation answering with an `AuthPayload` (signing up, in, refreshing) gets its own
/// generated type; each becomes the session's record the same way.
macro_rules! signed_in_from {
    ($($payload:ty),+ $(,)?) => {$(
        impl From<$payload> for SignedIn {
            fn from(auth: $payload) -> Self {
                SignedIn {
                    access_expires_at: expiry_millis(&auth.expires_at),
                    access_token: auth.access_token,
                    refresh_token: auth.refresh_token,
                    user_id: auth.user.id,
                    name: auth.user.name,
                    email: auth.user.email,
                    role: format!("{:?}", auth.user.role),
                    language: auth.user.language,
                }
            }
        }
    )+};
}

signed_in_from!(
    api::sign_up::SignUpSignUp,
    api::login::LoginLogin,
    api::refresh::RefreshRefreshToken,
    api::change_password::ChangePasswordChangePassword,
);

/// Signs the session in as `user`, under a fresh id (no session fixation), with `notice`, in
/// the language the person chose on their account.
fn start_signed_in<'a>(
    visit: &'a mut Visit,
    user: SignedIn,
    notice: &str,
) -> &'a mut crate::session::Session {
    if let Some(lang) = user.language.as_deref().and_then(Lang::parse) {
        visit.choose_language(Some(lang));
    }
    let session = visit.session_or_start();
    Sessions::renew(session);
    session.user = Some(user);
    session.notice = Some(notice.into());
    session
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
        intro: None,
        action: "/signup".into(),
        hidden: Vec::new(),
        submit: lang.t("signup-submit"),
        draft: None,
        error,
        fields,
        aside: vec![(
            lang.t("signup-have-account"),
            lang.t("nav-login"),
            "/login".into(),
        )],
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
    if let Some(message) = new_password_mistake(
        lang,
        &mut fields,
        ("password", &form.password),
        ("password_confirm", &form.password_confirm),
    ) {
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
            let message = Some(place_error(lang, &error, &mut fields, &[]));
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

#[derive(Template)]
#[template(path = "resubmit.html")]
struct ResubmitPage {
    layout: Layout,
    pending: PendingForm,
}

/// After signing in again: the form that arrived once the session had ended, ready to send
/// with the new session's CSRF token.
async fn show_pending(console: &Console, visit: &mut Visit, pending: PendingForm) -> Response {
    let title = visit.lang.t("resubmit-title");
    let layout = visit.layout(console, title, "");
    let page = ResubmitPage { layout, pending };
    visit.respond(console, StatusCode::OK, render(&page)).await
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
        intro: None,
        action: "/login".into(),
        hidden: Vec::new(),
        submit: lang.t("login-submit"),
        draft: None,
        error,
        fields,
        aside: vec![
            (
                lang.t("login-no-account"),
                lang.t("nav-signup"),
                "/signup".into(),
            ),
            (
                lang.t("login-forgot"),
                lang.t("password-forgot-title"),
                "/password/forgot".into(),
            ),
        ],
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
            if let Some(pending) = session.pending_form.take() {
                return show_pending(&console, &mut visit, pending).await;
            }
            let back = session
                .return_to
                .take()
                .filter(|path| super::is_local_path(path))
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
        // The password was right, but an admin deactivated the (staff) account.
        Err(error) if error.code == "FORBIDDEN" => {
            let message = Some(lang.t("login-deactivated"));
            show_login(
                &console,
                &mut visit,
                &form.email,
                message,
                StatusCode::FORBIDDEN,
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

pub async fn logout(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<CsrfOnly>,
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

#[derive(Deserialize, Serialize, Default)]
pub struct AccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    language: String,
}

#[derive(Deserialize, Serialize, Default)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
}

/// "" lets the browser's language decide.
const LANGUAGES: [&str; 3] = ["", "ko", "en"];

fn account_fields(lang: Lang, name: &str, language: &str) -> Vec<Field> {
    let languages = LANGUAGES
        .iter()
        .map(|code| Choice {
            value: (*code).to_owned(),
            label: lang.t(&format!(
                "account-language-{}",
                if code.is_empty() { "browser" } else { code }
            )),
            selected: *code == language,
        })
        .collect();
    vec![
        Field::new(lang, "name", "account-name", "text", "name").value(name),
        Field::select(lang, "language", "account-language", languages),
    ]
}

fn password_fields(lang: Lang) -> Vec<Field> {
    vec![
        Field::new(
            lang,
            "current_password",
            "account-current-password",
            "password",
            "current-password",
        ),
        Field::new(
            lang,
            "new_password",
            "account-new-password",
            "password",
            "new-password",
        )
        .hint(lang.t("signup-password-hint")),
        Field::new(
            lang,
            "new_password_confirm",
            "account-new-password-confirm",
            "password",
            "new-password",
        ),
    ]
}

/// The account page; `edited`: the first form as typed, with its error.
struct AccountView {
    fields: Option<Vec<Field>>,
    error: Option<String>,
    password_fields: Option<Vec<Field>>,
    password_error: Option<String>,
}

async fn show_account(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    view: AccountView,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    let answer = console
        .api
        .run::<api::MyAccount>(
            Some(token),
            &visit.client_address,
            api::my_account::Variables,
        )
        .await;
    let user = match answer {
        Ok(data) => match data.me {
            Some(me) => me.user,
            None => return visit.redirect(console, "/login").await,
        },
        Err(error) => return error_page(console, visit, &error).await,
    };
    let fields = view.fields.unwrap_or_else(|| {
        account_fields(
            lang,
            &user.name,
            user.language.as_deref().unwrap_or_default(),
        )
    });
    let title = lang.t("account-title");
    let layout = visit.layout(console, title, "");
    let page = AccountPage {
        layout,
        email: user.email,
        role: lang.t(&super::label_key("role", &format!("{:?}", user.role))),
        error: view.error,
        fields,
        password_error: view.password_error,
        password_fields: view
            .password_fields
            .unwrap_or_else(|| password_fields(lang)),
    };
    visit.respond(console, status, render(&page)).await
}

pub async fn account(State(console): State<Console>, mut visit: Visit) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let view = AccountView {
        fields: None,
        error: None,
        password_fields: None,
        password_error: None,
    };
    show_account(&console, &mut visit, &token, view, StatusCode::OK).await
}

pub async fn update_account(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<AccountForm>,
) -> Response {
    let lang = visit.lang;
    let token = match visit.require_sign_in_to_post(&console, &form).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let mut fields = account_fields(lang, &form.name, &form.language);
    if !visit.posted_by_session(&form.csrf) {
        let view = AccountView {
            fields: Some(fields),
            error: Some(lang.t("notice-stale-form")),
            password_fields: None,
            password_error: None,
        };
        return show_account(&console, &mut visit, &token, view, StatusCode::FORBIDDEN).await;
    }
    let answer = console
        .api
        .run::<api::UpdateName>(
            Some(&token),
            &visit.client_address,
            api::update_name::Variables {
                name: form.name.trim().to_owned(),
                language: Some(form.language.clone()),
            },
        )
        .await;
    match answer {
        Ok(data) => {
            if let Some(session) = visit.session.as_mut() {
                if let Some(user) = session.user.as_mut() {
                    user.name = data.update_me.name;
                    user.language = data.update_me.language.clone();
                }
                session.notice = Some("account-saved".into());
            }
            let chosen = data.update_me.language.as_deref().and_then(Lang::parse);
            visit.choose_language(chosen);
            visit.redirect(&console, "/account").await
        }
        Err(error) if error.code == "BAD_USER_INPUT" => {
            let message = place_error(lang, &error, &mut fields, &[]);
            let view = AccountView {
                fields: Some(fields),
                error: Some(message),
                password_fields: None,
                password_error: None,
            };
            show_account(&console, &mut visit, &token, view, StatusCode::BAD_REQUEST).await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

/// A new password: the current one proves it is the person; every other sign-in ends and this
/// session carries on with the new tokens.
pub async fn change_password(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<PasswordForm>,
) -> Response {
    let lang = visit.lang;
    let token = match visit.require_sign_in_to_post(&console, &form).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let mut fields = password_fields(lang);
    let refuse = |fields: Vec<Field>, error: String| AccountView {
        fields: None,
        error: None,
        password_fields: Some(fields),
        password_error: Some(error),
    };
    if !visit.posted_by_session(&form.csrf) {
        let view = refuse(fields, lang.t("notice-stale-form"));
        return show_account(&console, &mut visit, &token, view, StatusCode::FORBIDDEN).await;
    }
    if let Some(message) = new_password_mistake(
        lang,
        &mut fields,
        ("new_password", &form.new_password),
        ("new_password_confirm", &form.new_password_confirm),
    ) {
        let view = refuse(fields, message);
        return show_account(&console, &mut visit, &token, view, StatusCode::BAD_REQUEST).await;
    }
    let answer = console
        .api
        .run::<api::ChangePassword>(
            Some(&token),
            &visit.client_address,
            api::change_password::Variables {
                current_password: form.current_password.clone(),
                new_password: form.new_password.clone(),
            },
        )
        .await;
    match answer {
        Ok(data) => {
            let user: SignedIn = data.change_password.into();
            if let Some(session) = visit.session.as_mut() {
                Sessions::renew(session);
                session.user = Some(user);
                session.notice = Some("notice-password-changed".into());
            }
            visit.redirect(&console, "/account").await
        }
        Err(error) if error.code == "BAD_USER_INPUT" => {
            let message = place_error(
                lang,
                &error,
                &mut fields,
                &[
                    ("currentPassword", "current_password"),
                    ("newPassword", "new_password"),
                ],
            );
            let message = if error.is_about("currentPassword") {
                fields.set_error("current_password", lang.t("account-current-password-wrong"));
                lang.t("account-current-password-wrong")
            } else {
                message
            };
            let view = refuse(fields, message);
            show_account(&console, &mut visit, &token, view, StatusCode::BAD_REQUEST).await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}
