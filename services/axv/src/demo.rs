//! Demo data for `axv up --demo` and `axv seed --demo`: realistic firms of Gwangju across the
//! nine strategic industries, in every application state. Idempotent: what exists is kept.

use axv_platform::calendar::today_kst;
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
    // The 2021–2024 cohort: firms whose pilots produced the city's published outcome figures.
    company(
        "101-81-00243",
        "광주자율주행기술",
        "Gwangju Autonomous Tech",
        I::Mobility,
        P::Headquarters,
        56,
        "2016-05-10",
        S::Approved,
    ),
    company(
        "305-81-01072",
        "첨단메디AI",
        "Cheomdan Medi AI",
        I::Healthcare,
        P::ResearchLab,
        41,
        "2018-02-01",
        S::Approved,
    ),
    company(
        "305-81-02085",
        "빛고을바이오헬스",
        "Bitgoeul Bio Health",
        I::Healthcare,
        P::Headquarters,
        29,
        "2019-07-22",
        S::Approved,
    ),
    company(
        "410-86-10072",
        "한빛그리드",
        "Hanbit Grid",
        I::Energy,
        P::Branch,
        73,
        "2014-03-03",
        S::Approved,
    ),
    company(
        "101-81-00355",
        "광주딥러닝",
        "Gwangju Deep Learning",
        I::ArtificialIntelligence,
        P::Headquarters,
        34,
        "2020-02-14",
        S::Approved,
    ),
    company(
        "410-86-11066",
        "무등비전AI",
        "Mudeung Vision AI",
        I::ArtificialIntelligence,
        P::Headquarters,
        22,
        "2019-04-01",
        S::Approved,
    ),
    company(
        "130-86-10098",
        "첨단엣지NPU",
        "Cheomdan Edge NPU",
        I::Semiconductors,
        P::Headquarters,
        58,
        "2017-08-08",
        S::Approved,
    ),
    company(
        "130-86-12010",
        "첨단반도체설계",
        "Cheomdan Chip Design",
        I::Semiconductors,
        P::ResearchLab,
        46,
        "2016-11-21",
        S::Approved,
    ),
    company(
        "208-81-03051",
        "빛가람데이터",
        "Bitgaram Data",
        I::Data,
        P::Branch,
        31,
        "2018-10-01",
        S::Approved,
    ),
    company(
        "208-81-04064",
        "광주공공데이터랩",
        "Gwangju Open Data Lab",
        I::Data,
        P::Headquarters,
        19,
        "2020-06-15",
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
    pilots: &std::collections::HashMap<String, String>,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    use axv_vouchers::{
        domain::{ApplicationAction, FundingSource, ResourceKind},
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
        .unwrap_or_else(today_kst)
        .max(today_kst() + chrono::Days::new(180));
    let h100 = store
        .create_pool(NewPool {
            name: H100_POOL_NAME.to_owned(),
            kind: ResourceKind::GpuH100,
            capacity: H100_GPUS * 365 * 24 * HOUR,
            funding: FundingSource::National,
            valid_from: today_kst() - chrono::Days::new(60),
            valid_until: year_end,
        })
        .await?;
    store
        .create_pool(NewPool {
            name: "광주 국산 NPU 실증 풀 (2026)".to_owned(),
            kind: ResourceKind::Npu,
            capacity: 200 * 365 * 24 * HOUR,
            funding: FundingSource::City,
            valid_from: today_kst() - chrono::Days::new(60),
            valid_until: year_end,
        })
        .await?;
    let program = store
        .create_program(NewProgram {
            pool_id: h100.id.clone(),
            name: "2026 AX 실증밸리 컴퓨팅 바우처 1차".to_owned(),
            opens_on: today_kst() - chrono::Days::new(30),
            closes_on: today_kst() + chrono::Days::new(60),
            max_per_company: 50_000 * HOUR,
            sectors: vec![],
        })
        .await?;

    // (company business number, requested GPU-hours, outcome, granted GPU-hours, used GPU-hours)
    // Mobility and AI firms hold three vouchers each, so the public figures show their grants;
    // the lone data firm's stays suppressed.
    let plan: [(&str, i64, &str, i64, i64); 10] = [
        ("101-81-00001", 20_000, "approve", 20_000, 16_500),
        ("101-81-00016", 40_000, "approve", 25_000, 7_200),
        ("409-81-00996", 30_000, "approve", 30_000, 29_000),
        ("101-81-00243", 10_000, "approve", 10_000, 2_400),
        ("101-81-00355", 12_000, "approve", 8_000, 3_100),
        ("410-86-11066", 6_000, "approve", 6_000, 900),
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
                pilot_id: pilots.get(&company.business_number).cloned(),
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
                        today_kst(),
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
                            today_kst(),
                            &Default::default(),
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
                        today_kst(),
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

/// Demo pilots: one or more per domain, at Gwangju's real testbeds, in every state.
/// (lead company business number, partner business number, title, domain, site, starts, ends,
/// budgets national/city/private in KRW, sandbox, target state)
pub(crate) type DemoPilot = (
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    [i64; 3],
    bool,
    &'static str,
);

const PILOTS: &[DemoPilot] = &[
    (
        "409-81-00996",
        Some("101-81-00001"),
        "광주 전역 자율주행 셔틀 도심 실증",
        "AUTONOMOUS_DRIVING",
        "광주 자율주행 실증지구 (첨단3지구–광산구)",
        "2025-09-01",
        "2027-08-31",
        [3_200_000_000, 800_000_000, 600_000_000],
        true,
        "ACTIVE",
    ),
    (
        "214-88-01232",
        Some("101-81-00016"),
        "AI 특화 병원 영상판독 보조 실증",
        "HEALTHCARE",
        "광주 AI 특화 병원 (동구)",
        "2025-07-01",
        "2026-12-31",
        [1_800_000_000, 400_000_000, 300_000_000],
        true,
        "ACTIVE",
    ),
    (
        "617-86-00011",
        None,
        "에너지밸리 수요반응 AI 실증",
        "ENERGY",
        "빛가람 에너지밸리 연계 광주 남구 실증단지",
        "2025-03-01",
        "2026-02-28",
        [900_000_000, 300_000_000, 200_000_000],
        false,
        "COMPLETED",
    ),
    (
        "101-81-00001",
        None,
        "교차로 신호 최적화 AI 실증",
        "TRAFFIC",
        "광주 상무지구 스마트교차로 12곳",
        "2026-01-05",
        "2026-12-31",
        [700_000_000, 500_000_000, 100_000_000],
        false,
        "APPROVED",
    ),
    (
        "101-81-00016",
        None,
        "CCTV 이상행동 탐지 AI 실증",
        "PUBLIC_SAFETY",
        "광주 북구 안전도시 관제센터",
        "2026-02-01",
        "2026-11-30",
        [500_000_000, 300_000_000, 50_000_000],
        false,
        "SUBMITTED",
    ),
    (
        "112-86-00103",
        Some("510-81-00660"),
        "국산 NPU 추론 서버 실증",
        "AI_SEMICONDUCTOR",
        "국가AI데이터센터 (첨단3지구)",
        "2025-11-01",
        "2026-10-31",
        [2_500_000_000, 0, 1_000_000_000],
        false,
        "SUSPENDED",
    ),
    (
        "101-81-00035",
        None,
        "가전 조립 휴머노이드 협동 실증",
        "MANUFACTURING_ROBOTICS",
        "광주 하남산업단지",
        "2026-04-01",
        "2027-03-31",
        [1_100_000_000, 200_000_000, 700_000_000],
        true,
        "DRAFT",
    ),
    (
        "301-81-00557",
        None,
        "AI 웹툰 현지화 실증",
        "CULTURE_CONTENT",
        "광주 CGI센터",
        "2025-06-01",
        "2025-12-31",
        [300_000_000, 100_000_000, 50_000_000],
        false,
        "REJECTED",
    ),
    (
        "510-81-00660",
        None,
        "도시 데이터댐 개방형 API 실증",
        "DATA",
        "광주 AI 집적단지 데이터센터",
        "2025-05-01",
        "2026-04-30",
        [600_000_000, 200_000_000, 0],
        false,
        "CANCELLED",
    ),
    // The 2021–2024 cohort (see `demo_outcomes`): three lead firms per (industry, domain), so
    // every published cell clears the three-company threshold.
    (
        "101-81-00001",
        None,
        "자율주행 수요응답형 버스 실증 (1단계)",
        "AUTONOMOUS_DRIVING",
        "광주 자율주행 실증지구 (첨단3지구–광산구)",
        "2021-01-01",
        "2024-12-31",
        [2_400_000_000, 600_000_000, 400_000_000],
        false,
        "COMPLETED",
    ),
    (
        "409-81-00996",
        None,
        "자율주행 물류 로봇 실증",
        "AUTONOMOUS_DRIVING",
        "광주 평동산업단지",
        "2021-01-01",
        "2024-12-31",
        [1_200_000_000, 300_000_000, 300_000_000],
        false,
        "COMPLETED",
    ),
    (
        "101-81-00243",
        None,
        "자율주행 정밀지도 갱신 실증",
        "AUTONOMOUS_DRIVING",
        "광주 도심 순환도로",
        "2021-01-01",
        "2024-12-31",
        [900_000_000, 300_000_000, 200_000_000],
        false,
        "COMPLETED",
    ),
    (
        "101-81-00035",
        None,
        "산업단지 에너지 AI 최적화 실증",
        "ENERGY",
        "광주 하남산업단지",
        "2021-01-01",
        "2024-12-31",
        [1_000_000_000, 400_000_000, 300_000_000],
        false,
        "COMPLETED",
    ),
    (
        "617-86-00011",
        None,
        "태양광 발전량 예측 AI 실증",
        "ENERGY",
        "빛가람 에너지밸리 연계 광주 남구 실증단지",
        "2021-01-01",
        "2024-12-31",
        [800_000_000, 200_000_000, 200_000_000],
        false,
        "COMPLETED",
    ),
    (
        "410-86-10072",
        None,
        "ESS 운영 최적화 AI 실증",
        "ENERGY",
        "광주 광산구 ESS 실증센터",
        "2021-01-01",
        "2024-12-31",
        [700_000_000, 300_000_000, 400_000_000],
        false,
        "COMPLETED",
    ),
    (
        "214-88-01232",
        None,
        "응급실 중증도 분류 AI 실증",
        "HEALTHCARE",
        "광주 AI 특화 병원 (동구)",
        "2021-01-01",
        "2024-12-31",
        [1_500_000_000, 500_000_000, 200_000_000],
        false,
        "COMPLETED",
    ),
    (
        "305-81-01072",
        None,
        "AI 병리 진단 보조 실증",
        "HEALTHCARE",
        "광주 권역 대학병원 병리과",
        "2021-01-01",
        "2024-12-31",
        [1_100_000_000, 300_000_000, 100_000_000],
        false,
        "COMPLETED",
    ),
    (
        "305-81-02085",
        None,
        "만성질환 원격 모니터링 AI 실증",
        "HEALTHCARE",
        "광주 북구 보건소 권역",
        "2021-01-01",
        "2024-12-31",
        [600_000_000, 300_000_000, 100_000_000],
        false,
        "COMPLETED",
    ),
    (
        "101-81-00016",
        None,
        "도시 교통량 예측 AI 실증",
        "TRAFFIC",
        "광주 교통정보센터",
        "2021-01-01",
        "2024-12-31",
        [900_000_000, 400_000_000, 100_000_000],
        false,
        "COMPLETED",
    ),
    (
        "101-81-00355",
        None,
        "버스 도착 예측 AI 실증",
        "TRAFFIC",
        "광주 시내버스 BIS 전 노선",
        "2021-01-01",
        "2024-12-31",
        [500_000_000, 300_000_000, 50_000_000],
        false,
        "COMPLETED",
    ),
    (
        "410-86-11066",
        None,
        "불법 주정차 탐지 AI 실증",
        "TRAFFIC",
        "광주 서구 상무지구",
        "2021-01-01",
        "2024-12-31",
        [400_000_000, 200_000_000, 50_000_000],
        false,
        "COMPLETED",
    ),
    (
        "112-86-00103",
        None,
        "AI 반도체 팜 실증",
        "AI_SEMICONDUCTOR",
        "국가AI데이터센터 (첨단3지구)",
        "2021-01-01",
        "2024-12-31",
        [3_000_000_000, 500_000_000, 1_500_000_000],
        false,
        "COMPLETED",
    ),
    (
        "130-86-10098",
        None,
        "엣지 NPU 스마트카메라 실증",
        "AI_SEMICONDUCTOR",
        "광주 첨단과학산업단지",
        "2021-01-01",
        "2024-12-31",
        [1_300_000_000, 200_000_000, 600_000_000],
        false,
        "COMPLETED",
    ),
    (
        "130-86-12010",
        None,
        "저전력 AI 가속기 설계 실증",
        "AI_SEMICONDUCTOR",
        "광주 AI 집적단지 (첨단3지구)",
        "2021-01-01",
        "2024-12-31",
        [1_100_000_000, 200_000_000, 500_000_000],
        false,
        "COMPLETED",
    ),
    (
        "510-81-00660",
        None,
        "AI 학습용 데이터 구축 실증",
        "DATA",
        "광주 AI 집적단지 데이터센터",
        "2021-01-01",
        "2024-12-31",
        [1_400_000_000, 300_000_000, 100_000_000],
        false,
        "COMPLETED",
    ),
    (
        "208-81-03051",
        None,
        "도시 데이터 허브 실증",
        "DATA",
        "광주 스마트시티 통합플랫폼",
        "2021-01-01",
        "2024-12-31",
        [700_000_000, 300_000_000, 100_000_000],
        false,
        "COMPLETED",
    ),
    (
        "208-81-04064",
        None,
        "공공데이터 품질 진단 AI 실증",
        "DATA",
        "광주 공공데이터 개방 포털",
        "2021-01-01",
        "2024-12-31",
        [400_000_000, 200_000_000, 50_000_000],
        false,
        "COMPLETED",
    ),
];

/// The 2021–2024 cohort's pilots, whose reports carry the published figures.
#[cfg(test)]
pub(crate) fn cohort_pilots() -> impl Iterator<Item = &'static DemoPilot> {
    use crate::demo_outcomes::{COHORT_END, COHORT_START};
    PILOTS
        .iter()
        .filter(|p| p.5 == COHORT_START && p.6 == COHORT_END)
}

/// The industry of the demo company with this business number.
#[cfg(test)]
pub(crate) fn sector_of(business_number: &str) -> Option<String> {
    COMPANIES
        .iter()
        .find(|c| c.business_number == business_number)
        .map(|c| c.sector.as_str().to_owned())
}

/// Seeds demo pilots; returns the pilot id each lead company's first pilot got (for linking
/// vouchers). Idempotent: does nothing when demo pilots exist.
pub async fn seed_pilots(
    store: &axv_pilots::store::Store,
    onboarding: &Onboarding,
) -> Result<std::collections::HashMap<String, String>, Box<dyn std::error::Error + Send + Sync>> {
    use axv_pilots::{
        domain::{ParticipantState, PilotAction, PilotDomain, PilotDraft, PilotStatus},
        store::{CompanySnapshot, ListScope, PilotFilter},
    };
    let mut linked = std::collections::HashMap::new();
    let (existing, _) = store
        .list(&ListScope::All, &PilotFilter::default(), None, 1)
        .await?;
    if !existing.is_empty() {
        return Ok(linked);
    }
    let snapshot = |c: &axv_onboarding::store::CompanyRecord| CompanySnapshot {
        id: c.id.clone(),
        name_ko: c.name_ko.clone(),
        sector: c.sector.as_str().to_owned(),
        presence: c.presence.as_str().to_owned(),
    };
    let by_number = |number: &str| {
        number
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
    };
    for (
        lead,
        partner,
        title,
        domain,
        site,
        starts,
        ends,
        [national, city, private],
        sandbox,
        target,
    ) in PILOTS
    {
        let Some(lead) = onboarding
            .store()
            .company_by_business_number(&by_number(lead))
            .await?
        else {
            continue;
        };
        let (Some(domain), Some(target)) = (PilotDomain::parse(domain), PilotStatus::parse(target))
        else {
            continue;
        };
        let date = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d");
        let draft = PilotDraft {
            title: (*title).to_owned(),
            title_en: None,
            summary: format!("{title}: 광주 AX 실증밸리 실증 과제"),
            domain,
            site: (*site).to_owned(),
            starts_on: date(starts)?,
            ends_on: date(ends)?,
            budget_national: *national,
            budget_city: *city,
            budget_private: *private,
            regulatory_sandbox: *sandbox,
            sandbox_reference: sandbox.then(|| "광주 규제자유특구 실증특례".to_owned()),
        };
        let pilot = store.create(&draft, &snapshot(&lead), "demo").await?;
        linked
            .entry(lead.business_number.clone())
            .or_insert_with(|| pilot.id.clone());
        if let Some(partner) = partner
            && let Some(partner) = onboarding
                .store()
                .company_by_business_number(&by_number(partner))
                .await?
        {
            store
                .add_participant(
                    &pilot,
                    &snapshot(&partner),
                    "partner",
                    ParticipantState::Accepted,
                    "demo",
                )
                .await?;
        }
        let start = date(starts)?;
        store
            .add_milestone(
                &pilot.id,
                "실증 장비·데이터 구축",
                start + chrono::Days::new(60),
            )
            .await?;
        store
            .add_milestone(
                &pilot.id,
                "중간 점검 및 성과 보고",
                start + chrono::Days::new(180),
            )
            .await?;
        store
            .add_milestone(&pilot.id, "최종 실증 결과 보고", date(ends)?)
            .await?;
        let path: &[(PilotAction, Option<&str>)] = match target {
            PilotStatus::Draft => &[],
            PilotStatus::Submitted => &[(PilotAction::Submit, None)],
            PilotStatus::Approved => &[
                (PilotAction::Submit, None),
                (PilotAction::Approve, Some("실증 계획 적정")),
            ],
            PilotStatus::Rejected => &[
                (PilotAction::Submit, None),
                (
                    PilotAction::Reject,
                    Some("실증 지역 협의가 완료되지 않았습니다."),
                ),
            ],
            PilotStatus::Active => &[
                (PilotAction::Submit, None),
                (PilotAction::Approve, None),
                (PilotAction::Start, None),
            ],
            PilotStatus::Suspended => &[
                (PilotAction::Submit, None),
                (PilotAction::Approve, None),
                (PilotAction::Start, None),
                (PilotAction::Suspend, Some("안전 점검을 위한 일시 중지")),
            ],
            PilotStatus::Completed => &[
                (PilotAction::Submit, None),
                (PilotAction::Approve, None),
                (PilotAction::Start, None),
                (PilotAction::Complete, Some("최종 보고 완료")),
            ],
            PilotStatus::Cancelled => &[
                (PilotAction::Submit, None),
                (PilotAction::Approve, None),
                (PilotAction::Cancel, Some("참여 기업 사정으로 취소")),
            ],
        };
        // Running pilots have their first milestone done; completed ones all of them.
        let done = match target {
            PilotStatus::Active | PilotStatus::Suspended => 1,
            PilotStatus::Completed => 3,
            _ => 0,
        };
        for (action, note) in path {
            if *action == PilotAction::Complete || (*action == PilotAction::Suspend && done > 0) {
                let current = store.pilot(&pilot.id).await?.ok_or("pilot vanished")?;
                for milestone in current.milestones.iter().take(done) {
                    store
                        .complete_milestone(
                            &pilot.id,
                            &milestone.id,
                            Some("https://axv.gwangju.kr/evidence/demo"),
                        )
                        .await?;
                }
            }
            let note = note.map(str::to_owned);
            store
                .transition(&pilot.id, *action, "demo-manager", move |_| Ok(note))
                .await?;
        }
        if matches!(target, PilotStatus::Active) {
            let current = store.pilot(&pilot.id).await?.ok_or("pilot vanished")?;
            if let Some(first) = current.milestones.first() {
                store
                    .complete_milestone(&pilot.id, &first.id, Some("장비 도입 검수 완료"))
                    .await?;
            }
        }
    }
    Ok(linked)
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
    fn demo_pilots_cover_every_state_and_every_domain_but_other() {
        use axv_pilots::domain::{PilotDomain, PilotStatus};
        for status in PilotStatus::ALL {
            assert!(PILOTS.iter().any(|p| p.9 == status.as_str()), "{status}");
        }
        for domain in PilotDomain::ALL
            .iter()
            .filter(|d| **d != PilotDomain::Other)
        {
            assert!(PILOTS.iter().any(|p| p.3 == domain.as_str()), "{domain}");
        }
        for pilot in PILOTS {
            assert!(
                COMPANIES.iter().any(|c| c.business_number == pilot.0),
                "lead {}",
                pilot.0
            );
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
