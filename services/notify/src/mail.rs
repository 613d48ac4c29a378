//! Sending the e-mail that waits in `mail_outbox`: over SMTP when a server is configured
//! (`AXV_SMTP_URL`), otherwise as `.eml` files under the data directory, which `axv mail` lists,
//! so `axv up` works on a bare machine and a developer can read what would have been sent.

use std::{path::PathBuf, time::Duration};

use axv_platform::shutdown::CancellationToken;
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Mailbox, MultiPart,
        header::{HeaderName, HeaderValue},
    },
};

use crate::store::{MailRecord, Store};

/// How long a sender holds the e-mail it claimed before another may take it: well beyond what
/// sending one may take (each SMTP step times out after [`SMTP_TIMEOUT`]).
const LEASE_MS: i64 = 5 * 60_000;
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// E-mails sent per round before the sender looks at its shutdown signal again.
const BATCH: usize = 20;
/// A round when nothing woke the sender sooner.
const EVERY: Duration = Duration::from_secs(2);
/// Attempts before an e-mail is given up (about a day with the backoff below).
pub const MAX_ATTEMPTS: i64 = 14;

/// Where e-mail goes.
#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

impl Mailer {
    /// `smtp_url`: `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://host:465`
    /// (TLS), `smtp://host:25` (plain, for a local relay); without one, files under `dir`.
    pub fn new(smtp_url: Option<&str>, dir: PathBuf) -> Result<Self, String> {
        match smtp_url {
            Some(url) => {
                refuse_plain_credentials(url)?;
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map(|builder| Mailer::Smtp(builder.timeout(Some(SMTP_TIMEOUT)).build()))
                    .map_err(|e| format!("AXV_SMTP_URL: {e}"))
            }
            None => {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("mail directory {}: {e}", dir.display()))?;
                Ok(Mailer::Files(AsyncFileTransport::new(&dir), dir))
            }
        }
    }

    async fn send(&self, message: Message) -> Result<(), String> {
        match self {
            Mailer::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Mailer::Files(files, _) => files
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

/// A password over a plain connection is refused, unless the server is on this machine: lettre
/// sends `smtp://user:pass@host` without TLS unless told `?tls=required`.
fn refuse_plain_credentials(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("smtp://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let Some((_, host)) = authority.rsplit_once('@') else {
        return Ok(());
    };
    let host = host.rsplit_once(':').map_or(host, |(host, _)| host);
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    if local || url.contains("tls=required") {
        Ok(())
    } else {
        Err(
            "AXV_SMTP_URL: a password must not travel in the clear: add ?tls=required \
             (STARTTLS) or use smtps:// (TLS)"
                .into(),
        )
    }
}

/// The e-mail for one row, or why it can never be sent (an unusable address). Its Message-ID
/// comes from the row, so a copy sent twice (a sender that died before recording it) is one
/// message to mail systems that deduplicate.
pub fn build(from: &Mailbox, mail: &MailRecord) -> Result<Message, String> {
    let address = mail
        .to_address
        .parse()
        .map_err(|e| format!("address {:?}: {e}", mail.to_address))?;
    let to = Mailbox::new(Some(mail.to_name.clone()), address);
    let domain = from.email.domain().to_owned();
    let mut builder = Message::builder()
        .message_id(Some(format!("<{}@{domain}>", mail.id)))
        .from(from.clone());
    // One-click unsubscribe (RFC 8058): mail programs show their own "unsubscribe" button and
    // POST `List-Unsubscribe=One-Click` to the link, which must be HTTPS (a development
    // address over plain HTTP keeps the link in the body only).
    if let Some(url) = mail
        .unsubscribe_url
        .as_ref()
        .filter(|url| url.starts_with("https://"))
    {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    builder
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text_body.clone(),
            mail.html_body.clone(),
        ))
        .map_err(|e| e.to_string())
}

/// When to try again after `attempts` failures: 30 s, doubling, at most 4 h; `None` once
/// [`MAX_ATTEMPTS`] are spent.
pub fn retry_after(attempts: i64) -> Option<Duration> {
    (attempts < MAX_ATTEMPTS).then(|| {
        let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
        Duration::from_secs(30u64.saturating_mul(1 << exponent).min(4 * 3600))
    })
}

/// Sends what is due, one claimed e-mail at a time (at most [`BATCH`] a round); answers how
/// many were tried.
pub async fn send_due(store: &Store, mailer: &Mailer, from: &Mailbox) -> usize {
    let mut tried = 0;
    while tried < BATCH {
        let mail = match store.claim_due_mail(LEASE_MS).await {
            Ok(Some(mail)) => mail,
            Ok(None) => break,
            Err(error) => {
                tracing::warn!(%error, "e-mail not claimed");
                break;
            }
        };
        tried += 1;
        let outcome = match build(from, &mail) {
            Ok(message) => mailer.send(message).await.map_err(|e| (e, true)),
            Err(unusable) => Err((unusable, false)),
        };
        let recorded = match outcome {
            Ok(()) => store.mail_sent(&mail.id).await,
            Err((error, retry)) => {
                // `attempts` counts the failures before this one: the first retry waits 30 s.
                let next = retry
                    .then(|| retry_after(mail.attempts))
                    .flatten()
                    .map(|wait| {
                        axv_platform::ids::now_ms()
                            + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2)
                    });
                tracing::warn!(mail = %mail.id, %error, retry = next.is_some(), "e-mail not sent");
                store.mail_failed(&mail.id, &error, next).await
            }
        };
        if let Err(error) = recorded {
            tracing::warn!(mail = %mail.id, %error, "e-mail outcome not recorded");
        }
    }
    tried
}

/// Sends due e-mail every [`EVERY`], and at once when `wake` is notified, until `shutdown`.
pub fn spawn_sender(
    store: Store,
    mailer: Mailer,
    from: Mailbox,
    wake: std::sync::Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            while send_due(&store, &mailer, &from).await > 0 {}
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(EVERY) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn mail(address: &str) -> MailRecord {
        MailRecord {
            id: "m1".into(),
            to_address: address.into(),
            to_name: "김민준".into(),
            subject: "기업 등록이 승인되었습니다: 광주바우처".into(),
            text_body: "본문".into(),
            html_body: "<p>본문</p>".into(),
            attempts: 0,
            unsubscribe_url: Some("https://axv.example/unsubscribe/t1".into()),
        }
    }

    #[test]
    fn a_message_is_plain_text_and_html_with_a_korean_subject() {
        let from: Mailbox = "AX 실증밸리 <no-reply@axv.example>".parse().unwrap();
        let message = build(&from, &mail("ceo@firm.kr")).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/plain") && raw.contains("text/html"),
            "{raw}"
        );
        // RFC 2047: the Korean subject travels encoded.
        assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
        assert!(
            raw.contains("To: =?utf-8?") && raw.contains("<ceo@firm.kr>"),
            "{raw}"
        );
    }

    #[test]
    fn a_password_never_travels_in_the_clear() {
        for refused in [
            "smtp://user:pass@mail.gwangju.go.kr:587",
            "smtp://user:pass@mail.gwangju.go.kr",
        ] {
            assert!(refuse_plain_credentials(refused).is_err(), "{refused}");
        }
        for allowed in [
            "smtp://user:pass@mail.gwangju.go.kr:587?tls=required",
            "smtps://user:pass@mail.gwangju.go.kr:465",
            "smtp://mail.gwangju.go.kr:25",
            "smtp://user:pass@127.0.0.1:1025",
            "smtp://user:pass@localhost:1025",
        ] {
            assert!(refuse_plain_credentials(allowed).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn the_message_id_comes_from_the_row() {
        let from: Mailbox = "no-reply@axv.example".parse().unwrap();
        let raw =
            String::from_utf8(build(&from, &mail("ceo@firm.kr")).unwrap().formatted()).unwrap();
        assert!(raw.contains("Message-ID: <m1@axv.example>"), "{raw}");
        assert!(
            raw.contains("List-Unsubscribe: <https://axv.example/unsubscribe/t1>"),
            "{raw}"
        );
        assert!(
            raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{raw}"
        );
    }

    #[test]
    fn one_click_headers_only_for_an_https_link() {
        let from: Mailbox = "no-reply@axv.example".parse().unwrap();
        let mut plain = mail("ceo@firm.kr");
        plain.unsubscribe_url = Some("http://127.0.0.1:8080/unsubscribe/t1".into());
        let raw = String::from_utf8(build(&from, &plain).unwrap().formatted()).unwrap();
        assert!(!raw.contains("List-Unsubscribe"), "{raw}");
    }

    #[test]
    fn an_unusable_address_is_said_and_never_retried() {
        let from: Mailbox = "no-reply@axv.example".parse().unwrap();
        assert!(build(&from, &mail("not an address")).is_err());
    }

    #[test]
    fn retries_back_off_to_four_hours_and_stop_after_a_day() {
        assert_eq!(retry_after(0), Some(Duration::from_secs(30)));
        assert_eq!(retry_after(1), Some(Duration::from_secs(60)));
        assert_eq!(retry_after(11), Some(Duration::from_secs(4 * 3600)));
        assert_eq!(retry_after(MAX_ATTEMPTS), None);
        let day: u64 = (0..MAX_ATTEMPTS)
            .filter_map(retry_after)
            .map(|d| d.as_secs())
            .sum();
        assert!(day >= 20 * 3600, "{day}");
    }
}
