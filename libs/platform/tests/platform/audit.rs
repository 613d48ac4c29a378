//! The audit trail on both databases: entries chain, a rolled-back change leaves none,
//! concurrent appends still form one chain, and every kind of tampering is named precisely.

use std::borrow::Cow;

use axv_platform::{
    audit::{self, Actor, Break, Change, Query, Visibility},
    db::Database,
    events::Event,
    outbox::Outbox,
    testing::TestDb,
};
use sqlx::migrate::Migrator;

/// A service with no tables of its own: the platform's migrations alone.
static NO_TABLES: Migrator = Migrator {
    migrations: Cow::Borrowed(&[]),
    ignore_missing: false,
    locking: true,
    no_tx: false,
};

async fn databases() -> Vec<(TestDb, Database)> {
    let mut found = Vec::new();
    let mut dbs = vec![TestDb::sqlite()];
    if let Some(pg) = TestDb::postgres().await {
        dbs.push(pg);
    }
    for test_db in dbs {
        let db = Database::connect(&test_db.config, "audited").await.unwrap();
        db.migrate(&NO_TABLES).await.unwrap();
        found.push((test_db, db));
    }
    found
}

fn manager() -> Actor {
    Actor::account(
        "0193d3c4-0000-7000-8000-000000000001",
        axv_auth::Role::ProgramManager,
    )
}

/// Appends `n` entries, each in its own committed transaction.
async fn append(db: &Database, n: usize) {
    for i in 0..n {
        let mut tx = db.pool().begin().await.unwrap();
        let change = Change::new("company.approved", "company", &format!("company-{i}"))
            .company(format!("company-{}", i % 2))
            .transition(Some("UNDER_REVIEW"), "APPROVED")
            .note(Some("서류 확인 완료"));
        audit::record(&mut tx, &manager(), &change).await.unwrap();
        tx.commit().await.unwrap();
    }
}

async fn first_break(db: &Database) -> Option<Break> {
    audit::verify(db)
        .await
        .unwrap()
        .broken
        .map(|(found, _)| found)
}

#[tokio::test]
async fn entries_chain_and_an_untouched_chain_verifies() {
    for (test_db, db) in databases().await {
        let empty = audit::verify(&db).await.unwrap();
        assert_eq!(
            (empty.entries, empty.broken),
            (0, None),
            "{:?}",
            test_db.backend
        );
        append(&db, 5).await;
        let found = audit::verify(&db).await.unwrap();
        assert_eq!(found.entries, 5);
        assert_eq!(found.broken, None, "{:?}", test_db.backend);
        assert_eq!(found.head.seq, 5);
        assert_eq!(found.head, audit::head(&db).await.unwrap());
        let (entries, total) = audit::list(
            &db,
            &Query {
                limit: 10,
                ..Query::default()
            },
            &Visibility::All,
        )
        .await
        .unwrap();
        assert_eq!(total, 5);
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![5, 4, 3, 2, 1], "newest first");
        assert_eq!(entries[4].prev_hash, audit::GENESIS);
        assert_eq!(entries[3].prev_hash, entries[4].hash);
        assert_eq!(entries[0].summary, "UNDER_REVIEW → APPROVED");
        assert_eq!(entries[0].actor_role.as_deref(), Some("PROGRAM_MANAGER"));
    }
}

#[tokio::test]
async fn a_rolled_back_change_leaves_no_entry() {
    for (_test_db, db) in databases().await {
        append(&db, 2).await;
        let before = audit::head(&db).await.unwrap();
        let mut tx = db.pool().begin().await.unwrap();
        audit::record(
            &mut tx,
            &manager(),
            &Change::new("voucher.revoked", "voucher", "v1"),
        )
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(audit::head(&db).await.unwrap(), before);
        let found = audit::verify(&db).await.unwrap();
        assert_eq!((found.entries, found.broken), (2, None));
        append(&db, 1).await;
        assert_eq!(
            audit::verify(&db).await.unwrap().entries,
            3,
            "no gap after a rollback"
        );
    }
}

#[tokio::test]
async fn concurrent_changes_still_form_one_chain() {
    for (test_db, db) in databases().await {
        let writers: Vec<_> = (0..16)
            .map(|writer| {
                let db = db.clone();
                tokio::spawn(async move {
                    for i in 0..5 {
                        let mut tx = db.pool().begin().await.unwrap();
                        let id = format!("pilot-{writer}-{i}");
                        audit::record(
                            &mut tx,
                            &manager(),
                            &Change::new("pilot.approved", "pilot", &id),
                        )
                        .await
                        .unwrap();
                        tx.commit().await.unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        let found = audit::verify(&db).await.unwrap();
        assert_eq!(found.broken, None, "{:?}", test_db.backend);
        assert_eq!(found.entries, 80);
        assert_eq!(found.head.seq, 80);
    }
}

#[tokio::test]
async fn tampering_is_named_at_the_first_broken_entry() {
    for (test_db, db) in databases().await {
        let backend = test_db.backend;
        let tamper = |sql: &'static str| {
            let db = db.clone();
            async move {
                sqlx::query(sql).execute(db.pool()).await.unwrap();
            }
        };
        // An edited note.
        append(&db, 6).await;
        tamper("UPDATE audit_entries SET note = '문제 없음' WHERE seq = 3").await;
        assert_eq!(
            first_break(&db).await,
            Some(Break::Altered { seq: 3 }),
            "{backend:?}"
        );
        let (_, entry) = audit::verify(&db).await.unwrap().broken.unwrap();
        assert_eq!(entry.map(|e| e.object_id), Some("company-2".to_owned()));
    }
    for (test_db, db) in databases().await {
        let backend = test_db.backend;
        append(&db, 6).await;
        // A deleted entry.
        sqlx::query("DELETE FROM audit_entries WHERE seq = 4")
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(
            first_break(&db).await,
            Some(Break::Missing {
                expected: 4,
                found: 5
            }),
            "{backend:?}"
        );
    }
    for (test_db, db) in databases().await {
        let backend = test_db.backend;
        append(&db, 6).await;
        // Two entries reordered: their positions swapped.
        for sql in [
            "UPDATE audit_entries SET seq = -2 WHERE seq = 2",
            "UPDATE audit_entries SET seq = 2 WHERE seq = 3",
            "UPDATE audit_entries SET seq = 3 WHERE seq = -2",
        ] {
            sqlx::query(sql).execute(db.pool()).await.unwrap();
        }
        assert_eq!(
            first_break(&db).await,
            Some(Break::Altered { seq: 2 }),
            "{backend:?}"
        );
    }
    for (test_db, db) in databases().await {
        let backend = test_db.backend;
        append(&db, 6).await;
        // A reordering that also recomputes each moved entry's own hash still breaks the links.
        let entries = all_entries(&db).await;
        let (second, third) = (&entries[1], &entries[2]);
        rewrite(&db, 2, third, &entries[0].hash).await;
        rewrite(&db, 3, second, &third.hash).await;
        assert_eq!(
            first_break(&db).await,
            Some(Break::Unlinked { seq: 3 }),
            "{backend:?}"
        );
    }
    for (test_db, db) in databases().await {
        let backend = test_db.backend;
        append(&db, 6).await;
        // The latest entry removed: only the head tells.
        sqlx::query("DELETE FROM audit_entries WHERE seq = 6")
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(
            first_break(&db).await,
            Some(Break::HeadMismatch {
                head_seq: 6,
                last_seq: 5
            }),
            "{backend:?}"
        );
        assert!(
            first_break(&db)
                .await
                .unwrap()
                .to_string()
                .contains("removed")
        );
    }
}

async fn all_entries(db: &Database) -> Vec<audit::Entry> {
    let (mut entries, _) = audit::list(
        db,
        &Query {
            limit: 100,
            ..Query::default()
        },
        &Visibility::All,
    )
    .await
    .unwrap();
    entries.reverse();
    entries
}

/// Puts `entry`'s content at position `seq`, linked to `prev_hash`, with a hash recomputed the
/// way the platform computes it: what a careful forger would do to one entry.
async fn rewrite(db: &Database, seq: i64, entry: &audit::Entry, prev_hash: &str) {
    let moved = audit::Entry {
        seq,
        prev_hash: prev_hash.to_owned(),
        ..entry.clone()
    };
    let hash = moved.expected_hash();
    sqlx::query(
        "UPDATE audit_entries SET object_id = $1, prev_hash = $2, hash = $3, at = $4, company_id = $6, \
         note = $7, note_salt = $8, note_digest = $9 WHERE seq = $5",
    )
    .bind(&moved.object_id)
    .bind(&moved.prev_hash)
    .bind(&hash)
    .bind(moved.at_ms)
    .bind(seq)
    .bind(&moved.company_id)
    .bind(&moved.note)
    .bind(&moved.note_salt)
    .bind(&moved.note_digest)
    .execute(db.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn erasing_a_note_keeps_the_chain_and_editing_one_breaks_it() {
    for (test_db, db) in databases().await {
        let backend = test_db.backend;
        append(&db, 3).await;
        sqlx::query("UPDATE audit_entries SET note = NULL, note_salt = NULL WHERE seq = 2")
            .execute(db.pool())
            .await
            .unwrap();
        let found = audit::verify(&db).await.unwrap();
        assert_eq!((found.broken, found.redacted), (None, 1), "{backend:?}");
        sqlx::query("UPDATE audit_entries SET note = '다른 메모' WHERE seq = 3")
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(
            first_break(&db).await,
            Some(Break::Altered { seq: 3 }),
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn a_firm_lists_only_its_companies_entries_and_pages_go_back_in_time() {
    for (_test_db, db) in databases().await {
        append(&db, 6).await;
        let firm = Visibility::Companies(vec!["company-1".to_owned()]);
        let (entries, total) = audit::list(
            &db,
            &Query {
                limit: 2,
                ..Query::default()
            },
            &firm,
        )
        .await
        .unwrap();
        assert_eq!(total, 3);
        assert!(
            entries
                .iter()
                .all(|e| e.company_id.as_deref() == Some("company-1"))
        );
        let last = entries.last().unwrap();
        let (rest, _) = audit::list(
            &db,
            &Query {
                limit: 10,
                before: Some((last.at_ms, last.seq)),
                ..Query::default()
            },
            &firm,
        )
        .await
        .unwrap();
        assert_eq!(rest.len(), 1);
        assert!(rest[0].seq < last.seq);
        let (none, total) = audit::list(&db, &Query::default(), &Visibility::Companies(vec![]))
            .await
            .unwrap();
        assert_eq!((none.len(), total), (0, 0));
        let (by_prefix, _) = audit::list(
            &db,
            &Query {
                action: Some("company.".to_owned()),
                limit: 10,
                ..Query::default()
            },
            &Visibility::All,
        )
        .await
        .unwrap();
        assert_eq!(by_prefix.len(), 6);
        let (other, _) = audit::list(
            &db,
            &Query {
                action: Some("comp.".to_owned()),
                limit: 10,
                ..Query::default()
            },
            &Visibility::All,
        )
        .await
        .unwrap();
        assert!(other.is_empty());
    }
}

#[tokio::test]
async fn the_head_goes_out_once_a_day_however_many_replicas_try() {
    for (test_db, db) in databases().await {
        append(&db, 2).await;
        let outbox = Outbox::default();
        assert!(audit::publish_head(&db, &outbox, "audited").await.unwrap());
        assert!(
            !audit::publish_head(&db, &outbox, "audited").await.unwrap(),
            "a second replica"
        );
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT kind, payload FROM outbox")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{:?}", test_db.backend);
        let event: Event = serde_json::from_str(&rows[0].1).unwrap();
        let head = audit::head(&db).await.unwrap();
        assert_eq!(event.kind, "audit.head");
        assert!(event.public);
        assert_eq!(event.payload["seq"], 2);
        assert_eq!(event.payload["hash"], head.hash.as_str());
    }
}
