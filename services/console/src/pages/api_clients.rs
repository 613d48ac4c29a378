//! API 클라이언트: the machines that sign in with client credentials (the city's dashboards,
//! the data center's upload job). Admins register one (its secret shown once), see when each
//! was last used, and revoke one after a confirmation; a revoked client's tokens stop at once.

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};

use super::{
    choices, enum_value, error_page,
    form::{CsrfOnly, Field, OwnForm, check_required},
    label_key, once, require_role, require_role_to_post,
    staff::{ADMIN_ROLES, SecretPage},
};
use crate::{
    Console, Layout, Visit,
    api::{self, ApiError, api_clients, register_api_client, revoke_api_client},
    format::kst,
    i18n::Lang,
    render,
};

/// The roles a machine may have: reading figures, or pushing metered usage.
const CLIENT_ROLES: [&str; 2] = ["DASHBOARD", "OPERATOR"];

const REGISTER_FORM: OwnForm = OwnForm {
    title_key: "clients-register",
    action: "/admin/api-clients/new",
    section: "admin",
    once: true,
};

pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created: String,
    pub last_used: String,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "api_clients.html")]
struct ClientsPage {
    layout: Layout,
    clients: Vec<ClientRow>,
}

#[derive(Template)]
#[template(path = "api_client_revoke.html")]
struct RevokePage {
    layout: Layout,
    client: ClientRow,
}

fn row(lang: Lang, c: &api_clients::ApiClientsApiClients) -> ClientRow {
    ClientRow {
        id: c.id.clone(),
        name: c.name.clone(),
        role: lang.t(&label_key("role", &format!("{:?}", c.role))),
        created: kst(&c.created_at),
        last_used: c
            .last_used_at
            .as_deref()
            .map_or_else(|| lang.t("clients-never-used"), kst),
        revoked: c.revoked_at.as_deref().map(kst),
    }
}

async fn fetch(
    console: &Console,
    visit: &Visit,
    token: &str,
) -> Result<Vec<api_clients::ApiClientsApiClients>, ApiError> {
    console
        .api
        .run::<api::ApiClients>(
            Some(token),
            &visit.client_address,
            api_clients::Variables {},
        )
        .await
        .map(|data| data.api_clients)
}

pub async fn list(State(console): State<Console>, mut visit: Visit) -> Response {
    let token = match require_role(&console, &mut visit, &ADMIN_ROLES).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let clients = match fetch(&console, &visit, &token).await {
        Ok(clients) => clients,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let lang = visit.lang;
    let page = ClientsPage {
        layout: visit.layout(&console, lang.t("clients-title"), "admin"),
        clients: clients.iter().map(|c| row(lang, c)).collect(),
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

#[derive(serde::Deserialize, serde::Serialize, Default)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    once: String,
}

fn register_fields(lang: Lang, form: &RegisterForm) -> Vec<Field> {
    vec![
        Field::new(lang, "name", "clients-name", "text", "off")
            .hint(lang.t("clients-name-hint"))
            .value(&form.name),
        Field::select(
            lang,
            "role",
            "clients-role",
            choices(lang, "role", &CLIENT_ROLES, &form.role),
        )
        .hint(lang.t("clients-role-hint")),
    ]
}

pub async fn new_form(State(console): State<Console>, mut visit: Visit) -> Response {
    if let Err(response) = require_role(&console, &mut visit, &ADMIN_ROLES).await {
        return response;
    }
    let fields = register_fields(visit.lang, &RegisterForm::default());
    REGISTER_FORM
        .show(&console, &mut visit, fields, None, StatusCode::OK)
        .await
}

pub async fn register(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<RegisterForm>,
) -> Response {
    let token = match require_role_to_post(
        &console,
        &mut visit,
        &ADMIN_ROLES,
        (&form, &form.csrf),
        REGISTER_FORM.action,
    )
    .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let mut fields = register_fields(lang, &form);
    let role = enum_value::<register_api_client::Role>(&CLIENT_ROLES, &form.role);
    let (true, Some(role)) = (check_required(lang, &mut fields), role) else {
        let error = Some(lang.t("form-fix-fields"));
        return REGISTER_FORM
            .show(&console, &mut visit, fields, error, StatusCode::BAD_REQUEST)
            .await;
    };
    let (api, address) = (console.api.clone(), visit.client_address.clone());
    let variables = register_api_client::Variables {
        name: form.name.trim().to_owned(),
        role,
    };
    let register = async move {
        let data = api
            .run::<api::RegisterApiClient>(Some(&token), &address, variables)
            .await?;
        let client = data.register_api_client;
        Ok(once::Done {
            path: format!("/admin/api-clients/{}/created", client.client_id),
            secret: client.secret,
        })
    };
    match once::reveal(&console, &mut visit, &form.once, register).await {
        Ok(revealed) => revealed,
        Err(error) => {
            REGISTER_FORM
                .after(
                    &console,
                    &mut visit,
                    Err(error),
                    ("", "/admin/api-clients"),
                    fields,
                    &[],
                )
                .await
        }
    }
}

/// One client of the list, or the 404 page.
async fn find(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    id: &str,
) -> Result<api_clients::ApiClientsApiClients, Response> {
    match fetch(console, visit, token).await {
        Ok(clients) => match clients.into_iter().find(|c| c.id == id) {
            Some(client) => Ok(client),
            None => Err(super::not_found_page(console, visit).await),
        },
        Err(error) => Err(error_page(console, visit, &error).await),
    }
}

/// The new client's id and secret, on this page's first visit only.
pub async fn created(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let token = match require_role(&console, &mut visit, &ADMIN_ROLES).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let client = match find(&console, &mut visit, &token, &id).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let secret = visit.take_revealed();
    let heading = lang.t("clients-created-title");
    let shown = row(lang, &client);
    let page = SecretPage {
        layout: visit.layout(&console, heading.clone(), "admin"),
        heading,
        lead: lang.t("clients-created-lead"),
        facts: vec![
            (lang.t("clients-name"), shown.name),
            (lang.t("clients-role"), shown.role),
            (lang.t("clients-id"), shown.id),
        ],
        secret_label: lang.t("clients-secret"),
        secret,
        then: lang.t("clients-created-then"),
        back: (lang.t("clients-back"), "/admin/api-clients".to_owned()),
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

/// Revoking cannot be undone: a page that says what stops, with the button.
pub async fn confirm_revoke(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let token = match require_role(&console, &mut visit, &ADMIN_ROLES).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let client = match find(&console, &mut visit, &token, &id).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let client = row(lang, &client);
    if client.revoked.is_some() {
        return visit
            .redirect_with_notice(&console, "notice-client-revoked", "/admin/api-clients")
            .await;
    }
    let page = RevokePage {
        layout: visit.layout(
            &console,
            lang.t_with("clients-revoke-title", &[("name", client.name.clone())]),
            "admin",
        ),
        client,
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

pub async fn revoke(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let back = format!("/admin/api-clients/{id}/revoke");
    let posted = (&form, form.csrf.as_str());
    let token = match require_role_to_post(&console, &mut visit, &ADMIN_ROLES, posted, &back).await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let revoked = console
        .api
        .run::<api::RevokeApiClient>(
            Some(&token),
            &visit.client_address,
            revoke_api_client::Variables { client_id: id },
        )
        .await;
    match revoked {
        Ok(_) => {
            visit
                .redirect_with_notice(&console, "notice-client-revoked", "/admin/api-clients")
                .await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}
