//! The console's only way to the platform: the gateway's GraphQL, with operations typed at
//! compile time against the checked-in schema (`queries/*.graphql`), each call carrying the
//! signed-in person's own token, so every rule and limit is the API's.

use graphql_client::{GraphQLQuery, Response};
use serde::Deserialize;

// The schema's custom scalars, as they travel in JSON.
pub type Date = String;
pub type DateTime = String;
pub type Long = i64;

/// The gateway's header for the console's relay key.
pub const RELAY_HEADER: &str = "x-axv-console-relay";

/// What the API refused, as its catalogue names it: the console turns `code` (and `field`)
/// into a sentence in the person's language.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: String,
    pub message: String,
    /// The input field a BAD_USER_INPUT names, when it names one.
    pub field: Option<String>,
    /// The gateway's trace id, for the error page.
    pub trace_id: Option<String>,
    /// Why a FAILED_PRECONDITION was answered (`WRONG_STATE`...), when the API says.
    pub reason: Option<String>,
}

impl ApiError {
    /// What the API would answer a caller whose role may not do this.
    pub fn forbidden() -> Self {
        Self {
            code: "FORBIDDEN".into(),
            message: "not for this role".into(),
            ..Self::default()
        }
    }

    /// What the API says of an item the caller may not see, or that does not exist.
    pub fn not_found() -> Self {
        Self {
            code: "NOT_FOUND".into(),
            message: "not found".into(),
            ..Self::default()
        }
    }

    /// A value the console itself cannot send on (an action no button offers).
    pub fn bad_input(field: &str) -> Self {
        Self {
            code: "BAD_USER_INPUT".into(),
            message: format!("{field} is not one this page offers"),
            field: Some(field.to_owned()),
            ..Self::default()
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            code: "UNAVAILABLE".into(),
            message: message.into(),
            ..Self::default()
        }
    }

    /// Whether a BAD_USER_INPUT message is about `field` (the services word them
    /// "<field> <what is wrong>").
    pub fn is_about(&self, field: &str) -> bool {
        self.code == "BAD_USER_INPUT"
            && (self.field.as_deref() == Some(field)
                || self.message.split_whitespace().next() == Some(field))
    }

    /// The Fluent key of the sentence shown for this refusal: its reason's own sentence when
    /// it gives one, else its code's.
    pub fn message_key(&self) -> &'static str {
        let reason = match self.reason.as_deref() {
            Some("WRONG_STATE") => Some("refusal-wrong-state"),
            Some("NOT_EDITABLE") => Some("refusal-not-editable"),
            Some("POOL_SHORT") => Some("refusal-pool-short"),
            Some("LAST_ADMIN") => Some("refusal-last-admin"),
            Some("OPEN_MILESTONES") => Some("refusal-open-milestones"),
            Some("PERIOD_NOT_OVER") => Some("refusal-period-not-over"),
            Some("COMPANY_NOT_APPROVED") => Some("refusal-company-not-approved"),
            Some("ACCOUNT_DEACTIVATED") => Some("refusal-account-deactivated"),
            Some("PILOT_NOT_RUNNING") => Some("refusal-pilot-not-running"),
            Some("UNSUPPORTED_FILE_TYPE") => Some("refusal-unsupported-file-type"),
            Some("FILE_TOO_LARGE") => Some("refusal-file-too-large"),
            Some("PARENT_FULL") => Some("refusal-parent-full"),
            Some("SCAN_PENDING") => Some("refusal-scan-pending"),
            Some("INFECTED") => Some("refusal-infected"),
            Some("TOO_MANY_DOCUMENTS") => Some("refusal-too-many-documents"),
            Some("EMPTY_FILE") => Some("refusal-empty-file"),
            Some("OLD_OFFICE_FORMAT") => Some("refusal-old-office-format"),
            Some("BAD_FILE_NAME") => Some("refusal-bad-file-name"),
            _ => None,
        };
        if let Some(key) = reason {
            return key;
        }
        match self.code.as_str() {
            "BAD_USER_INPUT" => "error-bad-input",
            "UNAUTHENTICATED" => "error-unauthenticated",
            "FORBIDDEN" => "error-forbidden",
            "NOT_FOUND" => "error-not-found",
            "CONFLICT" => "error-conflict",
            "FAILED_PRECONDITION" => "error-precondition",
            "RATE_LIMITED" => "error-rate-limited",
            "NOT_ELIGIBLE" => "error-not-eligible",
            "UNAVAILABLE" => "error-unavailable",
            _ => "error-internal",
        }
    }
}

#[derive(Deserialize)]
struct ErrorExtensions {
    code: Option<String>,
    field: Option<String>,
    #[serde(rename = "traceId")]
    trace_id: Option<String>,
    reason: Option<String>,
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    url: String,
    /// Proves to the gateway that the console relays its visitors (their addresses then
    /// count for the per-address limits, not the console's).
    relay_key: Option<String>,
}

impl Api {
    /// `url`: the gateway's GraphQL endpoint, e.g. `http://127.0.0.1:8080/graphql`.
    pub fn new(url: impl Into<String>, relay_key: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            http,
            url: url.into(),
            relay_key,
        }
    }

    /// Runs one operation as `token`'s bearer (anonymous without one), telling the gateway the
    /// person's address for its per-address limits.
    pub async fn run<Q: GraphQLQuery>(
        &self,
        token: Option<&str>,
        client_address: &str,
        variables: Q::Variables,
    ) -> Result<Q::ResponseData, ApiError> {
        let body = Q::build_query(variables);
        let mut request = self
            .http
            .post(&self.url)
            .header("x-forwarded-for", client_address)
            .json(&body);
        if let Some(key) = &self.relay_key {
            request = request.header(RELAY_HEADER, key);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::unavailable(format!("the gateway did not answer: {e}")))?;
        let status = response.status();
        let answer: Response<Q::ResponseData> = response.json().await.map_err(|e| {
            ApiError::unavailable(format!("the gateway answered {status} unreadably: {e}"))
        })?;
        if let Some(error) = answer.errors.as_ref().and_then(|errors| errors.first()) {
            return Err(refusal(error));
        }
        answer.data.ok_or_else(|| {
            ApiError::unavailable(format!("the gateway answered {status} without data"))
        })
    }

    /// Streams a `sacct --parsable2` file (plain or gzip, as it arrives) to the gateway's
    /// `/usage/sacct` as `token`'s bearer; the upload's id in the history.
    pub async fn upload_sacct(
        &self,
        token: &str,
        client_address: &str,
        cluster: &str,
        file: reqwest::Body,
    ) -> Result<String, ApiError> {
        let request = self
            .beside_graphql(reqwest::Method::POST, "/usage/sacct", token, client_address)
            .query(&[("cluster", cluster)])
            .timeout(UPLOAD_TIMEOUT)
            .body(file);
        let response = request.send().await.map_err(|e| {
            ApiError::unavailable(format!("the upload did not reach the gateway: {e}"))
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            ApiError::unavailable(format!("the gateway's answer ({status}) was cut off: {e}"))
        })?;
        if status.is_success() {
            #[derive(Deserialize)]
            struct Uploaded {
                #[serde(rename = "uploadId")]
                upload_id: String,
            }
            return serde_json::from_str::<Uploaded>(&text)
                .map(|u| u.upload_id)
                .map_err(|e| {
                    ApiError::unavailable(format!("the gateway answered {status} unreadably: {e}"))
                });
        }
        Err(refusal_in(status, &text))
    }

    /// A request to the gateway's route `path` (beside `/graphql`) as `token`'s bearer, naming
    /// the person's address.
    fn beside_graphql(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        client_address: &str,
    ) -> reqwest::RequestBuilder {
        let base = self.url.strip_suffix("/graphql").unwrap_or(&self.url);
        let mut request = self
            .http
            .request(method, format!("{base}{path}"))
            .header("x-forwarded-for", client_address)
            .bearer_auth(token);
        if let Some(key) = &self.relay_key {
            request = request.header(RELAY_HEADER, key);
        }
        request
    }
}

/// The mutation the console attaches files with.
const UPLOAD_DOCUMENT: &str = "mutation($kind: DocumentParentKind!, $id: ID!, $pilotId: ID, $file: Upload!) { uploadDocument(parentKind: $kind, parentId: $id, pilotId: $pilotId, file: $file) { id } }";

/// A GraphQL multipart request's body (the GraphQL multipart request specification): the
/// operation, the map putting file `0` in `variables.file`, then the file's bytes as `content`
/// streams them. The name is written as browsers write it (`"`, CR and LF percent-encoded).
pub fn graphql_multipart(
    boundary: &str,
    operations: &serde_json::Value,
    file_name: &str,
    content: impl futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send + 'static,
) -> impl futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send + 'static {
    use futures::StreamExt as _;
    let name = file_name
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\":[\"variables.file\"]}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    futures::stream::once(async move { Ok(axum::body::Bytes::from(head)) })
        .chain(content)
        .chain(futures::stream::once(async move {
            Ok(axum::body::Bytes::from(tail))
        }))
}

impl Api {
    /// Attaches a file to a parent (`COMPANY`...) through the gateway's GraphQL multipart
    /// uploads, as `token`'s bearer, streaming `content` as it arrives.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_document(
        &self,
        token: &str,
        client_address: &str,
        kind: &str,
        parent_id: &str,
        pilot_id: Option<&str>,
        file_name: &str,
        content: impl futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>>
        + Send
        + Sync
        + 'static,
    ) -> Result<(), ApiError> {
        let boundary = format!("AxvConsole{}", axv_platform::ids::new_id().replace('-', ""));
        let operations = serde_json::json!({
            "query": UPLOAD_DOCUMENT,
            "variables": { "kind": kind, "id": parent_id, "pilotId": pilot_id, "file": null },
        });
        let body = graphql_multipart(&boundary, &operations, file_name, content);
        let request = self
            .beside_graphql(reqwest::Method::POST, "/graphql", token, client_address)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .timeout(UPLOAD_TIMEOUT)
            .body(reqwest::Body::wrap_stream(body));
        let response = request.send().await.map_err(|e| {
            ApiError::unavailable(format!("the file did not reach the gateway: {e}"))
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            ApiError::unavailable(format!("the gateway's answer ({status}) was cut off: {e}"))
        })?;
        // A GraphQL answer carries its refusal in `errors` whatever its status.
        let answer: Response<serde_json::Value> = serde_json::from_str(&text).unwrap_or(Response {
            data: None,
            errors: None,
            extensions: None,
        });
        match answer.errors.as_ref().and_then(|errors| errors.first()) {
            Some(error) => Err(refusal(error)),
            None if status.is_success() => Ok(()),
            None => Err(refusal_in(status, &text)),
        }
    }

    /// A document's bytes from the gateway's `/documents/<id>` as `token`'s bearer: the
    /// response to stream on, or the refusal. `id` must be a well-formed id (the caller checks).
    pub async fn download_document(
        &self,
        token: &str,
        client_address: &str,
        id: &str,
    ) -> Result<reqwest::Response, ApiError> {
        let request = self
            .beside_graphql(
                reqwest::Method::GET,
                &format!("/documents/{id}"),
                token,
                client_address,
            )
            .timeout(UPLOAD_TIMEOUT);
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::unavailable(format!("the gateway did not answer: {e}")))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Err(refusal_in(status, &text))
    }

    /// The gateway's events of `kinds` (`company.*,report.*`...) as they happen (`/events`,
    /// server-sent events) as `token`'s bearer sees them, for at most an hour: whoever reads
    /// them reconnects after.
    pub async fn events(
        &self,
        token: &str,
        client_address: &str,
        kinds: &str,
    ) -> Result<reqwest::Response, ApiError> {
        let request = self
            .beside_graphql(reqwest::Method::GET, "/events", token, client_address)
            .query(&[("kinds", kinds)])
            .header("accept", "text/event-stream")
            .timeout(std::time::Duration::from_secs(3600));
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::unavailable(format!("the gateway's events: {e}")))?;
        if !response.status().is_success() {
            return Err(ApiError::unavailable(format!(
                "the gateway's events answered {}",
                response.status()
            )));
        }
        Ok(response)
    }
}

/// A file of tens of megabytes over an office link takes minutes; the gateway allows as long.
const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The refusal a gateway route answered `status` with: its JSON body's first error (the
/// GraphQL error shape), or what the status alone says.
fn refusal_in(status: reqwest::StatusCode, body: &str) -> ApiError {
    serde_json::from_str::<Response<serde_json::Value>>(body)
        .ok()
        .and_then(|answer| answer.errors)
        .and_then(|errors| errors.first().map(refusal))
        .unwrap_or_else(|| {
            ApiError::unavailable(format!("the gateway answered {status} without a reason"))
        })
}

/// An error of the API's answer as the console reads it.
fn refusal(error: &graphql_client::Error) -> ApiError {
    let extensions: Option<ErrorExtensions> = error
        .extensions
        .as_ref()
        .and_then(|e| serde_json::to_value(e).ok())
        .and_then(|v| serde_json::from_value(v).ok());
    ApiError {
        code: extensions
            .as_ref()
            .and_then(|e| e.code.clone())
            .unwrap_or_else(|| "INTERNAL".into()),
        field: extensions.as_ref().and_then(|e| e.field.clone()),
        reason: extensions.as_ref().and_then(|e| e.reason.clone()),
        trace_id: extensions.and_then(|e| e.trace_id),
        message: error.message.clone(),
    }
}

/// One typed operation per name, from the `.graphql` file of its page, checked at compile time
/// against the gateway's checked-in schema.
macro_rules! operations {
    ($file:tt: $($name:ident),+ $(,)?) => {$(
        #[derive(GraphQLQuery)]
        #[graphql(
            schema_path = "../gateway/schema.graphql",
            query_path = $file,
            response_derives = "Debug, Clone",
            variables_derives = "Debug, Clone"
        )]
        pub struct $name;
    )+};
}

operations!("queries/home.graphql": HomeStats);
operations!("queries/audit.graphql": AuditLog);
operations!("queries/pilots.graphql": PublicPilot);
operations!(
    "queries/account.graphql": SignUp,
    Login,
    Refresh,
    Logout,
    UpdateName,
    MyAccount,
    ChangePassword,
    RequestPasswordReset,
    ResetPassword,
);
operations!(
    "queries/companies.graphql": MyCompanies,
    CompanyDetail,
    CreateCompany,
    UpdateCompany,
    SubmitCompany,
    AddCompanyMember,
);
operations!(
    "queries/vouchers.graphql": VoucherHome,
    ApplyChoices,
    ApplyForVoucher,
    VoucherDetail,
    MyApplication,
);
operations!(
    "queries/my_pilots.graphql": MyPilots,
    PilotWork,
    RegisterPilot,
    UpdatePilot,
    SubmitPilot,
    StartPilot,
    PartnerSearch,
    InvitePartner,
    AcceptInvitation,
    DeclineInvitation,
    AddMilestone,
    CompleteMilestone,
);
operations!(
    "queries/reports.graphql": ReportHome,
    ReportDetail,
    ReportVersions,
    ReportPilot,
    CreateReport,
    UpdateReport,
    SubmitReport,
    AmendReport,
);

operations!(
    "queries/programmes.graphql": ProgrammeAdmin,
    CreateResourcePool,
    CreateVoucherProgram,
);
operations!("queries/usage.graphql": UsageUploads, UsageUploadDetail);
operations!("queries/documents.graphql": ParentDocuments, DeleteDocument, OneDocument);
operations!("queries/figures.graphql": StaffFigures);
operations!(
    "queries/inbox.graphql": Inbox,
    InboxCount,
    MarkNotificationsRead,
    NotificationPreferences,
    SetNotificationPreferences,
    Unsubscribe,
);
operations!(
    "queries/admin.graphql": StaffAccounts,
    CreateStaffAccount,
    ReissueTemporaryPassword,
    ChangeStaffRole,
    DeactivateStaffAccount,
    ReactivateStaffAccount,
    ApiClients,
    RegisterApiClient,
    RevokeApiClient,
);
operations!("queries/worklist/companies.graphql": WorklistCompanies);
operations!("queries/worklist/applications.graphql": WorklistApplications);
operations!("queries/worklist/pilots.graphql": WorklistPilots);
operations!("queries/worklist/reports.graphql": WorklistReports);
operations!("queries/worklist/overdue.graphql": WorklistOverdue);
operations!("queries/worklist/vouchers.graphql": WorklistVouchers);
operations!(
    "queries/review.graphql": CompanyReview,
    StartCompanyReview,
    ApproveCompany,
    RequestCompanyChanges,
    RejectCompany,
    SuspendCompany,
    ReinstateCompany,
    ApplicationReview,
    ApproveVoucherApplication,
    RejectVoucherApplication,
    ApprovePilot,
    RejectPilot,
    CompletePilot,
    SuspendPilot,
    ResumePilot,
    CancelPilot,
    VerifiedReports,
    VerifyOutcomeReport,
    ReturnOutcomeReport,
    ReviewClaims,
    PickUpForReview,
    ReleaseReview,
);

/// The registry's filters start empty.
#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../gateway/schema.graphql",
    query_path = "queries/pilots.graphql",
    response_derives = "Debug, Clone",
    variables_derives = "Debug, Clone, Default"
)]
pub struct PublicPilots;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axv_platform::error::Reason;

    use super::*;
    use crate::i18n::Lang;

    /// Every reason the services give has its own sentence, in both languages, instead of the
    /// general one followed by the service's English.
    #[test]
    fn every_refusal_reason_has_its_own_sentence() {
        let mut keys = std::collections::BTreeSet::new();
        for reason in Reason::ALL {
            let error = ApiError {
                code: "FAILED_PRECONDITION".into(),
                message: "cannot approve a pilot that is ACTIVE".into(),
                reason: Some(reason.as_str().into()),
                ..ApiError::default()
            };
            let key = error.message_key();
            assert_ne!(key, "error-precondition", "{reason:?}");
            for lang in [Lang::Ko, Lang::En] {
                let sentence = lang.t(key);
                assert_ne!(sentence, key, "{reason:?} in {lang:?}");
                assert!(!sentence.contains("ACTIVE"), "{sentence}");
            }
            keys.insert(key);
        }
        assert_eq!(keys.len(), Reason::ALL.len());
        let without = ApiError {
            code: "FAILED_PRECONDITION".into(),
            ..ApiError::default()
        };
        assert_eq!(without.message_key(), "error-precondition");
    }
}
