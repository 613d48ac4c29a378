//! The notify service over gRPC: proto ⇄ use cases.

use axv_auth::caller;
use axv_platform::pagination::PageRequest;
use axv_proto::notify::v1 as pb;
use tonic::{Request, Response, Status};

use crate::{
    error::NotifyError,
    service::{Notify, Preference},
    store::NotificationRecord,
};

pub struct NotifyGrpc {
    service: Notify,
}

impl NotifyGrpc {
    pub fn new(service: Notify) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::notify_service_server::NotifyServiceServer<Self> {
        pb::notify_service_server::NotifyServiceServer::new(self)
    }
}

fn notification_to_pb(n: NotificationRecord) -> pb::Notification {
    pb::Notification {
        id: n.id,
        kind: n.kind,
        subject_id: n.subject_id,
        title: n.title,
        body: n.body,
        link: n.link,
        created_at_ms: n.created_at,
        read_at_ms: n.read_at,
    }
}

fn preferences_to_pb(preferences: Vec<Preference>) -> pb::NotificationPreferences {
    pb::NotificationPreferences {
        preferences: preferences
            .into_iter()
            .map(|p| pb::NotificationPreference {
                category: p.category.as_str().to_owned(),
                delivery: p.delivery.as_str().to_owned(),
            })
            .collect(),
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::notify_service_server::NotifyService for NotifyGrpc {
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Reply<pb::ListNotificationsResponse> {
        let r = request.get_ref();
        let page = PageRequest::parse(r.page_size, &r.page_token)
            .map_err(|e| NotifyError::invalid(e.field(), e.to_string()))?;
        let (rows, next_page_token, total, unread) = self
            .service
            .inbox(caller(&request), &page, r.unread_only)
            .await?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: rows.into_iter().map(notification_to_pb).collect(),
            next_page_token,
            unread,
            total,
        }))
    }

    async fn mark_notifications_read(
        &self,
        request: Request<pb::MarkNotificationsReadRequest>,
    ) -> Reply<pb::MarkNotificationsReadResponse> {
        let r = request.get_ref();
        let unread = self
            .service
            .mark_read(caller(&request), &r.ids, r.all)
            .await?;
        Ok(Response::new(pb::MarkNotificationsReadResponse { unread }))
    }

    async fn get_notification_preferences(
        &self,
        request: Request<pb::GetNotificationPreferencesRequest>,
    ) -> Reply<pb::NotificationPreferences> {
        let preferences = self.service.preferences(caller(&request)).await?;
        Ok(Response::new(preferences_to_pb(preferences)))
    }

    async fn set_notification_preferences(
        &self,
        request: Request<pb::SetNotificationPreferencesRequest>,
    ) -> Reply<pb::NotificationPreferences> {
        let choices: Vec<(String, String)> = request
            .get_ref()
            .preferences
            .iter()
            .map(|p| (p.category.clone(), p.delivery.clone()))
            .collect();
        let preferences = self
            .service
            .set_preferences(caller(&request), &choices)
            .await?;
        Ok(Response::new(preferences_to_pb(preferences)))
    }

    async fn unsubscribe(
        &self,
        request: Request<pb::UnsubscribeRequest>,
    ) -> Reply<pb::UnsubscribeResponse> {
        let categories = self.service.unsubscribe(&request.get_ref().token).await?;
        Ok(Response::new(pb::UnsubscribeResponse {
            categories: categories
                .into_iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
        }))
    }
}
