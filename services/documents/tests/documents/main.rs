//! The documents service's tests, in one binary, over real gRPC with the services that own
//! documents' parents behind it: files in and out on SQLite and Postgres and through a real
//! S3-compatible server (`transfers`), every refusal (`refusals`), deletion, the purge and the
//! malware scanner hook (`lifecycle`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lifecycle;
mod refusals;
mod transfers;

use axv_proto::documents::v1::{self as pb, documents_service_client::DocumentsServiceClient};
use axv_testkit::{Firm, Stack, authed};
use sha2::{Digest as _, Sha256};
use tonic::transport::Channel;

pub type Client = DocumentsServiceClient<Channel>;

pub async fn client(h: &Stack) -> Client {
    DocumentsServiceClient::new(h.channel("documents").await)
        .max_decoding_message_size(8 * 1024 * 1024)
}

pub fn parent(kind: pb::ParentKind, id: &str) -> pb::Parent {
    pb::Parent {
        kind: kind as i32,
        id: id.to_owned(),
        pilot_id: String::new(),
    }
}

pub fn company_of(firm: &Firm) -> pb::Parent {
    parent(pb::ParentKind::Company, &firm.company_id)
}

pub use axv_testkit::files::{office_file, pdf};

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The pieces of an upload of `bytes` named `name`, `piece` bytes each; `complete` marks the
/// last (an upload cut off leaves it out).
pub fn pieces(
    parent: pb::Parent,
    name: &str,
    bytes: &[u8],
    piece: usize,
    complete: bool,
) -> Vec<pb::UploadDocumentChunk> {
    let mut chunks: Vec<pb::UploadDocumentChunk> = bytes
        .chunks(piece.max(1))
        .map(|data| pb::UploadDocumentChunk {
            data: data.to_vec(),
            ..Default::default()
        })
        .collect();
    if chunks.is_empty() {
        chunks.push(pb::UploadDocumentChunk::default());
    }
    chunks[0].parent = Some(parent);
    chunks[0].file_name = name.to_owned();
    if let Some(last) = chunks.last_mut() {
        last.complete = complete;
    }
    chunks
}

pub async fn upload(
    client: &mut Client,
    token: &str,
    parent: pb::Parent,
    name: &str,
    bytes: &[u8],
) -> Result<pb::Document, tonic::Status> {
    let chunks = pieces(parent, name, bytes, 256 * 1024, true);
    client
        .upload_document(authed(futures::stream::iter(chunks), token))
        .await
        .map(tonic::Response::into_inner)
}

/// The document's metadata and bytes, or the refusal (before the bytes, or in their place).
pub async fn download(
    client: &mut Client,
    token: &str,
    id: &str,
) -> Result<(pb::Document, Vec<u8>), tonic::Status> {
    let mut stream = client
        .download_document(authed(pb::DownloadDocumentRequest { id: id.into() }, token))
        .await?
        .into_inner();
    let head = stream.message().await?.expect("a first message");
    let document = head.document.expect("metadata first");
    let mut bytes = Vec::new();
    while let Some(piece) = stream.message().await? {
        bytes.extend_from_slice(&piece.data);
    }
    Ok((document, bytes))
}

pub async fn list(
    client: &mut Client,
    token: &str,
    parents: Vec<pb::Parent>,
) -> Result<Vec<pb::Document>, tonic::Status> {
    client
        .list_documents(authed(pb::ListDocumentsRequest { parents }, token))
        .await
        .map(|r| r.into_inner().documents)
}

/// The reason a refusal carries (`extensions.reason` at the gateway).
pub fn reason(status: &tonic::Status) -> Option<&str> {
    status
        .metadata()
        .get("axv-reason")
        .and_then(|v| v.to_str().ok())
}
