//! The demo pilots: at Gwangju's real testbeds, in every state and every domain.

use axv_onboarding::service::Onboarding;

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

pub(super) const PILOTS: &[DemoPilot] = &[
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
    // The 2021–2024 cohort (see `outcomes.rs`): three lead firms per (industry, domain), so
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
    use crate::demo::outcomes::{COHORT_END, COHORT_START};
    PILOTS
        .iter()
        .filter(|p| p.5 == COHORT_START && p.6 == COHORT_END)
}

/// Seeds demo pilots; returns the pilot id each lead company's first pilot got (for linking
/// vouchers). Idempotent: does nothing when demo pilots exist.
pub async fn seed_pilots(
    store: &axv_pilots::store::Store,
    onboarding: &Onboarding,
    cast: &super::Cast,
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
        let pilot = store.create(&draft, &snapshot(&lead), &cast.firm).await?;
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
                    &cast.firm,
                )
                .await?;
        }
        let start = date(starts)?;
        store
            .add_milestone(
                &pilot.id,
                "실증 장비·데이터 구축",
                start + chrono::Days::new(60),
                &lead.id,
                &cast.firm,
            )
            .await?;
        store
            .add_milestone(
                &pilot.id,
                "중간 점검 및 성과 보고",
                start + chrono::Days::new(180),
                &lead.id,
                &cast.firm,
            )
            .await?;
        store
            .add_milestone(
                &pilot.id,
                "최종 실증 결과 보고",
                date(ends)?,
                &lead.id,
                &cast.firm,
            )
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
                            &lead.id,
                            &cast.firm,
                        )
                        .await?;
                }
            }
            let note = note.map(str::to_owned);
            let actor = if *action == PilotAction::Submit {
                &cast.firm
            } else {
                &cast.manager
            };
            store
                .transition(&pilot.id, *action, actor, move |_| Ok(note))
                .await?;
        }
        if matches!(target, PilotStatus::Active) {
            let current = store.pilot(&pilot.id).await?.ok_or("pilot vanished")?;
            if let Some(first) = current.milestones.first() {
                store
                    .complete_milestone(
                        &pilot.id,
                        &first.id,
                        Some("장비 도입 검수 완료"),
                        &lead.id,
                        &cast.firm,
                    )
                    .await?;
            }
        }
    }
    Ok(linked)
}
