//! E-mail through a real SMTP server (Python's aiosmtpd, which `.ci/run` installs): a
//! company's approval arrives once per member, as valid MIME with a Korean subject.

use std::{path::PathBuf, process::Stdio, time::Duration};

use axv_testkit::{Stack, TestDb};

use crate::{client, inbox_of};

/// The Python that has aiosmtpd: `AXV_TEST_SMTP_PYTHON`, or `python3`.
fn python() -> String {
    std::env::var("AXV_TEST_SMTP_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn has_aiosmtpd() -> bool {
    std::process::Command::new(python())
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn an_approval_arrives_once_by_smtp_in_korean() {
    if !has_aiosmtpd() {
        assert!(
            std::env::var("CI").is_err(),
            "CI installs aiosmtpd: AXV_TEST_SMTP_PYTHON must name a Python that has it"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // aiosmtpd's Mailbox handler keeps what it receives in a Maildir.
    let maildir: PathBuf = dir.path().join("received");
    let port = free_port();
    let _server = Killed(
        std::process::Command::new(python())
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .spawn()
            .unwrap(),
    );
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let db = TestDb::sqlite();
    let mut platform = axv_platform::testing::platform(db.config.clone());
    platform.mail.smtp_url = Some(axv_platform::config::Secret::new(format!(
        "smtp://127.0.0.1:{port}"
    )));
    platform.mail.public_url = Some("https://axv.gwangju.example".into());
    let h = Stack::start_on(db, platform, &["notify"]).await;
    let firm = h.firm(3).named("광주메일랩").approved().await;
    let mut client = client(&h).await;
    inbox_of(&mut client, &firm.token, 1).await;

    let delivered = |maildir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(maildir.join("new"))
            .map(|files| {
                files
                    .filter_map(Result::ok)
                    .filter_map(|f| std::fs::read_to_string(f.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    for _ in 0..100 {
        if !delivered(&maildir).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate the time to arrive, if one were coming.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // One message (no manager account exists to hear of the submission), parsed back as MIME.
    let messages = delivered(&maildir);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let received = &messages[0];
    assert!(
        received.contains("To: =?utf-8?") && received.contains("<firm3@test.kr>"),
        "{received}"
    );
    assert!(
        received.contains("Subject: [AX =?utf-8?b?"),
        "RFC 2047: {received}"
    );
    assert!(received.contains("multipart/alternative"), "{received}");
    // The body links to the console's public address.
    let decoded = python_decode(&maildir);
    assert!(
        decoded.contains("[AX 실증밸리] 기업 등록이 승인되었습니다: 광주메일랩"),
        "{decoded}"
    );
    assert!(
        decoded.contains(&format!(
            "https://axv.gwangju.example/companies/{}",
            firm.company_id
        )),
        "{decoded}"
    );
    h.stop().await;
}

/// The SMTP server, stopped when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Maildir's one message as Python's e-mail package reads it: its decoded subject and plain
/// text, so the test checks what a mail client shows, not the encoding.
fn python_decode(maildir: &std::path::Path) -> String {
    let script = r#"
import mailbox, sys
from email.header import decode_header, make_header
for message in mailbox.Maildir(sys.argv[1], create=False):
    print(str(make_header(decode_header(message["Subject"]))))
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            print(part.get_payload(decode=True).decode("utf-8"))
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script])
        .arg(maildir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
