//! The pilot registry's store against both backends.

use axv_auth::Role;
use axv_pilots::{
    PilotsError,
    domain::{
        ParticipantState::{Accepted, Declined, Invited},
        PilotAction, PilotDomain, PilotDraft, PilotStatus,
    },
    store::{CompanySnapshot, ListScope, PilotCountFilter, PilotCounts, PilotFilter, Store},
};
use axv_platform::{audit::Actor, outbox::Outbox};
use axv_testkit::{TestDb, on_both_backends};
use chrono::NaiveDate;

async fn store(test: &TestDb) -> Store {
    let platform = axv_platform::testing::platform(test.config.clone());
    Store::new(
        axv_pilots::database(&platform).await.unwrap(),
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

fn company(id: &str) -> CompanySnapshot {
    CompanySnapshot {
        id: id.into(),
        name_ko: format!("기업{id}"),
        sector: "ENERGY".into(),
        presence: "HEADQUARTERS".into(),
    }
}

fn draft(title: &str, domain: PilotDomain, starts: &str, ends: &str) -> PilotDraft {
    let day = |t: &str| NaiveDate::parse_from_str(t, "%Y-%m-%d").unwrap();
    PilotDraft {
        title: title.into(),
        title_en: None,
        summary: String::new(),
        domain,
        site: "광주".into(),
        starts_on: day(starts),
        ends_on: day(ends),
        budget_national: 1,
        budget_city: 2,
        budget_private: 3,
        regulatory_sandbox: false,
        sandbox_reference: None,
    }
}

async fn pilots_participants_milestones_and_lists(test: TestDb) {
    let store = store(&test).await;
    let a = store
        .create(
            &draft("가", PilotDomain::Energy, "2026-01-01", "2026-03-31"),
            &company("c1"),
            &firm("u1"),
        )
        .await
        .unwrap();
    let b = store
        .create(
            &draft("나", PilotDomain::Traffic, "2026-06-01", "2026-12-31"),
            &company("c2"),
            &firm("u2"),
        )
        .await
        .unwrap();
    store
        .add_participant(&a, &company("c2"), "partner", Invited, &firm("u1"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_participant(&a, &company("c2"), "hospital", Invited, &firm("u1"))
            .await
            .unwrap_err(),
        PilotsError::Conflict(_)
    ));
    // Invited, c2 sees the pilot but does not take part: not in its list of pilots, nor found
    // by company; once it accepts, it is in both.
    let c2_pilots = |store: &Store| {
        let store = store.clone();
        async move {
            let of = store
                .pilots_of_companies(&["c2".to_owned()], 10)
                .await
                .unwrap();
            let by_company = PilotFilter {
                company_id: Some("c2".into()),
                ..PilotFilter::default()
            };
            let (found, _) = store
                .list(&ListScope::All, &by_company, None, 10)
                .await
                .unwrap();
            let related = ListScope::Related(vec!["c2".into()]);
            let (seen, _) = store
                .list(&related, &PilotFilter::default(), None, 10)
                .await
                .unwrap();
            (
                of.get("c2").map_or(0, |(_, total)| *total),
                found.len(),
                seen.len(),
            )
        }
    };
    assert_eq!(
        c2_pilots(&store).await,
        (1, 1, 2),
        "invited: its own pilot only, seeing both"
    );
    let a_invited = store.pilot(&a.id).await.unwrap().unwrap();
    assert!(matches!(
        store
            .answer_invitation(&a_invited, "c9", Accepted, &firm("u9"), None)
            .await
            .unwrap_err(),
        PilotsError::Conflict(_)
    ));
    store
        .answer_invitation(&a_invited, "c2", Declined, &firm("u2"), Some("no"))
        .await
        .unwrap();
    assert_eq!(
        c2_pilots(&store).await,
        (1, 1, 1),
        "declined: no longer sees it"
    );
    store
        .add_participant(&a, &company("c2"), "partner", Invited, &firm("u1"))
        .await
        .unwrap();
    store
        .answer_invitation(&a_invited, "c2", Accepted, &firm("u2"), None)
        .await
        .unwrap();
    assert_eq!(c2_pilots(&store).await, (2, 2, 2), "accepted: takes part");
    let kinds: Vec<(String,)> = sqlx::query_as(
        "SELECT kind FROM outbox WHERE kind LIKE 'pilot.%invit%' ORDER BY created_at, kind",
    )
    .fetch_all(store.database().pool())
    .await
    .unwrap();
    assert_eq!(kinds.len(), 4, "{kinds:?}");

    let day = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
    store
        .add_milestone(&a.id, "첫째", day, &a.lead.id, &firm("u1"))
        .await
        .unwrap();
    let a_now = store.pilot(&a.id).await.unwrap().unwrap();
    assert_eq!(a_now.participants.len(), 2);
    assert_eq!(a_now.open_milestones(), 1);
    let milestone = a_now.milestones[0].id.clone();
    store
        .complete_milestone(&a.id, &milestone, Some("evidence"), &a.lead.id, &firm("u1"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .complete_milestone(&a.id, &milestone, None, &a.lead.id, &firm("u1"))
            .await
            .unwrap_err(),
        PilotsError::Precondition(_)
    ));
    assert!(
        matches!(
            store
                .complete_milestone(&b.id, &milestone, None, &b.lead.id, &firm("u2"))
                .await
                .unwrap_err(),
            PilotsError::NotFound(_)
        ),
        "a milestone of another pilot"
    );

    // c2 leads b and takes part in a.
    let (related, total) = store
        .list(
            &ListScope::Related(vec!["c2".into()]),
            &PilotFilter::default(),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(related.len(), 2);
    let (none, total) = store
        .list(
            &ListScope::Related(vec![]),
            &PilotFilter::default(),
            None,
            10,
        )
        .await
        .unwrap();
    assert!(none.is_empty() && total == 0);
    let overlap = PilotFilter {
        active_from: Some(NaiveDate::from_ymd_opt(2026, 3, 15).unwrap()),
        active_until: Some(NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()),
        ..Default::default()
    };
    let (both, _) = store
        .list(&ListScope::All, &overlap, None, 10)
        .await
        .unwrap();
    assert_eq!(both.len(), 2, "both periods touch 15 March – 1 June");
    let (public, _) = store
        .list(&ListScope::PublicOnly, &PilotFilter::default(), None, 10)
        .await
        .unwrap();
    assert!(public.is_empty(), "drafts are not in the public registry");

    let grouped = store
        .pilots_of_companies(&["c1".into(), "c2".into()], 1)
        .await
        .unwrap();
    assert_eq!(grouped["c2"].1, 2);
    assert_eq!(grouped["c2"].0.len(), 1, "at most per_company each");
    assert_eq!(grouped["c1"].0[0].id, a.id);

    // A transition records history and its event; a refused one writes nothing.
    let submitted = store
        .transition(&a.id, PilotAction::Submit, &firm("u1"), |_| Ok(None))
        .await
        .unwrap();
    assert_eq!(submitted.status, PilotStatus::Submitted);
    let refused = store
        .transition(&a.id, PilotAction::Start, &firm("u1"), |_| Ok(None))
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        PilotsError::Refused {
            reason: axv_platform::error::Reason::WrongState,
            ..
        }
    ));
    let vetoed = store
        .transition(&a.id, PilotAction::Approve, &manager("m"), |_| {
            Err(PilotsError::Forbidden("no".into()))
        })
        .await
        .unwrap_err();
    assert!(matches!(vetoed, PilotsError::Forbidden(_)));
    let now = store.pilot(&a.id).await.unwrap().unwrap();
    assert_eq!(now.status, PilotStatus::Submitted);
    assert_eq!(now.history.len(), 2);
    let (events,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE kind = 'pilot.submitted'")
            .fetch_one(store.database().pool())
            .await
            .unwrap();
    assert_eq!(events, 1);
}

fn company_in(id: &str, sector: &str) -> CompanySnapshot {
    CompanySnapshot {
        sector: sector.into(),
        ..company(id)
    }
}

async fn headcounts(test: TestDb) {
    use PilotAction as A;
    let store = store(&test).await;
    assert_eq!(
        store.count(&PilotCountFilter::default()).await.unwrap(),
        PilotCounts::default()
    );
    let start: &[PilotAction] = &[A::Submit, A::Approve, A::Start];
    let journeys: [(&str, PilotDomain, &str, &str, &[PilotAction]); 7] = [
        (
            "MOBILITY",
            PilotDomain::Traffic,
            "2026-01-01",
            "2026-03-31",
            start,
        ),
        (
            "MOBILITY",
            PilotDomain::Traffic,
            "2026-06-01",
            "2026-12-31",
            &[A::Submit, A::Approve],
        ),
        (
            "ENERGY",
            PilotDomain::Energy,
            "2026-02-01",
            "2026-08-31",
            &[A::Submit, A::Approve, A::Start, A::Complete],
        ),
        (
            "ENERGY",
            PilotDomain::Energy,
            "2026-01-01",
            "2026-12-31",
            &[A::Submit, A::Approve, A::Start, A::Suspend],
        ),
        (
            "ENERGY",
            PilotDomain::Energy,
            "2026-01-01",
            "2026-12-31",
            &[],
        ),
        (
            "ENERGY",
            PilotDomain::Energy,
            "2026-01-01",
            "2026-12-31",
            &[A::Submit, A::Reject],
        ),
        (
            "MOBILITY",
            PilotDomain::Traffic,
            "2026-01-01",
            "2026-12-31",
            &[A::Cancel],
        ),
    ];
    for (n, (sector, domain, starts, ends, actions)) in journeys.into_iter().enumerate() {
        let pilot = store
            .create(
                &draft(&format!("과제{n}"), domain, starts, ends),
                &company_in(&format!("c{n}"), sector),
                &firm("u"),
            )
            .await
            .unwrap();
        for action in actions {
            store
                .transition(&pilot.id, *action, &manager("m"), |_| Ok(None))
                .await
                .unwrap();
        }
    }
    let count = |filter: PilotCountFilter| {
        let store = store.clone();
        async move {
            let c = store.count(&filter).await.unwrap();
            (c.pilots, c.active)
        }
    };
    let day = |t: &str| Some(NaiveDate::parse_from_str(t, "%Y-%m-%d").unwrap());
    assert_eq!(count(PilotCountFilter::default()).await, (4, 1));
    assert_eq!(
        count(PilotCountFilter {
            lead_sectors: vec!["ENERGY".into()],
            ..Default::default()
        })
        .await,
        (2, 0)
    );
    assert_eq!(
        count(PilotCountFilter {
            domains: vec![PilotDomain::Traffic],
            ..Default::default()
        })
        .await,
        (2, 1)
    );
    assert_eq!(
        count(PilotCountFilter {
            lead_sectors: vec!["MOBILITY".into(), "DATA".into()],
            domains: vec![PilotDomain::Traffic, PilotDomain::Energy],
            active_from: day("2026-04-01"),
            active_until: day("2026-05-31"),
            ..Default::default()
        })
        .await,
        (0, 0),
        "the first ends before April, the second starts in June"
    );
    assert_eq!(
        count(PilotCountFilter {
            active_from: day("2026-04-01"),
            active_until: day("2026-05-31"),
            ..Default::default()
        })
        .await,
        (2, 0)
    );
    assert_eq!(
        count(PilotCountFilter {
            active_until: day("2026-01-15"),
            ..Default::default()
        })
        .await,
        (2, 1)
    );
    // c0 leads the active pilot, c2 the completed one; c4's is a draft, not taken on.
    assert_eq!(
        count(PilotCountFilter {
            lead_company_ids: vec!["c0".into(), "c2".into(), "c4".into()],
            ..Default::default()
        })
        .await,
        (2, 1)
    );
}

/// Every pilot event, registration included, carries the lead, its sector, the period and
/// the title, next to the move itself.
async fn event_payloads(test: TestDb) {
    let store = store(&test).await;
    let pilot = store
        .create(
            &draft(
                "실증 일정",
                PilotDomain::Healthcare,
                "2026-04-01",
                "2026-11-30",
            ),
            &company_in("lead", "HEALTHCARE"),
            &firm("u"),
        )
        .await
        .unwrap();
    for action in [
        PilotAction::Submit,
        PilotAction::Approve,
        PilotAction::Start,
    ] {
        store
            .transition(&pilot.id, action, &manager("m"), |_| Ok(None))
            .await
            .unwrap();
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, payload FROM outbox WHERE subject_id = $1 ORDER BY created_at, id",
    )
    .bind(&pilot.id)
    .fetch_all(store.database().pool())
    .await
    .unwrap();
    let mut moves = Vec::new();
    for (kind, payload) in rows {
        let event: axv_platform::events::Event = serde_json::from_str(&payload).unwrap();
        let p = &event.payload;
        assert_eq!(p["leadCompanyId"], "lead", "{kind}");
        assert_eq!(p["sector"], "HEALTHCARE", "{kind}");
        assert_eq!(p["startsOn"], "2026-04-01", "{kind}");
        assert_eq!(p["endsOn"], "2026-11-30", "{kind}");
        assert_eq!(p["title"], "실증 일정", "{kind}");
        assert_eq!(p["domain"], "HEALTHCARE", "{kind}");
        moves.push(format!(
            "{kind} {}->{}",
            p["from"].as_str().unwrap_or("-"),
            p["to"].as_str().unwrap_or("?")
        ));
    }
    moves.sort();
    assert_eq!(
        moves,
        [
            "pilot.approved SUBMITTED->APPROVED",
            "pilot.registered -->DRAFT",
            "pilot.started APPROVED->ACTIVE",
            "pilot.submitted DRAFT->SUBMITTED",
        ]
    );
}

on_both_backends!(
    pilots_store => pilots_participants_milestones_and_lists,
    headcounts_on => headcounts,
    event_payloads_on => event_payloads,
);
