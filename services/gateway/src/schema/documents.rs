//! Documents: files attached to a company, a voucher application, a pilot, a milestone or an
//! outcome report. Uploads are GraphQL multipart requests (the `Upload` scalar), spooled to a
//! temporary file by the gateway and streamed on to the documents service; downloads are
//! `GET /documents/<id>` (see `crate::documents`).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{
    Context, ID, Object, Result, Upload, dataloader::DataLoader, dataloader::Loader,
};
use axv_proto::documents::v1 as pb;
use futures::StreamExt as _;
use tokio::io::AsyncReadExt as _;

use super::{
    onboarding::{User, parts, user_for},
    scalars::{DateTime, Long},
    support::mirror_enum,
};
use crate::{
    clients::{Clients, UPLOAD_TIMEOUT, request, request_within},
    context::RequestContext,
    errors::from_status,
};

mirror_enum!(
    DocumentParentKind,
    pb::ParentKind {
        Company,
        VoucherApplication,
        Pilot,
        Milestone,
        OutcomeReport
    }
);
mirror_enum!(
    DocumentScanStatus,
    pb::ScanStatus {
        Clean,
        Pending,
        Infected
    }
);

/// Parents the documents service lists in one call.
pub const MAX_PARENTS_PER_CALL: usize = 200;

/// Bytes per message sent on to the documents service.
const PIECE_BYTES: usize = 256 * 1024;

/// A file attached to something, as its parent's readers see it.
pub struct Document(pub pb::Document);

#[Object]
impl Document {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// As uploaded, made safe: no path, no control characters.
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }
    /// Decided from the file's bytes, not its name.
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }
    /// Bytes.
    async fn size(&self) -> Long {
        Long(self.0.size)
    }
    /// SHA-256 of the bytes as uploaded, lowercase hex; downloads are checked against it.
    async fn sha256(&self) -> &str {
        &self.0.sha256
    }
    async fn uploaded_at(&self) -> DateTime {
        DateTime::from_millis(self.0.uploaded_at_ms)
    }
    /// Who uploaded it. `email` is empty unless the caller may see it (staff see every
    /// address; others their own and the programme office's); an API client's name is its id.
    async fn uploaded_by(&self, ctx: &Context<'_>) -> Result<User> {
        user_for(ctx, &self.0.uploaded_by, &self.0.uploader_role).await
    }
    /// Not downloadable until the malware scanner passes it (when one is configured).
    async fn scan_status(&self) -> DocumentScanStatus {
        DocumentScanStatus::from_pb(self.0.scan_status).unwrap_or(DocumentScanStatus::Pending)
    }
    async fn parent_kind(&self) -> Result<DocumentParentKind> {
        self.0
            .parent
            .as_ref()
            .and_then(|p| DocumentParentKind::from_pb(p.kind))
            .ok_or_else(|| super::support::internal("document parent"))
    }
    async fn parent_id(&self) -> ID {
        ID(self
            .0
            .parent
            .as_ref()
            .map(|p| p.id.clone())
            .unwrap_or_default())
    }
    /// The outcome report's version it was attached to; `null` for other parents.
    async fn parent_version(&self) -> Option<i32> {
        (self.0.parent_version > 0).then_some(self.0.parent_version)
    }
    /// Where its bytes are downloaded with the same bearer token: `/documents/<id>`.
    async fn download_path(&self) -> String {
        format!("/documents/{}", self.0.id)
    }
}

/// A parent as the documents service names it: kind, id, and a milestone's pilot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParentKey {
    pub kind: DocumentParentKind,
    pub id: String,
    pub pilot_id: String,
}

impl ParentKey {
    fn to_pb(&self) -> pb::Parent {
        pb::Parent {
            kind: pb::ParentKind::from(self.kind) as i32,
            id: self.id.clone(),
            pilot_id: self.pilot_id.clone(),
        }
    }
}

/// `documents` on every parent type of a page, in one call.
pub struct DocumentsLoader {
    pub clients: Clients,
    pub ctx: RequestContext,
}

impl Loader<ParentKey> for DocumentsLoader {
    type Value = Vec<pb::Document>;
    type Error = Arc<async_graphql::Error>;

    async fn load(
        &self,
        keys: &[ParentKey],
    ) -> Result<HashMap<ParentKey, Vec<pb::Document>>, Self::Error> {
        let response = self
            .clients
            .documents
            .clone()
            .list_documents(request(
                &self.ctx,
                pb::ListDocumentsRequest {
                    parents: keys.iter().map(ParentKey::to_pb).collect(),
                },
            ))
            .await
            .map_err(|status| Arc::new(from_status(status)))?
            .into_inner();
        let mut found: HashMap<ParentKey, Vec<pb::Document>> = HashMap::new();
        for document in response.documents {
            let Some(key) = document.parent.as_ref().and_then(|p| {
                Some(ParentKey {
                    kind: DocumentParentKind::from_pb(p.kind)?,
                    id: p.id.clone(),
                    pilot_id: p.pilot_id.clone(),
                })
            }) else {
                continue;
            };
            found.entry(key).or_default().push(document);
        }
        Ok(found)
    }
}

/// The `documents` field of a parent: what the caller may read of it, oldest first. Dashboards
/// and anonymous callers, who never read documents, get none.
pub(super) async fn documents_of(
    ctx: &Context<'_>,
    kind: DocumentParentKind,
    id: &str,
    pilot_id: &str,
) -> Result<Vec<Document>> {
    let (_, rc) = parts(ctx)?;
    match &rc.caller {
        Some(caller) if caller.role != axv_auth::Role::Dashboard => {}
        _ => return Ok(Vec::new()),
    }
    let key = ParentKey {
        kind,
        id: id.to_owned(),
        pilot_id: pilot_id.to_owned(),
    };
    Ok(ctx
        .data::<DataLoader<DocumentsLoader>>()?
        .load_one(key)
        .await
        .map_err(|e| (*e).clone())?
        .unwrap_or_default()
        .into_iter()
        .map(Document)
        .collect())
}

#[derive(Default)]
pub struct DocumentsQuery;

#[Object]
impl DocumentsQuery {
    /// The documents of one company, voucher application, pilot, milestone (with `pilotId`) or
    /// outcome report that the caller may read, oldest first: the same list as the parent's own
    /// `documents` field, for a client that has the parent's id at hand.
    async fn documents(
        &self,
        ctx: &Context<'_>,
        parent_kind: DocumentParentKind,
        parent_id: ID,
        pilot_id: Option<ID>,
    ) -> Result<Vec<Document>> {
        let pilot_id = pilot_id.map(|p| p.0).unwrap_or_default();
        documents_of(ctx, parent_kind, &parent_id, &pilot_id).await
    }

    /// One document the caller may read (its metadata; the bytes are `downloadPath`). Another
    /// firm's, or one deleted, is NOT_FOUND.
    async fn document(&self, ctx: &Context<'_>, id: ID) -> Result<Document> {
        let document = call!(
            ctx,
            documents.get_document(pb::GetDocumentRequest { id: id.0 })
        )?;
        Ok(Document(document))
    }
}

#[derive(Default)]
pub struct DocumentsMutation;

#[Object]
impl DocumentsMutation {
    /// Attaches a file (a GraphQL multipart request; `curl -F`) to a company, a voucher
    /// application, a pilot, a milestone (with `pilotId`) or an outcome report. The firm adds
    /// files while the item is its own to edit; managers add review documents while they
    /// review it. The type is decided from the bytes: PDF, PNG, JPEG, HWP, HWPX, DOCX, XLSX,
    /// PPTX, CSV or ZIP; anything else, a file over the size limit or an item over its total is
    /// BAD_USER_INPUT with `extensions.reason` (UNSUPPORTED_FILE_TYPE, FILE_TOO_LARGE,
    /// PARENT_FULL).
    async fn upload_document(
        &self,
        ctx: &Context<'_>,
        parent_kind: DocumentParentKind,
        parent_id: ID,
        pilot_id: Option<ID>,
        file: Upload,
    ) -> Result<Document> {
        let (clients, rc) = parts(ctx)?;
        let upload = file.value(ctx)?;
        let parent = ParentKey {
            kind: parent_kind,
            id: parent_id.0,
            pilot_id: pilot_id.map(|p| p.0).unwrap_or_default(),
        }
        .to_pb();
        // Another variable may have read the same spooled file: start from its beginning.
        let mut content = upload.content;
        std::io::Seek::rewind(&mut content)?;
        let file = tokio::fs::File::from_std(content);
        let pieces = pieces(file, parent, upload.filename);
        let document = clients
            .documents_transfers
            .clone()
            .upload_document(request_within(&rc, pieces, UPLOAD_TIMEOUT))
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(Document(document))
    }

    /// Deletes a document: its uploader, while the item still takes changes from them.
    async fn delete_document(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        call!(
            ctx,
            documents.delete_document(pb::DeleteDocumentRequest { id: id.0.clone() })
        )?;
        Ok(id)
    }
}

/// The spooled file as the documents service takes it: the parent and name first, then the
/// bytes a piece at a time, the last piece marked complete. A read error ends the pieces
/// without that mark, so nothing is stored.
fn pieces(
    file: tokio::fs::File,
    parent: pb::Parent,
    file_name: String,
) -> impl futures::Stream<Item = pb::UploadDocumentChunk> + Send + 'static {
    futures::stream::unfold(
        (file, Some((parent, file_name)), false),
        |(mut file, mut head, done)| async move {
            if done {
                return None;
            }
            let mut data = Vec::with_capacity(PIECE_BYTES);
            match (&mut file)
                .take(PIECE_BYTES as u64)
                .read_to_end(&mut data)
                .await
            {
                Ok(_) => {
                    let complete = data.len() < PIECE_BYTES;
                    let (parent, file_name) = head.take().unzip();
                    let piece = pb::UploadDocumentChunk {
                        parent,
                        file_name: file_name.unwrap_or_default(),
                        data,
                        complete,
                    };
                    Some((piece, (file, head, complete)))
                }
                Err(error) => {
                    tracing::warn!(%error, "a spooled upload could not be read back");
                    None
                }
            }
        },
    )
    .boxed()
}
