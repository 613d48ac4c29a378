//! Outcome reports over real gRPC with real onboarding and pilots services behind them, on
//! SQLite and Postgres: a report's whole life, its versions, and every refusal.

use crate::support::{OutcomesStack, PilotSpec, Stage, act, create};
use axv_auth::Role;
use axv_onboarding::domain::Sector;
use axv_platform::ErrorCode;
use axv_platform::calendar::today_kst;
use axv_proto::outcomes::v1 as pb;
use axv_proto::pilots::v1 as pilots_pb;
use axv_testkit::{Stack, TestDb, assert_refused, authed, on_both_backends};

/// What this file's pilots are registered with: an autonomous-driving shuttle, 2026–2027.
fn shuttle() -> PilotSpec<'static> {
    PilotSpec {
        title: "자율주행 셔틀 실증",
        ..PilotSpec::standard(axv_proto::common::v1::PilotDomain::AutonomousDriving)
    }
}

fn input(pilot_id: &str, start: &str, end: &str) -> pb::ReportInput {
    pb::ReportInput {
        pilot_id: pilot_id.into(),
        period_start: start.into(),
        period_end: end.into(),
        models_developed: 2,
        models_improved: 1,
        models_commercialized: 1,
        patents_filed: 1,
        patents_registered: 0,
        papers: 1,
        new_hires: 3,
        revenue_krw: 50_000_000,
        investment_krw: 0,
        evidence: "https://example.kr/evidence".into(),
    }
}

async fn whole_life_versions_and_refusals(db: TestDb) {
    let h = Stack::start(db, &["outcomes"]).await;
    let lead = h.firm(1).sector(Sector::Mobility).approved().await;
    let stranger = h.firm(2).sector(Sector::Mobility).approved().await;
    let manager = h.token(Role::ProgramManager);
    let dashboard = h.token(Role::Dashboard);
    let pilot = h.pilot(&lead, &shuttle(), Stage::Active).await;
    let approved_only = h.pilot(&lead, &shuttle(), Stage::Approved).await;
    let strangers_pilot = h.pilot(&stranger, &shuttle(), Stage::Active).await;
    let mut client = h.client().await;

    // Who may file: the lead company, for its ACTIVE/COMPLETED pilot.
    assert_refused(
        client
            .create_report(pb::CreateReportRequest {
                input: Some(input(&pilot, "2026-01-01", "2026-03-31")),
            })
            .await,
        ErrorCode::Unauthenticated,
    );
    assert_refused(
        create(
            &mut client,
            &manager,
            input(&pilot, "2026-01-01", "2026-03-31"),
        )
        .await,
        ErrorCode::Forbidden,
    );
    // A pilot the caller's company only takes part in: seen, but not the caller's to report.
    h.pilots_client()
        .await
        .add_participant(authed(
            pilots_pb::AddParticipantRequest {
                pilot_id: pilot.clone(),
                company_id: stranger.company_id.clone(),
                role: "partner".into(),
            },
            &lead.token,
        ))
        .await
        .unwrap();
    assert_refused(
        create(
            &mut client,
            &stranger.token,
            input(&pilot, "2026-01-01", "2026-03-31"),
        )
        .await,
        ErrorCode::FailedPrecondition,
    );
    // Another firm's pilot the caller cannot see at all.
    assert_refused(
        create(
            &mut client,
            &lead.token,
            input(&strangers_pilot, "2026-01-01", "2026-03-31"),
        )
        .await,
        ErrorCode::NotFound,
    );
    assert_refused(
        create(
            &mut client,
            &lead.token,
            input(&axv_platform::ids::new_id(), "2026-01-01", "2026-03-31"),
        )
        .await,
        ErrorCode::NotFound,
    );
    let not_active = assert_refused(
        create(
            &mut client,
            &lead.token,
            input(&approved_only, "2026-01-01", "2026-03-31"),
        )
        .await,
        ErrorCode::FailedPrecondition,
    );
    assert!(
        not_active.message().contains("APPROVED"),
        "{}",
        not_active.message()
    );

    // Input: the period names its bad field; commercialized cannot exceed developed+improved.
    let bad_period = assert_refused(
        create(
            &mut client,
            &lead.token,
            input(&pilot, "2026-01-02", "2026-03-31"),
        )
        .await,
        ErrorCode::BadUserInput,
    );
    assert!(
        bad_period.message().starts_with("periodStart"),
        "{}",
        bad_period.message()
    );
    let bad_end = create(
        &mut client,
        &lead.token,
        input(&pilot, "2026-01-01", "2026-03-30"),
    )
    .await
    .unwrap_err();
    assert!(
        bad_end.message().starts_with("periodEnd"),
        "{}",
        bad_end.message()
    );
    let too_many = pb::ReportInput {
        models_commercialized: 4,
        ..input(&pilot, "2026-01-01", "2026-03-31")
    };
    let error = assert_refused(
        create(&mut client, &lead.token, too_many).await,
        ErrorCode::BadUserInput,
    );
    assert!(
        error.message().starts_with("modelsCommercialized"),
        "{}",
        error.message()
    );

    // Create, then an overlapping period of the same pilot is refused.
    let report = create(
        &mut client,
        &lead.token,
        input(&pilot, "2026-01-01", "2026-03-31"),
    )
    .await
    .unwrap();
    assert_eq!(report.status(), pb::ReportStatus::Draft);
    assert_eq!(report.version, 1);
    assert_eq!(report.lineage_id, report.id);
    assert_eq!(report.company_id, lead.company_id);
    assert_eq!(report.sector(), axv_proto::common::v1::Sector::Mobility);
    assert_eq!(
        report.domain(),
        axv_proto::common::v1::PilotDomain::AutonomousDriving
    );
    assert_eq!(report.compute_consumed, 0);
    assert_refused(
        create(
            &mut client,
            &lead.token,
            input(&pilot, "2026-01-01", "2026-06-30"),
        )
        .await,
        ErrorCode::BadUserInput,
    );
    let next_quarter = create(
        &mut client,
        &lead.token,
        input(&pilot, "2026-04-01", "2026-06-30"),
    )
    .await
    .unwrap();
    // Editing one's own report to overlap another lineage is refused too.
    assert_refused(
        client
            .update_report(authed(
                pb::UpdateReportRequest {
                    id: next_quarter.id.clone(),
                    input: Some(input("", "2026-01-01", "2026-03-31")),
                },
                &lead.token,
            ))
            .await,
        ErrorCode::BadUserInput,
    );

    // Visibility: another firm NOT_FOUND, dashboards FORBIDDEN, managers see it.
    let get = |token: String, id: String| {
        let mut client = client.clone();
        async move {
            client
                .get_report(authed(pb::GetReportRequest { id }, &token))
                .await
        }
    };
    assert_refused(
        get(stranger.token.clone(), report.id.clone()).await,
        ErrorCode::NotFound,
    );
    assert_refused(
        get(dashboard.clone(), report.id.clone()).await,
        ErrorCode::Forbidden,
    );
    assert!(get(manager.clone(), report.id.clone()).await.is_ok());
    assert_refused(
        act(
            &mut client,
            &stranger.token,
            &report.id,
            pb::ReportAction::Submit,
            None,
        )
        .await,
        ErrorCode::NotFound,
    );

    // Edit while DRAFT, submit; the firm cannot verify; managers cannot submit.
    let edited = client
        .update_report(authed(
            pb::UpdateReportRequest {
                id: report.id.clone(),
                input: Some(pb::ReportInput {
                    papers: 4,
                    ..input("", "2026-01-01", "2026-03-31")
                }),
            },
            &lead.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(edited.papers, 4);
    assert_refused(
        act(
            &mut client,
            &manager,
            &report.id,
            pb::ReportAction::Submit,
            None,
        )
        .await,
        ErrorCode::Forbidden,
    );
    let submitted = act(
        &mut client,
        &lead.token,
        &report.id,
        pb::ReportAction::Submit,
        None,
    )
    .await
    .unwrap();
    assert_eq!(submitted.status(), pb::ReportStatus::Submitted);
    assert_refused(
        act(
            &mut client,
            &lead.token,
            &report.id,
            pb::ReportAction::Verify,
            None,
        )
        .await,
        ErrorCode::Forbidden,
    );
    assert_refused(
        client
            .update_report(authed(
                pb::UpdateReportRequest {
                    id: report.id.clone(),
                    input: Some(input("", "2026-01-01", "2026-03-31")),
                },
                &lead.token,
            ))
            .await,
        ErrorCode::FailedPrecondition,
    );

    // Return needs a note; resubmit; verify.
    let no_note = assert_refused(
        act(
            &mut client,
            &manager,
            &report.id,
            pb::ReportAction::Return,
            None,
        )
        .await,
        ErrorCode::BadUserInput,
    );
    assert!(
        no_note.message().starts_with("note"),
        "{}",
        no_note.message()
    );
    let returned = act(
        &mut client,
        &manager,
        &report.id,
        pb::ReportAction::Return,
        Some("매출 증빙을 첨부하세요"),
    )
    .await
    .unwrap();
    assert_eq!(returned.status(), pb::ReportStatus::Returned);
    assert_eq!(
        returned.history.last().unwrap().note.as_deref(),
        Some("매출 증빙을 첨부하세요")
    );
    act(
        &mut client,
        &lead.token,
        &report.id,
        pb::ReportAction::Submit,
        None,
    )
    .await
    .unwrap();
    let verified = act(
        &mut client,
        &manager,
        &report.id,
        pb::ReportAction::Verify,
        None,
    )
    .await
    .unwrap();
    assert_eq!(verified.status(), pb::ReportStatus::Verified);
    let path: Vec<&str> = verified.history.iter().map(|c| c.to.as_str()).collect();
    assert_eq!(
        path,
        ["DRAFT", "SUBMITTED", "RETURNED", "SUBMITTED", "VERIFIED"]
    );

    // Amend: a DRAFT version 2 in the same lineage; version 1 stays VERIFIED.
    let amend = |token: String, id: String| {
        let mut client = client.clone();
        async move {
            client
                .amend_report(authed(pb::AmendReportRequest { id }, &token))
                .await
        }
    };
    assert_refused(
        amend(lead.token.clone(), next_quarter.id.clone()).await,
        ErrorCode::FailedPrecondition,
    );
    let v2 = amend(lead.token.clone(), report.id.clone())
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.lineage_id, report.id);
    assert_eq!(v2.status(), pb::ReportStatus::Draft);
    assert_eq!(v2.papers, 4);
    assert_refused(
        amend(lead.token.clone(), report.id.clone()).await,
        ErrorCode::FailedPrecondition,
    );
    // The amendment keeps its own period: not an overlap with its own lineage.
    client
        .update_report(authed(
            pb::UpdateReportRequest {
                id: v2.id.clone(),
                input: Some(pb::ReportInput {
                    papers: 5,
                    ..input("", "2026-01-01", "2026-03-31")
                }),
            },
            &lead.token,
        ))
        .await
        .unwrap();
    let versions = client
        .list_report_versions(authed(
            pb::ListReportVersionsRequest {
                lineage_id: report.id.clone(),
            },
            &lead.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .reports;
    let states: Vec<(i32, pb::ReportStatus)> =
        versions.iter().map(|r| (r.version, r.status())).collect();
    assert_eq!(
        states,
        [
            (1, pb::ReportStatus::Verified),
            (2, pb::ReportStatus::Draft)
        ]
    );
    assert_eq!(versions[0].papers, 4);

    // Lists and loaders: the firm sees its own, the stranger nothing, managers all.
    let list = |token: String| {
        let mut client = client.clone();
        async move {
            client
                .list_reports(authed(
                    pb::ListReportsRequest {
                        filter: None,
                        page_size: 2,
                        page_token: String::new(),
                    },
                    &token,
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let mine = list(lead.token.clone()).await.unwrap();
    assert_eq!(mine.total_count, 3);
    assert_eq!(mine.reports.len(), 2);
    assert!(!mine.next_page_token.is_empty());
    assert_eq!(list(stranger.token.clone()).await.unwrap().total_count, 0);
    assert_eq!(list(manager.clone()).await.unwrap().total_count, 3);
    assert_refused(list(dashboard.clone()).await, ErrorCode::Forbidden);
    let verified_only = client
        .list_reports(authed(
            pb::ListReportsRequest {
                filter: Some(pb::ReportFilter {
                    pilot_id: Some(pilot.clone()),
                    company_id: None,
                    statuses: vec![pb::ReportStatus::Verified.into()],
                }),
                page_size: 10,
                page_token: String::new(),
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verified_only.total_count, 1);
    let loaded = client
        .list_pilot_reports(authed(
            pb::ListPilotReportsRequest {
                pilot_ids: vec![pilot.clone(), strangers_pilot.clone()],
            },
            &lead.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .pilots;
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].pilot_id, pilot);
    assert_eq!(loaded[0].reports.len(), 3);
    let batch = client
        .batch_get_reports(authed(
            pb::BatchGetReportsRequest {
                ids: vec![report.id.clone(), v2.id.clone()],
            },
            &stranger.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(batch.reports.is_empty());
    h.shutdown.cancel();
}

async fn compute_consumed_comes_from_vouchers(db: TestDb) {
    let h = Stack::start(db, &["outcomes"]).await;
    let lead = h.firm(1).sector(Sector::Mobility).approved().await;
    let pilot = h.pilot(&lead, &shuttle(), Stage::Active).await;
    let code = h.pilot_voucher(&lead.company_id, &pilot, 3_000).await;
    // A long ledger: 2,000 one-second jobs, then two more, then one beyond the balance
    // (charged up to it, the rest overage: the job ran, so it is consumption too).
    h.record_many_usages(&code, 2_000).await;
    for (job, amount) in [("job-1", 30), ("job-2", 12), ("job-3", 1_500)] {
        h.record_usage(&code, job, amount).await;
    }
    // Metered in the last quarter, which has ended, so its report can be submitted.
    let today = today_kst();
    let last = axv_outcomes::domain::quarter_start(today)
        .pred_opt()
        .unwrap();
    let (start, end) = (axv_outcomes::domain::quarter_start(last), last);
    let metered = start
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    h.backdate_usage(&code, metered).await;
    let mut client = h.client().await;
    let report = create(
        &mut client,
        &lead.token,
        input(&pilot, &start.to_string(), &end.to_string()),
    )
    .await
    .unwrap();
    assert_eq!(report.compute_consumed, 0);
    let submitted = act(
        &mut client,
        &lead.token,
        &report.id,
        pb::ReportAction::Submit,
        None,
    )
    .await
    .unwrap();
    assert_eq!(submitted.compute_consumed, 2_000 + 30 + 12 + 1_500);

    // The quarter before saw none of it.
    let before = start.pred_opt().unwrap();
    let earlier = create(
        &mut client,
        &lead.token,
        input(
            &pilot,
            &axv_outcomes::domain::quarter_start(before).to_string(),
            &before.to_string(),
        ),
    )
    .await
    .unwrap();
    let submitted = act(
        &mut client,
        &lead.token,
        &earlier.id,
        pb::ReportAction::Submit,
        None,
    )
    .await
    .unwrap();
    assert_eq!(submitted.compute_consumed, 0);

    // The current quarter has not ended: its report is a draft until it does.
    let current = create(
        &mut client,
        &lead.token,
        input(
            &pilot,
            &axv_outcomes::domain::quarter_start(today).to_string(),
            &axv_outcomes::domain::quarter_end(today).to_string(),
        ),
    )
    .await
    .unwrap();
    let early = act(
        &mut client,
        &lead.token,
        &current.id,
        pb::ReportAction::Submit,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(early.code(), tonic::Code::FailedPrecondition);
    let from = axv_outcomes::domain::quarter_end(today).succ_opt().unwrap();
    assert!(early.message().contains(&from.to_string()), "{early:?}");
    h.shutdown.cancel();
}

on_both_backends!(
    whole_life => whole_life_versions_and_refusals,
    compute => compute_consumed_comes_from_vouchers,
);
