//! GraphQL multipart requests (the GraphQL multipart request specification; `curl -F`): the
//! `operations` JSON, the `map` naming which variable each file fills, then the files. Read
//! here rather than by async-graphql's reader so that every part has a bound: `operations` no
//! more than a JSON request may be, `map` a few kilobytes, one file of at most the upload limit,
//! nothing else. The file is spooled to an unnamed temporary file as it arrives (asynchronously,
//! never held in memory) and handed to the resolver as the `Upload` value.

use std::{collections::HashMap, io::Seek as _};

use async_graphql::{BatchRequest, UploadValue};
use axum::body::Body;
use futures::TryStreamExt as _;
use tokio::io::AsyncWriteExt as _;

/// The `map` part: a few file names and variable paths.
const MAX_MAP_BYTES: u64 = 16 * 1024;

/// Why a multipart request was not taken.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    /// The file is over the upload limit.
    #[error("file is over the limit of {} MB for one document", .0 / (1024 * 1024))]
    FileTooLarge(u64),
    /// Malformed, out of order, over a part's bound, or more than one file.
    #[error("{0}")]
    Malformed(String),
    /// The temporary file could not be written (a full or read-only disk): the gateway's fault.
    #[error("the upload could not be spooled: {0}")]
    Spool(std::io::Error),
}

impl From<multer::Error> for MultipartError {
    fn from(error: multer::Error) -> Self {
        MultipartError::Malformed(format!("the multipart request: {error}"))
    }
}

/// The request the multipart body carries, its file set in the variables the map names.
pub async fn receive(
    content_type: &str,
    body: Body,
    max_json_bytes: u64,
    max_file_bytes: u64,
) -> Result<BatchRequest, MultipartError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| MultipartError::Malformed(format!("the multipart request: {e}")))?;
    let limits = multer::SizeLimit::new()
        .whole_stream(max_file_bytes + max_json_bytes + MAX_MAP_BYTES + 64 * 1024)
        .per_field(max_file_bytes)
        .for_field("operations", max_json_bytes)
        .for_field("map", MAX_MAP_BYTES);
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut multipart = multer::Multipart::with_constraints(
        stream,
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let malformed = |what: &str| MultipartError::Malformed(what.to_owned());

    let mut operations = multipart
        .next_field()
        .await?
        .filter(|f| f.name() == Some("operations"))
        .ok_or_else(|| malformed("the first part must be `operations` (the GraphQL request)"))?;
    let mut json = Vec::new();
    while let Some(chunk) = operations.chunk().await? {
        json.extend_from_slice(&chunk);
    }
    let mut request: BatchRequest = serde_json::from_slice(&json)
        .map_err(|_| malformed("`operations` is not a GraphQL request in JSON"))?;
    drop(operations);

    let map = multipart
        .next_field()
        .await?
        .filter(|f| f.name() == Some("map"))
        .ok_or_else(|| malformed("the second part must be `map` (which variable each file fills)"))?
        .bytes()
        .await?;
    let mut map: HashMap<String, Vec<String>> = serde_json::from_slice(&map)
        .map_err(|_| malformed("`map` is not a JSON object of file names to variable paths"))?;

    let mut received = false;
    while let Some(mut field) = multipart.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        let Some(paths) = map.remove(&name) else {
            return Err(malformed("a file part that `map` does not name"));
        };
        if received {
            return Err(malformed("one file per request"));
        }
        received = true;
        let filename = field.file_name().unwrap_or_default().to_owned();
        let content_type = field.content_type().map(ToString::to_string);
        let spooled = tempfile::tempfile().map_err(MultipartError::Spool)?;
        let mut file = tokio::fs::File::from_std(spooled);
        let mut size: u64 = 0;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| too_large_file(e, max_file_bytes))?
        {
            size += chunk.len() as u64;
            if size > max_file_bytes {
                return Err(MultipartError::FileTooLarge(max_file_bytes));
            }
            file.write_all(&chunk)
                .await
                .map_err(MultipartError::Spool)?;
        }
        file.flush().await.map_err(MultipartError::Spool)?;
        let mut file = file.into_std().await;
        file.rewind().map_err(MultipartError::Spool)?;
        for path in paths {
            let upload = UploadValue {
                filename: filename.clone(),
                content_type: content_type.clone(),
                content: file.try_clone().map_err(MultipartError::Spool)?,
            };
            set_upload(&mut request, &path, upload);
        }
    }
    if !map.is_empty() {
        return Err(malformed("`map` names a file the request does not carry"));
    }
    Ok(request)
}

fn too_large_file(error: multer::Error, max_file_bytes: u64) -> MultipartError {
    match error {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            MultipartError::FileTooLarge(max_file_bytes)
        }
        other => MultipartError::from(other),
    }
}

/// Puts `upload` in the variable `path` names (`variables.file`, or `0.variables.file` in a
/// batch), as the specification's map says.
fn set_upload(request: &mut BatchRequest, path: &str, upload: UploadValue) {
    match request {
        BatchRequest::Single(request) => request.set_upload(path, upload),
        BatchRequest::Batch(requests) => {
            let Some((index, path)) = path.split_once('.') else {
                return;
            };
            if let Some(request) = index
                .parse::<usize>()
                .ok()
                .and_then(|i| requests.get_mut(i))
            {
                request.set_upload(path, upload);
            }
        }
    }
}
