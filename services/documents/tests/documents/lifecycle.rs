//! A document's life after upload: deleted by its uploader while the parent is still being
//! prepared, its bytes removed after the retention period; the malware scanner's verdicts;
//! bytes changed in storage never handed out.

use std::time::Duration;

use axv_platform::ErrorCode;
use axv_testkit::{Stack, TestDb, assert_refused, authed, on_both_backends};

use crate::{client, company_of, download, list, pb, pdf, reason, refusals::delete, upload};

on_both_backends!(
    the_uploader_takes_a_file_back_until_it_is_submitted => deletion,
);

async fn deletion(db: TestDb) {
    let mut platform = axv_platform::testing::platform(db.config.clone());
    platform.documents.retention = Duration::ZERO;
    platform.documents.max_parent_bytes = 1024 * 1024;
    let h = Stack::start_on(db, platform, &["documents"]).await;
    let firm = h.firm(1).draft().await;
    let mut client = client(&h).await;
    let company = company_of(&firm);
    let wrong = upload(
        &mut client,
        &firm.token,
        company.clone(),
        "잘못.pdf",
        &pdf(900 * 1024),
    )
    .await
    .unwrap();
    delete(&mut client, &firm.token, &wrong.id).await.unwrap();
    assert!(
        list(&mut client, &firm.token, vec![company.clone()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_refused(
        download(&mut client, &firm.token, &wrong.id).await,
        ErrorCode::NotFound,
    );
    assert_refused(
        delete(&mut client, &firm.token, &wrong.id).await,
        ErrorCode::NotFound,
    );
    // Its bytes no longer count against the company's total.
    let right = upload(
        &mut client,
        &firm.token,
        company.clone(),
        "최종.pdf",
        &pdf(900 * 1024),
    )
    .await
    .unwrap();

    // The record stays; the bytes go once the retention period (zero here) has passed.
    let service = h.service::<axv_documents::service::Documents>();
    let key = wrong.id.clone();
    assert!(service.storage().exists(&key).await.unwrap());
    assert_eq!(service.purge_deleted().await.unwrap(), 1);
    assert!(!service.storage().exists(&key).await.unwrap());
    assert!(
        service
            .store()
            .purged_at(&wrong.id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(service.purge_deleted().await.unwrap(), 0);

    // Submitted: part of the application now.
    h.onboarding()
        .transition(
            Some(&axv_testkit::caller(
                &firm.user_id,
                axv_auth::Role::FirmMember,
            )),
            &firm.company_id,
            axv_onboarding::domain::CompanyAction::Submit,
            None,
        )
        .await
        .unwrap();
    let refused = assert_refused(
        delete(&mut client, &firm.token, &right.id).await,
        ErrorCode::FailedPrecondition,
    );
    assert_eq!(reason(&refused), Some("NOT_EDITABLE"));
    h.stop().await;
}

/// A scanner as ClamAV's tools answer: 1 for a file holding the EICAR test string, 0 otherwise;
/// `broken` exits 2 (an error) whatever it reads.
fn scanner(dir: &std::path::Path, broken: bool) -> String {
    let script = dir.join("scan.sh");
    let body = if broken {
        "cat >/dev/null; exit 2\n"
    } else {
        "if grep -q EICAR-STANDARD-ANTIVIRUS-TEST-FILE; then exit 1; fi\nexit 0\n"
    };
    std::fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
    format!("sh {}", script.display())
}

async fn status_of(client: &mut crate::Client, token: &str, id: &str) -> i32 {
    client
        .get_document(authed(pb::GetDocumentRequest { id: id.into() }, token))
        .await
        .unwrap()
        .into_inner()
        .scan_status
}

async fn settled(client: &mut crate::Client, token: &str, id: &str) -> i32 {
    for _ in 0..100 {
        let status = status_of(client, token, id).await;
        if status != pb::ScanStatus::Pending as i32 {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pb::ScanStatus::Pending as i32
}

#[tokio::test]
async fn the_scanner_passes_or_stops_each_document() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let mut platform = axv_platform::testing::platform(db.config.clone());
    platform.documents.scanner = Some(scanner(dir.path(), false));
    let h = Stack::start_on(db, platform, &["documents"]).await;
    let firm = h.firm(1).draft().await;
    let mut client = client(&h).await;

    let clean = upload(
        &mut client,
        &firm.token,
        company_of(&firm),
        "a.pdf",
        &pdf(5000),
    )
    .await
    .unwrap();
    assert_eq!(clean.scan_status, pb::ScanStatus::Pending as i32);
    assert_eq!(
        settled(&mut client, &firm.token, &clean.id).await,
        pb::ScanStatus::Clean as i32
    );
    download(&mut client, &firm.token, &clean.id).await.unwrap();

    let mut infected = pdf(5000);
    infected.extend_from_slice(
        br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
    );
    let infected = upload(
        &mut client,
        &firm.token,
        company_of(&firm),
        "b.pdf",
        &infected,
    )
    .await
    .unwrap();
    assert_eq!(
        settled(&mut client, &firm.token, &infected.id).await,
        pb::ScanStatus::Infected as i32
    );
    let refused = assert_refused(
        download(&mut client, &firm.token, &infected.id).await,
        ErrorCode::FailedPrecondition,
    );
    assert_eq!(reason(&refused), Some("INFECTED"));
    h.stop().await;
}

/// A scanner that fails leaves the document pending (not downloadable), to be tried again.
#[tokio::test]
async fn a_failing_scanner_keeps_documents_pending() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let mut platform = axv_platform::testing::platform(db.config.clone());
    platform.documents.scanner = Some(scanner(dir.path(), true));
    let h = Stack::start_on(db, platform, &["documents"]).await;
    let firm = h.firm(1).draft().await;
    let mut client = client(&h).await;
    let document = upload(
        &mut client,
        &firm.token,
        company_of(&firm),
        "a.pdf",
        &pdf(5000),
    )
    .await
    .unwrap();
    let service = h.service::<axv_documents::service::Documents>();
    service.retry_scans().await.unwrap();
    assert_eq!(
        status_of(&mut client, &firm.token, &document.id).await,
        pb::ScanStatus::Pending as i32
    );
    let refused = assert_refused(
        download(&mut client, &firm.token, &document.id).await,
        ErrorCode::FailedPrecondition,
    );
    assert_eq!(reason(&refused), Some("SCAN_PENDING"));
    h.stop().await;
}

/// Bytes changed in storage after upload are not handed out as the document: the download
/// breaks off with an error instead.
#[tokio::test]
async fn altered_bytes_break_the_download() {
    let db = TestDb::sqlite();
    let h = Stack::start(db, &["documents"]).await;
    let firm = h.firm(1).draft().await;
    let mut client = client(&h).await;
    let document = upload(
        &mut client,
        &firm.token,
        company_of(&firm),
        "a.pdf",
        &pdf(300 * 1024),
    )
    .await
    .unwrap();
    let path = h.platform.documents.dir.join(&document.id);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let refused = assert_refused(
        download(&mut client, &firm.token, &document.id).await,
        ErrorCode::Internal,
    );
    assert!(
        refused.message().contains("internal"),
        "{}",
        refused.message()
    );
    h.stop().await;
}

/// Bytes a crash left without a document (written, never recorded) are removed once old
/// enough; every document's bytes, deleted ones' included, stay.
#[tokio::test]
async fn objects_without_a_document_are_removed() {
    let h = Stack::start(TestDb::sqlite(), &["documents"]).await;
    let firm = h.firm(1).draft().await;
    let mut client = client(&h).await;
    let kept = upload(
        &mut client,
        &firm.token,
        company_of(&firm),
        "a.pdf",
        &pdf(2000),
    )
    .await
    .unwrap();
    let deleted = upload(
        &mut client,
        &firm.token,
        company_of(&firm),
        "b.pdf",
        &pdf(2000),
    )
    .await
    .unwrap();
    delete(&mut client, &firm.token, &deleted.id).await.unwrap();
    let service = h.service::<axv_documents::service::Documents>();
    let mut orphan = service.storage().writer("left-by-a-crash").await.unwrap();
    orphan.write(b"%PDF-1.7 never recorded").await.unwrap();
    orphan.finish().await.unwrap();
    // Not yet a day old: kept, it may be an upload on its way to its record.
    assert_eq!(
        service
            .remove_orphans(Duration::from_secs(86_400))
            .await
            .unwrap(),
        0
    );
    assert!(service.storage().exists("left-by-a-crash").await.unwrap());
    assert_eq!(service.remove_orphans(Duration::ZERO).await.unwrap(), 1);
    assert!(!service.storage().exists("left-by-a-crash").await.unwrap());
    for id in [&kept.id, &deleted.id] {
        assert!(service.storage().exists(id).await.unwrap(), "{id}");
    }
    h.stop().await;
}
