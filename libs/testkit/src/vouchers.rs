//! Pools, programmes and vouchers through the vouchers store's real approval path.

use axv_auth::Role;
use axv_platform::{audit::Actor, calendar::today_kst};
use axv_vouchers::{
    domain::{FundingSource, ResourceKind},
    store::{NewApplication, NewPool, NewProgram, Store, VoucherRecord},
};
use chrono::Days;

use crate::{Firm, Stack};

/// An H100 pool of `capacity` valid from a year ago to a year ahead, and a programme open from
/// 30 days ago to 30 days ahead with `cap` per company: (pool id, programme id).
pub async fn pool_and_program(store: &Store, capacity: i64, cap: i64) -> (String, String) {
    let today = today_kst();
    let pool = store
        .create_pool(
            NewPool {
                name: "국가AI데이터센터 H100".into(),
                kind: ResourceKind::GpuH100,
                capacity,
                funding: FundingSource::National,
                valid_from: today - Days::new(365),
                valid_until: today + Days::new(365),
            },
            &Actor::account("admin", Role::Admin),
        )
        .await
        .unwrap();
    let program = store
        .create_program(
            NewProgram {
                pool_id: pool.id.clone(),
                name: "AX 실증 컴퓨팅 바우처".into(),
                opens_on: today - Days::new(30),
                closes_on: today + Days::new(30),
                max_per_company: cap,
                sectors: vec![],
            },
            &Actor::account("manager", Role::ProgramManager),
        )
        .await
        .unwrap();
    (pool.id, program.id)
}

/// A voucher of `amount` for `company_id` in `program_id`, applied for and approved.
pub async fn issue(
    store: &Store,
    program_id: &str,
    company_id: &str,
    amount: i64,
) -> VoucherRecord {
    issue_for_pilot(store, program_id, company_id, None, amount).await
}

/// A voucher as [`issue`] makes, naming the pilot it is for.
pub async fn issue_for_pilot(
    store: &Store,
    program_id: &str,
    company_id: &str,
    pilot_id: Option<&str>,
    amount: i64,
) -> VoucherRecord {
    let application = store
        .create_application(
            NewApplication {
                program_id: program_id.into(),
                company_id: company_id.into(),
                requested_amount: amount,
                justification: "test".into(),
                pilot_id: pilot_id.map(str::to_owned),
            },
            &Actor::account("firm", Role::FirmMember),
        )
        .await
        .unwrap();
    store
        .approve_application(
            &application.id,
            amount,
            &Actor::account("manager", Role::ProgramManager),
            None,
            today_kst(),
        )
        .await
        .unwrap()
        .1
}

impl Stack {
    /// A voucher of `amount` GPU-seconds for `firm`'s company, in a pool and programme of its
    /// own.
    pub async fn voucher(&self, firm: &Firm, amount: i64) -> VoucherRecord {
        let store = self.vouchers().store();
        let (_, program) = pool_and_program(store, amount, amount).await;
        issue(store, &program, &firm.company_id, amount).await
    }
}
