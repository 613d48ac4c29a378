//! E-mail through a real SMTP server (Python's aiosmtpd, which `.ci/run` installs): a
//! company's approval arrives once per member, as valid MIME with a Korean subject and a
//! one-click unsubscribe; a daily digest arrives once.

use std::{path::PathBuf, time::Duration};

use axv_testkit::{
    Stack, TestDb,
    processes::{Killed, free_port, python_having, wait_until_listening},
};

use axv_platform::events::Event;

use crate::{
    client, inbox_of,
    preferences::{choice, set},
};

/// A real SMTP server on loopback, keeping what it receives in a Maildir; stopped when
/// dropped.
struct SmtpServer {
    _server: Killed,
    python: String,
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    /// `None` where aiosmtpd is missing (never in CI, which installs it).
    async fn start() -> Option<Self> {
        let python = python_having("AXV_TEST_SMTP_PYTHON", "aiosmtpd")?;
        let dir = tempfile::tempdir().unwrap();
        // aiosmtpd's Mailbox handler keeps what it receives in a Maildir.
        let maildir: PathBuf = dir.path().join("received");
        let port = free_port();
        let server = Killed(
            std::process::Command::new(&python)
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
        wait_until_listening(port).await;
        Some(Self {
            _server: server,
            python,
            port,
            maildir,
            _dir: dir,
        })
    }

    /// A stack whose notify sends through this server, with links to a public address.
    async fn stack(&self) -> Stack {
        let db = TestDb::sqlite();
        let mut platform = axv_platform::testing::platform(db.config.clone());
        platform.mail.smtp_url = Some(axv_platform::config::Secret::new(format!(
            "smtp://127.0.0.1:{}",
            self.port
        )));
        platform.mail.public_url = Some("https://axv.gwangju.example".into());
        Stack::start_on(db, platform, &["notify"]).await
    }

    /// The raw messages received so far.
    fn delivered(&self) -> Vec<String> {
        std::fs::read_dir(self.maildir.join("new"))
            .map(|files| {
                files
                    .filter_map(Result::ok)
                    .filter_map(|f| std::fs::read_to_string(f.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `count` messages were received, then a little longer for a duplicate that
    /// would come; answers all received.
    async fn received(&self, count: usize) -> Vec<String> {
        for _ in 0..100 {
            if self.delivered().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.delivered()
    }
}

#[tokio::test]
async fn an_approval_arrives_once_by_smtp_in_korean() {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let h = smtp.stack().await;
    let firm = h.firm(3).named("광주메일랩").approved().await;
    let mut client = client(&h).await;
    inbox_of(&mut client, &firm.token, 1).await;
    let maildir = &smtp.maildir;

    // One message (no manager account exists to hear of the submission), parsed back as MIME.
    let messages = smtp.received(1).await;
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
    let decoded = python_decode(&smtp.python, maildir);
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
    // One-click unsubscribe (RFC 8058): the headers mail programs act on.
    assert!(
        received.contains("List-Unsubscribe: <https://axv.gwangju.example/unsubscribe/"),
        "{received}"
    );
    assert!(
        received.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{received}"
    );
    h.stop().await;
}

/// A member who chose the daily digest for voucher news gets one digest, in Korean, listing
/// each message, however often the scheduler runs; its one-click link turns the digest off.
#[tokio::test]
async fn a_digest_arrives_once_by_smtp() {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let h = smtp.stack().await;
    let firm = h.firm(4).named("광주모아랩").approved().await;
    let mut client = client(&h).await;
    inbox_of(&mut client, &firm.token, 1).await;
    let approval = smtp.received(1).await;
    assert_eq!(approval.len(), 1, "the approval, at once");
    set(&mut client, &firm.token, vec![choice("voucher", "digest")])
        .await
        .unwrap();
    let notify = h.service::<axv_notify::service::Notify>();
    for (kind, code) in [
        ("voucher.low_balance", "GPU-1"),
        ("voucher.exhausted", "GPU-1"),
    ] {
        notify
            .handle(
                &Event::new("vouchers", kind, "v1")
                    .for_companies(vec![firm.company_id.clone()])
                    .with_payload(serde_json::json!({ "code": code })),
            )
            .await
            .unwrap();
    }
    inbox_of(&mut client, &firm.token, 3).await;
    let tomorrow = axv_platform::ids::now_ms() + 24 * 3_600_000;
    // Replicas run it in turn (the stack's own scheduler may hold the lease for a moment):
    // once they have, running it again sends nothing more.
    let mut ran = 0;
    for replica in ["a", "b"].iter().cycle().take(200) {
        if axv_notify::scheduler::run_once(notify, replica, tomorrow)
            .await
            .unwrap()
            .is_some()
        {
            ran += 1;
            if ran == 3 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ran, 3);
    let messages = smtp.received(2).await;
    assert_eq!(
        messages.len(),
        2,
        "the approval and one digest: {messages:?}"
    );
    let digest = messages
        .iter()
        .find(|m| !approval.contains(m))
        .unwrap_or_else(|| panic!("{messages:?}"));
    assert!(digest.contains("multipart/alternative"), "{digest}");
    let decoded = python_decode(&smtp.python, &smtp.maildir);
    assert!(
        decoded.contains("[AX 실증밸리] 알림 모아보기 2건"),
        "{decoded}"
    );
    assert!(
        decoded.contains("바우처 잔액이 얼마 남지 않았습니다: GPU-1")
            && decoded.contains("바우처를 모두 사용했습니다: GPU-1"),
        "{decoded}"
    );
    let token = crate::preferences::unsubscribe_token(
        digest.split("List-Unsubscribe:").nth(1).unwrap_or_default(),
    );
    let off = client
        .unsubscribe(axv_proto::notify::v1::UnsubscribeRequest { token })
        .await
        .unwrap()
        .into_inner()
        .categories;
    assert_eq!(off, vec!["voucher"]);
    h.stop().await;
}

/// The SMTP server, stopped when the test ends, however it ends.
/// The Maildir's one message as Python's e-mail package reads it: its decoded subject and plain
/// text, so the test checks what a mail client shows, not the encoding.
fn python_decode(python: &str, maildir: &std::path::Path) -> String {
    let script = r#"
import mailbox, sys
from email.header import decode_header, make_header
for message in mailbox.Maildir(sys.argv[1], create=False):
    print(str(make_header(decode_header(message["Subject"]))))
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            print(part.get_payload(decode=True).decode("utf-8"))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(maildir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
