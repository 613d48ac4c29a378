//! Staff accounts, which admins manage: programme managers, operators and admins are not
//! signed up, they are added with a temporary password shown once (until e-mail invitations
//! exist), given another role, a new temporary password when they forgot theirs, or
//! deactivated when they leave; each change ends the person's sessions, so it holds at once.
//! The platform always keeps an active admin.

use axv_auth::{Caller, Role};
use axv_platform::{audit::Actor, ids::is_valid_id};
use rand::Rng as _;

use super::{Onboarding, hash_blocking, require};
use crate::{
    domain::{
        Email, StaffState, authorize_staff_admin, staff_change_refusal, staff_role, validate_name,
    },
    error::OnboardingError,
    store::UserRecord,
};

/// Letters and digits no one misreads (no 0/o, 1/l/i).
const TEMPORARY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A temporary password of 4 groups of 4 (`k7mp-3xq9-tw2h-8vbn`): about 79 bits, typed once.
fn temporary_password() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..4)
        .map(|_| {
            (0..4)
                .map(|_| char::from(TEMPORARY_ALPHABET[rng.gen_range(0..TEMPORARY_ALPHABET.len())]))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// What a change does to an account.
#[derive(Debug, Clone, Copy)]
pub enum StaffChange {
    Role(Role),
    Deactivate,
    Reactivate,
    /// A new temporary password; the old one stops working.
    ReissuePassword,
}

impl Onboarding {
    /// Admins: every staff account, deactivated ones included.
    pub async fn staff(&self, caller: Option<&Caller>) -> Result<Vec<UserRecord>, OnboardingError> {
        authorize_staff_admin(require(caller)?)?;
        self.store.staff_users().await
    }

    /// Admins: a new staff account and its temporary password, shown this once.
    pub async fn create_staff_account(
        &self,
        caller: Option<&Caller>,
        email: &str,
        name: &str,
        role: Option<Role>,
    ) -> Result<(UserRecord, String), OnboardingError> {
        let caller = require(caller)?;
        authorize_staff_admin(caller)?;
        let email = Email::parse("email", email)?;
        let name = validate_name("name", name, 100)?;
        let role = staff_role(role)?;
        let password = temporary_password();
        let hash = hash_blocking(password.clone()).await?;
        let user = self
            .store
            .create_user(email.as_str(), &name, role, &hash, Some(&Actor::of(caller)))
            .await?;
        tracing::info!(user = %user.id, %role, by = %caller.subject, "staff account created");
        Ok((user, password))
    }

    /// Admins: another role for a staff account, it deactivated or reactivated, or a new
    /// temporary password for it (returned this once); its sessions end.
    pub async fn change_staff_account(
        &self,
        caller: Option<&Caller>,
        user_id: &str,
        change: StaffChange,
    ) -> Result<(UserRecord, Option<String>), OnboardingError> {
        let caller = require(caller)?;
        authorize_staff_admin(caller)?;
        if let StaffChange::Role(role) = change {
            staff_role(Some(role))?;
        }
        if !is_valid_id(user_id) {
            return Err(OnboardingError::NotFound("staff account"));
        }
        // Hashed before the transaction, so the row locks are not held through Argon2.
        let password = match change {
            StaffChange::ReissuePassword => {
                let password = temporary_password();
                let hash = hash_blocking(password.clone()).await?;
                Some((password, hash))
            }
            _ => None,
        };
        let new_hash = password.as_ref().map(|(_, hash)| hash.as_str());
        let expires_at = self.revoked_access_until();
        let (user, live) = self
            .store
            .change_staff(
                user_id,
                new_hash,
                expires_at,
                &Actor::of(caller),
                |user, active_admins| {
                    let before = StaffState {
                        role: user.role,
                        active: user.deactivated_at.is_none(),
                    };
                    let after = match change {
                        StaffChange::Role(role) => StaffState { role, ..before },
                        StaffChange::Deactivate => StaffState {
                            active: false,
                            ..before
                        },
                        StaffChange::Reactivate => StaffState {
                            active: true,
                            ..before
                        },
                        StaffChange::ReissuePassword => before,
                    };
                    if matches!(change, StaffChange::ReissuePassword) && !before.active {
                        return Err(OnboardingError::refused(
                            axv_platform::error::Reason::AccountDeactivated,
                            "the account is deactivated: reactivate it before giving it a password",
                        ));
                    }
                    match staff_change_refusal(before, after, active_admins) {
                        Some(refusal) => Err(refusal),
                        None => Ok((after.role, after.active)),
                    }
                },
            )
            .await?;
        self.tell_revocations(&live, expires_at).await;
        tracing::info!(user = %user.id, ?change, by = %caller.subject, "staff account changed");
        Ok((user, password.map(|(password, _)| password)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn temporary_passwords_pass_the_password_rule_and_differ() {
        let a = super::temporary_password();
        let b = super::temporary_password();
        assert_eq!(a.len(), 19, "{a}");
        assert_ne!(a, b);
        assert!(crate::domain::validate_password(&a).is_ok());
        assert!(
            a.chars()
                .all(|c| c == '-' || super::TEMPORARY_ALPHABET.contains(&(c as u8)))
        );
    }
}
