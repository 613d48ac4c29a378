//! Forgotten passwords: a person asks by e-mail address (the answer is the same whether an
//! account has it or not, and takes the same path), notify mails a link whose token this
//! service issues and keeps only as a digest, and the link sets a new password once, within 30
//! minutes, ending every session of the account.

use std::time::Duration;

use axv_auth::Caller;

use super::{Onboarding, hash_blocking, require};
use crate::{
    domain::{Email, validate_password_of},
    error::OnboardingError,
};

/// How long a mailed link works.
pub const RESET_LIFETIME_MS: i64 = 30 * 60_000;
/// Links mailed per account per hour; more requests are answered alike and send nothing.
pub const RESETS_PER_ACCOUNT_HOUR: i64 = 3;
/// Requests per client address per hour (known addresses or not alike).
pub const RESET_REQUESTS_PER_ADDRESS: i64 = 10;
const RESET_WINDOW: Duration = Duration::from_secs(3600);
/// The only caller that may have a link's token: the service that mails it.
const MAILER: &str = "service:notify";

/// A link's token, for the mailer, with whom to send it to.
#[derive(Debug, Clone)]
pub struct IssuedReset {
    pub token: String,
    pub email: String,
    pub name: String,
    pub language: Option<String>,
    pub expires_at_ms: i64,
}

/// Records a reset request for the active account that has `email`, if any and if it has not
/// had [`RESETS_PER_ACCOUNT_HOUR`] links this hour; nothing otherwise.
async fn record_request(
    store: &crate::store::Store,
    limiter: &axv_platform::kv::RateLimiter,
    email: &str,
) -> Result<(), OnboardingError> {
    let Some(user) = store
        .user_by_email(email)
        .await?
        .filter(|user| user.deactivated_at.is_none())
    else {
        return Ok(());
    };
    let decision = limiter
        .hit(
            &format!("reset:user:{}", user.id),
            RESETS_PER_ACCOUNT_HOUR,
            RESET_WINDOW,
            1,
        )
        .await
        .map_err(super::counting_unavailable)?;
    if decision.allowed {
        store
            .request_password_reset(&user.id, RESET_LIFETIME_MS)
            .await?;
    }
    Ok(())
}

impl Onboarding {
    /// Asks for a reset link to be mailed to `email`. The answer is `Ok` whether an active
    /// account has the address or not, and the recording happens after it (in a task of its
    /// own), so neither the answer nor its time tells who has an account. Refused only when
    /// the client address asked too often (alike for every address asked about).
    pub async fn request_password_reset(
        &self,
        email: &str,
        client_address: &str,
    ) -> Result<(), OnboardingError> {
        let email = Email::parse("email", email)?;
        let decision = self
            .limiter
            .hit(
                &format!("reset:addr:{client_address}"),
                RESET_REQUESTS_PER_ADDRESS,
                RESET_WINDOW,
                1,
            )
            .await
            .map_err(super::counting_unavailable)?;
        if !decision.allowed {
            return Err(OnboardingError::RateLimited {
                retry_after_secs: decision.retry_after.as_secs().max(1),
            });
        }
        let (store, limiter) = (self.store.clone(), self.limiter.clone());
        tokio::spawn(async move {
            if let Err(error) = record_request(&store, &limiter, email.as_str()).await {
                tracing::warn!(%error, "password reset request not recorded");
            }
        });
        Ok(())
    }

    /// The token for the reset request `request_id` (the subject of its event), for notify to
    /// mail: only the platform's own notify service may ask, once per request, within its 30
    /// minutes. NOT_FOUND when a token was issued already (a redelivered event), or the request
    /// expired, was used or ended (a new password meanwhile).
    pub async fn issue_password_reset(
        &self,
        caller: Option<&Caller>,
        request_id: &str,
    ) -> Result<IssuedReset, OnboardingError> {
        let caller = require(caller)?;
        if caller.subject != MAILER || caller.issuer != self.issuer.issuer() {
            return Err(OnboardingError::Forbidden(
                "only the platform's mailer issues reset links".into(),
            ));
        }
        let secret = axv_auth::new_refresh_secret();
        let (user_id, expires_at_ms) = self
            .store
            .issue_password_reset(request_id, &secret.hash)
            .await?
            .ok_or(OnboardingError::NotFound("password reset"))?;
        let user = self
            .store
            .user_by_id(&user_id)
            .await?
            .ok_or(OnboardingError::NotFound("user"))?;
        Ok(IssuedReset {
            token: secret.token,
            email: user.email,
            name: user.name,
            language: user.language,
            expires_at_ms,
        })
    }

    /// Sets a new password with a mailed link's token: once, before it expires, and only while
    /// no newer password was set. Every session of the account ends; the person then signs in.
    /// BAD_USER_INPUT on `token` for a link that cannot be used, on `newPassword` for a
    /// password too short or long (the token is then still usable).
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
    ) -> Result<(), OnboardingError> {
        validate_password_of("newPassword", new_password)?;
        let unusable =
            || OnboardingError::invalid("token", "this link has expired or was already used");
        // Checked before the (deliberately slow) hash of the new password: a stranger guessing
        // tokens costs a lookup, not a hash.
        let token_hash = axv_auth::hash_refresh_token(token);
        if !axv_auth::is_well_formed_secret(token)
            || !self.store.password_reset_pending(&token_hash).await?
        {
            return Err(unusable());
        }
        let hash = hash_blocking(new_password.to_owned()).await?;
        let expires_at = self.revoked_access_until();
        let (user_id, live) = self
            .store
            .reset_password(&token_hash, &hash, expires_at)
            .await?
            .ok_or_else(unusable)?;
        self.tell_revocations(&live, expires_at).await;
        tracing::info!(user = %user_id, "password reset by e-mail");
        Ok(())
    }
}
