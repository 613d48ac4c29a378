//! Forms that hand over a secret (a new API client's, a staff account's temporary password)
//! act once while their outcome is kept (two minutes), however often they arrive meanwhile. A
//! double click, or a form resent at once from the browser's history, would otherwise make a
//! second client or account and lose the first secret.
//!
//! Each such form carries a random `once` token. The first request with it claims the token in
//! the session store and runs the action in a task of its own, so a browser that drops that
//! request (it does, on a double click) does not cancel it halfway. The outcome waits under the
//! token for a short while; a request that arrives meanwhile waits for it and shows the same
//! page with the same secret. A refused action frees the token, so the corrected form can be
//! sent again.

use std::{future::Future, time::Duration};

use axv_platform::kv::SharedKv;
use serde::{Deserialize, Serialize};

use crate::api::ApiError;

/// The hidden field's name.
pub const FIELD: &str = "once";

/// How long a token is held while its action runs, before a crash is assumed.
const RUNNING: Duration = Duration::from_secs(120);
/// How long an outcome waits for a repeated request. Short: the secret waits with it.
const KEPT: Duration = Duration::from_secs(120);
/// How long a repeated request waits for the first one to finish.
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

const PENDING: &[u8] = b"pending";

/// What an action sent once did: the page that shows its secret, and the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub path: String,
    pub secret: String,
}

/// A fresh token for a form.
pub fn token() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Runs `act` once for `key` (the session's and the form's token together; see
/// [`crate::session::Sessions::once_key`]): the first request runs it, a repeat gets its
/// outcome. Without a key (an old form), `act` simply runs.
pub async fn run<F>(kv: &SharedKv, key: Option<String>, act: F) -> Result<Done, ApiError>
where
    F: Future<Output = Result<Done, ApiError>> + Send + 'static,
{
    let Some(key) = key else {
        return act.await;
    };
    let started = tokio::time::Instant::now();
    let mut act = Some(act);
    loop {
        let claimed = kv
            .set_if_absent(&key, PENDING, RUNNING)
            .await
            .map_err(|e| ApiError::unavailable(format!("session store: {e}")))?;
        if claimed && let Some(act) = act.take() {
            return run_claimed(kv.clone(), key, act).await;
        }
        match kv.get(&key).await {
            Ok(Some(bytes)) if bytes != PENDING => {
                if let Ok(done) = serde_json::from_slice::<Done>(&bytes) {
                    return Ok(done);
                }
            }
            // The first request is still running, or its refusal just freed the token.
            Ok(_) => {}
            Err(e) => return Err(ApiError::unavailable(format!("session store: {e}"))),
        }
        if started.elapsed() > WAIT {
            return Err(ApiError::unavailable(
                "the same form is still being handled; try again shortly",
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The claimed action in its own task: it finishes, and its outcome is kept, even if the
/// request that started it is dropped.
async fn run_claimed<F>(kv: SharedKv, key: String, act: F) -> Result<Done, ApiError>
where
    F: Future<Output = Result<Done, ApiError>> + Send + 'static,
{
    let freed = key.clone();
    let keeper = kv.clone();
    let task = tokio::spawn(async move {
        let kv = keeper;
        let outcome = act.await;
        let kept = match &outcome {
            Ok(done) => match serde_json::to_vec(done) {
                Ok(bytes) => kv.set(&key, &bytes, KEPT).await,
                Err(_) => kv.delete(&key).await,
            },
            Err(_) => kv.delete(&key).await,
        };
        if let Err(error) = kept {
            tracing::warn!(%error, "a form's outcome was not kept for its repeats");
        }
        outcome
    });
    match task.await {
        Ok(outcome) => outcome,
        // The action panicked before it could keep its outcome: free the form, as a refusal
        // does, rather than leave repeats waiting on it.
        Err(stopped) => {
            if let Err(error) = kv.delete(&freed).await {
                tracing::warn!(%error, "a stopped form's token was not freed");
            }
            Err(ApiError::unavailable(format!(
                "the form's action stopped: {stopped}"
            )))
        }
    }
}

/// Runs `act` once for the form's `token` (see [`run`]) and shows its secret on its page, or
/// answers why not.
pub async fn reveal<F>(
    console: &crate::Console,
    visit: &mut crate::Visit,
    token: &str,
    act: F,
) -> Result<axum::response::Response, ApiError>
where
    F: Future<Output = Result<Done, ApiError>> + Send + 'static,
{
    let key = visit.once_key(token);
    let done = run(console.sessions.kv(), key, act).await?;
    Ok(visit.reveal_at(console, &done.path, done.secret).await)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use axv_platform::kv::MemoryKv;

    use super::*;

    fn kv() -> SharedKv {
        Arc::new(MemoryKv::default())
    }

    fn act(
        runs: &Arc<AtomicUsize>,
        outcome: Result<Done, ApiError>,
    ) -> impl Future<Output = Result<Done, ApiError>> + Send + 'static {
        let runs = runs.clone();
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            outcome
        }
    }

    fn done(secret: &str) -> Done {
        Done {
            path: "/admin/api-clients/c1/created".into(),
            secret: secret.into(),
        }
    }

    #[tokio::test]
    async fn a_form_sent_twice_at_once_acts_once_and_both_see_the_secret() {
        let (kv, runs) = (kv(), Arc::new(AtomicUsize::new(0)));
        let key = Some("once:a".to_owned());
        let (first, second) = tokio::join!(
            run(&kv, key.clone(), act(&runs, Ok(done("s1")))),
            run(&kv, key.clone(), act(&runs, Ok(done("s2")))),
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(first.unwrap(), second.unwrap());
        // Sent again later: still the first outcome, not a second client.
        let third = run(&kv, key, act(&runs, Ok(done("s3")))).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(third.secret == "s1" || third.secret == "s2");
    }

    #[tokio::test]
    async fn a_dropped_first_request_still_finishes_for_its_repeat() {
        let (kv, runs) = (kv(), Arc::new(AtomicUsize::new(0)));
        let key = Some("once:b".to_owned());
        let first = run(&kv, key.clone(), act(&runs, Ok(done("kept"))));
        // The browser gives up on the first request almost at once.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), first)
                .await
                .is_err()
        );
        let repeat = run(&kv, key, act(&runs, Ok(done("other")))).await.unwrap();
        assert_eq!(repeat.secret, "kept");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refusal_frees_the_form_to_be_sent_again() {
        let (kv, runs) = (kv(), Arc::new(AtomicUsize::new(0)));
        let key = Some("once:c".to_owned());
        let refused = run(
            &kv,
            key.clone(),
            act(&runs, Err(ApiError::bad_input("name"))),
        )
        .await;
        assert_eq!(refused.unwrap_err().code, "BAD_USER_INPUT");
        let again = run(&kv, key, act(&runs, Ok(done("s")))).await.unwrap();
        assert_eq!(again.secret, "s");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_action_that_panics_frees_the_form() {
        let (kv, runs) = (kv(), Arc::new(AtomicUsize::new(0)));
        let key = Some("once:d".to_owned());
        let stopped = run(&kv, key.clone(), async {
            panic!("the action broke");
        })
        .await;
        assert_eq!(stopped.unwrap_err().code, "UNAVAILABLE");
        let again = run(&kv, key, act(&runs, Ok(done("s")))).await.unwrap();
        assert_eq!(again.secret, "s");
    }

    #[tokio::test]
    async fn without_a_token_the_action_simply_runs() {
        let (kv, runs) = (kv(), Arc::new(AtomicUsize::new(0)));
        run(&kv, None, act(&runs, Ok(done("a")))).await.unwrap();
        run(&kv, None, act(&runs, Ok(done("b")))).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
