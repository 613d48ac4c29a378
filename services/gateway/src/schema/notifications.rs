//! Notifications: each person's in-app inbox, filled by the notify service from the platform's
//! events (the same messages it e-mails). People read and mark only their own.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use axv_proto::notify::v1 as pb;

use super::{
    connection::{check_cursor, connection, page_size},
    scalars::DateTime,
};

/// One message of the inbox.
#[derive(SimpleObject, Clone, Debug)]
pub struct Notification {
    pub id: ID,
    /// The event it tells of, e.g. `company.approved`.
    pub kind: String,
    /// The company, voucher application, voucher, pilot or report it is about.
    pub subject_id: ID,
    /// In the person's language when it was written.
    pub title: String,
    pub body: String,
    /// Where it is on the console (a path such as `/companies/<id>`).
    pub link: String,
    pub created_at: DateTime,
    pub read_at: Option<DateTime>,
}

impl Notification {
    fn from_pb(n: pb::Notification) -> Self {
        Self {
            id: ID(n.id),
            kind: n.kind,
            subject_id: ID(n.subject_id),
            title: n.title,
            body: n.body,
            link: n.link,
            created_at: DateTime::from_millis(n.created_at_ms),
            read_at: n.read_at_ms.map(DateTime::from_millis),
        }
    }
}

connection!(NotificationPage, NotificationEdge, Notification);

/// The caller's inbox: a page of it, and how many messages are unread in all.
#[derive(SimpleObject)]
pub struct Inbox {
    pub unread_count: i32,
    pub notifications: NotificationPage,
}

#[derive(Default)]
pub struct NotificationsQuery;

#[Object]
impl NotificationsQuery {
    /// The signed-in person's notifications, newest first (`unreadOnly` for the unread ones),
    /// and how many are unread. People only; a dashboard's token is FORBIDDEN.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        unread_only: Option<bool>,
    ) -> Result<Inbox> {
        let size = page_size(first)?;
        check_cursor(after.as_deref())?;
        let response = call!(
            ctx,
            notify.list_notifications(pb::ListNotificationsRequest {
                page_size: size,
                page_token: after.unwrap_or_default(),
                unread_only: unread_only.unwrap_or(false),
            })
        )?;
        let nodes = response
            .notifications
            .into_iter()
            .map(|n| (n.id.clone(), Notification::from_pb(n)))
            .collect();
        Ok(Inbox {
            unread_count: i32::try_from(response.unread).unwrap_or(i32::MAX),
            notifications: NotificationPage::from_page(
                nodes,
                response.next_page_token,
                response.total,
            ),
        })
    }
}

#[derive(Default)]
pub struct NotificationsMutation;

#[Object]
impl NotificationsMutation {
    /// Marks the caller's notifications read: `ids` (at most 100; others' ids change
    /// nothing), or every one with `all: true`. Answers how many stay unread.
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        all: Option<bool>,
    ) -> Result<i32> {
        let response = call!(
            ctx,
            notify.mark_notifications_read(pb::MarkNotificationsReadRequest {
                ids: ids.unwrap_or_default().into_iter().map(|id| id.0).collect(),
                all: all.unwrap_or(false),
            })
        )?;
        Ok(i32::try_from(response.unread).unwrap_or(i32::MAX))
    }
}
