//! The pages, one module per part of the site, and the pages every part shares: 404, the error
//! page with its trace id, and the language switch.

pub mod account;
pub mod api_clients;
pub mod audit;
pub mod companies;
pub mod documents;
pub mod figures;
pub mod form;
pub mod home;
pub mod inbox;
pub mod multipart;
pub mod my_pilots;
pub mod notification_settings;
pub mod once;
pub mod password_reset;
pub mod pilots;
pub mod programmes;
pub mod reports;
pub mod review;
pub mod staff;
pub mod usage;
pub mod vouchers;

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use crate::{
    Console, Layout, Visit,
    api::ApiError,
    i18n::{Lang, language_cookie},
    render,
};

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage {
    layout: Layout,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    message: String,
    trace_id: Option<String>,
}

pub async fn not_found(State(console): State<Console>, mut visit: Visit) -> Response {
    not_found_page(&console, &mut visit).await
}

/// The 404 page: for an unknown address, and for anything the API says is NOT_FOUND (another
/// firm's company, voucher, pilot or report looks exactly like none at all).
pub async fn not_found_page(console: &Console, visit: &mut Visit) -> Response {
    let title = visit.lang.t("not-found-title");
    let layout = visit.layout(console, title, "");
    visit
        .respond(
            console,
            StatusCode::NOT_FOUND,
            render(&NotFoundPage { layout }),
        )
        .await
}

/// The 403 page: a signed-in person whose role may not see the page (a firm member at the
/// programme office's worklist), as the API would refuse them.
pub async fn forbidden_page(console: &Console, visit: &mut Visit) -> Response {
    error_page(console, visit, &ApiError::forbidden()).await
}

/// `text` as a query-string value: letters, digits and `-_.` as they are, every other byte
/// percent-encoded (Korean search words included).
pub fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The signed-in person's token when their role is one of `roles`; the sign-in page for a
/// visitor, the 403 page for anyone else.
pub async fn require_role(
    console: &Console,
    visit: &mut Visit,
    roles: &[&str],
) -> Result<String, Response> {
    let token = visit.require_sign_in(console).await?;
    if roles.iter().any(|role| visit.has_role(role)) {
        Ok(token)
    } else {
        Err(forbidden_page(console, visit).await)
    }
}

/// The token for a form `posted` (with its CSRF token) by someone whose role is one of `roles`:
/// the sign-in page (what was typed kept) for a visitor, the 403 page for another role, and
/// `back` with nothing done for a forged or stale form.
pub async fn require_role_to_post(
    console: &Console,
    visit: &mut Visit,
    roles: &[&str],
    (form, csrf): (&impl serde::Serialize, &str),
    back: &str,
) -> Result<String, Response> {
    let token = visit.require_sign_in_to_post(console, form).await?;
    if !roles.iter().any(|role| visit.has_role(role)) {
        return Err(forbidden_page(console, visit).await);
    }
    if !visit.posted_by_session(csrf) {
        return Err(visit
            .redirect_with_notice(console, "notice-stale-form", back)
            .await);
    }
    Ok(token)
}

/// The page for an API refusal a form cannot show beside a field: 404 for NOT_FOUND, the error
/// page (with the trace id) for the rest.
pub async fn error_page(console: &Console, visit: &mut Visit, error: &ApiError) -> Response {
    if error.code == "NOT_FOUND" {
        return not_found_page(console, visit).await;
    }
    // The API ended this sign-in before its time (a new password, another role, a
    // deactivation): the person signs in again and comes back, instead of an error page under
    // their own name.
    if error.code == "UNAUTHENTICATED" && visit.user_id().is_some() {
        visit.end_sign_in("notice-session-ended");
        if let Err(sign_in) = visit.require_sign_in(console).await {
            return sign_in;
        }
    }
    let status = match error.code.as_str() {
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        "BAD_USER_INPUT" => StatusCode::BAD_REQUEST,
        "CONFLICT" | "FAILED_PRECONDITION" | "NOT_ELIGIBLE" => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR || status == StatusCode::SERVICE_UNAVAILABLE {
        tracing::warn!(code = %error.code, message = %error.message, trace_id = ?error.trace_id, "page failed");
    }
    let message = visit.explain(error);
    let title = visit.lang.t("error-title");
    let layout = visit.layout(console, title, "");
    let page = ErrorPage {
        layout,
        message,
        trace_id: error.trace_id.clone(),
    };
    visit.respond(console, status, render(&page)).await
}

#[derive(Deserialize)]
pub struct Back {
    back: Option<String>,
}

/// Whether `path` is a page of this site to send someone back to: a path from the root, and
/// nothing a browser would read as another site (`//host`, `/\host`, or either with a tab or
/// line break in between, which browsers drop).
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// `back` when it is a page of this site, else the home page.
pub fn local_or_home(back: &str) -> String {
    if is_local_path(back) {
        back.to_owned()
    } else {
        "/".to_owned()
    }
}

/// Keeps the chosen language in a cookie and goes back to the page (on this site only).
pub async fn switch_language(Path(code): Path<String>, Query(back): Query<Back>) -> Response {
    let lang = Lang::parse(&code).unwrap_or_default();
    let back = local_or_home(back.back.as_deref().unwrap_or_default());
    let cookie = language_cookie(lang);
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::LOCATION,
                HeaderValue::from_str(&back).unwrap_or(HeaderValue::from_static("/")),
            ),
            (
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static("")),
            ),
        ],
    )
        .into_response()
}

/// One step of a status timeline: the new status's label, when, who (by name) and the note.
pub struct HistoryEntry {
    pub to: String,
    pub at: String,
    pub by: Option<String>,
    pub note: Option<String>,
}

impl HistoryEntry {
    /// `label_prefix`: the Fluent prefix of the statuses' labels (`company-status`).
    pub fn new(
        lang: Lang,
        label_prefix: &str,
        to: &str,
        at: &str,
        by: Option<String>,
        note: Option<String>,
    ) -> Self {
        Self {
            to: lang.t(&label_key(label_prefix, to)),
            at: crate::format::kst(at),
            by,
            note: note.filter(|n| !n.is_empty()),
        }
    }
}

/// A timeline on its own, for a page with several (one per report version).
#[derive(Template)]
#[template(path = "timeline.html")]
pub struct Timeline {
    pub history: Vec<HistoryEntry>,
}

/// An enum value of the API as the Fluent key of its label: `("domain", "AUTONOMOUS_DRIVING")`
/// -> `domain-autonomous-driving`.
pub fn label_key(prefix: &str, value: &str) -> String {
    format!("{prefix}-{}", value.to_ascii_lowercase().replace('_', "-"))
}

/// One entry of a select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    /// The select's first entry that chooses nothing ("every industry", "no pilot"), labelled
    /// by `label_key`, selected while `chosen` is empty.
    pub fn nothing(lang: Lang, label_key: &str, chosen: &str) -> Self {
        Self {
            value: String::new(),
            label: lang.t(label_key),
            selected: chosen.is_empty(),
        }
    }
}

/// A select of the API enum's `values` after a first entry that chooses nothing.
pub fn choices_or_nothing(
    lang: Lang,
    prefix: &str,
    values: &[&str],
    chosen: &str,
    nothing_key: &str,
) -> Vec<Choice> {
    let mut options = vec![Choice::nothing(lang, nothing_key, chosen)];
    options.extend(choices(lang, prefix, values, chosen));
    options
}

/// A select of the API enum's `values`, labelled from `prefix-<value>`, `chosen` selected.
pub fn choices(lang: Lang, prefix: &str, values: &[&str], chosen: &str) -> Vec<Choice> {
    values
        .iter()
        .map(|value| Choice {
            value: (*value).to_owned(),
            label: lang.t(&label_key(prefix, value)),
            selected: *value == chosen,
        })
        .collect()
}

/// An API enum's value from its name (`"HEALTHCARE"`), when the page offers it among
/// `allowed`: anything else typed into an address or a form is not sent on.
pub fn enum_value<T: serde::de::DeserializeOwned>(allowed: &[&str], value: &str) -> Option<T> {
    allowed
        .contains(&value)
        .then(|| serde_json::from_value(serde_json::Value::String(value.to_owned())).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn only_this_sites_pages_are_gone_back_to() {
        for local in [
            "/",
            "/companies/c1",
            "/inbox?after=abc",
            "/lang/ko?back=%2F",
        ] {
            assert!(is_local_path(local), "{local}");
        }
        for elsewhere in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "https://evil.example",
            "evil.example",
            "",
        ] {
            assert!(!is_local_path(elsewhere), "{elsewhere:?}");
        }
    }
}
