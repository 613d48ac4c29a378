//! The demo compute: pools sized like the data center, a programme, applications and vouchers with usage.

use axv_onboarding::service::Onboarding;
use axv_platform::calendar::today_kst;

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
    cast: &super::Cast,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    use axv_vouchers::{
        domain::{ApplicationAction, FundingSource, ResourceKind},
        store::{NewPool, NewProgram, spend::UsageInput},
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
        .create_pool(
            NewPool {
                name: H100_POOL_NAME.to_owned(),
                kind: ResourceKind::GpuH100,
                capacity: H100_GPUS * 365 * 24 * HOUR,
                funding: FundingSource::National,
                valid_from: today_kst() - chrono::Days::new(60),
                valid_until: year_end,
            },
            &cast.admin,
        )
        .await?;
    let npu = store
        .create_pool(
            NewPool {
                name: "광주 국산 NPU 실증 풀 (2026)".to_owned(),
                kind: ResourceKind::Npu,
                capacity: 200 * 365 * 24 * HOUR,
                funding: FundingSource::City,
                valid_from: today_kst() - chrono::Days::new(60),
                valid_until: year_end,
            },
            &cast.admin,
        )
        .await?;
    let program = store
        .create_program(
            NewProgram {
                pool_id: h100.id.clone(),
                name: "2026 AX 실증밸리 컴퓨팅 바우처 1차".to_owned(),
                opens_on: today_kst() - chrono::Days::new(30),
                closes_on: today_kst() + chrono::Days::new(60),
                max_per_company: 50_000 * HOUR,
                sectors: vec![],
            },
            &cast.manager,
        )
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
        let Some(application) = apply(
            store,
            onboarding,
            pilots,
            (&program.id, number, requested),
            "실증 서비스용 AI 모델 학습 및 추론",
            &cast.firm,
        )
        .await?
        else {
            continue;
        };
        match outcome {
            "approve" => {
                let (_, voucher) = store
                    .approve_application(
                        &application.id,
                        granted * HOUR,
                        &cast.manager,
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
                        &cast.operator,
                    )
                    .await?;
                store
                    .commit_hold(&hold_id, 8 * 3 * HOUR, &cast.operator)
                    .await?;
                issued += 1;
            }
            "reject" => {
                store
                    .close_application(
                        &application.id,
                        ApplicationAction::Reject,
                        &cast.manager,
                        Some("실증 계획이 구체적이지 않습니다."),
                    )
                    .await?;
            }
            "withdraw" => {
                store
                    .close_application(
                        &application.id,
                        ApplicationAction::Withdraw,
                        &cast.firm,
                        None,
                    )
                    .await?;
            }
            _ => {}
        }
    }

    // The city's own money: NPU-hours for two firms, so the staff figures' funding filter has
    // something to show besides the national H100 pool.
    let npu_program = store
        .create_program(
            NewProgram {
                pool_id: npu.id.clone(),
                name: "2026 광주 국산 NPU 실증 지원".to_owned(),
                opens_on: today_kst() - chrono::Days::new(30),
                closes_on: today_kst() + chrono::Days::new(60),
                max_per_company: 5_000 * HOUR,
                sectors: vec![],
            },
            &cast.manager,
        )
        .await?;
    for (number, hours) in [("101-81-00016", 3_000), ("510-81-00660", 1_500)] {
        let Some(application) = apply(
            store,
            onboarding,
            pilots,
            (&npu_program.id, number, hours),
            "국산 NPU 추론 서빙 실증",
            &cast.firm,
        )
        .await?
        else {
            continue;
        };
        store
            .approve_application(
                &application.id,
                hours * HOUR,
                &cast.manager,
                Some("시비 지원"),
                today_kst(),
            )
            .await?;
        issued += 1;
    }
    Ok(issued)
}

type DemoError = Box<dyn std::error::Error + Send + Sync>;

/// The application to `program_id` for `hours` of the demo company with business number
/// `number` (`why` after its name); `None` when the demo has no such company.
async fn apply(
    store: &axv_vouchers::store::Store,
    onboarding: &Onboarding,
    pilots: &std::collections::HashMap<String, String>,
    (program_id, number, hours): (&str, &str, i64),
    why: &str,
    firm: &axv_platform::audit::Actor,
) -> Result<Option<axv_vouchers::store::ApplicationRecord>, DemoError> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let Some(company) = onboarding
        .store()
        .company_by_business_number(&digits)
        .await?
    else {
        return Ok(None);
    };
    let application = store
        .create_application(
            axv_vouchers::store::NewApplication {
                program_id: program_id.to_owned(),
                company_id: company.id.clone(),
                requested_amount: hours * HOUR,
                justification: format!("{}: {why}", company.name_ko),
                pilot_id: pilots.get(&company.business_number).cloned(),
            },
            firm,
        )
        .await?;
    Ok(Some(application))
}

/// A week of the data center's `sacct --parsable2` output (the repository's realistic fixture)
/// charged to the demo's vouchers, for trying the operators' upload: most jobs are charged,
/// and some lines are refused (malformed lines, an unknown account, a voucher that cannot be
/// spent), each with its reason.
pub async fn sample_sacct(
    store: &axv_vouchers::store::Store,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    use axv_vouchers::{
        domain::{ResourceKind, VoucherStatus},
        store::VoucherFilter,
    };
    let (vouchers, _) = store
        .list_vouchers(&VoucherFilter::default(), None, 1_000)
        .await?;
    let mut spendable: Vec<_> = vouchers
        .iter()
        .filter(|v| v.status == VoucherStatus::Active && v.kind == ResourceKind::GpuH100)
        .collect();
    // The largest balances first, so the week's jobs are charged rather than overage.
    spendable.sort_by_key(|v| std::cmp::Reverse(v.balance));
    let ended = vouchers
        .iter()
        .find(|v| v.status != VoucherStatus::Active)
        .map_or("GPU-EXPIRED-0000", |v| v.code.as_str());
    let mut text = include_str!("../../../vouchers/tests/fixtures/sacct_h100_week.txt").to_owned();
    for (placeholder, voucher) in ["V1", "V2", "V3"].iter().zip(&spendable) {
        text = text.replace(&format!("{{{{{placeholder}}}}}"), &voucher.code);
    }
    Ok(text.replace("{{EXPIRED}}", ended))
}
