//! What a 20 MB document costs the platform's memory: it is streamed through (spooled to a
//! temporary file by the gateway, passed on in pieces, written in parts), so the process's peak
//! resident memory grows by far less than the file. A process of its own: it reads the
//! process's memory, which other tests running beside it would disturb.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axv_auth::Role;
use axv_e2e::TestPlatform;
use futures::StreamExt as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;

const FILE_BYTES: usize = 20 * 1024 * 1024;

/// `VmRSS` or `VmHWM` (peak) of this process, in bytes.
fn memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field}"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kb * 1024
}

/// The file's bytes a piece at a time, never whole in this process either.
fn file_stream(
    path: std::path::PathBuf,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + Sync + 'static {
    futures::stream::unfold(None, move |file: Option<tokio::fs::File>| {
        let path = path.clone();
        async move {
            let mut file = match file {
                Some(file) => file,
                None => tokio::fs::File::open(&path).await.ok()?,
            };
            let mut piece = vec![0; 64 * 1024];
            match file.read(&mut piece).await {
                Ok(0) => None,
                Ok(n) => {
                    piece.truncate(n);
                    Some((Ok(bytes::Bytes::from(piece)), Some(file)))
                }
                Err(error) => Some((Err(error), None)),
            }
        }
    })
}

async fn round_trip(
    p: &TestPlatform,
    firm: &str,
    manager: &str,
    company: &str,
    path: &std::path::Path,
) -> String {
    const UPLOAD: &str = "mutation($id: ID!, $file: Upload!) { uploadDocument(parentKind: COMPANY, parentId: $id, file: $file) { id sha256 } }";
    let (status, answer) = p
        .upload_stream(
            Some(firm),
            UPLOAD,
            json!({ "id": company, "file": null }),
            "도면.pdf",
            file_stream(path.to_owned()),
        )
        .await;
    assert!(status.is_success(), "{answer}");
    let document = &answer["data"]["uploadDocument"];
    let mut download = p
        .http
        .get(format!(
            "{}/documents/{}",
            p.base_url(),
            document["id"].as_str().unwrap()
        ))
        .bearer_auth(manager)
        .send()
        .await
        .unwrap()
        .bytes_stream();
    let mut hasher = Sha256::new();
    while let Some(piece) = download.next().await {
        hasher.update(piece.unwrap());
    }
    let digest = hex::encode(hasher.finalize());
    assert_eq!(digest, document["sha256"].as_str().unwrap());
    digest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_document_streams_through_without_being_held() {
    let p = TestPlatform::start_embedded().await;
    let firm = p.sign_up("memory@firm.kr").await;
    let manager = p.token(Role::ProgramManager);
    let created = p
        .graphql(
            Some(&firm),
            axv_e2e::CREATE_COMPANY,
            json!({ "input": axv_e2e::company_input(&axv_e2e::business_number(81), "광주메모리") }),
        )
        .await;
    let company = created["data"]["createCompany"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drawing.pdf");
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend((0..FILE_BYTES).map(|i| (i * 7919 % 251) as u8));
    std::fs::write(&path, &bytes).unwrap();
    let expected = hex::encode(Sha256::digest(&bytes));
    drop(bytes);

    // A first round warms up what any upload allocates once (pools, buffers, connections).
    assert_eq!(
        round_trip(&p, &firm, &manager, &company, &path).await,
        expected
    );
    // From here the peak counts only the second round.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = memory("VmRSS");
    assert_eq!(
        round_trip(&p, &firm, &manager, &company, &path).await,
        expected
    );
    let peak = memory("VmHWM");
    let grew = peak.saturating_sub(before);
    println!(
        "20 MB up and down: peak resident memory grew by {:.1} MB (from {:.1} MB)",
        grew as f64 / 1e6,
        before as f64 / 1e6
    );
    assert!(
        grew < (FILE_BYTES / 2) as u64,
        "peak memory grew by {grew} bytes for a {FILE_BYTES}-byte file"
    );
    p.stop().await;
}
