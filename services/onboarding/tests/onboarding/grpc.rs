//! Onboarding over real gRPC on a free port, on SQLite and on Postgres: the journeys, every
//! authorization refusal, tokens, and the standard health and reflection services.

use std::time::Duration;

use axv_auth::{Role, SigningKey, TokenIssuer};

use axv_platform::ErrorCode;
use axv_platform::testing::{TEST_AUDIENCE, TEST_ISSUER};
use axv_proto::common::v1 as common_pb;
use axv_proto::onboarding::v1::{self as pb, onboarding_service_client::OnboardingServiceClient};
use axv_testkit::{Stack, TestDb, assert_refused, authed, business_number, on_both_backends};
use tonic::{Code, Request, transport::Channel};

/// What these tests ask of a stack beyond the test kit's.
trait OnboardingStack {
    async fn client(&self) -> OnboardingServiceClient<Channel>;
    /// A firm member signed up over gRPC: (access token, the whole answer).
    async fn sign_up(&self, email: &str) -> (String, pb::SignUpResponse);
}

impl OnboardingStack for Stack {
    async fn client(&self) -> OnboardingServiceClient<Channel> {
        OnboardingServiceClient::new(self.channel("onboarding").await)
    }

    async fn sign_up(&self, email: &str) -> (String, pb::SignUpResponse) {
        let response = self
            .client()
            .await
            .sign_up(pb::SignUpRequest {
                email: email.into(),
                password: "correct horse battery".into(),
                name: "김광주".into(),
            })
            .await
            .unwrap()
            .into_inner();
        (response.tokens.clone().unwrap().access_token, response)
    }
}

fn company_input(business_number: &str, name_ko: &str) -> pb::CompanyInput {
    pb::CompanyInput {
        business_number: business_number.into(),
        name_ko: name_ko.into(),
        name_en: Some("Gwangju Vision".into()),
        sector: common_pb::Sector::ArtificialIntelligence.into(),
        presence: pb::GwangjuPresence::Headquarters.into(),
        employees: Some(42),
        founded_on: Some("2019-05-01".into()),
        contact_email: "contact@gjvision.kr".into(),
    }
}

async fn create_company(
    h: &Stack,
    token: &str,
    business_number: &str,
    name_ko: &str,
) -> pb::Company {
    h.client()
        .await
        .create_company(authed(
            pb::CreateCompanyRequest {
                input: Some(company_input(business_number, name_ko)),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .company
        .unwrap()
}

async fn transition(
    h: &Stack,
    token: &str,
    id: &str,
    action: pb::CompanyAction,
    note: Option<&str>,
) -> Result<pb::Company, tonic::Status> {
    h.client()
        .await
        .transition_company(authed(
            pb::TransitionCompanyRequest {
                id: id.into(),
                action: action.into(),
                note: note.map(str::to_owned),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().company.unwrap())
}

fn statuses(company: &pb::Company) -> Vec<(String, String)> {
    company
        .history
        .iter()
        .map(|h| (h.from.clone(), h.to.clone()))
        .collect()
}

/// The whole review journey; returns what a backend-independent comparison needs.
async fn review_journey(db: TestDb) {
    let h = Stack::start(db, &["onboarding"]).await;
    let (firm, _) = h.sign_up("ceo@gjvision.kr").await;
    let manager = h.token(Role::ProgramManager);

    let company = create_company(&h, &firm, "124-81-00998", "광주비전").await;
    assert_eq!(company.status(), pb::CompanyStatus::Draft);
    assert_eq!(company.business_number.as_deref(), Some("1248100998"));

    let submitted = transition(&h, &firm, &company.id, pb::CompanyAction::Submit, None)
        .await
        .unwrap();
    assert_eq!(submitted.status(), pb::CompanyStatus::Submitted);
    transition(
        &h,
        &manager,
        &company.id,
        pb::CompanyAction::StartReview,
        None,
    )
    .await
    .unwrap();
    let changes = transition(
        &h,
        &manager,
        &company.id,
        pb::CompanyAction::RequestChanges,
        Some("사업장 주소를 보완해 주세요"),
    )
    .await
    .unwrap();
    assert_eq!(changes.status(), pb::CompanyStatus::ChangesRequested);

    let mut input = company_input("124-81-00998", "광주비전 주식회사");
    input.employees = Some(45);
    let updated = h
        .client()
        .await
        .update_company(authed(
            pb::UpdateCompanyRequest {
                id: company.id.clone(),
                input: Some(input),
            },
            &firm,
        ))
        .await
        .unwrap()
        .into_inner()
        .company
        .unwrap();
    assert_eq!(updated.name_ko, "광주비전 주식회사");

    transition(&h, &firm, &company.id, pb::CompanyAction::Submit, None)
        .await
        .unwrap();
    transition(
        &h,
        &manager,
        &company.id,
        pb::CompanyAction::StartReview,
        None,
    )
    .await
    .unwrap();
    let approved = transition(
        &h,
        &manager,
        &company.id,
        pb::CompanyAction::Approve,
        Some("적격"),
    )
    .await
    .unwrap();
    assert_eq!(approved.status(), pb::CompanyStatus::Approved);

    // An approved application can no longer be edited.
    assert_refused(
        h.client()
            .await
            .update_company(authed(
                pb::UpdateCompanyRequest {
                    id: company.id.clone(),
                    input: Some(company_input("124-81-00998", "x")),
                },
                &firm,
            ))
            .await,
        ErrorCode::FailedPrecondition,
    );

    let seen = h
        .client()
        .await
        .get_company(authed(
            pb::GetCompanyRequest {
                id: company.id.clone(),
            },
            &firm,
        ))
        .await
        .unwrap()
        .into_inner()
        .company
        .unwrap();
    let expected: Vec<(String, String)> = [
        ("", "DRAFT"),
        ("DRAFT", "SUBMITTED"),
        ("SUBMITTED", "UNDER_REVIEW"),
        ("UNDER_REVIEW", "CHANGES_REQUESTED"),
        ("CHANGES_REQUESTED", "SUBMITTED"),
        ("SUBMITTED", "UNDER_REVIEW"),
        ("UNDER_REVIEW", "APPROVED"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(statuses(&seen), expected);
    assert_eq!(
        seen.history[3].note.as_deref(),
        Some("사업장 주소를 보완해 주세요")
    );
    h.stop().await;
}

async fn refused_transitions_are_failed_precondition(db: TestDb) {
    let h = Stack::start(db, &["onboarding"]).await;
    let (firm, _) = h.sign_up("a@firm.kr").await;
    let manager = h.token(Role::ProgramManager);
    let company = create_company(&h, &firm, "220-81-62517", "빛고을로보틱스").await;
    // Approving a draft skips the review.
    assert_refused(
        transition(&h, &manager, &company.id, pb::CompanyAction::Approve, None).await,
        ErrorCode::FailedPrecondition,
    );
    // Rejecting needs a note.
    transition(&h, &firm, &company.id, pb::CompanyAction::Submit, None)
        .await
        .unwrap();
    transition(
        &h,
        &manager,
        &company.id,
        pb::CompanyAction::StartReview,
        None,
    )
    .await
    .unwrap();
    assert_refused(
        transition(&h, &manager, &company.id, pb::CompanyAction::Reject, None).await,
        ErrorCode::BadUserInput,
    );
    // A refused move changes nothing.
    let company = h
        .client()
        .await
        .get_company(authed(
            pb::GetCompanyRequest {
                id: company.id.clone(),
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner()
        .company
        .unwrap();
    assert_eq!(company.status(), pb::CompanyStatus::UnderReview);
    assert_eq!(company.history.len(), 3);
    h.stop().await;
}

async fn authorization_refusals(db: TestDb) {
    let h = Stack::start(db, &["onboarding"]).await;
    let (firm_a, _) = h.sign_up("a@firm.kr").await;
    let (firm_b, _) = h.sign_up("b@firm.kr").await;
    let company = create_company(&h, &firm_a, "124-81-00998", "에이회사").await;

    // Another firm: NOT_FOUND, exactly as for an id that does not exist.
    let mut client = h.client().await;
    let other = assert_refused(
        client
            .get_company(authed(
                pb::GetCompanyRequest {
                    id: company.id.clone(),
                },
                &firm_b,
            ))
            .await,
        ErrorCode::NotFound,
    );
    let missing = assert_refused(
        client
            .get_company(authed(
                pb::GetCompanyRequest {
                    id: axv_platform::ids::new_id(),
                },
                &firm_b,
            ))
            .await,
        ErrorCode::NotFound,
    );
    assert_eq!(other.message(), missing.message());
    assert_refused(
        client
            .update_company(authed(
                pb::UpdateCompanyRequest {
                    id: company.id.clone(),
                    input: Some(company_input("124-81-00998", "탈취")),
                },
                &firm_b,
            ))
            .await,
        ErrorCode::NotFound,
    );
    assert_refused(
        transition(&h, &firm_b, &company.id, pb::CompanyAction::Submit, None).await,
        ErrorCode::NotFound,
    );
    assert_refused(
        client
            .add_company_member(authed(
                pb::AddCompanyMemberRequest {
                    company_id: company.id.clone(),
                    email: "b@firm.kr".into(),
                },
                &firm_b,
            ))
            .await,
        ErrorCode::NotFound,
    );
    let listed = client
        .list_companies(authed(pb::ListCompaniesRequest::default(), &firm_b))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_count, 0);
    let batch = client
        .batch_get_companies(authed(
            pb::BatchGetCompaniesRequest {
                ids: vec![company.id.clone()],
            },
            &firm_b,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(batch.companies.is_empty());

    // The firm's own member may not review its own application: FORBIDDEN.
    transition(&h, &firm_a, &company.id, pb::CompanyAction::Submit, None)
        .await
        .unwrap();
    assert_refused(
        transition(
            &h,
            &firm_a,
            &company.id,
            pb::CompanyAction::StartReview,
            None,
        )
        .await,
        ErrorCode::Forbidden,
    );
    // Nor may a dashboard or an operator.
    for role in [Role::Dashboard, Role::Operator] {
        let token = h.token(role);
        assert_refused(
            transition(
                &h,
                &token,
                &company.id,
                pb::CompanyAction::StartReview,
                None,
            )
            .await,
            ErrorCode::NotFound,
        );
    }

    // No token where one is needed.
    assert_refused(
        client
            .create_company(pb::CreateCompanyRequest {
                input: Some(company_input("220-81-62517", "익명")),
            })
            .await,
        ErrorCode::Unauthenticated,
    );
    assert_refused(
        client.get_me(pb::GetMeRequest {}).await,
        ErrorCode::Unauthenticated,
    );

    // Forged: signed by a key the platform never had.
    let forger = TokenIssuer::new(
        SigningKey::generate(),
        TEST_ISSUER,
        TEST_AUDIENCE,
        Duration::from_secs(900),
    );
    let forged = forger.issue("someone", Role::Admin, vec![]).unwrap().token;
    assert_refused(
        client.get_me(authed(pb::GetMeRequest {}, &forged)).await,
        ErrorCode::Unauthenticated,
    );
    // Tampered: the firm's own token with its payload edited.
    let mut parts: Vec<String> = firm_a.split('.').map(str::to_owned).collect();
    parts[1] = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(engine.decode(&parts[1]).unwrap()).unwrap();
        engine.encode(payload.replace("FIRM_MEMBER", "ADMIN"))
    };
    assert_refused(
        client
            .get_me(authed(pb::GetMeRequest {}, &parts.join(".")))
            .await,
        ErrorCode::Unauthenticated,
    );
    // Expired: signed by the platform's own key, but an hour past its exp.
    let now = chrono::Utc::now().timestamp();
    let expired = h
        .platform
        .issuer
        .sign(&axv_auth::Claims {
            sub: "someone".into(),
            role: Role::Admin,
            companies: vec![],
            iss: TEST_ISSUER.into(),
            aud: TEST_AUDIENCE.into(),
            exp: now - 3600,
            iat: now - 7200,
            nbf: now - 7200,
            jti: axv_platform::ids::new_id(),
        })
        .unwrap();
    assert_refused(
        client.get_me(authed(pb::GetMeRequest {}, &expired)).await,
        ErrorCode::Unauthenticated,
    );

    // Dashboards see approved companies' public fields only.
    let manager = h.token(Role::ProgramManager);
    transition(
        &h,
        &manager,
        &company.id,
        pb::CompanyAction::StartReview,
        None,
    )
    .await
    .unwrap();
    transition(&h, &manager, &company.id, pb::CompanyAction::Approve, None)
        .await
        .unwrap();
    let dashboard = h.token(Role::Dashboard);
    let public = client
        .get_company(authed(
            pb::GetCompanyRequest {
                id: company.id.clone(),
            },
            &dashboard,
        ))
        .await
        .unwrap()
        .into_inner()
        .company
        .unwrap();
    assert!(!public.full_view);
    assert_eq!(public.name_ko, "에이회사");
    assert_eq!(public.business_number, None);
    assert_eq!(public.contact_email, None);
    assert_eq!(public.employees, None);
    assert!(public.history.is_empty());
    // Still NOT_FOUND for the other firm: firms see only their own.
    assert_refused(
        client
            .get_company(authed(
                pb::GetCompanyRequest {
                    id: company.id.clone(),
                },
                &firm_b,
            ))
            .await,
        ErrorCode::NotFound,
    );
    h.stop().await;
}

async fn tokens_rotate_and_reuse_revokes_the_family(db: TestDb) {
    let h = Stack::start(db, &["onboarding"]).await;
    let (_, signed_up) = h.sign_up("rotate@firm.kr").await;
    let mut client = h.client().await;
    let first = signed_up.tokens.unwrap().refresh_token;

    let second = client
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: first.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    assert_ne!(second.refresh_token, first);
    // Presenting the used one again: refused, and the family (the fresh one too) is revoked.
    assert_refused(
        client
            .refresh_token(pb::RefreshTokenRequest {
                refresh_token: first,
            })
            .await,
        ErrorCode::Unauthenticated,
    );
    assert_refused(
        client
            .refresh_token(pb::RefreshTokenRequest {
                refresh_token: second.refresh_token.clone(),
            })
            .await,
        ErrorCode::Unauthenticated,
    );
    assert_refused(
        client
            .refresh_token(pb::RefreshTokenRequest {
                refresh_token: "nope".into(),
            })
            .await,
        ErrorCode::Unauthenticated,
    );

    // Login, then logout: the access token is refused from then on, and so is its refresh token.
    let login = client
        .login(pb::LoginRequest {
            email: "ROTATE@firm.kr".into(),
            password: "correct horse battery".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    client
        .get_me(authed(pb::GetMeRequest {}, &login.access_token))
        .await
        .unwrap();
    client
        .logout(authed(pb::LogoutRequest {}, &login.access_token))
        .await
        .unwrap();
    assert_refused(
        client
            .get_me(authed(pb::GetMeRequest {}, &login.access_token))
            .await,
        ErrorCode::Unauthenticated,
    );
    assert_refused(
        client
            .refresh_token(pb::RefreshTokenRequest {
                refresh_token: login.refresh_token,
            })
            .await,
        ErrorCode::Unauthenticated,
    );
    h.stop().await;
}

async fn accounts_and_login_limits(db: TestDb) {
    let h = Stack::start(db, &["onboarding"]).await;
    let mut client = h.client().await;
    h.sign_up("limit@firm.kr").await;
    // Email is unique case-insensitively.
    assert_refused(
        client
            .sign_up(pb::SignUpRequest {
                email: "LIMIT@firm.kr".into(),
                password: "another long password".into(),
                name: "x".into(),
            })
            .await,
        ErrorCode::Conflict,
    );
    let short = assert_refused(
        client
            .sign_up(pb::SignUpRequest {
                email: "short@firm.kr".into(),
                password: "short".into(),
                name: "x".into(),
            })
            .await,
        ErrorCode::BadUserInput,
    );
    assert!(short.message().contains("password"), "{}", short.message());

    for _ in 0..axv_onboarding::service::LOGIN_FAILURES_PER_EMAIL {
        assert_refused(
            client
                .login(pb::LoginRequest {
                    email: "limit@firm.kr".into(),
                    password: "wrong password!!".into(),
                })
                .await,
            ErrorCode::Unauthenticated,
        );
    }
    // Now even the right password is refused from that address until the window passes...
    let limited = assert_refused(
        client
            .login(pb::LoginRequest {
                email: "limit@firm.kr".into(),
                password: "correct horse battery".into(),
            })
            .await,
        ErrorCode::RateLimited,
    );
    assert!(limited.metadata().get("retry-after").is_some());
    // ...but the owner elsewhere is not locked out by it, only slowed.
    let mut owner = Request::new(pb::LoginRequest {
        email: "limit@firm.kr".into(),
        password: "correct horse battery".into(),
    });
    owner
        .metadata_mut()
        .insert("x-forwarded-for", "198.51.100.9".parse().unwrap());
    let started = std::time::Instant::now();
    client.login(owner).await.unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(250),
        "attempts on a much-failed account are slowed"
    );
    // Per client address too: many emails from one address.
    for n in 0..axv_onboarding::service::LOGIN_FAILURES_PER_ADDRESS {
        let mut request = Request::new(pb::LoginRequest {
            email: format!("nobody{n}@firm.kr"),
            password: "wrong password!!".into(),
        });
        request
            .metadata_mut()
            .insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
        let _ = client.login(request).await;
    }
    let mut request = Request::new(pb::LoginRequest {
        email: "fresh@firm.kr".into(),
        password: "wrong password!!".into(),
    });
    request
        .metadata_mut()
        .insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
    assert_refused(client.login(request).await, ErrorCode::RateLimited);
    h.stop().await;
}

async fn members_listing_and_pagination(db: TestDb) {
    let h = Stack::start(db, &["onboarding"]).await;
    let (firm, _) = h.sign_up("owner@firm.kr").await;
    let (colleague, _) = h.sign_up("colleague@firm.kr").await;
    let manager = h.token(Role::ProgramManager);
    let numbers = [
        "124-81-00998",
        "220-81-62517",
        "101-81-00001",
        "101-81-00016",
        "101-81-00020",
    ];
    let mut ids = Vec::new();
    for (n, number) in numbers.iter().enumerate() {
        ids.push(
            create_company(&h, &firm, number, &format!("광주기업{n}"))
                .await
                .id,
        );
    }
    let mut client = h.client().await;
    // A duplicate registration number is a conflict.
    assert_refused(
        client
            .create_company(authed(
                pb::CreateCompanyRequest {
                    input: Some(company_input("124-81-00998", "중복")),
                },
                &firm,
            ))
            .await,
        ErrorCode::Conflict,
    );

    // The colleague sees nothing until added, then sees the company.
    assert_refused(
        client
            .get_company(authed(
                pb::GetCompanyRequest { id: ids[0].clone() },
                &colleague,
            ))
            .await,
        ErrorCode::NotFound,
    );
    client
        .add_company_member(authed(
            pb::AddCompanyMemberRequest {
                company_id: ids[0].clone(),
                email: "Colleague@firm.kr".into(),
            },
            &firm,
        ))
        .await
        .unwrap();
    client
        .get_company(authed(
            pb::GetCompanyRequest { id: ids[0].clone() },
            &colleague,
        ))
        .await
        .unwrap();
    let members = client
        .list_company_members(authed(
            pb::ListCompanyMembersRequest {
                company_id: ids[0].clone(),
            },
            &colleague,
        ))
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(
        members.iter().map(|m| m.email.as_str()).collect::<Vec<_>>(),
        ["owner@firm.kr", "colleague@firm.kr"]
    );

    // Pages of two, in creation order, with the total on every page.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_companies(authed(
                pb::ListCompaniesRequest {
                    filter: None,
                    page_size: 2,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &manager,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_count, 5);
        seen.extend(page.companies.into_iter().map(|c| c.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids);
    assert_refused(
        client
            .list_companies(authed(
                pb::ListCompaniesRequest {
                    filter: None,
                    page_size: 101,
                    page_token: String::new(),
                    ..Default::default()
                },
                &manager,
            ))
            .await,
        ErrorCode::BadUserInput,
    );
    assert_refused(
        client
            .list_companies(authed(
                pb::ListCompaniesRequest {
                    filter: None,
                    page_size: 2,
                    page_token: "garbage".into(),
                    ..Default::default()
                },
                &manager,
            ))
            .await,
        ErrorCode::BadUserInput,
    );

    // Filters: text on either name, status.
    transition(&h, &firm, &ids[2], pb::CompanyAction::Submit, None)
        .await
        .unwrap();
    let filtered = client
        .list_companies(authed(
            pb::ListCompaniesRequest {
                filter: Some(pb::CompanyFilter {
                    statuses: vec![pb::CompanyStatus::Submitted.into()],
                    ..Default::default()
                }),
                page_size: 10,
                page_token: String::new(),
                directory: false,
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        filtered
            .companies
            .iter()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>(),
        vec![ids[2].clone()]
    );
    let text = client
        .list_companies(authed(
            pb::ListCompaniesRequest {
                filter: Some(pb::CompanyFilter {
                    text: Some("기업3".into()),
                    ..Default::default()
                }),
                page_size: 10,
                page_token: String::new(),
                directory: false,
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(text.total_count, 1);
    let english = client
        .list_companies(authed(
            pb::ListCompaniesRequest {
                filter: Some(pb::CompanyFilter {
                    text: Some("gwangju VISION".into()),
                    ..Default::default()
                }),
                page_size: 10,
                page_token: String::new(),
                directory: false,
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(english.total_count, 5);
    // Batch get: one call, ids in any order, unknown and malformed ids simply absent.
    let batch = client
        .batch_get_companies(authed(
            pb::BatchGetCompaniesRequest {
                ids: vec![
                    ids[4].clone(),
                    "not-an-id".into(),
                    axv_platform::ids::new_id(),
                    ids[1].clone(),
                ],
            },
            &firm,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.companies.len(), 2);
    h.stop().await;
}

/// Over gRPC: a password change needs the current password and ends the other sign-ins; names
/// are for signed-in callers only; the directory lists approved companies' public fields to a
/// firm that belongs to none of them.
async fn passwords_names_and_the_directory(db: TestDb) {
    let h = Stack::start(db, &["onboarding"]).await;
    let (firm, signed_up) = h.sign_up("names@firm.kr").await;
    let (stranger, _) = h.sign_up("stranger@firm.kr").await;
    let manager = h.token(Role::ProgramManager);
    let user_id = signed_up.user.unwrap().id;
    let mut client = h.client().await;

    assert_refused(
        client
            .batch_get_user_names(pb::BatchGetUserNamesRequest {
                ids: vec![user_id.clone()],
            })
            .await,
        ErrorCode::Unauthenticated,
    );
    let names = client
        .batch_get_user_names(authed(
            pb::BatchGetUserNamesRequest {
                ids: vec![user_id.clone(), "client:dashboard".into()],
            },
            &stranger,
        ))
        .await
        .unwrap()
        .into_inner()
        .names;
    // Another firm's member sees the name and role, not the address.
    assert_eq!(
        names,
        [pb::UserName {
            id: user_id.clone(),
            name: "김광주".into(),
            role: pb::Role::FirmMember as i32,
            email: None,
        }]
    );
    // The person themself and staff see it.
    for reader in [&firm, &manager] {
        let names = client
            .batch_get_user_names(authed(
                pb::BatchGetUserNamesRequest {
                    ids: vec![user_id.clone()],
                },
                reader,
            ))
            .await
            .unwrap()
            .into_inner()
            .names;
        assert_eq!(names[0].email.as_deref(), Some("names@firm.kr"));
    }

    let wrong = assert_refused(
        client
            .change_password(authed(
                pb::ChangePasswordRequest {
                    current_password: "not it at all".into(),
                    new_password: "a new long passphrase".into(),
                },
                &firm,
            ))
            .await,
        ErrorCode::BadUserInput,
    );
    assert!(wrong.message().contains("currentPassword"), "{wrong:?}");
    let changed = client
        .change_password(authed(
            pb::ChangePasswordRequest {
                current_password: "correct horse battery".into(),
                new_password: "a new long passphrase".into(),
            },
            &firm,
        ))
        .await
        .unwrap()
        .into_inner();
    let fresh = changed.tokens.unwrap().access_token;
    assert_refused(
        client.get_me(authed(pb::GetMeRequest {}, &firm)).await,
        ErrorCode::Unauthenticated,
    );
    assert!(
        client
            .get_me(authed(pb::GetMeRequest {}, &fresh))
            .await
            .is_ok()
    );

    let approved = create_company(&h, &fresh, &business_number(61), "디렉터리기업")
        .await
        .id;
    for action in [
        pb::CompanyAction::Submit,
        pb::CompanyAction::StartReview,
        pb::CompanyAction::Approve,
    ] {
        let token = if action == pb::CompanyAction::Submit {
            &fresh
        } else {
            &manager
        };
        transition(&h, token, &approved, action, None)
            .await
            .unwrap();
    }
    create_company(&h, &fresh, &business_number(62), "디렉터리초안").await;
    let directory = client
        .list_companies(authed(
            pb::ListCompaniesRequest {
                filter: Some(pb::CompanyFilter {
                    text: Some("디렉터리".into()),
                    ..Default::default()
                }),
                page_size: 10,
                page_token: String::new(),
                directory: true,
            },
            &stranger,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(directory.total_count, 1);
    let listed = &directory.companies[0];
    assert_eq!(listed.id, approved);
    assert!(!listed.full_view && listed.business_number.is_none());
    h.stop().await;
}

/// Headcounts name no firm: anyone may ask, anonymous included, with or without a sector.
async fn public_headcounts(db: TestDb) {
    use pb::CompanyAction as A;
    let h = Stack::start(db, &["onboarding"]).await;
    let (firm, _) = h.sign_up("counted@firm.kr").await;
    let manager = h.token(Role::ProgramManager);
    let mut client = h.client().await;
    let counter = client.clone();
    let count = move |sectors: Vec<common_pb::Sector>, token: Option<String>| {
        let mut client = counter.clone();
        async move {
            let message = pb::CountCompaniesRequest {
                sectors: sectors.into_iter().map(i32::from).collect(),
                ..Default::default()
            };
            let request = match &token {
                Some(token) => authed(message, token),
                None => Request::new(message),
            };
            client.count_companies(request).await.map(|r| {
                let r = r.into_inner();
                (r.registered, r.approved)
            })
        }
    };
    assert_eq!(count(vec![], None).await.unwrap(), (0, 0));

    let approve: &[A] = &[A::Submit, A::StartReview, A::Approve];
    let journeys: [(common_pb::Sector, &[A]); 8] = [
        (common_pb::Sector::ArtificialIntelligence, &[]),
        (common_pb::Sector::ArtificialIntelligence, &[A::Submit]),
        (common_pb::Sector::ArtificialIntelligence, approve),
        (common_pb::Sector::Mobility, approve),
        (
            common_pb::Sector::Mobility,
            &[A::Submit, A::StartReview, A::Approve, A::Suspend],
        ),
        (
            common_pb::Sector::Mobility,
            &[A::Submit, A::StartReview, A::Reject],
        ),
        (
            common_pb::Sector::Energy,
            &[A::Submit, A::StartReview, A::RequestChanges],
        ),
        (common_pb::Sector::Mobility, &[]),
    ];
    let mut ids = Vec::new();
    for (n, (sector, actions)) in journeys.into_iter().enumerate() {
        let mut input = company_input(&business_number(n as u32), &format!("집계기업{n}"));
        input.sector = sector.into();
        let id = client
            .create_company(authed(
                pb::CreateCompanyRequest { input: Some(input) },
                &firm,
            ))
            .await
            .unwrap()
            .into_inner()
            .company
            .unwrap()
            .id;
        for action in actions {
            let token = if *action == A::Submit {
                &firm
            } else {
                &manager
            };
            transition(&h, token, &id, *action, Some("사유"))
                .await
                .unwrap();
        }
        ids.push(id);
    }

    // Drafts have not applied; suspended, rejected and returned applications have.
    let dashboard = h.token(Role::Dashboard);
    for token in [
        None,
        Some(dashboard.clone()),
        Some(firm.clone()),
        Some(manager.clone()),
    ] {
        assert_eq!(count(vec![], token).await.unwrap(), (6, 2));
    }

    // Named companies (a draft, an approved one, a rejected one): staff only, since it tells
    // each one's status.
    let named = pb::CountCompaniesRequest {
        company_ids: vec![ids[0].clone(), ids[2].clone(), ids[5].clone()],
        ..Default::default()
    };
    let counts = client
        .count_companies(authed(named.clone(), &manager))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((counts.registered, counts.approved), (2, 1));
    for token in [dashboard, firm.clone()] {
        assert_refused(
            client.count_companies(authed(named.clone(), &token)).await,
            ErrorCode::Forbidden,
        );
    }
    assert_refused(
        client.count_companies(Request::new(named)).await,
        ErrorCode::Forbidden,
    );
    assert_eq!(
        count(vec![common_pb::Sector::Mobility], None)
            .await
            .unwrap(),
        (3, 1)
    );
    assert_eq!(
        count(vec![common_pb::Sector::ArtificialIntelligence], None)
            .await
            .unwrap(),
        (2, 1)
    );
    assert_eq!(
        count(
            vec![
                common_pb::Sector::Mobility,
                common_pb::Sector::ArtificialIntelligence
            ],
            None
        )
        .await
        .unwrap(),
        (5, 2)
    );
    assert_eq!(
        count(vec![common_pb::Sector::Energy], None).await.unwrap(),
        (1, 0)
    );
    assert_eq!(
        count(vec![common_pb::Sector::Data], None).await.unwrap(),
        (0, 0)
    );

    // A sector that is not one of the nine is bad input naming the field.
    for bad in [common_pb::Sector::Unspecified as i32, 99] {
        let error = assert_refused(
            client
                .count_companies(pb::CountCompaniesRequest {
                    sectors: vec![bad],
                    ..Default::default()
                })
                .await,
            ErrorCode::BadUserInput,
        );
        assert!(error.message().contains("sectors"), "{}", error.message());
    }
    // Anonymous means no token at all; a token that does not verify is still refused.
    assert_refused(
        client
            .count_companies(authed(pb::CountCompaniesRequest::default(), "not-a-jwt"))
            .await,
        ErrorCode::Unauthenticated,
    );
    h.stop().await;
}

// ---------------------------------------------------------------- API clients

async fn register_client(
    h: &Stack,
    admin: &str,
    name: &str,
    role: pb::Role,
) -> (pb::ApiClient, String) {
    let response = h
        .client()
        .await
        .register_api_client(authed(
            pb::RegisterApiClientRequest {
                name: name.into(),
                role: role.into(),
            },
            admin,
        ))
        .await
        .unwrap()
        .into_inner();
    (response.client.unwrap(), response.client_secret)
}

async fn exchange(
    h: &Stack,
    client_id: &str,
    client_secret: &str,
) -> Result<pb::ExchangeClientCredentialsResponse, tonic::Status> {
    h.client()
        .await
        .exchange_client_credentials(pb::ExchangeClientCredentialsRequest {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn list_clients(h: &Stack, token: &str) -> Result<Vec<pb::ApiClient>, tonic::Status> {
    h.client()
        .await
        .list_api_clients(authed(pb::ListApiClientsRequest {}, token))
        .await
        .map(|r| r.into_inner().clients)
}

async fn revoke_client(h: &Stack, token: &str, id: &str) -> Result<pb::ApiClient, tonic::Status> {
    h.client()
        .await
        .revoke_api_client(authed(pb::RevokeApiClientRequest { id: id.into() }, token))
        .await
        .map(|r| r.into_inner().client.unwrap())
}

/// An authenticated call any valid token may make (dashboards read the public listing).
async fn list_companies_with(h: &Stack, token: &str) -> Result<i64, tonic::Status> {
    h.client()
        .await
        .list_companies(authed(pb::ListCompaniesRequest::default(), token))
        .await
        .map(|r| r.into_inner().total_count)
}

fn assert_invalid_client(result: Result<pb::ExchangeClientCredentialsResponse, tonic::Status>) {
    let status = result.expect_err("the exchange should be refused");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // One message for every refusal: nothing says whether the id or the secret was wrong.
    assert_eq!(status.message(), "invalid client credentials");
}

async fn api_client_lifecycle(db: TestDb) {
    let h = Stack::start(db, &["onboarding"]).await;
    let admin = h.token(Role::Admin);

    let (dashboard, dashboard_secret) =
        register_client(&h, &admin, "  광주시 성과 대시보드 ", pb::Role::Dashboard).await;
    assert_eq!(dashboard.name, "광주시 성과 대시보드");
    assert_eq!(dashboard.role(), pb::Role::Dashboard);
    assert!(dashboard.last_used_at_ms.is_none() && dashboard.revoked_at_ms.is_none());
    assert!(dashboard_secret.len() >= 40, "{dashboard_secret}");
    let (operator, operator_secret) =
        register_client(&h, &admin, "NAIDC Slurm exporter", pb::Role::Operator).await;
    assert_ne!(dashboard_secret, operator_secret);

    // Only DASHBOARD and OPERATOR; names are required. Nothing is registered for a refusal.
    let mut client = h.client().await;
    for (name, role) in [
        ("Admin bot", pb::Role::Admin),
        ("Manager bot", pb::Role::ProgramManager),
        ("Firm bot", pb::Role::FirmMember),
        ("No role", pb::Role::Unspecified),
        ("   ", pb::Role::Dashboard),
    ] {
        assert_refused(
            client
                .register_api_client(authed(
                    pb::RegisterApiClientRequest {
                        name: name.into(),
                        role: role.into(),
                    },
                    &admin,
                ))
                .await,
            ErrorCode::BadUserInput,
        );
    }
    assert_refused(
        client
            .register_api_client(authed(
                pb::RegisterApiClientRequest {
                    name: "Unknown role".into(),
                    role: 42,
                },
                &admin,
            ))
            .await,
        ErrorCode::BadUserInput,
    );

    // Listing shows both, in registration order, and never a secret (nor its digest).
    let listed = client
        .list_api_clients(authed(pb::ListApiClientsRequest {}, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.clients, vec![dashboard.clone(), operator.clone()]);
    let wire = prost::Message::encode_to_vec(&listed);
    let printed = format!("{listed:?}");
    for secret in [&dashboard_secret, &operator_secret] {
        let digest = axv_auth::hash_client_secret(secret);
        for needle in [secret.as_str(), digest.as_str()] {
            assert!(!printed.contains(needle));
            assert!(!wire.windows(needle.len()).any(|w| w == needle.as_bytes()));
        }
    }

    // The exchange: a short-lived token for the client's role, subject client:<id>, no companies.
    let issued = exchange(&h, &dashboard.id, &dashboard_secret)
        .await
        .unwrap();
    assert!(
        (1..=900).contains(&issued.expires_in_secs),
        "{}",
        issued.expires_in_secs
    );
    let caller = h
        .platform
        .verifier
        .verify(&issued.access_token)
        .await
        .unwrap();
    assert_eq!(caller.subject, format!("client:{}", dashboard.id));
    assert_eq!(caller.role, Role::Dashboard);
    assert!(caller.company_ids.is_empty());
    assert_eq!(caller.expires_at * 1000, issued.expires_at_ms);
    let operator_token = exchange(&h, &operator.id, &operator_secret)
        .await
        .unwrap()
        .access_token;
    let op = h.platform.verifier.verify(&operator_token).await.unwrap();
    assert_eq!(op.role, Role::Operator);
    // A second exchange gives a second token; both are valid.
    let second = exchange(&h, &dashboard.id, &dashboard_secret)
        .await
        .unwrap()
        .access_token;
    assert_ne!(second, issued.access_token);
    assert_eq!(
        list_companies_with(&h, &issued.access_token).await.unwrap(),
        0
    );
    assert_eq!(list_companies_with(&h, &second).await.unwrap(), 0);
    // The exchange is recorded.
    let listed = list_clients(&h, &admin).await.unwrap();
    assert!(
        listed
            .iter()
            .all(|c| c.last_used_at_ms.is_some_and(|at| at >= c.created_at_ms))
    );

    // Refusals, all alike: wrong secret, another client's secret, unknown or malformed id, empty.
    assert_invalid_client(exchange(&h, &dashboard.id, "axvcs_wrong").await);
    assert_invalid_client(exchange(&h, &dashboard.id, &operator_secret).await);
    assert_invalid_client(exchange(&h, &axv_platform::ids::new_id(), &dashboard_secret).await);
    assert_invalid_client(exchange(&h, "dashboard", &dashboard_secret).await);
    assert_invalid_client(exchange(&h, &dashboard.id, "").await);
    assert_invalid_client(exchange(&h, "", "").await);
    assert_invalid_client(exchange(&h, &dashboard.id, &"x".repeat(10_000)).await);

    // Revocation: recorded, the client can no longer exchange, and the tokens it already holds
    // are refused by the verifier right away.
    let revoked = revoke_client(&h, &admin, &dashboard.id).await.unwrap();
    let revoked_at = revoked.revoked_at_ms.unwrap();
    assert!(revoked_at >= dashboard.created_at_ms);
    for token in [&issued.access_token, &second] {
        assert_refused(
            list_companies_with(&h, token).await,
            ErrorCode::Unauthenticated,
        );
        assert_refused(list_clients(&h, token).await, ErrorCode::Unauthenticated);
        assert!(matches!(
            h.platform.verifier.verify(token).await,
            Err(axv_auth::AuthError::Revoked)
        ));
    }
    assert_invalid_client(exchange(&h, &dashboard.id, &dashboard_secret).await);
    // The other client is untouched.
    assert_eq!(list_companies_with(&h, &operator_token).await.unwrap(), 0);
    assert!(exchange(&h, &operator.id, &operator_secret).await.is_ok());
    // Revoking again changes nothing; an unknown id is NOT_FOUND.
    let again = revoke_client(&h, &admin, &dashboard.id).await.unwrap();
    assert_eq!(again.revoked_at_ms, Some(revoked_at));
    for id in [axv_platform::ids::new_id(), "nope".to_owned()] {
        assert_refused(revoke_client(&h, &admin, &id).await, ErrorCode::NotFound);
    }
    let listed = list_clients(&h, &admin).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].revoked_at_ms, Some(revoked_at));
    assert_eq!(listed[1].revoked_at_ms, None);
    h.stop().await;
}

async fn api_clients_are_managed_by_admins_only(db: TestDb) {
    let h = Stack::start(db, &["onboarding"]).await;
    let admin = h.token(Role::Admin);
    let (target, secret) = register_client(&h, &admin, "Target", pb::Role::Dashboard).await;
    let client_token = exchange(&h, &target.id, &secret)
        .await
        .unwrap()
        .access_token;
    let (firm, _) = h.sign_up("ceo@apiclients.kr").await;
    let refused_roles = [
        ("firm member", firm),
        ("manager", h.token(Role::ProgramManager)),
        ("dashboard", h.token(Role::Dashboard)),
        ("operator", h.token(Role::Operator)),
        ("dashboard client", client_token),
    ];
    fn request<T>(message: T, token: Option<&str>) -> Request<T> {
        match token {
            Some(token) => authed(message, token),
            None => Request::new(message),
        }
    }
    let mut client = h.client().await;
    for (who, token) in refused_roles
        .iter()
        .map(|(who, token)| (*who, Some(token.as_str())))
        .chain([("no token", None)])
    {
        let expected = if token.is_some() {
            Code::PermissionDenied
        } else {
            Code::Unauthenticated
        };
        let status = client
            .register_api_client(request(
                pb::RegisterApiClientRequest {
                    name: "Sneaky".into(),
                    role: pb::Role::Dashboard.into(),
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), expected, "register by {who}");
        let status = client
            .list_api_clients(request(pb::ListApiClientsRequest {}, token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), expected, "list by {who}");
        let status = client
            .revoke_api_client(request(
                pb::RevokeApiClientRequest {
                    id: target.id.clone(),
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), expected, "revoke by {who}");
    }
    // Nothing changed: one client, still usable.
    let listed = list_clients(&h, &admin).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].revoked_at_ms.is_none());
    assert!(exchange(&h, &target.id, &secret).await.is_ok());
    h.stop().await;
}

async fn login(h: &Stack, email: &str, password: &str) -> Result<pb::LoginResponse, tonic::Status> {
    h.client()
        .await
        .login(pb::LoginRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn change_staff(
    h: &Stack,
    token: &str,
    user_id: &str,
    change: pb::change_staff_account_request::Change,
) -> Result<pb::User, tonic::Status> {
    h.client()
        .await
        .change_staff_account(authed(
            pb::ChangeStaffAccountRequest {
                user_id: user_id.into(),
                change: Some(change),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().user.unwrap())
}

/// Staff accounts: an admin adds one with a temporary password that signs in; another role
/// or deactivation ends the person's sessions at once; a deactivated account cannot sign in
/// until reactivated; the last active admin stays; firms' accounts, bad roles and every
/// caller but an admin are refused.
async fn staff_accounts_are_managed_by_admins(db: TestDb) {
    use pb::change_staff_account_request::Change;
    let h = Stack::start(db, &["onboarding"]).await;
    let admin = h.token(Role::Admin);
    let mut client = h.client().await;
    let create = |email: &str, name: &str, role: pb::Role| pb::CreateStaffAccountRequest {
        email: email.into(),
        name: name.into(),
        role: role.into(),
    };
    let created = client
        .create_staff_account(authed(
            create(
                "Seoyeon.Lee@Gwangju.go.kr",
                "이서연",
                pb::Role::ProgramManager,
            ),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let pm = created.user.unwrap();
    assert_eq!(pm.email, "seoyeon.lee@gwangju.go.kr");
    assert_eq!(pm.role(), pb::Role::ProgramManager);
    let signed_in = login(&h, &pm.email, &created.temporary_password)
        .await
        .unwrap();
    let pm_token = signed_in.tokens.unwrap().access_token;
    assert_eq!(signed_in.user.unwrap().role(), pb::Role::ProgramManager);
    assert_refused(
        client
            .create_staff_account(authed(
                create("seoyeon.lee@gwangju.go.kr", "이서연", pb::Role::Operator),
                &admin,
            ))
            .await,
        ErrorCode::Conflict,
    );
    for role in [
        pb::Role::FirmMember,
        pb::Role::Dashboard,
        pb::Role::Unspecified,
    ] {
        assert_refused(
            client
                .create_staff_account(authed(create("x@gwangju.go.kr", "엑스", role), &admin))
                .await,
            ErrorCode::BadUserInput,
        );
        assert_refused(
            change_staff(&h, &admin, &pm.id, Change::Role(role.into())).await,
            ErrorCode::BadUserInput,
        );
    }

    // Another role: the session with the old one ends; signing in again carries the new one.
    let operator = change_staff(&h, &admin, &pm.id, Change::Role(pb::Role::Operator.into()))
        .await
        .unwrap();
    assert_eq!(operator.role(), pb::Role::Operator);
    assert_refused(
        client.get_me(authed(pb::GetMeRequest {}, &pm_token)).await,
        ErrorCode::Unauthenticated,
    );
    let again = login(&h, &pm.email, &created.temporary_password)
        .await
        .unwrap();
    assert_eq!(again.user.unwrap().role(), pb::Role::Operator);

    // Deactivated: the session ends and signing in is refused, in words, until reactivated.
    let session = again.tokens.unwrap().access_token;
    let gone = change_staff(&h, &admin, &pm.id, Change::Deactivate(true))
        .await
        .unwrap();
    assert!(gone.deactivated_at_ms.is_some());
    assert_refused(
        client.get_me(authed(pb::GetMeRequest {}, &session)).await,
        ErrorCode::Unauthenticated,
    );
    let refused = login(&h, &pm.email, &created.temporary_password).await;
    let refused = assert_refused(refused, ErrorCode::Forbidden);
    assert!(refused.message().contains("deactivated"), "{refused:?}");
    // No new password for a deactivated account: reactivate it first.
    let early = assert_refused(
        change_staff(&h, &admin, &pm.id, Change::ReissuePassword(true)).await,
        ErrorCode::FailedPrecondition,
    );
    assert_eq!(
        axv_platform::error::Reason::of_status(&early),
        Some(axv_platform::error::Reason::AccountDeactivated)
    );
    let back = change_staff(&h, &admin, &pm.id, Change::Reactivate(true))
        .await
        .unwrap();
    assert!(back.deactivated_at_ms.is_none());
    let signed_in = login(&h, &pm.email, &created.temporary_password)
        .await
        .unwrap();

    // Forgotten password: a new temporary one, shown once; the old one and the sessions end.
    let reissued = client
        .change_staff_account(authed(
            pb::ChangeStaffAccountRequest {
                user_id: pm.id.clone(),
                change: Some(Change::ReissuePassword(true)),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let fresh = reissued
        .temporary_password
        .expect("a new temporary password");
    assert_ne!(fresh, created.temporary_password);
    assert_eq!(reissued.user.unwrap().role(), pb::Role::Operator);
    assert_refused(
        client
            .get_me(authed(
                pb::GetMeRequest {},
                &signed_in.tokens.unwrap().access_token,
            ))
            .await,
        ErrorCode::Unauthenticated,
    );
    assert_refused(
        login(&h, &pm.email, &created.temporary_password).await,
        ErrorCode::Unauthenticated,
    );
    assert!(login(&h, &pm.email, &fresh).await.is_ok());
    // Only an admin reissues.
    let manager = h.token(Role::ProgramManager);
    assert_refused(
        change_staff(&h, &manager, &pm.id, Change::ReissuePassword(true)).await,
        ErrorCode::Forbidden,
    );

    // The only active admin account cannot be demoted or deactivated; with a second, it can.
    let first = client
        .create_staff_account(authed(
            create("admin1@gwangju.go.kr", "관리자 하나", pb::Role::Admin),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    for change in [
        Change::Role(pb::Role::ProgramManager.into()),
        Change::Deactivate(true),
    ] {
        assert_refused(
            change_staff(&h, &admin, &first.id, change).await,
            ErrorCode::FailedPrecondition,
        );
    }
    client
        .create_staff_account(authed(
            create("admin2@gwangju.go.kr", "관리자 둘", pb::Role::Admin),
            &admin,
        ))
        .await
        .unwrap();
    assert!(
        change_staff(&h, &admin, &first.id, Change::Deactivate(true))
            .await
            .is_ok()
    );

    // Firms' accounts are not staff accounts; unknown ids are not found.
    let (_, firm_answer) = h.sign_up("ceo@staff.kr").await;
    let firm_id = firm_answer.user.unwrap().id;
    for id in [
        firm_id.as_str(),
        "not-an-id",
        "00000000-0000-7000-8000-000000000000",
    ] {
        assert_refused(
            change_staff(&h, &admin, id, Change::Role(pb::Role::Admin.into())).await,
            ErrorCode::NotFound,
        );
    }
    let staff = client
        .list_staff(authed(pb::ListStaffRequest {}, &admin))
        .await
        .unwrap()
        .into_inner()
        .users;
    let names: Vec<&str> = staff.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        ["관리자 둘", "관리자 하나", "이서연"],
        "by name, no firms"
    );

    // Nobody but an admin manages staff.
    let (firm, _) = h.sign_up("member@staff.kr").await;
    for token in [
        firm,
        h.token(Role::ProgramManager),
        h.token(Role::Operator),
        h.token(Role::Dashboard),
    ] {
        assert_refused(
            client
                .list_staff(authed(pb::ListStaffRequest {}, &token))
                .await,
            ErrorCode::Forbidden,
        );
        assert_refused(
            client
                .create_staff_account(authed(
                    create("sneaky@staff.kr", "몰래", pb::Role::Admin),
                    &token,
                ))
                .await,
            ErrorCode::Forbidden,
        );
        let refused = change_staff(&h, &token, &pm.id, Change::Role(pb::Role::Admin.into())).await;
        assert_refused(refused, ErrorCode::Forbidden);
    }
    assert_refused(
        client.list_staff(pb::ListStaffRequest {}).await,
        ErrorCode::Unauthenticated,
    );
    h.stop().await;
}

on_both_backends!(
    headcounts => public_headcounts,
    review_journey_sqlite_and_postgres => review_journey,
    refused_transitions => refused_transitions_are_failed_precondition,
    authorization => authorization_refusals,
    refresh_rotation => tokens_rotate_and_reuse_revokes_the_family,
    accounts_and_limits => accounts_and_login_limits,
    members_and_listing => members_listing_and_pagination,
    api_client_lifecycle_on => api_client_lifecycle,
    api_client_admin_only => api_clients_are_managed_by_admins_only,
    passwords_names_and_directory => passwords_names_and_the_directory,
    staff_accounts => staff_accounts_are_managed_by_admins,
);

/// A harness whose key-value store is the test Redis under a prefix of its own, a verifier
/// of another replica (its own connection, as another service or gateway would have), and the
/// prefix.
async fn on_redis(db: TestDb) -> (Stack, axv_auth::Verifier, String) {
    let url = axv_platform::testing::redis_test_url();
    let prefix = axv_platform::testing::unique_prefix();
    let redis = || async {
        std::sync::Arc::new(
            axv_platform::kv::RedisKv::connect(&url, &prefix)
                .await
                .unwrap(),
        )
    };
    let platform = axv_platform::testing::platform_with(
        db.config.clone(),
        redis().await,
        std::sync::Arc::new(axv_platform::events::InProcessBus::default()),
    );
    let replica = platform
        .issuer
        .verifier()
        .with_revocations(std::sync::Arc::new(axv_platform::kv::KvRevocations::new(
            redis().await,
        )));
    (
        Stack::start_on(db, platform, &["onboarding"]).await,
        replica,
        prefix,
    )
}

/// With Redis, a revocation made through one replica is seen by every other replica's verifier
/// (here: a second verifier with its own connection, as another service or gateway would have).
#[tokio::test]
async fn revoking_a_client_reaches_every_replica_through_redis() {
    if !axv_platform::testing::redis_available().await {
        return;
    }
    let (h, other_replica, _) = on_redis(TestDb::sqlite()).await;
    let admin = h.token(Role::Admin);
    let (client, secret) = register_client(&h, &admin, "Replicated", pb::Role::Dashboard).await;
    let token = exchange(&h, &client.id, &secret)
        .await
        .unwrap()
        .access_token;
    assert!(other_replica.verify(&token).await.is_ok());
    revoke_client(&h, &admin, &client.id).await.unwrap();
    assert!(matches!(
        other_replica.verify(&token).await,
        Err(axv_auth::AuthError::Revoked)
    ));
    h.stop().await;
}

/// Revocations are kept in onboarding's database, Redis only caching them: after Redis comes
/// back empty (a restart without persistence), a signed-out session's token and a revoked API
/// client's are refused again within moments, by every replica.
#[tokio::test]
async fn revocations_survive_an_emptied_redis() {
    if !axv_platform::testing::redis_available().await {
        assert!(std::env::var("CI").is_err(), "CI provides Redis");
        return;
    }
    let db = match axv_testkit::db::postgres().await {
        Some(db) => db,
        None => TestDb::sqlite(),
    };
    let (h, replica, prefix) = on_redis(db).await;
    let url = axv_platform::testing::redis_test_url();
    let admin = h.token(Role::Admin);
    let (client, secret) = register_client(&h, &admin, "Durable", pb::Role::Dashboard).await;
    let client_token = exchange(&h, &client.id, &secret)
        .await
        .unwrap()
        .access_token;
    let (session_token, _) = h.sign_up("durable@firm.kr").await;
    assert!(replica.verify(&session_token).await.is_ok());
    revoke_client(&h, &admin, &client.id).await.unwrap();
    h.client()
        .await
        .logout(authed(pb::LogoutRequest {}, &session_token))
        .await
        .unwrap();
    for token in [&client_token, &session_token] {
        assert!(matches!(
            replica.verify(token).await,
            Err(axv_auth::AuthError::Revoked)
        ));
    }

    // Redis loses everything under this deployment's prefix, as a restart without persistence.
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let _: i64 = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();

    let deadline = std::time::Instant::now() + 5 * axv_onboarding::revocations::RESEED_EVERY;
    loop {
        let mut refused = 0;
        for token in [&client_token, &session_token] {
            if matches!(
                replica.verify(token).await,
                Err(axv_auth::AuthError::Revoked)
            ) {
                refused += 1;
            }
        }
        if refused == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "revocations were not restored to the emptied cache"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    h.stop().await;
}

#[tokio::test]
async fn health_reports_serving_and_reflection_lists_services() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let h = Stack::start(TestDb::sqlite(), &["onboarding"]).await;
    let mut health = HealthClient::new(h.channel("onboarding").await);
    for service in ["", "axv.onboarding.v1.OnboardingService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status.status(), ServingStatus::Serving, "{service:?}");
    }

    let mut reflection = ServerReflectionClient::new(h.channel("onboarding").await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    // Exactly what this server serves: not the other services whose protos it knows.
    let served = [
        "axv.audit.v1.AuditLog",
        "axv.onboarding.v1.OnboardingService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ];
    assert_eq!(names, served);

    // The older protocol, which Python's grpcio-reflection and many grpcurl builds speak.
    {
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut alpha = ServerReflectionClient::new(h.channel("onboarding").await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let response = alpha
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner()
            .message()
            .await
            .unwrap()
            .unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("unexpected v1alpha reflection response");
        };
        let mut alpha_names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        alpha_names.sort();
        assert_eq!(alpha_names, served);
    }
    // And the descriptors themselves are served, so grpcurl can call methods.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "axv.onboarding.v1.OnboardingService".into(),
        )),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    assert!(matches!(
        response.message_response,
        Some(MessageResponse::FileDescriptorResponse(_))
    ));

    // Shutdown: health turns NOT_SERVING, then the server drains and stops.
    h.stop().await;
}
