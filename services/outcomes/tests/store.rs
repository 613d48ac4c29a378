//! The outcome reports' store against both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axv_outcomes::{
    ReportsError,
    domain::{Figures, ReportAction, ReportStatus},
    store::{ListScope, ReportDraft, ReportFilter, ReportSubject, Store},
};
use axv_platform::{on_both_backends, outbox::Outbox, testing::TestDb};
use chrono::NaiveDate;

async fn store(test: &TestDb) -> Store {
    let platform = axv_platform::testing::platform(test.config.clone());
    Store::new(
        axv_outcomes::database(&platform).await.unwrap(),
        Outbox::default(),
    )
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
            "u1",
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
                "u1"
            )
            .await,
        Err(ReportsError::InvalidInput { .. })
    ));
    // Another pilot's period does not collide.
    let b = store
        .create(
            &subject("p2", "c2"),
            &draft("2026-01-01", "2026-03-31", 2),
            "u2",
        )
        .await
        .unwrap();

    let updated = store
        .update(&a.id, &draft("2026-01-01", "2026-03-31", 7))
        .await
        .unwrap();
    assert_eq!(updated.draft.figures.papers, 7);
    store
        .transition(&a.id, ReportAction::Submit, "u1", None, Some(12))
        .await
        .unwrap();
    assert!(matches!(
        store
            .update(&a.id, &draft("2026-01-01", "2026-03-31", 8))
            .await,
        Err(ReportsError::Precondition(_))
    ));
    assert!(matches!(
        store.amend(&a.id, "u1").await,
        Err(ReportsError::Precondition(_))
    ));
    let verified = store
        .transition(&a.id, ReportAction::Verify, "m", Some("좋음"), None)
        .await
        .unwrap();
    assert_eq!(verified.status, ReportStatus::Verified);
    assert_eq!(verified.compute_consumed, 12);
    assert_eq!(verified.history.len(), 3);
    assert_eq!(verified.history[2].note.as_deref(), Some("좋음"));

    let v2 = store.amend(&a.id, "u1").await.unwrap();
    assert_eq!((v2.version, v2.status), (2, ReportStatus::Draft));
    assert_eq!(v2.lineage_id, a.id);
    assert_eq!(v2.draft.figures.papers, 7);
    // Its own lineage's period is no overlap.
    store
        .update(&v2.id, &draft("2026-01-01", "2026-03-31", 9))
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
