//! `POST /usage/sacct?cluster=C`: the data center's `sacct --parsable2` files, tens of
//! megabytes, plain or gzip (`Content-Encoding: gzip`, or recognised by its first bytes),
//! streamed to the vouchers service a piece at a time: neither the gateway nor the service
//! holds the file whole. The operator's or API client's bearer token decides, as for every
//! call; answers and refusals are JSON, refusals with `extensions.code`.
//!
//! ```sh
//! curl -H "authorization: Bearer $TOKEN" -H 'content-encoding: gzip' \
//!   --data-binary @sacct-2026-11.txt.gz 'https://axv.example.kr/usage/sacct?cluster=h100'
//! ```

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use async_compression::tokio::bufread::GzipDecoder;
use axum::{
    Extension, Json,
    body::Body,
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use axv_auth::MaybeCaller;
use axv_platform::ErrorCode;
use axv_proto::vouchers::v1 as pb;
use futures::{StreamExt as _, TryStreamExt as _};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, BufReader};

use crate::{
    AppState,
    clients::{UPLOAD_TIMEOUT, request_within},
    context::RequestContext,
    http::{charge_request, client_address, request_error, status_error},
};

/// Bytes per piece sent on to the vouchers service.
const CHUNK_BYTES: usize = 256 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

#[derive(Debug, serde::Deserialize)]
pub struct UploadParams {
    pub cluster: Option<String>,
}

/// What the gateway answers: the ingestion's result, in the GraphQL `UsageIngestReport`'s names.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UploadReport {
    pub accepted: i32,
    pub duplicates: i32,
    pub skipped: i32,
    /// GPU-seconds charged.
    pub amount: i64,
    /// GPU-seconds beyond the vouchers' balances, recorded and not charged.
    pub overage: i64,
    pub overage_jobs: i32,
    pub rejected: Vec<UploadRejectedLine>,
    /// The upload in the history (GraphQL `usageUpload(id)`).
    pub upload_id: String,
    /// GPU-seconds charged per voucher.
    pub charges: Vec<UploadCharge>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UploadCharge {
    pub voucher_id: String,
    pub voucher_code: String,
    pub jobs: i32,
    pub amount: i64,
    pub overage: i64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct UploadRejectedLine {
    pub line: i32,
    pub reason: String,
    /// GraphQL's `LineRefusal`: MALFORMED, UNKNOWN_VOUCHER, NOT_GPU_VOUCHER,
    /// VOUCHER_NOT_SPENDABLE or COMPANY_NOT_IN_GOOD_STANDING.
    pub kind: String,
}

impl From<pb::IngestSacctResponse> for UploadReport {
    fn from(r: pb::IngestSacctResponse) -> Self {
        Self {
            accepted: r.accepted,
            duplicates: r.duplicates,
            skipped: r.skipped,
            amount: r.amount,
            overage: r.overage,
            overage_jobs: r.overage_jobs,
            rejected: r
                .rejected
                .into_iter()
                .map(|l| UploadRejectedLine {
                    line: l.line,
                    kind: l
                        .kind()
                        .as_str_name()
                        .trim_start_matches("LINE_REFUSAL_")
                        .to_owned(),
                    reason: l.reason,
                })
                .collect(),
            upload_id: r.upload_id,
            charges: r
                .charges
                .into_iter()
                .map(|c| UploadCharge {
                    voucher_id: c.voucher_id,
                    voucher_code: c.voucher_code,
                    jobs: c.jobs,
                    amount: c.amount,
                    overage: c.overage,
                })
                .collect(),
        }
    }
}

fn refused(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    request_error(status, code, message, false)
}

/// The upload as pieces for the vouchers service; a read error (a broken gzip stream, the
/// client going away) ends the pieces without the completion mark, so nothing is charged, and
/// is kept in `failed` to tell the client.
fn pieces<R: AsyncRead + Unpin + Send + 'static>(
    reader: R,
    cluster: String,
    failed: Arc<Mutex<Option<String>>>,
) -> impl futures::Stream<Item = pb::IngestSacctChunk> + Send + 'static {
    futures::stream::unfold(
        (reader, Some(cluster), false),
        move |(mut reader, mut cluster, done)| {
            let failed = failed.clone();
            async move {
                if done {
                    return None;
                }
                let mut data = Vec::with_capacity(CHUNK_BYTES);
                match (&mut reader)
                    .take(CHUNK_BYTES as u64)
                    .read_to_end(&mut data)
                    .await
                {
                    Ok(_) => {
                        let complete = data.is_empty();
                        let chunk = pb::IngestSacctChunk {
                            cluster: cluster.take().unwrap_or_default(),
                            data,
                            complete,
                        };
                        Some((chunk, (reader, cluster, complete)))
                    }
                    Err(error) => {
                        if let Ok(mut failed) = failed.lock() {
                            *failed = Some(error.to_string());
                        }
                        None
                    }
                }
            }
        },
    )
}

pub async fn sacct_upload(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(params): Query<UploadParams>,
    body: Body,
) -> Response {
    let address = client_address(&headers, connect, state.limits.console_relay_key.as_deref());
    if let Err(refused) = charge_request(&state, caller.as_ref(), &address, false).await {
        return refused;
    }
    // Refused before the body is read: a stranger's upload costs nothing.
    if caller.is_none() {
        return refused(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "sign in as an operator (or an API client with the OPERATOR role) to upload usage",
        );
    }
    let Some(cluster) = params.cluster.filter(|c| !c.trim().is_empty()) else {
        return refused(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadUserInput,
            "cluster is required: /usage/sacct?cluster=<name>",
        );
    };
    let declared_gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let stream = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .boxed();
    let mut raw = BufReader::with_capacity(CHUNK_BYTES, tokio_util::io::StreamReader::new(stream));
    let sniffed_gzip = match raw.fill_buf().await {
        Ok(start) => start.starts_with(&GZIP_MAGIC),
        Err(error) => {
            return refused(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                &format!("the upload could not be read: {error}"),
            );
        }
    };
    let reader: Box<dyn AsyncRead + Unpin + Send> = if declared_gzip || sniffed_gzip {
        let mut decoder = GzipDecoder::new(raw);
        // `cat a.gz b.gz` is a valid gzip file of both.
        decoder.multiple_members(true);
        Box::new(decoder)
    } else {
        Box::new(raw)
    };
    let failed = Arc::new(Mutex::new(None));
    let rc = RequestContext {
        token: caller.as_ref().map(|c| c.raw_token.clone()),
        caller,
        client_address: address,
    };
    let upload = pieces(reader, cluster, failed.clone());
    let result = state
        .clients
        .vouchers_uploads
        .clone()
        .ingest_sacct_stream(request_within(&rc, upload, UPLOAD_TIMEOUT))
        .await;
    let read_error = failed.lock().ok().and_then(|mut f| f.take());
    match (result, read_error) {
        (_, Some(error)) => refused(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadUserInput,
            &format!("the upload could not be read ({error}); nothing was charged"),
        ),
        (Ok(report), None) => (
            StatusCode::OK,
            Json(UploadReport::from(report.into_inner())),
        )
            .into_response(),
        (Err(status), None) => status_error(&status),
    }
}
