//! The ledger against both backends: random sequences of every kind of movement keep every
//! invariant; holds, usage and ingestion are idempotent; the sacct fixture is charged exactly.

use axv_platform::calendar::today_kst;
use std::collections::HashMap;

use axv_auth::Role;
use axv_platform::{audit::Actor, pagination::PageRequest};
use axv_testkit::{
    TestDb, on_both_backends,
    vouchers::{issue, pool_and_program},
};
use axv_vouchers::{
    domain::{HoldState, LineRefusal, VoucherStatus},
    store::{
        Store,
        spend::{Standing, UsageInput},
    },
};

async fn store(test: &TestDb) -> Store {
    let platform = axv_platform::testing::platform(test.config.clone());
    let db = axv_vouchers::database(&platform).await.unwrap();
    Store::new(db, axv_platform::outbox::Outbox::default())
}

/// A firm member acting.
fn firm(id: &str) -> Actor {
    Actor::account(id, Role::FirmMember)
}

/// A programme manager acting.
fn manager(id: &str) -> Actor {
    Actor::account(id, Role::ProgramManager)
}

/// The operator holding, committing and releasing for the cluster.
fn operator() -> Actor {
    Actor::account("operator", Role::Operator)
}

/// A tiny deterministic PRNG, so a failing sequence can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Checks every invariant the ledger promises.
async fn check_invariants(store: &Store, pool_id: &str, capacity: i64, seed: u64, step: usize) {
    let context = format!("seed {seed}, step {step}");
    assert_eq!(
        store.ledger_sum().await.unwrap(),
        0,
        "double entry sums to zero ({context})"
    );
    assert!(
        store.ledger_discrepancies().await.unwrap().is_empty(),
        "balances equal their transfers ({context})"
    );
    let negative: Vec<(String, i64)> = sqlx::query_as(
        "SELECT id, balance FROM ledger_accounts WHERE balance < 0 AND may_go_negative = 0",
    )
    .fetch_all(store.database().pool())
    .await
    .unwrap();
    assert!(
        negative.is_empty(),
        "no balance below zero: {negative:?} ({context})"
    );
    let pool = store.pool(pool_id).await.unwrap().unwrap();
    assert!(
        pool.available >= 0 && pool.committed <= capacity,
        "pool never over-committed ({context})"
    );
    let (vouchers, _) = store
        .list_vouchers(&Default::default(), None, 1000)
        .await
        .unwrap();
    for voucher in vouchers {
        assert!(
            voucher.balance >= 0 && voucher.held >= 0,
            "{voucher:?} ({context})"
        );
        // The ledger reads as a running account: each entry's balance is the previous plus its
        // amount, ending at the voucher's balance.
        let (entries, _) = store.ledger_entries(&voucher.id, None, 1000).await.unwrap();
        let mut running = 0;
        for entry in &entries {
            running += entry.amount;
            assert_eq!(
                entry.balance_after, running,
                "{entry:?} of {} ({context})",
                voucher.code
            );
        }
        assert_eq!(
            running, voucher.balance,
            "ledger of {} ends at its balance ({context})",
            voucher.code
        );
        if matches!(
            voucher.status,
            VoucherStatus::Active | VoucherStatus::Exhausted
        ) {
            assert_eq!(
                voucher.balance,
                voucher.granted - voucher.held - voucher.consumed,
                "balance = granted - held - consumed ({context})"
            );
        }
    }
}

async fn random_sequences_keep_every_invariant(test: TestDb) {
    let store = store(&test).await;
    let capacity = 100_000;
    let (pool_id, program_id) = pool_and_program(&store, capacity, 40_000).await;
    for seed in [0x9E37_79B9_7F4A_7C15_u64, 42, 7_777_777] {
        let mut rng = Rng(seed);
        let mut vouchers: Vec<(String, String)> = Vec::new();
        let mut open_holds: Vec<String> = Vec::new();
        for step in 0..120 {
            match rng.below(8) {
                // Grants, some larger than what is left in the pool (refused, whole).
                0 if vouchers.len() < 12 => {
                    let company = format!("company-{}", rng.below(6));
                    let amount = 500 + i64::try_from(rng.below(20_000)).unwrap();
                    let application = store
                        .create_application(
                            axv_vouchers::store::NewApplication {
                                program_id: program_id.clone(),
                                company_id: company,
                                requested_amount: amount,
                                justification: "random".into(),
                                pilot_id: None,
                            },
                            &firm("t"),
                        )
                        .await
                        .unwrap();
                    if let Ok((_, voucher)) = store
                        .approve_application(
                            &application.id,
                            amount,
                            &manager("m"),
                            None,
                            today_kst(),
                        )
                        .await
                    {
                        vouchers.push((voucher.id, voucher.code));
                    }
                }
                1 | 2 if !vouchers.is_empty() => {
                    let (_, code) =
                        &vouchers[usize::try_from(rng.below(vouchers.len() as u64)).unwrap()];
                    // Job ids repeat now and then: a retry must not charge twice.
                    let job = format!("job-{seed}-{}", rng.below(60));
                    let amount = 1 + i64::try_from(rng.below(3_000)).unwrap();
                    let _ = store
                        .record_usage(
                            UsageInput {
                                cluster: "c",
                                job_id: &job,
                                voucher_code: code,
                                amount,
                                started_at: None,
                                ended_at: None,
                            },
                            today_kst(),
                            &Default::default(),
                        )
                        .await;
                }
                3 if !vouchers.is_empty() => {
                    let (_, code) =
                        &vouchers[usize::try_from(rng.below(vouchers.len() as u64)).unwrap()];
                    let hold = format!("hold-{seed}-{step}");
                    let amount = 1 + i64::try_from(rng.below(4_000)).unwrap();
                    if store
                        .create_hold(
                            &hold,
                            code,
                            amount,
                            i64::MAX / 2,
                            None,
                            today_kst(),
                            &operator(),
                        )
                        .await
                        .is_ok()
                    {
                        open_holds.push(hold);
                    }
                }
                4 if !open_holds.is_empty() => {
                    let hold = open_holds
                        .swap_remove(usize::try_from(rng.below(open_holds.len() as u64)).unwrap());
                    let fraction = i64::try_from(rng.below(101)).unwrap();
                    let held =
                        sqlx::query_as::<_, (i64,)>("SELECT amount FROM holds WHERE id = $1")
                            .bind(&hold)
                            .fetch_optional(store.database().pool())
                            .await
                            .unwrap();
                    if let Some((held,)) = held {
                        let _ = store
                            .commit_hold(&hold, held * fraction / 100, &operator())
                            .await;
                    }
                }
                5 if !open_holds.is_empty() => {
                    let hold = open_holds
                        .swap_remove(usize::try_from(rng.below(open_holds.len() as u64)).unwrap());
                    let _ = store.release_hold(&hold, &operator()).await;
                }
                6 if !vouchers.is_empty() && rng.below(4) == 0 => {
                    let (id, _) =
                        &vouchers[usize::try_from(rng.below(vouchers.len() as u64)).unwrap()];
                    let _ = store
                        .end_voucher(id, VoucherStatus::Expired, None, &Actor::system("sweeper"))
                        .await;
                }
                7 if !vouchers.is_empty() && rng.below(4) == 0 => {
                    let (id, _) =
                        &vouchers[usize::try_from(rng.below(vouchers.len() as u64)).unwrap()];
                    let _ = store
                        .end_voucher(
                            id,
                            VoucherStatus::Revoked,
                            Some("random revocation"),
                            &manager("m"),
                        )
                        .await;
                }
                _ => {}
            }
            if step % 10 == 9 {
                check_invariants(&store, &pool_id, capacity, seed, step).await;
            }
        }
        check_invariants(&store, &pool_id, capacity, seed, 120).await;
    }
    // The sequences really moved money of every kind (the test cannot pass on refusals alone).
    let kinds: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, COUNT(*) FROM ledger_transfers GROUP BY kind")
            .fetch_all(store.database().pool())
            .await
            .unwrap();
    let kinds: HashMap<String, i64> = kinds.into_iter().collect();
    for kind in [
        "grant",
        "hold",
        "commit",
        "release",
        "debit",
        "expiry",
        "revocation",
    ] {
        assert!(
            kinds.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} transfer happened: {kinds:?}"
        );
    }
}

async fn holds_commit_release_and_retries(test: TestDb) {
    let store = store(&test).await;
    let (_, program) = pool_and_program(&store, 10_000, 10_000).await;
    let voucher = issue(&store, &program, "c1", 1_000).await;
    let code = voucher.code.clone();

    let hold = store
        .create_hold(
            "h1",
            &code,
            400,
            i64::MAX / 2,
            Some(("h100", "77")),
            today_kst(),
            &operator(),
        )
        .await
        .unwrap();
    assert_eq!(hold.state, HoldState::Open);
    // Same id, same content: the same hold, not a second reservation.
    assert_eq!(
        store
            .create_hold(
                "h1",
                &code,
                400,
                i64::MAX / 2,
                None,
                today_kst(),
                &operator(),
            )
            .await
            .unwrap()
            .id,
        "h1"
    );
    let other = store
        .create_hold(
            "h1",
            &code,
            300,
            i64::MAX / 2,
            None,
            today_kst(),
            &operator(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(other, axv_vouchers::VouchersError::Conflict(_)),
        "{other:?}"
    );
    let v = store.voucher(&voucher.id).await.unwrap().unwrap();
    assert_eq!((v.balance, v.held), (600, 400));

    // Over the balance: refused whole.
    assert!(
        store
            .create_hold(
                "h2",
                &code,
                601,
                i64::MAX / 2,
                None,
                today_kst(),
                &operator(),
            )
            .await
            .is_err()
    );
    // More than held: refused.
    assert!(store.commit_hold("h1", 401, &operator()).await.is_err());

    let committed = store.commit_hold("h1", 250, &operator()).await.unwrap();
    assert_eq!(
        (committed.state, committed.committed_amount),
        (HoldState::Committed, 250)
    );
    assert_eq!(
        store
            .commit_hold("h1", 250, &operator())
            .await
            .unwrap()
            .state,
        HoldState::Committed,
        "a retried commit is the same commit"
    );
    assert!(
        store.commit_hold("h1", 100, &operator()).await.is_err(),
        "a different commit is refused"
    );
    assert!(
        store.release_hold("h1", &operator()).await.is_err(),
        "a committed hold cannot be released"
    );
    let v = store.voucher(&voucher.id).await.unwrap().unwrap();
    assert_eq!((v.balance, v.held, v.consumed), (750, 0, 250));
    // The held job was recorded once: it comes back from sacct or as a usage record as a
    // duplicate, never as a second charge.
    let sacct = format!(
        "JobID|JobIDRaw|Account|User|AllocTRES|ElapsedRaw|Start|End|State\n\
         77|77|{code}|kim|gres/gpu=1|250|2026-01-01T00:00:00|2026-01-01T00:04:10|COMPLETED\n"
    );
    let again = store
        .ingest_sacct("h100", &sacct, today_kst())
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 1));
    let usage = UsageInput {
        cluster: "h100",
        job_id: "77",
        voucher_code: &code,
        amount: 250,
        started_at: None,
        ended_at: None,
    };
    assert!(
        store
            .record_usage(usage, today_kst(), &Default::default())
            .await
            .unwrap()
            .duplicate
    );
    // A job charged through another path first: committing its hold charges nothing more.
    let other = UsageInput {
        cluster: "h100",
        job_id: "88",
        voucher_code: &code,
        amount: 100,
        started_at: None,
        ended_at: None,
    };
    store
        .record_usage(other, today_kst(), &Default::default())
        .await
        .unwrap();
    store
        .create_hold(
            "h88",
            &code,
            100,
            i64::MAX / 2,
            Some(("h100", "88")),
            today_kst(),
            &operator(),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .commit_hold("h88", 100, &operator())
            .await
            .unwrap()
            .committed_amount,
        0
    );
    let v = store.voucher(&voucher.id).await.unwrap().unwrap();
    assert_eq!((v.balance, v.held, v.consumed), (650, 0, 350));

    // A hold whose time ran out releases itself.
    store
        .create_hold(
            "h3",
            &code,
            600,
            axv_platform::ids::now_ms() - 1,
            None,
            today_kst(),
            &operator(),
        )
        .await
        .unwrap();
    let (holds, _) = axv_vouchers::sweep(&store).await.unwrap();
    assert_eq!(holds, 1);
    let v = store.voucher(&voucher.id).await.unwrap().unwrap();
    assert_eq!((v.balance, v.held), (650, 0));
    assert_eq!(
        store.release_hold("h3", &operator()).await.unwrap().state,
        HoldState::Expired,
        "releasing an expired hold is a no-op"
    );

    // Exhaustion and its status.
    store
        .record_usage(
            UsageInput {
                cluster: "h100",
                job_id: "all",
                voucher_code: &code,
                amount: 650,
                started_at: None,
                ended_at: None,
            },
            today_kst(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.voucher(&voucher.id).await.unwrap().unwrap().status,
        VoucherStatus::Exhausted
    );
    let events: Vec<(String,)> = sqlx::query_as("SELECT kind FROM outbox ORDER BY created_at")
        .fetch_all(store.database().pool())
        .await
        .unwrap();
    let kinds: Vec<String> = events.into_iter().map(|(k,)| k).collect();
    assert!(kinds.contains(&"voucher.issued".to_owned()));
    assert_eq!(
        kinds.iter().filter(|k| *k == "voucher.low_balance").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "voucher.exhausted").count(),
        1,
        "{kinds:?}"
    );
}

async fn usage_is_charged_once(test: TestDb) {
    let store = store(&test).await;
    let (_, program) = pool_and_program(&store, 10_000, 10_000).await;
    let voucher = issue(&store, &program, "c1", 1_000).await;
    let record = |amount| UsageInput {
        cluster: "h100",
        job_id: "job-1",
        voucher_code: &voucher.code,
        amount,
        started_at: Some(1),
        ended_at: Some(2),
    };
    let first = store
        .record_usage(record(300), today_kst(), &Default::default())
        .await
        .unwrap();
    assert!(!first.duplicate);
    let retry = store
        .record_usage(record(300), today_kst(), &Default::default())
        .await
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.id, first.id, "the retry returns the first result");
    let changed = store
        .record_usage(record(301), today_kst(), &Default::default())
        .await
        .unwrap_err();
    assert!(matches!(changed, axv_vouchers::VouchersError::Conflict(_)));
    let v = store.voucher(&voucher.id).await.unwrap().unwrap();
    assert_eq!((v.balance, v.consumed), (700, 300));
    // Usage beyond the balance is recorded whole: charged up to the balance, the rest kept
    // as overage; the balance never goes negative.
    let over = store
        .record_usage(
            UsageInput {
                cluster: "h100",
                job_id: "job-2",
                voucher_code: &voucher.code,
                amount: 701,
                started_at: None,
                ended_at: None,
            },
            today_kst(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!((over.amount, over.overage), (700, 1));
    let v = store.voucher(&voucher.id).await.unwrap().unwrap();
    assert_eq!((v.balance, v.consumed, v.overage), (0, 1_000, 1));
    assert_eq!(v.status, VoucherStatus::Exhausted);
    // A job on the exhausted voucher: nothing to charge, all overage, still recorded once.
    let late = || UsageInput {
        cluster: "h100",
        job_id: "job-3",
        voucher_code: &voucher.code,
        amount: 50,
        started_at: None,
        ended_at: None,
    };
    let first = store
        .record_usage(late(), today_kst(), &Default::default())
        .await
        .unwrap();
    assert_eq!(
        (first.amount, first.overage, first.duplicate),
        (0, 50, false)
    );
    let retry = store
        .record_usage(late(), today_kst(), &Default::default())
        .await
        .unwrap();
    assert_eq!((retry.duplicate, retry.overage), (true, 50));
    let v = store.voucher(&voucher.id).await.unwrap().unwrap();
    assert_eq!((v.balance, v.overage), (0, 51));
    assert_eq!(store.ledger_sum().await.unwrap(), 0);
}

/// A batch of usage is answered item by item exactly as each would be alone, in order: a later
/// job sees the balance the earlier ones left, a job twice in the batch is charged once, and one
/// refusal spoils nothing else.
async fn a_batch_is_answered_as_each_usage_alone(test: TestDb) {
    let store = store(&test).await;
    let (_, program) = pool_and_program(&store, 10_000, 10_000).await;
    let a = issue(&store, &program, "c1", 1_000).await;
    let b = issue(&store, &program, "c2", 500).await;
    let barred = issue(&store, &program, "c3", 500).await;
    fn usage<'a>(job: &'a str, code: &'a str, amount: i64) -> UsageInput<'a> {
        UsageInput {
            cluster: "h100",
            job_id: job,
            voucher_code: code,
            amount,
            started_at: None,
            ended_at: None,
        }
    }
    let code = |v: &axv_vouchers::store::VoucherRecord| v.code.clone();
    let (a_code, b_code, barred_code) = (code(&a), code(&b), code(&barred));
    let batch = [
        usage("j1", &a_code, 300),
        usage("j2", &a_code, 300),
        usage("j1", &a_code, 300),
        usage("j3", &a_code, 600),
        usage("j4", "gpu-2026-nosuch", 10),
        usage("j5", &b_code, 100),
        usage("j1", &a_code, 999),
        usage("j6", &barred_code, 10),
    ];
    let outcomes = store
        .record_usages(&batch, today_kst(), &Standing::barring(["c3".to_owned()]))
        .await
        .unwrap();
    assert_eq!(outcomes.len(), batch.len());
    let ok = |n: usize| outcomes[n].as_ref().unwrap().clone();
    assert_eq!((ok(0).amount, ok(0).duplicate), (300, false));
    assert_eq!((ok(1).amount, ok(1).duplicate), (300, false));
    assert_eq!(
        (ok(2).id.as_str(), ok(2).duplicate),
        (ok(0).id.as_str(), true)
    );
    assert_eq!(
        (ok(3).amount, ok(3).overage),
        (400, 200),
        "j3 sees what j1 and j2 left"
    );
    assert!(matches!(
        outcomes[4],
        Err(axv_vouchers::VouchersError::NotFound(_))
    ));
    assert_eq!(ok(5).amount, 100);
    assert!(matches!(
        outcomes[6],
        Err(axv_vouchers::VouchersError::Conflict(_))
    ));
    assert!(matches!(
        outcomes[7],
        Err(axv_vouchers::VouchersError::Precondition(_))
    ));

    let a_after = store.voucher(&a.id).await.unwrap().unwrap();
    assert_eq!(
        (a_after.balance, a_after.consumed, a_after.overage),
        (0, 1_000, 200)
    );
    assert_eq!(a_after.status, VoucherStatus::Exhausted);
    let b_after = store.voucher(&b.id).await.unwrap().unwrap();
    assert_eq!((b_after.balance, b_after.consumed), (400, 100));
    let untouched = store.voucher(&barred.id).await.unwrap().unwrap();
    assert_eq!(untouched.balance, 500);
    // The voucher's ledger reads as a running account, one entry per job.
    let (entries, _) = store.ledger_entries(&a.id, None, 10).await.unwrap();
    let debits: Vec<(i64, i64)> = entries
        .iter()
        .filter(|e| e.kind == "debit")
        .map(|e| (e.amount, e.balance_after))
        .collect();
    assert_eq!(debits, vec![(-300, 700), (-300, 400), (-400, 0)]);
    // The same batch again: every accepted job a duplicate, nothing charged twice.
    let again = store
        .record_usages(&batch, today_kst(), &Standing::barring(["c3".to_owned()]))
        .await
        .unwrap();
    for n in [0, 1, 2, 3, 5] {
        assert!(again[n].as_ref().unwrap().duplicate, "item {n}");
    }
    assert_eq!(store.voucher(&a.id).await.unwrap().unwrap().consumed, 1_000);
    // Standing asked about c2 alone: a voucher of another company (issued after the question)
    // is not charged, c2's is.
    let asked = Standing::asked(&["c2".to_owned()], Default::default());
    let late = store
        .record_usages(
            &[usage("j7", &barred_code, 10), usage("j8", &b_code, 10)],
            today_kst(),
            &asked,
        )
        .await
        .unwrap();
    assert!(
        matches!(&late[0], Err(axv_vouchers::VouchersError::Precondition(m)) if m.contains("not checked")),
        "{late:?}"
    );
    assert_eq!(late[1].as_ref().unwrap().amount, 10);
    assert_eq!(store.ledger_sum().await.unwrap(), 0);
    assert!(store.ledger_discrepancies().await.unwrap().is_empty());
}

fn expected_numbers() -> HashMap<String, String> {
    include_str!("../fixtures/sacct_h100_week.expected")
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

async fn sacct_fixture_is_charged_exactly(test: TestDb) {
    let store = store(&test).await;
    let (_, program) = pool_and_program(&store, 100_000_000, 100_000_000).await;
    let mut codes = HashMap::new();
    for placeholder in ["V1", "V2", "V3", "EXPIRED"] {
        let voucher = issue(
            &store,
            &program,
            &format!("company-{placeholder}"),
            20_000_000,
        )
        .await;
        codes.insert(placeholder, voucher);
    }
    store
        .end_voucher(
            &codes["EXPIRED"].id,
            VoucherStatus::Expired,
            None,
            &Actor::system("sweeper"),
        )
        .await
        .unwrap();
    let mut text = include_str!("../fixtures/sacct_h100_week.txt").to_owned();
    for (placeholder, voucher) in &codes {
        text = text.replace(&format!("{{{{{placeholder}}}}}"), &voucher.code);
    }
    let expected = expected_numbers();
    let number = |key: &str| -> usize { expected[key].parse().unwrap() };
    let seconds = |key: &str| -> i64 { expected[key].parse().unwrap() };

    let report = store
        .ingest_sacct("h100", &text, today_kst())
        .await
        .unwrap();
    let charged_jobs = number("jobs_V1") + number("jobs_V2") + number("jobs_V3");
    assert_eq!(report.accepted, charged_jobs);
    assert_eq!(
        report.amount,
        seconds("gpu_seconds_V1") + seconds("gpu_seconds_V2") + seconds("gpu_seconds_V3")
    );
    assert_eq!(report.skipped, number("skipped"));
    assert_eq!(report.duplicates, number("in_file_duplicates"));
    // Malformed lines, plus every job of the expired voucher and of the unknown account.
    assert_eq!(
        report.rejected.len(),
        number("rejected") + number("jobs_EXPIRED") + number("jobs_unknown-acct")
    );
    // Each refusal says why, as a kind for any language and in words.
    let of_kind = |kind: LineRefusal, words: &str| {
        report
            .rejected
            .iter()
            .filter(|r| r.kind == kind && r.reason.contains(words))
            .count()
    };
    assert_eq!(of_kind(LineRefusal::Malformed, ""), number("rejected"));
    assert!(of_kind(LineRefusal::Malformed, "ElapsedRaw") > 0);
    assert_eq!(
        of_kind(LineRefusal::VoucherNotSpendable, "expired"),
        number("jobs_EXPIRED")
    );
    assert_eq!(
        of_kind(LineRefusal::UnknownVoucher, "unknown voucher"),
        number("jobs_unknown-acct")
    );
    for placeholder in ["V1", "V2", "V3"] {
        let voucher = store
            .voucher(&codes[placeholder].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            voucher.consumed,
            seconds(&format!("gpu_seconds_{placeholder}")),
            "{placeholder}"
        );
        assert_eq!(voucher.balance, 20_000_000 - voucher.consumed);
    }

    // The same file again: every job is a duplicate, nothing is charged twice.
    let again = store
        .ingest_sacct("h100", &text, today_kst())
        .await
        .unwrap();
    assert_eq!(again.accepted, 0);
    assert_eq!(again.amount, 0);
    assert_eq!(
        again.duplicates,
        charged_jobs + number("in_file_duplicates")
    );
    let v1 = store.voucher(&codes["V1"].id).await.unwrap().unwrap();
    assert_eq!(v1.consumed, seconds("gpu_seconds_V1"));

    // Each file is in the history as it was answered: charges per voucher and every refused
    // line, read back the same; listings newest first, a page at a time.
    let charged: Vec<(String, i64, i64)> = report
        .charges
        .iter()
        .map(|c| (c.voucher_code.clone(), c.jobs, c.amount))
        .collect();
    let mut want: Vec<(String, i64, i64)> = ["V1", "V2", "V3"]
        .iter()
        .map(|v| {
            (
                codes[*v].code.clone(),
                number(&format!("jobs_{v}")) as i64,
                seconds(&format!("gpu_seconds_{v}")),
            )
        })
        .collect();
    want.sort();
    let mut sorted = charged.clone();
    sorted.sort();
    assert_eq!(sorted, want);
    let kept = store
        .usage_upload(&report.upload_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.cluster, "h100");
    assert_eq!(kept.rejected_count as usize, report.rejected.len());
    assert_eq!(kept.report.rejected, report.rejected);
    let mut kept_charges = kept.report.charges.clone();
    kept_charges.sort_by(|a, b| a.voucher_id.cmp(&b.voucher_id));
    let mut answered = report.charges.clone();
    answered.sort_by(|a, b| a.voucher_id.cmp(&b.voucher_id));
    assert_eq!(kept_charges, answered);
    assert_eq!(
        (
            kept.report.accepted,
            kept.report.amount,
            kept.report.skipped
        ),
        (report.accepted, report.amount, report.skipped)
    );
    let (first, total) = store.usage_uploads(None, 1).await.unwrap();
    assert_eq!((first.len(), total), (1, 2));
    assert_eq!(first[0].id, again.upload_id, "newest first");
    assert!(
        first[0].report.rejected.is_empty(),
        "listings carry counts only"
    );
    let (second, _) = store.usage_uploads(Some(&first[0].id), 5).await.unwrap();
    assert_eq!(
        second.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        vec![report.upload_id.as_str()]
    );
    assert!(
        store
            .usage_upload("no-such-upload")
            .await
            .unwrap()
            .is_none()
    );

    // Jobs beyond the balance are accepted: charged up to it, the rest kept as overage.
    let small = issue(&store, &program, "company-small", 150).await;
    let text = format!(
        "JobID|JobIDRaw|Account|User|AllocTRES|ElapsedRaw|Start|End|State\n\
         9001|9001|{code}|kim|gres/gpu=1|100|2026-01-01T00:00:00|2026-01-01T00:01:40|COMPLETED\n\
         9002|9002|{code}|kim|gres/gpu=1|100|2026-01-01T00:00:00|2026-01-01T00:01:40|COMPLETED\n\
         9003|9003|{code}|kim|gres/gpu=1|50|2026-01-01T00:00:00|2026-01-01T00:00:50|COMPLETED\n",
        code = small.code
    );
    let report = store
        .ingest_sacct("h100", &text, today_kst())
        .await
        .unwrap();
    assert_eq!((report.accepted, report.amount), (3, 150));
    assert_eq!((report.overage, report.overage_jobs), (100, 2));
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let small = store.voucher(&small.id).await.unwrap().unwrap();
    assert_eq!(
        (small.balance, small.consumed, small.overage),
        (0, 150, 100)
    );
    let per_job: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT job_id, amount, overage FROM usage_records WHERE voucher_id = $1 ORDER BY job_id",
    )
    .bind(&small.id)
    .fetch_all(store.database().pool())
    .await
    .unwrap();
    assert_eq!(
        per_job,
        vec![
            ("9001".to_owned(), 100, 0),
            ("9002".to_owned(), 50, 50),
            ("9003".to_owned(), 0, 50)
        ]
    );
    assert_eq!(store.ledger_sum().await.unwrap(), 0);
}

/// A voucher whose ledger runs to thousands of entries: every page but the last says more
/// follow, the pages add up to the whole ledger, and the consumption in a window is summed
/// exactly (debits, holds net of releases, overage) without paging.
async fn long_ledgers_page_and_sum_exactly(test: TestDb) {
    let store = store(&test).await;
    let (_, program) = pool_and_program(&store, 100_000_000, 100_000_000).await;
    let voucher = issue(&store, &program, "c1", 50_000_000).await;
    let entries = 18_000;
    let base = 1_700_000_000_000_i64;
    // Debits of 1..=3 units, written as a day of metering would leave them (one transaction,
    // balances kept equal to the transfers, as the invariant checks demand).
    let mut total = 0_i64;
    let mut tx = store.database().pool().begin().await.unwrap();
    for chunk in (0..entries).collect::<Vec<i64>>().chunks(500) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|n| {
                format!(
                    "('{}', 'op-{n}', 'debit', 'voucher:{v}', 'consumed:{v}', {}, '{v}', 0, NULL, {})",
                    axv_platform::ids::new_id(),
                    n % 3 + 1,
                    base + n,
                    v = voucher.id
                )
            })
            .collect();
        total += chunk.iter().map(|n| n % 3 + 1).sum::<i64>();
        sqlx::query(&format!(
            "INSERT INTO ledger_transfers (id, operation_id, kind, debit_account, credit_account, amount, voucher_id, voucher_balance_after, reference, created_at) VALUES {}",
            rows.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    for (account, delta) in [
        (format!("voucher:{}", voucher.id), -total),
        (format!("consumed:{}", voucher.id), total),
    ] {
        sqlx::query("UPDATE ledger_accounts SET balance = balance + $1 WHERE id = $2")
            .bind(delta)
            .bind(account)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    assert!(store.ledger_discrepancies().await.unwrap().is_empty());

    // The grant plus 18,000 debits, paged by 100 through the shared page rule.
    let mut seen = 0;
    let mut pages = 0;
    let mut page = PageRequest::first(100);
    loop {
        let (rows, count) = store
            .ledger_entries(&voucher.id, page.after(), page.fetch_limit())
            .await
            .unwrap();
        assert_eq!(count, entries + 1);
        let (rows, token) = page.finish(rows, |e| &e.id);
        seen += rows.len();
        pages += 1;
        if token.is_empty() {
            break;
        }
        assert_eq!(rows.len(), 100, "only the last page is short");
        page = PageRequest::parse(100, &token).unwrap();
    }
    assert_eq!((seen, pages), (18_001, 181));

    // The first 9,000 debits' window, then everything.
    let half: i64 = (0..9_000).map(|n: i64| n % 3 + 1).sum();
    let window = store
        .consumption(std::slice::from_ref(&voucher.id), base, base + 9_000)
        .await
        .unwrap();
    assert_eq!((window[0].consumed, window[0].overage), (half, 0));
    let all = store
        .consumption(std::slice::from_ref(&voucher.id), 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(all[0].consumed, total);
}

async fn grants_respect_cap_and_capacity(test: TestDb) {
    let store = store(&test).await;
    let (pool, program) = pool_and_program(&store, 1_000, 600).await;
    issue(&store, &program, "c1", 500).await;
    let application = |amount| axv_vouchers::store::NewApplication {
        program_id: program.clone(),
        company_id: "c1".into(),
        requested_amount: amount,
        justification: "more".into(),
        pilot_id: None,
    };
    let second = store
        .create_application(application(200), &firm("f"))
        .await
        .unwrap();
    let over_cap = store
        .approve_application(&second.id, 200, &manager("m"), None, today_kst())
        .await
        .unwrap_err();
    assert!(over_cap.to_string().contains("cap"), "{over_cap}");
    // A refused approval changes nothing: still SUBMITTED, nothing granted.
    assert_eq!(
        store.application(&second.id).await.unwrap().unwrap().status,
        axv_vouchers::domain::ApplicationStatus::Submitted
    );
    store
        .approve_application(&second.id, 100, &manager("m"), None, today_kst())
        .await
        .unwrap();

    let other = axv_vouchers::store::NewApplication {
        company_id: "c2".into(),
        requested_amount: 500,
        ..application(0)
    };
    let third = store.create_application(other, &firm("f")).await.unwrap();
    let over_capacity = store
        .approve_application(&third.id, 500, &manager("m"), None, today_kst())
        .await
        .unwrap_err();
    assert!(
        over_capacity.to_string().contains("only 400"),
        "{over_capacity}"
    );
    let pool = store.pool(&pool).await.unwrap().unwrap();
    assert_eq!((pool.committed, pool.available), (600, 400));
}

async fn sacct_refuses_non_gpu_vouchers(test: TestDb) {
    use axv_vouchers::domain::{FundingSource, ResourceKind};
    let store = store(&test).await;
    let npu = store
        .create_pool(
            axv_vouchers::store::NewPool {
                name: "NPU".into(),
                kind: ResourceKind::Npu,
                capacity: 1_000_000,
                funding: FundingSource::City,
                valid_from: today_kst(),
                valid_until: today_kst() + chrono::Days::new(30),
            },
            &Actor::account("admin", Role::Admin),
        )
        .await
        .unwrap();
    let program = store
        .create_program(
            axv_vouchers::store::NewProgram {
                pool_id: npu.id,
                name: "NPU".into(),
                opens_on: today_kst(),
                closes_on: today_kst() + chrono::Days::new(30),
                max_per_company: 1_000_000,
                sectors: vec![],
            },
            &manager("m"),
        )
        .await
        .unwrap();
    let voucher = issue(&store, &program.id, "c1", 10_000).await;
    assert!(voucher.code.starts_with("npu-"));
    let text = format!(
        "JobID|JobIDRaw|Account|User|AllocTRES|ElapsedRaw|Start|End|State\n\
         1|1|{}|kim|gres/gpu=1|100|2026-01-01T00:00:00|2026-01-01T00:01:40|COMPLETED\n",
        voucher.code
    );
    let report = store
        .ingest_sacct("h100", &text, today_kst())
        .await
        .unwrap();
    assert_eq!(report.accepted, 0);
    assert!(
        report.rejected[0].kind == LineRefusal::NotGpuVoucher
            && report.rejected[0].reason.contains("not a GPU voucher"),
        "{:?}",
        report.rejected
    );
    assert_eq!(
        store.voucher(&voucher.id).await.unwrap().unwrap().balance,
        10_000
    );
}

/// `axv_ledger_transfers_total{kind}` as `/metrics` shows it now.
fn transfers_counted(kind: &str) -> u64 {
    let series = format!("axv_ledger_transfers_total{{kind=\"{kind}\"}} ");
    axv_telemetry::metrics::render()
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map_or(0, |value| value.trim().parse().unwrap())
}

/// Transfers are counted when they commit (refused ones are not), and the pool gauges show the
/// ledger's figures. Other tests of this binary run meanwhile, so counts only grow by at least.
#[tokio::test]
async fn metrics_follow_the_ledger() {
    let test = TestDb::sqlite();
    let store = store(&test).await;
    axv_vouchers::metrics::init();
    let (grants, debits) = (transfers_counted("grant"), transfers_counted("debit"));
    let (_, program) = pool_and_program(&store, 10_000, 10_000).await;
    let voucher = issue(&store, &program, "c1", 1_000).await;
    store
        .record_usage(
            UsageInput {
                cluster: "h100",
                job_id: "metrics-1",
                voucher_code: &voucher.code,
                amount: 400,
                started_at: None,
                ended_at: None,
            },
            today_kst(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert!(transfers_counted("grant") > grants);
    assert!(transfers_counted("debit") > debits);

    let pools = store.pools(None).await.unwrap();
    axv_vouchers::metrics::set_pools(&pools);
    let pool = &pools[0];
    let text = axv_telemetry::metrics::render();
    let gauge = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(name) && line.contains(&format!("pool=\"{}\"", pool.id)))
            .and_then(|line| line.rsplit(' ').next())
            .map(|value| value.parse::<i64>().unwrap())
    };
    assert_eq!(gauge("axv_pool_capacity{"), Some(10_000));
    assert_eq!(gauge("axv_pool_committed{"), Some(1_000));
    assert_eq!(gauge("axv_pool_consumed{"), Some(400));
    assert_eq!(gauge("axv_pool_available{"), Some(9_000));
}

on_both_backends!(
    sacct_non_gpu => sacct_refuses_non_gpu_vouchers,
    ledger_invariants => random_sequences_keep_every_invariant,
    holds => holds_commit_release_and_retries,
    usage_idempotency => usage_is_charged_once,
    usage_batches => a_batch_is_answered_as_each_usage_alone,
    sacct_fixture => sacct_fixture_is_charged_exactly,
    cap_and_capacity => grants_respect_cap_and_capacity,
    long_ledgers => long_ledgers_page_and_sum_exactly,
);
