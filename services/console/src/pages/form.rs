//! What every form shares: one labelled field (input, select, text area or check box) with its
//! hint and its error, the page that shows a list of them, refusals placed beside the field
//! they are about, and numbers typed as people type them (`1,200`, `₩3,000,000`).

use askama::Template;
use axum::{http::StatusCode, response::Response};
use serde::{Deserialize, Serialize};

use super::Choice;
use crate::{Console, Layout, Visit, api::ApiError, i18n::Lang, render};

/// A form that only acts (submit, start, sign out...): its CSRF token and nothing else.
#[derive(Deserialize, Serialize, Default)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

/// One input of a form as the template shows it, keeping what the person typed.
pub struct Field {
    pub name: &'static str,
    pub label: String,
    /// An `<input>` type (`text`, `email`, `password`, `date`), or `select`, `textarea`,
    /// `checkbox`, `checkboxes` or `radios` (a group under one legend).
    pub kind: &'static str,
    pub value: String,
    pub autocomplete: &'static str,
    pub required: bool,
    /// `numeric` brings up a number pad on phones without the browser's own number rules.
    pub inputmode: &'static str,
    pub hint: Option<String>,
    pub error: Option<String>,
    /// For a `select`; for `checkboxes`, one box each (its field name, label and whether it
    /// is ticked).
    pub options: Vec<Choice>,
}

impl Field {
    pub fn new(
        lang: Lang,
        name: &'static str,
        label_key: &str,
        kind: &'static str,
        autocomplete: &'static str,
    ) -> Self {
        Self {
            name,
            label: lang.t(label_key),
            kind,
            value: String::new(),
            autocomplete,
            required: true,
            inputmode: "",
            hint: None,
            error: None,
            options: Vec::new(),
        }
    }

    /// A text field the person may leave empty.
    pub fn optional(lang: Lang, name: &'static str, label_key: &str) -> Self {
        Self::new(lang, name, label_key, "text", "off")
            .not_required()
            .hint(lang.t("optional"))
    }

    /// Check boxes that answer one question, under one legend (`fieldset`), so a screen reader
    /// reads the question with each box. Never required: none ticked is an answer.
    pub fn checkboxes(
        lang: Lang,
        name: &'static str,
        legend_key: &str,
        boxes: Vec<Choice>,
    ) -> Self {
        let mut field = Self::new(lang, name, legend_key, "checkboxes", "off").not_required();
        field.options = boxes;
        field
    }

    /// One choice among `options` as radio buttons under one legend; `hint` says what the
    /// question covers.
    pub fn radios(name: &'static str, legend: String, hint: String, options: Vec<Choice>) -> Self {
        Self {
            name,
            label: legend,
            kind: "radios",
            value: options
                .iter()
                .find(|o| o.selected)
                .map(|o| o.value.clone())
                .unwrap_or_default(),
            autocomplete: "off",
            required: false,
            inputmode: "",
            hint: Some(hint),
            error: None,
            options,
        }
    }

    /// A whole number (people may type `1,200`).
    pub fn number(lang: Lang, name: &'static str, label_key: &str) -> Self {
        let mut field = Self::new(lang, name, label_key, "text", "off");
        field.inputmode = "numeric";
        field
    }

    pub fn select(lang: Lang, name: &'static str, label_key: &str, options: Vec<Choice>) -> Self {
        let mut field = Self::new(lang, name, label_key, "select", "off");
        field.value = options
            .iter()
            .find(|o| o.selected)
            .map(|o| o.value.clone())
            .unwrap_or_default();
        field.options = options;
        field
    }

    pub fn value(mut self, value: &str) -> Self {
        self.value = value.to_owned();
        self
    }

    pub fn hint(mut self, hint: String) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn not_required(mut self) -> Self {
        self.required = false;
        self
    }

    pub fn checked(&self) -> bool {
        !self.value.is_empty()
    }
}

/// The fields of a form, found by name to put a mistake beside one.
pub trait Fields {
    fn set_error(&mut self, name: &str, error: String);
}

impl Fields for [Field] {
    fn set_error(&mut self, name: &str, error: String) {
        if let Some(field) = self.iter_mut().find(|f| f.name == name) {
            field.error = Some(error);
        }
    }
}

/// A page with one form: its fields, its buttons, and what went wrong above them.
#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    pub layout: Layout,
    pub heading: String,
    /// A sentence under the heading (what the form is for).
    pub intro: Option<String>,
    pub action: String,
    /// Values the form carries without showing them as fields: (name, value).
    pub hidden: Vec<(String, String)>,
    pub submit: String,
    /// With a "save as draft" button beside the main one, both named `action` (`draft`,
    /// `submit`).
    pub draft: Option<String>,
    pub error: Option<String>,
    pub fields: Vec<Field>,
    /// Lines under the form: (text, link text, link).
    pub aside: Vec<(String, String, String)>,
}

/// A page with one form of its own (not a step of a longer journey): its title (heading and
/// button), where it posts, and the menu entry it is under.
#[derive(Clone, Copy)]
pub struct OwnForm {
    pub title_key: &'static str,
    pub action: &'static str,
    pub section: &'static str,
    /// It hands over a secret, so it acts once however often it is sent (`pages::once`).
    pub once: bool,
}

impl OwnForm {
    pub async fn show(
        self,
        console: &Console,
        visit: &mut Visit,
        fields: Vec<Field>,
        error: Option<String>,
        status: StatusCode,
    ) -> Response {
        let title = visit.lang.t(self.title_key);
        let page = FormPage {
            layout: visit.layout(console, title.clone(), self.section),
            heading: title.clone(),
            intro: None,
            action: self.action.to_owned(),
            hidden: if self.once {
                vec![(super::once::FIELD.to_owned(), super::once::token())]
            } else {
                Vec::new()
            },
            submit: title,
            draft: None,
            error,
            fields,
            aside: Vec::new(),
        };
        visit.respond(console, status, render(&page)).await
    }

    /// After the form was sent: `to` with `notice`, or the form again with the refusal beside
    /// its field (`api_fields`: the API's input names to the form's), or the error page for a
    /// refusal the form cannot help with.
    pub async fn after(
        self,
        console: &Console,
        visit: &mut Visit,
        sent: Result<(), ApiError>,
        (notice, to): (&str, &str),
        mut fields: Vec<Field>,
        api_fields: &[(&str, &'static str)],
    ) -> Response {
        match sent {
            Ok(()) => visit.redirect_with_notice(console, notice, to).await,
            Err(error) if error.code == "BAD_USER_INPUT" => {
                let sentence = place_error(visit.lang, &error, &mut fields, api_fields);
                self.show(
                    console,
                    visit,
                    fields,
                    Some(sentence),
                    StatusCode::BAD_REQUEST,
                )
                .await
            }
            Err(error) => super::error_page(console, visit, &error).await,
        }
    }
}

/// Puts an API refusal beside the field it is about (`api_fields` maps the API's input names
/// to the form's), else above the form. Answers the sentence for above the form.
pub fn place_error(
    lang: Lang,
    error: &ApiError,
    fields: &mut [Field],
    api_fields: &[(&str, &'static str)],
) -> String {
    let sentence = lang.t_with(error.message_key(), &[("detail", error.message.clone())]);
    for field in fields.iter_mut() {
        let api_name = api_fields
            .iter()
            .find(|(_, form)| *form == field.name)
            .map_or(field.name, |(api, _)| *api);
        if error.is_about(api_name) || error.is_about(&format!("input.{api_name}")) {
            field.error = Some(error.message.clone());
            break;
        }
    }
    sentence
}

/// A new password checked as the API will (its length), and a mismatched confirmation, said in
/// the person's language beside the field: the sentence for above the form, if either is wrong.
pub fn new_password_mistake(
    lang: Lang,
    fields: &mut [Field],
    (name, password): (&str, &str),
    (confirm_name, confirm): (&str, &str),
) -> Option<String> {
    let (field, message) = if password.chars().count() < axv_auth::MIN_PASSWORD_CHARS {
        (name, lang.t("password-too-short"))
    } else if password != confirm {
        (confirm_name, lang.t("signup-mismatch"))
    } else {
        return None;
    };
    fields.set_error(field, message.clone());
    Some(message)
}

/// A whole number as people type it: spaces, thousands separators and a won sign are allowed.
/// `None` for anything else, or a negative number.
pub fn whole_number(text: &str) -> Option<i64> {
    let digits: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | '₩' | '원'))
        .collect();
    digits.parse::<i64>().ok().filter(|n| *n >= 0)
}

/// Reads `field` as a whole number into `out`, marking the field when it is not one (an empty
/// optional field reads as 0).
pub fn read_number(lang: Lang, fields: &mut [Field], name: &str, out: &mut i64) -> bool {
    let Some(field) = fields.iter_mut().find(|f| f.name == name) else {
        return false;
    };
    if field.value.trim().is_empty() {
        if field.required {
            field.error = Some(lang.t("field-required"));
            return false;
        }
        *out = 0;
        return true;
    }
    match whole_number(&field.value) {
        Some(n) => {
            *out = n;
            true
        }
        None => {
            field.error = Some(lang.t("field-whole-number"));
            false
        }
    }
}

/// Marks every empty required field; true when none is.
pub fn check_required(lang: Lang, fields: &mut [Field]) -> bool {
    let mut ok = true;
    for field in fields.iter_mut() {
        if field.required && field.kind != "checkbox" && field.value.trim().is_empty() {
            field.error = Some(lang.t("field-required"));
            ok = false;
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_people_type_them() {
        assert_eq!(whole_number("1,200"), Some(1200));
        assert_eq!(whole_number(" ₩3,000,000 "), Some(3_000_000));
        assert_eq!(whole_number("5000원"), Some(5000));
        assert_eq!(whole_number("-3"), None);
        assert_eq!(whole_number("1.5"), None);
        assert_eq!(whole_number("열"), None);
    }

    #[test]
    fn a_refusal_lands_beside_its_field() {
        let lang = Lang::Ko;
        let mut fields = vec![
            Field::new(lang, "title", "pilot-title", "text", "off"),
            Field::number(lang, "budget_city", "pilot-budget-city"),
        ];
        let error = ApiError {
            code: "BAD_USER_INPUT".into(),
            message: "budgetCity must not be negative".into(),
            field: Some("budgetCity".into()),
            ..ApiError::default()
        };
        place_error(lang, &error, &mut fields, &[("budgetCity", "budget_city")]);
        assert!(fields[1].error.is_some());
        assert!(fields[0].error.is_none());
    }

    #[test]
    fn empty_required_fields_are_marked_and_optional_numbers_read_as_zero() {
        let lang = Lang::Ko;
        let mut fields = vec![
            Field::new(lang, "title", "pilot-title", "text", "off"),
            Field::number(lang, "papers", "report-papers").not_required(),
        ];
        assert!(!check_required(lang, &mut fields));
        assert!(fields[0].error.is_some());
        let mut papers = -1;
        assert!(read_number(lang, &mut fields, "papers", &mut papers));
        assert_eq!(papers, 0);
    }
}
