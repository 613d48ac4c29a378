//! Where documents' bytes live: object storage through `object_store`, a directory under the
//! data directory by default, any S3-compatible store (AWS, NCP Object Storage, MinIO) in
//! production. Files are written as multipart uploads a part at a time and read back as a
//! stream, so no file is ever held whole in memory.

use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use object_store::{
    ObjectStore, WriteMultipart, aws::AmazonS3Builder, local::LocalFileSystem, path::Path,
    prefix::PrefixStore,
};

use axv_platform::config::DocumentSettings;

/// Bytes per part of a multipart upload to S3 (its minimum for every part but the last).
const S3_PART_BYTES: usize = 5 * 1024 * 1024;
/// A local directory has no minimum: small parts keep what a file holds in memory small.
const LOCAL_PART_BYTES: usize = 256 * 1024;
/// Parts in flight at once while a file is written.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    part_bytes: usize,
    /// For logs and errors: where the bytes go, without credentials.
    pub location: String,
}

impl Storage {
    /// The store `settings` name: `s3://bucket/prefix` (credentials, region and endpoint from
    /// the standard `AWS_*` variables, overridden by the settings' options), `file:///dir`, or
    /// the data directory's `documents/`.
    pub fn open(settings: &DocumentSettings) -> Result<Self, String> {
        match settings.store_url.as_deref() {
            Some(url) if url.starts_with("s3://") => {
                let rest = url.trim_start_matches("s3://");
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                for (key, value) in &settings.store_options {
                    let key = key
                        .parse()
                        .map_err(|e| format!("object store option {key}: {e}"))?;
                    builder = builder.with_config(key, value);
                }
                let s3 = builder
                    .build()
                    .map_err(|e| format!("object store {url}: {e}"))?;
                Ok(Self::with_prefix(Arc::new(s3), prefix, url))
            }
            Some(url) if url.starts_with("file://") => {
                Self::directory(std::path::Path::new(url.trim_start_matches("file://")))
            }
            Some(url) => Err(format!(
                "object store {url}: must start with s3:// or file://"
            )),
            None => Self::directory(&settings.dir),
        }
    }

    fn directory(dir: &std::path::Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let local = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| format!("object store {}: {e}", dir.display()))?;
        Ok(Self {
            store: Arc::new(local),
            part_bytes: LOCAL_PART_BYTES,
            location: dir.display().to_string(),
        })
    }

    fn with_prefix(store: Arc<dyn ObjectStore>, prefix: &str, url: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            store
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        Self {
            store,
            part_bytes: S3_PART_BYTES,
            location: url.to_owned(),
        }
    }

    /// A new object at `key`, written a part at a time.
    pub async fn writer(&self, key: &str) -> Result<Writer, object_store::Error> {
        let upload = self.store.put_multipart(&Path::from(key)).await?;
        Ok(Writer {
            inner: Some(WriteMultipart::new_with_chunk_size(upload, self.part_bytes)),
        })
    }

    /// The object's bytes as they arrive.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<
        impl Stream<Item = Result<Bytes, object_store::Error>> + Send + use<>,
        object_store::Error,
    > {
        Ok(self.store.get(&Path::from(key)).await?.into_stream())
    }

    /// Removes the object; one already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), object_store::Error> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Every object's key last written before `before` (unix ms), a page of the store at a time.
    pub async fn keys_written_before(
        &self,
        before: i64,
    ) -> Result<Vec<String>, object_store::Error> {
        let mut listing = self.store.list(None);
        let mut keys = Vec::new();
        while let Some(object) = listing.try_next().await? {
            if object.last_modified.timestamp_millis() < before {
                keys.push(object.location.to_string());
            }
        }
        Ok(keys)
    }

    /// Whether the object exists (for tests and the purge).
    pub async fn exists(&self, key: &str) -> Result<bool, object_store::Error> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Every byte of the object, for small reads in tests.
    pub async fn read_all(&self, key: &str) -> Result<Vec<u8>, object_store::Error> {
        let mut stream = self.read(key).await?.boxed();
        let mut bytes = Vec::new();
        while let Some(piece) = stream.try_next().await? {
            bytes.extend_from_slice(&piece);
        }
        Ok(bytes)
    }
}

/// An object being written: parts go out as they fill, at most [`PARTS_IN_FLIGHT`] at once.
/// Dropped unfinished (the request was cancelled mid-file), it gives the upload up, so no
/// half-written S3 multipart upload is left open.
pub struct Writer {
    inner: Option<WriteMultipart>,
}

fn finished() -> object_store::Error {
    object_store::Error::Generic {
        store: "documents",
        source: "the upload was already finished".into(),
    }
}

impl Writer {
    pub async fn write(&mut self, data: &[u8]) -> Result<(), object_store::Error> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        inner.write(data);
        Ok(())
    }

    pub async fn finish(mut self) -> Result<(), object_store::Error> {
        let inner = self.inner.take().ok_or_else(finished)?;
        inner.finish().await.map(|_| ())
    }

    /// Gives the upload up: nothing stays stored.
    pub async fn abort(mut self) {
        if let Some(inner) = self.inner.take() {
            abort(inner).await;
        }
    }
}

async fn abort(inner: WriteMultipart) {
    if let Err(error) = inner.abort().await {
        tracing::warn!(%error, "an abandoned upload could not be cleaned up");
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(abort(inner));
        }
    }
}
