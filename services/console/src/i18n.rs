//! Messages in Fluent: Korean by default, English complete. The language comes from the
//! person's choice (a cookie the header's switch sets), then the browser's Accept-Language.

use std::collections::HashMap;

use axum::http::HeaderMap;
use fluent_templates::{Loader, fluent_bundle::FluentValue, static_loader};
use unic_langid::{LanguageIdentifier, langid};

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "ko",
        // No Unicode isolation marks around arguments: they show up in titles and e-mail.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The cookie that keeps the language the person chose.
pub const LANG_COOKIE: &str = "axv_lang";

/// The cookie that keeps a chosen language for a year.
pub fn language_cookie(lang: Lang) -> String {
    format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ko,
    En,
}

static KO: LanguageIdentifier = langid!("ko");
static EN: LanguageIdentifier = langid!("en");

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "ko" => Some(Lang::Ko),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language, for the header's switch.
    pub fn other(self) -> Self {
        match self {
            Lang::Ko => Lang::En,
            Lang::En => Lang::Ko,
        }
    }

    fn id(self) -> &'static LanguageIdentifier {
        match self {
            Lang::Ko => &KO,
            Lang::En => &EN,
        }
    }

    /// The person's choice, else the first of Accept-Language's languages the console speaks.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_headers_or(headers, None)
    }

    /// The language switch's cookie, else the person's `setting`, else `Accept-Language`.
    pub fn from_headers_or(headers: &HeaderMap, setting: Option<Lang>) -> Self {
        if let Some(chosen) = cookie(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)) {
            return chosen;
        }
        if let Some(setting) = setting {
            return setting;
        }
        let accepted = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mut ranked: Vec<(f32, Lang)> = accepted
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim();
                let lang = Lang::parse(tag.split('-').next()?)?;
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q=")?.parse::<f32>().ok())
                    .unwrap_or(1.0);
                Some((q, lang))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map_or(Lang::Ko, |(_, lang)| *lang)
    }

    /// The message `key`; the key itself if it is missing (a test keeps that from happening).
    pub fn t(self, key: &str) -> String {
        LOCALES
            .try_lookup(self.id(), key)
            .unwrap_or_else(|| key.to_owned())
    }

    /// The message `key` with named arguments.
    pub fn t_with(self, key: &str, args: &[(&str, String)]) -> String {
        let args: HashMap<std::borrow::Cow<'static, str>, FluentValue<'_>> = args
            .iter()
            .map(|(name, value)| ((*name).to_owned().into(), FluentValue::from(value.clone())))
            .collect();
        LOCALES
            .try_lookup_with_args(self.id(), key, &args)
            .unwrap_or_else(|| key.to_owned())
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;

    use super::*;

    fn keys(lang: &str) -> BTreeSet<String> {
        let path = format!("{}/locales/{lang}/main.ftl", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|line| line.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .filter_map(|line| line.split_once(" =").map(|(key, _)| key.trim().to_owned()))
            .collect()
    }

    #[test]
    fn every_message_exists_in_korean_and_english() {
        let (ko, en) = (keys("ko"), keys("en"));
        assert!(ko.len() > 50, "{}", ko.len());
        let only_ko: Vec<_> = ko.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&ko).collect();
        assert!(only_ko.is_empty(), "missing in en: {only_ko:?}");
        assert!(only_en.is_empty(), "missing in ko: {only_en:?}");
    }

    /// Every `t("...")` and `t_with("...")` in the templates and the code names a message.
    #[test]
    fn every_key_used_is_defined() {
        let ko = keys("ko");
        let root = env!("CARGO_MANIFEST_DIR");
        let mut used = BTreeSet::new();
        let mut files = Vec::new();
        for dir in ["templates", "src", "src/pages"] {
            for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    files.push(path);
                }
            }
        }
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            for marker in ["t(\"", "t_with(\"", "key: \""] {
                for (i, _) in text.match_indices(marker) {
                    // `t(` itself, not the end of `chart(` or `insert(`.
                    let before = text[..i].chars().next_back();
                    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        continue;
                    }
                    let rest = &text[i + marker.len()..];
                    if let Some(end) = rest.find('"') {
                        let key = &rest[..end];
                        if !key.is_empty()
                            && key
                                .chars()
                                .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit())
                        {
                            used.insert((key.to_owned(), path.display().to_string()));
                        }
                    }
                }
            }
        }
        assert!(used.len() > 30, "{}", used.len());
        let missing: Vec<_> = used.iter().filter(|(key, _)| !ko.contains(key)).collect();
        assert!(missing.is_empty(), "{missing:?}");
    }

    /// Every value of the API's enums the pages show has its label (the schema adds values
    /// over time; a page must never print `DOMAIN-NEW_THING`).
    #[test]
    fn every_enum_value_shown_has_a_label() {
        let schema = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../gateway/schema.graphql"
        ))
        .unwrap();
        let ko = keys("ko");
        for (enum_name, prefix) in [
            ("PilotDomain", "domain"),
            ("PilotStatus", "status"),
            ("Sector", "sector"),
            ("GwangjuPresence", "presence"),
            ("CompanyStatus", "company-status"),
            ("Role", "role"),
            ("VoucherStatus", "voucher-status"),
            ("VoucherApplicationStatus", "application-status"),
            ("ResourceKind", "resource"),
        ] {
            let start = schema
                .find(&format!("enum {enum_name} {{"))
                .unwrap_or_else(|| panic!("enum {enum_name}"));
            let body = &schema[start..];
            let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
            let mut in_doc = false;
            for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let quotes = "\"\"\"";
                if line.starts_with(quotes) {
                    // `"""text"""` on one line opens and closes a description.
                    if !(line.len() > 6 && line.ends_with(quotes)) {
                        in_doc = !in_doc;
                    }
                    continue;
                }
                if in_doc {
                    continue;
                }
                let key = crate::pages::label_key(prefix, line);
                assert!(ko.contains(&key), "no label {key} for {enum_name}.{line}");
            }
        }
    }

    #[test]
    fn the_choice_wins_then_the_browser_then_korean() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::from_headers(&headers), Lang::Ko);
        headers.insert(
            "accept-language",
            "en-US,en;q=0.9,ko;q=0.8".parse().unwrap(),
        );
        assert_eq!(Lang::from_headers(&headers), Lang::En);
        headers.insert(
            "accept-language",
            "fr;q=1,ko;q=0.5,en;q=0.4".parse().unwrap(),
        );
        assert_eq!(Lang::from_headers(&headers), Lang::Ko);
        headers.insert("cookie", "a=b; axv_lang=en".parse().unwrap());
        assert_eq!(Lang::from_headers(&headers), Lang::En);
        assert_eq!(Lang::En.t("nav-home"), "Home");
        assert_eq!(Lang::Ko.t("nav-home"), "홈");
    }
}
