//! Group commit for usage: debits that arrive while batches are committing wait for a turn,
//! then go in together as one transaction and one commit, the way a database groups its own
//! log writes. One debit alone is never held back: with a turn free, the caller commits its own
//! at once.
//!
//! There is no background task. Whoever takes a turn commits everything queued by then (its
//! own usage among it, or later callers'), in a task of its own so the batch completes even if
//! that caller goes away; a caller whose usage someone else took is answered when that batch
//! commits.

use std::sync::{Arc, Mutex};

use axv_auth::Caller;
use tokio::sync::oneshot;

use crate::{
    error::VouchersError,
    store::spend::{UsageInput, UsageOutcome},
};

/// The most usages one transaction carries; more wait for the next turn.
pub const MAX_BATCH: usize = 256;

/// Batches committing at once: while one waits on the database, the next is taken and begun,
/// so the round trips of one overlap another's (batches on the same voucher still take turns
/// on its row lock).
pub const COMMITTERS: usize = 2;

/// One caller's usage, owned while it waits for its batch.
pub struct QueuedUsage {
    pub caller: Caller,
    pub cluster: String,
    pub job_id: String,
    pub voucher_code: String,
    pub amount: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    answer: oneshot::Sender<Result<UsageOutcome, VouchersError>>,
}

impl QueuedUsage {
    pub fn input(&self) -> UsageInput<'_> {
        UsageInput {
            cluster: &self.cluster,
            job_id: &self.job_id,
            voucher_code: &self.voucher_code,
            amount: self.amount,
            started_at: self.started_at,
            ended_at: self.ended_at,
        }
    }

    /// Answers the waiting caller (who may have gone away: nothing to do then).
    pub fn answer(self, outcome: Result<UsageOutcome, VouchersError>) {
        let _ = self.answer.send(outcome);
    }
}

/// A receipt for a queued usage: [`UsageQueue::wait`] turns it into the answer.
pub struct Ticket(oneshot::Receiver<Result<UsageOutcome, VouchersError>>);

pub struct UsageQueue {
    waiting: Mutex<Vec<QueuedUsage>>,
    turns: Arc<tokio::sync::Semaphore>,
}

impl Default for UsageQueue {
    fn default() -> Self {
        Self {
            waiting: Mutex::default(),
            turns: Arc::new(tokio::sync::Semaphore::new(COMMITTERS)),
        }
    }
}

impl UsageQueue {
    pub fn push(&self, caller: Caller, usage: UsageInput<'_>) -> Ticket {
        let (answer, receipt) = oneshot::channel();
        let queued = QueuedUsage {
            caller,
            cluster: usage.cluster.to_owned(),
            job_id: usage.job_id.to_owned(),
            voucher_code: usage.voucher_code.to_owned(),
            amount: usage.amount,
            started_at: usage.started_at,
            ended_at: usage.ended_at,
            answer,
        };
        self.lock().push(queued);
        Ticket(receipt)
    }

    /// Waits for `ticket`'s answer, committing batches (`commit`, run in a task of its own)
    /// whenever this caller has the turn and usage is waiting. A caller answered by someone
    /// else's batch leaves the line for the turn at once: were it to take its turn anyway, every
    /// waiter would commit a batch of one in turn behind it, which is one debit per commit again.
    pub async fn wait<C, F>(
        &self,
        mut ticket: Ticket,
        commit: C,
    ) -> Result<UsageOutcome, VouchersError>
    where
        C: Fn(Vec<QueuedUsage>) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let lost = || {
            Err(VouchersError::Internal(
                "recording the usage failed unexpectedly; nothing may have been charged, retry"
                    .into(),
            ))
        };
        loop {
            tokio::select! {
                biased;
                answer = &mut ticket.0 => return answer.unwrap_or_else(|_| lost()),
                turn = self.turns.clone().acquire_owned() => {
                    let Ok(turn) = turn else { return lost() };
                    // The oldest first; beyond MAX_BATCH, the rest wait for the next turn.
                    let batch: Vec<QueuedUsage> = {
                        let mut waiting = self.lock();
                        let n = waiting.len().min(MAX_BATCH);
                        waiting.drain(..n).collect()
                    };
                    if batch.is_empty() {
                        // Nothing queued, this caller's usage among it: a batch has it and
                        // answers when it commits (taking turns meanwhile would only spin).
                        drop(turn);
                        return (&mut ticket.0).await.unwrap_or_else(|_| lost());
                    }
                    // The turn goes with the batch, so it is held until the batch is done even
                    // if this caller goes away. A panic in the batch drops its answers; their
                    // callers hear INTERNAL.
                    let batch = commit(batch);
                    let _ = tokio::spawn(async move {
                        batch.await;
                        drop(turn);
                    })
                    .await;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<QueuedUsage>> {
        // A panic while the list was held leaves it whole (push and drain only), so go on.
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    fn caller() -> Caller {
        Caller {
            subject: "meter".into(),
            role: axv_auth::Role::Operator,
            company_ids: vec![],
            token_id: String::new(),
            expires_at: 0,
            issuer: "test".into(),
            raw_token: Arc::from(""),
        }
    }

    fn usage(job: &str) -> UsageInput<'_> {
        UsageInput {
            cluster: "c",
            job_id: job,
            voucher_code: "V",
            amount: 1,
            started_at: None,
            ended_at: None,
        }
    }

    /// Answers every usage of `batch` alike: the batch's first job and its size.
    fn answer_all(batch: Vec<QueuedUsage>) {
        let outcome = answered(&batch);
        for queued in batch {
            queued.answer(Ok(outcome.clone()));
        }
    }

    fn answered(batch: &[QueuedUsage]) -> UsageOutcome {
        UsageOutcome {
            id: batch[0].job_id.clone(),
            voucher_id: format!("batch of {}", batch.len()),
            amount: 1,
            duplicate: false,
            overage: 0,
        }
    }

    #[tokio::test]
    async fn a_lone_usage_commits_at_once_in_a_batch_of_its_own() {
        let queue = UsageQueue::default();
        let ticket = queue.push(caller(), usage("j1"));
        let outcome = queue
            .wait(ticket, |batch: Vec<QueuedUsage>| async move {
                answer_all(batch);
            })
            .await
            .unwrap();
        assert_eq!(outcome.voucher_id, "batch of 1");
    }

    #[tokio::test]
    async fn usage_arriving_during_a_commit_goes_in_the_next_batch_together() {
        let queue = Arc::new(UsageQueue::default());
        let batches = Arc::new(AtomicUsize::new(0));
        let (release, hold) = tokio::sync::watch::channel(false);
        let commit = {
            let batches = batches.clone();
            move |batch: Vec<QueuedUsage>| {
                let (batches, mut hold) = (batches.clone(), hold.clone());
                async move {
                    batches.fetch_add(1, Ordering::SeqCst);
                    // The first batch commits slowly, until the others are queued.
                    let _ = hold.wait_for(|released| *released).await;
                    answer_all(batch);
                }
            }
        };
        let first = {
            let (queue, commit) = (queue.clone(), commit.clone());
            let ticket = queue.push(caller(), usage("first"));
            tokio::spawn(async move { queue.wait(ticket, commit).await })
        };
        while batches.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let mut later = Vec::new();
        for n in 0..5 {
            let (queue, commit) = (queue.clone(), commit.clone());
            let ticket = queue.push(caller(), usage(["a", "b", "c", "d", "e"][n]));
            later.push(tokio::spawn(
                async move { queue.wait(ticket, commit).await },
            ));
        }
        release.send(true).unwrap();
        assert_eq!(first.await.unwrap().unwrap().voucher_id, "batch of 1");
        for waiting in later {
            assert_eq!(waiting.await.unwrap().unwrap().voucher_id, "batch of 5");
        }
        assert_eq!(batches.load(Ordering::SeqCst), 2);
    }

    /// Fifty callers in a closed loop (each sends again once answered) while commits take a
    /// while: batches stay large instead of degenerating into one commit per debit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_in_a_closed_loop_share_commits() {
        let queue = Arc::new(UsageQueue::default());
        let batches = Arc::new(AtomicUsize::new(0));
        let commit = {
            let batches = batches.clone();
            move |batch: Vec<QueuedUsage>| {
                let batches = batches.clone();
                async move {
                    batches.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    answer_all(batch);
                }
            }
        };
        let (callers, rounds) = (50, 10);
        let mut tasks = Vec::new();
        for caller_n in 0..callers {
            let (queue, commit) = (queue.clone(), commit.clone());
            tasks.push(tokio::spawn(async move {
                for round in 0..rounds {
                    let job = format!("{caller_n}-{round}");
                    let ticket = queue.push(caller(), usage(&job));
                    queue.wait(ticket, commit.clone()).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let batches = batches.load(Ordering::SeqCst);
        // 500 debits; one commit each would be 500 batches.
        assert!(
            batches <= 60,
            "{batches} batches for {} debits",
            callers * rounds
        );
    }

    #[tokio::test]
    async fn a_batch_that_drops_its_answers_is_an_internal_error_not_a_hang() {
        let queue = UsageQueue::default();
        let ticket = queue.push(caller(), usage("j"));
        let error = queue
            .wait(ticket, |batch: Vec<QueuedUsage>| async move { drop(batch) })
            .await
            .unwrap_err();
        assert!(matches!(error, VouchersError::Internal(_)), "{error:?}");
    }

    #[tokio::test]
    async fn no_batch_carries_more_than_the_maximum() {
        let queue = UsageQueue::default();
        let jobs: Vec<String> = (0..MAX_BATCH + 3).map(|n| format!("j{n}")).collect();
        let mut tickets: Vec<Ticket> = jobs
            .iter()
            .map(|j| queue.push(caller(), usage(j)))
            .collect();
        let last = tickets.pop().unwrap();
        let outcome = queue
            .wait(last, |batch: Vec<QueuedUsage>| async move {
                answer_all(batch);
            })
            .await
            .unwrap();
        assert_eq!(outcome.voucher_id, "batch of 3");
        assert_eq!(outcome.id, format!("j{MAX_BATCH}"));
    }
}
