//! 알림 설정: how each category of notifications comes by e-mail (at once, in the daily
//! digest, or not at all; the inbox keeps everything), and the one-click unsubscribe page an
//! e-mail's link opens, which needs no sign-in (RFC 8058: mail programs POST to it).

use std::collections::HashMap;

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};

use super::{
    enum_value, error_page,
    form::{Field, FormPage},
    label_key,
};
use crate::{
    Console, Layout, Visit,
    api::{self, notification_preferences, set_notification_preferences},
    i18n::Lang,
    render,
};

const PATH: &str = "/account/notifications";
const CATEGORIES: &[&str] = &["REVIEW", "COMPANY", "VOUCHER", "PILOT", "REPORT"];
const DELIVERIES: &[&str] = &["IMMEDIATE", "DIGEST", "OFF"];

/// The form's field for a category (`review`): its name in the form.
fn field_name(category: &str) -> Option<&'static str> {
    match category {
        "REVIEW" => Some("review"),
        "COMPANY" => Some("company"),
        "VOUCHER" => Some("voucher"),
        "PILOT" => Some("pilot"),
        "REPORT" => Some("report"),
        _ => None,
    }
}

/// One fieldset of radio buttons per category the person's role receives.
fn fields(lang: Lang, preferences: &[(String, String)]) -> Vec<Field> {
    preferences
        .iter()
        .filter_map(|(category, delivery)| {
            let name = field_name(category)?;
            let key = label_key("notification-category", category);
            Some(Field::radios(
                name,
                lang.t(&key),
                lang.t(&format!("{key}-hint")),
                super::choices(lang, "notification-delivery", DELIVERIES, delivery),
            ))
        })
        .collect()
}

async fn show(console: &Console, visit: &mut Visit, preferences: &[(String, String)]) -> Response {
    let lang = visit.lang;
    let title = lang.t("notification-settings-title");
    let fields = fields(lang, preferences);
    let page = FormPage {
        layout: visit.layout(console, title.clone(), "account"),
        heading: title,
        intro: Some(lang.t(if fields.is_empty() {
            "notification-settings-none"
        } else {
            "notification-settings-intro"
        })),
        action: PATH.to_owned(),
        hidden: Vec::new(),
        submit: lang.t("notification-settings-save"),
        draft: None,
        error: None,
        fields,
        aside: vec![(
            lang.t("notification-settings-aside"),
            lang.t("nav-inbox"),
            "/inbox".to_owned(),
        )],
    };
    visit.respond(console, StatusCode::OK, render(&page)).await
}

pub async fn page(State(console): State<Console>, mut visit: Visit) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let answer = console
        .api
        .run::<api::NotificationPreferences>(
            Some(&token),
            &visit.client_address,
            notification_preferences::Variables {},
        )
        .await;
    match answer {
        Ok(data) => {
            let preferences: Vec<(String, String)> = data
                .notification_preferences
                .iter()
                .map(|p| (format!("{:?}", p.category), format!("{:?}", p.delivery)))
                .collect();
            show(&console, &mut visit, &preferences).await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

/// Saves the choices sent (`review=DIGEST`...); a value the page never offered is not sent
/// on, so the API keeps what was there.
pub async fn save(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let csrf = form.get("csrf").cloned().unwrap_or_default();
    let token = match visit
        .require_post_from_session(&console, &form, &csrf, PATH)
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let preferences: Vec<set_notification_preferences::NotificationPreferenceInput> = CATEGORIES
        .iter()
        .filter_map(|category| {
            let chosen = form.get(field_name(category)?)?;
            Some(set_notification_preferences::NotificationPreferenceInput {
                category: enum_value(CATEGORIES, category)?,
                delivery: enum_value(DELIVERIES, chosen)?,
            })
        })
        .collect();
    let saved = console
        .api
        .run::<api::SetNotificationPreferences>(
            Some(&token),
            &visit.client_address,
            set_notification_preferences::Variables { preferences },
        )
        .await;
    match saved {
        Ok(_) => {
            visit
                .redirect_with_notice(&console, "notice-notification-settings-saved", PATH)
                .await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

/// What the unsubscribe page says: the question, what was turned off, or that the link is
/// unknown.
enum Unsubscribing {
    Ask,
    Done(Vec<String>),
    Unknown,
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    layout: Layout,
    /// Where the confirming form posts (the link itself), while asking.
    action: Option<String>,
    lines: Vec<String>,
}

async fn unsubscribe_page(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    state: Unsubscribing,
) -> Response {
    let lang = visit.lang;
    let (status, action, lines) = match state {
        Unsubscribing::Ask => (
            StatusCode::OK,
            Some(format!("/unsubscribe/{}", super::url_encoded(token))),
            vec![lang.t("unsubscribe-ask")],
        ),
        Unsubscribing::Done(categories) if categories.is_empty() => (
            StatusCode::OK,
            None,
            vec![
                lang.t("unsubscribe-done-nothing"),
                lang.t("unsubscribe-done-more"),
            ],
        ),
        Unsubscribing::Done(categories) => {
            let names: Vec<String> = categories
                .iter()
                .map(|c| lang.t(&label_key("notification-category", c)))
                .collect();
            (
                StatusCode::OK,
                None,
                vec![
                    lang.t_with("unsubscribe-done", &[("categories", names.join(", "))]),
                    lang.t("unsubscribe-done-more"),
                ],
            )
        }
        Unsubscribing::Unknown => (
            StatusCode::NOT_FOUND,
            None,
            vec![lang.t("unsubscribe-unknown")],
        ),
    };
    let page = UnsubscribePage {
        layout: visit.layout(console, lang.t("unsubscribe-title"), ""),
        action,
        lines,
    };
    visit.respond(console, status, render(&page)).await
}

/// The link opened in a browser: asks first, since mail scanners open links too and must not
/// unsubscribe anyone.
pub async fn ask(
    State(console): State<Console>,
    mut visit: Visit,
    Path(token): Path<String>,
) -> Response {
    // A link cut short or mistyped is said at once, not after the button.
    let state = if axv_auth::is_well_formed_secret(&token) {
        Unsubscribing::Ask
    } else {
        Unsubscribing::Unknown
    };
    unsubscribe_page(&console, &mut visit, &token, state).await
}

/// The confirmation, from the page or from a mail program's one-click POST
/// (`List-Unsubscribe=One-Click`). No CSRF token: the link's token is the whole authority, and
/// no session is used.
pub async fn confirm(
    State(console): State<Console>,
    mut visit: Visit,
    Path(token): Path<String>,
) -> Response {
    let answer = console
        .api
        .run::<api::Unsubscribe>(
            None,
            &visit.client_address,
            api::unsubscribe::Variables {
                token: token.clone(),
            },
        )
        .await;
    let state = match answer {
        Ok(data) => {
            Unsubscribing::Done(data.unsubscribe.iter().map(|c| format!("{c:?}")).collect())
        }
        Err(error) if error.code == "NOT_FOUND" => Unsubscribing::Unknown,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    unsubscribe_page(&console, &mut visit, &token, state).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_has_a_field_and_labels_in_both_languages() {
        for category in CATEGORIES {
            assert!(field_name(category).is_some(), "{category}");
            for lang in [Lang::Ko, Lang::En] {
                let fields = fields(lang, &[((*category).to_owned(), "DIGEST".to_owned())]);
                assert_eq!(fields.len(), 1);
                assert_eq!(fields[0].value, "DIGEST");
                assert_eq!(fields[0].options.len(), 3);
                assert!(!fields[0].label.contains("notification-"), "{lang:?}");
                assert!(
                    fields[0]
                        .options
                        .iter()
                        .all(|o| !o.label.contains("notification-")),
                    "{lang:?}"
                );
            }
        }
        assert!(field_name("SECURITY").is_none());
    }
}
