//! API clients: machines (dashboards, the data center's tools) that sign in with the OAuth 2.0
//! client-credentials grant at `POST /oauth/token`. Admins register, list and revoke them; the
//! onboarding service enforces that.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use axv_proto::onboarding::v1 as pb;

use super::{
    onboarding::{Role, parts},
    scalars::DateTime,
};
use crate::{
    clients::request,
    errors::{error, from_status},
};

/// A registered API client. Its secret is never shown again after registration.
#[derive(SimpleObject, Clone, Debug)]
pub struct ApiClient {
    /// The client id, used as `client_id` at `/oauth/token`.
    pub id: ID,
    pub name: String,
    /// The role its access tokens carry: DASHBOARD or OPERATOR.
    pub role: Role,
    pub created_at: DateTime,
    /// Its last successful token exchange.
    pub last_used_at: Option<DateTime>,
    /// Once set, the client can no longer obtain tokens and the ones it holds are refused.
    pub revoked_at: Option<DateTime>,
}

impl ApiClient {
    fn from_pb(client: pb::ApiClient) -> Result<Self> {
        let role = Role::from_pb(client.role)
            .ok_or_else(|| error(axv_platform::ErrorCode::Internal, "API client role"))?;
        Ok(ApiClient {
            id: ID(client.id),
            name: client.name,
            role,
            created_at: DateTime::from_millis(client.created_at_ms),
            last_used_at: client.last_used_at_ms.map(DateTime::from_millis),
            revoked_at: client.revoked_at_ms.map(DateTime::from_millis),
        })
    }

    fn required(client: Option<pb::ApiClient>) -> Result<Self> {
        client
            .ok_or_else(|| error(axv_platform::ErrorCode::Internal, "missing API client"))
            .and_then(Self::from_pb)
    }
}

/// A newly registered client's credentials. The secret is shown this once: store it now.
#[derive(SimpleObject, Clone, Debug)]
pub struct ApiClientCredentials {
    /// `client_id` at `/oauth/token`.
    pub client_id: ID,
    /// `client_secret` at `/oauth/token`; only a digest of it is kept.
    pub secret: String,
    pub client: ApiClient,
}

#[derive(Default)]
pub struct ApiClientsQuery;

#[Object]
impl ApiClientsQuery {
    /// Every API client, revoked ones included, oldest first. ADMIN only.
    async fn api_clients(&self, ctx: &Context<'_>) -> Result<Vec<ApiClient>> {
        let (clients, rc) = parts(ctx)?;
        clients
            .onboarding
            .clone()
            .list_api_clients(request(&rc, pb::ListApiClientsRequest {}))
            .await
            .map_err(from_status)?
            .into_inner()
            .clients
            .into_iter()
            .map(ApiClient::from_pb)
            .collect()
    }
}

#[derive(Default)]
pub struct ApiClientsMutation;

#[Object]
impl ApiClientsMutation {
    /// Registers an API client with role DASHBOARD or OPERATOR (any other is BAD_USER_INPUT)
    /// and returns its secret, shown this once. ADMIN only.
    async fn register_api_client(
        &self,
        ctx: &Context<'_>,
        name: String,
        role: Role,
    ) -> Result<ApiClientCredentials> {
        let response = call!(
            ctx,
            onboarding.register_api_client(pb::RegisterApiClientRequest {
                name,
                role: pb::Role::from(role).into(),
            })
        )?;
        let client = ApiClient::required(response.client)?;
        Ok(ApiClientCredentials {
            client_id: client.id.clone(),
            secret: response.client_secret,
            client,
        })
    }

    /// Revokes an API client: it can no longer obtain tokens, and the tokens it holds are
    /// refused at once. Revoking a revoked client changes nothing. ADMIN only.
    async fn revoke_api_client(&self, ctx: &Context<'_>, client_id: ID) -> Result<ApiClient> {
        let response = call!(
            ctx,
            onboarding.revoke_api_client(pb::RevokeApiClientRequest { id: client_id.0 })
        )?;
        ApiClient::required(response.client)
    }
}
