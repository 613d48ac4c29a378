//! GraphQL over HTTP as its spec says: POST with JSON, GET for queries only, content
//! negotiation between `application/graphql-response+json` (4xx for requests that cannot run)
//! and `application/json` (always 200 once the request is well-formed), GraphiQL for browsers,
//! and the operational endpoints.

use std::{net::SocketAddr, time::Duration};

use async_graphql::{
    BatchRequest, BatchResponse,
    dataloader::DataLoader,
    parser::types::{
        DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
    },
};
use axum::{
    Extension,
    body::Bytes,
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use axv_auth::MaybeCaller;
use axv_platform::ErrorCode;
use tracing::Instrument;

use crate::{
    AppState,
    clients::Clients,
    context::RequestContext,
    errors::complete_extensions,
    loaders::{
        CompanyLoader, CompanyPilotsLoader, CompanyVouchersLoader, PilotLoader, PilotReportsLoader,
        PilotVouchersLoader, PoolLoader, ProgramLoader, UserNameLoader, VoucherLoader,
    },
    persisted::PersistedError,
    rate_limit::Limited,
};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

fn wants_graphql_response_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(GRAPHQL_RESPONSE_JSON))
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// An error response for a request that never reached execution.
pub(crate) fn request_error(
    status: StatusCode,
    code: ErrorCode,
    message: &str,
    graphql_json: bool,
) -> Response {
    refusal_response(status, code, None, message, graphql_json)
}

/// The same, with the refusal's `extensions.reason`.
fn refusal_response(
    status: StatusCode,
    code: ErrorCode,
    reason: Option<axv_platform::error::Reason>,
    message: &str,
    graphql_json: bool,
) -> Response {
    let mut extensions = serde_json::json!({ "code": code.as_str() });
    if let Some(reason) = reason {
        extensions["reason"] = reason.as_str().into();
    }
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": extensions }] });
    let content_type = if graphql_json {
        GRAPHQL_RESPONSE_JSON
    } else {
        "application/json"
    };
    // Without the new media type, clients expect 200 for GraphQL-level errors, but a body that
    // is not a GraphQL request at all is still a 4xx.
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body.to_string(),
    )
        .into_response()
}

/// A service's refusal as the JSON error an API client reads (`extensions.code`), with the
/// HTTP status that goes with the code; internal details stay in the log.
pub(crate) fn status_error(status: &tonic::Status) -> Response {
    let code = ErrorCode::from_grpc(status.code());
    let http = match code {
        ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::FailedPrecondition => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if http.is_server_error() {
        tracing::error!(grpc_code = ?status.code(), message = status.message(), "request failed");
        let message = if http == StatusCode::SERVICE_UNAVAILABLE {
            "a service is unavailable; try again shortly"
        } else {
            "internal error"
        };
        return request_error(http, code, message, false);
    }
    let reason = axv_platform::error::Reason::of_status(status);
    refusal_response(http, code, reason, status.message(), false)
}

#[derive(serde::Deserialize)]
pub struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

pub async fn graphql_get(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(params): Query<GetParams>,
) -> Response {
    let graphql_json = wants_graphql_response_json(&headers);
    let Some(query) = params
        .query
        .or_else(|| params.extensions.is_some().then(String::new))
    else {
        if wants_html(&headers) {
            return crate::graphiql::page();
        }
        return request_error(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadUserInput,
            "missing query parameter",
            graphql_json,
        );
    };
    if !crate::csrf::is_preflighted(&headers) {
        // A person following a shared link: open GraphiQL holding the query (init.js reads it
        // from the address) rather than run it unasked or answer with a refusal in JSON.
        if wants_html(&headers) {
            return crate::graphiql::page();
        }
        return request_error(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadUserInput,
            crate::csrf::REFUSAL,
            graphql_json,
        );
    }
    let mut request = async_graphql::Request::new(query);
    request.operation_name = params.operation_name;
    if let Some(variables) = params.variables {
        match serde_json::from_str(&variables) {
            Ok(variables) => request.variables = async_graphql::Variables::from_json(variables),
            Err(_) => {
                return request_error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadUserInput,
                    "variables is not JSON",
                    graphql_json,
                );
            }
        }
    }
    if let Some(extensions) = params.extensions {
        match serde_json::from_str::<std::collections::HashMap<String, serde_json::Value>>(
            &extensions,
        ) {
            Ok(extensions) => {
                for (name, value) in extensions {
                    if let Ok(value) = async_graphql::Value::from_json(value) {
                        request.extensions.insert(name, value);
                    }
                }
            }
            Err(_) => {
                return request_error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadUserInput,
                    "extensions is not a JSON object",
                    graphql_json,
                );
            }
        }
    }
    let address = client_address(&headers, connect, state.limits.console_relay_key.as_deref());
    execute(
        state,
        caller,
        address,
        graphql_json,
        BatchRequest::Single(request),
        Method::GET,
    )
    .await
}

pub async fn graphql_post(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    request: axum::extract::Request,
) -> Response {
    let headers = request.headers().clone();
    let graphql_json = wants_graphql_response_json(&headers);
    // The multipart boundary is case-sensitive: only the media type is compared lowercased.
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim_start()
        .to_owned();
    let content_type = declared.to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let address = client_address(&headers, connect, state.limits.console_relay_key.as_deref());
        return multipart_post(state, caller, address, graphql_json, &declared, request).await;
    }
    // Over the body limit (or a broken upload): answered in GraphQL's JSON like any other
    // refusal, so API clients read `extensions.code` instead of axum's plain text.
    let body = match <Bytes as axum::extract::FromRequest<()>>::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "the request body is over {} MiB; send sacct files to /usage/sacct and \
                     documents as multipart uploads",
                    crate::MAX_BODY_BYTES / (1024 * 1024)
                )
            } else {
                "the request body could not be read".to_owned()
            };
            return request_error(status, ErrorCode::BadUserInput, &message, graphql_json);
        }
    };
    if !content_type.starts_with("application/json") {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadUserInput,
            "POST requests must be Content-Type: application/json (or multipart/form-data for uploads)",
            graphql_json,
        );
    }
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(_) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                "the body is not a GraphQL request in JSON",
                graphql_json,
            );
        }
    };
    let key = match crate::idempotency::key_of(&headers) {
        Ok(key) => key,
        Err(message) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                message,
                graphql_json,
            );
        }
    };
    let address = client_address(&headers, connect, state.limits.console_relay_key.as_deref());
    let Some(key) = key else {
        return execute(state, caller, address, graphql_json, batch, Method::POST).await;
    };
    // Keys are per caller: the token's subject, or the address for anonymous callers.
    let scope = match &caller {
        Some(caller) => format!("sub:{}", caller.subject),
        None => format!("addr:{address}"),
    };
    let fingerprint = crate::idempotency::fingerprint(&body, &headers);
    let idempotency = state.idempotency.clone();
    crate::idempotency::once(
        &idempotency,
        &scope,
        &key,
        &fingerprint,
        execute(state, caller, address, graphql_json, batch, Method::POST),
    )
    .await
}

/// A GraphQL multipart request (see [`crate::multipart`]). Only a signed-in caller may send
/// one: nobody uploads anonymously, and a form another site posts carries no bearer token. The
/// caller's budget is charged before the body is read, and a gateway receives at most
/// [`crate::MAX_UPLOADS_AT_ONCE`] at once.
async fn multipart_post(
    state: AppState,
    caller: Option<axv_auth::Caller>,
    address: String,
    graphql_json: bool,
    content_type: &str,
    request: axum::extract::Request,
) -> Response {
    if caller.is_none() {
        return request_error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "sign in to upload documents",
            graphql_json,
        );
    }
    let charge = match charge_request(&state, caller.as_ref(), &address, graphql_json).await {
        Ok(charge) => charge,
        Err(refused) => return refused,
    };
    let subject = caller
        .as_ref()
        .map(|c| c.subject.clone())
        .unwrap_or_default();
    let Some(_receiving) = state.uploads.take(&subject) else {
        let mut response = request_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "too many uploads at once; try again in a minute",
            graphql_json,
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return response;
    };
    let max_file = state.limits.max_upload_bytes;
    // A body trickled in holds its slot no longer than a file may take.
    let received = tokio::time::timeout(
        crate::clients::UPLOAD_TIMEOUT,
        crate::multipart::receive(
            content_type,
            request.into_body(),
            crate::MAX_BODY_BYTES as u64,
            max_file,
        ),
    )
    .await
    .unwrap_or_else(|_| {
        Err(crate::multipart::MultipartError::Malformed(
            "the upload took too long to arrive".into(),
        ))
    });
    let batch = match received {
        Ok(batch) => batch,
        Err(crate::multipart::MultipartError::FileTooLarge(limit)) => {
            return file_too_large(limit, graphql_json);
        }
        Err(crate::multipart::MultipartError::Malformed(message)) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                &message,
                graphql_json,
            );
        }
        Err(error @ crate::multipart::MultipartError::Spool(_)) => {
            tracing::error!(%error, "an upload could not be spooled to a temporary file");
            return request_error(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "the upload could not be received; try again shortly",
                graphql_json,
            );
        }
    };
    execute_charged(
        state,
        caller,
        address,
        graphql_json,
        batch,
        Method::POST,
        Some(charge),
    )
    .await
}

/// 413 for a file over the upload limit, with the reason the documents service gives.
fn file_too_large(max_file: u64, graphql_json: bool) -> Response {
    let message = format!(
        "file is over the limit of {} MB for one document",
        max_file / (1024 * 1024)
    );
    refusal_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::BadUserInput,
        Some(axv_platform::error::Reason::FileTooLarge),
        &message,
        graphql_json,
    )
}

/// The header by which the web console proves it relays a visitor's request.
pub const CONSOLE_RELAY_HEADER: &str = "x-axv-console-relay";

/// The end client's address: the last `X-Forwarded-For` hop when a trusted proxy sits in front
/// (`AXV_TRUST_FORWARDED_FOR`) or the console relays its visitor (`relay_key`), else the TCP
/// peer.
pub(crate) fn client_address(
    headers: &HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    relay_key: Option<&str>,
) -> String {
    let peer = connect.map(|Extension(ConnectInfo(addr))| addr.ip().to_string());
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        // The right-most hop is the one the trusted proxy appended; anything left of it came
        // from the client and could be anything.
        .and_then(|v| v.rsplit(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let relayed = relay_key.is_some_and(|key| {
        headers
            .get(CONSOLE_RELAY_HEADER)
            .is_some_and(|given| constant_time_eq(given.as_bytes(), key.as_bytes()))
    });
    if relayed || trust_forwarded_for() {
        forwarded.or(peer)
    } else {
        peer.or(forwarded)
    }
    .unwrap_or_else(|| "unknown".to_owned())
}

/// Equal without telling, by timing, how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn trust_forwarded_for() -> bool {
    static TRUST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRUST.get_or_init(|| {
        std::env::var("AXV_TRUST_FORWARDED_FOR").is_ok_and(|v| v == "true" || v == "1")
    })
}

/// Counts aliases in the selected operation and every fragment, so one request cannot ask for
/// the same expensive field hundreds of times under different names.
pub(crate) fn count_aliases(document: &ExecutableDocument) -> usize {
    /// Aliases as executed: a fragment counts again at every spread of it. A fragment already
    /// on the current path is not entered again (such cycles fail validation anyway).
    fn walk<'a>(
        document: &'a ExecutableDocument,
        set: &'a SelectionSet,
        path: &mut Vec<&'a str>,
    ) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some())
                        + walk(document, &field.node.selection_set.node, path)
                }
                Selection::InlineFragment(fragment) => {
                    walk(document, &fragment.node.selection_set.node, path)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match document.fragments.get(&spread.node.fragment_name.node) {
                        Some(fragment) if !path.contains(&name) && path.len() < 32 => {
                            path.push(name);
                            let count = walk(document, &fragment.node.selection_set.node, path);
                            path.pop();
                            count
                        }
                        _ => 0,
                    }
                }
            })
            .sum()
    }
    document
        .operations
        .iter()
        .map(|(_, op)| walk(document, &op.node.selection_set.node, &mut Vec::new()))
        .sum()
}

fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a async_graphql::Positioned<async_graphql::parser::types::OperationDefinition>> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        _ => None,
    }
}

fn selected_operation_type(
    document: &ExecutableDocument,
    name: Option<&str>,
) -> Option<OperationType> {
    selected_operation(document, name).map(|op| op.node.ty)
}

/// Whether the operation to run is a query whose every root field is introspection
/// (`__schema`, `__type`, `__typename`). Fragments at the root count as "no": the check stays
/// conservative, so nothing else can reach the introspection schema's looser depth limit.
fn asks_introspection_only(document: &ExecutableDocument, name: Option<&str>) -> bool {
    use async_graphql::parser::types::Selection;
    selected_operation(document, name).is_some_and(|op| {
        op.node.ty == OperationType::Query
            && !op.node.selection_set.node.items.is_empty()
            && op.node.selection_set.node.items.iter().all(|item| {
                matches!(&item.node, Selection::Field(field) if field.node.name.node.starts_with("__"))
            })
    })
}

/// The services' batch RPCs take at most this many ids per call.
pub(crate) const MAX_BATCH_KEYS: usize = 500;

fn loader<T: Send + Sync + 'static>(inner: T) -> DataLoader<T> {
    loader_of(inner, MAX_BATCH_KEYS)
}

/// A loader whose service takes at most `batch` keys per call.
fn loader_of<T: Send + Sync + 'static>(inner: T, batch: usize) -> DataLoader<T> {
    DataLoader::new(inner, |future| tokio::spawn(future.in_current_span())).max_batch_size(batch)
}

/// Fresh DataLoaders for one request: what they cache depends on the caller's token.
fn with_loaders(
    request: async_graphql::Request,
    clients: &Clients,
    ctx: &RequestContext,
) -> async_graphql::Request {
    let (clients, ctx) = (clients.clone(), ctx.clone());
    request
        .data(loader(CompanyLoader {
            clients: clients.clone(),
            ctx: ctx.clone(),
        }))
        .data(loader(UserNameLoader {
            clients: clients.clone(),
            ctx: ctx.clone(),
        }))
        .data(loader(PoolLoader {
            clients: clients.clone(),
            ctx: ctx.clone(),
        }))
        .data(loader(ProgramLoader {
            clients: clients.clone(),
            ctx: ctx.clone(),
        }))
        .data(loader(VoucherLoader {
            clients: clients.clone(),
            ctx: ctx.clone(),
        }))
        .data(loader(CompanyVouchersLoader {
            clients: clients.clone(),
            ctx: ctx.clone(),
        }))
        .data(loader(PilotLoader {
            clients: clients.clone(),
            ctx: ctx.clone(),
        }))
        .data(loader(CompanyPilotsLoader {
            clients: clients.clone(),
            ctx: ctx.clone(),
        }))
        .data(loader(PilotVouchersLoader {
            clients: clients.clone(),
            ctx: ctx.clone(),
        }))
        .data(loader(PilotReportsLoader {
            clients: clients.clone(),
            ctx: ctx.clone(),
        }))
        // The documents service lists at most 200 parents per call.
        .data(loader_of(
            crate::schema::documents::DocumentsLoader { clients, ctx },
            crate::schema::documents::MAX_PARENTS_PER_CALL,
        ))
}

async fn execute(
    state: AppState,
    caller: Option<axv_auth::Caller>,
    client_address: String,
    graphql_json: bool,
    batch: BatchRequest,
    method: Method,
) -> Response {
    execute_charged(
        state,
        caller,
        client_address,
        graphql_json,
        batch,
        method,
        None,
    )
    .await
}

/// Counts one request against the caller's (and the address's) budgets: the charge, carried on
/// into validation for the cost budget, or the 429 answer.
pub(crate) async fn charge_request(
    state: &AppState,
    caller: Option<&axv_auth::Caller>,
    address: &str,
    graphql_json: bool,
) -> Result<crate::rate_limit::Charge, Response> {
    let charge = state.limiter.charge(caller, address);
    match charge.request().await {
        Ok(()) => Ok(charge),
        Err(limited) => Err(rate_limited(limited, graphql_json)),
    }
}

/// [`execute`] with the request already counted against the caller's budget (`charged`), or
/// counted here when `None`.
async fn execute_charged(
    state: AppState,
    caller: Option<axv_auth::Caller>,
    client_address: String,
    graphql_json: bool,
    batch: BatchRequest,
    method: Method,
    charged: Option<crate::rate_limit::Charge>,
) -> Response {
    let requests = match batch {
        BatchRequest::Single(request) => vec![request],
        BatchRequest::Batch(requests) => requests,
    };
    let is_batch = requests.len() != 1;
    if requests.is_empty() || requests.len() > state.limits.max_batch {
        let message = format!("a batch holds 1 to {} operations", state.limits.max_batch);
        return request_error(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadUserInput,
            &message,
            graphql_json,
        );
    }
    let charge = match charged {
        Some(charge) => charge,
        None => {
            match charge_request(&state, caller.as_ref(), &client_address, graphql_json).await {
                Ok(charge) => charge,
                Err(refused) => return refused,
            }
        }
    };
    let token = caller.as_ref().map(|c| c.raw_token.clone());
    let ctx = RequestContext {
        caller,
        token,
        client_address,
    };
    let mut limited_by_cost = None;
    let mut responses = Vec::with_capacity(requests.len());
    // Per response: whether the document never ran (parse, validation or a limit), so the
    // answer carries no `data` entry at all, as GraphQL over HTTP requires.
    let mut request_errors = Vec::with_capacity(requests.len());
    for mut request in requests {
        let to_learn = match state.persisted.resolve(&mut request).await {
            Ok(to_learn) => to_learn,
            Err(error) => {
                request_errors.push(true);
                let code = match error {
                    PersistedError::NotSafelisted => ErrorCode::Forbidden,
                    PersistedError::Unavailable => ErrorCode::Unavailable,
                    _ => ErrorCode::BadUserInput,
                };
                let mut response = async_graphql::Response::from_errors(vec![coded_error(
                    &error.to_string(),
                    code,
                )]);
                complete_extensions(&mut response.errors, None);
                responses.push(response);
                continue;
            }
        };
        normalize_text(&mut request);
        // Parsed here once; async-graphql reuses the parsed document.
        let operation_name = request.operation_name.clone();
        let control = control_character_in_variables(&request.variables);
        let (aliases, operation, introspection_only) = match request.parsed_query() {
            Ok(document) => {
                if let Some(path) = control.or_else(|| control_character_in_document(document)) {
                    request_errors.push(true);
                    let message = format!(
                        "{path} contains a control character; remove it (tabs and line breaks are fine)"
                    );
                    let mut response = async_graphql::Response::from_errors(vec![coded_error(
                        &message,
                        ErrorCode::BadUserInput,
                    )]);
                    complete_extensions(&mut response.errors, None);
                    responses.push(response);
                    continue;
                }
                (
                    count_aliases(document),
                    selected_operation_type(document, operation_name.as_deref()),
                    asks_introspection_only(document, operation_name.as_deref()),
                )
            }
            Err(error) => {
                request_errors.push(true);
                let mut response = async_graphql::Response::from_errors(vec![error]);
                complete_extensions(&mut response.errors, None);
                responses.push(response);
                continue;
            }
        };
        if method == Method::GET && operation == Some(OperationType::Mutation) {
            let body = serde_json::json!({ "errors": [{ "message": "mutations must be sent with POST", "extensions": { "code": "BAD_USER_INPUT" } }] });
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "POST")],
                axum::Json(body),
            )
                .into_response();
        }
        if aliases > state.limits.max_aliases {
            request_errors.push(true);
            let message = format!(
                "too many aliases ({aliases}); at most {}",
                state.limits.max_aliases
            );
            let mut response =
                async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(
                    message, None,
                )]);
            complete_extensions(&mut response.errors, None);
            responses.push(response);
            continue;
        }
        let request = with_loaders(request, &state.clients, &ctx)
            .data(ctx.clone())
            .data(state.clients.clone())
            .data(state.stats.clone())
            .data(state.review_claims.clone())
            .data(charge.clone());
        let span = tracing::info_span!(
            "graphql",
            otel.name = request.operation_name.as_deref().unwrap_or("graphql")
        );
        let started = std::time::Instant::now();
        let schema = match &state.introspection {
            Some(introspection) if introspection_only => introspection,
            _ => &state.schema,
        };
        let mut response = schema.execute(request).instrument(span.clone()).await;
        record_operation(
            operation_name.as_deref(),
            operation,
            !response.errors.is_empty(),
            started.elapsed(),
        );
        let trace_id = span.in_scope(axv_telemetry::current_trace_id);
        // A response with no data at all means the document never ran (invalid or over a limit).
        let never_ran = response.data == async_graphql::Value::Null
            && response.errors.iter().all(|e| e.path.is_empty())
            && !response.errors.is_empty();
        request_errors.push(never_ran);
        // Only a document that parsed and validated is remembered for its hash.
        if let Some(document) = to_learn
            && !never_ran
        {
            state.persisted.learn(document).await;
        }
        if response.data == async_graphql::Value::Null {
            limited_by_cost = limited_by_cost.or_else(|| retry_after_of(&response.errors));
        }
        complete_extensions(&mut response.errors, trace_id.as_deref());
        responses.push(response);
    }
    if !is_batch && let Some(retry_after) = limited_by_cost {
        return rate_limited(Limited { retry_after }, graphql_json);
    }
    let any_request_error = request_errors.iter().any(|e| *e);
    let body = if is_batch {
        BatchResponse::Batch(responses)
    } else {
        BatchResponse::Single(responses.remove(0))
    };
    let status = if graphql_json && any_request_error && !is_batch {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let content_type = if graphql_json {
        GRAPHQL_RESPONSE_JSON
    } else {
        "application/json"
    };
    match serde_json::to_value(&body)
        .map(|body| without_data_on_request_errors(body, &request_errors))
        .and_then(|body| serde_json::to_vec(&body))
    {
        Ok(json) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            json,
        )
            .into_response(),
        Err(_) => request_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error",
            graphql_json,
        ),
    }
}

/// Drops the `data` entry of each answer whose document never ran.
fn without_data_on_request_errors(
    mut body: serde_json::Value,
    request_errors: &[bool],
) -> serde_json::Value {
    let strip = |answer: &mut serde_json::Value| {
        if let Some(fields) = answer.as_object_mut() {
            fields.remove("data");
        }
    };
    match &mut body {
        serde_json::Value::Array(answers) => answers
            .iter_mut()
            .zip(request_errors)
            .filter(|(_, failed)| **failed)
            .for_each(|(answer, _)| strip(answer)),
        answer => {
            if request_errors.first() == Some(&true) {
                strip(answer);
            }
        }
    }
    body
}

/// Operation names are chosen by clients; past this many distinct ones, new names are counted
/// as `other` so a client cannot grow the metrics without bound.
const MAX_OPERATION_LABELS: usize = 200;

fn operation_label(name: Option<&str>) -> String {
    static SEEN: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    let Some(name) = name.filter(|n| {
        !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }) else {
        return "anonymous".to_owned();
    };
    let Ok(mut seen) = SEEN.get_or_init(Default::default).lock() else {
        return "other".to_owned();
    };
    if seen.contains(name) || seen.len() < MAX_OPERATION_LABELS {
        seen.insert(name.to_owned());
        name.to_owned()
    } else {
        "other".to_owned()
    }
}

fn record_operation(
    name: Option<&str>,
    operation: Option<OperationType>,
    failed: bool,
    elapsed: Duration,
) {
    let kind = match operation {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "unknown",
    };
    let label = operation_label(name);
    axv_telemetry::metrics::global()
        .graphql_duration
        .with_label_values(&[label.as_str(), kind, if failed { "error" } else { "ok" }])
        .observe(elapsed.as_secs_f64());
}

fn coded_error(message: &str, code: ErrorCode) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    error
}

/// The wait a cost refusal asked for, if validation refused the operation for its cost.
fn retry_after_of(errors: &[async_graphql::ServerError]) -> Option<Duration> {
    errors.iter().find_map(|e| {
        let extensions = e.extensions.as_ref()?;
        let code = extensions.get("code")?;
        if *code != async_graphql::Value::from(ErrorCode::RateLimited.as_str()) {
            return None;
        }
        match extensions.get("retryAfter")? {
            async_graphql::Value::Number(n) => n.as_u64().map(Duration::from_secs),
            _ => None,
        }
    })
}

/// 429 with `Retry-After`, for a request over one of its budgets.
pub(crate) fn rate_limited(limited: Limited, graphql_json: bool) -> Response {
    let mut response = request_error(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        &format!(
            "rate limit reached; retry after {} s",
            limited.retry_after.as_secs()
        ),
        graphql_json,
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(limited.retry_after.as_secs()),
    );
    response
}

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when every downstream service reports SERVING over the standard health protocol.
pub async fn readyz(State(state): State<AppState>) -> Response {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let mut report = serde_json::Map::new();
    let mut ready = true;
    for (name, channel) in &state.clients.channels {
        let mut client = HealthClient::new(channel.clone());
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        request.set_timeout(Duration::from_secs(2));
        let serving = matches!(
            tokio::time::timeout(Duration::from_secs(3), client.check(request)).await,
            Ok(Ok(response)) if response.get_ref().status() == ServingStatus::Serving
        );
        ready &= serving;
        report.insert(
            (*name).to_owned(),
            serde_json::Value::String(if serving { "SERVING" } else { "NOT_SERVING" }.into()),
        );
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(serde_json::Value::Object(report))).into_response()
}

/// Characters no text of the platform may hold: C0 controls but tab, line feed and carriage
/// return, and DEL. A NUL would reach Postgres, which refuses it (and SQLite would store it).
fn is_forbidden_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) && (c < '\u{80}' || c.is_ascii())
}

/// The path (`input.nameKo`) of the first string in `value` holding a forbidden control
/// character.
fn control_character_in(value: &async_graphql::Value, path: &str) -> Option<String> {
    match value {
        async_graphql::Value::String(text) => text
            .chars()
            .any(is_forbidden_control)
            .then(|| path.to_owned()),
        async_graphql::Value::List(items) => items
            .iter()
            .find_map(|item| control_character_in(item, path)),
        async_graphql::Value::Object(fields) => fields
            .iter()
            .find_map(|(name, value)| control_character_in(value, &format!("{path}.{name}"))),
        _ => None,
    }
}

/// The same over a request's variables.
fn control_character_in_variables(variables: &async_graphql::Variables) -> Option<String> {
    variables
        .iter()
        .find_map(|(name, value)| control_character_in(value, name.as_str()))
}

/// The same for strings written inline in the document (`filter.text`).
fn control_character_in_document(document: &ExecutableDocument) -> Option<String> {
    fn set(selection: &SelectionSet) -> Option<String> {
        selection.items.iter().find_map(|item| match &item.node {
            Selection::Field(field) => field
                .node
                .arguments
                .iter()
                .find_map(|(name, v)| {
                    // Variables in it are checked with the variables.
                    let written = v.node.clone().into_const_with(|_| {
                        Ok::<_, std::convert::Infallible>(async_graphql::Value::Null)
                    });
                    written
                        .ok()
                        .and_then(|w| control_character_in(&w, name.node.as_str()))
                })
                .or_else(|| set(&field.node.selection_set.node)),
            Selection::InlineFragment(fragment) => set(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => None,
        })
    }
    document
        .operations
        .iter()
        .find_map(|(_, operation)| set(&operation.node.selection_set.node))
        .or_else(|| {
            document
                .fragments
                .values()
                .find_map(|fragment| set(&fragment.node.selection_set.node))
        })
}

/// Every string a request carries, inline in the document or in its variables, in NFC: Korean
/// typed on macOS arrives decomposed, and would otherwise be stored as it came and never found.
fn normalize_text(request: &mut async_graphql::Request) {
    fn walk(value: &mut async_graphql::Value) {
        match value {
            async_graphql::Value::String(text) => *text = axv_platform::text::nfc(text),
            async_graphql::Value::List(items) => items.iter_mut().for_each(walk),
            async_graphql::Value::Object(fields) => fields.values_mut().for_each(walk),
            _ => {}
        }
    }
    request.query = axv_platform::text::nfc(&request.query);
    request.variables.values_mut().for_each(walk);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_names_or_anonymous() {
        assert_eq!(operation_label(Some("DashboardStats")), "DashboardStats");
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("")), "anonymous");
        assert_eq!(operation_label(Some("no spaces please")), "anonymous");
        assert_eq!(operation_label(Some(&"x".repeat(65))), "anonymous");
    }

    /// The console's visitors each count as their own address, but only when the console
    /// proves it is the console; anyone else's `X-Forwarded-For` is ignored.
    #[test]
    fn only_the_console_names_its_visitors_address() {
        let peer = Some(Extension(ConnectInfo(SocketAddr::from((
            [127, 0, 0, 1],
            4000,
        )))));
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        assert_eq!(client_address(&headers, peer, Some("k3y")), "127.0.0.1");
        headers.insert(CONSOLE_RELAY_HEADER, HeaderValue::from_static("guess"));
        assert_eq!(client_address(&headers, peer, Some("k3y")), "127.0.0.1");
        assert_eq!(client_address(&headers, peer, None), "127.0.0.1");
        headers.insert(CONSOLE_RELAY_HEADER, HeaderValue::from_static("k3y"));
        assert_eq!(client_address(&headers, peer, Some("k3y")), "203.0.113.7");
        // A forged hop in front of the console's: the console's own (right-most) counts.
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.0.0.1, 198.51.100.2"),
        );
        assert_eq!(client_address(&headers, peer, Some("k3y")), "198.51.100.2");
    }
}
