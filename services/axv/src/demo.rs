//! Demo data for `axv up --demo` and `axv seed --demo`: realistic firms of Gwangju across the
//! nine strategic industries, in every application state. Idempotent: what exists is kept.

use std::sync::Arc;

use axv_auth::{Caller, Role};
use axv_onboarding::{
    OnboardingError,
    domain::{CompanyAction, CompanyInput, CompanyStatus, GwangjuPresence, Sector},
    service::Onboarding,
};

pub const FIRM_EMAIL: &str = "firm@demo.axv.kr";
pub const MANAGER_EMAIL: &str = "pm@demo.axv.kr";
pub const ADMIN_EMAIL: &str = "admin@demo.axv.kr";
/// Printed by `axv up --demo`; demo data is for local use only.
pub const DEMO_PASSWORD: &str = "gwangju-demo-2026";

struct DemoCompany {
    business_number: &'static str,
    name_ko: &'static str,
    name_en: &'static str,
    sector: Sector,
    presence: GwangjuPresence,
    employees: i64,
    founded_on: &'static str,
    status: CompanyStatus,
}

// A row of the table below; positional so the table reads as one firm per line.
#[allow(clippy::too_many_arguments)]
const fn company(
    business_number: &'static str,
    name_ko: &'static str,
    name_en: &'static str,
    sector: Sector,
    presence: GwangjuPresence,
    employees: i64,
    founded_on: &'static str,
    status: CompanyStatus,
) -> DemoCompany {
    DemoCompany {
        business_number,
        name_ko,
        name_en,
        sector,
        presence,
        employees,
        founded_on,
        status,
    }
}

use CompanyStatus as S;
use GwangjuPresence as P;
use Sector as I;

const COMPANIES: &[DemoCompany] = &[
    company(
        "101-81-00001",
        "빛고을모빌리티",
        "Bitgoeul Mobility",
        I::Mobility,
        P::Headquarters,
        48,
        "2018-04-02",
        S::Approved,
    ),
    company(
        "101-81-00016",
        "광주에이아이랩",
        "Gwangju AI Lab",
        I::ArtificialIntelligence,
        P::Headquarters,
        65,
        "2019-09-17",
        S::Approved,
    ),
    company(
        "101-81-00020",
        "무등콘텐츠스튜디오",
        "Mudeung Content Studio",
        I::CultureContent,
        P::Headquarters,
        23,
        "2020-01-06",
        S::UnderReview,
    ),
    company(
        "101-81-00035",
        "첨단에너지솔루션",
        "Cheomdan Energy Solutions",
        I::Energy,
        P::Branch,
        112,
        "2015-06-30",
        S::Approved,
    ),
    company(
        "305-81-00447",
        "영산강헬스케어",
        "Yeongsan Healthcare AI",
        I::Healthcare,
        P::ResearchLab,
        37,
        "2021-03-15",
        S::Submitted,
    ),
    company(
        "410-86-12347",
        "광산포토닉스",
        "Gwangsan Photonics",
        I::PhotonicsAppliances,
        P::Headquarters,
        84,
        "2012-11-01",
        S::ChangesRequested,
    ),
    company(
        "621-81-00771",
        "하남스마트부품",
        "Hanam Smart Components",
        I::SmartComponents,
        P::Headquarters,
        140,
        "2010-02-22",
        S::Rejected,
    ),
    company(
        "130-86-00116",
        "첨단반도체설계",
        "Cheomdan Semiconductor Design",
        I::Semiconductors,
        P::ResearchLab,
        56,
        "2017-08-08",
        S::Suspended,
    ),
    company(
        "208-81-00054",
        "상무데이터",
        "Sangmu Data",
        I::Data,
        P::Planned,
        9,
        "2023-05-20",
        S::Draft,
    ),
    company(
        "409-81-00996",
        "서창자율주행",
        "Seochang Autonomous Driving",
        I::Mobility,
        P::ResearchLab,
        31,
        "2020-10-12",
        S::Approved,
    ),
    company(
        "112-86-00103",
        "광주NPU테크",
        "Gwangju NPU Tech",
        I::Semiconductors,
        P::Headquarters,
        44,
        "2019-02-01",
        S::Approved,
    ),
    company(
        "214-88-01232",
        "치평메디컬AI",
        "Chipyeong Medical AI",
        I::Healthcare,
        P::Headquarters,
        27,
        "2021-07-19",
        S::Approved,
    ),
    company(
        "617-86-00011",
        "송정스마트그리드",
        "Songjeong Smart Grid",
        I::Energy,
        P::Headquarters,
        73,
        "2016-05-09",
        S::Approved,
    ),
    company(
        "301-81-00557",
        "양림미디어랩",
        "Yangnim Media Lab",
        I::CultureContent,
        P::Branch,
        15,
        "2022-02-14",
        S::Approved,
    ),
    company(
        "510-81-00660",
        "첨단데이터댐",
        "Cheomdan Data Dam",
        I::Data,
        P::Headquarters,
        52,
        "2018-12-03",
        S::Approved,
    ),
];

/// The steps from DRAFT to `target`, with the note a refusal carries.
fn path_to(target: CompanyStatus) -> Vec<(CompanyAction, Option<&'static str>)> {
    use CompanyAction as A;
    let review = vec![(A::Submit, None), (A::StartReview, None)];
    let extra: Vec<(CompanyAction, Option<&'static str>)> = match target {
        S::Draft => return vec![],
        S::Submitted => return vec![(A::Submit, None)],
        S::UnderReview => vec![],
        S::ChangesRequested => vec![(
            A::RequestChanges,
            Some("광주 사업장 임대차계약서를 첨부해 주세요."),
        )],
        S::Approved => vec![(A::Approve, Some("전략산업 요건 충족"))],
        S::Rejected => vec![(
            A::Reject,
            Some("광주 소재 사업장 계획이 확인되지 않습니다."),
        )],
        S::Suspended => vec![
            (A::Approve, None),
            (A::Suspend, Some("정기 점검 서류 미제출")),
        ],
    };
    review.into_iter().chain(extra).collect()
}

fn caller(user_id: &str, role: Role) -> Caller {
    Caller {
        subject: user_id.to_owned(),
        role,
        company_ids: vec![],
        token_id: String::new(),
        expires_at: 0,
        issuer: "axv-seed".to_owned(),
        raw_token: Arc::from(""),
    }
}

async fn ensure_account(
    service: &Onboarding,
    email: &str,
    name: &str,
    role: Role,
) -> Result<String, OnboardingError> {
    if let Some(user) = service.store().user_by_email(email).await? {
        return Ok(user.id);
    }
    Ok(service
        .create_account(email, DEMO_PASSWORD, name, role)
        .await?
        .user
        .id)
}

/// Seeds the demo accounts and companies; returns how many companies it created.
pub async fn seed(service: &Onboarding) -> Result<usize, OnboardingError> {
    let firm = caller(
        &ensure_account(service, FIRM_EMAIL, "김민준 (데모 기업)", Role::FirmMember).await?,
        Role::FirmMember,
    );
    let manager = caller(
        &ensure_account(
            service,
            MANAGER_EMAIL,
            "이서연 (광주시 AI산업과)",
            Role::ProgramManager,
        )
        .await?,
        Role::ProgramManager,
    );
    ensure_account(service, ADMIN_EMAIL, "플랫폼 관리자", Role::Admin).await?;
    let mut created = 0;
    for demo in COMPANIES {
        let digits: String = demo
            .business_number
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        if service
            .store()
            .company_by_business_number(&digits)
            .await?
            .is_some()
        {
            continue;
        }
        let input = CompanyInput {
            business_number: demo.business_number.to_owned(),
            name_ko: demo.name_ko.to_owned(),
            name_en: Some(demo.name_en.to_owned()),
            sector: Some(demo.sector),
            presence: Some(demo.presence),
            employees: Some(demo.employees),
            founded_on: Some(demo.founded_on.to_owned()),
            contact_email: format!(
                "contact@{}.demo.axv.kr",
                demo.name_en.to_lowercase().replace(' ', "-")
            ),
        };
        let company = service.create_company(Some(&firm), input).await?;
        for (action, note) in path_to(demo.status) {
            let actor = if action == CompanyAction::Submit {
                &firm
            } else {
                &manager
            };
            service
                .transition(Some(actor), &company.company.id, action, note)
                .await?;
        }
        created += 1;
    }
    Ok(created)
}

/// The demo H100 pool: about a thousand H100s for a year, in GPU-seconds.
pub const H100_POOL_NAME: &str = "국가AI데이터센터 H100 (2026)";
const H100_GPUS: i64 = 1_000;
const HOUR: i64 = 3_600;

/// Seeds the voucher side: pools sized like the data center, a programme open now,
/// applications in every state, and vouchers with usage in their ledgers. Idempotent: does
/// nothing when the demo pool exists.
pub async fn seed_vouchers(
    store: &axv_vouchers::store::Store,
    onboarding: &Onboarding,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    use axv_vouchers::{
        domain::{ApplicationAction, FundingSource, ResourceKind},
        service::today,
        store::{NewApplication, NewPool, NewProgram, spend::UsageInput},
    };
    if store
        .pools(None)
        .await?
        .iter()
        .any(|p| p.name == H100_POOL_NAME)
    {
        return Ok(0);
    }
    let year_end = chrono::NaiveDate::from_ymd_opt(2026, 12, 31)
        .unwrap_or_else(today)
        .max(today() + chrono::Days::new(180));
    let h100 = store
        .create_pool(NewPool {
            name: H100_POOL_NAME.to_owned(),
            kind: ResourceKind::GpuH100,
            capacity: H100_GPUS * 365 * 24 * HOUR,
            funding: FundingSource::National,
            valid_from: today() - chrono::Days::new(60),
            valid_until: year_end,
        })
        .await?;
    store
        .create_pool(NewPool {
            name: "광주 국산 NPU 실증 풀 (2026)".to_owned(),
            kind: ResourceKind::Npu,
            capacity: 200 * 365 * 24 * HOUR,
            funding: FundingSource::City,
            valid_from: today() - chrono::Days::new(60),
            valid_until: year_end,
        })
        .await?;
    let program = store
        .create_program(NewProgram {
            pool_id: h100.id.clone(),
            name: "2026 AX 실증밸리 컴퓨팅 바우처 1차".to_owned(),
            opens_on: today() - chrono::Days::new(30),
            closes_on: today() + chrono::Days::new(60),
            max_per_company: 50_000 * HOUR,
            sectors: vec![],
        })
        .await?;

    // (company business number, requested GPU-hours, outcome, granted GPU-hours, used GPU-hours)
    let plan: [(&str, i64, &str, i64, i64); 7] = [
        ("101-81-00001", 20_000, "approve", 20_000, 16_500),
        ("101-81-00016", 40_000, "approve", 25_000, 7_200),
        ("409-81-00996", 30_000, "approve", 30_000, 29_000),
        ("112-86-00103", 10_000, "submit", 0, 0),
        ("214-88-01232", 15_000, "reject", 0, 0),
        ("617-86-00011", 8_000, "withdraw", 0, 0),
        ("510-81-00660", 12_000, "approve", 6_000, 600),
    ];
    let mut issued = 0;
    for (number, requested, outcome, granted, used) in plan {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let Some(company) = onboarding
            .store()
            .company_by_business_number(&digits)
            .await?
        else {
            continue;
        };
        let application = store
            .create_application(NewApplication {
                program_id: program.id.clone(),
                company_id: company.id.clone(),
                requested_amount: requested * HOUR,
                justification: format!("{}: 실증 서비스용 AI 모델 학습 및 추론", company.name_ko),
                pilot_id: None,
                created_by: "demo".to_owned(),
            })
            .await?;
        match outcome {
            "approve" => {
                let (_, voucher) = store
                    .approve_application(
                        &application.id,
                        granted * HOUR,
                        "demo-manager",
                        Some("적정"),
                        today(),
                    )
                    .await?;
                // A week of jobs: single records, and one reserved job committed for less.
                let jobs = 6;
                for job in 0..jobs {
                    store
                        .record_usage(
                            UsageInput {
                                cluster: "gwangju-h100",
                                job_id: &format!("{}-{job}", &voucher.code),
                                voucher_code: &voucher.code,
                                amount: used * HOUR / jobs,
                                started_at: None,
                                ended_at: None,
                            },
                            today(),
                        )
                        .await?;
                }
                let hold_id = format!("{}-reserved", voucher.code);
                store
                    .create_hold(
                        &hold_id,
                        &voucher.code,
                        8 * 4 * HOUR,
                        axv_platform::ids::now_ms() + 86_400_000,
                        None,
                        today(),
                    )
                    .await?;
                store.commit_hold(&hold_id, 8 * 3 * HOUR).await?;
                issued += 1;
            }
            "reject" => {
                store
                    .close_application(
                        &application.id,
                        ApplicationAction::Reject,
                        "demo-manager",
                        Some("실증 계획이 구체적이지 않습니다."),
                    )
                    .await?;
            }
            "withdraw" => {
                store
                    .close_application(&application.id, ApplicationAction::Withdraw, "demo", None)
                    .await?;
            }
            _ => {}
        }
    }
    Ok(issued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_every_industry_is_shown() {
        for status in CompanyStatus::ALL {
            assert!(COMPANIES.iter().any(|c| c.status == *status), "{status}");
        }
        for sector in Sector::ALL {
            assert!(COMPANIES.iter().any(|c| c.sector == *sector), "{sector}");
        }
    }

    #[test]
    fn paths_end_where_they_should() {
        for status in CompanyStatus::ALL {
            let end = path_to(*status)
                .iter()
                .try_fold(CompanyStatus::Draft, |state, (action, _)| {
                    action.apply(state)
                });
            assert_eq!(end.ok(), Some(*status));
        }
    }

    #[test]
    fn business_numbers_are_valid() {
        for demo in COMPANIES {
            assert!(
                axv_onboarding::domain::BusinessNumber::parse(demo.business_number).is_ok(),
                "{}",
                demo.business_number
            );
        }
    }
}
