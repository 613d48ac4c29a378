//! Staff accounts: the people of the programme office and the data center, and admins. They do
//! not sign up; an admin adds them (with a temporary password shown once), changes their role
//! or deactivates them. The onboarding service enforces who may (admins) and that an active
//! admin always remains.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use axv_proto::onboarding::v1 as pb;

use super::onboarding::{Role, User};
use crate::errors::error;

#[derive(InputObject, Debug, Clone)]
pub struct StaffAccountInput {
    pub email: String,
    /// 1..100 characters, as colleagues know the person (e.g. "이서연 (AI산업과)").
    pub name: String,
    /// PROGRAM_MANAGER, OPERATOR or ADMIN (any other is BAD_USER_INPUT).
    pub role: Role,
}

/// A new staff account and its temporary password, shown this once: hand it to the person,
/// who signs in with it and changes it.
#[derive(SimpleObject, Clone, Debug)]
pub struct StaffAccountCredentials {
    pub user: User,
    pub temporary_password: String,
}

fn user(user: Option<pb::User>) -> Result<User> {
    user.map(User::from_pb)
        .ok_or_else(|| error(axv_platform::ErrorCode::Internal, "missing user"))
}

#[derive(Default)]
pub struct StaffQuery;

#[Object]
impl StaffQuery {
    /// Every staff account (not firms'), deactivated ones included, by name. ADMIN only.
    async fn staff_members(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let response = call!(ctx, onboarding.list_staff(pb::ListStaffRequest {}))?;
        Ok(response.users.into_iter().map(User::from_pb).collect())
    }
}

#[derive(Default)]
pub struct StaffMutation;

async fn change(
    ctx: &Context<'_>,
    user_id: ID,
    change: pb::change_staff_account_request::Change,
) -> Result<User> {
    let response = call!(
        ctx,
        onboarding.change_staff_account(pb::ChangeStaffAccountRequest {
            user_id: user_id.0,
            change: Some(change),
        })
    )?;
    user(response.user)
}

#[Object]
impl StaffMutation {
    /// Adds a staff account; its temporary password is in the answer, this once. ADMIN only;
    /// an email already in use is CONFLICT.
    async fn create_staff_account(
        &self,
        ctx: &Context<'_>,
        input: StaffAccountInput,
    ) -> Result<StaffAccountCredentials> {
        let response = call!(
            ctx,
            onboarding.create_staff_account(pb::CreateStaffAccountRequest {
                email: input.email,
                name: input.name,
                role: pb::Role::from(input.role).into(),
            })
        )?;
        Ok(StaffAccountCredentials {
            user: user(response.user)?,
            temporary_password: response.temporary_password,
        })
    }

    /// Gives a staff account another role; the person's sessions end, and the next sign-in
    /// carries the new role. ADMIN only; demoting the last active admin is FAILED_PRECONDITION.
    async fn change_staff_role(&self, ctx: &Context<'_>, user_id: ID, role: Role) -> Result<User> {
        use pb::change_staff_account_request::Change;
        change(ctx, user_id, Change::Role(pb::Role::from(role).into())).await
    }

    /// The person can no longer sign in, and their sessions end; the account and its name in
    /// every history stay. ADMIN only; the last active admin cannot be deactivated.
    async fn deactivate_staff_account(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        use pb::change_staff_account_request::Change;
        change(ctx, user_id, Change::Deactivate(true)).await
    }

    /// A deactivated staff account may sign in again. ADMIN only.
    async fn reactivate_staff_account(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        use pb::change_staff_account_request::Change;
        change(ctx, user_id, Change::Reactivate(true)).await
    }

    /// A new temporary password for a staff account whose person forgot theirs, in the answer
    /// this once; the old password stops working and the person's sessions end. ADMIN only;
    /// a deactivated account is FAILED_PRECONDITION (reactivate it first).
    async fn reissue_temporary_password(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
    ) -> Result<StaffAccountCredentials> {
        use pb::change_staff_account_request::Change;
        let response = call!(
            ctx,
            onboarding.change_staff_account(pb::ChangeStaffAccountRequest {
                user_id: user_id.0,
                change: Some(Change::ReissuePassword(true)),
            })
        )?;
        let temporary_password = response
            .temporary_password
            .ok_or_else(|| error(axv_platform::ErrorCode::Internal, "missing password"))?;
        Ok(StaffAccountCredentials {
            user: user(response.user)?,
            temporary_password,
        })
    }
}
