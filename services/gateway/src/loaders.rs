//! DataLoaders over the batch-get RPCs: nested fields of a list cost one call per service per
//! level, never one per row. Loaders are per request, since what a caller may see depends on
//! its token.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::Loader;
use axv_proto::onboarding::v1 as pb;

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
