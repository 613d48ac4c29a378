//! Documents' use cases: upload, download, list, delete, each checked against the parent as
//! its owning service shows it to the caller.

use std::{sync::Arc, time::Duration};

use axv_auth::Caller;
use axv_platform::{
    audit::Actor,
    error::Reason,
    ids::{new_id, now_ms},
};
use bytes::Bytes;
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use sha2::{Digest as _, Sha256};

use crate::{
    domain::{
        Limits, ParentView, ScanStatus, Sniffer, attaches_documents, clean_file_name, may_attach,
        may_delete, may_read,
    },
    error::{DocumentsError, FileRefusal},
    parents::{ParentRef, Parents},
    scanner::Scanner,
    storage::{Storage, Writer},
    store::{DocumentRecord, MAX_DOCUMENTS_PER_PARENT, MAX_PARENTS_PER_LIST, Store},
};

/// A piece of an upload as it arrives.
#[derive(Debug, Clone, Default)]
pub struct Piece {
    pub data: Vec<u8>,
    /// The last piece: the file is whole.
    pub complete: bool,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub limits: Limits,
    /// How long a deleted document's bytes are kept.
    pub retention: Duration,
    pub scanner: Option<Scanner>,
}

#[derive(Clone)]
pub struct Documents {
    store: Store,
    storage: Storage,
    parents: Parents,
    settings: Arc<Settings>,
    /// Uploads written at once: each holds up to a few parts in memory (5 MB each to S3).
    writing: Arc<tokio::sync::Semaphore>,
    /// Scans run at once.
    scanning: Arc<tokio::sync::Semaphore>,
}

/// Uploads one replica writes at once; more wait their turn.
const UPLOADS_AT_ONCE: usize = 16;
/// Scans one replica runs at once.
const SCANS_AT_ONCE: usize = 2;
/// A scan that takes longer has failed (a hung scanner) and is tried again later.
const SCAN_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The parent no longer takes documents from the caller.
fn no_longer_open() -> DocumentsError {
    DocumentsError::refused(
        Reason::NotEditable,
        "documents can no longer be added: it was submitted, decided or closed",
    )
}

fn require(caller: Option<&Caller>) -> Result<&Caller, DocumentsError> {
    caller.ok_or_else(|| DocumentsError::Unauthenticated("sign in to use documents".into()))
}

/// The caller, if their role reads documents at all.
fn reader(caller: Option<&Caller>) -> Result<&Caller, DocumentsError> {
    let caller = require(caller)?;
    if may_read(caller.role) {
        Ok(caller)
    } else {
        Err(DocumentsError::Forbidden(
            "dashboards see the programme's figures, not its documents".into(),
        ))
    }
}

impl Documents {
    pub fn new(store: Store, storage: Storage, parents: Parents, settings: Settings) -> Self {
        Self {
            store,
            storage,
            parents,
            settings: Arc::new(settings),
            writing: Arc::new(tokio::sync::Semaphore::new(UPLOADS_AT_ONCE)),
            scanning: Arc::new(tokio::sync::Semaphore::new(SCANS_AT_ONCE)),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Stores a file streamed in `pieces` under `parent`. Refused as soon as the bytes rule it
    /// out (a program, a type not taken, over the size limit), before the rest is read; a
    /// stream that ends before its `complete` piece stores nothing.
    pub async fn upload<S>(
        &self,
        caller: Option<&Caller>,
        parent: &ParentRef,
        file_name: &str,
        pieces: S,
    ) -> Result<DocumentRecord, DocumentsError>
    where
        S: Stream<Item = Result<Piece, DocumentsError>> + Send,
    {
        let caller = reader(caller)?;
        if !attaches_documents(caller.role) {
            return Err(DocumentsError::Forbidden(
                "this role does not attach documents".into(),
            ));
        }
        let file_name =
            clean_file_name(file_name).map_err(|e| DocumentsError::Domain(FileRefusal::Name(e)))?;
        let view = self.parents.view(caller, parent).await?;
        may_attach(caller.role, view.stage).map_err(|_| no_longer_open())?;
        let limits = self.settings.limits;
        // A full item is refused before a byte is read (the record's transaction checks again).
        let (held, count) = self.store.parent_totals(parent.kind, &parent.id).await?;
        if count >= MAX_DOCUMENTS_PER_PARENT {
            return Err(DocumentsError::Domain(FileRefusal::TooMany(
                MAX_DOCUMENTS_PER_PARENT,
            )));
        }
        if u64::try_from(held).unwrap_or(0) >= limits.max_parent_bytes {
            return Err(DocumentsError::Domain(FileRefusal::ParentFull(
                limits.max_parent_bytes,
            )));
        }
        let _turn = self
            .writing
            .acquire()
            .await
            .map_err(|_| DocumentsError::Unavailable("the service is stopping".into()))?;
        let id = new_id();
        // Keys are the ids alone: the store's own directory or URL prefix says what they are.
        let key = id.clone();
        let writer = self
            .storage
            .writer(&key)
            .await
            .map_err(|e| DocumentsError::Unavailable(format!("object storage: {e}")))?;
        let received = receive(writer, pieces, limits.max_file_bytes).await?;
        // The object is written: from here on the work runs to its end even if the request is
        // dropped (the person closed the page), so bytes are either recorded or removed.
        let service = self.clone();
        let (caller, parent, file_name) = (caller.clone(), parent.clone(), file_name.clone());
        let finishing = tokio::spawn(async move {
            service
                .keep(&caller, &parent, &file_name, key, id, received)
                .await
        });
        let record = finishing
            .await
            .map_err(|e| DocumentsError::Internal(format!("recording an upload: {e}")))??;
        Ok(record)
    }

    /// Records the file `received` at `key` (its type decided, the parent asked again, the
    /// limits checked in the record's transaction) or removes its bytes; starts its scan.
    async fn keep(
        &self,
        caller: &Caller,
        parent: &ParentRef,
        file_name: &str,
        key: String,
        id: String,
        received: Received,
    ) -> Result<DocumentRecord, DocumentsError> {
        let limits = self.settings.limits;
        let file_type = match received.sniffer.finish(file_name) {
            Ok(file_type) => file_type,
            Err(refusal) => {
                self.discard(&key).await;
                return Err(DocumentsError::Domain(FileRefusal::Type(refusal)));
            }
        };
        // The parent may have been submitted or decided while the file came in.
        let view = match self.parents.view(caller, parent).await {
            Ok(view) if may_attach(caller.role, view.stage).is_ok() => view,
            Ok(_) => {
                self.discard(&key).await;
                return Err(no_longer_open());
            }
            Err(error) => {
                self.discard(&key).await;
                return Err(error);
            }
        };
        let scan_status = if self.settings.scanner.is_some() {
            ScanStatus::Pending
        } else {
            ScanStatus::Clean
        };
        let record = DocumentRecord {
            id,
            parent_kind: parent.kind,
            parent_id: parent.id.clone(),
            pilot_id: parent.pilot_id.clone(),
            company_id: view.company_id.clone(),
            parent_version: i64::from(view.version),
            file_name: file_type.name(file_name),
            content_type: file_type.content_type().to_owned(),
            size: i64::try_from(received.size).unwrap_or(i64::MAX),
            sha256: received.sha256,
            object_key: key.clone(),
            scan_status,
            uploaded_by: caller.subject.clone(),
            uploader_role: caller.role.as_str().to_owned(),
            uploaded_at: now_ms(),
        };
        if let Err(error) = self
            .store
            .record(&record, limits.max_parent_bytes, &Actor::of(caller))
            .await
        {
            self.discard(&key).await;
            return Err(error);
        }
        tracing::info!(document = %record.id, parent = %parent.id, kind = %parent.kind, size = record.size, "document uploaded");
        if scan_status == ScanStatus::Pending {
            let service = self.clone();
            let document = record.clone();
            tokio::spawn(async move { service.scan(&document).await });
        }
        Ok(record)
    }

    /// Removes bytes no record points to (a refused or failed upload).
    async fn discard(&self, key: &str) {
        if let Err(error) = self.storage.delete(key).await {
            tracing::warn!(%error, key, "a refused upload's bytes could not be removed");
        }
    }

    /// Runs the scanner on `document` and records its verdict; an error or a hung scanner
    /// leaves it pending, to be tried again later.
    pub async fn scan(&self, document: &DocumentRecord) {
        let Some(scanner) = &self.settings.scanner else {
            return;
        };
        let Ok(_turn) = self.scanning.acquire().await else {
            return;
        };
        let verdict = tokio::time::timeout(
            SCAN_TIMEOUT,
            scanner.scan(&self.storage, &document.object_key),
        )
        .await
        .unwrap_or_else(|_| Err("the scanner did not answer in time".into()));
        match verdict {
            Ok(verdict) => {
                if verdict == ScanStatus::Infected {
                    tracing::warn!(document = %document.id, "the malware scanner refused a document");
                }
                if let Err(error) = self.store.set_scan_status(&document.id, verdict).await {
                    tracing::warn!(%error, document = %document.id, "scan verdict not recorded");
                }
            }
            Err(error) => {
                tracing::warn!(%error, document = %document.id, "document not scanned; will retry");
                if let Err(error) = self.store.scan_failed(&document.id, now_ms()).await {
                    tracing::warn!(%error, document = %document.id, "scan retry not recorded");
                }
            }
        }
    }

    /// The document, if the caller may see its parent.
    pub async fn get(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<(DocumentRecord, ParentView), DocumentsError> {
        let caller = reader(caller)?;
        let document = self
            .store
            .get(id)
            .await?
            .ok_or(DocumentsError::NotFound("document"))?;
        // Another firm learns nothing of the parent either: the document is simply not found.
        let view = self
            .parents
            .view(caller, &document.parent())
            .await
            .map_err(|error| match error {
                DocumentsError::NotFound(_) => DocumentsError::NotFound("document"),
                other => other,
            })?;
        Ok((document, view))
    }

    /// The document and its bytes, checked on the way out against the digest taken at upload:
    /// a mismatch ends the stream with an error instead of handing over altered bytes.
    pub async fn download(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<
        (
            DocumentRecord,
            impl Stream<Item = Result<Bytes, DocumentsError>> + Send + use<>,
        ),
        DocumentsError,
    > {
        let (document, _) = self.get(caller, id).await?;
        match document.scan_status {
            ScanStatus::Clean => {}
            ScanStatus::Pending => return Err(DocumentsError::Domain(FileRefusal::ScanPending)),
            ScanStatus::Infected => return Err(DocumentsError::Domain(FileRefusal::Infected)),
        }
        let bytes = self
            .storage
            .read(&document.object_key)
            .await
            .map_err(|e| DocumentsError::Unavailable(format!("object storage: {e}")))?;
        Ok((document.clone(), checked(bytes, document.sha256)))
    }

    /// The live documents of every parent given that the caller sees, oldest first.
    pub async fn list(
        &self,
        caller: Option<&Caller>,
        parents: &[ParentRef],
    ) -> Result<Vec<DocumentRecord>, DocumentsError> {
        let caller = reader(caller)?;
        if parents.len() > MAX_PARENTS_PER_LIST {
            return Err(DocumentsError::invalid(
                "parents",
                format!("at most {MAX_PARENTS_PER_LIST} at once"),
            ));
        }
        let views = futures::future::join_all(
            parents
                .iter()
                .map(|parent| self.parents.view(caller, parent)),
        )
        .await;
        let mut visible = Vec::new();
        for (parent, view) in parents.iter().zip(views) {
            match view {
                Ok(_) => visible.push(parent.clone()),
                Err(DocumentsError::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(self.store.list(&visible).await?)
    }

    /// Deletes a document: only its uploader, while the parent still takes changes from them.
    pub async fn delete(&self, caller: Option<&Caller>, id: &str) -> Result<(), DocumentsError> {
        let (document, view) = self.get(caller, id).await?;
        let caller = require(caller)?;
        if document.uploaded_by != caller.subject {
            return Err(DocumentsError::Forbidden(
                "only the person who uploaded a document can delete it".into(),
            ));
        }
        if !may_delete(caller.role, view.stage) {
            return Err(DocumentsError::refused(
                Reason::NotEditable,
                "the document is part of what was submitted and can no longer be deleted",
            ));
        }
        self.store
            .delete(&document, &Actor::of(caller), now_ms())
            .await?;
        tracing::info!(document = %document.id, "document deleted");
        Ok(())
    }

    /// Removes the bytes of documents deleted longer ago than the retention period; how many.
    pub async fn purge_deleted(&self) -> Result<usize, DocumentsError> {
        let retention = i64::try_from(self.settings.retention.as_millis()).unwrap_or(i64::MAX);
        let before = now_ms().saturating_sub(retention);
        let due = self.store.purgeable(before, 100).await?;
        for (id, key) in &due {
            self.storage
                .delete(key)
                .await
                .map_err(|e| DocumentsError::Unavailable(format!("object storage: {e}")))?;
            self.store.mark_purged(id, now_ms()).await?;
        }
        Ok(due.len())
    }

    /// Removes objects no document points to that were written longer than `age` ago: what a
    /// crash between writing a file and recording it leaves behind (a newer one may still be
    /// on its way to its record). How many.
    pub async fn remove_orphans(&self, age: Duration) -> Result<usize, DocumentsError> {
        let storage =
            |e: object_store::Error| DocumentsError::Unavailable(format!("object storage: {e}"));
        let before = now_ms().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
        let keys = self
            .storage
            .keys_written_before(before)
            .await
            .map_err(storage)?;
        let mut removed = 0;
        for batch in keys.chunks(500) {
            let known = self.store.known_keys(batch).await?;
            for key in batch.iter().filter(|key| !known.contains(key)) {
                tracing::warn!(key, "removing an object no document points to");
                self.storage.delete(key).await.map_err(storage)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Scans again the documents a scan could not decide.
    pub async fn retry_scans(&self) -> Result<(), DocumentsError> {
        if self.settings.scanner.is_none() {
            return Ok(());
        }
        for document in self.store.due_scans(now_ms(), 10).await? {
            self.scan(&document).await;
        }
        Ok(())
    }
}

/// `bytes` checked against `expected` (hex SHA-256) on the way out. The last piece is held
/// back until the digest is known: a reader that counts on the length (an HTTP client given
/// Content-Length) would otherwise take altered bytes as the whole file; instead it gets one
/// piece short, then the error.
fn checked(
    bytes: impl Stream<Item = Result<Bytes, object_store::Error>> + Send + 'static,
    expected: String,
) -> impl Stream<Item = Result<Bytes, DocumentsError>> + Send + 'static {
    struct State {
        bytes: futures::stream::BoxStream<'static, Result<Bytes, object_store::Error>>,
        hasher: Sha256,
        held: Option<Bytes>,
        expected: String,
    }
    let state = State {
        bytes: bytes.boxed(),
        hasher: Sha256::new(),
        held: None,
        expected,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            match state.bytes.try_next().await {
                Ok(Some(piece)) => {
                    state.hasher.update(&piece);
                    if let Some(previous) = state.held.replace(piece) {
                        return Some((Ok(previous), Some(state)));
                    }
                }
                Ok(None) => {
                    let actual = hex::encode(std::mem::take(&mut state.hasher).finalize());
                    if actual != state.expected {
                        tracing::error!(expected = %state.expected, %actual, "a stored document's bytes changed");
                        let error = DocumentsError::Internal(
                            "the stored file does not match its checksum".into(),
                        );
                        return Some((Err(error), None));
                    }
                    return state.held.take().map(|last| (Ok(last), None));
                }
                Err(e) => {
                    let error = DocumentsError::Unavailable(format!("object storage: {e}"));
                    return Some((Err(error), None));
                }
            }
        }
    })
}

/// What an upload left once every piece was read.
struct Received {
    sniffer: Sniffer,
    size: u64,
    sha256: String,
}

/// Reads `pieces` into `writer`, sniffing, counting and hashing them on the way; the writer is
/// finished when the file is whole and aborted (nothing stored) on any refusal or failure.
async fn receive<S>(
    mut writer: Writer,
    pieces: S,
    max_file_bytes: u64,
) -> Result<Received, DocumentsError>
where
    S: Stream<Item = Result<Piece, DocumentsError>> + Send,
{
    let mut pieces = std::pin::pin!(pieces);
    let mut sniffer = Sniffer::default();
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let outcome = loop {
        let piece = match pieces.next().await {
            Some(Ok(piece)) => piece,
            Some(Err(error)) => break Err(error),
            None => {
                break Err(DocumentsError::invalid(
                    "file",
                    "the upload was cut off before its end; nothing was stored",
                ));
            }
        };
        size += piece.data.len() as u64;
        if size > max_file_bytes {
            break Err(DocumentsError::Domain(FileRefusal::TooLarge(
                max_file_bytes,
            )));
        }
        if let Err(refusal) = sniffer.feed(&piece.data) {
            break Err(DocumentsError::Domain(FileRefusal::Type(refusal)));
        }
        hasher.update(&piece.data);
        if let Err(e) = writer.write(&piece.data).await {
            break Err(DocumentsError::Unavailable(format!("object storage: {e}")));
        }
        if piece.complete {
            break Ok(());
        }
    };
    match outcome {
        Ok(()) => {
            writer
                .finish()
                .await
                .map_err(|e| DocumentsError::Unavailable(format!("object storage: {e}")))?;
            Ok(Received {
                sniffer,
                size,
                sha256: hex::encode(hasher.finalize()),
            })
        }
        Err(error) => {
            writer.abort().await;
            Err(error)
        }
    }
}
