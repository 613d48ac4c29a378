//! What the outcomes tests add to the test kit: pilots moved along their life, vouchers linked
//! to them, usage charged and backdated, and the report calls every test makes.

use axv_auth::Role;
use axv_platform::calendar::today_kst;
use axv_proto::outcomes::v1::{self as pb, outcomes_service_client::OutcomesServiceClient};
use axv_proto::pilots::v1::{self as pilots_pb, pilots_service_client::PilotsServiceClient};
use axv_proto::vouchers::v1::{
    self as vouchers_pb, vouchers_service_client::VouchersServiceClient,
};
use axv_testkit::{
    Firm, Stack, authed,
    vouchers::{issue_for_pilot, pool_and_program},
};
use chrono::NaiveDate;
use tonic::transport::Channel;

/// What a pilot is registered with.
pub struct PilotSpec<'a> {
    pub title: &'a str,
    pub domain: axv_proto::common::v1::PilotDomain,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

impl PilotSpec<'_> {
    /// A pilot in `domain` running through 2026 and 2027.
    pub fn standard(domain: axv_proto::common::v1::PilotDomain) -> Self {
        PilotSpec {
            title: "실증 과제",
            domain,
            starts_on: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            ends_on: NaiveDate::from_ymd_opt(2027, 12, 31).unwrap(),
        }
    }
}

/// How far along its life `OutcomesStack::pilot` moves a pilot.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Registered,
    Approved,
    Active,
}

/// What the outcomes tests ask of a stack beyond the test kit's.
pub trait OutcomesStack {
    async fn client(&self) -> OutcomesServiceClient<Channel>;
    async fn pilots_client(&self) -> PilotsServiceClient<Channel>;
    async fn pilot(&self, lead: &Firm, spec: &PilotSpec<'_>, stage: Stage) -> String;
    async fn move_pilot(&self, id: &str, action: pilots_pb::PilotAction, token: &str);
    async fn pilot_voucher(&self, company_id: &str, pilot: &str, amount: i64) -> String;
    async fn record_many_usages(&self, code: &str, jobs: usize);
    async fn backdate_usage(&self, code: &str, at_ms: i64);
    async fn record_usage(&self, code: &str, job: &str, amount: i64);
}

impl OutcomesStack for Stack {
    async fn client(&self) -> OutcomesServiceClient<Channel> {
        OutcomesServiceClient::new(self.channel("outcomes").await)
    }

    async fn pilots_client(&self) -> PilotsServiceClient<Channel> {
        PilotsServiceClient::new(self.channel("pilots").await)
    }

    /// A pilot `lead` leads, moved as far as `stage`.
    async fn pilot(&self, lead: &Firm, spec: &PilotSpec<'_>, stage: Stage) -> String {
        let manager = self.token(Role::ProgramManager);
        let pilot = self
            .pilots_client()
            .await
            .register_pilot(authed(
                pilots_pb::RegisterPilotRequest {
                    input: Some(pilots_pb::PilotInput {
                        title: spec.title.into(),
                        title_en: None,
                        summary: "실증".into(),
                        domain: spec.domain.into(),
                        lead_company_id: lead.company_id.clone(),
                        site: "광주 첨단3지구".into(),
                        starts_on: spec.starts_on.to_string(),
                        ends_on: spec.ends_on.to_string(),
                        budget_national: 1,
                        budget_city: 1,
                        budget_private: 1,
                        regulatory_sandbox: false,
                        sandbox_reference: None,
                    }),
                },
                &lead.token,
            ))
            .await
            .unwrap()
            .into_inner()
            .pilot
            .unwrap();
        let mut moves = Vec::new();
        if stage >= Stage::Approved {
            moves.push((pilots_pb::PilotAction::Submit, lead.token.clone()));
            moves.push((pilots_pb::PilotAction::Approve, manager));
        }
        if stage >= Stage::Active {
            moves.push((pilots_pb::PilotAction::Start, lead.token.clone()));
        }
        for (action, token) in moves {
            self.move_pilot(&pilot.id, action, &token).await;
        }
        pilot.id
    }

    async fn move_pilot(&self, id: &str, action: pilots_pb::PilotAction, token: &str) {
        self.pilots_client()
            .await
            .transition_pilot(authed(
                pilots_pb::TransitionPilotRequest {
                    id: id.into(),
                    action: action.into(),
                    note: None,
                },
                token,
            ))
            .await
            .unwrap();
    }

    /// The code of a voucher of `amount` GPU-seconds for `company_id`, linked to `pilot` and
    /// issued now through the vouchers store.
    async fn pilot_voucher(&self, company_id: &str, pilot: &str, amount: i64) -> String {
        let store = self.vouchers().store();
        let (_, program) = pool_and_program(store, 10_000, amount).await;
        issue_for_pilot(store, &program, company_id, Some(pilot), amount)
            .await
            .code
    }

    /// `jobs` usage records of one GPU-second each on the voucher `code`, through the vouchers
    /// store (a long ledger, quickly).
    async fn record_many_usages(&self, code: &str, jobs: usize) {
        for n in 0..jobs {
            self.vouchers()
                .store()
                .record_usage(
                    axv_vouchers::store::spend::UsageInput {
                        cluster: "h100",
                        job_id: &format!("bulk-{n}"),
                        voucher_code: code,
                        amount: 1,
                        started_at: None,
                        ended_at: None,
                    },
                    today_kst(),
                    &Default::default(),
                )
                .await
                .unwrap();
        }
    }

    /// Moves every ledger movement and usage record of the voucher `code` to `at_ms`, as if
    /// the usage had been metered then (reports are filed for periods that have ended).
    async fn backdate_usage(&self, code: &str, at_ms: i64) {
        let pool = self.vouchers().store().database().pool();
        for sql in [
            "UPDATE ledger_transfers SET created_at = $1 WHERE kind <> 'grant' \
             AND voucher_id = (SELECT id FROM vouchers WHERE code = $2)",
            "UPDATE usage_records SET created_at = $1 \
             WHERE voucher_id = (SELECT id FROM vouchers WHERE code = $2)",
        ] {
            sqlx::query(sql)
                .bind(at_ms)
                .bind(code)
                .execute(pool)
                .await
                .unwrap();
        }
    }

    /// Charges `amount` GPU-seconds of `job` to the voucher `code`, as the cluster's operator.
    async fn record_usage(&self, code: &str, job: &str, amount: i64) {
        VouchersServiceClient::new(self.channel("vouchers").await)
            .record_usage(authed(
                vouchers_pb::RecordUsageRequest {
                    cluster: "h100".into(),
                    job_id: job.into(),
                    voucher_code: code.into(),
                    amount,
                    started_at_ms: 0,
                    ended_at_ms: 0,
                },
                &self.token(Role::Operator),
            ))
            .await
            .unwrap();
    }
}

pub async fn create(
    client: &mut OutcomesServiceClient<Channel>,
    token: &str,
    input: pb::ReportInput,
) -> Result<pb::OutcomeReport, tonic::Status> {
    client
        .create_report(authed(
            pb::CreateReportRequest { input: Some(input) },
            token,
        ))
        .await
        .map(|r| r.into_inner().report.unwrap())
}

pub async fn act(
    client: &mut OutcomesServiceClient<Channel>,
    token: &str,
    id: &str,
    action: pb::ReportAction,
    note: Option<&str>,
) -> Result<pb::OutcomeReport, tonic::Status> {
    client
        .transition_report(authed(
            pb::TransitionReportRequest {
                id: id.into(),
                action: action.into(),
                note: note.map(str::to_owned),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().report.unwrap())
}
