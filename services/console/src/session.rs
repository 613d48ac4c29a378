//! Server-side sessions: the tokens the API gave stay on the server (Redis, or in-process),
//! keyed by a random id in a cookie (HttpOnly, SameSite=Lax; `__Host-` and Secure behind TLS).
//! Every form carries the session's CSRF token, and a cross-origin POST is refused.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use axv_platform::kv::SharedKv;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::i18n::cookie;

/// A session unused this long is gone; the person signs in again.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);

/// The signed-in person and the API's tokens for them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    /// The language the person chose on their account, if any.
    #[serde(default)]
    pub language: Option<String>,
    pub access_token: String,
    pub refresh_token: String,
    /// Unix milliseconds.
    pub access_expires_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    #[serde(skip)]
    pub id: String,
    pub csrf: String,
    pub user: Option<SignedIn>,
    /// A one-time notice (a Fluent key) for the next page shown.
    pub notice: Option<String>,
    /// A one-time error for the next page shown, already in the person's language (what an
    /// action that came back to the page could not do, e.g. a file refused).
    #[serde(default)]
    pub alert: Option<String>,
    /// Where to go back to after signing in (a path on this site).
    #[serde(default)]
    pub return_to: Option<String>,
    /// A form that arrived after the sign-in had ended: kept so that, once signed in again,
    /// the person sends it with one click instead of typing it again.
    #[serde(default)]
    pub pending_form: Option<PendingForm>,
    /// A secret the API handed over once (a new API client's secret, a staff account's
    /// temporary password), kept only until the page that shows it is first seen, so a reload
    /// or a second submit never makes another.
    #[serde(default)]
    pub revealed: Option<Revealed>,
}

/// A secret waiting to be shown, on the page at `path` only.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Revealed {
    pub path: String,
    pub secret: String,
}

/// What a person typed into a form (never a password), and where it was going.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl PendingForm {
    /// The text fields of `form` as it arrived, without its CSRF token and passwords.
    pub fn of(action: String, form: &impl Serialize) -> Self {
        let fields = match serde_json::to_value(form) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .filter(|(name, _)| name != "csrf" && !name.contains("password"))
                .filter_map(|(name, value)| match value {
                    serde_json::Value::String(text) => Some((name, text)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Self { action, fields }
    }
}

fn random_token() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Equal without telling, by timing, how much of a guess was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[derive(Clone)]
pub struct Sessions {
    kv: SharedKv,
    secure: bool,
}

impl Sessions {
    /// `secure`: the console is reached over TLS, so its cookie is `__Host-` and Secure.
    pub fn new(kv: SharedKv, secure: bool) -> Self {
        Self { kv, secure }
    }

    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-axv_session"
        } else {
            "axv_session"
        }
    }

    /// A Redis dump holds no usable session id: keys are the ids' hashes.
    fn key(id: &str) -> String {
        format!(
            "console:session:{}",
            hex::encode(sha2::Sha256::digest(id.as_bytes()))
        )
    }

    /// The store sessions live in, for what lives and dies with them.
    pub fn kv(&self) -> &SharedKv {
        &self.kv
    }

    /// Where the outcome of a form sent once waits (see `pages::once`): per session and form
    /// token, hashed like the session's own key; `None` without a token.
    pub fn once_key(session: &Session, token: &str) -> Option<String> {
        let token = token.trim();
        if token.is_empty() || token.len() > 64 {
            return None;
        }
        Some(format!(
            "console:once:{}",
            hex::encode(sha2::Sha256::digest(format!("{}:{token}", session.id)))
        ))
    }

    /// The request's session, if its cookie names a live one.
    pub async fn load(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, self.cookie_name())?;
        if id.len() > 100 {
            return None;
        }
        let bytes = match self.kv.get(&Self::key(&id)).await {
            Ok(bytes) => bytes?,
            Err(error) => {
                tracing::warn!(%error, "session store unreachable");
                return None;
            }
        };
        let mut session: Session = serde_json::from_slice(&bytes).ok()?;
        session.id = id;
        Some(session)
    }

    /// A new, anonymous session (its cookie is set when it is saved).
    pub fn start() -> Session {
        Session {
            id: random_token(),
            csrf: random_token(),
            user: None,
            notice: None,
            alert: None,
            return_to: None,
            pending_form: None,
            revealed: None,
        }
    }

    /// Keeps the session for another idle period.
    pub async fn save(&self, session: &Session) -> Result<(), axv_platform::kv::KvError> {
        let bytes = serde_json::to_vec(session).unwrap_or_default();
        self.kv.set(&Self::key(&session.id), &bytes, IDLE).await
    }

    pub async fn forget(&self, session: &Session) {
        if let Err(error) = self.kv.delete(&Self::key(&session.id)).await {
            tracing::warn!(%error, "session not deleted");
        }
    }

    /// Signing in or out gets a fresh id (no session fixation) and a fresh CSRF token.
    pub fn renew(session: &mut Session) {
        session.id = random_token();
        session.csrf = random_token();
    }

    pub fn set_cookie(&self, session: &Session) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.cookie_name(),
            session.id,
            IDLE.as_secs()
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    pub fn clear_cookie(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            self.cookie_name()
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// A state-changing request is the session's own: its form carries the session's CSRF token,
/// and, when the browser says where the request comes from, it comes from this site.
pub fn is_same_site_post(session: &Session, form_csrf: &str, headers: &HeaderMap) -> bool {
    if !same(&session.csrf, form_csrf) {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or_default();
    !host.is_empty() && origin_host == host
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn forms_from_elsewhere_or_without_the_token_are_refused() {
        let session = Sessions::start();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(is_same_site_post(&session, &session.csrf, &headers));
        assert!(!is_same_site_post(&session, "forged", &headers));
        assert!(!is_same_site_post(&session, "", &headers));
        headers.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(is_same_site_post(&session, &session.csrf, &headers));
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!is_same_site_post(&session, &session.csrf, &headers));
    }

    #[tokio::test]
    async fn sessions_round_trip_and_expire_with_a_new_id() {
        let kv: SharedKv = std::sync::Arc::new(axv_platform::kv::MemoryKv::default());
        let sessions = Sessions::new(kv, true);
        assert_eq!(sessions.cookie_name(), "__Host-axv_session");
        let mut session = Sessions::start();
        session.notice = Some("notice-signed-out".into());
        sessions.save(&session).await.unwrap();
        let cookie = sessions.set_cookie(&session);
        let cookie = cookie.to_str().unwrap();
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("Secure")
                && cookie.contains("SameSite=Lax")
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("__Host-axv_session={}", session.id)
                .parse()
                .unwrap(),
        );
        assert_eq!(sessions.load(&headers).await, Some(session.clone()));
        let old_id = session.id.clone();
        Sessions::renew(&mut session);
        assert_ne!(session.id, old_id);
        sessions.forget(&session).await;
        headers.insert(
            header::COOKIE,
            "__Host-axv_session=unknown".parse().unwrap(),
        );
        assert_eq!(sessions.load(&headers).await, None);
    }
}
