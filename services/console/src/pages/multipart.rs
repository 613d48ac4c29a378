//! Forms with a file (`enctype="multipart/form-data"`): their small fields read with a bound,
//! and the file relayed to the gateway as it arrives, never held whole.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use axum::{body::Bytes, extract::multipart::Field as Part};

/// Small fields (a CSRF token, an id, a path) are at most this long; nothing legitimate is
/// longer.
const SMALL_FIELD_BYTES: usize = 2048;

/// A small form field's text, `None` past [`SMALL_FIELD_BYTES`] or when not UTF-8.
pub async fn small_text(mut part: Part<'_>) -> Option<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = part.chunk().await.ok()? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > SMALL_FIELD_BYTES {
            return None;
        }
    }
    String::from_utf8(bytes).ok()
}

/// A file part's bytes as [`relay`] passes them on.
pub struct Relayed(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures::Stream for Relayed {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Runs `send` (a request to the gateway) with the file part's bytes as they arrive, feeding
/// it while it runs: its answer once the whole file went through, or its refusal as soon as it
/// comes. The part borrows the form, so its bytes cross a small channel to the request.
pub async fn relay<T, F: Future<Output = T>>(
    mut file: Part<'_>,
    send: impl FnOnce(Relayed) -> F,
) -> T {
    let (pieces, received) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let sending = send(Relayed(received));
    let pump = async move {
        loop {
            let piece = match file.chunk().await {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => break,
                // The browser went away mid-file: the gateway sees a broken body and keeps
                // nothing.
                Err(error) => Err(std::io::Error::other(error.to_string())),
            };
            let failed = piece.is_err();
            // The gateway stopped reading (it refused the file): its answer says why.
            if pieces.send(piece).await.is_err() || failed {
                break;
            }
        }
    };
    let (answer, ()) = tokio::join!(sending, pump);
    answer
}
