//! 알림: the signed-in person's notifications (what the platform also e-mails them), newest
//! first; opening one marks it read and goes where it points; the header shows how many are
//! unread.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

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

/// How long the header's unread count is reused before the API is asked again: every page
/// shows it, and asking on each would double what a person's pages cost against their budget.
const COUNT_FRESH: Duration = Duration::from_secs(30);
/// Counts kept at most; older ones are dropped first when there are more.
const COUNTS_KEPT: usize = 10_000;

/// Each person's unread count as last asked, in this console process.
#[derive(Clone, Default)]
pub struct UnreadCounts(Arc<Mutex<HashMap<String, (i64, Instant)>>>);

impl UnreadCounts {
    fn fresh(&self, user: &str) -> Option<i64> {
        let counts = self.0.lock().ok()?;
        counts
            .get(user)
            .filter(|(_, at)| at.elapsed() < COUNT_FRESH)
            .map(|(count, _)| *count)
    }

    fn keep(&self, user: &str, count: i64) {
        if let Ok(mut counts) = self.0.lock() {
            if counts.len() >= COUNTS_KEPT {
                counts.retain(|_, (_, at)| at.elapsed() < COUNT_FRESH);
            }
            counts.insert(user.to_owned(), (count, Instant::now()));
        }
    }

    /// After something was read: the next page asks again.
    fn forget(&self, user: &str) {
        if let Ok(mut counts) = self.0.lock() {
            counts.remove(user);
        }
    }
}

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
    if let Some(user) = visit.user_id() {
        console.unread.keep(user, unread);
    }
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
    let link = open.to.filter(|to| super::is_local_path(to));
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
    if let Some(user) = visit.user_id() {
        console.unread.forget(user);
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
    if let Some(user) = visit.user_id() {
        console.unread.forget(user);
    }
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
    if let Some(user) = visit.user_id().map(str::to_owned) {
        match console.unread.fresh(&user) {
            Some(count) => unread = count,
            None => {
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
                    console.unread.keep(&user, unread);
                }
            }
        }
    }
    let fragment = InboxLink {
        label: lang.t("nav-inbox"),
        unread,
        unread_sr: lang.t_with("inbox-unread-sr", &[("n", unread.to_string())]),
    };
    ([("cache-control", "no-store")], render(&fragment)).into_response()
}
