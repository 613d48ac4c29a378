//! Documents end to end: a firm attaches its business registration certificate to its company
//! application with a GraphQL multipart request, as `curl -F` sends one, and a manager
//! downloads it from `/documents/<id>`; every refusal a client meets; an amended report keeps
//! its earlier version's evidence.

use axv_auth::Role;
use axv_e2e::TestPlatform;
use axv_platform::calendar::today_kst;
use axv_testkit::files::{office_file, pdf};
use chrono::Duration;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{
    act, create_company, data,
    outcomes::{active_pilot, file_report, quarter_of},
};

const UPLOAD: &str = "mutation($kind: DocumentParentKind!, $id: ID!, $file: Upload!) { \
    uploadDocument(parentKind: $kind, parentId: $id, file: $file) { \
    id fileName contentType size sha256 parentKind parentId parentVersion scanStatus downloadPath \
    uploadedBy { id name role email } } }";

const COMPANY_DOCUMENTS: &str = "query($id: ID!) { company(id: $id) { id documents { id fileName size uploadedBy { name role } } } }";

async fn upload(
    p: &TestPlatform,
    token: Option<&str>,
    kind: &str,
    id: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    p.upload(
        token,
        UPLOAD,
        json!({ "kind": kind, "id": id, "file": null }),
        name,
        bytes,
    )
    .await
}

async fn get(p: &TestPlatform, token: Option<&str>, path: &str) -> reqwest::Response {
    let mut request = p.http.get(format!("{}{path}", p.base_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn refusal(answer: &Value) -> (&str, &str) {
    let extensions = &answer["errors"][0]["extensions"];
    (
        extensions["code"].as_str().unwrap_or_default(),
        extensions["reason"].as_str().unwrap_or_default(),
    )
}

async fn documents_journey(p: &TestPlatform) {
    let firm = p.sign_up("docs@firm.kr").await;
    let other = p.sign_up("other@firm.kr").await;
    let manager = p.token(Role::ProgramManager);
    let company = create_company(p, &firm, &axv_e2e::business_number(71), "광주문서").await;

    // The certificate, with a Korean name as a browser or curl sends it.
    let certificate = pdf(300 * 1024);
    let (status, answer) = upload(
        p,
        Some(&firm),
        "COMPANY",
        &company,
        "사업자등록증.pdf",
        certificate.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let document = data(&answer, "uploadDocument").clone();
    assert_eq!(document["fileName"], "사업자등록증.pdf");
    assert_eq!(document["contentType"], "application/pdf");
    assert_eq!(document["size"], certificate.len());
    assert_eq!(
        document["sha256"],
        hex::encode(Sha256::digest(&certificate))
    );
    assert_eq!(document["parentKind"], "COMPANY");
    assert_eq!(document["parentVersion"], Value::Null);
    assert_eq!(document["scanStatus"], "CLEAN");
    assert_eq!(document["uploadedBy"]["name"], "홍길동");
    assert_eq!(document["uploadedBy"]["role"], "FIRM_MEMBER");
    assert_eq!(document["uploadedBy"]["email"], "docs@firm.kr");
    let id = document["id"].as_str().unwrap().to_owned();
    let path = document["downloadPath"].as_str().unwrap().to_owned();
    assert_eq!(path, format!("/documents/{id}"));

    let listed = p
        .graphql(Some(&firm), COMPANY_DOCUMENTS, json!({ "id": company }))
        .await;
    assert_eq!(data(&listed, "company")["documents"][0]["id"], id.as_str());

    // Submitted; the manager downloads it, served as an attachment that cannot act on the site.
    act(p, &firm, "submitCompany", &company, None).await;
    let download = get(p, Some(&manager), &path).await;
    assert_eq!(download.status(), StatusCode::OK);
    let headers = download.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(
        headers[header::CONTENT_SECURITY_POLICY],
        "default-src 'none'; sandbox; frame-ancestors 'none'"
    );
    assert_eq!(headers[header::CACHE_CONTROL], "private, no-store");
    let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(disposition.starts_with("attachment; "), "{disposition}");
    assert!(
        disposition.contains(
            "filename*=UTF-8''%EC%82%AC%EC%97%85%EC%9E%90%EB%93%B1%EB%A1%9D%EC%A6%9D.pdf"
        ),
        "{disposition}"
    );
    assert_eq!(
        download.bytes().await.unwrap().as_ref(),
        certificate.as_slice()
    );
    // The firm no longer adds to what it submitted; the manager adds a review document, and
    // the firm sees the office's name on it.
    let (_, refused) = upload(p, Some(&firm), "COMPANY", &company, "b.pdf", pdf(100)).await;
    assert_eq!(
        refusal(&refused),
        ("FAILED_PRECONDITION", "NOT_EDITABLE"),
        "{refused}"
    );
    let (_, review) = upload(p, Some(&manager), "COMPANY", &company, "검토.pdf", pdf(100)).await;
    assert_eq!(
        data(&review, "uploadDocument")["uploadedBy"]["role"],
        "PROGRAM_MANAGER"
    );
    let listed = p
        .graphql(Some(&firm), COMPANY_DOCUMENTS, json!({ "id": company }))
        .await;
    assert_eq!(
        data(&listed, "company")["documents"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // One document by its id, for its readers only.
    const ONE: &str = "query($id: ID!) { document(id: $id) { fileName size } }";
    let one = p.graphql(Some(&manager), ONE, json!({ "id": id })).await;
    assert_eq!(data(&one, "document")["fileName"], "사업자등록증.pdf");
    let hidden = p.graphql(Some(&other), ONE, json!({ "id": id })).await;
    assert_eq!(
        hidden["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{hidden}"
    );

    // Another firm, a dashboard, nobody: not theirs to read.
    assert_eq!(
        get(p, Some(&other), &path).await.status(),
        StatusCode::NOT_FOUND
    );
    let dashboard = p.token(Role::Dashboard);
    assert_eq!(
        get(p, Some(&dashboard), &path).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(get(p, None, &path).await.status(), StatusCode::UNAUTHORIZED);
    let (status, anonymous) = upload(p, None, "COMPANY", &company, "a.pdf", pdf(100)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{anonymous}");
    let (_, stranger) = upload(p, Some(&other), "COMPANY", &company, "a.pdf", pdf(100)).await;
    assert_eq!(refusal(&stranger).0, "NOT_FOUND", "{stranger}");

    // What is not a document, is too large, or is named as a path.
    let draft = create_company(p, &firm, &axv_e2e::business_number(72), "광주문서둘").await;
    let mut program = b"MZ\x90\x00\x03\x00".to_vec();
    program.resize(4096, 0);
    let (_, refused) = upload(p, Some(&firm), "COMPANY", &draft, "invoice.pdf", program).await;
    assert_eq!(
        refusal(&refused),
        ("BAD_USER_INPUT", "UNSUPPORTED_FILE_TYPE"),
        "{refused}"
    );
    let (status, refused) = upload(
        p,
        Some(&firm),
        "COMPANY",
        &draft,
        "big.pdf",
        pdf(26 * 1024 * 1024),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    assert_eq!(
        refusal(&refused),
        ("BAD_USER_INPUT", "FILE_TOO_LARGE"),
        "{refused}"
    );
    let (_, refused) = upload(p, Some(&firm), "COMPANY", &draft, "../../a.pdf", pdf(100)).await;
    assert_eq!(refusal(&refused).0, "BAD_USER_INPUT", "{refused}");
    let empty = p
        .graphql(Some(&firm), COMPANY_DOCUMENTS, json!({ "id": draft }))
        .await;
    assert_eq!(data(&empty, "company")["documents"], json!([]));

    // Taken back while still a draft.
    let (_, mistake) = upload(p, Some(&firm), "COMPANY", &draft, "틀림.pdf", pdf(100)).await;
    let mistake = data(&mistake, "uploadDocument")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    const DELETE: &str = "mutation($id: ID!) { deleteDocument(id: $id) }";
    let deleted = p
        .graphql(Some(&firm), DELETE, json!({ "id": mistake }))
        .await;
    assert_eq!(data(&deleted, "deleteDocument"), mistake.as_str());
    let gone = get(p, Some(&firm), &format!("/documents/{mistake}")).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let answer: Value = gone.json().await.unwrap();
    assert_eq!(answer["errors"][0]["extensions"]["code"], "NOT_FOUND");
}

/// An outcome report's evidence: attached while the firm prepares it, refused once verified,
/// and still readable in its version after the report is amended.
async fn report_evidence(p: &TestPlatform) {
    let manager = p.token(Role::ProgramManager);
    let today = today_kst();
    let (firm, _, pilot) = active_pilot(p, &manager, "evidence@firm.kr", 73, today).await;
    let last_quarter = quarter_of(quarter_of(today).0 - Duration::days(1));
    let report = file_report(p, &firm, &pilot, last_quarter, 1_000_000).await;
    let xlsx = office_file("xl/workbook.xml");
    let (_, answer) = upload(
        p,
        Some(&firm),
        "OUTCOME_REPORT",
        &report,
        "매출증빙.xlsx",
        xlsx,
    )
    .await;
    let evidence = data(&answer, "uploadDocument").clone();
    assert_eq!(evidence["parentVersion"], 1);
    act(p, &firm, "submitOutcomeReport", &report, None).await;
    let verified = act(p, &manager, "verifyOutcomeReport", &report, None).await;
    assert_eq!(data(&verified, "verifyOutcomeReport")["status"], "VERIFIED");
    for token in [&firm, &manager] {
        let (_, refused) = upload(
            p,
            Some(token),
            "OUTCOME_REPORT",
            &report,
            "늦은.pdf",
            pdf(100),
        )
        .await;
        assert_eq!(
            refusal(&refused),
            ("FAILED_PRECONDITION", "NOT_EDITABLE"),
            "{refused}"
        );
    }
    let amended = p
        .graphql(
            Some(&firm),
            "mutation($id: ID!) { amendOutcomeReport(id: $id) { id version documents { id } } }",
            json!({ "id": report }),
        )
        .await;
    let amended = data(&amended, "amendOutcomeReport");
    assert_eq!(amended["version"], 2);
    assert_eq!(amended["documents"], json!([]));
    let old = p
        .graphql(
            Some(&firm),
            "query($id: ID!) { outcomeReport(id: $id) { version documents { id parentVersion } } }",
            json!({ "id": report }),
        )
        .await;
    let old = data(&old, "outcomeReport");
    assert_eq!(old["documents"][0]["id"], evidence["id"]);
    let path = evidence["downloadPath"].as_str().unwrap();
    assert_eq!(get(p, Some(&manager), path).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_firm_attaches_and_a_manager_downloads() {
    let p = TestPlatform::start().await;
    documents_journey(&p).await;
    report_evidence(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn documents_on_the_embedded_default() {
    let p = TestPlatform::start_embedded().await;
    documents_journey(&p).await;
    altered_bytes_never_arrive_whole(&p).await;
    p.stop().await;
}

/// Bytes changed in storage after upload: the download breaks off before its last piece, so a
/// client that trusts Content-Length never takes the altered file as the document.
async fn altered_bytes_never_arrive_whole(p: &TestPlatform) {
    let firm = p.sign_up("altered@firm.kr").await;
    let company = create_company(p, &firm, &axv_e2e::business_number(74), "광주변조").await;
    let bytes = pdf(600 * 1024);
    let (_, answer) = upload(
        p,
        Some(&firm),
        "COMPANY",
        &company,
        "원본.pdf",
        bytes.clone(),
    )
    .await;
    let id = data(&answer, "uploadDocument")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = p.platform.documents.dir.join(&id);
    let mut altered = std::fs::read(&stored).unwrap();
    altered[1000] ^= 1;
    std::fs::write(&stored, &altered).unwrap();
    let response = get(p, Some(&firm), &format!("/documents/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    match response.bytes().await {
        Err(_) => {}
        Ok(received) => assert!(
            received.len() < bytes.len(),
            "the altered file arrived whole"
        ),
    }
}
