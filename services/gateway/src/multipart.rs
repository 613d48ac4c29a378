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
/// Variables one file may fill (each holds a descriptor of the spooled file until the request
/// ends).
const MAX_PATHS_PER_FILE: usize = 4;

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
    if map.len() > 1 || map.values().any(|paths| paths.len() > MAX_PATHS_PER_FILE) {
        return Err(malformed(
            "one file per request, filling at most four variables",
        ));
    }

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

/// Uploads being received: at most a number at once for the gateway (each holds a temporary
/// file and a connection) and [`PER_CALLER`] for one caller, so nobody can take every slot.
#[derive(Clone)]
pub struct UploadSlots {
    left: std::sync::Arc<tokio::sync::Semaphore>,
    callers: std::sync::Arc<std::sync::Mutex<HashMap<String, usize>>>,
}

/// Uploads one caller may send at once.
pub const PER_CALLER: usize = 2;

/// Temporary space the gateway's spool may fill (its `/tmp` in compose and Kubernetes).
pub const SPOOL_BYTES: u64 = 1024 * 1024 * 1024;

/// An upload's slot, given back when dropped.
pub struct UploadSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    callers: std::sync::Arc<std::sync::Mutex<HashMap<String, usize>>>,
    subject: String,
}

impl UploadSlots {
    /// As many at once as the spool holds files of `max_file_bytes`, at most `max`.
    pub fn new(max: usize, max_file_bytes: u64) -> Self {
        let fit = usize::try_from(SPOOL_BYTES / max_file_bytes.max(1)).unwrap_or(max);
        Self {
            left: std::sync::Arc::new(tokio::sync::Semaphore::new(fit.clamp(1, max))),
            callers: std::sync::Arc::default(),
        }
    }

    /// A slot for `subject`, or `None` when the gateway or that caller has none left.
    pub fn take(&self, subject: &str) -> Option<UploadSlot> {
        let mut callers = self.callers.lock().ok()?;
        let count = callers.entry(subject.to_owned()).or_insert(0);
        if *count >= PER_CALLER {
            return None;
        }
        let permit = self.left.clone().try_acquire_owned().ok()?;
        *count += 1;
        Some(UploadSlot {
            _permit: permit,
            callers: self.callers.clone(),
            subject: subject.to_owned(),
        })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        if let Ok(mut callers) = self.callers.lock()
            && let Some(count) = callers.get_mut(&self.subject)
        {
            *count -= 1;
            if *count == 0 {
                callers.remove(&self.subject);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One caller takes at most two slots; the gateway's are shared out; a slot dropped is
    /// given back.
    #[test]
    fn slots_are_shared_between_callers() {
        let slots = UploadSlots::new(3, 25 * 1024 * 1024);
        let a1 = slots.take("a");
        let a2 = slots.take("a");
        assert!(a1.is_some() && a2.is_some());
        assert!(slots.take("a").is_none(), "a third for one caller");
        let b = slots.take("b");
        assert!(b.is_some());
        assert!(slots.take("c").is_none(), "the gateway's three are taken");
        drop(a1);
        assert!(slots.take("c").is_some());
        // The spool bounds them too: 1 GiB holds two 500 MB files.
        let big = UploadSlots::new(32, 500 * 1024 * 1024);
        let (x, y) = (big.take("x"), big.take("y"));
        assert!(x.is_some() && y.is_some() && big.take("z").is_none());
    }
}
