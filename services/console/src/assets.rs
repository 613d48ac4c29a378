//! The console's static files, embedded in the binary (offices on separated networks reach no
//! CDN): the KRDS component kit, the Pretendard GOV font, htmx and the console's own CSS. Each
//! is served under a name carrying its content hash, so browsers keep it for a year and a new
//! build never meets a stale copy. KRDS's icon references are rewritten to those names.

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Files;

/// One file as served.
struct Asset {
    content_type: &'static str,
    body: Cow<'static, [u8]>,
}

/// Every embedded file under its hashed name, and the hashed name of each logical one.
pub struct Assets {
    served: HashMap<String, Asset>,
    urls: HashMap<String, String>,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("woff2") => "font/woff2",
        Some("txt") | Some("md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn short_hash(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(bytes)[..6])
}

/// `dir/name.ext` -> `dir/name.<hash>.ext`.
fn hashed_name(path: &str, hash: &str) -> String {
    match path.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{path}.{hash}"),
    }
}

/// Points every `url(...)` naming a KRDS icon at its served name, and drops `@import`s (the
/// console links each stylesheet itself).
fn rewrite_css(css: &str, urls: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("url(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 4..];
        let Some(end) = after.find(')') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let target = after[..end].trim_matches(|c| c == '"' || c == '\'');
        // A path from the assets' root (the console's own sheets), else a KRDS icon by name
        // (KRDS's sheets point into the kit's own folders).
        let icon = urls.get(target).or_else(|| {
            target
                .rsplit('/')
                .next()
                .and_then(|name| urls.get(&format!("vendor/krds/icons/{name}")))
        });
        match icon {
            Some(url) => out.push_str(&format!("url({url})")),
            None => out.push_str(&rest[start..start + 4 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out.lines()
        .filter(|line| !line.trim_start().starts_with("@import"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Assets {
    pub fn load() -> Arc<Self> {
        let mut served = HashMap::new();
        let mut urls = HashMap::new();
        // Everything but stylesheets first, so stylesheets can name them.
        let mut sheets = Vec::new();
        for path in Files::iter() {
            let Some(file) = Files::get(&path) else {
                continue;
            };
            if path.ends_with(".css") {
                sheets.push((path.to_string(), file.data));
                continue;
            }
            let name = hashed_name(&path, &short_hash(&file.data));
            urls.insert(path.to_string(), format!("/assets/{name}"));
            served.insert(
                name,
                Asset {
                    content_type: content_type(&path),
                    body: file.data,
                },
            );
        }
        for (path, data) in sheets {
            let css = rewrite_css(&String::from_utf8_lossy(&data), &urls);
            let name = hashed_name(&path, &short_hash(css.as_bytes()));
            urls.insert(path.clone(), format!("/assets/{name}"));
            served.insert(
                name,
                Asset {
                    content_type: content_type(&path),
                    body: Cow::Owned(css.into_bytes()),
                },
            );
        }
        Arc::new(Self { served, urls })
    }

    /// The URL a page links for the logical file `path` (e.g. `console.css`).
    pub fn url(&self, path: &str) -> &str {
        self.urls
            .get(path)
            .map_or("/assets/missing", String::as_str)
    }

    /// Hashed names, for tests.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.served.keys().map(String::as_str)
    }
}

pub async fn serve(State(assets): State<Arc<Assets>>, Path(name): Path<String>) -> Response {
    match assets.served.get(&name) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            asset.body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn stylesheets_name_only_embedded_files() {
        let assets = Assets::load();
        for sheet in [
            "vendor/krds/component.css",
            "vendor/krds/common.css",
            "console.css",
        ] {
            let url = assets.url(sheet);
            let name = url.trim_start_matches("/assets/");
            let css = String::from_utf8_lossy(&assets.served[name].body).into_owned();
            assert!(!css.contains("@import"), "{sheet}");
            let mut rest = css.as_str();
            while let Some(start) = rest.find("url(") {
                let after = &rest[start + 4..];
                let end = after.find(')').unwrap();
                let target = after[..end].trim_matches(|c| c == '"' || c == '\'');
                assert!(
                    target.starts_with("data:")
                        || target
                            .strip_prefix("/assets/")
                            .is_some_and(|n| assets.served.contains_key(n)),
                    "{sheet} names {target}, which is not served"
                );
                rest = &after[end + 1..];
            }
        }
    }

    #[test]
    fn names_carry_the_content_hash() {
        let assets = Assets::load();
        let url = assets.url("vendor/htmx/htmx.min.js");
        assert!(url.starts_with("/assets/vendor/htmx/htmx.min."), "{url}");
        assert!(url.ends_with(".js"));
        assert_eq!(assets.url("nope.css"), "/assets/missing");
    }
}
