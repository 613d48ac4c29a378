//! Files in and out: what goes in comes out byte for byte, checked against its digest, on both
//! backends with the local store, and through a real S3-compatible server in multipart parts.

use axv_testkit::{Stack, TestDb, on_both_backends, processes::S3Server};
use unicode_normalization::UnicodeNormalization as _;

use crate::{client, company_of, download, list, pb, pdf, pieces, sha256, upload};
use axv_testkit::authed;

on_both_backends!(a_file_comes_back_as_it_went_in => round_trip);

async fn round_trip(db: TestDb) {
    let h = Stack::start(db, &["documents"]).await;
    let firm = h.firm(1).draft().await;
    let mut client = client(&h).await;
    let bytes = pdf(700 * 1024);
    // macOS sends Hangul decomposed; the name comes back composed.
    let decomposed: String = "사업자등록증.pdf".nfd().collect();
    let document = upload(
        &mut client,
        &firm.token,
        company_of(&firm),
        &decomposed,
        &bytes,
    )
    .await
    .unwrap();
    assert_eq!(document.file_name, "사업자등록증.pdf");
    assert_eq!(document.content_type, "application/pdf");
    assert_eq!(document.size, bytes.len() as i64);
    assert_eq!(document.sha256, sha256(&bytes));
    assert_eq!(document.company_id, firm.company_id);
    assert_eq!(document.uploaded_by, firm.user_id);
    assert_eq!(document.uploader_role, "FIRM_MEMBER");
    assert_eq!(document.scan_status, pb::ScanStatus::Clean as i32);

    let (metadata, back) = download(&mut client, &firm.token, &document.id)
        .await
        .unwrap();
    assert_eq!(metadata, document);
    assert_eq!(sha256(&back), document.sha256);
    assert_eq!(back, bytes);

    // A programme manager reads it too, and lists it with the company.
    let manager = h.token(axv_auth::Role::ProgramManager);
    let (_, read) = download(&mut client, &manager, &document.id).await.unwrap();
    assert_eq!(read, bytes);
    let listed = list(&mut client, &manager, vec![company_of(&firm)])
        .await
        .unwrap();
    assert_eq!(listed, std::slice::from_ref(&document));
    let got = client
        .get_document(authed(
            pb::GetDocumentRequest {
                id: document.id.clone(),
            },
            &firm.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, document);
    h.stop().await;
}

/// 20 MB through a real S3-compatible server: streamed in 5 MB multipart parts, read back equal.
#[tokio::test]
async fn twenty_megabytes_through_s3() {
    let Some(s3) = S3Server::start().await else {
        return;
    };
    let db = TestDb::sqlite();
    let mut platform = axv_platform::testing::platform(db.config.clone());
    let (url, options) = s3.settings("documents");
    platform.documents.store_url = Some(url);
    platform.documents.store_options = options;
    let h = Stack::start_on(db, platform, &["documents"]).await;
    let firm = h.firm(2).draft().await;
    let mut client = client(&h).await;
    let bytes = pdf(20 * 1024 * 1024);
    let chunks = pieces(
        company_of(&firm),
        "실증계획서.pdf",
        &bytes,
        1024 * 1024,
        true,
    );
    let document = client
        .upload_document(authed(futures::stream::iter(chunks), &firm.token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(document.size, bytes.len() as i64);
    // The bytes are in the bucket, under the prefix.
    let service = h.service::<axv_documents::service::Documents>();
    let stored = service.storage().read_all(&document.id).await.unwrap();
    assert_eq!(sha256(&stored), document.sha256);
    let listing = reqwest::get(format!(
        "http://127.0.0.1:{}/{}?list-type=2&prefix=documents/",
        s3.port, s3.bucket
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(listing.contains(&document.id), "{listing}");
    // The bucket is listed for objects without a document: this one has its document.
    assert_eq!(
        service
            .remove_orphans(std::time::Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    assert!(service.storage().exists(&document.id).await.unwrap());
    let (_, back) = download(&mut client, &firm.token, &document.id)
        .await
        .unwrap();
    assert_eq!(back.len(), bytes.len());
    assert_eq!(sha256(&back), sha256(&bytes));
    h.stop().await;
}
