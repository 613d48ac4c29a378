//! The outcome reports' store against both backends.

use axv_auth::Role;
use axv_outcomes::{
    ReportsError,
    domain::{Figures, PilotSchedule, ReportAction, ReportStatus},
    store::{ListScope, ReportDraft, ReportFilter, ReportSubject, Store},
};
use axv_platform::{audit::Actor, outbox::Outbox};
use axv_testkit::{TestDb, on_both_backends};
use chrono::NaiveDate;

async fn store(test: &TestDb) -> Store {
    let platform = axv_platform::testing::platform(test.config.clone());
    Store::new(
        axv_outcomes::database(&platform).await.unwrap(),
        Outbox::default(),
    )
}

/// A firm member acting.
fn firm(id: &str) -> Actor {
    Actor::account(id, Role::FirmMember)
}

/// A programme manager acting.
fn manager(id: &str) -> Actor {
    Actor::account(id, Role::ProgramManager)
}

fn subject(pilot: &str, company: &str) -> ReportSubject {
    ReportSubject {
        pilot_id: pilot.into(),
        company_id: company.into(),
        sector: "MOBILITY".into(),
        domain: "ENERGY".into(),
    }
}

fn draft(start: &str, end: &str, papers: i64) -> ReportDraft {
    let day = |t: &str| NaiveDate::parse_from_str(t, "%Y-%m-%d").unwrap();
    ReportDraft {
        period_start: day(start),
        period_end: day(end),
        figures: Figures {
            models_developed: 1,
            papers,
            revenue_krw: 9_000_000_000,
            ..Figures::default()
        },
        evidence: "증빙".into(),
    }
}

async fn reports_versions_and_lists(test: TestDb) {
    let store = store(&test).await;
    let a = store
        .create(
            &subject("p1", "c1"),
            &draft("2026-01-01", "2026-03-31", 1),
            &firm("u1"),
        )
        .await
        .unwrap();
    assert_eq!((a.version, a.status), (1, ReportStatus::Draft));
    assert_eq!(a.draft.figures.revenue_krw, 9_000_000_000);
    assert!(matches!(
        store
            .create(
                &subject("p1", "c1"),
                &draft("2026-01-01", "2026-06-30", 1),
                &firm("u1")
            )
            .await,
        Err(ReportsError::InvalidInput { .. })
    ));
    // Another pilot's period does not collide.
    let b = store
        .create(
            &subject("p2", "c2"),
            &draft("2026-01-01", "2026-03-31", 2),
            &firm("u2"),
        )
        .await
        .unwrap();

    let updated = store
        .update(&a.id, &draft("2026-01-01", "2026-03-31", 7), &firm("u1"))
        .await
        .unwrap();
    assert_eq!(updated.draft.figures.papers, 7);
    store
        .transition(&a.id, ReportAction::Submit, &firm("u1"), None, Some(12))
        .await
        .unwrap();
    assert!(matches!(
        store
            .update(&a.id, &draft("2026-01-01", "2026-03-31", 8), &firm("u1"))
            .await,
        Err(ReportsError::Refused {
            reason: axv_platform::error::Reason::NotEditable,
            ..
        })
    ));
    assert!(matches!(
        store.amend(&a.id, &firm("u1")).await,
        Err(ReportsError::Precondition(_))
    ));
    let verified = store
        .transition(
            &a.id,
            ReportAction::Verify,
            &manager("m"),
            Some("좋음"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(verified.status, ReportStatus::Verified);
    assert_eq!(verified.compute_consumed, 12);
    assert_eq!(verified.history.len(), 3);
    assert_eq!(verified.history[2].note.as_deref(), Some("좋음"));

    let v2 = store.amend(&a.id, &firm("u1")).await.unwrap();
    assert_eq!((v2.version, v2.status), (2, ReportStatus::Draft));
    assert_eq!(v2.lineage_id, a.id);
    assert_eq!(v2.draft.figures.papers, 7);
    // Its own lineage's period is no overlap.
    store
        .update(&v2.id, &draft("2026-01-01", "2026-03-31", 9), &firm("u1"))
        .await
        .unwrap();
    let versions = store.versions(&a.id).await.unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|r| (r.version, r.status))
            .collect::<Vec<_>>(),
        [(1, ReportStatus::Verified), (2, ReportStatus::Draft)]
    );

    let (all, total) = store
        .list(&ListScope::All, &ReportFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!((all.len(), total), (3, 3));
    let (own, total) = store
        .list(
            &ListScope::Companies(vec!["c2".into()]),
            &ReportFilter::default(),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(total, 1);
    assert_eq!(own[0].id, b.id);
    let (none, total) = store
        .list(
            &ListScope::Companies(vec![]),
            &ReportFilter::default(),
            None,
            10,
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(total, 0);
    let (verified, total) = store
        .list(
            &ListScope::All,
            &ReportFilter {
                pilot_id: Some("p1".into()),
                statuses: vec![ReportStatus::Verified],
                ..ReportFilter::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(total, 1);
    assert_eq!(verified[0].id, a.id);
    let grouped = store
        .reports_of_pilots(&["p1".into(), "p2".into(), "p3".into()])
        .await
        .unwrap();
    assert_eq!(grouped["p1"].len(), 2);
    assert_eq!(grouped["p2"].len(), 1);
    assert!(!grouped.contains_key("p3"));

    let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
        .fetch_one(store.database().pool())
        .await
        .unwrap();
    assert_eq!(events, 2);
}

on_both_backends!(outcomes_store => reports_versions_and_lists);

fn schedule(pilot: &str, company: &str, title: &str) -> PilotSchedule {
    let day = |t: &str| NaiveDate::parse_from_str(t, "%Y-%m-%d").unwrap();
    PilotSchedule {
        pilot_id: pilot.into(),
        company_id: company.into(),
        title: title.into(),
        starts_on: day("2026-01-15"),
        ends_on: day("2027-06-30"),
    }
}

/// (lineage, version, papers) of what counts, sorted.
async fn counted(store: &Store) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = store
        .counted_reports()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.pilot_id, r.figures.papers))
        .collect();
    out.sort();
    out
}

async fn only_the_newest_verified_version_counts(test: TestDb) {
    let store = store(&test).await;
    assert!(store.counted_reports().await.unwrap().is_empty());

    // DRAFT, SUBMITTED and RETURNED reports do not count.
    let a = store
        .create(
            &subject("p1", "c1"),
            &draft("2026-01-01", "2026-03-31", 1),
            &firm("u1"),
        )
        .await
        .unwrap();
    let returned = store
        .create(
            &subject("p2", "c2"),
            &draft("2026-01-01", "2026-03-31", 50),
            &firm("u2"),
        )
        .await
        .unwrap();
    store
        .create(
            &subject("p3", "c3"),
            &draft("2026-01-01", "2026-03-31", 70),
            &firm("u3"),
        )
        .await
        .unwrap();
    assert!(counted(&store).await.is_empty());
    store
        .transition(&a.id, ReportAction::Submit, &firm("u1"), None, Some(12))
        .await
        .unwrap();
    store
        .transition(
            &returned.id,
            ReportAction::Submit,
            &firm("u2"),
            None,
            Some(0),
        )
        .await
        .unwrap();
    store
        .transition(
            &returned.id,
            ReportAction::Return,
            &manager("m"),
            Some("증빙 부족"),
            None,
        )
        .await
        .unwrap();
    assert!(counted(&store).await.is_empty());

    store
        .transition(&a.id, ReportAction::Verify, &manager("m"), None, None)
        .await
        .unwrap();
    let reports = store.counted_reports().await.unwrap();
    assert_eq!(reports.len(), 1);
    let v1 = &reports[0];
    assert_eq!(v1.pilot_id, "p1");
    assert_eq!(v1.company_id, "c1");
    assert_eq!(v1.sector, "MOBILITY");
    assert_eq!(v1.domain, "ENERGY");
    assert_eq!(
        v1.period_start,
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
    );
    assert_eq!(v1.figures, draft("2026-01-01", "2026-03-31", 1).figures);
    assert_eq!(v1.compute_consumed, 12);

    // An amendment under way leaves version 1 counting, whatever its own state.
    let v2 = store.amend(&a.id, &firm("u1")).await.unwrap();
    store
        .update(&v2.id, &draft("2026-01-01", "2026-03-31", 9), &firm("u1"))
        .await
        .unwrap();
    assert_eq!(counted(&store).await, [("p1".to_owned(), 1)]);
    store
        .transition(&v2.id, ReportAction::Submit, &firm("u1"), None, Some(20))
        .await
        .unwrap();
    assert_eq!(counted(&store).await, [("p1".to_owned(), 1)]);

    // Once version 2 is verified it replaces version 1.
    store
        .transition(&v2.id, ReportAction::Verify, &manager("m"), None, None)
        .await
        .unwrap();
    let reports = store.counted_reports().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].figures.papers, 9);
    assert_eq!(reports[0].compute_consumed, 20);

    // A returned version 3 leaves version 2 counting.
    let v3 = store.amend(&v2.id, &firm("u1")).await.unwrap();
    assert_eq!(v3.version, 3);
    store
        .update(&v3.id, &draft("2026-01-01", "2026-03-31", 30), &firm("u1"))
        .await
        .unwrap();
    store
        .transition(&v3.id, ReportAction::Submit, &firm("u1"), None, Some(0))
        .await
        .unwrap();
    store
        .transition(
            &v3.id,
            ReportAction::Return,
            &manager("m"),
            Some("다시"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(counted(&store).await, [("p1".to_owned(), 9)]);

    // Two verified lineages both count.
    store
        .transition(
            &returned.id,
            ReportAction::Submit,
            &firm("u2"),
            None,
            Some(0),
        )
        .await
        .unwrap();
    store
        .transition(
            &returned.id,
            ReportAction::Verify,
            &manager("m"),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        counted(&store).await,
        [("p1".to_owned(), 9), ("p2".to_owned(), 50)]
    );
}

async fn pilot_schedules_keep_the_newest_event(test: TestDb) {
    let store = store(&test).await;
    let ids =
        |pilots: Vec<PilotSchedule>| pilots.into_iter().map(|p| p.pilot_id).collect::<Vec<_>>();
    assert!(
        store
            .pilots_in_status("ACTIVE", None)
            .await
            .unwrap()
            .is_empty()
    );

    store
        .record_pilot(&schedule("p1", "c1", "v1"), "APPROVED", 100)
        .await
        .unwrap();
    assert_eq!(
        store.pilots_in_status("APPROVED", None).await.unwrap(),
        [schedule("p1", "c1", "v1")]
    );
    // Newer: applied, with everything the event says.
    let mut moved = schedule("p1", "c1", "v2");
    moved.ends_on = NaiveDate::from_ymd_opt(2027, 12, 31).unwrap();
    store.record_pilot(&moved, "ACTIVE", 200).await.unwrap();
    assert!(
        store
            .pilots_in_status("APPROVED", None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.pilots_in_status("ACTIVE", None).await.unwrap(),
        [moved.clone()]
    );
    // Older (late or replayed): ignored entirely.
    store
        .record_pilot(&schedule("p1", "c9", "late"), "APPROVED", 150)
        .await
        .unwrap();
    assert_eq!(
        store.pilots_in_status("ACTIVE", None).await.unwrap(),
        [moved.clone()]
    );
    assert!(
        store
            .pilots_in_status("APPROVED", None)
            .await
            .unwrap()
            .is_empty()
    );
    // The same event again changes nothing.
    store.record_pilot(&moved, "ACTIVE", 200).await.unwrap();
    assert_eq!(
        store.pilots_in_status("ACTIVE", None).await.unwrap(),
        [moved.clone()]
    );

    // Company filter.
    store
        .record_pilot(&schedule("p2", "c2", "b"), "ACTIVE", 100)
        .await
        .unwrap();
    store
        .record_pilot(&schedule("p3", "c3", "c"), "ACTIVE", 100)
        .await
        .unwrap();
    store
        .record_pilot(&schedule("p4", "c2", "d"), "DRAFT", 100)
        .await
        .unwrap();
    assert_eq!(
        ids(store.pilots_in_status("ACTIVE", None).await.unwrap()),
        ["p1", "p2", "p3"]
    );
    assert_eq!(
        ids(store
            .pilots_in_status("ACTIVE", Some(&["c2".to_owned()]))
            .await
            .unwrap()),
        ["p2"]
    );
    assert_eq!(
        ids(store
            .pilots_in_status("ACTIVE", Some(&["c3".to_owned(), "c1".to_owned()]))
            .await
            .unwrap()),
        ["p1", "p3"]
    );
    assert!(
        store
            .pilots_in_status("ACTIVE", Some(&[]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .pilots_in_status("ACTIVE", Some(&["nobody".to_owned()]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(store
            .pilots_in_status("DRAFT", Some(&["c2".to_owned()]))
            .await
            .unwrap()),
        ["p4"]
    );

    // Completed: no longer ACTIVE.
    store.record_pilot(&moved, "COMPLETED", 300).await.unwrap();
    assert_eq!(
        ids(store.pilots_in_status("ACTIVE", None).await.unwrap()),
        ["p2", "p3"]
    );
}

async fn filed_periods_are_those_past_draft(test: TestDb) {
    let store = store(&test).await;
    let day = |t: &str| NaiveDate::parse_from_str(t, "%Y-%m-%d").unwrap();
    let quarters = [
        ("2026-01-01", "2026-03-31"),
        ("2026-04-01", "2026-06-30"),
        ("2026-07-01", "2026-09-30"),
        ("2026-10-01", "2026-12-31"),
    ];
    let mut ids = Vec::new();
    for (start, end) in quarters {
        ids.push(
            store
                .create(&subject("p1", "c1"), &draft(start, end, 1), &firm("u1"))
                .await
                .unwrap()
                .id,
        );
    }
    // Q1 stays DRAFT; Q2 SUBMITTED; Q3 VERIFIED; Q4 RETURNED.
    for (id, moves) in ids.iter().zip([
        &[][..],
        &[ReportAction::Submit][..],
        &[ReportAction::Submit, ReportAction::Verify][..],
        &[ReportAction::Submit, ReportAction::Return][..],
    ]) {
        for action in moves {
            store
                .transition(id, *action, &firm("u1"), Some("메모"), Some(0))
                .await
                .unwrap();
        }
    }
    // p2: a verified report with a DRAFT amendment lists its period once.
    let p2 = store
        .create(
            &subject("p2", "c2"),
            &draft("2026-01-01", "2026-06-30", 1),
            &firm("u2"),
        )
        .await
        .unwrap();
    for action in [ReportAction::Submit, ReportAction::Verify] {
        store
            .transition(&p2.id, action, &firm("u2"), None, Some(0))
            .await
            .unwrap();
    }
    store.amend(&p2.id, &firm("u2")).await.unwrap();
    // p3: only a DRAFT.
    store
        .create(
            &subject("p3", "c3"),
            &draft("2026-01-01", "2026-03-31", 1),
            &firm("u3"),
        )
        .await
        .unwrap();

    let filed = store
        .filed_periods(&["p1".into(), "p2".into(), "p3".into(), "p4".into()])
        .await
        .unwrap();
    let mut p1 = filed["p1"].clone();
    p1.sort();
    assert_eq!(
        p1,
        quarters[1..]
            .iter()
            .map(|(s, e)| (day(s), day(e)))
            .collect::<Vec<_>>()
    );
    assert_eq!(filed["p2"], [(day("2026-01-01"), day("2026-06-30"))]);
    assert!(!filed.contains_key("p3"));
    assert!(!filed.contains_key("p4"));
    assert_eq!(filed.len(), 2);
    // Only the pilots asked for.
    let only_p2 = store.filed_periods(&["p2".into()]).await.unwrap();
    assert_eq!(only_p2.keys().collect::<Vec<_>>(), ["p2"]);
    assert!(store.filed_periods(&[]).await.unwrap().is_empty());
}

/// Concurrent creates of overlapping periods for one pilot: the per-pilot lock lets exactly one
/// through, the rest see it and are refused as overlapping.
async fn concurrent_overlapping_creates_admit_one(test: TestDb) {
    let store = store(&test).await;
    let periods = [
        ("2026-01-01", "2026-03-31"),
        ("2026-01-01", "2026-06-30"),
        ("2026-01-01", "2026-12-31"),
        ("2026-01-01", "2026-03-31"),
        ("2026-01-01", "2026-06-30"),
        ("2026-01-01", "2026-12-31"),
        ("2026-01-01", "2026-03-31"),
        ("2026-01-01", "2026-06-30"),
    ];
    for round in 0..3 {
        let pilot = format!("race-{round}");
        let tasks: Vec<_> = periods
            .iter()
            .map(|(start, end)| {
                let store = store.clone();
                let subject = subject(&pilot, "c1");
                let draft = draft(start, end, 1);
                tokio::spawn(async move { store.create(&subject, &draft, &firm("u1")).await })
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => created += 1,
                Err(ReportsError::InvalidInput { field, .. }) => assert_eq!(field, "periodStart"),
                Err(other) => panic!("unexpected error: {other:?}"),
            }
        }
        assert_eq!(created, 1, "round {round}");
        let (reports, total) = store
            .list(
                &ListScope::All,
                &ReportFilter {
                    pilot_id: Some(pilot.clone()),
                    ..ReportFilter::default()
                },
                None,
                20,
            )
            .await
            .unwrap();
        assert_eq!((reports.len(), total), (1, 1));
    }
}

/// A writer holding the pilot's lock with an uncommitted overlapping report makes a create wait
/// for it and then refuse, rather than miss the uncommitted period and insert a second report.
async fn create_waits_for_the_pilot_lock(test: TestDb) {
    let store = store(&test).await;
    let mut writer = store.database().pool().begin().await.unwrap();
    sqlx::query("INSERT INTO pilot_report_locks (pilot_id, touched_at) VALUES ($1, $2)")
        .bind("locked")
        .bind(1_i64)
        .execute(&mut *writer)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO outcome_reports (id, lineage_id, version, pilot_id, company_id, sector, domain, \
         period_start, period_end, models_developed, models_improved, models_commercialized, \
         patents_filed, patents_registered, papers, new_hires, revenue_krw, investment_krw, \
         compute_consumed, evidence, status, created_by, created_at, updated_at) VALUES \
         ($1, $1, 1, $2, 'c1', 'MOBILITY', 'ENERGY', '2026-01-01', '2026-03-31', 0, 0, 0, 0, 0, 0, \
         0, 0, 0, 0, '', 'DRAFT', 'u1', 0, 0)",
    )
    .bind(axv_platform::ids::new_id())
    .bind("locked")
    .execute(&mut *writer)
    .await
    .unwrap();
    let racing = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create(
                    &subject("locked", "c1"),
                    &draft("2026-01-01", "2026-06-30", 1),
                    &firm("u2"),
                )
                .await
        })
    };
    // Lets the create reach the lock (without one it would now have passed its check against
    // the uncommitted period); the outcome below does not depend on how long this takes.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    writer.commit().await.unwrap();
    match racing.await.unwrap() {
        Err(ReportsError::InvalidInput { field, .. }) => assert_eq!(field, "periodStart"),
        other => panic!("expected an overlap, got {other:?}"),
    }
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outcome_reports WHERE pilot_id = 'locked'")
            .fetch_one(store.database().pool())
            .await
            .unwrap();
    assert_eq!(count, 1);
}

on_both_backends!(
    pilot_lock => create_waits_for_the_pilot_lock,
    counted_reports => only_the_newest_verified_version_counts,
    pilot_schedules => pilot_schedules_keep_the_newest_event,
    filed_periods => filed_periods_are_those_past_draft,
    concurrent_creates => concurrent_overlapping_creates_admit_one,
);
