//! A forgotten password reset by e-mail through GraphQL: the same answer for an account and for
//! nobody, a link mailed (a security message, no unsubscribe), usable once, ending every
//! session.

use axv_e2e::{PUBLIC_URL, TestPlatform, error_code};
use serde_json::json;

const ASK: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str =
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";

/// The token of the reset link a mailed text carries.
pub fn reset_token(text: &str) -> String {
    let prefix = format!("{PUBLIC_URL}/password/reset/");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no reset link in {text}"))
        + prefix.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_email() {
    let p = TestPlatform::start_embedded().await;
    let old_session = p.sign_up("forgot@reset.kr").await;
    let known = p
        .graphql(None, ASK, json!({ "e": "forgot@reset.kr" }))
        .await;
    let unknown = p
        .graphql(None, ASK, json!({ "e": "nobody@reset.kr" }))
        .await;
    assert_eq!(
        known, unknown,
        "the same answer for an account and for nobody"
    );
    assert_eq!(known["data"]["requestPasswordReset"], true, "{known}");

    let mail = p.mail_text("forgot@reset.kr", "/password/reset/").await;
    assert!(mail.contains("30분"), "{mail}");
    assert!(
        !mail.contains("/unsubscribe/"),
        "security mail cannot be turned off"
    );
    let token = reset_token(&mail);

    let short = p
        .graphql(None, RESET, json!({ "t": token, "p": "short" }))
        .await;
    assert_eq!(error_code(&short), Some("BAD_USER_INPUT"), "{short}");
    let done = p
        .graphql(
            None,
            RESET,
            json!({ "t": token, "p": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(done["data"]["resetPassword"], true, "{done}");
    let again = p
        .graphql(
            None,
            RESET,
            json!({ "t": token, "p": "another passphrase!" }),
        )
        .await;
    assert_eq!(error_code(&again), Some("BAD_USER_INPUT"), "{again}");

    // Every session ended; the new password signs in.
    let me = p
        .graphql(Some(&old_session), "{ me { id } }", json!({}))
        .await;
    assert_eq!(error_code(&me), Some("UNAUTHENTICATED"), "{me}");
    let login = p
        .graphql(
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
            json!({ "e": "forgot@reset.kr", "p": "a brand new passphrase" }),
        )
        .await;
    assert!(login["data"]["login"]["accessToken"].is_string(), "{login}");
    p.stop().await;
}
