//! Notifications: each person's in-app inbox, filled by the notify service from the platform's
//! events (the same messages it e-mails). People read and mark only their own.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
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

// `inbox` shipped first with its own page type; `notifications` answers the contract's.
connection!(NotificationPage, NotificationEdge, Notification);
connection!(
    NotificationConnection,
    NotificationConnectionEdge,
    Notification
);

/// The caller's inbox: a page of it, and how many messages are unread in all.
#[derive(SimpleObject)]
pub struct Inbox {
    pub unread_count: i32,
    pub notifications: NotificationPage,
}

/// What a notification is about, as a person chooses how to hear of it.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotificationCategory {
    /// Programme managers: something waits for review.
    Review,
    /// Decisions on a company's registration.
    Company,
    /// Voucher applications decided; a voucher's balance and term.
    Voucher,
    /// A pilot's decisions and pauses.
    Pilot,
    /// Outcome reports returned or verified.
    Report,
}

const CATEGORIES: [(NotificationCategory, &str); 5] = [
    (NotificationCategory::Review, "review"),
    (NotificationCategory::Company, "company"),
    (NotificationCategory::Voucher, "voucher"),
    (NotificationCategory::Pilot, "pilot"),
    (NotificationCategory::Report, "report"),
];

impl NotificationCategory {
    fn name(self) -> &'static str {
        CATEGORIES
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("", |(_, name)| name)
    }

    fn from_name(name: &str) -> Option<Self> {
        CATEGORIES.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }
}

/// How a category's notifications come by e-mail. The inbox keeps every message whatever is
/// chosen.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotificationDelivery {
    /// One e-mail per message, at once (the default).
    Immediate,
    /// One e-mail a day (08:00 Korea time) gathering the messages since the last.
    Digest,
    /// No e-mail.
    Off,
}

impl NotificationDelivery {
    fn name(self) -> &'static str {
        match self {
            NotificationDelivery::Immediate => "immediate",
            NotificationDelivery::Digest => "digest",
            NotificationDelivery::Off => "off",
        }
    }

    fn from_name(name: &str) -> Self {
        match name {
            "digest" => NotificationDelivery::Digest,
            "off" => NotificationDelivery::Off,
            _ => NotificationDelivery::Immediate,
        }
    }
}

/// How the caller hears of one category by e-mail.
#[derive(SimpleObject, Clone, Debug)]
pub struct NotificationPreference {
    pub category: NotificationCategory,
    pub delivery: NotificationDelivery,
}

#[derive(InputObject, Clone, Debug)]
pub struct NotificationPreferenceInput {
    pub category: NotificationCategory,
    pub delivery: NotificationDelivery,
}

fn preferences_from_pb(answer: pb::NotificationPreferences) -> Vec<NotificationPreference> {
    answer
        .preferences
        .into_iter()
        .filter_map(|p| {
            Some(NotificationPreference {
                category: NotificationCategory::from_name(&p.category)?,
                delivery: NotificationDelivery::from_name(&p.delivery),
            })
        })
        .collect()
}

async fn list(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    unread_only: Option<bool>,
) -> Result<pb::ListNotificationsResponse> {
    let size = page_size(first)?;
    check_cursor(after.as_deref())?;
    call!(
        ctx,
        notify.list_notifications(pb::ListNotificationsRequest {
            page_size: size,
            page_token: after.unwrap_or_default(),
            unread_only: unread_only.unwrap_or(false),
        })
    )
}

/// A service page's nodes with their ids, its next page token and its total.
fn nodes(response: pb::ListNotificationsResponse) -> (Vec<(String, Notification)>, String, i64) {
    let nodes = response
        .notifications
        .into_iter()
        .map(|n| (n.id.clone(), Notification::from_pb(n)))
        .collect();
    (nodes, response.next_page_token, response.total)
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
        let response = list(ctx, first, after, unread_only).await?;
        let unread_count = i32::try_from(response.unread).unwrap_or(i32::MAX);
        let (nodes, next, total) = nodes(response);
        Ok(Inbox {
            unread_count,
            notifications: NotificationPage::from_page(nodes, next, total),
        })
    }

    /// The signed-in person's notifications, newest first (`unreadOnly` for the unread ones):
    /// the inbox without its unread count.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        unread_only: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<NotificationConnection> {
        let (nodes, next, total) = nodes(list(ctx, first, after, unread_only).await?);
        Ok(NotificationConnection::from_page(nodes, next, total))
    }

    /// How the signed-in person hears of each category their role receives, by e-mail.
    async fn notification_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<NotificationPreference>> {
        let answer = call!(
            ctx,
            notify.get_notification_preferences(pb::GetNotificationPreferencesRequest {})
        )?;
        Ok(preferences_from_pb(answer))
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

    /// Changes how the caller hears of the categories given (all or none: a category their
    /// role does not receive is BAD_USER_INPUT). Answers every preference after it.
    async fn set_notification_preferences(
        &self,
        ctx: &Context<'_>,
        preferences: Vec<NotificationPreferenceInput>,
    ) -> Result<Vec<NotificationPreference>> {
        let answer = call!(
            ctx,
            notify.set_notification_preferences(pb::SetNotificationPreferencesRequest {
                preferences: preferences
                    .into_iter()
                    .map(|p| pb::NotificationPreference {
                        category: p.category.name().to_owned(),
                        delivery: p.delivery.name().to_owned(),
                    })
                    .collect(),
            })
        )?;
        Ok(preferences_from_pb(answer))
    }

    /// One-click unsubscribe with the token of an e-mail's link (no sign-in needed): turns
    /// that e-mail's category off (a daily digest's: every category gathered in digests).
    /// Answers the categories now off; NOT_FOUND for a token never issued.
    async fn unsubscribe(
        &self,
        ctx: &Context<'_>,
        token: String,
    ) -> Result<Vec<NotificationCategory>> {
        let answer = call!(ctx, notify.unsubscribe(pb::UnsubscribeRequest { token }))?;
        Ok(answer
            .categories
            .iter()
            .filter_map(|c| NotificationCategory::from_name(c))
            .collect())
    }
}
