//! Onboarding's store against both backends: constraints, optimistic state changes, listing,
//! refresh-token rotation, and API clients.

use axv_auth::Role;
use axv_onboarding::{
    OnboardingError,
    domain::{CompanyAction, CompanyDraft, CompanyInput, CompanyStatus, GwangjuPresence, Sector},
    error::CompanyRefusal,
    store::{CompanyCounts, CompanyFilter, ListScope, NewRefreshToken, RefreshOutcome, Store},
};
use axv_platform::{audit::Actor, outbox::Outbox};
use axv_testkit::{TestDb, business_number, on_both_backends};

async fn store(test: &TestDb) -> Store {
    let platform = axv_platform::testing::platform(test.config.clone());
    let db = axv_onboarding::database(&platform).await.unwrap();
    Store::new(db, Outbox::default())
}

/// A firm member acting.
fn firm(id: &str) -> Actor {
    Actor::account(id, Role::FirmMember)
}

/// A programme manager acting.
fn manager(id: &str) -> Actor {
    Actor::account(id, Role::ProgramManager)
}

/// An administrator acting.
fn admin(id: &str) -> Actor {
    Actor::account(id, Role::Admin)
}

fn draft(number: &str, name: &str, sector: Sector) -> CompanyDraft {
    let input = CompanyInput {
        business_number: number.into(),
        name_ko: name.into(),
        name_en: Some(format!("{name} Inc")),
        sector: Some(sector),
        presence: Some(GwangjuPresence::Headquarters),
        employees: Some(3),
        founded_on: None,
        contact_email: "a@b.kr".into(),
    };
    CompanyDraft::validate(input, chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).unwrap()
}

async fn constraints_and_transitions(test: TestDb) {
    let store = store(&test).await;
    let user = store
        .create_user("a@b.kr", "A", Role::FirmMember, "hash", None)
        .await
        .unwrap();
    let duplicate = store
        .create_user("a@b.kr", "A2", Role::FirmMember, "hash", None)
        .await
        .unwrap_err();
    assert!(
        matches!(duplicate, OnboardingError::Conflict(_)),
        "{duplicate:?}"
    );
    assert_eq!(
        store.user_by_email("a@b.kr").await.unwrap().unwrap().id,
        user.id
    );

    let company = store
        .create_company(
            &draft("124-81-00998", "가나다", Sector::Energy),
            &firm(&user.id),
        )
        .await
        .unwrap();
    assert_eq!(company.status, CompanyStatus::Draft);
    let same_number = store
        .create_company(&draft("1248100998", "중복", Sector::Data), &firm(&user.id))
        .await
        .unwrap_err();
    assert!(
        matches!(same_number, OnboardingError::Conflict(_)),
        "{same_number:?}"
    );
    assert!(store.is_member(&company.id, &user.id).await.unwrap());
    assert_eq!(
        store.company_ids_of(&user.id).await.unwrap(),
        vec![company.id.clone()]
    );

    let submitted = store
        .transition(
            &company.id,
            CompanyAction::Submit,
            &firm(&user.id),
            None,
            |_| Ok(()),
        )
        .await
        .unwrap();
    assert_eq!(submitted.status, CompanyStatus::Submitted);
    // Refused by the state machine: nothing is written.
    let refused = store
        .transition(
            &company.id,
            CompanyAction::Approve,
            &manager("pm"),
            None,
            |_| Ok(()),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        OnboardingError::Domain(CompanyRefusal::InvalidTransition { .. })
    ));
    // Refused by the caller's check: nothing is written either.
    let vetoed = store
        .transition(
            &company.id,
            CompanyAction::StartReview,
            &manager("pm"),
            None,
            |_| Err(OnboardingError::Forbidden("no".into())),
        )
        .await
        .unwrap_err();
    assert!(matches!(vetoed, OnboardingError::Forbidden(_)));
    let history = store
        .histories(std::slice::from_ref(&company.id))
        .await
        .unwrap()
        .remove(&company.id)
        .unwrap();
    let steps: Vec<(Option<String>, String)> =
        history.into_iter().map(|h| (h.from, h.to)).collect();
    assert_eq!(
        steps,
        vec![
            (None, "DRAFT".to_owned()),
            (Some("DRAFT".to_owned()), "SUBMITTED".to_owned())
        ]
    );

    // Editing is only for DRAFT and CHANGES_REQUESTED.
    let locked = store
        .update_company(
            &company.id,
            &draft("124-81-00998", "수정", Sector::Energy),
            &firm(&user.id),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        locked,
        OnboardingError::Domain(CompanyRefusal::NotEditable(CompanyStatus::Submitted))
    ));

    // Events were written with the changes, in the same transactions.
    let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
        .fetch_one(store.database().pool())
        .await
        .unwrap();
    assert_eq!(events, 2, "company.created and company.submitted");
}

async fn listing(test: TestDb) {
    let store = store(&test).await;
    let owner = store
        .create_user("o@b.kr", "O", Role::FirmMember, "h", None)
        .await
        .unwrap();
    let other = store
        .create_user("x@b.kr", "X", Role::FirmMember, "h", None)
        .await
        .unwrap();
    let numbers = [
        "124-81-00998",
        "220-81-62517",
        "101-81-00001",
        "101-81-00016",
    ];
    let mut ids = Vec::new();
    for (n, number) in numbers.iter().enumerate() {
        let sector = if n % 2 == 0 {
            Sector::Energy
        } else {
            Sector::Data
        };
        ids.push(
            store
                .create_company(
                    &draft(number, &format!("회사_{n}%"), sector),
                    &firm(&owner.id),
                )
                .await
                .unwrap()
                .id,
        );
    }
    store
        .create_company(
            &draft("101-81-00020", "남의회사", Sector::Energy),
            &firm(&other.id),
        )
        .await
        .unwrap();

    let (page, total) = store
        .list_companies(
            &ListScope::MemberOf(owner.id.clone()),
            &CompanyFilter::default(),
            None,
            3,
        )
        .await
        .unwrap();
    assert_eq!(total, 4);
    assert_eq!(
        page.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        ids[..3].to_vec()
    );
    let (rest, _) = store
        .list_companies(
            &ListScope::MemberOf(owner.id.clone()),
            &CompanyFilter::default(),
            Some(&ids[2]),
            3,
        )
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        ids[3..].to_vec()
    );

    let energy = CompanyFilter {
        sectors: vec![Sector::Energy],
        ..CompanyFilter::default()
    };
    let (_, total) = store
        .list_companies(&ListScope::All, &energy, None, 10)
        .await
        .unwrap();
    assert_eq!(total, 3);
    // LIKE wildcards in the search text are taken literally.
    let percent = CompanyFilter {
        text: Some("_1%".into()),
        ..CompanyFilter::default()
    };
    let (found, _) = store
        .list_companies(&ListScope::All, &percent, None, 10)
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![ids[1].clone()]
    );
    let (public, total) = store
        .list_companies(&ListScope::PublicOnly, &CompanyFilter::default(), None, 10)
        .await
        .unwrap();
    assert!(
        public.is_empty() && total == 0,
        "no company is approved yet"
    );
}

async fn refresh_rotation(test: TestDb) {
    let store = store(&test).await;
    let user = store
        .create_user("r@b.kr", "R", Role::FirmMember, "h", None)
        .await
        .unwrap();
    let far = axv_platform::ids::now_ms() + 3_600_000;
    store
        .insert_refresh_token(NewRefreshToken {
            family_id: "fam",
            user_id: &user.id,
            token_hash: "h1",
            access_jti: "j1",
            expires_at: far,
        })
        .await
        .unwrap();
    let next = |n: &'static str| {
        move |_: &_, _: Vec<String>, _: &str| Ok((n, format!("h{n}"), format!("j{n}"), far))
    };
    assert!(matches!(
        store.rotate_refresh_token("h1", next("2")).await.unwrap(),
        RefreshOutcome::Rotated("2")
    ));
    assert!(matches!(
        store.rotate_refresh_token("nope", next("x")).await.unwrap(),
        RefreshOutcome::Unknown
    ));
    // h1 again: reuse, and the family (h2 included) is revoked; the access tokens issued in it
    // are named, so they can be refused at once.
    match store.rotate_refresh_token("h1", next("3")).await.unwrap() {
        RefreshOutcome::Reused(mut jtis) => {
            jtis.sort();
            assert_eq!(jtis.len(), 2, "{jtis:?}");
        }
        _ => panic!("h1 was used before"),
    }
    assert!(matches!(
        store.rotate_refresh_token("h2", next("4")).await.unwrap(),
        RefreshOutcome::Reused(_)
    ));

    store
        .insert_refresh_token(NewRefreshToken {
            family_id: "old",
            user_id: &user.id,
            token_hash: "e1",
            access_jti: "je",
            expires_at: 1,
        })
        .await
        .unwrap();
    assert!(matches!(
        store.rotate_refresh_token("e1", next("5")).await.unwrap(),
        RefreshOutcome::Expired
    ));

    store
        .insert_refresh_token(NewRefreshToken {
            family_id: "out",
            user_id: &user.id,
            token_hash: "l1",
            access_jti: "jl",
            expires_at: far,
        })
        .await
        .unwrap();
    store.revoke_family_of_access("jl").await.unwrap();
    assert!(matches!(
        store.rotate_refresh_token("l1", next("6")).await.unwrap(),
        RefreshOutcome::Reused(_)
    ));
}

/// A new password revokes every refresh family of the person (not another person's) and names
/// the access tokens they issued; names and the chosen language are kept per account.
async fn password_names_and_language(test: TestDb) {
    let store = store(&test).await;
    let kim = store
        .create_user("kim@b.kr", "김민지", Role::FirmMember, "old", None)
        .await
        .unwrap();
    let lee = store
        .create_user("lee@b.kr", "이서준", Role::FirmMember, "h", None)
        .await
        .unwrap();
    let far = axv_platform::ids::now_ms() + 3_600_000;
    for (family, user, hash, jti) in [
        ("office", &kim.id, "k1", "jk1"),
        ("phone", &kim.id, "k2", "jk2"),
        ("lee", &lee.id, "l1", "jl1"),
    ] {
        store
            .insert_refresh_token(NewRefreshToken {
                family_id: family,
                user_id: user,
                token_hash: hash,
                access_jti: jti,
                expires_at: far,
            })
            .await
            .unwrap();
    }
    let mut live = store
        .replace_password(&kim.id, "new", far, &firm(&kim.id))
        .await
        .unwrap();
    live.sort();
    assert_eq!(live, ["jk1", "jk2"]);
    // Revoked with the change itself, not only in the cache afterwards.
    let mut revoked: Vec<String> = store
        .live_revocations(0)
        .await
        .unwrap()
        .into_iter()
        .map(|(jti, _)| jti)
        .collect();
    revoked.sort();
    assert_eq!(revoked, ["jk1", "jk2"]);
    assert_eq!(
        store
            .user_by_id(&kim.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "new"
    );
    let next = |_: &_, _: Vec<String>, _: &str| Ok(((), "n".to_owned(), "jn".to_owned(), far));
    for hash in ["k1", "k2"] {
        assert!(matches!(
            store.rotate_refresh_token(hash, next).await.unwrap(),
            RefreshOutcome::Reused(_)
        ));
    }
    assert!(matches!(
        store.rotate_refresh_token("l1", next).await.unwrap(),
        RefreshOutcome::Rotated(())
    ));

    let names = store
        .user_names(&[lee.id.clone(), kim.id.clone(), "client:x".into()])
        .await
        .unwrap();
    assert_eq!(names.len(), 2);
    assert!(
        names
            .iter()
            .any(|n| n.id == kim.id && n.name == "김민지" && n.role == kim.role)
    );
    assert!(store.user_names(&[]).await.unwrap().is_empty());

    store
        .update_user(&kim.id, "김민지", None, Some("en"), &firm(&kim.id))
        .await
        .unwrap();
    let kim = store.user_by_id(&kim.id).await.unwrap().unwrap();
    assert_eq!(kim.language.as_deref(), Some("en"));
    assert_eq!(
        store.user_by_id(&lee.id).await.unwrap().unwrap().language,
        None
    );
}

async fn headcounts(test: TestDb) {
    use CompanyAction as A;
    let store = store(&test).await;
    let owner = store
        .create_user("count@b.kr", "C", Role::FirmMember, "h", None)
        .await
        .unwrap();
    assert_eq!(
        store.count_companies(&[], &[]).await.unwrap(),
        CompanyCounts::default()
    );
    let approve: &[CompanyAction] = &[A::Submit, A::StartReview, A::Approve];
    let journeys: [(Sector, &[CompanyAction]); 8] = [
        (Sector::ArtificialIntelligence, &[]),
        (Sector::ArtificialIntelligence, &[A::Submit]),
        (Sector::ArtificialIntelligence, approve),
        (Sector::Mobility, approve),
        (
            Sector::Mobility,
            &[A::Submit, A::StartReview, A::Approve, A::Suspend],
        ),
        (Sector::Mobility, &[A::Submit, A::StartReview, A::Reject]),
        (
            Sector::Energy,
            &[A::Submit, A::StartReview, A::RequestChanges],
        ),
        (Sector::Mobility, &[]),
    ];
    let mut ids = Vec::new();
    for (n, (sector, actions)) in journeys.into_iter().enumerate() {
        let id = store
            .create_company(
                &draft(&business_number(n as u32), &format!("집계{n}"), sector),
                &firm(&owner.id),
            )
            .await
            .unwrap()
            .id;
        for action in actions {
            store
                .transition(&id, *action, &manager("m"), Some("사유"), |_| Ok(()))
                .await
                .unwrap();
        }
        ids.push(id);
    }
    let count = |sectors: Vec<Sector>| {
        let store = store.clone();
        async move {
            let c = store.count_companies(&sectors, &[]).await.unwrap();
            (c.registered, c.approved)
        }
    };
    // Drafts have not applied; suspended, rejected and returned ones have.
    assert_eq!(count(vec![]).await, (6, 2));
    assert_eq!(count(vec![Sector::Mobility]).await, (3, 1));
    assert_eq!(count(vec![Sector::ArtificialIntelligence]).await, (2, 1));
    assert_eq!(
        count(vec![Sector::Mobility, Sector::ArtificialIntelligence]).await,
        (5, 2)
    );
    assert_eq!(count(vec![Sector::Energy]).await, (1, 0));
    assert_eq!(count(vec![Sector::Data]).await, (0, 0));
    // Named companies: a draft, an approved one and a rejected one.
    let named = store
        .count_companies(&[], &[ids[0].clone(), ids[2].clone(), ids[5].clone()])
        .await
        .unwrap();
    assert_eq!((named.registered, named.approved), (2, 1));
    let named_in_sector = store
        .count_companies(&[Sector::Mobility], &[ids[2].clone(), ids[3].clone()])
        .await
        .unwrap();
    assert_eq!(
        (named_in_sector.registered, named_in_sector.approved),
        (1, 1)
    );
}

async fn api_clients(test: TestDb) {
    let store = store(&test).await;
    assert!(store.api_clients().await.unwrap().is_empty());
    let dashboard = store
        .create_api_client(
            "시청 대시보드",
            Role::Dashboard,
            "digest-1",
            &admin("admin-1"),
        )
        .await
        .unwrap();
    let operator = store
        .create_api_client("NAIDC Slurm", Role::Operator, "digest-2", &admin("admin-1"))
        .await
        .unwrap();
    assert_eq!(dashboard.role, Role::Dashboard);
    assert_eq!(dashboard.created_by, "admin-1");
    assert!(dashboard.last_used_at.is_none() && dashboard.revoked_at.is_none());

    // Listed in registration order, exactly as stored (the digest is not part of a record).
    let listed = store.api_clients().await.unwrap();
    assert_eq!(listed, vec![dashboard.clone(), operator.clone()]);
    assert_eq!(
        store.api_client(&operator.id).await.unwrap(),
        Some(operator.clone())
    );
    assert_eq!(store.api_client("no-such-id").await.unwrap(), None);
    let (found, digest) = store
        .api_client_credentials(&dashboard.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found, digest.as_str()), (dashboard.clone(), "digest-1"));
    assert!(
        store
            .api_client_credentials("no-such-id")
            .await
            .unwrap()
            .is_none()
    );

    // A successful exchange is recorded.
    assert!(store.touch_api_client(&dashboard.id).await.unwrap());
    let used = store.api_client(&dashboard.id).await.unwrap().unwrap();
    assert!(
        used.last_used_at
            .is_some_and(|at| at >= dashboard.created_at)
    );
    assert!(!store.touch_api_client("no-such-id").await.unwrap());

    // Revoked: recorded once; revoking again answers the client unchanged.
    let revoked = store
        .revoke_api_client(&dashboard.id, &admin("admin-2"))
        .await
        .unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(revoked.last_used_at, used.last_used_at);
    let again = store
        .revoke_api_client(&dashboard.id, &admin("admin-3"))
        .await
        .unwrap();
    assert_eq!(again, revoked);
    // No exchange of a revoked client is recorded (the guard token exchanges rely on).
    assert!(!store.touch_api_client(&dashboard.id).await.unwrap());
    assert!(
        store
            .api_client(&operator.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let missing = store
        .revoke_api_client(&axv_platform::ids::new_id(), &admin("admin-2"))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, OnboardingError::NotFound(_)),
        "{missing:?}"
    );

    // Two registrations and one revocation were written as events, with the changes.
    let kinds: Vec<(String,)> = sqlx::query_as("SELECT kind FROM outbox ORDER BY created_at, id")
        .fetch_all(store.database().pool())
        .await
        .unwrap();
    assert_eq!(
        kinds.into_iter().map(|(k,)| k).collect::<Vec<_>>(),
        vec![
            "api_client.registered",
            "api_client.registered",
            "api_client.revoked"
        ]
    );
}

/// A key-value store that refuses writes while `down`, as Redis does when it cannot be reached.
#[derive(Default)]
struct FlakyKv {
    inner: axv_platform::kv::MemoryKv,
    down: std::sync::atomic::AtomicBool,
}

impl FlakyKv {
    fn check(&self) -> Result<(), axv_platform::kv::KvError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(axv_platform::kv::KvError::Unavailable("down for the test"));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl axv_platform::kv::KeyValue for FlakyKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, axv_platform::kv::KvError> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: std::time::Duration,
    ) -> Result<(), axv_platform::kv::KvError> {
        self.check()?;
        self.inner.set(key, value, ttl).await
    }
    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: std::time::Duration,
    ) -> Result<bool, axv_platform::kv::KvError> {
        self.check()?;
        self.inner.set_if_absent(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), axv_platform::kv::KvError> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn delete_if(
        &self,
        key: &str,
        expected: &[u8],
    ) -> Result<bool, axv_platform::kv::KvError> {
        self.check()?;
        self.inner.delete_if(key, expected).await
    }
    async fn increment(
        &self,
        key: &str,
        by: i64,
        ttl: std::time::Duration,
    ) -> Result<(i64, std::time::Duration), axv_platform::kv::KvError> {
        self.check()?;
        self.inner.increment(key, by, ttl).await
    }
}

/// A revocation the cache could not take (Redis unreachable a moment) is recorded all the same
/// and reaches the cache at the reseeder's next check, although the cache's marker says it is
/// complete.
async fn revocations_the_cache_missed(test: TestDb) {
    use axv_auth::RevocationList as _;
    use std::sync::{Arc, atomic::Ordering};
    let store = store(&test).await;
    let kv = Arc::new(FlakyKv::default());
    let durable = axv_onboarding::revocations::DurableRevocations::new(store, kv.clone());
    assert_eq!(durable.reseed_if_lost().await.unwrap(), 0);
    let later = chrono::Utc::now().timestamp() + 900;
    kv.down.store(true, Ordering::SeqCst);
    durable.revoke("jti-missed", later).await.unwrap();
    assert!(
        durable.reseed_if_lost().await.is_err(),
        "the cache is still down"
    );
    kv.down.store(false, Ordering::SeqCst);
    assert!(!durable.is_revoked("jti-missed").await.unwrap());
    assert_eq!(durable.reseed_if_lost().await.unwrap(), 1);
    assert!(durable.is_revoked("jti-missed").await.unwrap());
    // Once refilled, the next check has nothing to do.
    assert_eq!(durable.reseed_if_lost().await.unwrap(), 0);
}

on_both_backends!(
    revocations_the_cache_missed_on => revocations_the_cache_missed,
    constraints_and_transitions_on => constraints_and_transitions,
    listing_on => listing,
    refresh_rotation_on => refresh_rotation,
    password_names_and_language_on => password_names_and_language,
    headcounts_on => headcounts,
    api_clients_on => api_clients,
);
