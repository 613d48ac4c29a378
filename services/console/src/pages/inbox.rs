//! 알림: the signed-in person's notifications (what the platform also e-mails them), newest
//! first; opening one marks it read and goes where it points; the header shows how many are
//! unread.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{error_page, form::CsrfOnly};
use crate::{
    Console, Layout, Visit,
    api::{self, inbox, mark_notifications_read},
    format::kst,
    render,
};

pub struct Item {
    pub id: String,
    pub link: String,
    pub title: String,
    pub body: String,
    pub at: String,
    pub unread: bool,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    layout: Layout,
    lead: String,
    unread: i64,
    items: Vec<Item>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "inbox_link.html")]
struct InboxLink {
    label: String,
    unread: i64,
    unread_sr: String,
}

#[derive(Deserialize, Default)]
pub struct Page {
    after: Option<String>,
}

async fn fetch(
    console: &Console,
    visit: &Visit,
    token: &str,
    after: Option<String>,
) -> Result<inbox::ResponseData, api::ApiError> {
    console
        .api
        .run::<api::Inbox>(
            Some(token),
            &visit.client_address,
            inbox::Variables {
                first: Some(20),
                after,
            },
        )
        .await
}

pub async fn page(
    State(console): State<Console>,
    mut visit: Visit,
    Query(page): Query<Page>,
) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let data = match fetch(&console, &visit, &token, page.after).await {
        Ok(data) => data,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let lang = visit.lang;
    let unread = data.inbox.unread_count;
    let notifications = data.inbox.notifications;
    let items = notifications
        .edges
        .into_iter()
        .map(|edge| Item {
            id: edge.node.id,
            link: edge.node.link,
            title: edge.node.title,
            body: edge.node.body,
            at: kst(&edge.node.created_at),
            unread: edge.node.read_at.is_none(),
        })
        .collect();
    let page = InboxPage {
        layout: visit.layout(&console, lang.t("inbox-title"), "inbox"),
        lead: lang.t_with("inbox-lead", &[("unread", unread.to_string())]),
        unread,
        items,
        next: notifications
            .page_info
            .has_next_page
            .then_some(notifications.page_info.end_cursor)
            .flatten(),
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

#[derive(Deserialize, Default)]
pub struct Open {
    to: Option<String>,
}

/// Marks one notification read and goes where it points, `to` (a path on this site only,
/// else the inbox). Another person's id marks nothing; their pages answer 404 as ever.
pub async fn open(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Query(open): Query<Open>,
) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let link = open
        .to
        .filter(|to| to.starts_with('/') && !to.starts_with("//") && !to.contains('\\'));
    let marked = console
        .api
        .run::<api::MarkNotificationsRead>(
            Some(&token),
            &visit.client_address,
            mark_notifications_read::Variables {
                ids: Some(vec![id]),
                all: None,
            },
        )
        .await;
    if let Err(error) = marked {
        return error_page(&console, &mut visit, &error).await;
    }
    visit
        .redirect(&console, link.as_deref().unwrap_or("/inbox"))
        .await
}

pub async fn read_all(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let token = match visit
        .require_post_from_session(&console, &form, &form.csrf, "/inbox")
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let marked = console
        .api
        .run::<api::MarkNotificationsRead>(
            Some(&token),
            &visit.client_address,
            mark_notifications_read::Variables {
                ids: None,
                all: Some(true),
            },
        )
        .await;
    match marked {
        Ok(_) => {
            visit
                .redirect_with_notice(&console, "notice-inbox-read", "/inbox")
                .await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

/// The header's 알림 link with the unread count, for htmx to swap in; without a sign-in (or
/// when the count cannot be had) the plain link.
pub async fn link(State(console): State<Console>, mut visit: Visit) -> Response {
    let lang = visit.lang;
    let mut unread = 0;
    if let Some(token) = visit.token(&console).await
        && let Ok(data) = console
            .api
            .run::<api::InboxCount>(
                Some(&token),
                &visit.client_address,
                api::inbox_count::Variables {},
            )
            .await
    {
        unread = data.inbox.unread_count;
    }
    let fragment = InboxLink {
        label: lang.t("nav-inbox"),
        unread,
        unread_sr: lang.t_with("inbox-unread-sr", &[("n", unread.to_string())]),
    };
    ([("cache-control", "no-store")], render(&fragment)).into_response()
}
