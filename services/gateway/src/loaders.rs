//! DataLoaders over the batch-get RPCs: nested fields of a list cost one call per service per
//! level, never one per row. Loaders are per request, since what a caller may see depends on
//! its token.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::Loader;
use axv_proto::{onboarding::v1 as pb, vouchers::v1 as vpb};

use crate::{
    clients::{Clients, request},
    context::RequestContext,
    errors::from_status,
};

pub struct CompanyLoader {
    pub clients: Clients,
    pub ctx: RequestContext,
}

impl Loader<String> for CompanyLoader {
    type Value = pb::Company;
    type Error = Arc<async_graphql::Error>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, pb::Company>, Self::Error> {
        let response = self
            .clients
            .onboarding
            .clone()
            .batch_get_companies(request(
                &self.ctx,
                pb::BatchGetCompaniesRequest { ids: keys.to_vec() },
            ))
            .await
            .map_err(|status| Arc::new(from_status(status)))?;
        Ok(response
            .into_inner()
            .companies
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect())
    }
}

/// `VoucherProgram.pool`.
pub struct PoolLoader {
    pub clients: Clients,
    pub ctx: RequestContext,
}

impl Loader<String> for PoolLoader {
    type Value = vpb::ResourcePool;
    type Error = Arc<async_graphql::Error>;

    async fn load(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, vpb::ResourcePool>, Self::Error> {
        let response = self
            .clients
            .vouchers
            .clone()
            .batch_get_resource_pools(request(
                &self.ctx,
                vpb::BatchGetResourcePoolsRequest { ids: keys.to_vec() },
            ))
            .await
            .map_err(|status| Arc::new(from_status(status)))?;
        Ok(response
            .into_inner()
            .pools
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect())
    }
}

/// `VoucherApplication.program` and `Voucher.program`.
pub struct ProgramLoader {
    pub clients: Clients,
    pub ctx: RequestContext,
}

impl Loader<String> for ProgramLoader {
    type Value = vpb::Program;
    type Error = Arc<async_graphql::Error>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, vpb::Program>, Self::Error> {
        let response = self
            .clients
            .vouchers
            .clone()
            .batch_get_programs(request(
                &self.ctx,
                vpb::BatchGetProgramsRequest { ids: keys.to_vec() },
            ))
            .await
            .map_err(|status| Arc::new(from_status(status)))?;
        Ok(response
            .into_inner()
            .programs
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect())
    }
}

/// `VoucherApplication.voucher` and `UsageRecord.voucher`; vouchers the caller may not see are
/// absent.
pub struct VoucherLoader {
    pub clients: Clients,
    pub ctx: RequestContext,
}

impl Loader<String> for VoucherLoader {
    type Value = vpb::Voucher;
    type Error = Arc<async_graphql::Error>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, vpb::Voucher>, Self::Error> {
        let response = self
            .clients
            .vouchers
            .clone()
            .batch_get_vouchers(request(
                &self.ctx,
                vpb::BatchGetVouchersRequest { ids: keys.to_vec() },
            ))
            .await
            .map_err(|status| Arc::new(from_status(status)))?;
        Ok(response
            .into_inner()
            .vouchers
            .into_iter()
            .map(|v| (v.id.clone(), v))
            .collect())
    }
}

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
