#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axv_auth::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

const ISS: &str = "https://axv.test";
const AUD: &str = "axv-api";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn platform() -> (TokenIssuer, Verifier) {
    let issuer = TokenIssuer::new(SigningKey::generate(), ISS, AUD, Duration::from_secs(900));
    let verifier = issuer.verifier();
    (issuer, verifier)
}

/// Claims as the platform would issue them, for tests that sign by hand.
fn claims() -> Value {
    json!({
        "sub": "user-1", "role": "FIRM_MEMBER", "companies": ["c-1"],
        "iss": ISS, "aud": AUD, "exp": now() + 300, "iat": now(), "nbf": now(),
        "jti": "jti-1",
    })
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// Signs arbitrary claims with the platform's own key.
fn sign_own(issuer: &TokenIssuer, claims: &Value) -> String {
    let pem = issuer.key().to_pkcs8_pem().unwrap();
    let key = EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    sign(Algorithm::EdDSA, Some(issuer.key().kid()), claims, &key)
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

async fn refused(verifier: &Verifier, token: &str) -> AuthError {
    match verifier.verify(token).await {
        Ok(caller) => panic!("accepted: {caller:?}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------- own tokens

#[tokio::test]
async fn accepts_a_fresh_platform_token() {
    let (issuer, verifier) = platform();
    let issued = issuer
        .issue("user-7", Role::FirmMember, vec!["c-1".into(), "c-2".into()])
        .unwrap();
    let caller = verifier.verify(&issued.token).await.unwrap();
    assert_eq!(caller.subject, "user-7");
    assert_eq!(caller.role, Role::FirmMember);
    assert_eq!(caller.company_ids, vec!["c-1", "c-2"]);
    assert_eq!(caller.token_id, issued.jti);
    assert_eq!(caller.expires_at, issued.expires_at);
    assert_eq!(caller.issuer, ISS);
    assert_eq!(&*caller.raw_token, issued.token);
    assert!(caller.belongs_to("c-2") && !caller.belongs_to("c-3"));
    assert!(!caller.is_staff());
    assert!((issued.expires_at - now() - 900).abs() <= 2);
    assert!(!format!("{caller:?}").contains(&issued.token));

    // The payload has exactly the documented shape.
    let payload = issued.token.split('.').nth(1).unwrap();
    let claims: Claims = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    assert_eq!(claims.aud, AUD);
    assert_eq!(claims.jti, issued.jti);

    let staff = issuer.issue("pm-1", Role::ProgramManager, vec![]).unwrap();
    let caller = verifier.verify(&staff.token).await.unwrap();
    assert!(caller.is_staff() && caller.company_ids.is_empty());
}

#[tokio::test]
async fn accepts_tokens_of_a_rotated_out_key_still_configured() {
    let (old, _) = platform();
    let (new, verifier) = platform();
    let verifier = verifier.with_key(old.key().verification_key());
    assert!(
        verifier
            .verify(&old.issue("u", Role::Admin, vec![]).unwrap().token)
            .await
            .is_ok()
    );
    assert!(
        verifier
            .verify(&new.issue("u", Role::Admin, vec![]).unwrap().token)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn refuses_alg_none() {
    let (issuer, verifier) = platform();
    let header = json!({"alg": "none", "typ": "JWT", "kid": issuer.key().kid()});
    let token = format!(
        "{}.{}.",
        B64.encode(header.to_string()),
        B64.encode(claims().to_string())
    );
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::DisallowedAlgorithm
    ));
}

#[tokio::test]
async fn refuses_hs256_signed_with_the_public_key() {
    let (issuer, verifier) = platform();
    let jwk = issuer.key().public_jwk();
    let raw = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
    for secret in [
        raw,
        jwk["x"].as_str().unwrap().as_bytes().to_vec(),
        jwk.to_string().into_bytes(),
    ] {
        let token = sign(
            Algorithm::HS256,
            Some(issuer.key().kid()),
            &claims(),
            &EncodingKey::from_secret(&secret),
        );
        assert!(matches!(
            refused(&verifier, &token).await,
            AuthError::DisallowedAlgorithm
        ));
    }
}

#[tokio::test]
async fn refuses_an_algorithm_other_than_the_pinned_one() {
    let (issuer, verifier) = platform();
    // A correctly signed ES256 token that claims the platform key's kid.
    let ec = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let token = sign(
        Algorithm::ES256,
        Some(issuer.key().kid()),
        &claims(),
        &ec_encoding_key(&ec),
    );
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::DisallowedAlgorithm
    ));
}

#[tokio::test]
async fn refuses_an_expired_token() {
    let (issuer, verifier) = platform();
    let token = sign_own(&issuer, &with(claims(), "exp", json!(now() - 120)));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::Expired
    ));
    // Within the leeway it still passes.
    let token = sign_own(&issuer, &with(claims(), "exp", json!(now() - 5)));
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn refuses_a_token_not_yet_valid() {
    let (issuer, verifier) = platform();
    let token = sign_own(&issuer, &with(claims(), "nbf", json!(now() + 300)));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::NotYetValid
    ));
}

#[tokio::test]
async fn refuses_a_wrong_issuer() {
    let (issuer, verifier) = platform();
    let token = sign_own(&issuer, &with(claims(), "iss", json!("https://evil.test")));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::WrongIssuer
    ));
    let token = sign_own(
        &issuer,
        &with(claims(), "iss", json!([ISS, "https://evil.test"])),
    );
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::WrongIssuer
    ));
}

#[tokio::test]
async fn refuses_a_wrong_audience() {
    let (issuer, verifier) = platform();
    let token = sign_own(&issuer, &with(claims(), "aud", json!("other-api")));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::WrongAudience
    ));
}

#[tokio::test]
async fn refuses_a_tampered_payload() {
    let (issuer, verifier) = platform();
    let issued = issuer.issue("user-1", Role::FirmMember, vec![]).unwrap();
    let parts: Vec<&str> = issued.token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    payload["role"] = json!("ADMIN");
    let token = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(payload.to_string()),
        parts[2]
    );
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::BadSignature
    ));
}

#[tokio::test]
async fn refuses_an_unknown_kid() {
    let (_, verifier) = platform();
    let (stranger, _) = platform();
    let token = stranger.issue("user-1", Role::Admin, vec![]).unwrap().token;
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::UnknownKey
    ));

    let pem = stranger.key().to_pkcs8_pem().unwrap();
    let key = EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    let no_kid = sign(Algorithm::EdDSA, None, &claims(), &key);
    assert!(matches!(
        refused(&verifier, &no_kid).await,
        AuthError::UnknownKey
    ));
}

#[tokio::test]
async fn refuses_a_missing_exp() {
    let (issuer, verifier) = platform();
    let token = sign_own(&issuer, &without(claims(), "exp"));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::MissingClaim("exp")
    ));
}

#[tokio::test]
async fn refuses_exp_as_a_string() {
    let (issuer, verifier) = platform();
    let exp = (now() + 300).to_string();
    let token = sign_own(&issuer, &with(claims(), "exp", json!(exp)));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::Malformed
    ));
}

#[tokio::test]
async fn refuses_a_missing_aud() {
    let (issuer, verifier) = platform();
    let token = sign_own(&issuer, &without(claims(), "aud"));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::MissingClaim("aud")
    ));
}

#[tokio::test]
async fn refuses_a_missing_iss() {
    let (issuer, verifier) = platform();
    let token = sign_own(&issuer, &without(claims(), "iss"));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::MissingClaim("iss")
    ));
}

#[tokio::test]
async fn refuses_own_tokens_without_jti_or_role() {
    let (issuer, verifier) = platform();
    let token = sign_own(&issuer, &without(claims(), "jti"));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::MissingClaim("jti")
    ));
    let token = sign_own(&issuer, &without(claims(), "role"));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::MissingClaim("role")
    ));
    let token = sign_own(&issuer, &with(claims(), "role", json!("ROOT")));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::Malformed
    ));
}

#[tokio::test]
async fn refuses_a_revoked_token() {
    let (issuer, verifier) = platform();
    let revocations = Arc::new(InMemoryRevocations::default());
    let verifier = verifier.with_revocations(revocations.clone());
    let revoked = issuer.issue("user-1", Role::FirmMember, vec![]).unwrap();
    let other = issuer.issue("user-1", Role::FirmMember, vec![]).unwrap();
    assert!(verifier.verify(&revoked.token).await.is_ok());
    revocations
        .revoke(&revoked.jti, revoked.expires_at)
        .await
        .unwrap();
    assert!(matches!(
        refused(&verifier, &revoked.token).await,
        AuthError::Revoked
    ));
    assert!(verifier.verify(&other.token).await.is_ok());
}

/// A revocation list that records every key it is asked about.
#[derive(Default)]
struct Recording {
    inner: InMemoryRevocations,
    asked: Mutex<Vec<String>>,
}

impl Recording {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.asked.lock().unwrap())
    }
}

#[async_trait::async_trait]
impl RevocationList for Recording {
    async fn is_revoked(&self, token_id: &str) -> Result<bool, AuthError> {
        self.asked.lock().unwrap().push(token_id.to_owned());
        self.inner.is_revoked(token_id).await
    }
    async fn revoke(&self, token_id: &str, expires_at: i64) -> Result<(), AuthError> {
        self.inner.revoke(token_id, expires_at).await
    }
}

#[tokio::test]
async fn revoking_a_client_refuses_the_tokens_it_already_holds() {
    let (issuer, verifier) = platform();
    let revocations = Arc::new(Recording::default());
    let verifier = verifier.with_revocations(revocations.clone());
    let client = client_subject("client-1");
    let first = issuer.issue(&client, Role::Dashboard, vec![]).unwrap();
    let second = issuer.issue(&client, Role::Dashboard, vec![]).unwrap();
    let other = issuer
        .issue(&client_subject("client-2"), Role::Operator, vec![])
        .unwrap();
    let user = issuer.issue("user-1", Role::Admin, vec![]).unwrap();
    for token in [&first, &second, &other, &user] {
        assert!(verifier.verify(&token.token).await.is_ok());
    }
    revocations.take();

    revocations
        .revoke(
            &subject_revocation_key(&client),
            now() + CLIENT_TOKEN_MAX_TTL.as_secs() as i64,
        )
        .await
        .unwrap();
    // Every token of the revoked client, issued before the revocation, is refused at once...
    for token in [&first, &second] {
        assert!(matches!(
            refused(&verifier, &token.token).await,
            AuthError::Revoked
        ));
    }
    // ...and nobody else's.
    assert_eq!(
        verifier.verify(&other.token).await.unwrap().subject,
        "client:client-2"
    );
    assert!(verifier.verify(&user.token).await.is_ok());
}

#[tokio::test]
async fn only_client_tokens_pay_for_the_subject_lookup() {
    let (issuer, verifier) = platform();
    let revocations = Arc::new(Recording::default());
    let verifier = verifier.with_revocations(revocations.clone());

    let user = issuer.issue("user-1", Role::Admin, vec![]).unwrap();
    verifier.verify(&user.token).await.unwrap();
    assert_eq!(revocations.take(), vec![user.jti.clone()]);

    let client = issuer
        .issue(&client_subject("c-9"), Role::Dashboard, vec![])
        .unwrap();
    verifier.verify(&client.token).await.unwrap();
    let mut asked = revocations.take();
    asked.sort();
    let mut expected = vec![client.jti.clone(), "subject:client:c-9".to_owned()];
    expected.sort();
    assert_eq!(asked, expected);

    // A user whose id merely contains the prefix elsewhere is an ordinary user.
    let lookalike = issuer.issue("user-client:1", Role::Admin, vec![]).unwrap();
    verifier.verify(&lookalike.token).await.unwrap();
    assert_eq!(revocations.take(), vec![lookalike.jti]);
}

#[tokio::test]
async fn a_revoked_client_token_is_refused_by_its_jti_too() {
    let (issuer, verifier) = platform();
    let revocations = Arc::new(InMemoryRevocations::default());
    let verifier = verifier.with_revocations(revocations.clone());
    let token = issuer
        .issue(&client_subject("c-1"), Role::Operator, vec![])
        .unwrap();
    revocations
        .revoke(&token.jti, token.expires_at)
        .await
        .unwrap();
    assert!(matches!(
        refused(&verifier, &token.token).await,
        AuthError::Revoked
    ));
}

#[tokio::test]
async fn client_tokens_are_capped_at_the_client_ttl() {
    let long = TokenIssuer::new(SigningKey::generate(), ISS, AUD, Duration::from_secs(3600));
    let capped = long
        .issue_with_max_ttl("client:c", Role::Dashboard, vec![], CLIENT_TOKEN_MAX_TTL)
        .unwrap();
    let lifetime = capped.expires_at - now();
    assert!((899..=900).contains(&lifetime), "{lifetime}");
    // A shorter configured TTL wins over the cap.
    let short = TokenIssuer::new(SigningKey::generate(), ISS, AUD, Duration::from_secs(120));
    let token = short
        .issue_with_max_ttl("client:c", Role::Dashboard, vec![], CLIENT_TOKEN_MAX_TTL)
        .unwrap();
    assert!((119..=120).contains(&(token.expires_at - now())));
}

#[tokio::test]
async fn refuses_garbage() {
    let (_, verifier) = platform();
    assert!(matches!(
        refused(&verifier, "").await,
        AuthError::MissingToken
    ));
    for token in ["abc", "a.b", "a.b.c.d", "!!.??.xx", &"a".repeat(20_000)] {
        assert!(
            matches!(refused(&verifier, token).await, AuthError::Malformed),
            "{token}"
        );
    }
}

#[test]
fn errors_map_to_generic_statuses() {
    let status = AuthError::BadSignature.to_status();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(status.message(), "invalid or expired token");
    let status = AuthError::Jwks("GET https://idp/jwks: connection refused".into()).to_status();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(!status.message().contains("idp"));
    let status = AuthError::Store("redis unavailable".into()).to_status();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(!status.message().contains("redis"));
    assert_eq!(
        AuthError::Revoked.to_status().code(),
        tonic::Code::Unauthenticated
    );
}

// ---------------------------------------------------------------- OIDC issuers

fn rsa_key() -> &'static rsa::RsaPrivateKey {
    // 2048-bit generation takes a moment; share one key across tests.
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap())
}

fn rsa_encoding_key(key: &rsa::RsaPrivateKey) -> EncodingKey {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
}

fn rsa_jwk(key: &rsa::RsaPrivateKey, kid: &str) -> Value {
    use rsa::traits::PublicKeyParts;
    json!({
        "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
        "n": B64.encode(key.n().to_bytes_be()),
        "e": B64.encode(key.e().to_bytes_be()),
    })
}

fn ec_encoding_key(key: &p256::ecdsa::SigningKey) -> EncodingKey {
    use p256::pkcs8::EncodePrivateKey;
    EncodingKey::from_ec_der(key.to_pkcs8_der().unwrap().as_bytes())
}

fn ec_jwk(key: &p256::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({
        "kty": "EC", "crv": "P-256", "kid": kid,
        "x": B64.encode(point.x().unwrap()),
        "y": B64.encode(point.y().unwrap()),
    })
}

/// A local JWKS endpoint whose key set tests can change, counting fetches.
#[derive(Clone)]
struct Jwks {
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
    url: String,
}

impl Jwks {
    async fn serve(keys: Vec<Value>) -> Jwks {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let jwks = Jwks {
            keys: Arc::new(Mutex::new(keys)),
            hits: Arc::default(),
            url: format!("http://{addr}/.well-known/jwks.json"),
        };
        let app = axum::Router::new()
            .route(
                "/.well-known/jwks.json",
                get(|State(jwks): State<Jwks>| async move {
                    jwks.hits.fetch_add(1, Ordering::SeqCst);
                    let keys = jwks.keys.lock().unwrap().clone();
                    axum::Json(json!({ "keys": keys }))
                }),
            )
            .with_state(jwks.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        jwks
    }

    fn set(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn issuer(&self, issuer: &str) -> OidcIssuer {
        OidcIssuer {
            issuer: issuer.into(),
            jwks_url: self.url.clone(),
            audience: "axv-oidc".into(),
        }
    }
}

const IDP: &str = "https://idp.test/realms/axv";

fn idp_claims() -> Value {
    json!({
        "sub": "idp-user-1", "role": "DASHBOARD", "iss": IDP, "aud": ["axv-oidc", "account"],
        "exp": now() + 300, "iat": now(), "jti": "idp-jti-1",
    })
}

/// An identity provider's `sub` that happens to look like a client's names no client: it is
/// namespaced by its issuer, and revoking the client of that name does not touch it.
#[tokio::test]
async fn an_oidc_subject_is_never_taken_for_a_client() {
    let ec = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let jwks = Jwks::serve(vec![ec_jwk(&ec, "ec-1")]).await;
    let revocations = Arc::new(Recording::default());
    let (_, verifier) = platform();
    let verifier = verifier
        .with_oidc_issuer(jwks.issuer(IDP))
        .with_revocations(revocations.clone());
    revocations
        .revoke(&subject_revocation_key("client:x"), now() + 900)
        .await
        .unwrap();
    let token = sign(
        Algorithm::ES256,
        Some("ec-1"),
        &with(idp_claims(), "sub", json!("client:x")),
        &ec_encoding_key(&ec),
    );
    let caller = verifier.verify(&token).await.unwrap();
    assert_eq!(caller.subject, format!("{IDP}|client:x"));
    assert_eq!(revocations.take(), vec!["idp-jti-1".to_owned()]);
}

#[tokio::test]
async fn accepts_oidc_tokens_from_a_jwks_endpoint() {
    let ec = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let jwks = Jwks::serve(vec![rsa_jwk(rsa_key(), "rsa-1"), ec_jwk(&ec, "ec-1")]).await;
    let (_, verifier) = platform();
    let verifier = verifier.with_oidc_issuer(jwks.issuer(IDP));

    let rs = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &idp_claims(),
        &rsa_encoding_key(rsa_key()),
    );
    let caller = verifier.verify(&rs).await.unwrap();
    // Namespaced by issuer, so an external `sub` can never name a platform user.
    assert_eq!(caller.subject, format!("{IDP}|idp-user-1"));
    assert_eq!(caller.role, Role::Dashboard);
    assert_eq!(caller.issuer, IDP);
    assert_eq!(caller.token_id, "idp-jti-1");
    assert!(caller.company_ids.is_empty());

    let es = sign(
        Algorithm::ES256,
        Some("ec-1"),
        &without(idp_claims(), "jti"),
        &ec_encoding_key(&ec),
    );
    let caller = verifier.verify(&es).await.unwrap();
    assert_eq!(caller.role, Role::Dashboard);
    assert_eq!(
        caller.token_id.len(),
        64,
        "a digest stands in for a missing jti"
    );
    // Both verified from one fetch.
    assert_eq!(jwks.hits(), 1);

    // The OIDC audience, not the platform's, is what counts for this issuer.
    let token = sign(
        Algorithm::ES256,
        Some("ec-1"),
        &with(idp_claims(), "aud", json!(AUD)),
        &ec_encoding_key(&ec),
    );
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::WrongAudience
    ));
    // A role is required of external tokens too.
    let token = sign(
        Algorithm::ES256,
        Some("ec-1"),
        &without(idp_claims(), "role"),
        &ec_encoding_key(&ec),
    );
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::MissingClaim("role")
    ));
    // RS256 key, ES256... and an RSA key used with a different RSA algorithm.
    let token = sign(
        Algorithm::PS256,
        Some("rsa-1"),
        &idp_claims(),
        &rsa_encoding_key(rsa_key()),
    );
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::DisallowedAlgorithm
    ));
}

#[tokio::test]
async fn picks_up_a_rotated_oidc_key() {
    let old = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let new = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let jwks = Jwks::serve(vec![ec_jwk(&old, "old")]).await;
    let (_, verifier) = platform();
    let verifier = verifier
        .with_oidc_issuer(jwks.issuer(IDP))
        .with_jwks_refetch_interval(Duration::ZERO);

    let token = sign(
        Algorithm::ES256,
        Some("old"),
        &idp_claims(),
        &ec_encoding_key(&old),
    );
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(jwks.hits(), 1);

    // The provider rotates: the cached set does not know the new kid, so it is refetched.
    jwks.set(vec![ec_jwk(&old, "old"), ec_jwk(&new, "new")]);
    let token = sign(
        Algorithm::ES256,
        Some("new"),
        &idp_claims(),
        &ec_encoding_key(&new),
    );
    let caller = verifier.verify(&token).await.unwrap();
    assert_eq!(caller.subject, format!("{IDP}|idp-user-1"));
    assert_eq!(jwks.hits(), 2);

    // A clone shares the cache.
    let clone = verifier.clone();
    assert!(clone.verify(&token).await.is_ok());
    assert_eq!(jwks.hits(), 2);
}

#[tokio::test]
async fn unknown_kids_do_not_hammer_the_jwks_endpoint() {
    let ec = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let jwks = Jwks::serve(vec![ec_jwk(&ec, "ec-1")]).await;
    let (_, verifier) = platform();
    let verifier = verifier.with_oidc_issuer(jwks.issuer(IDP));
    let good = sign(
        Algorithm::ES256,
        Some("ec-1"),
        &idp_claims(),
        &ec_encoding_key(&ec),
    );
    assert!(verifier.verify(&good).await.is_ok());
    for i in 0..5 {
        let kid = format!("made-up-{i}");
        let token = sign(
            Algorithm::ES256,
            Some(&kid),
            &idp_claims(),
            &ec_encoding_key(&ec),
        );
        assert!(matches!(
            refused(&verifier, &token).await,
            AuthError::UnknownKey
        ));
    }
    assert_eq!(jwks.hits(), 1);
}

#[tokio::test]
async fn refuses_a_key_of_another_issuer() {
    let ec_a = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let ec_b = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let jwks_a = Jwks::serve(vec![rsa_jwk(rsa_key(), "rsa-a"), ec_jwk(&ec_a, "ec-a")]).await;
    let jwks_b = Jwks::serve(vec![ec_jwk(&ec_b, "ec-b")]).await;
    const IDP_B: &str = "https://other-idp.test";
    let (issuer, verifier) = platform();
    let verifier = verifier
        .with_oidc_issuer(jwks_a.issuer(IDP))
        .with_oidc_issuer(jwks_b.issuer(IDP_B));

    // Sanity: A's key with A's issuer is fine.
    let ok = sign(
        Algorithm::RS256,
        Some("rsa-a"),
        &idp_claims(),
        &rsa_encoding_key(rsa_key()),
    );
    assert!(verifier.verify(&ok).await.is_ok());

    // The OIDC issuer's key used to mint a token in the platform's name.
    let platform_claims = with(idp_claims(), "iss", json!(ISS));
    let forged = sign(
        Algorithm::RS256,
        Some("rsa-a"),
        &platform_claims,
        &rsa_encoding_key(rsa_key()),
    );
    assert!(matches!(
        refused(&verifier, &forged).await,
        AuthError::UnknownKey
    ));

    // The platform's key used to mint a token in the OIDC issuer's name.
    let forged = sign_own(
        &issuer,
        &with(with(claims(), "iss", json!(IDP)), "aud", json!("axv-oidc")),
    );
    assert!(matches!(
        refused(&verifier, &forged).await,
        AuthError::WrongIssuer
    ));

    // Issuer A's key (and kid) with issuer B's name.
    let b_claims = with(idp_claims(), "iss", json!(IDP_B));
    let forged = sign(
        Algorithm::ES256,
        Some("ec-a"),
        &b_claims,
        &ec_encoding_key(&ec_a),
    );
    assert!(matches!(
        refused(&verifier, &forged).await,
        AuthError::UnknownKey
    ));
    // ...and A's key presented under B's kid.
    let forged = sign(
        Algorithm::ES256,
        Some("ec-b"),
        &b_claims,
        &ec_encoding_key(&ec_a),
    );
    assert!(matches!(
        refused(&verifier, &forged).await,
        AuthError::BadSignature
    ));
}

#[tokio::test]
async fn an_unreachable_jwks_is_unavailable_not_a_bad_token() {
    // Bind and drop a listener to get a port nobody listens on.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (_, verifier) = platform();
    let verifier = verifier.with_oidc_issuer(OidcIssuer {
        issuer: IDP.into(),
        jwks_url: format!("http://{addr}/jwks"),
        audience: "axv-oidc".into(),
    });
    let ec = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let token = sign(
        Algorithm::ES256,
        Some("ec-1"),
        &idp_claims(),
        &ec_encoding_key(&ec),
    );
    let err = refused(&verifier, &token).await;
    assert!(matches!(err, AuthError::Jwks(_)), "{err:?}");
    // The issuer's keys could not be fetched: retryable, and nothing against the token.
    assert_eq!(err.to_status().code(), tonic::Code::Unavailable);
}

// ---------------------------------------------------------------- passwords and refresh tokens

#[test]
fn password_hash_roundtrip() {
    let hash = hash_password("correct horse battery staple").unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(verify_password("correct horse battery staple", &hash));
    assert!(!verify_password("correct horse battery stapler", &hash));
    assert!(!verify_password("", &hash));
    assert!(!verify_password(
        "correct horse battery staple",
        "$argon2id$garbage"
    ));
}

#[test]
fn refresh_secrets() {
    let a = new_refresh_secret();
    let b = new_refresh_secret();
    assert_ne!(a.token, b.token);
    assert_ne!(a.hash, b.hash);
    assert_eq!(B64.decode(&a.token).unwrap().len(), 32);
    assert_eq!(a.hash, hash_refresh_token(&a.token));
    assert_eq!(hash_refresh_token(&a.token), hash_refresh_token(&a.token));
    assert_eq!(a.hash.len(), 64);
    assert!(
        a.hash
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert!(!format!("{a:?}").contains(&a.token));
}

// ---------------------------------------------------------------- tonic glue

type TonicInner = tower::util::BoxCloneService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    Infallible,
>;

/// An inner service that answers 200 with the caller's subject (or "-") in a header.
fn echo_caller() -> TonicInner {
    tower::util::BoxCloneService::new(tower::service_fn(
        |req: http::Request<tonic::body::Body>| async move {
            let subject = req
                .extensions()
                .get::<Caller>()
                .map_or("-".to_owned(), |c| c.subject.clone());
            let mut res = http::Response::new(tonic::body::Body::default());
            res.headers_mut()
                .insert("x-subject", subject.parse().unwrap());
            Ok::<_, Infallible>(res)
        },
    ))
}

fn grpc_request(path: &str, auth: Option<&str>) -> http::Request<tonic::body::Body> {
    let mut builder = http::Request::builder().uri(format!("http://localhost{path}"));
    if let Some(auth) = auth {
        builder = builder.header("authorization", auth);
    }
    builder.body(tonic::body::Body::default()).unwrap()
}

fn grpc_status(res: &http::Response<tonic::body::Body>) -> Option<&str> {
    res.headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn tonic_layer_puts_the_caller_in_extensions_or_refuses() {
    let (issuer, verifier) = platform();
    let mut svc = tower::Layer::layer(&AuthLayer::new(Arc::new(verifier)), echo_caller());
    let token = issuer
        .issue("user-9", Role::Operator, vec![])
        .unwrap()
        .token;
    let bearer = format!("Bearer {token}");

    let res = svc
        .ready()
        .await
        .unwrap()
        .call(grpc_request("/axv.x.v1.S/M", Some(&bearer)))
        .await
        .unwrap();
    assert_eq!(res.headers()["x-subject"], "user-9");

    let res = svc
        .ready()
        .await
        .unwrap()
        .call(grpc_request("/axv.x.v1.S/M", None))
        .await
        .unwrap();
    assert_eq!(res.headers()["x-subject"], "-");

    for bad in ["Bearer not.a.jwt", "Basic dXNlcjpwYXNz"] {
        let res = svc
            .ready()
            .await
            .unwrap()
            .call(grpc_request("/axv.x.v1.S/M", Some(bad)))
            .await
            .unwrap();
        assert_eq!(grpc_status(&res), Some("16"), "{bad}");
        assert!(res.headers().get("x-subject").is_none());
    }

    // Health checks and reflection never look at the token.
    for path in [
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ] {
        let res = svc
            .ready()
            .await
            .unwrap()
            .call(grpc_request(path, Some("Bearer junk")))
            .await
            .unwrap();
        assert_eq!(res.headers()["x-subject"], "-");
    }
}

#[tokio::test]
async fn tonic_layer_works_in_a_real_server() {
    let (issuer, verifier) = platform();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let routes = tonic::service::Routes::default();
    let server = tonic::transport::Server::builder()
        .layer(AuthLayer::new(Arc::new(verifier)))
        .add_routes(routes)
        .serve_with_incoming(incoming);
    tokio::spawn(server);

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let call = |token: Option<String>| {
        let channel = channel.clone();
        async move {
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready().await.unwrap();
            let mut req = tonic::Request::new(());
            if let Some(token) = token {
                attach_bearer(&mut req, &token).unwrap();
            }
            let path = http::uri::PathAndQuery::from_static("/axv.test.v1.Nothing/Call");
            let codec = tonic_prost::ProstCodec::<(), ()>::default();
            grpc.unary(req, path, codec).await.unwrap_err().code()
        }
    };
    // No such service: getting UNIMPLEMENTED means the layer let the request through.
    assert_eq!(call(None).await, tonic::Code::Unimplemented);
    let token = issuer.issue("u", Role::Admin, vec![]).unwrap().token;
    assert_eq!(call(Some(token)).await, tonic::Code::Unimplemented);
    assert_eq!(
        call(Some("forged.token.here".into())).await,
        tonic::Code::Unauthenticated
    );
}

// ---------------------------------------------------------------- axum glue

async fn axum_call(
    app: &axum::Router,
    auth: Option<&str>,
    path: &str,
) -> (http::StatusCode, Value) {
    let mut req = http::Request::builder().uri(path);
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let res = app
        .clone()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn axum_extractors() {
    let (issuer, verifier) = platform();
    let app =
        axum::Router::new()
            .route(
                "/maybe",
                get(|MaybeCaller(c): MaybeCaller| async move {
                    axum::Json(json!(c.map(|c| c.subject)))
                }),
            )
            .route(
                "/require",
                get(|RequireCaller(c): RequireCaller| async move { axum::Json(json!(c.subject)) }),
            )
            .with_state(Arc::new(verifier));
    let bearer = format!(
        "Bearer {}",
        issuer.issue("u-1", Role::FirmMember, vec![]).unwrap().token
    );

    assert_eq!(
        axum_call(&app, Some(&bearer), "/maybe").await,
        (http::StatusCode::OK, json!("u-1"))
    );
    assert_eq!(
        axum_call(&app, None, "/maybe").await,
        (http::StatusCode::OK, Value::Null)
    );
    assert_eq!(
        axum_call(&app, Some(&bearer), "/require").await,
        (http::StatusCode::OK, json!("u-1"))
    );

    let invalid = json!({"errors": [{"message": "invalid or expired token", "extensions": {"code": "UNAUTHENTICATED"}}]});
    assert_eq!(
        axum_call(&app, Some("Bearer x.y.z"), "/maybe").await,
        (http::StatusCode::UNAUTHORIZED, invalid.clone())
    );
    assert_eq!(
        axum_call(&app, Some("Bearer x.y.z"), "/require").await,
        (http::StatusCode::UNAUTHORIZED, invalid)
    );
    let required = json!({"errors": [{"message": "authentication required", "extensions": {"code": "UNAUTHENTICATED"}}]});
    assert_eq!(
        axum_call(&app, None, "/require").await,
        (http::StatusCode::UNAUTHORIZED, required)
    );
}

/// A token verified once is remembered, but its expiry still counts on every later use.
#[tokio::test]
async fn a_remembered_token_still_expires() {
    let (issuer, verifier) = platform();
    let verifier = verifier.with_leeway(0);
    let token = sign_own(&issuer, &with(claims(), "exp", json!(now() + 1)));
    assert!(verifier.verify(&token).await.is_ok());
    assert!(verifier.verify(&token).await.is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::Expired
    ));
}
