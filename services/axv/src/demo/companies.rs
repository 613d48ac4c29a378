//! The demo firms: one or more per strategic industry, in every application state.

use std::sync::Arc;

use axv_auth::{Caller, Role};
use axv_onboarding::{
    OnboardingError,
    domain::{CompanyAction, CompanyInput, CompanyStatus, GwangjuPresence, Sector},
    service::Onboarding,
};
use axv_platform::audit::Actor;

use super::*;

pub(super) struct DemoCompany {
    pub(super) business_number: &'static str,
    pub(super) name_ko: &'static str,
    pub(super) name_en: &'static str,
    pub(super) sector: Sector,
    pub(super) presence: GwangjuPresence,
    pub(super) employees: i64,
    pub(super) founded_on: &'static str,
    pub(super) status: CompanyStatus,
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

pub(super) const COMPANIES: &[DemoCompany] = &[
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
pub(super) fn path_to(target: CompanyStatus) -> Vec<(CompanyAction, Option<&'static str>)> {
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

pub(super) fn caller(user_id: &str, role: Role) -> Caller {
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
/// The demo's people, as the seeded changes' actors: its history is theirs, with their names.
pub struct Cast {
    pub firm: Actor,
    pub manager: Actor,
    pub admin: Actor,
    pub operator: Actor,
}

/// The demo's accounts, created if missing.
pub async fn cast(service: &Onboarding) -> Result<Cast, OnboardingError> {
    let firm = ensure_account(service, FIRM_EMAIL, "김민준 (데모 기업)", Role::FirmMember).await?;
    let manager = ensure_account(
        service,
        MANAGER_EMAIL,
        "이서연 (광주시 AI산업과)",
        Role::ProgramManager,
    )
    .await?;
    let admin = ensure_account(service, ADMIN_EMAIL, "플랫폼 관리자", Role::Admin).await?;
    let operator = ensure_account(
        service,
        OPERATOR_EMAIL,
        "박지훈 (국가AI데이터센터 운영팀)",
        Role::Operator,
    )
    .await?;
    Ok(Cast {
        firm: Actor::account(&firm, Role::FirmMember),
        manager: Actor::account(&manager, Role::ProgramManager),
        admin: Actor::account(&admin, Role::Admin),
        operator: Actor::account(&operator, Role::Operator),
    })
}

pub async fn seed(service: &Onboarding) -> Result<usize, OnboardingError> {
    let cast = cast(service).await?;
    let firm = caller(&cast.firm.id, Role::FirmMember);
    let manager = caller(&cast.manager.id, Role::ProgramManager);
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

/// The industry of the demo company with this business number.
#[cfg(test)]
pub(crate) fn sector_of(business_number: &str) -> Option<String> {
    COMPANIES
        .iter()
        .find(|c| c.business_number == business_number)
        .map(|c| c.sector.as_str().to_owned())
}
