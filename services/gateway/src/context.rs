//! What every resolver knows about the request it serves.

use std::sync::Arc;

use axv_auth::Caller;

#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// The verified caller; `None` for anonymous requests.
    pub caller: Option<Caller>,
    /// The raw bearer token, forwarded to the services, which verify it again.
    pub token: Option<Arc<str>>,
    /// The end client's address, for the services' rate limits.
    pub client_address: String,
}
