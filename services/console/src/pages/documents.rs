//! Documents on the console's pages: the list of what is attached to a company, an application,
//! a pilot, a milestone or a report (each a download), the field to attach another while the
//! item takes them, and the uploader's delete button. Files go on to the gateway as they
//! arrive (a GraphQL multipart upload); downloads come back through the console under the
//! person's session, so the console's pages need no token in the browser.

use axum::{
    body::Body,
    extract::{Multipart, Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    Console, Visit,
    api::{self, ApiError, delete_document, one_document, parent_documents},
    format::{file_size, kst},
    i18n::Lang,
    pages::{
        Back, error_page, local_or_home,
        multipart::{relay, small_text},
        not_found_page,
    },
};

/// What a file input offers to pick: the types the platform takes.
pub const ACCEPT: &str = ".pdf,.png,.jpg,.jpeg,.hwp,.hwpx,.docx,.xlsx,.pptx,.csv,.zip";

/// The kinds of item documents hang off, as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Company,
    VoucherApplication,
    Pilot,
    Milestone,
    OutcomeReport,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Company => "COMPANY",
            Kind::VoucherApplication => "VOUCHER_APPLICATION",
            Kind::Pilot => "PILOT",
            Kind::Milestone => "MILESTONE",
            Kind::OutcomeReport => "OUTCOME_REPORT",
        }
    }

    fn parse(text: &str) -> Option<Kind> {
        [
            Kind::Company,
            Kind::VoucherApplication,
            Kind::Pilot,
            Kind::Milestone,
            Kind::OutcomeReport,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }

    fn to_api(self) -> parent_documents::DocumentParentKind {
        use parent_documents::DocumentParentKind as K;
        match self {
            Kind::Company => K::COMPANY,
            Kind::VoucherApplication => K::VOUCHER_APPLICATION,
            Kind::Pilot => K::PILOT,
            Kind::Milestone => K::MILESTONE,
            Kind::OutcomeReport => K::OUTCOME_REPORT,
        }
    }
}

/// One attached file as a row of the list.
pub struct DocumentRow {
    pub id: String,
    pub name: String,
    pub size: String,
    pub by: String,
    pub at: String,
    /// Downloadable: the malware scanner passed it (or none is configured).
    pub ready: bool,
    /// Its state when not ready: "악성코드 검사 중" or "차단됨".
    pub state: Option<String>,
    /// The signed-in person uploaded it and may still take it back.
    pub deletable: bool,
}

/// A document as any of the console's queries reads it (each query has its own generated type).
pub struct Found {
    pub id: String,
    pub file_name: String,
    pub size: i64,
    pub uploaded_at: String,
    /// The API's `DocumentScanStatus` name.
    pub scan_status: String,
    pub uploaded_by_id: String,
    pub uploaded_by_name: String,
}

/// Where a page's upload form sends its file.
pub struct UploadTarget {
    pub kind: &'static str,
    pub id: String,
    pub pilot_id: String,
}

/// The documents part of a page (`documents.html`).
pub struct Documents {
    pub rows: Vec<DocumentRow>,
    /// `None` when nothing more may be attached now.
    pub upload: Option<UploadTarget>,
    /// The page's own path, where the forms come back to.
    pub back: String,
    /// The types and the size limit, said under the field.
    pub hint: String,
    /// The size limit alone, under a field in a table row (the page says the rest once).
    pub short_hint: String,
    pub accept: &'static str,
    /// The list could not be read just now: the page says so instead of failing whole.
    pub unavailable: bool,
    /// Words above the list (to staff: the firm sees what they attach).
    pub notes: Vec<String>,
}

impl Documents {
    pub fn any_deletable(&self) -> bool {
        self.rows.iter().any(|row| row.deletable)
    }

    /// With `note` said above the list.
    pub fn with_note(mut self, note: String) -> Self {
        self.notes.push(note);
        self
    }
}

/// What may happen to an item's documents on a page, as the page knows from the item's state:
/// the API decides again on every action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    pub upload: bool,
    /// The uploader may take a file back.
    pub delete_own: bool,
}

impl Allowed {
    /// Files added and taken back in the same states (most items).
    pub fn while_open(open: bool) -> Self {
        Self {
            upload: open,
            delete_own: open,
        }
    }
}

/// The documents part of a page at `back` from documents already read (a page's own query),
/// for the item `target` names.
pub fn from_found(
    console: &Console,
    visit: &Visit,
    found: impl IntoIterator<Item = Found>,
    (kind, id, pilot_id): (Kind, &str, Option<&str>),
    allowed: Allowed,
    back: &str,
) -> Documents {
    let lang = visit.lang;
    let me = visit.user_id().unwrap_or_default();
    let limit = file_size(i64::try_from(console.max_upload_bytes).unwrap_or(i64::MAX));
    let rows = found
        .into_iter()
        .map(|d| {
            let state = match d.scan_status.as_str() {
                "CLEAN" => None,
                "INFECTED" => Some(lang.t("documents-infected")),
                _ => Some(lang.t("documents-scanning")),
            };
            DocumentRow {
                ready: state.is_none(),
                deletable: allowed.delete_own && d.uploaded_by_id == me,
                id: d.id,
                name: d.file_name,
                size: file_size(d.size),
                by: d.uploaded_by_name,
                at: kst(&d.uploaded_at),
                state,
            }
        })
        .collect();
    Documents {
        rows,
        upload: allowed.upload.then(|| UploadTarget {
            kind: kind.as_str(),
            id: id.to_owned(),
            pilot_id: pilot_id.unwrap_or_default().to_owned(),
        }),
        back: back.to_owned(),
        hint: lang.t_with("documents-hint", &[("limit", limit.clone())]),
        short_hint: lang.t_with("documents-hint-short", &[("limit", limit)]),
        accept: ACCEPT,
        unavailable: false,
        notes: Vec::new(),
    }
}

/// The documents of one item for a page at `back`. A failure to read them does not fail the
/// page (the item's own actions matter more): the part says the list could not be read.
pub async fn load(
    console: &Console,
    visit: &Visit,
    token: &str,
    target: (Kind, &str, Option<&str>),
    allowed: Allowed,
    back: &str,
) -> Documents {
    let (kind, id, pilot_id) = target;
    let found = console
        .api
        .run::<api::ParentDocuments>(
            Some(token),
            &visit.client_address,
            parent_documents::Variables {
                kind: kind.to_api(),
                id: id.to_owned(),
                pilot_id: pilot_id.map(str::to_owned),
            },
        )
        .await;
    match found {
        Ok(found) => {
            let documents = found.documents.into_iter().map(|d| Found {
                scan_status: format!("{:?}", d.scan_status),
                id: d.id,
                file_name: d.file_name,
                size: d.size,
                uploaded_at: d.uploaded_at,
                uploaded_by_id: d.uploaded_by.id,
                uploaded_by_name: d.uploaded_by.name,
            });
            from_found(console, visit, documents, target, allowed, back)
        }
        Err(error) => {
            tracing::warn!(code = %error.code, message = %error.message, "documents not listed");
            let mut documents =
                from_found(console, visit, [], target, Allowed::while_open(false), back);
            documents.unavailable = true;
            documents
        }
    }
}

/// Why a file was refused, in the person's words, naming the file.
fn refusal_sentence(lang: Lang, file_name: &str, error: &ApiError) -> String {
    let key = match error.reason.as_deref() {
        Some("UNSUPPORTED_FILE_TYPE") => "documents-refused-type",
        Some("EMPTY_FILE") => "documents-refused-empty",
        Some("OLD_OFFICE_FORMAT") => "documents-refused-old-office",
        Some("FILE_TOO_LARGE") => "documents-refused-size",
        Some("PARENT_FULL") => "documents-refused-full",
        Some("TOO_MANY_DOCUMENTS") => "documents-refused-too-many",
        Some("BAD_FILE_NAME") => "documents-refused-name",
        Some("NOT_EDITABLE") => "documents-refused-closed",
        _ if error.code == "BAD_USER_INPUT" => "documents-refused-unreadable",
        _ => "documents-refused-other",
    };
    lang.t_with(key, &[("name", file_name.to_owned())])
}

/// `POST /files` (multipart: `csrf`, `kind`, `id`, `pilot_id`, `back`, then `file`, in the
/// form's order): the file goes on to the gateway as it arrives; the person comes back to the
/// page with what happened said at its top. Until the form is known to be this session's, it
/// goes nowhere but home.
pub async fn upload(
    State(console): State<Console>,
    mut visit: Visit,
    mut form: Multipart,
) -> Response {
    let lang = visit.lang;
    let (mut csrf, mut kind, mut id, mut pilot_id, mut back) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::from("/"),
    );
    loop {
        let part = match form.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => break,
            // Cut off or over the size limit: nothing was sent on.
            Err(error) => {
                let to = if visit.posted_by_session(&csrf) {
                    back
                } else {
                    "/".into()
                };
                let sentence = if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    lang.t("documents-refused-size-unnamed")
                } else {
                    lang.t("documents-refused-unreadable")
                };
                return visit.redirect_with_alert(&console, sentence, &to).await;
            }
        };
        match part.name() {
            Some("csrf") => csrf = small_text(part).await.unwrap_or_default(),
            Some("kind") => kind = small_text(part).await.unwrap_or_default(),
            Some("id") => id = small_text(part).await.unwrap_or_default(),
            Some("pilot_id") => pilot_id = small_text(part).await.unwrap_or_default(),
            Some("back") => back = local_or_home(&small_text(part).await.unwrap_or_default()),
            Some("file") => {
                // A file cannot be kept across a sign-in: the person is told to send it again.
                let token = match visit
                    .require_sign_in_back_to(&console, &back, "notice-file-not-sent")
                    .await
                {
                    Ok(token) => token,
                    Err(response) => return response,
                };
                // A forged or stale form sends nothing on.
                if !visit.posted_by_session(&csrf) {
                    return visit
                        .redirect_with_notice(&console, "notice-stale-form", "/")
                        .await;
                }
                let Some(kind) = Kind::parse(&kind) else {
                    return not_found_page(&console, &mut visit).await;
                };
                let file_name = part.file_name().unwrap_or_default().to_owned();
                if file_name.is_empty() {
                    let sentence = lang.t("documents-missing-file");
                    return visit.redirect_with_alert(&console, sentence, &back).await;
                }
                let pilot = (!pilot_id.is_empty()).then_some(pilot_id.as_str());
                let sent = relay(part, |bytes| {
                    console.api.upload_document(
                        &token,
                        &visit.client_address,
                        kind.as_str(),
                        &id,
                        pilot,
                        &file_name,
                        bytes,
                    )
                })
                .await;
                return match sent {
                    Ok(()) => {
                        visit
                            .redirect_with_notice(&console, "notice-document-uploaded", &back)
                            .await
                    }
                    Err(error)
                        if matches!(
                            error.code.as_str(),
                            "NOT_FOUND" | "FORBIDDEN" | "UNAUTHENTICATED"
                        ) =>
                    {
                        error_page(&console, &mut visit, &error).await
                    }
                    Err(error) => {
                        let sentence = refusal_sentence(lang, &file_name, &error);
                        visit.redirect_with_alert(&console, sentence, &back).await
                    }
                };
            }
            _ => {}
        }
    }
    let to = if visit.posted_by_session(&csrf) {
        back
    } else {
        "/".into()
    };
    let sentence = lang.t("documents-missing-file");
    visit.redirect_with_alert(&console, sentence, &to).await
}

/// The policy a downloaded file is served under: nothing in it may run, load or frame.
const DOWNLOAD_CSP: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";

/// The types a document may be served as (what the documents service decides); anything
/// else is served as bytes.
const SERVED_TYPES: [&str; 10] = [
    "application/pdf",
    "image/png",
    "image/jpeg",
    "application/x-hwp",
    "application/hwp+zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "text/csv",
    "application/zip",
];

/// Marks a response whose own `Content-Security-Policy` the console's pages' must not replace.
#[derive(Clone, Copy)]
pub struct OwnPolicy;

/// `GET /files/<id>`: the document's bytes under the person's session, always as an attachment
/// with `nosniff` and a policy that lets nothing run, whatever came from the gateway.
pub async fn download(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    if !axv_platform::ids::is_valid_id(&id) {
        return not_found_page(&console, &mut visit).await;
    }
    let answer = console
        .api
        .download_document(&token, &visit.client_address, &id)
        .await;
    let upstream = match answer {
        Ok(upstream) => upstream,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let headers = upstream.headers().clone();
    let mut response = Response::new(Body::from_stream(upstream.bytes_stream()));
    let out = response.headers_mut();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|t| SERVED_TYPES.contains(t))
        .unwrap_or("application/octet-stream");
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(served(content_type)),
    );
    if let Some(length) = headers.get(header::CONTENT_LENGTH) {
        out.insert(header::CONTENT_LENGTH, length.clone());
    }
    let disposition = headers
        .get(header::CONTENT_DISPOSITION)
        .filter(|v| v.as_bytes().starts_with(b"attachment"))
        .cloned()
        .unwrap_or(HeaderValue::from_static("attachment"));
    out.insert(header::CONTENT_DISPOSITION, disposition);
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOWNLOAD_CSP),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response.extensions_mut().insert(OwnPolicy);
    response.into_response()
}

/// The `'static` copy of an allowed type.
fn served(content_type: &str) -> &'static str {
    SERVED_TYPES
        .into_iter()
        .find(|t| *t == content_type)
        .unwrap_or("application/octet-stream")
}

#[derive(askama::Template)]
#[template(path = "document_delete_confirm.html")]
struct ConfirmPage {
    layout: crate::Layout,
    lead: String,
    id: String,
    name: String,
    size: String,
    at: String,
    back: String,
}

/// `GET /files/<id>/delete`: asks before a file is taken back (a deleted file cannot be
/// restored); the answer posts to the same address.
pub async fn confirm_delete(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    axum::extract::Query(back): axum::extract::Query<Back>,
) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    if !axv_platform::ids::is_valid_id(&id) {
        return not_found_page(&console, &mut visit).await;
    }
    let found = console
        .api
        .run::<api::OneDocument>(
            Some(&token),
            &visit.client_address,
            one_document::Variables { id },
        )
        .await;
    let document = match found {
        Ok(data) => data.document,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let lang = visit.lang;
    let page = ConfirmPage {
        layout: visit.layout(&console, lang.t("documents-delete-title"), ""),
        lead: lang.t_with(
            "documents-delete-lead",
            &[("name", document.file_name.clone())],
        ),
        id: document.id,
        name: document.file_name,
        size: file_size(document.size),
        at: kst(&document.uploaded_at),
        back: local_or_home(back.back.as_deref().unwrap_or_default()),
    };
    visit
        .respond(&console, StatusCode::OK, crate::render(&page))
        .await
}

#[derive(serde::Deserialize, serde::Serialize)]
pub struct DeleteForm {
    csrf: String,
    #[serde(default)]
    back: String,
}

/// `POST /files/<id>/delete`: the uploader takes a file back, once they confirmed it.
pub async fn delete(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<DeleteForm>,
) -> Response {
    let back = local_or_home(&form.back);
    let token = match visit
        .require_post_from_session(&console, &form, &form.csrf, "/")
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let deleted = console
        .api
        .run::<api::DeleteDocument>(
            Some(&token),
            &visit.client_address,
            delete_document::Variables { id },
        )
        .await;
    match deleted {
        Ok(_) => {
            visit
                .redirect_with_notice(&console, "notice-document-deleted", &back)
                .await
        }
        Err(error) if error.reason.as_deref() == Some("NOT_EDITABLE") => {
            let sentence = visit.lang.t("documents-delete-closed");
            visit.redirect_with_alert(&console, sentence, &back).await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_gone_back_to() {
        assert_eq!(local_or_home("/companies/1"), "/companies/1");
        assert_eq!(local_or_home("//evil.example/x"), "/");
        assert_eq!(local_or_home("https://evil.example"), "/");
        assert_eq!(local_or_home("/\\evil.example"), "/");
        assert_eq!(local_or_home("/\t/evil.example"), "/");
    }

    #[test]
    fn only_document_types_are_served_as_such() {
        assert_eq!(served("application/pdf"), "application/pdf");
        assert_eq!(served("text/html"), "application/octet-stream");
    }

    #[test]
    fn kinds_round_trip() {
        for kind in [
            Kind::Company,
            Kind::VoucherApplication,
            Kind::Pilot,
            Kind::Milestone,
            Kind::OutcomeReport,
        ] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("USER"), None);
    }
}
