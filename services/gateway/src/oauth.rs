//! `POST /oauth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4) for API clients
//! (dashboards, the data center's tools). The onboarding service checks the credentials
//! (`ExchangeClientCredentials`); this module speaks the HTTP side of the RFC: a form-encoded
//! body, client authentication by HTTP Basic (§2.3.1, preferred) or by `client_id` and
//! `client_secret` form fields, a JSON answer that no cache keeps (§5.1), errors as in §5.2.

use std::{collections::HashMap, fmt, net::SocketAddr};

use axum::{
    Extension,
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use axv_proto::onboarding::v1 as pb;

use crate::{AppState, clients::request, context::RequestContext};

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const GRANT_TYPE: &str = "client_credentials";
/// A token request is a few hundred bytes; anything much larger is not one.
const MAX_BODY_BYTES: usize = 8 * 1024;

/// A client's credentials as presented; the secret never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// Why a token request is refused: RFC 6749 §5.2's error codes, and what we could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// 400: missing or repeated parameter, wrong content type, two authentication methods.
    InvalidRequest(&'static str),
    /// 400: a grant type other than `client_credentials`.
    UnsupportedGrantType,
    /// 401: no, unsupported or wrong client authentication (one message whatever was wrong).
    InvalidClient,
    /// 429: too many requests from this client or address.
    RateLimited(Option<String>),
    /// 503: the onboarding service cannot be reached.
    Unavailable,
    /// 500.
    Internal,
}

impl TokenError {
    fn status(&self) -> StatusCode {
        match self {
            TokenError::InvalidRequest(_) | TokenError::UnsupportedGrantType => {
                StatusCode::BAD_REQUEST
            }
            TokenError::InvalidClient => StatusCode::UNAUTHORIZED,
            TokenError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            TokenError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            TokenError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::InvalidClient => "invalid_client",
            // Not §5.2 codes (it defines none for these), named as the authorization endpoint's.
            TokenError::RateLimited(_) | TokenError::Unavailable => "temporarily_unavailable",
            TokenError::Internal => "server_error",
        }
    }

    fn description(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(why) => why,
            TokenError::UnsupportedGrantType => "only grant_type=client_credentials is supported",
            TokenError::InvalidClient => "client authentication failed",
            TokenError::RateLimited(_) => "too many requests; try again later",
            TokenError::Unavailable => "the service is unavailable; try again",
            TokenError::Internal => "internal error",
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.description(),
        });
        let mut response = (self.status(), no_store(), body.to_string()).into_response();
        let headers = response.headers_mut();
        match &self {
            // §5.2: a 401 names the authentication scheme the client should use.
            TokenError::InvalidClient => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"axv\", charset=\"UTF-8\""),
                );
            }
            TokenError::RateLimited(Some(after)) => {
                if let Ok(value) = HeaderValue::from_str(after) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        response
    }
}

/// JSON that neither the client's nor any intermediary's cache keeps (RFC 6749 §5.1).
fn no_store() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// Reads a token request: the grant type and the client's credentials, from Basic
/// authentication or from the form, never both (§2.3: one authentication method per request).
pub fn parse_token_request(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ClientCredentials, TokenError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case(FORM_CONTENT_TYPE) {
        return Err(TokenError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(TokenError::InvalidRequest("the request is too large"));
    }
    let form = parse_form(body)?;
    match form.get("grant_type").map(String::as_str) {
        None => return Err(TokenError::InvalidRequest("grant_type is required")),
        Some(GRANT_TYPE) => {}
        Some(_) => return Err(TokenError::UnsupportedGrantType),
    }
    let form_id = form.get("client_id");
    let form_secret = form.get("client_secret");
    match basic_credentials(headers)? {
        Some(basic) => {
            if form_secret.is_some() {
                return Err(TokenError::InvalidRequest(
                    "use one client authentication method: Basic or form fields, not both",
                ));
            }
            // A client_id alongside Basic is tolerated when it names the same client.
            if form_id.is_some_and(|id| *id != basic.client_id) {
                return Err(TokenError::InvalidRequest(
                    "client_id differs from the authenticated client",
                ));
            }
            Ok(basic)
        }
        None => match (form_id, form_secret) {
            (Some(id), Some(secret)) => Ok(ClientCredentials {
                client_id: id.clone(),
                client_secret: secret.clone(),
            }),
            // No (complete) client authentication: §5.2 says invalid_client.
            _ => Err(TokenError::InvalidClient),
        },
    }
}

/// The credentials of an `Authorization: Basic` header: `None` without an Authorization
/// header, `invalid_client` for another scheme or a malformed value.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<ClientCredentials>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| TokenError::InvalidClient)?
        .trim();
    let (scheme, encoded) = value.split_once(' ').ok_or(TokenError::InvalidClient)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(TokenError::InvalidClient);
    }
    let decoded = decode_base64(encoded.trim()).ok_or(TokenError::InvalidClient)?;
    let decoded = String::from_utf8(decoded).map_err(|_| TokenError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(TokenError::InvalidClient)?;
    // §2.3.1: both parts are form-urlencoded before they are put in the header.
    let client_id = percent_decode(id).ok_or(TokenError::InvalidClient)?;
    let client_secret = percent_decode(secret).ok_or(TokenError::InvalidClient)?;
    if client_id.is_empty() || client_secret.is_empty() {
        return Err(TokenError::InvalidClient);
    }
    Ok(Some(ClientCredentials {
        client_id,
        client_secret,
    }))
}

/// An `application/x-www-form-urlencoded` body. Parameters without a value count as absent
/// (§3.1); a parameter given twice is refused (§3.2).
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, TokenError> {
    let body = std::str::from_utf8(body)
        .map_err(|_| TokenError::InvalidRequest("the body is not UTF-8"))?;
    let mut form = HashMap::new();
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let malformed = || TokenError::InvalidRequest("the body is not form-urlencoded");
        let name = percent_decode(name).ok_or_else(malformed)?;
        let value = percent_decode(value).ok_or_else(malformed)?;
        if value.is_empty() {
            continue;
        }
        if form.insert(name, value).is_some() {
            return Err(TokenError::InvalidRequest(
                "a parameter is given more than once",
            ));
        }
    }
    Ok(form)
}

/// Form-urlencoding undone: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn percent_decode(input: &str) -> Option<String> {
    // The crate passes a malformed `%` through; a form with one is malformed (§3.2).
    let bytes = input.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(&input.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// Standard base64 (RFC 4648 §4) as Basic authentication uses it; padding optional, but
/// when present it must be right.
fn decode_base64(input: &str) -> Option<Vec<u8>> {
    use base64::{
        Engine as _,
        engine::general_purpose::{STANDARD, STANDARD_NO_PAD},
    };
    if input.ends_with('=') {
        STANDARD.decode(input).ok()
    } else {
        STANDARD_NO_PAD.decode(input).ok()
    }
}

/// The successful answer (§5.1).
#[derive(Debug, serde::Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

/// `POST /oauth/token`.
pub async fn token(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let address =
        crate::http::client_address(&headers, connect, state.limits.console_relay_key.as_deref());
    // Stricter than GraphQL's budgets: this endpoint is where secrets get guessed.
    if let Err(limited) = state.limiter.token_request(&address).await {
        return TokenError::RateLimited(Some(limited.retry_after.as_secs().to_string()))
            .into_response();
    }
    let credentials = match parse_token_request(&headers, &body) {
        Ok(credentials) => credentials,
        Err(error) => return error.into_response(),
    };
    let context = RequestContext {
        caller: None,
        token: None,
        client_address: address,
    };
    let exchanged = state
        .clients
        .onboarding
        .clone()
        .exchange_client_credentials(request(
            &context,
            pb::ExchangeClientCredentialsRequest {
                client_id: credentials.client_id,
                client_secret: credentials.client_secret,
            },
        ))
        .await;
    match exchanged {
        Ok(response) => {
            let response = response.into_inner();
            let body = TokenResponse {
                access_token: response.access_token,
                token_type: "Bearer",
                expires_in: response.expires_in_secs,
            };
            match serde_json::to_string(&body) {
                Ok(json) => (StatusCode::OK, no_store(), json).into_response(),
                Err(_) => TokenError::Internal.into_response(),
            }
        }
        Err(status) => status_to_error(&status).into_response(),
    }
}

fn status_to_error(status: &tonic::Status) -> TokenError {
    use tonic::Code;
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => TokenError::InvalidClient,
        Code::InvalidArgument => TokenError::InvalidRequest("the request is not valid"),
        Code::ResourceExhausted => TokenError::RateLimited(
            status
                .metadata()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
            tracing::warn!(grpc_code = ?status.code(), "token exchange: onboarding unavailable");
            TokenError::Unavailable
        }
        code => {
            tracing::error!(grpc_code = ?code, message = status.message(), "token exchange failed");
            TokenError::Internal
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

    /// What a client library sends: `Basic base64(urlencode(id):urlencode(secret))`.
    fn basic(id: &str, secret: &str) -> String {
        // A tiny standard-base64 encoder, independent of the decoder under test.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let input = format!("{id}:{secret}");
        let mut out = String::new();
        for chunk in input.as_bytes().chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        format!("Basic {out}")
    }

    fn creds(id: &str, secret: &str) -> ClientCredentials {
        ClientCredentials {
            client_id: id.into(),
            client_secret: secret.into(),
        }
    }

    #[test]
    fn credentials_from_basic_authentication() {
        let auth = basic("0190a1b2-c3d4", "axvcs_s3cr3t-_x");
        let parsed = parse_token_request(
            &headers(&[FORM, ("authorization", &auth)]),
            b"grant_type=client_credentials",
        );
        assert_eq!(parsed, Ok(creds("0190a1b2-c3d4", "axvcs_s3cr3t-_x")));
        // Scheme case-insensitive; charset parameter on the content type; the parts are
        // form-urlencoded (§2.3.1), so `%3A` is a colon inside the secret and `+` a space.
        let auth = basic("id%2B1", "a%3Ab+c").replace("Basic", "basic");
        let parsed = parse_token_request(
            &headers(&[
                (
                    "content-type",
                    "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
                ),
                ("authorization", &auth),
            ]),
            b"grant_type=client_credentials&scope=",
        );
        assert_eq!(parsed, Ok(creds("id+1", "a:b c")));
        // The same client_id in the form as well is tolerated; a different one is not.
        let auth = basic("c1", "s1");
        let with_id = parse_token_request(
            &headers(&[FORM, ("authorization", &auth)]),
            b"grant_type=client_credentials&client_id=c1",
        );
        assert_eq!(with_id, Ok(creds("c1", "s1")));
        let other_id = parse_token_request(
            &headers(&[FORM, ("authorization", &auth)]),
            b"grant_type=client_credentials&client_id=c2",
        );
        assert!(matches!(other_id, Err(TokenError::InvalidRequest(_))));
    }

    #[test]
    fn credentials_from_form_fields() {
        let parsed = parse_token_request(
            &headers(&[FORM]),
            b"grant_type=client_credentials&client_id=c-1&client_secret=axvcs_a%2Bb%3D",
        );
        assert_eq!(parsed, Ok(creds("c-1", "axvcs_a+b=")));
        // Order does not matter; unknown parameters (scope) are ignored.
        let parsed = parse_token_request(
            &headers(&[FORM]),
            b"client_secret=s&scope=read&client_id=c&grant_type=client_credentials",
        );
        assert_eq!(parsed, Ok(creds("c", "s")));
    }

    #[test]
    fn grant_type_must_be_client_credentials() {
        let auth = basic("c", "s");
        for body in [
            &b"grant_type=password&username=a&password=b"[..],
            b"grant_type=authorization_code&code=x",
            b"grant_type=Client_Credentials",
        ] {
            let parsed = parse_token_request(&headers(&[FORM, ("authorization", &auth)]), body);
            assert_eq!(parsed, Err(TokenError::UnsupportedGrantType));
        }
        for body in [&b""[..], b"grant_type=", b"client_id=c&client_secret=s"] {
            let parsed = parse_token_request(&headers(&[FORM, ("authorization", &auth)]), body);
            assert!(
                matches!(parsed, Err(TokenError::InvalidRequest(_))),
                "{parsed:?}"
            );
        }
    }

    #[test]
    fn malformed_requests_are_invalid_request() {
        let auth = basic("c", "s");
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [u8]);
        let cases: [Case; 6] = [
            // Not a form.
            (
                &[("content-type", "application/json")],
                br#"{"grant_type":"client_credentials"}"#,
            ),
            (
                &[],
                b"grant_type=client_credentials&client_id=c&client_secret=s",
            ),
            // A parameter twice (§3.2).
            (
                &[FORM],
                b"grant_type=client_credentials&client_id=c&client_id=d&client_secret=s",
            ),
            // Bad escapes, not UTF-8.
            (
                &[FORM],
                b"grant_type=client_credentials&client_id=%zz&client_secret=s",
            ),
            (
                &[FORM],
                b"grant_type=client_credentials&client_id=\xff&client_secret=s",
            ),
            // Two authentication methods.
            (
                &[FORM, ("authorization", &auth)],
                b"grant_type=client_credentials&client_secret=s",
            ),
        ];
        for (headers_, body) in cases {
            let parsed = parse_token_request(&headers(headers_), body);
            assert!(
                matches!(parsed, Err(TokenError::InvalidRequest(_))),
                "{headers_:?} {:?}: {parsed:?}",
                String::from_utf8_lossy(body)
            );
        }
        let huge = format!("grant_type=client_credentials&x={}", "a".repeat(10_000));
        assert!(matches!(
            parse_token_request(&headers(&[FORM]), huge.as_bytes()),
            Err(TokenError::InvalidRequest(_))
        ));
    }

    #[test]
    fn missing_or_unusable_client_authentication_is_invalid_client() {
        let body = &b"grant_type=client_credentials"[..];
        for authorization in [
            None,
            Some("Bearer eyJhbGciOiJFZERTQSJ9.e30.sig".to_owned()),
            Some("Basic".to_owned()),
            Some("Basic !!!notbase64".to_owned()),
            // base64 of "no-colon".
            Some("Basic bm8tY29sb24=".to_owned()),
            Some(basic("", "secret")),
            Some(basic("id", "")),
        ] {
            let mut pairs = vec![FORM];
            if let Some(value) = &authorization {
                pairs.push(("authorization", value));
            }
            let parsed = parse_token_request(&headers(&pairs), body);
            assert_eq!(parsed, Err(TokenError::InvalidClient), "{authorization:?}");
        }
        // Only half of the form credentials.
        let parsed = parse_token_request(
            &headers(&[FORM]),
            b"grant_type=client_credentials&client_id=c",
        );
        assert_eq!(parsed, Err(TokenError::InvalidClient));
    }

    #[test]
    fn base64_and_percent_decoding() {
        assert_eq!(decode_base64("aWQ6c2VjcmV0").unwrap(), b"id:secret");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert_eq!(decode_base64("YQ").unwrap(), b"a");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("").unwrap(), b"");
        assert!(decode_base64("Y").is_none());
        assert!(decode_base64("YQ=").is_none());
        assert!(decode_base64("aW-6").is_none());
        assert_eq!(percent_decode("a+b%20c%2b").as_deref(), Some("a b c+"));
        assert_eq!(percent_decode("%ED%95%9C").as_deref(), Some("한"));
        assert!(percent_decode("%").is_none());
        assert!(percent_decode("%4").is_none());
        assert!(percent_decode("%FF").is_none());
        assert!(percent_decode("%+1").is_none());
    }

    #[test]
    fn errors_follow_rfc_6749_section_5_2() {
        let response = TokenError::InvalidClient.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let h = response.headers();
        assert!(
            h.get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("Basic"))
        );
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(h.get(header::CONTENT_TYPE).unwrap(), "application/json");
        let response = TokenError::UnsupportedGrantType.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(
            TokenError::InvalidRequest("x").into_response().status(),
            StatusCode::BAD_REQUEST
        );
        let limited = TokenError::RateLimited(Some("7".into())).into_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers().get(header::RETRY_AFTER).unwrap(), "7");

        let status = tonic::Status::unauthenticated("invalid client credentials");
        assert_eq!(status_to_error(&status), TokenError::InvalidClient);
        assert_eq!(
            status_to_error(&tonic::Status::unavailable("down")),
            TokenError::Unavailable
        );
        assert_eq!(
            status_to_error(&tonic::Status::internal("db")),
            TokenError::Internal
        );
        assert!(!format!("{:?}", creds("c", "axvcs_top")).contains("axvcs_top"));
    }
}
