//! DataLoaders over the batch-get RPCs: nested fields of a list cost one call per service per
//! level, never one per row. Loaders are per request, since what a caller may see depends on
//! its token.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::Loader;
use axv_proto::{
    onboarding::v1 as pb, outcomes::v1 as opb, pilots::v1 as ppb, vouchers::v1 as vpb,
};

use crate::{
    clients::{Clients, request},
    context::RequestContext,
    errors::from_status,
};

/// A loader over one batch-get-by-id RPC: ids the caller may not see (or that do not exist)
/// are simply absent from the answer.
macro_rules! batch_loader {
    ($(#[$doc:meta])* $name:ident: $value:ty, $client:ident.$rpc:ident($request:ty) -> $field:ident) => {
        $(#[$doc])*
        pub struct $name {
            pub clients: Clients,
            pub ctx: RequestContext,
        }

        impl Loader<String> for $name {
            type Value = $value;
            type Error = Arc<async_graphql::Error>;

            async fn load(&self, keys: &[String]) -> Result<HashMap<String, $value>, Self::Error> {
                let response = self
                    .clients
                    .$client
                    .clone()
                    .$rpc(request(&self.ctx, <$request>::from_ids(keys)))
                    .await
                    .map_err(|status| Arc::new(from_status(status)))?;
                Ok(response.into_inner().$field.into_iter().map(|v| (v.id.clone(), v)).collect())
            }
        }
    };
}

/// Batch requests built from the loader's keys.
trait FromIds {
    fn from_ids(ids: &[String]) -> Self;
}

macro_rules! from_ids {
    ($($request:ty),+) => {
        $(impl FromIds for $request {
            fn from_ids(ids: &[String]) -> Self {
                Self { ids: ids.to_vec() }
            }
        })+
    };
}

from_ids!(
    pb::BatchGetCompaniesRequest,
    pb::BatchGetUserNamesRequest,
    vpb::BatchGetResourcePoolsRequest,
    vpb::BatchGetProgramsRequest,
    vpb::BatchGetVouchersRequest,
    ppb::BatchGetPilotsRequest
);

batch_loader!(
    /// `StatusChange.byName`: the people behind the "who" of every history on the page.
    UserNameLoader: pb::UserName, onboarding.batch_get_user_names(pb::BatchGetUserNamesRequest) -> names
);
batch_loader!(
    /// `Viewer.companies`, `Voucher.company`, `Pilot.leadCompany` and the like.
    CompanyLoader: pb::Company, onboarding.batch_get_companies(pb::BatchGetCompaniesRequest) -> companies
);
batch_loader!(
    /// `VoucherProgram.pool`.
    PoolLoader: vpb::ResourcePool, vouchers.batch_get_resource_pools(vpb::BatchGetResourcePoolsRequest) -> pools
);
batch_loader!(
    /// `VoucherApplication.program` and `Voucher.program`.
    ProgramLoader: vpb::Program, vouchers.batch_get_programs(vpb::BatchGetProgramsRequest) -> programs
);
batch_loader!(
    /// `VoucherApplication.voucher` and `UsageRecord.voucher`.
    VoucherLoader: vpb::Voucher, vouchers.batch_get_vouchers(vpb::BatchGetVouchersRequest) -> vouchers
);
batch_loader!(
    /// `Voucher.pilot` and `OutcomeReport.pilot`.
    PilotLoader: ppb::Pilot, pilots.batch_get_pilots(ppb::BatchGetPilotsRequest) -> pilots
);

/// One company's first vouchers (in id order) and how many it has in all.
#[derive(Clone, Debug, Default)]
pub struct CompanyVouchers {
    pub vouchers: Vec<vpb::Voucher>,
    pub total: i64,
}

/// `Company.vouchers`: the first [`CompanyVouchersLoader::PER_COMPANY`] vouchers of every
/// company on the page in one call; the gateway pages within them.
pub struct CompanyVouchersLoader {
    pub clients: Clients,
    pub ctx: RequestContext,
}

impl CompanyVouchersLoader {
    /// One more than the largest page, so a full first page still knows whether more follow.
    pub const PER_COMPANY: i32 = axv_platform::pagination::MAX_PAGE_SIZE as i32 + 1;
}

impl Loader<String> for CompanyVouchersLoader {
    type Value = CompanyVouchers;
    type Error = Arc<async_graphql::Error>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, CompanyVouchers>, Self::Error> {
        let response = self
            .clients
            .vouchers
            .clone()
            .list_company_vouchers(request(
                &self.ctx,
                vpb::ListCompanyVouchersRequest {
                    company_ids: keys.to_vec(),
                    per_company: Self::PER_COMPANY,
                },
            ))
            .await
            .map_err(|status| Arc::new(from_status(status)))?
            .into_inner();
        // Companies the caller may not see are absent from `totals` too, and stay absent here.
        let mut found: HashMap<String, CompanyVouchers> = response
            .totals
            .into_iter()
            .map(|(id, total)| {
                (
                    id,
                    CompanyVouchers {
                        vouchers: Vec::new(),
                        total,
                    },
                )
            })
            .collect();
        for voucher in response.vouchers {
            found
                .entry(voucher.company_id.clone())
                .or_default()
                .vouchers
                .push(voucher);
        }
        Ok(found)
    }
}

/// One company's first pilots (in id order) the caller may see, and how many in all.
#[derive(Clone, Debug, Default)]
pub struct CompanyPilots {
    pub pilots: Vec<ppb::Pilot>,
    pub total: i64,
}

/// `Company.pilots`: the first [`CompanyPilotsLoader::PER_COMPANY`] pilots (as lead or
/// participant) of every company on the page in one call; the gateway pages within them.
pub struct CompanyPilotsLoader {
    pub clients: Clients,
    pub ctx: RequestContext,
}

impl CompanyPilotsLoader {
    /// One more than the largest page, so a full first page still knows whether more follow.
    pub const PER_COMPANY: i32 = axv_platform::pagination::MAX_PAGE_SIZE as i32 + 1;
}

impl Loader<String> for CompanyPilotsLoader {
    type Value = CompanyPilots;
    type Error = Arc<async_graphql::Error>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, CompanyPilots>, Self::Error> {
        let response = self
            .clients
            .pilots
            .clone()
            .list_company_pilots(request(
                &self.ctx,
                ppb::ListCompanyPilotsRequest {
                    company_ids: keys.to_vec(),
                    per_company: Self::PER_COMPANY,
                },
            ))
            .await
            .map_err(|status| Arc::new(from_status(status)))?
            .into_inner();
        Ok(response
            .companies
            .into_iter()
            .map(|c| {
                (
                    c.company_id,
                    CompanyPilots {
                        pilots: c.pilots,
                        total: c.total,
                    },
                )
            })
            .collect())
    }
}

/// A pilot and its companies (lead and participants), the key of [`PilotVouchersLoader`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PilotVouchersKey {
    pub pilot_id: String,
    /// Sorted, without duplicates.
    pub company_ids: Vec<String>,
}

/// `Pilot.vouchers`: the vouchers the pilot's own companies linked to it, as far as the caller
/// may see them (a firm sees its own companies' vouchers only), for every pilot of a level in
/// one `ListPilotVouchers` call. A voucher naming a pilot its company takes no part in (the
/// vouchers service does not check the link) is left out.
pub struct PilotVouchersLoader {
    pub clients: Clients,
    pub ctx: RequestContext,
}

impl Loader<PilotVouchersKey> for PilotVouchersLoader {
    type Value = Vec<vpb::Voucher>;
    type Error = Arc<async_graphql::Error>;

    async fn load(
        &self,
        keys: &[PilotVouchersKey],
    ) -> Result<HashMap<PilotVouchersKey, Vec<vpb::Voucher>>, Self::Error> {
        let mut pilot_ids: Vec<String> = keys.iter().map(|k| k.pilot_id.clone()).collect();
        pilot_ids.sort();
        pilot_ids.dedup();
        let vouchers = self
            .clients
            .vouchers
            .clone()
            .list_pilot_vouchers(request(
                &self.ctx,
                vpb::ListPilotVouchersRequest { pilot_ids },
            ))
            .await
            .map_err(|status| Arc::new(from_status(status)))?
            .into_inner()
            .vouchers;
        Ok(keys
            .iter()
            .map(|key| {
                let linked = vouchers
                    .iter()
                    .filter(|v| {
                        v.pilot_id.as_deref() == Some(key.pilot_id.as_str())
                            && key.company_ids.binary_search(&v.company_id).is_ok()
                    })
                    .cloned()
                    .collect();
                (key.clone(), linked)
            })
            .collect())
    }
}

/// `Pilot.outcomeReports`: each pilot's reports the caller may see (absent pilots have none).
pub struct PilotReportsLoader {
    pub clients: Clients,
    pub ctx: RequestContext,
}

impl Loader<String> for PilotReportsLoader {
    type Value = Vec<opb::OutcomeReport>;
    type Error = Arc<async_graphql::Error>;

    async fn load(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, Vec<opb::OutcomeReport>>, Self::Error> {
        let response = self
            .clients
            .outcomes
            .clone()
            .list_pilot_reports(request(
                &self.ctx,
                opb::ListPilotReportsRequest {
                    pilot_ids: keys.to_vec(),
                },
            ))
            .await
            .map_err(|status| Arc::new(from_status(status)))?;
        Ok(response
            .into_inner()
            .pilots
            .into_iter()
            .map(|p| (p.pilot_id, p.reports))
            .collect())
    }
}
