//! The pilot registry over real gRPC with a real onboarding service behind it, on SQLite and
//! Postgres: a pilot's whole life, every refusal, and what each kind of caller sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axv_auth::{Caller, Role};
use axv_onboarding::domain::{CompanyAction, CompanyInput, GwangjuPresence, Sector};
use axv_platform::{
    config::Platform,
    grpc::RunningServer,
    on_both_backends,
    shutdown::CancellationToken,
    testing::{TestDb, platform},
};
use axv_proto::pilots::v1::{self as pb, pilots_service_client::PilotsServiceClient};
use tonic::{Code, Request, transport::Channel};

struct Harness {
    platform: Platform,
    onboarding: axv_onboarding::service::Onboarding,
    pilots: RunningServer,
    shutdown: CancellationToken,
    _db: TestDb,
}

fn caller(id: &str, role: Role) -> Caller {
    Caller {
        subject: id.into(),
        role,
        company_ids: vec![],
        token_id: String::new(),
        expires_at: 0,
        issuer: "t".into(),
        raw_token: Arc::from(""),
    }
}

fn business_number(seed: u32) -> String {
    const WEIGHTS: [u32; 9] = [1, 3, 7, 1, 3, 7, 1, 3, 5];
    let body = format!("{:09}", 300_000_000 + seed);
    let digits: Vec<u32> = body.chars().filter_map(|c| c.to_digit(10)).collect();
    let mut sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    sum += (digits[8] * 5) / 10;
    format!("{body}{}", (10 - sum % 10) % 10)
}

struct Firm {
    token: String,
    company_id: String,
}

impl Harness {
    async fn start(db: TestDb) -> Self {
        let platform = platform(db.config.clone());
        let shutdown = CancellationToken::new();
        let app = axv_onboarding::build(&platform).await.unwrap();
        let onboarding = app.service.clone();
        let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
        let onboarding_server = axv_platform::grpc::spawn(
            listener,
            app.start(&platform, shutdown.clone()),
            platform.verifier.clone(),
            shutdown.clone(),
        )
        .unwrap();
        let pilots_app = axv_pilots::build(&platform, &onboarding_server.url())
            .await
            .unwrap();
        let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
        let pilots = axv_platform::grpc::spawn(
            listener,
            pilots_app.start(&platform, shutdown.clone()),
            platform.verifier.clone(),
            shutdown.clone(),
        )
        .unwrap();
        Self {
            platform,
            onboarding,
            pilots,
            shutdown,
            _db: db,
        }
    }

    async fn client(&self) -> PilotsServiceClient<Channel> {
        PilotsServiceClient::new(
            Channel::from_shared(self.pilots.url())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        )
    }

    fn token(&self, role: Role) -> String {
        self.platform
            .issuer
            .issue(&axv_platform::ids::new_id(), role, vec![])
            .unwrap()
            .token
    }

    async fn firm(&self, n: u32, approve: bool) -> Firm {
        let session = self
            .onboarding
            .sign_up(
                &format!("firm{n}@pilots.kr"),
                "correct horse battery",
                "firm",
            )
            .await
            .unwrap();
        let firm = caller(&session.user.id, Role::FirmMember);
        let manager = caller("manager", Role::ProgramManager);
        let company = self
            .onboarding
            .create_company(
                Some(&firm),
                CompanyInput {
                    business_number: business_number(n),
                    name_ko: format!("실증기업{n}"),
                    name_en: None,
                    sector: Some(Sector::Mobility),
                    presence: Some(GwangjuPresence::Headquarters),
                    employees: Some(5),
                    founded_on: None,
                    contact_email: "a@b.kr".into(),
                },
            )
            .await
            .unwrap();
        let id = company.company.id;
        if approve {
            self.onboarding
                .transition(Some(&firm), &id, CompanyAction::Submit, None)
                .await
                .unwrap();
            self.onboarding
                .transition(Some(&manager), &id, CompanyAction::StartReview, None)
                .await
                .unwrap();
            self.onboarding
                .transition(Some(&manager), &id, CompanyAction::Approve, None)
                .await
                .unwrap();
        }
        Firm {
            token: session.access.token,
            company_id: id,
        }
    }
}

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    axv_auth::attach_bearer(&mut request, token).unwrap();
    request
}

fn input(lead: &str) -> pb::PilotInput {
    pb::PilotInput {
        title: "광주 첨단3지구 자율주행 셔틀 실증".into(),
        title_en: Some("Autonomous shuttle pilot".into()),
        summary: "레벨4 자율주행 셔틀의 도심 실증".into(),
        domain: pb::PilotDomain::AutonomousDriving.into(),
        lead_company_id: lead.into(),
        site: "광주 첨단3지구 자율주행 실증지구".into(),
        starts_on: "2026-03-01".into(),
        ends_on: "2027-02-28".into(),
        budget_national: 1_200_000_000,
        budget_city: 400_000_000,
        budget_private: 300_000_000,
        regulatory_sandbox: true,
        sandbox_reference: Some("규제자유특구-2025-17".into()),
    }
}

async fn act(
    client: &mut PilotsServiceClient<Channel>,
    token: &str,
    id: &str,
    action: pb::PilotAction,
    note: Option<&str>,
) -> Result<pb::Pilot, tonic::Status> {
    client
        .transition_pilot(authed(
            pb::TransitionPilotRequest {
                id: id.into(),
                action: action.into(),
                note: note.map(str::to_owned),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().pilot.unwrap())
}

async fn whole_life_and_every_refusal(db: TestDb) {
    let h = Harness::start(db).await;
    let lead = h.firm(1, true).await;
    let partner = h.firm(2, true).await;
    let stranger = h.firm(3, true).await;
    let unapproved = h.firm(4, false).await;
    let manager = h.token(Role::ProgramManager);
    let mut client = h.client().await;

    // Registration: the lead must be the caller's own APPROVED company; input is checked.
    assert_eq!(
        client
            .register_pilot(pb::RegisterPilotRequest {
                input: Some(input(&lead.company_id))
            })
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let not_approved = client
        .register_pilot(authed(
            pb::RegisterPilotRequest {
                input: Some(input(&unapproved.company_id)),
            },
            &unapproved.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(not_approved.code(), Code::FailedPrecondition);
    let not_mine = client
        .register_pilot(authed(
            pb::RegisterPilotRequest {
                input: Some(input(&lead.company_id)),
            },
            &stranger.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(not_mine.code(), Code::NotFound);
    let backwards = pb::PilotInput {
        ends_on: "2026-02-01".into(),
        ..input(&lead.company_id)
    };
    let error = client
        .register_pilot(authed(
            pb::RegisterPilotRequest {
                input: Some(backwards),
            },
            &lead.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().starts_with("endsOn"), "{}", error.message());
    let negative = pb::PilotInput {
        budget_city: -1,
        ..input(&lead.company_id)
    };
    assert_eq!(
        client
            .register_pilot(authed(
                pb::RegisterPilotRequest {
                    input: Some(negative)
                },
                &lead.token
            ))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );

    let pilot = client
        .register_pilot(authed(
            pb::RegisterPilotRequest {
                input: Some(input(&lead.company_id)),
            },
            &lead.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .pilot
        .unwrap();
    assert_eq!(pilot.status(), pb::PilotStatus::Draft);
    assert_eq!(pilot.lead_company_name_ko, "실증기업1");
    let id = pilot.id.clone();

    // The partner joins; only the lead (or a manager) may add it.
    let join = |token: &str| {
        authed(
            pb::AddParticipantRequest {
                pilot_id: id.clone(),
                company_id: partner.company_id.clone(),
                role: "Partner".into(),
            },
            token,
        )
    };
    assert_eq!(
        client
            .add_participant(join(&partner.token))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound,
        "not yet related"
    );
    let with_partner = client
        .add_participant(join(&lead.token))
        .await
        .unwrap()
        .into_inner()
        .pilot
        .unwrap();
    assert_eq!(
        with_partner
            .participants
            .iter()
            .map(|p| p.role.as_str())
            .collect::<Vec<_>>(),
        ["lead", "partner"]
    );
    assert_eq!(
        client
            .add_participant(join(&lead.token))
            .await
            .unwrap_err()
            .code(),
        Code::AlreadyExists
    );

    // Moves: the firm submits and starts; managers decide; refused moves are preconditions.
    assert_eq!(
        act(&mut client, &lead.token, &id, pb::PilotAction::Start, None)
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    act(&mut client, &lead.token, &id, pb::PilotAction::Submit, None)
        .await
        .unwrap();
    assert_eq!(
        act(
            &mut client,
            &lead.token,
            &id,
            pb::PilotAction::Approve,
            None
        )
        .await
        .unwrap_err()
        .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        act(
            &mut client,
            &partner.token,
            &id,
            pb::PilotAction::Start,
            None
        )
        .await
        .unwrap_err()
        .code(),
        Code::PermissionDenied,
        "a partner is not the lead"
    );
    assert_eq!(
        act(&mut client, &manager, &id, pb::PilotAction::Reject, None)
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument,
        "rejecting needs a note"
    );
    act(
        &mut client,
        &manager,
        &id,
        pb::PilotAction::Approve,
        Some("적합"),
    )
    .await
    .unwrap();
    let active = act(&mut client, &lead.token, &id, pb::PilotAction::Start, None)
        .await
        .unwrap();
    assert_eq!(active.status(), pb::PilotStatus::Active);

    // Milestones.
    let add = |title: &str, due: &str| {
        authed(
            pb::AddMilestoneRequest {
                pilot_id: id.clone(),
                title: title.into(),
                due_on: due.into(),
            },
            &lead.token,
        )
    };
    client
        .add_milestone(add("셔틀 5대 도입", "2026-04-30"))
        .await
        .unwrap();
    let with_two = client
        .add_milestone(add("야간 운행 실증", "2099-06-30"))
        .await
        .unwrap()
        .into_inner()
        .pilot
        .unwrap();
    assert_eq!(with_two.milestones.len(), 2);
    assert!(
        with_two.milestones[0].overdue,
        "an open milestone past its due date is overdue"
    );
    assert!(!with_two.milestones[1].overdue);
    let first = with_two.milestones[0].id.clone();
    let done = client
        .complete_milestone(authed(
            pb::CompleteMilestoneRequest {
                pilot_id: id.clone(),
                milestone_id: first.clone(),
                evidence: Some("https://evidence.example/shuttles".into()),
            },
            &lead.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .pilot
        .unwrap();
    assert!(done.milestones[0].completed_at_ms > 0 && !done.milestones[0].overdue);
    let again = client
        .complete_milestone(authed(
            pb::CompleteMilestoneRequest {
                pilot_id: id.clone(),
                milestone_id: first,
                evidence: None,
            },
            &lead.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    // Completing with an open milestone needs the manager's note.
    let open = act(&mut client, &manager, &id, pb::PilotAction::Complete, None)
        .await
        .unwrap_err();
    assert_eq!(open.code(), Code::FailedPrecondition);
    assert!(open.message().contains("1 milestone"), "{}", open.message());
    let completed = act(
        &mut client,
        &manager,
        &id,
        pb::PilotAction::Complete,
        Some("야간 실증은 2단계 사업으로 이관"),
    )
    .await
    .unwrap();
    assert_eq!(completed.status(), pb::PilotStatus::Completed);
    let steps: Vec<(String, String)> = completed
        .history
        .iter()
        .map(|h| (h.from.clone(), h.to.clone()))
        .collect();
    assert_eq!(
        steps,
        [
            ("", "DRAFT"),
            ("DRAFT", "SUBMITTED"),
            ("SUBMITTED", "APPROVED"),
            ("APPROVED", "ACTIVE"),
            ("ACTIVE", "COMPLETED")
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect::<Vec<_>>()
    );
    assert_eq!(
        completed.history[4].note.as_deref(),
        Some("야간 실증은 2단계 사업으로 이관")
    );
    assert_eq!(
        act(
            &mut client,
            &manager,
            &id,
            pb::PilotAction::Cancel,
            Some("x")
        )
        .await
        .unwrap_err()
        .code(),
        Code::FailedPrecondition
    );

    // Who sees what.
    let get = |token: Option<&str>| {
        let mut request = Request::new(pb::GetPilotRequest { id: id.clone() });
        if let Some(token) = token {
            axv_auth::attach_bearer(&mut request, token).unwrap();
        }
        let mut client = client.clone();
        async move {
            client
                .get_pilot(request)
                .await
                .map(|r| r.into_inner().pilot.unwrap())
        }
    };
    let seen_by_partner = get(Some(&partner.token)).await.unwrap();
    assert!(seen_by_partner.full_view && seen_by_partner.budget_national == 1_200_000_000);
    assert_eq!(
        seen_by_partner.milestones[0].evidence.as_deref(),
        Some("https://evidence.example/shuttles")
    );
    assert_eq!(
        get(Some(&stranger.token)).await.unwrap_err().code(),
        Code::NotFound,
        "an unrelated firm gets NOT_FOUND"
    );
    for public in [None, Some(h.token(Role::Dashboard))] {
        let seen = get(public.as_deref()).await.unwrap();
        assert!(!seen.full_view);
        assert_eq!(
            (
                seen.title.as_str(),
                seen.site.as_str(),
                seen.lead_company_name_ko.as_str(),
                seen.lead_company_sector.as_str()
            ),
            (
                "광주 첨단3지구 자율주행 셔틀 실증",
                "광주 첨단3지구 자율주행 실증지구",
                "실증기업1",
                "MOBILITY"
            )
        );
        assert_eq!(
            (seen.budget_national, seen.budget_city, seen.budget_private),
            (0, 0, 0)
        );
        assert!(
            seen.participants.is_empty()
                && seen.milestones.is_empty()
                && seen.history.is_empty()
                && seen.summary.is_empty()
        );
    }
    let listed = client
        .list_pilots(authed(pb::ListPilotsRequest::default(), &stranger.token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_count, 0);
    let by_partner = client
        .list_company_pilots(authed(
            pb::ListCompanyPilotsRequest {
                company_ids: vec![partner.company_id.clone()],
                per_company: 10,
            },
            &partner.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_partner.companies[0].pilots.len(), 1);
    h.shutdown.cancel();
}

async fn search_and_the_public_registry(db: TestDb) {
    let h = Harness::start(db).await;
    let lead = h.firm(10, true).await;
    let manager = h.token(Role::ProgramManager);
    let mut client = h.client().await;
    let mut ids = Vec::new();
    for (n, (domain, site, starts, ends)) in [
        (
            pb::PilotDomain::Healthcare,
            "광주 AI 특화 병원",
            "2026-01-01",
            "2026-06-30",
        ),
        (
            pb::PilotDomain::Energy,
            "광주 에너지밸리",
            "2026-05-01",
            "2026-12-31",
        ),
        (
            pb::PilotDomain::Healthcare,
            "전남대병원",
            "2027-01-01",
            "2027-12-31",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut i = input(&lead.company_id);
        i.title = format!("실증 과제 {n}");
        i.domain = domain.into();
        i.site = site.into();
        i.starts_on = starts.into();
        i.ends_on = ends.into();
        ids.push(
            client
                .register_pilot(authed(
                    pb::RegisterPilotRequest { input: Some(i) },
                    &lead.token,
                ))
                .await
                .unwrap()
                .into_inner()
                .pilot
                .unwrap()
                .id,
        );
    }
    let find = |filter: pb::PilotFilter| {
        let mut client = client.clone();
        let manager = manager.clone();
        async move {
            let page = client
                .list_pilots(authed(
                    pb::ListPilotsRequest {
                        filter: Some(filter),
                        page_size: 10,
                        page_token: String::new(),
                    },
                    &manager,
                ))
                .await
                .unwrap()
                .into_inner();
            page.pilots.into_iter().map(|p| p.title).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        find(pb::PilotFilter {
            domains: vec![pb::PilotDomain::Healthcare.into()],
            ..Default::default()
        })
        .await,
        ["실증 과제 0", "실증 과제 2"]
    );
    assert_eq!(
        find(pb::PilotFilter {
            site: Some("에너지".into()),
            ..Default::default()
        })
        .await,
        ["실증 과제 1"]
    );
    assert_eq!(
        find(pb::PilotFilter {
            active_from: Some("2026-06-01".into()),
            active_until: Some("2026-07-31".into()),
            ..Default::default()
        })
        .await,
        ["실증 과제 0", "실증 과제 1"]
    );
    assert_eq!(
        find(pb::PilotFilter {
            text: Some("과제 2".into()),
            ..Default::default()
        })
        .await,
        ["실증 과제 2"]
    );
    assert_eq!(
        find(pb::PilotFilter {
            company_id: Some(lead.company_id.clone()),
            ..Default::default()
        })
        .await
        .len(),
        3
    );

    // The public registry lists approved pilots only, never drafts.
    let public = client
        .list_pilots(pb::ListPilotsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(public.total_count, 0);
    act(
        &mut client,
        &lead.token,
        &ids[1],
        pb::PilotAction::Submit,
        None,
    )
    .await
    .unwrap();
    act(
        &mut client,
        &manager,
        &ids[1],
        pb::PilotAction::Approve,
        None,
    )
    .await
    .unwrap();
    let public = client
        .list_pilots(pb::ListPilotsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        public
            .pilots
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        [ids[1].as_str()]
    );
    assert!(!public.pilots[0].full_view);
    // Batch get: public callers get public pilots only, others are absent.
    let batch = client
        .batch_get_pilots(pb::BatchGetPilotsRequest { ids: ids.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.pilots.len(), 1);
    h.shutdown.cancel();
}

on_both_backends!(
    whole_life => whole_life_and_every_refusal,
    search => search_and_the_public_registry,
);
