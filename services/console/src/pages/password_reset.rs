//! 비밀번호 재설정: a person who forgot their password asks for a link by e-mail address (the
//! page says the same whether an account has it or not), then opens the link and chooses a
//! new password; every sign-in of the account ends and they sign in again.

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{
    error_page,
    form::{Field, Fields, FormPage, new_password_mistake, place_error},
};
use crate::{Console, Layout, Visit, api, i18n::Lang, render};

const FORGOT: &str = "/password/forgot";

#[derive(Deserialize, Serialize, Default)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

#[derive(Deserialize, Serialize, Default)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    /// Acts once: a double click or the back button after a reset shows its outcome, not
    /// "this link cannot be used".
    #[serde(default)]
    once: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

fn back_to_login(lang: Lang) -> (String, String, String) {
    (
        lang.t("password-remembered"),
        lang.t("nav-login"),
        "/login".into(),
    )
}

async fn show_forgot(
    console: &Console,
    visit: &mut Visit,
    email: &str,
    error: Option<String>,
    fields: Option<Vec<Field>>,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    visit.session_or_start();
    let fields = fields.unwrap_or_else(|| forgot_fields(lang, email));
    let title = lang.t("password-forgot-title");
    let page = FormPage {
        layout: visit.layout(console, title.clone(), ""),
        heading: title,
        intro: Some(lang.t("password-forgot-intro")),
        action: FORGOT.into(),
        hidden: Vec::new(),
        submit: lang.t("password-forgot-submit"),
        draft: None,
        error,
        fields,
        aside: vec![back_to_login(lang)],
    };
    visit.respond(console, status, render(&page)).await
}

fn forgot_fields(lang: Lang, email: &str) -> Vec<Field> {
    vec![Field::new(lang, "email", "login-email", "email", "username").value(email)]
}

pub async fn forgot_form(State(console): State<Console>, mut visit: Visit) -> Response {
    show_forgot(&console, &mut visit, "", None, None, StatusCode::OK).await
}

/// Asks the API to mail a link; whatever the address, the person is told the same.
pub async fn forgot(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<ForgotForm>,
) -> Response {
    let lang = visit.lang;
    if !visit.posted_by_session(&form.csrf) {
        let notice = Some(lang.t("notice-stale-form"));
        return show_forgot(
            &console,
            &mut visit,
            &form.email,
            notice,
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let email = form.email.trim();
    let mut fields = forgot_fields(lang, email);
    if email.is_empty() {
        let message = lang.t("field-required");
        fields.set_error("email", message.clone());
        return show_forgot(
            &console,
            &mut visit,
            email,
            Some(message),
            Some(fields),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let asked = console
        .api
        .run::<api::RequestPasswordReset>(
            None,
            &visit.client_address,
            api::request_password_reset::Variables {
                email: email.to_owned(),
            },
        )
        .await;
    match asked {
        Ok(_) => {
            visit
                .redirect_with_notice(&console, "notice-password-reset-sent", "/login")
                .await
        }
        Err(error) if error.code == "BAD_USER_INPUT" => {
            let sentence = place_error(lang, &error, &mut fields, &[("email", "email")]);
            show_forgot(
                &console,
                &mut visit,
                email,
                Some(sentence),
                Some(fields),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(error) if error.code == "RATE_LIMITED" => {
            let sentence = visit.explain(&error);
            show_forgot(
                &console,
                &mut visit,
                email,
                Some(sentence),
                None,
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

#[derive(Template)]
#[template(path = "password_reset_unusable.html")]
struct UnusableLink {
    layout: Layout,
}

/// The link cannot be used (cut short, expired, used): says so and offers a new one.
async fn unusable(console: &Console, visit: &mut Visit) -> Response {
    let title = visit.lang.t("password-reset-unusable-title");
    let page = UnusableLink {
        layout: visit.layout(console, title, ""),
    };
    visit
        .respond(console, StatusCode::NOT_FOUND, render(&page))
        .await
}

fn reset_fields(lang: Lang) -> Vec<Field> {
    vec![
        Field::new(
            lang,
            "password",
            "account-new-password",
            "password",
            "new-password",
        )
        .hint(lang.t("signup-password-hint")),
        Field::new(
            lang,
            "password_confirm",
            "account-new-password-confirm",
            "password",
            "new-password",
        ),
    ]
}

async fn show_reset(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    error: Option<String>,
    fields: Vec<Field>,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    visit.session_or_start();
    let title = lang.t("password-reset-title");
    let page = FormPage {
        layout: visit.layout(console, title.clone(), ""),
        heading: title,
        intro: Some(lang.t("password-reset-intro")),
        action: format!("/password/reset/{}", super::url_encoded(token)),
        hidden: vec![(super::once::FIELD.to_owned(), super::once::token())],
        submit: lang.t("password-reset-submit"),
        draft: None,
        error,
        fields,
        aside: vec![back_to_login(lang)],
    };
    visit.respond(console, status, render(&page)).await
}

pub async fn reset_form(
    State(console): State<Console>,
    mut visit: Visit,
    Path(token): Path<String>,
) -> Response {
    if !axv_auth::is_well_formed_secret(&token) {
        return unusable(&console, &mut visit).await;
    }
    let fields = reset_fields(visit.lang);
    show_reset(&console, &mut visit, &token, None, fields, StatusCode::OK).await
}

/// Sets the new password; then the person signs in with it.
pub async fn reset(
    State(console): State<Console>,
    mut visit: Visit,
    Path(token): Path<String>,
    Form(form): Form<ResetForm>,
) -> Response {
    let lang = visit.lang;
    let mut fields = reset_fields(lang);
    if !visit.posted_by_session(&form.csrf) {
        let notice = Some(lang.t("notice-stale-form"));
        return show_reset(
            &console,
            &mut visit,
            &token,
            notice,
            fields,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    // The API's rule, said in the person's language before asking it.
    if let Some(message) = new_password_mistake(
        lang,
        &mut fields,
        ("password", &form.password),
        ("password_confirm", &form.password_confirm),
    ) {
        return show_reset(
            &console,
            &mut visit,
            &token,
            Some(message),
            fields,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let (api, address) = (console.api.clone(), visit.client_address.clone());
    let variables = api::reset_password::Variables {
        token: token.clone(),
        new_password: form.password.clone(),
    };
    let reset = async move {
        api.run::<api::ResetPassword>(None, &address, variables)
            .await?;
        Ok(super::once::Done {
            path: "/login".into(),
            secret: String::new(),
        })
    };
    let key = visit.once_key(&form.once);
    match super::once::run(console.sessions.kv(), key, reset).await {
        Ok(_) => {
            // Whoever was signed in on this browser is signed out with everyone else.
            visit.end_sign_in("notice-password-reset-done");
            visit.redirect(&console, "/login").await
        }
        Err(error) if error.is_about("token") => unusable(&console, &mut visit).await,
        Err(error) if error.code == "BAD_USER_INPUT" => {
            let sentence = place_error(lang, &error, &mut fields, &[("newPassword", "password")]);
            show_reset(
                &console,
                &mut visit,
                &token,
                Some(sentence),
                fields,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}
