//! The pilot registry over real gRPC with a real onboarding service behind it, on SQLite and
//! Postgres: a pilot's whole life, every refusal, and what each kind of caller sees.

use axv_auth::Role;
use axv_onboarding::domain::Sector;
use axv_platform::ErrorCode;
use axv_proto::common::v1 as common_pb;
use axv_proto::pilots::v1::{self as pb, pilots_service_client::PilotsServiceClient};
use axv_testkit::{Firm, Stack, TestDb, assert_refused, authed, on_both_backends};
use tonic::{Code, Request, transport::Channel};

async fn client(h: &Stack) -> PilotsServiceClient<Channel> {
    PilotsServiceClient::new(h.channel("pilots").await)
}

fn input(lead: &str) -> pb::PilotInput {
    pb::PilotInput {
        title: "광주 첨단3지구 자율주행 셔틀 실증".into(),
        title_en: Some("Autonomous shuttle pilot".into()),
        summary: "레벨4 자율주행 셔틀의 도심 실증".into(),
        domain: common_pb::PilotDomain::AutonomousDriving.into(),
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
    let h = Stack::start(db, &["pilots"]).await;
    let lead = h.firm(1).sector(Sector::Mobility).approved().await;
    let partner = h.firm(2).sector(Sector::Mobility).approved().await;
    let stranger = h.firm(3).sector(Sector::Mobility).approved().await;
    let unapproved = h.firm(4).sector(Sector::Mobility).draft().await;
    let manager = h.token(Role::ProgramManager);
    let mut client = client(&h).await;

    // Registration: the lead must be the caller's own APPROVED company; input is checked.
    assert_refused(
        client
            .register_pilot(pb::RegisterPilotRequest {
                input: Some(input(&lead.company_id)),
            })
            .await,
        ErrorCode::Unauthenticated,
    );
    assert_refused(
        client
            .register_pilot(authed(
                pb::RegisterPilotRequest {
                    input: Some(input(&unapproved.company_id)),
                },
                &unapproved.token,
            ))
            .await,
        ErrorCode::FailedPrecondition,
    );
    assert_refused(
        client
            .register_pilot(authed(
                pb::RegisterPilotRequest {
                    input: Some(input(&lead.company_id)),
                },
                &stranger.token,
            ))
            .await,
        ErrorCode::NotFound,
    );
    let backwards = pb::PilotInput {
        ends_on: "2026-02-01".into(),
        ..input(&lead.company_id)
    };
    let error = assert_refused(
        client
            .register_pilot(authed(
                pb::RegisterPilotRequest {
                    input: Some(backwards),
                },
                &lead.token,
            ))
            .await,
        ErrorCode::BadUserInput,
    );
    assert!(error.message().starts_with("endsOn"), "{}", error.message());
    let negative = pb::PilotInput {
        budget_city: -1,
        ..input(&lead.company_id)
    };
    assert_refused(
        client
            .register_pilot(authed(
                pb::RegisterPilotRequest {
                    input: Some(negative),
                },
                &lead.token,
            ))
            .await,
        ErrorCode::BadUserInput,
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
    assert_eq!(pilot.lead_company_name_ko, "시험기업1");
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
    assert_refused(
        client.add_participant(join(&partner.token)).await,
        ErrorCode::NotFound,
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
    assert_refused(
        client.add_participant(join(&lead.token)).await,
        ErrorCode::Conflict,
    );

    // The partner is invited, not enrolled: it sees the pilot to decide, but does not take part
    // (its list of pilots stays empty) until one of its members accepts.
    let partner_state = |pilot: &pb::Pilot| {
        pilot
            .participants
            .iter()
            .find(|p| p.company_id == partner.company_id)
            .map(|p| p.state())
    };
    assert_eq!(
        partner_state(&with_partner),
        Some(pb::ParticipantState::Invited)
    );
    let partners_pilots = |client: &mut PilotsServiceClient<Channel>| {
        let mut client = client.clone();
        let request = authed(
            pb::ListCompanyPilotsRequest {
                company_ids: vec![partner.company_id.clone()],
                per_company: 10,
            },
            &partner.token,
        );
        async move {
            client
                .list_company_pilots(request)
                .await
                .unwrap()
                .into_inner()
                .companies
                .first()
                .map_or(0, |c| c.pilots.len())
        }
    };
    assert_eq!(
        partners_pilots(&mut client).await,
        0,
        "invited is not taking part"
    );
    let reader = client.clone();
    let seen = |token: &str| {
        let mut client = reader.clone();
        let request = authed(pb::GetPilotRequest { id: id.clone() }, token);
        async move {
            client
                .get_pilot(request)
                .await
                .map(|r| r.into_inner().pilot.unwrap())
        }
    };
    let invited_view = seen(&partner.token).await.unwrap();
    assert!(
        invited_view.full_view,
        "the invited company reads what it is asked to join"
    );
    let answer = |company: &str, accept: bool, token: &str| {
        authed(
            pb::AnswerInvitationRequest {
                pilot_id: id.clone(),
                company_id: company.to_owned(),
                accept,
                note: None,
            },
            token,
        )
    };
    // Only the invited company's own members answer: the lead may not accept for it, a stranger
    // learns nothing, a manager is refused (the consent is the company's).
    for (token, company, expected) in [
        (&lead.token, &partner.company_id, Code::NotFound),
        (&lead.token, &lead.company_id, Code::NotFound),
        (&stranger.token, &partner.company_id, Code::NotFound),
        (&manager, &partner.company_id, Code::PermissionDenied),
    ] {
        let refused = client
            .answer_invitation(answer(company, true, token))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), expected, "{}", refused.message());
    }
    // Declined, then invited again, then accepted; an answer given stands.
    let declined = client
        .answer_invitation(authed(
            pb::AnswerInvitationRequest {
                pilot_id: id.clone(),
                company_id: partner.company_id.clone(),
                accept: false,
                note: Some("내부 검토 중".into()),
            },
            &partner.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .pilot;
    assert_eq!(
        declined.as_ref().and_then(partner_state),
        Some(pb::ParticipantState::Declined)
    );
    assert_refused(seen(&partner.token).await, ErrorCode::NotFound);
    assert_refused(
        client
            .answer_invitation(answer(&partner.company_id, true, &partner.token))
            .await,
        ErrorCode::NotFound,
    );
    let reinvited = client
        .add_participant(join(&lead.token))
        .await
        .unwrap()
        .into_inner()
        .pilot
        .unwrap();
    assert_eq!(
        partner_state(&reinvited),
        Some(pb::ParticipantState::Invited)
    );
    let accepted = client
        .answer_invitation(answer(&partner.company_id, true, &partner.token))
        .await
        .unwrap()
        .into_inner()
        .pilot
        .unwrap();
    assert_eq!(
        partner_state(&accepted),
        Some(pb::ParticipantState::Accepted)
    );
    assert_eq!(partners_pilots(&mut client).await, 1);
    assert_refused(
        client
            .answer_invitation(answer(&partner.company_id, false, &partner.token))
            .await,
        ErrorCode::FailedPrecondition,
    );
    // A company the public does not see answers a firm exactly as no company at all: no
    // oracle of its existence or state. A manager is told why.
    let draft = &unapproved;
    let add = |company: &str, token: &str| {
        authed(
            pb::AddParticipantRequest {
                pilot_id: id.clone(),
                company_id: company.to_owned(),
                role: "partner".into(),
            },
            token,
        )
    };
    let hidden = client
        .add_participant(add(&draft.company_id, &lead.token))
        .await
        .unwrap_err();
    let missing = client
        .add_participant(add(&axv_platform::ids::new_id(), &lead.token))
        .await
        .unwrap_err();
    assert_eq!(
        (hidden.code(), hidden.message()),
        (Code::NotFound, missing.message())
    );
    assert_eq!(missing.code(), Code::NotFound);
    let told = assert_refused(
        client
            .add_participant(add(&draft.company_id, &manager))
            .await,
        ErrorCode::FailedPrecondition,
    );
    assert!(told.message().contains("DRAFT"), "{}", told.message());

    // Moves: the firm submits and starts; managers decide; refused moves are preconditions.
    assert_refused(
        act(&mut client, &lead.token, &id, pb::PilotAction::Start, None).await,
        ErrorCode::FailedPrecondition,
    );
    act(&mut client, &lead.token, &id, pb::PilotAction::Submit, None)
        .await
        .unwrap();
    assert_refused(
        act(
            &mut client,
            &lead.token,
            &id,
            pb::PilotAction::Approve,
            None,
        )
        .await,
        ErrorCode::Forbidden,
    );
    assert_refused(
        act(
            &mut client,
            &partner.token,
            &id,
            pb::PilotAction::Start,
            None,
        )
        .await,
        ErrorCode::Forbidden,
    );
    assert_refused(
        act(&mut client, &manager, &id, pb::PilotAction::Reject, None).await,
        ErrorCode::BadUserInput,
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
    assert_refused(
        client
            .complete_milestone(authed(
                pb::CompleteMilestoneRequest {
                    pilot_id: id.clone(),
                    milestone_id: first,
                    evidence: None,
                },
                &lead.token,
            ))
            .await,
        ErrorCode::FailedPrecondition,
    );

    // Completing with an open milestone needs the manager's note.
    let open = assert_refused(
        act(&mut client, &manager, &id, pb::PilotAction::Complete, None).await,
        ErrorCode::FailedPrecondition,
    );
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
    assert_refused(
        act(
            &mut client,
            &manager,
            &id,
            pb::PilotAction::Cancel,
            Some("x"),
        )
        .await,
        ErrorCode::FailedPrecondition,
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
    assert_refused(get(Some(&stranger.token)).await, ErrorCode::NotFound);
    for public in [None, Some(h.token(Role::Dashboard))] {
        let seen = get(public.as_deref()).await.unwrap();
        assert!(!seen.full_view);
        assert_eq!(
            (
                seen.title.as_str(),
                seen.site.as_str(),
                seen.lead_company_name_ko.as_str(),
                seen.lead_company_sector
            ),
            (
                "광주 첨단3지구 자율주행 셔틀 실증",
                "광주 첨단3지구 자율주행 실증지구",
                "시험기업1",
                common_pb::Sector::Mobility as i32
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
    let h = Stack::start(db, &["pilots"]).await;
    let lead = h.firm(10).sector(Sector::Mobility).approved().await;
    let manager = h.token(Role::ProgramManager);
    let mut client = client(&h).await;
    let mut ids = Vec::new();
    for (n, (domain, site, starts, ends)) in [
        (
            common_pb::PilotDomain::Healthcare,
            "광주 AI 특화 병원",
            "2026-01-01",
            "2026-06-30",
        ),
        (
            common_pb::PilotDomain::Energy,
            "광주 에너지밸리",
            "2026-05-01",
            "2026-12-31",
        ),
        (
            common_pb::PilotDomain::Healthcare,
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
            domains: vec![common_pb::PilotDomain::Healthcare.into()],
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

/// Headcounts name no pilot: anyone may ask, anonymous included; only pilots the programme
/// took on count, by the lead's sector, domain and period.
async fn public_headcounts(db: TestDb) {
    use common_pb::{PilotDomain as D, Sector as S};
    use pb::PilotAction as A;
    let h = Stack::start(db, &["pilots"]).await;
    let mobility = h.firm(20).sector(Sector::Mobility).approved().await;
    let health = h.firm(21).sector(Sector::Healthcare).approved().await;
    let manager = h.token(Role::ProgramManager);
    let mut client = client(&h).await;
    let approve: &[A] = &[A::Submit, A::Approve];
    let start: &[A] = &[A::Submit, A::Approve, A::Start];
    let journeys: [(&Firm, D, &str, &str, &[A]); 9] = [
        (
            &mobility,
            D::AutonomousDriving,
            "2026-01-01",
            "2026-06-30",
            start,
        ),
        (&mobility, D::Traffic, "2026-05-01", "2026-12-31", approve),
        (
            &mobility,
            D::AutonomousDriving,
            "2027-01-01",
            "2027-12-31",
            &[A::Submit, A::Approve, A::Start, A::Complete],
        ),
        (
            &health,
            D::Healthcare,
            "2026-03-01",
            "2026-09-30",
            &[A::Submit, A::Approve, A::Start, A::Suspend],
        ),
        (&health, D::Healthcare, "2026-01-01", "2026-12-31", start),
        // Never taken on: a draft, one in review, a rejected and a cancelled one.
        (
            &mobility,
            D::AutonomousDriving,
            "2026-01-01",
            "2026-12-31",
            &[],
        ),
        (
            &mobility,
            D::Traffic,
            "2026-01-01",
            "2026-12-31",
            &[A::Submit],
        ),
        (
            &health,
            D::Healthcare,
            "2026-01-01",
            "2026-12-31",
            &[A::Submit, A::Reject],
        ),
        (
            &health,
            D::Healthcare,
            "2026-01-01",
            "2026-12-31",
            &[A::Submit, A::Approve, A::Cancel],
        ),
    ];
    for (n, (lead, domain, starts, ends, actions)) in journeys.into_iter().enumerate() {
        let mut i = input(&lead.company_id);
        i.title = format!("집계 과제 {n}");
        i.domain = domain.into();
        i.starts_on = starts.into();
        i.ends_on = ends.into();
        let id = client
            .register_pilot(authed(
                pb::RegisterPilotRequest { input: Some(i) },
                &lead.token,
            ))
            .await
            .unwrap()
            .into_inner()
            .pilot
            .unwrap()
            .id;
        for action in actions {
            let token = if matches!(action, A::Submit | A::Start) {
                &lead.token
            } else {
                &manager
            };
            act(&mut client, token, &id, *action, Some("사유"))
                .await
                .unwrap();
        }
    }

    let count = |request: pb::CountPilotsRequest, token: Option<String>| {
        let mut client = client.clone();
        async move {
            let request = match &token {
                Some(token) => authed(request, token),
                None => Request::new(request),
            };
            client.count_pilots(request).await.map(|r| {
                let r = r.into_inner();
                (r.pilots, r.active)
            })
        }
    };
    let sectors = |values: &[i32]| pb::CountPilotsRequest {
        lead_sectors: values.to_vec(),
        ..Default::default()
    };
    let period = |from: Option<&str>, until: Option<&str>| pb::CountPilotsRequest {
        active_from: from.map(str::to_owned),
        active_until: until.map(str::to_owned),
        ..Default::default()
    };
    for token in [
        None,
        Some(h.token(Role::Dashboard)),
        Some(mobility.token.clone()),
        Some(manager.clone()),
    ] {
        assert_eq!(
            count(pb::CountPilotsRequest::default(), token)
                .await
                .unwrap(),
            (5, 2)
        );
    }
    assert_eq!(
        count(sectors(&[S::Mobility as i32]), None).await.unwrap(),
        (3, 1)
    );
    assert_eq!(
        count(sectors(&[S::Healthcare as i32]), None).await.unwrap(),
        (2, 1)
    );
    assert_eq!(
        count(sectors(&[S::Mobility as i32, S::Healthcare as i32]), None)
            .await
            .unwrap(),
        (5, 2)
    );
    assert_eq!(
        count(sectors(&[S::Energy as i32]), None).await.unwrap(),
        (0, 0)
    );
    let domains = |domains: &[D]| pb::CountPilotsRequest {
        domains: domains.iter().map(|d| i32::from(*d)).collect(),
        ..Default::default()
    };
    assert_eq!(
        count(domains(&[D::AutonomousDriving]), None).await.unwrap(),
        (2, 1)
    );
    assert_eq!(
        count(domains(&[D::Traffic, D::Healthcare]), None)
            .await
            .unwrap(),
        (3, 1)
    );
    assert_eq!(
        count(
            pb::CountPilotsRequest {
                domains: vec![D::Healthcare.into()],
                ..sectors(&[S::Mobility as i32])
            },
            None
        )
        .await
        .unwrap(),
        (0, 0)
    );
    // Overlap with the period, as in ListPilots' filter.
    assert_eq!(
        count(period(Some("2026-07-01"), Some("2026-08-31")), None)
            .await
            .unwrap(),
        (3, 1)
    );
    assert_eq!(
        count(period(None, Some("2026-02-28")), None).await.unwrap(),
        (2, 2)
    );
    assert_eq!(
        count(period(Some("2027-01-01"), None), None).await.unwrap(),
        (1, 0)
    );
    assert_eq!(
        count(period(Some(""), None), None).await.unwrap(),
        (5, 2),
        "an empty date is no bound"
    );

    // Named leads: staff only, since it tells what one company leads.
    let led_by = |companies: &[&str]| pb::CountPilotsRequest {
        lead_company_ids: companies.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    };
    assert_eq!(
        count(led_by(&[&mobility.company_id]), Some(manager.clone()))
            .await
            .unwrap(),
        (3, 1)
    );
    for token in [
        None,
        Some(h.token(Role::Dashboard)),
        Some(mobility.token.clone()),
    ] {
        assert_refused(
            count(led_by(&[&health.company_id]), token).await,
            ErrorCode::Forbidden,
        );
    }

    // Bad input is INVALID_ARGUMENT naming the field.
    for (request, field) in [
        (period(Some("2026-13-01"), None), "activeFrom"),
        (period(None, Some("soon")), "activeUntil"),
        (sectors(&[99]), "leadSectors"),
        (sectors(&[S::Unspecified as i32]), "leadSectors"),
        (domains(&[D::Unspecified]), "domains"),
        (
            pb::CountPilotsRequest {
                domains: vec![99],
                ..Default::default()
            },
            "domains",
        ),
    ] {
        let error = assert_refused(count(request, None).await, ErrorCode::BadUserInput);
        assert!(error.message().contains(field), "{}", error.message());
    }
    h.shutdown.cancel();
}

/// Every pilot event carries what a consumer needs to keep its own schedule of the pilot.
async fn events_carry_the_pilot_schedule(db: TestDb) {
    use futures::StreamExt;
    let h = Stack::start(db, &["pilots"]).await;
    let mut events = h.platform.bus.subscribe();
    let lead = h.firm(30).sector(Sector::Healthcare).approved().await;
    let manager = h.token(Role::ProgramManager);
    let mut client = client(&h).await;
    let mut i = input(&lead.company_id);
    i.title = "AI 응급의료 실증".into();
    i.domain = common_pb::PilotDomain::Healthcare.into();
    i.starts_on = "2026-04-01".into();
    i.ends_on = "2026-11-30".into();
    let id = client
        .register_pilot(authed(
            pb::RegisterPilotRequest { input: Some(i) },
            &lead.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .pilot
        .unwrap()
        .id;
    for (token, action) in [
        (&lead.token, pb::PilotAction::Submit),
        (&manager, pb::PilotAction::Approve),
        (&lead.token, pb::PilotAction::Start),
    ] {
        act(&mut client, token, &id, action, None).await.unwrap();
    }

    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < 4 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await
            .expect("the relay publishes every pilot event")
            .unwrap();
        if event.source != "pilots" || event.subject_id != id {
            continue;
        }
        let p = &event.payload;
        let kind = event.kind.as_str();
        assert_eq!(p["leadCompanyId"], lead.company_id.as_str(), "{kind}");
        assert_eq!(p["sector"], "HEALTHCARE", "{kind}");
        assert_eq!(p["startsOn"], "2026-04-01", "{kind}");
        assert_eq!(p["endsOn"], "2026-11-30", "{kind}");
        assert_eq!(p["title"], "AI 응급의료 실증", "{kind}");
        assert_eq!(p["domain"], "HEALTHCARE", "{kind}");
        seen.insert(event.kind.clone(), (p["from"].clone(), p["to"].clone()));
    }
    let json = serde_json::Value::from;
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            (
                "pilot.approved".to_owned(),
                (json("SUBMITTED"), json("APPROVED"))
            ),
            (
                "pilot.registered".to_owned(),
                (serde_json::Value::Null, json("DRAFT"))
            ),
            (
                "pilot.started".to_owned(),
                (json("APPROVED"), json("ACTIVE"))
            ),
            (
                "pilot.submitted".to_owned(),
                (json("DRAFT"), json("SUBMITTED"))
            ),
        ]
    );
    h.shutdown.cancel();
}

on_both_backends!(
    whole_life => whole_life_and_every_refusal,
    search => search_and_the_public_registry,
    headcounts => public_headcounts,
    events => events_carry_the_pilot_schedule,
);
