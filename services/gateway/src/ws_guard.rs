//! The guards of `/graphql/ws`. The socket is for subscriptions only: a query or mutation sent
//! over it would skip what HTTP requests pass (the persisted-query safelist, the idempotency
//! keys, the body limits), so it is refused with a pointer to `POST /graphql`. What a
//! subscription costs is charged as over HTTP: one request and its complexity against the
//! caller's rate limits (the connection's `Charge`), at most `max_aliases` aliases; and every
//! error carries its `extensions.code`.

use std::sync::Arc;

use async_graphql::{
    ServerError, ServerResult, ValidationResult, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation},
    parser::types::{ExecutableDocument, OperationType},
};
use axv_platform::ErrorCode;

use crate::{
    errors::complete_extensions,
    http::count_aliases,
    rate_limit::{Charge, limited_error},
};

pub const QUERIES_OVER_HTTP: &str =
    "only subscriptions are served over WebSocket; send queries and mutations to POST /graphql";

pub struct SubscriptionsOnly {
    pub max_aliases: usize,
}

impl ExtensionFactory for SubscriptionsOnly {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guard {
            max_aliases: self.max_aliases,
        })
    }
}

struct Guard {
    max_aliases: usize,
}

fn coded(message: &str, code: ErrorCode) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    error
}

#[async_graphql::async_trait::async_trait]
impl Extension for Guard {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await.map_err(|mut error| {
            complete_extensions(std::slice::from_mut(&mut error), None);
            error
        })?;
        if document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty != OperationType::Subscription)
        {
            return Err(coded(QUERIES_OVER_HTTP, ErrorCode::BadUserInput));
        }
        let aliases = count_aliases(&document);
        if aliases > self.max_aliases {
            return Err(coded(
                &format!("too many aliases ({aliases}); at most {}", self.max_aliases),
                ErrorCode::BadUserInput,
            ));
        }
        if let Some(charge) = ctx.data_opt::<Charge>()
            && let Err(limited) = charge.request().await
        {
            return Err(limited_error(limited));
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            complete_extensions(&mut errors, None);
            errors
        })
    }
}
