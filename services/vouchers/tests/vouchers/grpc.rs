//! The vouchers service over real gRPC (with a real onboarding service behind it): every
//! authorization refusal, eligibility, concurrency on Postgres, freezing through onboarding's
//! events, and the Slurm export.

use axv_platform::calendar::today_kst;
use std::time::Duration;

use crate::{VouchersClient, usage};
use axv_auth::Role;
use axv_onboarding::domain::{CompanyAction, Sector};
use axv_platform::ErrorCode;
use axv_platform::{grpc::App, shutdown::CancellationToken};
use axv_proto::{common::v1 as common_pb, vouchers::v1 as pb};
use axv_testkit::{
    Stack, TestDb, assert_refused, authed, caller, on_both_backends,
    vouchers::{issue, pool_and_program},
};

async fn apply_with_pilot(
    h: &Stack,
    token: &str,
    program: &str,
    company: &str,
    pilot: &str,
) -> Result<pb::Application, tonic::Status> {
    h.client()
        .await
        .apply_for_voucher(authed(
            pb::ApplyForVoucherRequest {
                program_id: program.into(),
                company_id: company.into(),
                requested_amount: 10,
                justification: "실증".into(),
                pilot_id: Some(pilot.into()),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().application.unwrap())
}

async fn apply(
    h: &Stack,
    token: &str,
    program: &str,
    company: &str,
    amount: i64,
) -> Result<pb::Application, tonic::Status> {
    h.client()
        .await
        .apply_for_voucher(authed(
            pb::ApplyForVoucherRequest {
                program_id: program.into(),
                company_id: company.into(),
                requested_amount: amount,
                justification: "자율주행 인지 모델 학습".into(),
                pilot_id: None,
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().application.unwrap())
}

#[tokio::test]
async fn applications_vouchers_and_every_refusal() {
    let h = Stack::start(TestDb::sqlite(), &["vouchers"]).await;
    let manager = h.token(Role::ProgramManager);
    let admin = h.token(Role::Admin);
    let operator = h.token(Role::Operator);
    let dashboard = h.token(Role::Dashboard);
    let a = h.firm(1).sector(Sector::Mobility).approved().await;
    let b = h.firm(2).sector(Sector::Energy).approved().await;
    let pending = h.firm(3).sector(Sector::Data).draft().await;
    let mut client = h.client().await;

    // Pools: admins only.
    let pool_request = || pb::CreateResourcePoolRequest {
        name: "H100".into(),
        kind: pb::ResourceKind::GpuH100.into(),
        capacity: 1_000_000,
        funding: pb::FundingSource::National.into(),
        valid_from: "2026-01-01".into(),
        valid_until: "2030-12-31".into(),
    };
    assert_refused(
        client
            .create_resource_pool(authed(pool_request(), &manager))
            .await,
        ErrorCode::Forbidden,
    );
    assert_refused(
        client.create_resource_pool(pool_request()).await,
        ErrorCode::Unauthenticated,
    );
    let pool = client
        .create_resource_pool(authed(pool_request(), &admin))
        .await
        .unwrap()
        .into_inner()
        .pool
        .unwrap();
    assert_eq!(
        (pool.unit.as_str(), pool.available, pool.committed),
        ("GPU-second", 1_000_000, 0)
    );

    let today = today_kst();
    let program_request = |sectors: Vec<common_pb::Sector>| pb::CreateProgramRequest {
        pool_id: pool.id.clone(),
        name: "2026 AX 실증 바우처".into(),
        opens_on: (today - chrono::Days::new(1)).to_string(),
        closes_on: (today + chrono::Days::new(60)).to_string(),
        max_per_company: 100_000,
        sectors: sectors.into_iter().map(i32::from).collect(),
    };
    assert_refused(
        client
            .create_program(authed(program_request(vec![]), &a.token))
            .await,
        ErrorCode::Forbidden,
    );
    // An unset sector names no industry: refused, not read as "every sector".
    assert_refused(
        client
            .create_program(authed(
                program_request(vec![common_pb::Sector::Unspecified]),
                &manager,
            ))
            .await,
        ErrorCode::BadUserInput,
    );
    let program = client
        .create_program(authed(
            program_request(vec![common_pb::Sector::Mobility, common_pb::Sector::Data]),
            &manager,
        ))
        .await
        .unwrap()
        .into_inner()
        .program
        .unwrap();

    // Eligibility: the refusal says why.
    let not_approved = assert_refused(
        apply(&h, &pending.token, &program.id, &pending.company_id, 10).await,
        ErrorCode::FailedPrecondition,
    );
    assert!(
        not_approved.message().contains("APPROVED"),
        "{}",
        not_approved.message()
    );
    let wrong_sector = assert_refused(
        apply(&h, &b.token, &program.id, &b.company_id, 10).await,
        ErrorCode::FailedPrecondition,
    );
    assert!(
        wrong_sector.message().contains("ENERGY"),
        "{}",
        wrong_sector.message()
    );
    let over_cap = apply(&h, &a.token, &program.id, &a.company_id, 100_001)
        .await
        .unwrap_err();
    assert!(over_cap.message().contains("cap"), "{}", over_cap.message());
    // Another firm's company does not exist for firm B.
    assert_refused(
        apply(&h, &b.token, &program.id, &a.company_id, 10).await,
        ErrorCode::NotFound,
    );
    assert_refused(
        apply(&h, &operator, &program.id, &a.company_id, 10).await,
        ErrorCode::Forbidden,
    );

    let application = apply(&h, &a.token, &program.id, &a.company_id, 50_000)
        .await
        .unwrap();
    // One application: its firm and staff read it; another firm, an operator, a dashboard and
    // a made-up id do not.
    let get = |id: &str, token: &str| {
        let mut client = client.clone();
        let request = authed(pb::GetApplicationRequest { id: id.into() }, token);
        async move { client.get_application(request).await }
    };
    for reader in [&a.token, &manager] {
        let read = get(&application.id, reader).await.unwrap().into_inner();
        assert_eq!(read.application, Some(application.clone()));
    }
    assert_refused(get(&application.id, &b.token).await, ErrorCode::NotFound);
    assert_refused(get(&application.id, &operator).await, ErrorCode::Forbidden);
    assert_refused(get(&application.id, &dashboard).await, ErrorCode::Forbidden);
    assert_refused(get("not-an-id", &manager).await, ErrorCode::NotFound);
    // Firms neither approve nor see others' applications.
    assert_refused(
        client
            .approve_application(authed(
                pb::ApproveApplicationRequest {
                    id: application.id.clone(),
                    granted_amount: None,
                    note: None,
                },
                &a.token,
            ))
            .await,
        ErrorCode::Forbidden,
    );
    assert_refused(
        client
            .approve_application(authed(
                pb::ApproveApplicationRequest {
                    id: application.id.clone(),
                    granted_amount: None,
                    note: None,
                },
                &b.token,
            ))
            .await,
        ErrorCode::NotFound,
    );
    assert_refused(
        client
            .approve_application(authed(
                pb::ApproveApplicationRequest {
                    id: application.id.clone(),
                    granted_amount: Some(50_001),
                    note: None,
                },
                &manager,
            ))
            .await,
        ErrorCode::BadUserInput,
    );

    let approved = client
        .approve_application(authed(
            pb::ApproveApplicationRequest {
                id: application.id.clone(),
                granted_amount: Some(30_000),
                note: Some("부분 승인".into()),
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner();
    let voucher = approved.voucher.unwrap();
    assert_eq!((voucher.granted, voucher.balance), (30_000, 30_000));
    assert!(
        axv_vouchers::domain::is_valid_code(&voucher.code),
        "{}",
        voucher.code
    );
    assert_refused(
        client
            .approve_application(authed(
                pb::ApproveApplicationRequest {
                    id: application.id.clone(),
                    granted_amount: None,
                    note: None,
                },
                &manager,
            ))
            .await,
        ErrorCode::FailedPrecondition,
    );

    // Reading vouchers.
    let get = |token: String| {
        let id = voucher.id.clone();
        let mut client = client.clone();
        async move {
            client
                .get_voucher(authed(pb::GetVoucherRequest { id }, &token))
                .await
        }
    };
    assert!(get(a.token.clone()).await.is_ok());
    assert!(get(operator.clone()).await.is_ok());
    assert_refused(get(b.token.clone()).await, ErrorCode::NotFound);
    assert_refused(get(dashboard.clone()).await, ErrorCode::Forbidden);
    let listed = client
        .list_vouchers(authed(pb::ListVouchersRequest::default(), &b.token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_count, 0, "firm B sees none of A's vouchers");
    let asked = client
        .list_vouchers(authed(
            pb::ListVouchersRequest {
                filter: Some(pb::VoucherFilter {
                    company_ids: vec![a.company_id.clone()],
                    ..Default::default()
                }),
                ..Default::default()
            },
            &b.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        asked.total_count, 0,
        "asking for A's company by id changes nothing"
    );
    let batched = client
        .list_company_vouchers(authed(
            pb::ListCompanyVouchersRequest {
                company_ids: vec![a.company_id.clone()],
                per_company: 10,
            },
            &b.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(batched.vouchers.is_empty());
    assert_refused(
        client
            .list_ledger_entries(authed(
                pb::ListLedgerEntriesRequest {
                    voucher_id: voucher.id.clone(),
                    ..Default::default()
                },
                &b.token,
            ))
            .await,
        ErrorCode::NotFound,
    );

    // Metering: operators only; idempotent by (cluster, job).
    assert_refused(
        client
            .record_usage(authed(usage("1", &voucher.code, 10), &a.token))
            .await,
        ErrorCode::Forbidden,
    );
    assert_refused(
        client
            .record_usage(authed(usage("1", &voucher.code, 10), &manager))
            .await,
        ErrorCode::Forbidden,
    );
    let first = client
        .record_usage(authed(usage("1", &voucher.code, 1_000), &operator))
        .await
        .unwrap()
        .into_inner();
    let retry = client
        .record_usage(authed(usage("1", &voucher.code, 1_000), &operator))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate && retry.duplicate);
    assert_eq!(first.id, retry.id);
    assert_refused(
        client
            .record_usage(authed(usage("1", &voucher.code, 999), &operator))
            .await,
        ErrorCode::Conflict,
    );
    assert_refused(
        client
            .record_usage(authed(usage("2", "gpu-2026-nosuch", 1), &operator))
            .await,
        ErrorCode::NotFound,
    );

    let ledger = client
        .list_ledger_entries(authed(
            pb::ListLedgerEntriesRequest {
                voucher_id: voucher.id.clone(),
                ..Default::default()
            },
            &a.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let entries: Vec<(String, i64, i64)> = ledger
        .entries
        .iter()
        .map(|e| (e.kind.clone(), e.amount, e.balance_after))
        .collect();
    assert_eq!(
        entries,
        vec![
            ("grant".into(), 30_000, 30_000),
            ("debit".into(), -1_000, 29_000)
        ]
    );

    // Vouchers linked to a pilot, for Pilot.vouchers: one call for many pilots. A voucher may
    // name only a pilot its company takes part in.
    let firm_a = h.platform.verifier.verify(&a.token).await.unwrap();
    let pilot_id = h
        .pilots()
        .register(
            Some(&firm_a),
            axv_pilots::domain::PilotInput {
                title: "자율주행 실증".into(),
                domain: Some(axv_pilots::domain::PilotDomain::AutonomousDriving),
                lead_company_id: a.company_id.clone(),
                site: "첨단3지구".into(),
                starts_on: "2026-01-01".into(),
                ends_on: "2026-12-31".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .pilot
        .id;
    assert_refused(
        apply_with_pilot(
            &h,
            &a.token,
            &program.id,
            &a.company_id,
            &axv_platform::ids::new_id(),
        )
        .await,
        ErrorCode::NotFound,
    );
    assert_refused(
        apply_with_pilot(&h, &b.token, &program.id, &b.company_id, &pilot_id).await,
        ErrorCode::NotFound,
    );
    let linked = client
        .apply_for_voucher(authed(
            pb::ApplyForVoucherRequest {
                program_id: program.id.clone(),
                company_id: a.company_id.clone(),
                requested_amount: 500,
                justification: "실증 과제용".into(),
                pilot_id: Some(pilot_id.clone()),
            },
            &a.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    let linked_voucher = client
        .approve_application(authed(
            pb::ApproveApplicationRequest {
                id: linked.id,
                granted_amount: None,
                note: None,
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner()
        .voucher
        .unwrap();
    assert_eq!(linked_voucher.pilot_id.as_deref(), Some(pilot_id.as_str()));
    let by_pilot = |token: String| {
        let mut client = client.clone();
        let ids = vec![pilot_id.clone(), axv_platform::ids::new_id()];
        async move {
            client
                .list_pilot_vouchers(authed(
                    pb::ListPilotVouchersRequest { pilot_ids: ids },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .vouchers
        }
    };
    assert_eq!(by_pilot(a.token.clone()).await.len(), 1);
    assert!(
        by_pilot(b.token.clone()).await.is_empty(),
        "another firm sees none of them"
    );

    // A company suspended after applying gets no voucher.
    let pending_application = apply(&h, &a.token, &program.id, &a.company_id, 100)
        .await
        .unwrap();
    let staff = caller("manager", Role::ProgramManager);
    h.onboarding()
        .transition(
            Some(&staff),
            &a.company_id,
            CompanyAction::Suspend,
            Some("점검"),
        )
        .await
        .unwrap();
    let suspended = assert_refused(
        client
            .approve_application(authed(
                pb::ApproveApplicationRequest {
                    id: pending_application.id.clone(),
                    granted_amount: None,
                    note: None,
                },
                &manager,
            ))
            .await,
        ErrorCode::FailedPrecondition,
    );
    assert!(
        suspended.message().contains("SUSPENDED"),
        "{}",
        suspended.message()
    );
    h.onboarding()
        .transition(Some(&staff), &a.company_id, CompanyAction::Reinstate, None)
        .await
        .unwrap();

    // Withdrawing: the firm, before review.
    let second = apply(&h, &a.token, &program.id, &a.company_id, 1_000)
        .await
        .unwrap();
    assert_refused(
        client
            .withdraw_application(authed(
                pb::WithdrawApplicationRequest {
                    id: second.id.clone(),
                },
                &b.token,
            ))
            .await,
        ErrorCode::NotFound,
    );
    let withdrawn = client
        .withdraw_application(authed(
            pb::WithdrawApplicationRequest {
                id: second.id.clone(),
            },
            &a.token,
        ))
        .await
        .unwrap();
    assert_eq!(
        withdrawn.into_inner().application.unwrap().status(),
        pb::ApplicationStatus::Withdrawn
    );
    assert_refused(
        client
            .reject_application(authed(
                pb::RejectApplicationRequest {
                    id: second.id,
                    note: "늦음".into(),
                },
                &manager,
            ))
            .await,
        ErrorCode::FailedPrecondition,
    );

    // Revocation: managers, with a note; the rest returns to the pool.
    assert_refused(
        client
            .revoke_voucher(authed(
                pb::RevokeVoucherRequest {
                    id: voucher.id.clone(),
                    note: "x".into(),
                },
                &a.token,
            ))
            .await,
        ErrorCode::Forbidden,
    );
    let revoked = client
        .revoke_voucher(authed(
            pb::RevokeVoucherRequest {
                id: voucher.id.clone(),
                note: "사업 중단".into(),
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner()
        .voucher
        .unwrap();
    assert_eq!(
        (revoked.status(), revoked.balance),
        (pb::VoucherStatus::Revoked, 0)
    );
    let pools = client
        .list_resource_pools(pb::ListResourcePoolsRequest {})
        .await
        .unwrap()
        .into_inner()
        .pools;
    assert_eq!(
        (pools[0].committed, pools[0].consumed),
        (1_000 + 500, 1_000),
        "only what was used stays committed (plus the pilot's voucher of 500)"
    );
    let after = assert_refused(
        client
            .record_usage(authed(usage("3", &voucher.code, 1), &operator))
            .await,
        ErrorCode::FailedPrecondition,
    );
    assert!(after.message().contains("revoked"), "{}", after.message());
    h.stop().await;
}

#[tokio::test]
async fn suspension_freezes_vouchers_and_reinstatement_thaws_them() {
    let h = Stack::start(TestDb::sqlite(), &["vouchers"]).await;
    let firm = h.firm(11).sector(Sector::Mobility).approved().await;
    let (_, program) = pool_and_program(h.vouchers().store(), 100_000, 100_000).await;
    let voucher = issue(h.vouchers().store(), &program, &firm.company_id, 5_000).await;
    let operator = h.token(Role::Operator);
    let mut client = h.client().await;
    let manager = caller("manager", Role::ProgramManager);

    h.onboarding()
        .transition(
            Some(&manager),
            &firm.company_id,
            CompanyAction::Suspend,
            Some("서류 미제출"),
        )
        .await
        .unwrap();
    let frozen =
        wait_for_status(&h, &voucher.id, axv_vouchers::domain::VoucherStatus::Frozen).await;
    assert!(frozen, "the voucher froze after company.suspended");
    let refused = assert_refused(
        client
            .record_usage(authed(usage("f1", &voucher.code, 10), &operator))
            .await,
        ErrorCode::FailedPrecondition,
    );
    assert!(
        refused.message().contains("frozen"),
        "{}",
        refused.message()
    );

    h.onboarding()
        .transition(
            Some(&manager),
            &firm.company_id,
            CompanyAction::Reinstate,
            None,
        )
        .await
        .unwrap();
    assert!(
        wait_for_status(&h, &voucher.id, axv_vouchers::domain::VoucherStatus::Active).await,
        "thawed after company.reinstated"
    );
    client
        .record_usage(authed(usage("f2", &voucher.code, 10), &operator))
        .await
        .unwrap();
    h.stop().await;
}

/// The uploads' history over gRPC: each sacct file with who sent it, what it charged per voucher
/// and its refused lines; operators and admins read it, firms and managers are refused.
#[tokio::test]
async fn sacct_uploads_are_kept_for_operators_and_admins_only() {
    let h = Stack::start(TestDb::sqlite(), &["vouchers"]).await;
    let firm = h.firm(23).sector(Sector::Data).approved().await;
    let (_, program) = pool_and_program(h.vouchers().store(), 1_000_000, 1_000_000).await;
    let voucher = issue(h.vouchers().store(), &program, &firm.company_id, 360_000).await;
    let operator_id = axv_platform::ids::new_id();
    let operator = h
        .platform
        .issuer
        .issue(&operator_id, Role::Operator, vec![])
        .unwrap()
        .token;
    let admin = h.token(Role::Admin);
    let mut client = h.client().await;
    let sacct = format!(
        "JobID|JobIDRaw|Account|User|AllocTRES|ElapsedRaw|Start|End|State\n\
         51|51|{code}|kim|gres/gpu=2|100|2026-01-01T00:00:00|2026-01-01T00:01:40|COMPLETED\n\
         52|52|{code}|kim|gres/gpu=1|60|2026-01-01T00:00:00|2026-01-01T00:01:00|COMPLETED\n\
         53|53|nobody|kim|gres/gpu=1|60|2026-01-01T00:00:00|2026-01-01T00:01:00|COMPLETED\n",
        code = voucher.code
    );
    let report = client
        .ingest_sacct(authed(
            pb::IngestSacctRequest {
                cluster: "h100".into(),
                sacct,
            },
            &operator,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        report.charges,
        vec![pb::VoucherCharge {
            voucher_id: voucher.id.clone(),
            voucher_code: voucher.code.clone(),
            jobs: 2,
            amount: 260,
            overage: 0,
        }]
    );

    let listed = client
        .list_usage_uploads(authed(
            pb::ListUsageUploadsRequest {
                page_size: 10,
                page_token: String::new(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_count, 1);
    let upload = &listed.uploads[0];
    assert_eq!(upload.id, report.upload_id);
    assert_eq!(upload.rejected_count, 1);
    assert_eq!(upload.uploaded_by, operator_id);
    let kept = client
        .get_usage_upload(authed(
            pb::GetUsageUploadRequest {
                id: report.upload_id.clone(),
            },
            &operator,
        ))
        .await
        .unwrap()
        .into_inner()
        .upload
        .unwrap();
    assert_eq!(kept.report.as_ref(), Some(&report));

    let missing = client
        .get_usage_upload(authed(
            pb::GetUsageUploadRequest {
                id: "00000000-0000-7000-8000-000000000000".into(),
            },
            &operator,
        ))
        .await;
    assert_refused(missing, ErrorCode::NotFound);
    for role in [Role::FirmMember, Role::ProgramManager, Role::Dashboard] {
        let token = h.token(role);
        let listing = client
            .list_usage_uploads(authed(
                pb::ListUsageUploadsRequest {
                    page_size: 10,
                    page_token: String::new(),
                },
                &token,
            ))
            .await;
        assert_refused(listing, ErrorCode::Forbidden);
        let one = client
            .get_usage_upload(authed(
                pb::GetUsageUploadRequest {
                    id: report.upload_id.clone(),
                },
                &token,
            ))
            .await;
        assert_refused(one, ErrorCode::Forbidden);
    }
}

async fn wait_for_status(h: &Stack, id: &str, status: axv_vouchers::domain::VoucherStatus) -> bool {
    for _ in 0..100 {
        if h.vouchers()
            .store()
            .voucher(id)
            .await
            .unwrap()
            .unwrap()
            .status
            == status
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn slurm_export_and_holds_over_grpc() {
    let h = Stack::start(TestDb::sqlite(), &["vouchers"]).await;
    let firm = h.firm(21).sector(Sector::Data).approved().await;
    let (_, program) = pool_and_program(h.vouchers().store(), 1_000_000, 1_000_000).await;
    let voucher = issue(h.vouchers().store(), &program, &firm.company_id, 360_000).await;
    let operator = h.token(Role::Operator);
    let mut client = h.client().await;

    let hold = client
        .create_hold(authed(
            pb::CreateHoldRequest {
                hold_id: "slurm-4242".into(),
                voucher_code: voucher.code.clone(),
                amount: 60_000,
                timeout_secs: 3600,
                cluster: "h100".into(),
                job_id: "4242".into(),
            },
            &operator,
        ))
        .await
        .unwrap()
        .into_inner()
        .hold
        .unwrap();
    assert_eq!(hold.state, "OPEN");
    let committed = client
        .commit_hold(authed(
            pb::CommitHoldRequest {
                hold_id: "slurm-4242".into(),
                amount: 36_000,
            },
            &operator,
        ))
        .await
        .unwrap();
    assert_eq!(
        committed.into_inner().hold.unwrap().committed_amount,
        36_000
    );
    assert_refused(
        client
            .release_hold(authed(
                pb::ReleaseHoldRequest {
                    hold_id: "slurm-4242".into(),
                },
                &operator,
            ))
            .await,
        ErrorCode::FailedPrecondition,
    );

    let file = client
        .export_slurm_accounts(authed(
            pb::ExportSlurmAccountsRequest {
                cluster: "h100".into(),
            },
            &operator,
        ))
        .await
        .unwrap()
        .into_inner()
        .sacctmgr_file;
    // The limit is the granted total (360,000 GPU-seconds = 6,000 GPU-minutes): Slurm counts
    // the usage against it itself.
    assert!(
        file.contains(&format!("Account - '{}'", voucher.code)),
        "{file}"
    );
    assert!(file.contains("GrpTRESMins=gres/gpu=6000"), "{file}");
    assert!(file.contains("Cluster - 'h100'"), "{file}");
    assert_refused(
        client
            .export_slurm_accounts(authed(
                pb::ExportSlurmAccountsRequest {
                    cluster: "h100".into(),
                },
                &firm.token,
            ))
            .await,
        ErrorCode::Forbidden,
    );
    h.stop().await;
}

/// Many clients debit one voucher at once on Postgres: every job is recorded, exactly the
/// affordable ones are charged, the rest is overage, and the balance ends at exactly zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_debits_never_overspend_on_postgres() {
    let Some(db) = axv_testkit::db::postgres().await else {
        return;
    };
    let h = Stack::start(db, &["vouchers"]).await;
    let firm = h.firm(31).sector(Sector::Mobility).approved().await;
    let (_, program) = pool_and_program(h.vouchers().store(), 10_000_000, 10_000_000).await;
    let affordable = 25;
    let voucher = issue(
        h.vouchers().store(),
        &program,
        &firm.company_id,
        100 * affordable,
    )
    .await;
    let operator = h.token(Role::Operator);
    let client = h.client().await;

    let attempts = 64;
    let mut tasks = Vec::new();
    for n in 0..attempts {
        let mut client = client.clone();
        let request = authed(usage(&format!("race-{n}"), &voucher.code, 100), &operator);
        tasks.push(tokio::spawn(
            async move { client.record_usage(request).await },
        ));
    }
    let (mut charged, mut overage) = (0, 0);
    for task in tasks {
        let recorded = task.await.unwrap().unwrap().into_inner();
        assert_eq!(recorded.amount + recorded.overage, 100);
        charged += recorded.amount;
        overage += recorded.overage;
    }
    assert_eq!(
        (charged, overage),
        (100 * affordable, 100 * (attempts - affordable))
    );
    let after = h
        .vouchers()
        .store()
        .voucher(&voucher.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((after.balance, after.consumed), (0, 100 * affordable));
    assert_eq!(after.overage, 100 * (attempts - affordable));
    assert_eq!(after.status, axv_vouchers::domain::VoucherStatus::Exhausted);
    assert_eq!(h.vouchers().store().ledger_sum().await.unwrap(), 0);
    assert!(
        h.vouchers()
            .store()
            .ledger_discrepancies()
            .await
            .unwrap()
            .is_empty()
    );

    // The same jobs retried at once: all duplicates, nothing charged again.
    let mut retries = Vec::new();
    for n in 0..affordable {
        let mut client = client.clone();
        let request = authed(usage(&format!("race-{n}"), &voucher.code, 100), &operator);
        retries.push(tokio::spawn(
            async move { client.record_usage(request).await },
        ));
    }
    let mut duplicates = 0;
    for task in retries {
        if let Ok(response) = task.await.unwrap() {
            duplicates += usize::from(response.into_inner().duplicate);
        }
    }
    let recorded: Vec<(String,)> = sqlx::query_as("SELECT job_id FROM usage_records")
        .fetch_all(h.vouchers().store().database().pool())
        .await
        .unwrap();
    assert_eq!(recorded.len(), attempts as usize);
    assert_eq!(duplicates as i64, affordable);
    assert_eq!(
        h.vouchers()
            .store()
            .voucher(&voucher.id)
            .await
            .unwrap()
            .unwrap()
            .consumed,
        100 * affordable
    );
    h.stop().await;
}

/// Two replicas of the vouchers service on one Postgres database take debits for ten vouchers
/// at once, a third of the jobs sent to both at the same moment (a metering agent retrying on
/// the other replica): no balance goes below zero, every voucher's consumption is exactly the
/// charges the replicas answered, and no job is charged twice. Usage that arrives together is
/// committed in batches, so this is also the batches' test under contention.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn debits_across_two_replicas_keep_every_invariant_on_postgres() {
    let Some(db) = axv_testkit::db::postgres().await else {
        return;
    };
    let h = Stack::start(db, &["vouchers"]).await;
    let second = h.another_replica("vouchers").await;
    let firm = h.firm(32).sector(Sector::Mobility).approved().await;
    let (_, program) = pool_and_program(h.vouchers().store(), 100_000_000, 100_000_000).await;
    let mut vouchers = Vec::new();
    for n in 0..10 {
        // Some vouchers run dry during the run, some do not.
        vouchers.push(
            issue(
                h.vouchers().store(),
                &program,
                &firm.company_id,
                2_000 + 700 * n,
            )
            .await,
        );
    }
    let operator = h.token(Role::Operator);
    let replicas = [h.client().await, second.client().await];

    let jobs = 300;
    let mut tasks = Vec::new();
    for n in 0..jobs {
        let voucher = &vouchers[n % vouchers.len()];
        let amount = 50 + (n as i64 * 37) % 200;
        let job = format!("two-{n}");
        let sends = if n % 3 == 0 { vec![0, 1] } else { vec![n % 2] };
        for replica in sends {
            let mut client = replicas[replica].clone();
            let request = authed(usage(&job, &voucher.code, amount), &operator);
            let (job, voucher_id) = (job.clone(), voucher.id.clone());
            tasks.push(tokio::spawn(async move {
                (job, voucher_id, amount, client.record_usage(request).await)
            }));
        }
    }
    let mut answers: std::collections::HashMap<String, Vec<pb::RecordUsageResponse>> =
        std::collections::HashMap::new();
    let mut charged: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for task in tasks {
        let (job, voucher_id, amount, answer) = task.await.unwrap();
        let answer = answer
            .unwrap_or_else(|e| panic!("{job}: {e:?}"))
            .into_inner();
        assert_eq!(answer.amount + answer.overage, amount, "{job}");
        assert_eq!(answer.voucher_id, voucher_id);
        if !answer.duplicate {
            *charged.entry(voucher_id).or_default() += answer.amount;
        }
        answers.entry(job).or_default().push(answer);
    }
    assert_eq!(answers.len(), jobs);
    for (job, answers) in &answers {
        // Sent twice: one charge, one duplicate, both the same record.
        assert_eq!(
            answers.iter().filter(|a| !a.duplicate).count(),
            1,
            "{job}: {answers:?}"
        );
        assert!(answers.iter().all(|a| a.id == answers[0].id), "{job}");
    }
    let mut exhausted = 0;
    for voucher in &vouchers {
        let after = h
            .vouchers()
            .store()
            .voucher(&voucher.id)
            .await
            .unwrap()
            .unwrap();
        assert!(after.balance >= 0, "{} went below zero", voucher.code);
        assert_eq!(
            after.consumed,
            charged.get(&voucher.id).copied().unwrap_or(0),
            "{}: consumption is not the charges answered",
            voucher.code
        );
        assert_eq!(after.balance + after.consumed, after.granted);
        exhausted += usize::from(after.balance == 0);
    }
    // The run really drained some vouchers and left others (the test cannot pass on either alone).
    assert!(
        exhausted > 0 && exhausted < vouchers.len(),
        "{exhausted} exhausted"
    );
    let (records,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM usage_records")
        .fetch_one(h.vouchers().store().database().pool())
        .await
        .unwrap();
    assert_eq!(records, jobs as i64);
    assert_eq!(h.vouchers().store().ledger_sum().await.unwrap(), 0);
    assert!(
        h.vouchers()
            .store()
            .ledger_discrepancies()
            .await
            .unwrap()
            .is_empty()
    );
    h.stop().await;
}

/// Backdates a voucher's issue to `kst` ("YYYY-MM-DD HH:MM", Seoul time).
async fn issued_at(h: &Stack, voucher_id: &str, kst: &str) {
    let local = chrono::NaiveDateTime::parse_from_str(kst, "%Y-%m-%d %H:%M").unwrap();
    let at = local.and_utc().timestamp_millis() - axv_vouchers::domain::KST_OFFSET_MS;
    sqlx::query("UPDATE vouchers SET created_at = $1 WHERE id = $2")
        .bind(at)
        .bind(voucher_id)
        .execute(h.vouchers().store().database().pool())
        .await
        .unwrap();
}

fn totals_request(from: Option<&str>, until: Option<&str>) -> pb::VoucherTotalsRequest {
    pb::VoucherTotalsRequest {
        issued_from: from.map(str::to_owned),
        issued_until: until.map(str::to_owned),
        ..Default::default()
    }
}

type TotalsRow = (String, String, i64, i64, i64);

async fn totals(
    h: &Stack,
    token: &str,
    from: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<TotalsRow>, tonic::Status> {
    h.client()
        .await
        .voucher_totals(authed(totals_request(from, until), token))
        .await
        .map(|r| {
            r.into_inner()
                .rows
                .into_iter()
                .map(|r| {
                    (
                        r.company_id,
                        r.quarter_start,
                        r.vouchers,
                        r.granted,
                        r.consumed,
                    )
                })
                .collect()
        })
}

/// Per-company quarterly totals: quarters by Seoul issue day, every status counted, consumption
/// only from debits and committed holds, the date filter, and who may read them.
async fn voucher_totals_by_company_and_quarter(db: TestDb) {
    let h = Stack::start(db, &["vouchers"]).await;
    let a = h.firm(41).sector(Sector::Mobility).approved().await;
    let b = h.firm(42).sector(Sector::Data).approved().await;
    let (_, program) = pool_and_program(h.vouchers().store(), 10_000_000, 10_000_000).await;
    let operator = h.token(Role::Operator);
    let manager = h.token(Role::ProgramManager);
    let mut client = h.client().await;

    let a1 = issue(h.vouchers().store(), &program, &a.company_id, 100_000).await;
    let a2 = issue(h.vouchers().store(), &program, &a.company_id, 50_000).await;
    let a3 = issue(h.vouchers().store(), &program, &a.company_id, 20_000).await;
    let b1 = issue(h.vouchers().store(), &program, &b.company_id, 10_000).await;
    let b2 = issue(h.vouchers().store(), &program, &b.company_id, 30_000).await;
    // 00:30 on 1 January in Seoul is still 31 December in UTC: Seoul's day decides.
    issued_at(&h, &a1.id, "2026-01-01 00:30").await;
    issued_at(&h, &a2.id, "2026-03-31 15:00").await;
    issued_at(&h, &a3.id, "2025-12-31 23:59").await;
    issued_at(&h, &b1.id, "2026-02-10 10:00").await;
    issued_at(&h, &b2.id, "2026-04-01 00:00").await;

    let hold = |id: &str, code: &str, amount: i64| {
        authed(
            pb::CreateHoldRequest {
                hold_id: id.into(),
                voucher_code: code.into(),
                amount,
                timeout_secs: 3600,
                cluster: "h100".into(),
                job_id: id.into(),
            },
            &operator,
        )
    };
    // a1: a usage record (1,000), a hold of 5,000 committed at 3,000 (2,000 released), and an
    // open hold of 7,000: 4,000 consumed.
    client
        .record_usage(authed(usage("t-1", &a1.code, 1_000), &operator))
        .await
        .unwrap();
    client
        .create_hold(hold("t-2", &a1.code, 5_000))
        .await
        .unwrap();
    client
        .commit_hold(authed(
            pb::CommitHoldRequest {
                hold_id: "t-2".into(),
                amount: 3_000,
            },
            &operator,
        ))
        .await
        .unwrap();
    client
        .create_hold(hold("t-3", &a1.code, 7_000))
        .await
        .unwrap();
    // a2: 500 used and a hold of 4,000 released whole.
    client
        .record_usage(authed(usage("t-4", &a2.code, 500), &operator))
        .await
        .unwrap();
    client
        .create_hold(hold("t-5", &a2.code, 4_000))
        .await
        .unwrap();
    client
        .release_hold(authed(
            pb::ReleaseHoldRequest {
                hold_id: "t-5".into(),
            },
            &operator,
        ))
        .await
        .unwrap();
    // a3 revoked and b1 expired after some use: what they consumed still counts, what went
    // back does not.
    client
        .record_usage(authed(usage("t-6", &a3.code, 2_000), &operator))
        .await
        .unwrap();
    client
        .revoke_voucher(authed(
            pb::RevokeVoucherRequest {
                id: a3.id.clone(),
                note: "사업 중단".into(),
            },
            &manager,
        ))
        .await
        .unwrap();
    client
        .record_usage(authed(usage("t-7", &b1.code, 100), &operator))
        .await
        .unwrap();
    h.vouchers()
        .store()
        .end_voucher(
            &b1.id,
            axv_vouchers::domain::VoucherStatus::Expired,
            None,
            &axv_platform::audit::Actor::system("sweeper"),
        )
        .await
        .unwrap();

    let (ca, cb) = (a.company_id.clone(), b.company_id.clone());
    let row = |c: &str, q: &str, n: i64, granted: i64, consumed: i64| -> TotalsRow {
        (c.to_owned(), q.to_owned(), n, granted, consumed)
    };
    let mut all = vec![
        row(&ca, "2025-10-01", 1, 20_000, 2_000),
        row(&ca, "2026-01-01", 2, 150_000, 4_500),
        row(&cb, "2026-01-01", 1, 10_000, 100),
        row(&cb, "2026-04-01", 1, 30_000, 0),
    ];
    all.sort();
    assert_eq!(totals(&h, &manager, None, None).await.unwrap(), all);
    assert_eq!(
        totals(&h, &h.token(Role::Admin), None, None).await.unwrap(),
        all
    );
    // The figures agree with each voucher's own.
    let a1_now = h.vouchers().store().voucher(&a1.id).await.unwrap().unwrap();
    assert_eq!((a1_now.consumed, a1_now.held), (4_000, 7_000));

    // Inclusive Seoul dates: 23:59 on 31 December and midnight on 1 April fall outside Q1.
    let mut q1 = vec![
        row(&ca, "2026-01-01", 2, 150_000, 4_500),
        row(&cb, "2026-01-01", 1, 10_000, 100),
    ];
    q1.sort();
    assert_eq!(
        totals(&h, &manager, Some("2026-01-01"), Some("2026-03-31"))
            .await
            .unwrap(),
        q1
    );
    assert_eq!(
        totals(&h, &manager, Some("2026-04-01"), None)
            .await
            .unwrap(),
        vec![row(&cb, "2026-04-01", 1, 30_000, 0)]
    );
    assert_eq!(
        totals(&h, &manager, None, Some("2025-12-31"))
            .await
            .unwrap(),
        vec![row(&ca, "2025-10-01", 1, 20_000, 2_000)]
    );
    assert_eq!(
        totals(&h, &manager, Some("2026-03-31"), Some("2026-03-31"))
            .await
            .unwrap(),
        vec![row(&ca, "2026-01-01", 1, 50_000, 500)]
    );
    assert!(
        totals(&h, &manager, Some("2027-01-01"), None)
            .await
            .unwrap()
            .is_empty()
    );

    // Kinds select pools: these vouchers are all GPU, so a storage-only question finds none.
    let by_kind = |kinds: Vec<pb::ResourceKind>| {
        let mut request = totals_request(None, None);
        request.kinds = kinds.into_iter().map(i32::from).collect();
        request
    };
    let kinds_client = h.client().await;
    let gpu = kinds_client
        .clone()
        .voucher_totals(authed(
            by_kind(vec![pb::ResourceKind::GpuH100, pb::ResourceKind::Npu]),
            &manager,
        ))
        .await
        .unwrap()
        .into_inner()
        .rows;
    assert_eq!(
        gpu.len(),
        totals(&h, &manager, None, None).await.unwrap().len()
    );
    let storage = kinds_client
        .clone()
        .voucher_totals(authed(by_kind(vec![pb::ResourceKind::Storage]), &manager))
        .await
        .unwrap()
        .into_inner()
        .rows;
    assert!(storage.is_empty());

    // Funding sources select pools too: the harness's pool is national money.
    let by_funding = |fundings: Vec<i32>| {
        let mut request = totals_request(None, None);
        request.fundings = fundings;
        request
    };
    let national = kinds_client
        .clone()
        .voucher_totals(authed(
            by_funding(vec![pb::FundingSource::National.into()]),
            &manager,
        ))
        .await
        .unwrap()
        .into_inner()
        .rows;
    assert_eq!(national, gpu);
    let city = kinds_client
        .clone()
        .voucher_totals(authed(
            by_funding(vec![
                pb::FundingSource::City.into(),
                pb::FundingSource::Private.into(),
            ]),
            &manager,
        ))
        .await
        .unwrap()
        .into_inner()
        .rows;
    assert!(city.is_empty());
    let unknown = kinds_client
        .clone()
        .voucher_totals(authed(by_funding(vec![0]), &manager))
        .await;
    assert!(
        assert_refused(unknown, ErrorCode::BadUserInput)
            .message()
            .contains("fundings")
    );

    for (from, until, field) in [
        (Some("2026-02-30"), None, "issuedFrom"),
        (None, Some("next week"), "issuedUntil"),
        (Some("2026-04-01"), Some("2026-03-31"), "issuedUntil"),
    ] {
        let refused = assert_refused(
            totals(&h, &manager, from, until).await,
            ErrorCode::BadUserInput,
        );
        assert!(refused.message().contains(field), "{}", refused.message());
    }

    // Unsuppressed per-company rows: staff only.
    for token in [a.token.clone(), h.token(Role::Dashboard), operator.clone()] {
        assert_refused(totals(&h, &token, None, None).await, ErrorCode::Forbidden);
    }
    assert_refused(
        client
            .voucher_totals(totals_request(Some("bad"), None))
            .await,
        ErrorCode::Unauthenticated,
    );
    h.stop().await;
}

on_both_backends!(voucher_totals => voucher_totals_by_company_and_quarter);

/// `sacctmgr` against the real slurmdbd `.ci/slurmdbd` starts (`SLURM_CONF` set); skipped
/// where there is none, required in CI.
fn sacctmgr(args: &[&str]) -> Option<String> {
    if std::env::var_os("SLURM_CONF").is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI runs .ci/slurmdbd: SLURM_CONF must be set"
        );
        return None;
    }
    let output = std::process::Command::new("sacctmgr")
        .args(args)
        .output()
        .expect("sacctmgr runs");
    assert!(
        output.status.success(),
        "sacctmgr {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The export loaded into a real Slurm accounting database twice, with usage in between: the
/// account limits Slurm holds equal the vouchers' granted totals both times (never the
/// remainder, which Slurm would count usage against a second time), a revoked voucher drops
/// to zero, members who gave a cluster user name are users of their company's accounts, and
/// the description is the company's Korean name.
#[tokio::test]
async fn slurm_limits_equal_the_vouchers_after_every_reload() {
    if sacctmgr(&["--version"]).is_none() {
        return;
    }
    let cluster = std::env::var("AXV_TEST_SLURM_CLUSTER").unwrap_or_else(|_| "axvtest".into());
    let h = Stack::start(TestDb::sqlite(), &["vouchers"]).await;
    let firm = h
        .firm(41)
        .sector(Sector::ArtificialIntelligence)
        .approved()
        .await;
    let user = format!("u{}", &axv_platform::ids::new_id()[24..]).to_lowercase();
    h.onboarding()
        .update_me(
            Some(&caller(&firm.user_id, Role::FirmMember)),
            None,
            Some(&user),
            None,
        )
        .await
        .unwrap();
    let (_, program) = pool_and_program(h.vouchers().store(), 10_000_000, 10_000_000).await;
    let kept = issue(h.vouchers().store(), &program, &firm.company_id, 360_000).await;
    let revoked = issue(h.vouchers().store(), &program, &firm.company_id, 120_000).await;
    let operator = h.token(Role::Operator);
    let mut client = h.client().await;
    let dir = tempfile::tempdir().unwrap();

    let limit_of = |code: &str| {
        sacctmgr(&[
            "-nP",
            "show",
            "assoc",
            &format!("cluster={cluster}"),
            &format!("account={code}"),
            "user=",
            "format=account,grptresmins",
        ])
        .unwrap()
        .trim()
        .to_owned()
    };
    for round in 0..2 {
        if round == 1 {
            // Usage metered meanwhile, and one voucher revoked.
            client
                .record_usage(authed(usage("slurm-1", &kept.code, 36_000), &operator))
                .await
                .unwrap();
            client
                .revoke_voucher(authed(
                    pb::RevokeVoucherRequest {
                        id: revoked.id.clone(),
                        note: "사업 중단".into(),
                    },
                    &h.token(Role::ProgramManager),
                ))
                .await
                .unwrap();
        }
        let file = client
            .export_slurm_accounts(authed(
                pb::ExportSlurmAccountsRequest {
                    cluster: cluster.clone(),
                },
                &operator,
            ))
            .await
            .unwrap()
            .into_inner()
            .sacctmgr_file;
        let path = dir.path().join(format!("round-{round}.cfg"));
        std::fs::write(&path, &file).unwrap();
        sacctmgr(&["-i", "load", &format!("file={}", path.display())]).unwrap();

        assert_eq!(
            limit_of(&kept.code),
            format!("{}|gres/gpu=6000", kept.code),
            "round {round}"
        );
        let revoked_limit = if round == 0 { 2_000 } else { 0 };
        assert_eq!(
            limit_of(&revoked.code),
            format!("{}|gres/gpu={revoked_limit}", revoked.code),
            "round {round}"
        );
    }
    let described = sacctmgr(&[
        "-nP",
        "show",
        "account",
        &format!("name={}", kept.code),
        "format=account,descr",
    ])
    .unwrap();
    assert_eq!(described.trim(), format!("{}|시험기업41", kept.code));
    let users = sacctmgr(&[
        "-nP",
        "show",
        "assoc",
        &format!("cluster={cluster}"),
        &format!("account={}", kept.code),
        "format=user",
    ])
    .unwrap();
    assert!(users.lines().any(|u| u == user), "{user} not in {users:?}");

    sacctmgr(&["-i", "delete", "user", &format!("name={user}")]).unwrap();
    sacctmgr(&[
        "-i",
        "delete",
        "account",
        &format!("name={},{}", kept.code, revoked.code),
    ])
    .unwrap();
    h.stop().await;
}

/// The freeze must not depend on a perfect day. On Postgres and Redis: the company-standing
/// handler fails once (a transient error), and another company's suspension is read by a
/// consumer that dies before handling it. Both vouchers still end FROZEN (the failure is
/// retried, the dead consumer's event taken over by the group's next one), and no debit is
/// accepted after either suspension committed, even before the freeze lands, because spending
/// also asks onboarding for the company's standing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspension_freezes_vouchers_through_failed_and_dead_handlers() {
    let Some(db) = axv_testkit::db::postgres().await else {
        return;
    };
    if !axv_platform::testing::redis_available().await {
        assert!(std::env::var("CI").is_err(), "CI provides Redis");
        return;
    }
    let url = axv_platform::testing::redis_test_url();
    let prefix = axv_platform::testing::unique_prefix();
    let bus = axv_platform::events::RedisStreamBus::connect(&url, &prefix)
        .await
        .unwrap()
        .with_orphan_after(Duration::from_millis(500));
    let kv = axv_platform::kv::RedisKv::connect(&url, &prefix)
        .await
        .unwrap();
    let platform = axv_platform::testing::platform_with(
        db.config.clone(),
        std::sync::Arc::new(kv),
        std::sync::Arc::new(bus),
    );
    let h = Stack::start_on(db, platform, &["vouchers"]).await;
    let operator = h.token(Role::Operator);
    let manager = caller("manager", Role::ProgramManager);
    let mut client = h.client().await;
    let (_, program) = pool_and_program(h.vouchers().store(), 1_000_000, 1_000_000).await;
    let suspend = |company: String| {
        let onboarding = h.onboarding().clone();
        let manager = manager.clone();
        async move {
            onboarding
                .transition(
                    Some(&manager),
                    &company,
                    CompanyAction::Suspend,
                    Some("감사 중"),
                )
                .await
                .unwrap();
        }
    };

    // 1. The handler fails once.
    let firm = h.firm(51).sector(Sector::Energy).approved().await;
    let voucher = issue(h.vouchers().store(), &program, &firm.company_id, 50_000).await;
    h.vouchers()
        .event_faults()
        .fail
        .store(1, std::sync::atomic::Ordering::SeqCst);
    suspend(firm.company_id.clone()).await;
    assert_refused(
        client
            .record_usage(authed(usage("after-1", &voucher.code, 10), &operator))
            .await,
        ErrorCode::FailedPrecondition,
    );
    assert!(
        wait_for_status(&h, &voucher.id, axv_vouchers::domain::VoucherStatus::Frozen).await,
        "frozen after the retried handling"
    );
    assert_eq!(
        h.vouchers()
            .event_faults()
            .fail
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the fault happened"
    );

    // 2. The consumer that reads the next suspension dies (hangs for ever, never acknowledging)
    // and another consumer of the group, in a second vouchers process, takes the event over.
    let firm = h.firm(52).sector(Sector::Energy).approved().await;
    let voucher = issue(h.vouchers().store(), &program, &firm.company_id, 50_000).await;
    h.vouchers()
        .event_faults()
        .hang
        .store(1, std::sync::atomic::Ordering::SeqCst);
    suspend(firm.company_id.clone()).await;
    for _ in 0..100 {
        if h.vouchers()
            .event_faults()
            .hang
            .load(std::sync::atomic::Ordering::SeqCst)
            == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        h.vouchers()
            .event_faults()
            .hang
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the first consumer read it"
    );
    let second = axv_vouchers::build(&h.platform, &h.url("onboarding"), &h.url("pilots"))
        .await
        .unwrap();
    let stop_second = CancellationToken::new();
    let _routes = second.start(&h.platform, stop_second.clone());
    for n in 0..3 {
        assert_refused(
            client
                .record_usage(authed(
                    usage(&format!("after-2-{n}"), &voucher.code, 10),
                    &operator,
                ))
                .await,
            ErrorCode::FailedPrecondition,
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        wait_for_status(&h, &voucher.id, axv_vouchers::domain::VoucherStatus::Frozen).await,
        "frozen by the consumer that took the event over"
    );
    let charged = h
        .vouchers()
        .store()
        .voucher(&voucher.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        charged.consumed, 0,
        "nothing was debited after the suspension"
    );
    stop_second.cancel();
    h.stop().await;
}
