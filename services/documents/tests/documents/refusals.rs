//! Every refusal: who may not read or attach, what is not taken, and that nothing refused is
//! kept.

use axv_auth::Role;
use axv_platform::{ErrorCode, audit::Actor};
use axv_testkit::{Stack, TestDb, assert_refused, authed, on_both_backends};
use axv_vouchers::store::NewApplication;

use crate::{
    Client, client, company_of, download, list, office_file, parent, pb, pdf, pieces, reason,
    upload,
};

/// Whether the service's store holds any object (a refused upload must leave none).
async fn stored_objects(h: &Stack) -> usize {
    let dir = &h.platform.documents.dir;
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| {
                        let path = e.path();
                        if path.is_dir() { count(&path) } else { 1 }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    count(dir)
}

on_both_backends!(
    strangers_and_the_wrong_roles_are_refused => strangers,
    files_that_are_not_documents_are_refused => not_documents,
    documents_go_only_where_the_parent_takes_them => stages,
);

async fn strangers(db: TestDb) {
    let h = Stack::start(db, &["documents"]).await;
    let firm = h.firm(1).draft().await;
    let other = h.firm(2).draft().await;
    let mut client = client(&h).await;
    let document = upload(
        &mut client,
        &firm.token,
        company_of(&firm),
        "a.pdf",
        &pdf(2000),
    )
    .await
    .unwrap();

    // Anonymous callers and dashboards never see documents.
    let chunks = pieces(company_of(&firm), "a.pdf", &pdf(100), 64, true);
    assert_refused(
        client.upload_document(futures::stream::iter(chunks)).await,
        ErrorCode::Unauthenticated,
    );
    let dashboard = h.token(Role::Dashboard);
    assert_refused(
        download(&mut client, &dashboard, &document.id).await,
        ErrorCode::Forbidden,
    );
    assert_refused(
        list(&mut client, &dashboard, vec![company_of(&firm)]).await,
        ErrorCode::Forbidden,
    );
    // Operators do not attach documents.
    let operator = h.token(Role::Operator);
    assert_refused(
        upload(
            &mut client,
            &operator,
            company_of(&firm),
            "b.pdf",
            &pdf(100),
        )
        .await,
        ErrorCode::Forbidden,
    );

    // Another firm: the company and the document do not exist for it.
    assert_refused(
        upload(
            &mut client,
            &other.token,
            company_of(&firm),
            "b.pdf",
            &pdf(100),
        )
        .await,
        ErrorCode::NotFound,
    );
    let refused = assert_refused(
        download(&mut client, &other.token, &document.id).await,
        ErrorCode::NotFound,
    );
    assert_eq!(refused.message(), "document not found");
    assert!(
        list(&mut client, &other.token, vec![company_of(&firm)])
            .await
            .unwrap()
            .is_empty()
    );
    assert_refused(
        client
            .get_document(authed(
                pb::GetDocumentRequest {
                    id: document.id.clone(),
                },
                &other.token,
            ))
            .await,
        ErrorCode::NotFound,
    );
    // Made-up ids and parents are simply not found.
    assert_refused(
        download(&mut client, &firm.token, "not-an-id").await,
        ErrorCode::NotFound,
    );
    assert_refused(
        upload(
            &mut client,
            &firm.token,
            parent(pb::ParentKind::Company, &axv_platform::ids::new_id()),
            "a.pdf",
            &pdf(100),
        )
        .await,
        ErrorCode::NotFound,
    );
    assert_refused(
        upload(
            &mut client,
            &firm.token,
            parent(pb::ParentKind::Unspecified, &firm.company_id),
            "a.pdf",
            &pdf(100),
        )
        .await,
        ErrorCode::BadUserInput,
    );
    // Only the uploader deletes, and another firm cannot even find it.
    assert_refused(
        delete(&mut client, &other.token, &document.id).await,
        ErrorCode::NotFound,
    );
    let manager = h.token(Role::ProgramManager);
    assert_refused(
        delete(&mut client, &manager, &document.id).await,
        ErrorCode::Forbidden,
    );
    h.stop().await;
}

pub async fn delete(client: &mut Client, token: &str, id: &str) -> Result<(), tonic::Status> {
    client
        .delete_document(authed(pb::DeleteDocumentRequest { id: id.into() }, token))
        .await
        .map(|_| ())
}

async fn not_documents(db: TestDb) {
    let mut platform = axv_platform::testing::platform(db.config.clone());
    platform.documents.max_parent_bytes = 1024 * 1024;
    let h = Stack::start_on(db, platform, &["documents"]).await;
    let firm = h.firm(1).draft().await;
    let mut client = client(&h).await;
    let company = company_of(&firm);

    // A program renamed .pdf: refused by its bytes, with the reason the console explains.
    let mut program = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec();
    program.extend(vec![0u8; 300 * 1024]);
    let refused = assert_refused(
        upload(
            &mut client,
            &firm.token,
            company.clone(),
            "invoice.pdf",
            &program,
        )
        .await,
        ErrorCode::BadUserInput,
    );
    assert_eq!(reason(&refused), Some("UNSUPPORTED_FILE_TYPE"));
    assert!(
        refused.message().starts_with("the file is a program"),
        "{}",
        refused.message()
    );
    // Plain text that is not a CSV, and a GIF, are not taken either.
    for (name, bytes) in [
        ("notes.txt", b"hello".to_vec()),
        ("a.gif", b"GIF89a....".to_vec()),
    ] {
        let refused = assert_refused(
            upload(&mut client, &firm.token, company.clone(), name, &bytes).await,
            ErrorCode::BadUserInput,
        );
        assert_eq!(reason(&refused), Some("UNSUPPORTED_FILE_TYPE"), "{name}");
    }

    // 26 MB: over the 25 MB limit, refused as it passes the limit.
    let refused = assert_refused(
        upload(
            &mut client,
            &firm.token,
            company.clone(),
            "big.pdf",
            &pdf(26 * 1024 * 1024),
        )
        .await,
        ErrorCode::BadUserInput,
    );
    assert_eq!(reason(&refused), Some("FILE_TOO_LARGE"));
    assert!(refused.message().contains("25 MB"), "{}", refused.message());

    // A name that is a path.
    for name in ["../../etc/passwd.pdf", "..\\boot.pdf", "/tmp/a.pdf"] {
        let refused = assert_refused(
            upload(&mut client, &firm.token, company.clone(), name, &pdf(100)).await,
            ErrorCode::BadUserInput,
        );
        assert!(refused.message().contains("path"), "{}", refused.message());
    }

    // An upload cut off before its last piece stores nothing.
    let chunks = pieces(
        company.clone(),
        "cut.pdf",
        &pdf(600 * 1024),
        64 * 1024,
        false,
    );
    assert_refused(
        client
            .upload_document(authed(futures::stream::iter(chunks), &firm.token))
            .await,
        ErrorCode::BadUserInput,
    );

    assert!(
        list(&mut client, &firm.token, vec![company.clone()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        stored_objects(&h).await,
        0,
        "refused uploads leave no bytes behind"
    );

    // A name that does not end as its type gets the type's ending.
    let renamed = upload(
        &mut client,
        &firm.token,
        company.clone(),
        "update.bat",
        &pdf(100),
    )
    .await
    .unwrap();
    assert_eq!(renamed.file_name, "update.bat.pdf");
    crate::refusals::delete(&mut client, &firm.token, &renamed.id)
        .await
        .unwrap();

    // The company's documents together stay within their 1 MB.
    upload(
        &mut client,
        &firm.token,
        company.clone(),
        "one.pdf",
        &pdf(600 * 1024),
    )
    .await
    .unwrap();
    let refused = assert_refused(
        upload(
            &mut client,
            &firm.token,
            company.clone(),
            "two.pdf",
            &pdf(600 * 1024),
        )
        .await,
        ErrorCode::BadUserInput,
    );
    assert_eq!(reason(&refused), Some("PARENT_FULL"));
    assert_eq!(
        list(&mut client, &firm.token, vec![company])
            .await
            .unwrap()
            .len(),
        1
    );
    // The one kept and the renamed one deleted above, whose bytes wait out the retention period.
    assert_eq!(stored_objects(&h).await, 2);
    h.stop().await;
}

async fn stages(db: TestDb) {
    let h = Stack::start(db, &["documents"]).await;
    let submitted = h.firm(1).submitted().await;
    let approved = h.firm(2).approved().await;
    let manager = h.token(Role::ProgramManager);
    let mut client = client(&h).await;

    // Submitted: out of the firm's hands; the manager adds review documents.
    let refused = assert_refused(
        upload(
            &mut client,
            &submitted.token,
            company_of(&submitted),
            "a.pdf",
            &pdf(100),
        )
        .await,
        ErrorCode::FailedPrecondition,
    );
    assert_eq!(reason(&refused), Some("NOT_EDITABLE"));
    let review = upload(
        &mut client,
        &manager,
        company_of(&submitted),
        "검토의견.pdf",
        &pdf(100),
    )
    .await
    .unwrap();
    assert_eq!(review.uploader_role, "PROGRAM_MANAGER");
    // The firm reads the office's document on its own company.
    download(&mut client, &submitted.token, &review.id)
        .await
        .unwrap();
    // Approved: a record, closed to everyone.
    for token in [&approved.token, &manager] {
        let refused = assert_refused(
            upload(
                &mut client,
                token,
                company_of(&approved),
                "a.pdf",
                &pdf(100),
            )
            .await,
            ErrorCode::FailedPrecondition,
        );
        assert_eq!(reason(&refused), Some("NOT_EDITABLE"));
    }

    // A voucher application takes its plan until it is decided.
    let store = h.vouchers().store();
    let (_, program) = axv_testkit::vouchers::pool_and_program(store, 1000, 1000).await;
    let application = store
        .create_application(
            NewApplication {
                program_id: program,
                company_id: approved.company_id.clone(),
                requested_amount: 100,
                justification: "계획".into(),
                pilot_id: None,
            },
            &Actor::account(&approved.user_id, Role::FirmMember),
        )
        .await
        .unwrap();
    let plan = parent(pb::ParentKind::VoucherApplication, &application.id);
    let xlsx = office_file("xl/workbook.xml");
    let document = upload(
        &mut client,
        &approved.token,
        plan.clone(),
        "활용계획.xlsx",
        &xlsx,
    )
    .await
    .unwrap();
    assert_eq!(
        document.content_type,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_refused(
        upload(
            &mut client,
            &submitted.token,
            plan.clone(),
            "a.pdf",
            &pdf(100),
        )
        .await,
        ErrorCode::NotFound,
    );
    store
        .approve_application(
            &application.id,
            100,
            &Actor::account("manager", Role::ProgramManager),
            None,
            axv_platform::calendar::today_kst(),
        )
        .await
        .unwrap();
    let refused = assert_refused(
        upload(
            &mut client,
            &approved.token,
            plan.clone(),
            "b.pdf",
            &pdf(100),
        )
        .await,
        ErrorCode::FailedPrecondition,
    );
    assert_eq!(reason(&refused), Some("NOT_EDITABLE"));
    // Decided: the plan is part of the record and stays.
    let refused = assert_refused(
        crate::refusals::delete(&mut client, &approved.token, &document.id).await,
        ErrorCode::FailedPrecondition,
    );
    assert_eq!(reason(&refused), Some("NOT_EDITABLE"));
    assert_eq!(
        list(&mut client, &approved.token, vec![plan])
            .await
            .unwrap()
            .len(),
        1
    );
    h.stop().await;
}

/// One item holds at most 100 documents, however small; the 101st is refused before a byte of
/// it is read.
#[tokio::test]
async fn an_item_holds_at_most_a_hundred_documents() {
    let h = Stack::start(TestDb::sqlite(), &["documents"]).await;
    let firm = h.firm(1).draft().await;
    let mut client = client(&h).await;
    for n in 0..100 {
        upload(
            &mut client,
            &firm.token,
            company_of(&firm),
            &format!("{n}.csv"),
            b"a,b\n",
        )
        .await
        .unwrap();
    }
    let refused = assert_refused(
        upload(
            &mut client,
            &firm.token,
            company_of(&firm),
            "101.csv",
            b"a,b\n",
        )
        .await,
        ErrorCode::BadUserInput,
    );
    assert_eq!(reason(&refused), Some("TOO_MANY_DOCUMENTS"));
    assert!(refused.message().contains("100"), "{}", refused.message());
    h.stop().await;
}
