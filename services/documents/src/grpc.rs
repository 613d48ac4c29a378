//! The documents service over gRPC: proto ⇄ use cases.

use axv_auth::caller;
use axv_proto::documents::v1 as pb;
use futures::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};

use crate::{
    domain::{ParentKind, ScanStatus},
    error::DocumentsError,
    parents::ParentRef,
    service::{Documents, Piece},
    store::DocumentRecord,
};

/// Bytes per message of a download.
const DOWNLOAD_PIECE_BYTES: usize = 256 * 1024;

pub struct DocumentsGrpc {
    service: Documents,
}

impl DocumentsGrpc {
    pub fn new(service: Documents) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::documents_service_server::DocumentsServiceServer<Self> {
        pb::documents_service_server::DocumentsServiceServer::new(self)
    }
}

pub fn kind_to_pb(kind: ParentKind) -> pb::ParentKind {
    match kind {
        ParentKind::Company => pb::ParentKind::Company,
        ParentKind::VoucherApplication => pb::ParentKind::VoucherApplication,
        ParentKind::Pilot => pb::ParentKind::Pilot,
        ParentKind::Milestone => pb::ParentKind::Milestone,
        ParentKind::OutcomeReport => pb::ParentKind::OutcomeReport,
    }
}

fn parent_from_pb(parent: Option<&pb::Parent>) -> Result<ParentRef, DocumentsError> {
    let parent = parent.ok_or_else(|| DocumentsError::invalid("parent", "is required"))?;
    let kind = match parent.kind() {
        pb::ParentKind::Company => ParentKind::Company,
        pb::ParentKind::VoucherApplication => ParentKind::VoucherApplication,
        pb::ParentKind::Pilot => ParentKind::Pilot,
        pb::ParentKind::Milestone => ParentKind::Milestone,
        pb::ParentKind::OutcomeReport => ParentKind::OutcomeReport,
        pb::ParentKind::Unspecified => {
            return Err(DocumentsError::invalid("parent", "kind is required"));
        }
    };
    if kind == ParentKind::Milestone && parent.pilot_id.is_empty() {
        return Err(DocumentsError::invalid(
            "parent",
            "a milestone is named with its pilot (pilot_id)",
        ));
    }
    Ok(ParentRef {
        kind,
        id: parent.id.clone(),
        pilot_id: if kind == ParentKind::Milestone {
            parent.pilot_id.clone()
        } else {
            String::new()
        },
    })
}

pub fn document_to_pb(d: DocumentRecord) -> pb::Document {
    let scan_status = match d.scan_status {
        ScanStatus::Clean => pb::ScanStatus::Clean,
        ScanStatus::Pending => pb::ScanStatus::Pending,
        ScanStatus::Infected => pb::ScanStatus::Infected,
    };
    pb::Document {
        parent: Some(pb::Parent {
            kind: kind_to_pb(d.parent_kind) as i32,
            id: d.parent_id,
            pilot_id: d.pilot_id,
        }),
        id: d.id,
        company_id: d.company_id,
        parent_version: i32::try_from(d.parent_version).unwrap_or_default(),
        file_name: d.file_name,
        content_type: d.content_type,
        size: d.size,
        sha256: d.sha256,
        uploaded_at_ms: d.uploaded_at,
        uploaded_by: d.uploaded_by,
        uploader_role: d.uploader_role,
        scan_status: scan_status as i32,
    }
}

type Reply<T> = Result<Response<T>, Status>;
type DownloadStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<pb::DownloadDocumentChunk, Status>> + Send>>;

#[tonic::async_trait]
impl pb::documents_service_server::DocumentsService for DocumentsGrpc {
    async fn upload_document(
        &self,
        request: Request<Streaming<pb::UploadDocumentChunk>>,
    ) -> Reply<pb::Document> {
        let caller = caller(&request).cloned();
        let mut chunks = request.into_inner();
        let first = chunks
            .message()
            .await?
            .ok_or_else(|| DocumentsError::invalid("file", "the upload held nothing"))?;
        let parent = parent_from_pb(first.parent.as_ref())?;
        let file_name = first.file_name.clone();
        let head = Piece {
            data: first.data,
            complete: first.complete,
        };
        let rest = chunks.map(|chunk| {
            chunk
                .map(|c| Piece {
                    data: c.data,
                    complete: c.complete,
                })
                .map_err(|status| {
                    DocumentsError::invalid(
                        "file",
                        format!("the upload broke off: {}", status.message()),
                    )
                })
        });
        let pieces = futures::stream::once(async { Ok(head) }).chain(rest);
        let document = self
            .service
            .upload(caller.as_ref(), &parent, &file_name, pieces)
            .await?;
        Ok(Response::new(document_to_pb(document)))
    }

    type DownloadDocumentStream = DownloadStream;

    async fn download_document(
        &self,
        request: Request<pb::DownloadDocumentRequest>,
    ) -> Reply<DownloadStream> {
        let (document, bytes) = self
            .service
            .download(caller(&request), &request.get_ref().id)
            .await?;
        let head = pb::DownloadDocumentChunk {
            document: Some(document_to_pb(document)),
            data: Vec::new(),
        };
        let pieces = bytes.flat_map(|piece| {
            let messages: Vec<Result<pb::DownloadDocumentChunk, Status>> = match piece {
                Ok(bytes) => bytes
                    .chunks(DOWNLOAD_PIECE_BYTES)
                    .map(|part| {
                        Ok(pb::DownloadDocumentChunk {
                            document: None,
                            data: part.to_vec(),
                        })
                    })
                    .collect(),
                Err(error) => vec![Err(Status::from(error))],
            };
            futures::stream::iter(messages)
        });
        let stream = futures::stream::once(async { Ok(head) }).chain(pieces);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_document(&self, request: Request<pb::GetDocumentRequest>) -> Reply<pb::Document> {
        let (document, _) = self
            .service
            .get(caller(&request), &request.get_ref().id)
            .await?;
        Ok(Response::new(document_to_pb(document)))
    }

    async fn list_documents(
        &self,
        request: Request<pb::ListDocumentsRequest>,
    ) -> Reply<pb::ListDocumentsResponse> {
        let parents = request
            .get_ref()
            .parents
            .iter()
            .map(|p| parent_from_pb(Some(p)))
            .collect::<Result<Vec<_>, _>>()?;
        let documents = self.service.list(caller(&request), &parents).await?;
        Ok(Response::new(pb::ListDocumentsResponse {
            documents: documents.into_iter().map(document_to_pb).collect(),
        }))
    }

    async fn delete_document(
        &self,
        request: Request<pb::DeleteDocumentRequest>,
    ) -> Reply<pb::DeleteDocumentResponse> {
        self.service
            .delete(caller(&request), &request.get_ref().id)
            .await?;
        Ok(Response::new(pb::DeleteDocumentResponse {}))
    }
}
