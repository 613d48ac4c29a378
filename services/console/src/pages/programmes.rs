//! 자원·공모: the data center's resource pools (capacity, granted, used and left, in hours) and
//! the programme's calls (window, cap per company in hours, eligible industries), for the
//! programme office; managers and admins open calls, admins add pools. Amounts are typed in
//! hours (GB-days for storage) and sent in the API's base units.

use std::collections::HashMap;

use askama::Template;
use axum::{Form, extract::State, http::StatusCode, response::Response};

use super::{
    Choice, choices,
    companies::SECTORS,
    enum_value, error_page, forbidden_page,
    form::{Field, OwnForm, check_required, read_number},
    label_key,
    review::require_staff,
    vouchers::amount,
};
use crate::{
    Console, Layout, Visit,
    api::{self, ApiError, create_resource_pool, create_voucher_program, programme_admin},
    format::grouped,
    i18n::Lang,
    render,
};

const KINDS: [&str; 3] = ["GPU_H100", "NPU", "STORAGE"];
/// Where a pool's money comes from, as the API names it.
pub const FUNDING: [&str; 3] = ["NATIONAL", "CITY", "PRIVATE"];
/// One check box per industry a call may be limited to: (field name, the API's value).
const SECTOR_BOXES: [(&str, &str); 9] = [
    ("sector_ARTIFICIAL_INTELLIGENCE", "ARTIFICIAL_INTELLIGENCE"),
    ("sector_MOBILITY", "MOBILITY"),
    ("sector_CULTURE_CONTENT", "CULTURE_CONTENT"),
    ("sector_ENERGY", "ENERGY"),
    ("sector_HEALTHCARE", "HEALTHCARE"),
    ("sector_PHOTONICS_APPLIANCES", "PHOTONICS_APPLIANCES"),
    ("sector_SMART_COMPONENTS", "SMART_COMPONENTS"),
    ("sector_SEMICONDUCTORS", "SEMICONDUCTORS"),
    ("sector_DATA", "DATA"),
];

/// The most any amount may be, in base units (the vouchers service's own bound).
const MAX_BASE_AMOUNT: i64 = 10_000_000_000_000;

/// Whether `typed` (in hours or GB-days) stays within the amounts the platform keeps; marks
/// the field when it does not, in the unit the person typed.
fn within_limit(lang: Lang, fields: &mut [Field], name: &str, typed: i64, unit: i64) -> bool {
    let most = MAX_BASE_AMOUNT / unit;
    if typed <= most {
        return true;
    }
    if let Some(field) = fields.iter_mut().find(|f| f.name == name) {
        field.error = Some(lang.t_with("amount-too-large", &[("most", grouped(most))]));
    }
    false
}

/// Base units per unit people type: an hour of compute (seconds), a GB-day of storage.
fn unit_of(kind: &str) -> i64 {
    if kind == "STORAGE" { 1 } else { 3600 }
}

pub struct PoolRow {
    pub name: String,
    pub kind: String,
    pub capacity: String,
    pub committed: String,
    pub consumed: String,
    pub available: String,
    pub funding: String,
    pub validity: String,
}

pub struct CallRow {
    pub name: String,
    pub pool: String,
    pub window: String,
    pub cap: String,
    pub sectors: String,
}

#[derive(Template)]
#[template(path = "programmes.html")]
struct ProgrammesPage {
    layout: Layout,
    pools: Vec<PoolRow>,
    programmes: Vec<CallRow>,
    can_add_pool: bool,
}

async fn fetch(
    console: &Console,
    visit: &Visit,
    token: &str,
) -> Result<programme_admin::ResponseData, ApiError> {
    console
        .api
        .run::<api::ProgrammeAdmin>(
            Some(token),
            &visit.client_address,
            programme_admin::Variables {},
        )
        .await
}

pub async fn list(State(console): State<Console>, mut visit: Visit) -> Response {
    let token = match require_staff(&console, &mut visit).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let data = match fetch(&console, &visit, &token).await {
        Ok(data) => data,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let lang = visit.lang;
    let pools = data
        .resource_pools
        .iter()
        .map(|p| {
            let kind = format!("{:?}", p.kind);
            PoolRow {
                name: p.name.clone(),
                kind: lang.t(&label_key("resource", &kind)),
                capacity: amount(lang, &kind, p.capacity),
                committed: amount(lang, &kind, p.committed),
                consumed: amount(lang, &kind, p.consumed),
                available: amount(lang, &kind, p.available),
                funding: lang.t(&label_key("funding", &format!("{:?}", p.funding))),
                validity: format!("{} ~ {}", p.valid_from, p.valid_until),
            }
        })
        .collect();
    let programmes = data
        .voucher_programs
        .iter()
        .map(|c| {
            let kind = format!("{:?}", c.pool.kind);
            let sectors = if c.sectors.is_empty() {
                lang.t("call-every-sector")
            } else {
                c.sectors
                    .iter()
                    .map(|s| lang.t(&label_key("sector", &format!("{s:?}"))))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            CallRow {
                name: c.name.clone(),
                pool: c.pool.name.clone(),
                window: format!("{} ~ {}", c.opens_on, c.closes_on),
                cap: amount(lang, &kind, c.max_per_company),
                sectors,
            }
        })
        .collect();
    let page = ProgrammesPage {
        layout: visit.layout(&console, lang.t("programmes-title"), "programmes"),
        pools,
        programmes,
        can_add_pool: visit.has_role("ADMIN"),
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

/// What was typed, by field name (a call's industries are one check box each).
type Typed = HashMap<String, String>;

fn typed<'a>(form: &'a Typed, name: &str) -> &'a str {
    form.get(name).map_or("", |v| v.as_str())
}

fn pool_fields(lang: Lang, form: &Typed) -> Vec<Field> {
    vec![
        Field::new(lang, "name", "pool-name", "text", "off").value(typed(form, "name")),
        Field::select(
            lang,
            "kind",
            "pool-kind",
            choices(lang, "resource", &KINDS, typed(form, "kind")),
        ),
        Field::number(lang, "capacity", "pool-capacity-typed")
            .hint(lang.t("pool-capacity-hint"))
            .value(typed(form, "capacity")),
        Field::select(
            lang,
            "funding",
            "pool-funding",
            choices(lang, "funding", &FUNDING, typed(form, "funding")),
        ),
        Field::new(lang, "valid_from", "pool-valid-from", "date", "off")
            .value(typed(form, "valid_from")),
        Field::new(lang, "valid_until", "pool-valid-until", "date", "off")
            .value(typed(form, "valid_until")),
    ]
}

/// The two forms of these pages.
const POOL_FORM: OwnForm = OwnForm {
    title_key: "programmes-add-pool",
    action: "/programmes/pools/new",
    section: "programmes",
    once: false,
};
const CALL_FORM: OwnForm = OwnForm {
    title_key: "programmes-open-call",
    action: "/programmes/new",
    section: "programmes",
    once: false,
};

/// Admins only: a pool is the data center's capacity given to the programme.
async fn require_admin(console: &Console, visit: &mut Visit) -> Result<String, Response> {
    let token = require_staff(console, visit).await?;
    if visit.has_role("ADMIN") {
        Ok(token)
    } else {
        Err(forbidden_page(console, visit).await)
    }
}

pub async fn new_pool(State(console): State<Console>, mut visit: Visit) -> Response {
    if let Err(response) = require_admin(&console, &mut visit).await {
        return response;
    }
    let fields = pool_fields(visit.lang, &Typed::new());
    POOL_FORM
        .show(&console, &mut visit, fields, None, StatusCode::OK)
        .await
}

pub async fn create_pool(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<Typed>,
) -> Response {
    let token = match visit.require_sign_in_to_post(&console, &form).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    if !visit.has_role("ADMIN") {
        return forbidden_page(&console, &mut visit).await;
    }
    let lang = visit.lang;
    let mut fields = pool_fields(lang, &form);
    if !visit.posted_by_session(typed(&form, "csrf")) {
        let notice = Some(lang.t("notice-stale-form"));
        return POOL_FORM
            .show(&console, &mut visit, fields, notice, StatusCode::FORBIDDEN)
            .await;
    }
    let mut capacity = 0;
    let complete = check_required(lang, &mut fields);
    let numbered = read_number(lang, &mut fields, "capacity", &mut capacity)
        && within_limit(
            lang,
            &mut fields,
            "capacity",
            capacity,
            unit_of(typed(&form, "kind")),
        );
    let kind = typed(&form, "kind");
    let input = match (
        complete && numbered,
        enum_value::<create_resource_pool::ResourceKind>(&KINDS, kind),
        enum_value::<create_resource_pool::FundingSource>(&FUNDING, typed(&form, "funding")),
        capacity.checked_mul(unit_of(kind)),
    ) {
        (true, Some(kind), Some(funding), Some(capacity)) => {
            create_resource_pool::ResourcePoolInput {
                name: typed(&form, "name").trim().to_owned(),
                kind,
                capacity,
                funding,
                valid_from: typed(&form, "valid_from").trim().to_owned(),
                valid_until: typed(&form, "valid_until").trim().to_owned(),
            }
        }
        _ => {
            let error = Some(lang.t("form-fix-fields"));
            return POOL_FORM
                .show(&console, &mut visit, fields, error, StatusCode::BAD_REQUEST)
                .await;
        }
    };
    let created = console
        .api
        .run::<api::CreateResourcePool>(
            Some(&token),
            &visit.client_address,
            create_resource_pool::Variables { input },
        )
        .await;
    let api_fields = [("validFrom", "valid_from"), ("validUntil", "valid_until")];
    POOL_FORM
        .after(
            &console,
            &mut visit,
            created.map(drop),
            ("notice-pool-added", "/programmes"),
            fields,
            &api_fields,
        )
        .await
}

/// The pools a call may draw on: (id, name, kind).
fn pools_of(data: &programme_admin::ResponseData) -> Vec<(String, String, String)> {
    data.resource_pools
        .iter()
        .map(|p| (p.id.clone(), p.name.clone(), format!("{:?}", p.kind)))
        .collect()
}

fn call_fields(lang: Lang, form: &Typed, pools: &[(String, String, String)]) -> Vec<Field> {
    let chosen = typed(form, "pool_id");
    let options = pools
        .iter()
        .map(|(id, name, kind)| Choice {
            value: id.clone(),
            label: format!("{name} ({})", lang.t(&label_key("resource", kind))),
            selected: id == chosen,
        })
        .collect();
    let mut fields = vec![
        Field::select(lang, "pool_id", "call-pool", options),
        Field::new(lang, "name", "call-name", "text", "off").value(typed(form, "name")),
        Field::new(lang, "opens_on", "call-opens-on", "date", "off").value(typed(form, "opens_on")),
        Field::new(lang, "closes_on", "call-closes-on", "date", "off")
            .value(typed(form, "closes_on")),
        Field::number(lang, "max_per_company", "call-cap-typed")
            .hint(lang.t("pool-capacity-hint"))
            .value(typed(form, "max_per_company")),
    ];
    let boxes = SECTOR_BOXES
        .iter()
        .map(|(name, sector)| Choice {
            value: (*name).to_owned(),
            label: lang.t(&label_key("sector", sector)),
            selected: !typed(form, name).is_empty(),
        })
        .collect();
    fields.push(
        Field::checkboxes(lang, "sectors", "call-sectors", boxes).hint(lang.t("call-sectors-hint")),
    );
    fields
}

pub async fn new_call(State(console): State<Console>, mut visit: Visit) -> Response {
    let token = match require_staff(&console, &mut visit).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let data = match fetch(&console, &visit, &token).await {
        Ok(data) => data,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let pools = pools_of(&data);
    if pools.is_empty() {
        // A call draws on a pool; only an admin can add one.
        return visit
            .redirect_with_notice(&console, "programmes-no-pools", "/programmes")
            .await;
    }
    let fields = call_fields(visit.lang, &Typed::new(), &pools);
    CALL_FORM
        .show(&console, &mut visit, fields, None, StatusCode::OK)
        .await
}

pub async fn create_call(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<Typed>,
) -> Response {
    let token = match visit.require_sign_in_to_post(&console, &form).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    if !visit.is_staff() {
        return forbidden_page(&console, &mut visit).await;
    }
    let lang = visit.lang;
    let data = match fetch(&console, &visit, &token).await {
        Ok(data) => data,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let pools = pools_of(&data);
    let mut fields = call_fields(lang, &form, &pools);
    if !visit.posted_by_session(typed(&form, "csrf")) {
        let notice = Some(lang.t("notice-stale-form"));
        return CALL_FORM
            .show(&console, &mut visit, fields, notice, StatusCode::FORBIDDEN)
            .await;
    }
    let mut cap = 0;
    let complete = check_required(lang, &mut fields);
    let pool = pools
        .iter()
        .find(|(id, _, _)| id == typed(&form, "pool_id"));
    let unit = pool.map_or(3600, |(_, _, kind)| unit_of(kind));
    let numbered = read_number(lang, &mut fields, "max_per_company", &mut cap)
        && within_limit(lang, &mut fields, "max_per_company", cap, unit);
    let cap = pool.and_then(|(_, _, kind)| cap.checked_mul(unit_of(kind)));
    let sectors = SECTOR_BOXES
        .iter()
        .filter(|(name, _)| typed(&form, name) == "on")
        .filter_map(|(_, sector)| enum_value::<create_voucher_program::Sector>(&SECTORS, sector))
        .collect();
    let input = match (complete && numbered, pool, cap) {
        (true, Some((pool_id, _, _)), Some(cap)) => create_voucher_program::VoucherProgramInput {
            pool_id: pool_id.clone(),
            name: typed(&form, "name").trim().to_owned(),
            opens_on: typed(&form, "opens_on").trim().to_owned(),
            closes_on: typed(&form, "closes_on").trim().to_owned(),
            max_per_company: cap,
            sectors: Some(sectors),
        },
        _ => {
            let error = Some(lang.t("form-fix-fields"));
            return CALL_FORM
                .show(&console, &mut visit, fields, error, StatusCode::BAD_REQUEST)
                .await;
        }
    };
    let created = console
        .api
        .run::<api::CreateVoucherProgram>(
            Some(&token),
            &visit.client_address,
            create_voucher_program::Variables { input },
        )
        .await;
    let api_fields = [
        ("poolId", "pool_id"),
        ("opensOn", "opens_on"),
        ("closesOn", "closes_on"),
        ("maxPerCompany", "max_per_company"),
    ];
    CALL_FORM
        .after(
            &console,
            &mut visit,
            created.map(drop),
            ("notice-call-opened", "/programmes"),
            fields,
            &api_fields,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_typed_in_hours_or_gb_days() {
        assert_eq!(unit_of("GPU_H100"), 3600);
        assert_eq!(unit_of("NPU"), 3600);
        assert_eq!(unit_of("STORAGE"), 1);
    }

    #[test]
    fn amounts_past_the_platform_bound_are_marked_in_the_unit_typed() {
        let mut fields = vec![Field::number(Lang::Ko, "capacity", "pool-capacity-typed")];
        assert!(within_limit(
            Lang::Ko,
            &mut fields,
            "capacity",
            10_000,
            3600
        ));
        assert!(fields[0].error.is_none());
        let most = MAX_BASE_AMOUNT / 3600;
        assert!(!within_limit(
            Lang::Ko,
            &mut fields,
            "capacity",
            most + 1,
            3600
        ));
        let error = fields[0].error.clone().unwrap_or_default();
        assert!(error.contains(&grouped(most)), "{error}");
    }

    #[test]
    fn a_call_form_keeps_its_ticked_industries() {
        let mut form = Typed::new();
        form.insert("sector_ENERGY".into(), "on".into());
        let pools = vec![("p1".into(), "H100".into(), "GPU_H100".into())];
        let fields = call_fields(Lang::Ko, &form, &pools);
        let ticked: Vec<_> = fields
            .iter()
            .filter(|f| f.kind == "checkboxes")
            .flat_map(|f| &f.options)
            .filter(|o| o.selected)
            .map(|o| o.value.as_str())
            .collect();
        assert_eq!(ticked, ["sector_ENERGY"]);
    }
}
