//! 직원 계정: admins add the programme office's and the data center's people (with a temporary
//! password shown once), give them another role, and deactivate the accounts of those who
//! left. The API keeps an active admin and ends a person's sessions on every change.

use std::collections::HashMap;

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};

use super::{
    Choice, choices, enum_value, error_page,
    form::{Field, OwnForm, check_required},
    label_key, once, require_role, require_role_to_post,
};
use crate::{
    Console, Layout, Visit,
    api::{
        self, ApiError, change_staff_role, create_staff_account, deactivate_staff_account,
        reactivate_staff_account, reissue_temporary_password,
    },
    format::kst,
    i18n::Lang,
    render,
};

/// Admins only: the API manages staff for them alone.
pub const ADMIN_ROLES: [&str; 1] = ["ADMIN"];
/// The roles a person's staff account may have.
const STAFF_ROLES: [&str; 3] = ["PROGRAM_MANAGER", "OPERATOR", "ADMIN"];

const ADD_FORM: OwnForm = OwnForm {
    title_key: "staff-add",
    action: "/admin/staff/new",
    section: "admin",
    once: true,
};

pub struct StaffRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub roles: Vec<Choice>,
    pub active: bool,
    pub status: String,
    pub is_me: bool,
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    layout: Layout,
    staff: Vec<StaffRow>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "secret_shown_once.html")]
pub struct SecretPage {
    pub layout: Layout,
    pub heading: String,
    pub lead: String,
    /// (label, value) shown above the secret.
    pub facts: Vec<(String, String)>,
    pub secret_label: String,
    /// `None` once it was shown: the page says so instead.
    pub secret: Option<String>,
    pub then: String,
    pub back: (String, String),
}

async fn show_list(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    error: Option<String>,
) -> Response {
    let data = match console
        .api
        .run::<api::StaffAccounts>(
            Some(token),
            &visit.client_address,
            api::staff_accounts::Variables {},
        )
        .await
    {
        Ok(data) => data,
        Err(error) => return error_page(console, visit, &error).await,
    };
    let lang = visit.lang;
    let me = visit.user_id().unwrap_or_default().to_owned();
    let staff = data
        .staff_members
        .iter()
        .map(|u| {
            let role = format!("{:?}", u.role);
            StaffRow {
                id: u.id.clone(),
                name: u.name.clone(),
                email: u.email.clone(),
                role: lang.t(&label_key("role", &role)),
                roles: choices(lang, "role", &STAFF_ROLES, &role),
                active: u.deactivated_at.is_none(),
                status: match &u.deactivated_at {
                    None => lang.t("staff-active"),
                    Some(at) => lang.t_with("staff-deactivated-on", &[("at", kst(at))]),
                },
                is_me: u.id == me,
            }
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    let page = StaffPage {
        layout: visit.layout(console, lang.t("staff-title"), "admin"),
        staff,
        error,
    };
    visit.respond(console, status, render(&page)).await
}

pub async fn list(State(console): State<Console>, mut visit: Visit) -> Response {
    match require_role(&console, &mut visit, &ADMIN_ROLES).await {
        Ok(token) => show_list(&console, &mut visit, &token, None).await,
        Err(response) => response,
    }
}

/// What was typed, by field name.
type Typed = HashMap<String, String>;

fn typed<'a>(form: &'a Typed, name: &str) -> &'a str {
    form.get(name).map_or("", |v| v.as_str())
}

fn add_fields(lang: Lang, form: &Typed) -> Vec<Field> {
    vec![
        Field::new(lang, "name", "staff-name", "text", "off")
            .hint(lang.t("staff-name-hint"))
            .value(typed(form, "name")),
        Field::new(lang, "email", "staff-email", "email", "off").value(typed(form, "email")),
        Field::select(
            lang,
            "role",
            "staff-role",
            choices(lang, "role", &STAFF_ROLES, typed(form, "role")),
        ),
    ]
}

pub async fn new_form(State(console): State<Console>, mut visit: Visit) -> Response {
    if let Err(response) = require_role(&console, &mut visit, &ADMIN_ROLES).await {
        return response;
    }
    let fields = add_fields(visit.lang, &Typed::new());
    ADD_FORM
        .show(&console, &mut visit, fields, None, StatusCode::OK)
        .await
}

pub async fn create(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<Typed>,
) -> Response {
    let posted = (&form, typed(&form, "csrf"));
    let token =
        match require_role_to_post(&console, &mut visit, &ADMIN_ROLES, posted, ADD_FORM.action)
            .await
        {
            Ok(token) => token,
            Err(response) => return response,
        };
    let lang = visit.lang;
    let mut fields = add_fields(lang, &form);
    let role = enum_value::<create_staff_account::Role>(&STAFF_ROLES, typed(&form, "role"));
    let (true, Some(role)) = (check_required(lang, &mut fields), role) else {
        let error = Some(lang.t("form-fix-fields"));
        return ADD_FORM
            .show(&console, &mut visit, fields, error, StatusCode::BAD_REQUEST)
            .await;
    };
    let input = create_staff_account::StaffAccountInput {
        email: typed(&form, "email").trim().to_owned(),
        name: typed(&form, "name").trim().to_owned(),
        role,
    };
    let (api, address) = (console.api.clone(), visit.client_address.clone());
    let create = async move {
        let variables = create_staff_account::Variables { input };
        let data = api
            .run::<api::CreateStaffAccount>(Some(&token), &address, variables)
            .await?;
        let account = data.create_staff_account;
        Ok(once::Done {
            path: format!("/admin/staff/{}/created", account.user.id),
            secret: account.temporary_password,
        })
    };
    match once::reveal(&console, &mut visit, typed(&form, once::FIELD), create).await {
        Ok(revealed) => revealed,
        Err(error) if error.code == "CONFLICT" => {
            if let Some(email) = fields.iter_mut().find(|f| f.name == "email") {
                email.error = Some(lang.t("staff-email-taken"));
            }
            let error = Some(lang.t("form-fix-fields"));
            ADD_FORM
                .show(&console, &mut visit, fields, error, StatusCode::CONFLICT)
                .await
        }
        Err(error) => {
            ADD_FORM
                .after(
                    &console,
                    &mut visit,
                    Err(error),
                    ("", "/admin/staff"),
                    fields,
                    &[],
                )
                .await
        }
    }
}

/// One staff account, for an admin, or the page that says why not (another id is a 404).
async fn account(
    console: &Console,
    visit: &mut Visit,
    id: &str,
) -> Result<api::staff_accounts::StaffAccountsStaffMembers, Response> {
    let token = require_role(console, visit, &ADMIN_ROLES).await?;
    let data = console
        .api
        .run::<api::StaffAccounts>(
            Some(&token),
            &visit.client_address,
            api::staff_accounts::Variables {},
        )
        .await;
    match data {
        Ok(data) => match data.staff_members.into_iter().find(|u| u.id == id) {
            Some(account) => Ok(account),
            None => Err(super::not_found_page(console, visit).await),
        },
        Err(error) => Err(error_page(console, visit, &error).await),
    }
}

/// The new account's temporary password, on this page's first visit only.
pub async fn created(
    State(console): State<Console>,
    visit: Visit,
    Path(id): Path<String>,
) -> Response {
    temporary_password_page(
        &console,
        visit,
        &id,
        "staff-created-title",
        "staff-created-lead",
    )
    .await
}

/// A reissued temporary password, on this page's first visit only.
pub async fn reissued(
    State(console): State<Console>,
    visit: Visit,
    Path(id): Path<String>,
) -> Response {
    temporary_password_page(
        &console,
        visit,
        &id,
        "staff-reissued-title",
        "staff-reissued-lead",
    )
    .await
}

async fn temporary_password_page(
    console: &Console,
    mut visit: Visit,
    id: &str,
    title_key: &str,
    lead_key: &str,
) -> Response {
    let account = match account(console, &mut visit, id).await {
        Ok(account) => account,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let secret = visit.take_revealed();
    let heading = lang.t(title_key);
    let page = SecretPage {
        layout: visit.layout(console, heading.clone(), "admin"),
        heading,
        lead: lang.t(lead_key),
        facts: vec![
            (lang.t("staff-name"), account.name),
            (lang.t("staff-email"), account.email),
            (
                lang.t("staff-role"),
                lang.t(&label_key("role", &format!("{:?}", account.role))),
            ),
        ],
        secret_label: lang.t("staff-temporary-password"),
        secret,
        then: lang.t("staff-created-then"),
        back: (lang.t("staff-back"), "/admin/staff".to_owned()),
    };
    visit.respond(console, StatusCode::OK, render(&page)).await
}

#[derive(Template)]
#[template(path = "staff_reissue.html")]
struct ReissuePage {
    layout: Layout,
    id: String,
    name: String,
    email: String,
    role: String,
    once: String,
}

/// A new temporary password locks the person out until they are given it: a page that says
/// so, with the button.
pub async fn confirm_reissue(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let account = match account(&console, &mut visit, &id).await {
        Ok(account) => account,
        Err(response) => return response,
    };
    // A deactivated account gets no password: the button would only be refused.
    if account.deactivated_at.is_some() {
        return visit
            .redirect_with_notice(&console, "refusal-account-deactivated", "/admin/staff")
            .await;
    }
    let lang = visit.lang;
    let page = ReissuePage {
        layout: visit.layout(
            &console,
            lang.t_with("staff-reissue-title", &[("name", account.name.clone())]),
            "admin",
        ),
        id: account.id,
        name: account.name,
        email: account.email,
        role: lang.t(&label_key("role", &format!("{:?}", account.role))),
        once: once::token(),
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

pub async fn reissue(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<Typed>,
) -> Response {
    let back = format!("/admin/staff/{id}/reissue");
    let posted = (&form, typed(&form, "csrf"));
    let token = match require_role_to_post(&console, &mut visit, &ADMIN_ROLES, posted, &back).await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let (api, address) = (console.api.clone(), visit.client_address.clone());
    let reissue = async move {
        let variables = reissue_temporary_password::Variables { user_id: id };
        let data = api
            .run::<api::ReissueTemporaryPassword>(Some(&token), &address, variables)
            .await?;
        let issued = data.reissue_temporary_password;
        Ok(once::Done {
            path: format!("/admin/staff/{}/reissued", issued.user.id),
            secret: issued.temporary_password,
        })
    };
    match once::reveal(&console, &mut visit, typed(&form, once::FIELD), reissue).await {
        Ok(revealed) => revealed,
        Err(error) if error.code == "FAILED_PRECONDITION" => {
            let sentence = visit.explain(&error);
            match require_role(&console, &mut visit, &ADMIN_ROLES).await {
                Ok(token) => show_list(&console, &mut visit, &token, Some(sentence)).await,
                Err(response) => response,
            }
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

/// One change to an account (its role, or deactivate / reactivate), then the list again: with
/// a notice, or with why the API refused (the last active admin stays).
pub async fn change(
    State(console): State<Console>,
    mut visit: Visit,
    Path((id, what)): Path<(String, String)>,
    Form(form): Form<Typed>,
) -> Response {
    let posted = (&form, typed(&form, "csrf"));
    let token = match require_role_to_post(
        &console,
        &mut visit,
        &ADMIN_ROLES,
        posted,
        "/admin/staff",
    )
    .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let address = visit.client_address.clone();
    let api = &console.api;
    let changed: Result<&str, ApiError> = match what.as_str() {
        "role" => {
            let Some(role) =
                enum_value::<change_staff_role::Role>(&STAFF_ROLES, typed(&form, "role"))
            else {
                return error_page(&console, &mut visit, &ApiError::bad_input("role")).await;
            };
            let variables = change_staff_role::Variables { user_id: id, role };
            api.run::<api::ChangeStaffRole>(Some(&token), &address, variables)
                .await
                .map(|_| "notice-staff-role-changed")
        }
        "deactivate" => {
            let variables = deactivate_staff_account::Variables { user_id: id };
            api.run::<api::DeactivateStaffAccount>(Some(&token), &address, variables)
                .await
                .map(|_| "notice-staff-deactivated")
        }
        "reactivate" => {
            let variables = reactivate_staff_account::Variables { user_id: id };
            api.run::<api::ReactivateStaffAccount>(Some(&token), &address, variables)
                .await
                .map(|_| "notice-staff-reactivated")
        }
        _ => return super::not_found_page(&console, &mut visit).await,
    };
    match changed {
        Ok(notice) => {
            visit
                .redirect_with_notice(&console, notice, "/admin/staff")
                .await
        }
        Err(error) if error.code == "FAILED_PRECONDITION" => {
            let sentence = visit.explain(&error);
            show_list(&console, &mut visit, &token, Some(sentence)).await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}
