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
    api::{self, ApiError, delete_document, parent_documents},
    format::{file_size, kst},
    i18n::Lang,
    pages::{
        error_page,
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
    /// Its state when not ready: "검사 중" or "차단됨".
    pub state: Option<String>,
    /// The signed-in person uploaded it and may still take it back.
    pub deletable: bool,
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
    pub accept: &'static str,
}

impl Documents {
    pub fn any_deletable(&self) -> bool {
        self.rows.iter().any(|row| row.deletable)
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

/// The documents of one item for a page at `back`.
pub async fn load(
    console: &Console,
    visit: &Visit,
    token: &str,
    (kind, id, pilot_id): (Kind, &str, Option<&str>),
    allowed: Allowed,
    back: &str,
) -> Result<Documents, ApiError> {
    let lang = visit.lang;
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
        .await?;
    let me = visit.user_id().unwrap_or_default().to_owned();
    let rows = found
        .documents
        .into_iter()
        .map(|d| {
            use parent_documents::DocumentScanStatus as S;
            let state = match d.scan_status {
                S::CLEAN => None,
                S::INFECTED => Some(lang.t("documents-infected")),
                _ => Some(lang.t("documents-scanning")),
            };
            DocumentRow {
                ready: state.is_none(),
                deletable: allowed.delete_own && d.uploaded_by.id == me,
                id: d.id,
                name: d.file_name,
                size: file_size(d.size),
                by: d.uploaded_by.name,
                at: kst(&d.uploaded_at),
                state,
            }
        })
        .collect();
    Ok(Documents {
        rows,
        upload: allowed.upload.then(|| UploadTarget {
            kind: kind.as_str(),
            id: id.to_owned(),
            pilot_id: pilot_id.unwrap_or_default().to_owned(),
        }),
        back: back.to_owned(),
        hint: lang.t_with(
            "documents-hint",
            &[(
                "limit",
                file_size(i64::try_from(console.max_upload_bytes).unwrap_or(i64::MAX)),
            )],
        ),
        accept: ACCEPT,
    })
}

/// A path of this site to go back to (never another site's address).
fn safe_back(back: &str) -> String {
    if back.starts_with('/') && !back.starts_with("//") && !back.contains('\\') {
        back.to_owned()
    } else {
        "/".to_owned()
    }
}

/// Why a file was refused, in the person's words, naming the file.
fn refusal_sentence(lang: Lang, file_name: &str, error: &ApiError) -> String {
    let key = match error.reason.as_deref() {
        Some("UNSUPPORTED_FILE_TYPE") => "documents-refused-type",
        Some("FILE_TOO_LARGE") => "documents-refused-size",
        Some("PARENT_FULL") => "documents-refused-full",
        Some("NOT_EDITABLE") => "documents-refused-closed",
        _ if error.is_about("file") => "documents-refused-name",
        _ => "documents-refused-other",
    };
    lang.t_with(key, &[("name", file_name.to_owned())])
}

/// `POST /files` (multipart: `csrf`, `kind`, `id`, `pilot_id`, `back`, then `file`, in the
/// form's order): the file goes on to the gateway as it arrives; the person comes back to the
/// page with what happened said at its top.
pub async fn upload(
    State(console): State<Console>,
    mut visit: Visit,
    mut form: Multipart,
) -> Response {
    let lang = visit.lang;
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
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
                let to = safe_back(&back);
                let sentence = if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    lang.t_with("documents-refused-size", &[("name", String::new())])
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
            Some("back") => back = safe_back(&small_text(part).await.unwrap_or_default()),
            Some("file") => {
                // A forged or stale form sends nothing on.
                if !visit.posted_by_session(&csrf) {
                    return visit
                        .redirect_with_notice(&console, "notice-stale-form", &back)
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
                    Err(error) if error.code == "NOT_FOUND" || error.code == "FORBIDDEN" => {
                        error_page(&console, &mut visit, &error).await
                    }
                    Err(error) if error.code == "UNAUTHENTICATED" => {
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
    let sentence = lang.t("documents-missing-file");
    visit.redirect_with_alert(&console, sentence, &back).await
}

/// `GET /files/<id>`: the document's bytes as the gateway serves them (an attachment, with its
/// type, `nosniff` and a CSP that allows nothing), under the person's session.
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
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_DISPOSITION,
        header::X_CONTENT_TYPE_OPTIONS,
        header::CONTENT_SECURITY_POLICY,
        header::CACHE_CONTROL,
    ] {
        if let Some(value) = headers.get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    // Whatever the gateway said, a file is never shown in the console's origin.
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response.into_response()
}

#[derive(serde::Deserialize, serde::Serialize)]
pub struct DeleteForm {
    csrf: String,
    #[serde(default)]
    back: String,
}

/// `POST /files/<id>/delete`: the uploader takes a file back.
pub async fn delete(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<DeleteForm>,
) -> Response {
    let back = safe_back(&form.back);
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    if !visit.posted_by_session(&form.csrf) {
        return visit
            .redirect_with_notice(&console, "notice-stale-form", &back)
            .await;
    }
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
        assert_eq!(safe_back("/companies/1"), "/companies/1");
        assert_eq!(safe_back("//evil.example/x"), "/");
        assert_eq!(safe_back("https://evil.example"), "/");
        assert_eq!(safe_back("/\\evil.example"), "/");
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
