//! 사용량 업로드: the data center's operators send a Slurm `sacct --parsable2` file (plain or
//! gzip, tens of megabytes) and read what it charged per voucher and every line refused, then
//! the history of uploads. The file goes on to the gateway's `/usage/sacct` a piece at a time
//! as the browser sends it, never held whole here.

use askama::Template;
use axum::{
    extract::{Multipart, Path, Query, State, multipart::Field as Part},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;

use super::{
    error_page,
    form::Field,
    multipart::{relay, small_text},
    require_role,
    review::company_name,
};
use crate::{
    Console, Layout, Visit,
    api::{self, ApiError, usage_upload_detail, usage_uploads},
    format::{grouped, hours_precise, kst},
    i18n::Lang,
    render,
};

/// Who may upload usage and read the uploads: the data center's operators, and admins.
pub const METERING_ROLES: [&str; 2] = ["OPERATOR", "ADMIN"];

/// The most a posted upload may be: the gateway's own bound on a sacct file, which gzip only
/// makes smaller.
pub const MAX_UPLOAD_BYTES: usize = 512 * 1024 * 1024;

pub struct UploadRow {
    pub id: String,
    pub at: String,
    pub cluster: String,
    pub by: String,
    pub accepted: String,
    pub duplicates: String,
    pub skipped: String,
    pub rejected: String,
    pub hours: String,
}

#[derive(Template)]
#[template(path = "usage.html")]
struct UsagePage {
    layout: Layout,
    fields: Vec<Field>,
    error: Option<String>,
    uploads: Vec<UploadRow>,
    history_count: String,
    next: Option<String>,
}

pub struct ChargeRow {
    pub voucher_id: String,
    pub code: String,
    pub company: String,
    pub jobs: String,
    pub hours: String,
    pub overage: String,
}

pub struct RefusedLine {
    pub line: String,
    /// Why, in the person's language.
    pub why: String,
    /// The service's own words, naming the field, voucher or date.
    pub detail: String,
}

#[derive(Template)]
#[template(path = "usage_upload.html")]
struct UploadPage {
    layout: Layout,
    heading: String,
    figures: Vec<(String, String)>,
    details: Vec<(String, String)>,
    charges: Vec<ChargeRow>,
    refused: Vec<RefusedLine>,
    /// How many lines were refused for each reason, the most first.
    refused_by_kind: Vec<String>,
    /// When only the first refused lines are shown: how many of how many.
    refused_note: Option<String>,
}

/// The Fluent key of the sentence for a refused line's kind.
fn refusal_key(kind: &usage_upload_detail::LineRefusal) -> &'static str {
    use usage_upload_detail::LineRefusal as Kind;
    match kind {
        Kind::MALFORMED => "usage-line-malformed",
        Kind::UNKNOWN_VOUCHER => "usage-line-unknown-voucher",
        Kind::NOT_GPU_VOUCHER => "usage-line-not-gpu",
        Kind::VOUCHER_NOT_SPENDABLE => "usage-line-not-spendable",
        Kind::COMPANY_NOT_IN_GOOD_STANDING => "usage-line-company-suspended",
        Kind::Other(_) => "usage-line-other",
    }
}

/// Who sent an upload, for people: the person's name, or "an API client".
fn sender(lang: Lang, name: Option<&str>) -> String {
    name.map_or_else(|| lang.t("usage-by-client"), str::to_owned)
}

fn upload_fields(lang: Lang, cluster: &str) -> Vec<Field> {
    vec![
        Field::new(lang, "cluster", "usage-cluster", "text", "off")
            .hint(lang.t("usage-cluster-hint"))
            .value(cluster),
        Field::new(lang, "file", "usage-file", "file", "off").hint(lang.t("usage-file-hint")),
    ]
}

#[derive(Deserialize, Default)]
pub struct Paging {
    #[serde(default)]
    after: Option<String>,
}

/// The upload form (with what was typed and why it was refused, if it was) and the history.
async fn show(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    after: Option<String>,
    fields: Vec<Field>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let data = match console
        .api
        .run::<api::UsageUploads>(
            Some(token),
            &visit.client_address,
            usage_uploads::Variables { after },
        )
        .await
    {
        Ok(data) => data,
        Err(error) => return error_page(console, visit, &error).await,
    };
    let lang = visit.lang;
    let history = data.usage_uploads;
    let uploads = history
        .edges
        .iter()
        .map(|edge| {
            let u = &edge.node;
            UploadRow {
                id: u.id.clone(),
                at: kst(&u.uploaded_at),
                cluster: u.cluster.clone(),
                by: sender(lang, u.uploaded_by_name.as_deref()),
                accepted: grouped(u.accepted),
                duplicates: grouped(u.duplicates),
                skipped: grouped(u.skipped),
                rejected: grouped(u.rejected_count),
                hours: hours_precise(u.amount),
            }
        })
        .collect();
    let page = UsagePage {
        layout: visit.layout(console, lang.t("usage-title"), "usage"),
        fields,
        error,
        uploads,
        history_count: lang.t_with(
            "usage-history-count",
            &[("count", grouped(history.total_count))],
        ),
        next: history
            .page_info
            .has_next_page
            .then_some(history.page_info.end_cursor)
            .flatten(),
    };
    visit.respond(console, status, render(&page)).await
}

pub async fn list(
    State(console): State<Console>,
    mut visit: Visit,
    Query(paging): Query<Paging>,
) -> Response {
    let token = match require_role(&console, &mut visit, &METERING_ROLES).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let fields = upload_fields(visit.lang, "");
    show(
        &console,
        &mut visit,
        &token,
        paging.after,
        fields,
        None,
        StatusCode::OK,
    )
    .await
}

/// Sends the file part on to the gateway as it arrives: the gateway's answer, once the whole
/// file went through (or the refusal, as soon as it comes).
async fn forward(
    console: &Console,
    visit: &Visit,
    token: &str,
    cluster: &str,
    file: Part<'_>,
) -> Result<String, ApiError> {
    relay(file, |bytes| {
        console.api.upload_sacct(
            token,
            &visit.client_address,
            cluster,
            reqwest::Body::wrap_stream(bytes),
        )
    })
    .await
}

/// The upload form posted (multipart: `csrf`, `cluster`, then `file`, in the page's order).
pub async fn upload(
    State(console): State<Console>,
    mut visit: Visit,
    mut form: Multipart,
) -> Response {
    let lang = visit.lang;
    let token = match require_role(&console, &mut visit, &METERING_ROLES).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let mut csrf = String::new();
    let mut cluster = String::new();
    let refuse = |cluster: &str, field: &str, key: &str| {
        let mut fields = upload_fields(lang, cluster);
        if let Some(f) = fields.iter_mut().find(|f| f.name == field) {
            f.error = Some(lang.t(key));
        }
        fields
    };
    loop {
        let part = match form.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => break,
            // Cut off, malformed, or over the size limit (413).
            Err(error) => {
                let fields = refuse(&cluster, "file", "usage-file-unreadable");
                let status = error.status();
                return show(&console, &mut visit, &token, None, fields, None, status).await;
            }
        };
        match part.name() {
            Some("csrf") => csrf = small_text(part).await.unwrap_or_default(),
            Some("cluster") => cluster = small_text(part).await.unwrap_or_default(),
            Some("file") => {
                // A forged or stale form sends nothing on.
                if !visit.posted_by_session(&csrf) {
                    return visit
                        .redirect_with_notice(&console, "notice-stale-form", "/usage")
                        .await;
                }
                let cluster = cluster.trim().to_owned();
                if cluster.is_empty() {
                    let fields = refuse(&cluster, "cluster", "usage-cluster-missing");
                    let status = StatusCode::UNPROCESSABLE_ENTITY;
                    return show(&console, &mut visit, &token, None, fields, None, status).await;
                }
                if part.file_name().is_none_or(str::is_empty) {
                    let fields = refuse(&cluster, "file", "usage-file-missing");
                    let status = StatusCode::UNPROCESSABLE_ENTITY;
                    return show(&console, &mut visit, &token, None, fields, None, status).await;
                }
                return match forward(&console, &visit, &token, &cluster, part).await {
                    Ok(id) => {
                        visit
                            .redirect_with_notice(
                                &console,
                                "notice-usage-uploaded",
                                &format!("/usage/{id}"),
                            )
                            .await
                    }
                    // A file the gateway could not read is said above the form; a refusal of who
                    // is asking is the error page.
                    Err(error)
                        if matches!(error.code.as_str(), "BAD_USER_INPUT" | "UNAVAILABLE") =>
                    {
                        let status = if error.code == "UNAVAILABLE" {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            StatusCode::UNPROCESSABLE_ENTITY
                        };
                        let fields = upload_fields(lang, &cluster);
                        let error = refusal_sentence(lang, &error);
                        show(
                            &console,
                            &mut visit,
                            &token,
                            None,
                            fields,
                            Some(error),
                            status,
                        )
                        .await
                    }
                    Err(error) => error_page(&console, &mut visit, &error).await,
                };
            }
            _ => {}
        }
    }
    let fields = refuse(&cluster, "file", "usage-file-missing");
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    show(&console, &mut visit, &token, None, fields, None, status).await
}

/// Why the gateway refused a file, for the operator: the sentence for its code, and the
/// service's own words (which name the missing column or the broken line).
fn refusal_sentence(lang: Lang, error: &ApiError) -> String {
    if error.code == "BAD_USER_INPUT" {
        lang.t_with("usage-refused-file", &[("detail", error.message.clone())])
    } else {
        lang.t("usage-refused-unavailable")
    }
}

/// One upload: its totals, what it charged per voucher and every line refused.
pub async fn detail(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let token = match require_role(&console, &mut visit, &METERING_ROLES).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let found = console
        .api
        .run::<api::UsageUploadDetail>(
            Some(&token),
            &visit.client_address,
            usage_upload_detail::Variables { id },
        )
        .await
        .and_then(|data| data.usage_upload.ok_or_else(ApiError::not_found));
    let upload = match found {
        Ok(upload) => upload,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let lang = visit.lang;
    let count = |n: i64| lang.t_with("usage-count-lines", &[("count", grouped(n))]);
    let jobs = |n: i64| lang.t_with("usage-count-jobs", &[("count", grouped(n))]);
    let figures = vec![
        (lang.t("usage-accepted"), jobs(upload.accepted)),
        (
            lang.t("usage-charged"),
            lang.t_with(
                "usage-gpu-hours",
                &[("hours", hours_precise(upload.amount))],
            ),
        ),
        (lang.t("usage-rejected"), count(upload.rejected_count)),
    ];
    let mut details = vec![
        (lang.t("usage-at"), kst(&upload.uploaded_at)),
        (lang.t("usage-cluster"), upload.cluster.clone()),
        (
            lang.t("usage-by"),
            sender(lang, upload.uploaded_by_name.as_deref()),
        ),
        (lang.t("usage-duplicates"), jobs(upload.duplicates)),
        (lang.t("usage-skipped"), count(upload.skipped)),
    ];
    if upload.overage_jobs > 0 {
        details.push((
            lang.t("usage-overage"),
            lang.t_with(
                "usage-overage-value",
                &[
                    ("hours", hours_precise(upload.overage)),
                    ("jobs", grouped(upload.overage_jobs)),
                ],
            ),
        ));
    }
    let charges = upload
        .charges
        .iter()
        .map(|c| ChargeRow {
            voucher_id: c.voucher.id.clone(),
            code: c.voucher.code.clone(),
            company: company_name(
                lang,
                &c.voucher.company.name_ko,
                c.voucher.company.name_en.as_deref(),
            ),
            jobs: grouped(c.jobs),
            hours: hours_precise(c.amount),
            overage: hours_precise(c.overage),
        })
        .collect();
    let refused: Vec<RefusedLine> = upload
        .rejected
        .iter()
        .map(|r| RefusedLine {
            line: grouped(r.line),
            why: lang.t(refusal_key(&r.kind)),
            detail: r.reason.clone(),
        })
        .collect();
    // Only the first lines come with the upload; the count covers them all.
    let shown = i64::try_from(upload.rejected.len()).unwrap_or(i64::MAX);
    let refused_note = (upload.rejected_count > shown).then(|| {
        lang.t_with(
            "usage-refused-first",
            &[
                ("shown", grouped(shown)),
                ("total", grouped(upload.rejected_count)),
            ],
        )
    });
    let mut kinds: Vec<(&'static str, i64)> = Vec::new();
    for r in &upload.rejected {
        let key = refusal_key(&r.kind);
        match kinds.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => kinds.push((key, 1)),
        }
    }
    kinds.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let refused_by_kind = kinds
        .into_iter()
        .map(|(key, n)| format!("{}: {}", lang.t(key), count(n)))
        .collect();
    let heading = lang.t_with("usage-upload-title", &[("at", kst(&upload.uploaded_at))]);
    let page = UploadPage {
        layout: visit.layout(&console, heading.clone(), "usage"),
        heading,
        figures,
        details,
        charges,
        refused,
        refused_by_kind,
        refused_note,
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}
