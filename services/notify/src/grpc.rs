//! The notify service over gRPC: proto ⇄ use cases.

use axv_auth::caller;
use axv_platform::pagination::PageRequest;
use axv_proto::notify::v1 as pb;
use tonic::{Request, Response, Status};

use crate::{error::NotifyError, service::Notify, store::NotificationRecord};

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
}
