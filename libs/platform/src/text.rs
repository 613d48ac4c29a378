//! Text as people type it. Korean arrives composed (NFC) from most keyboards and decomposed
//! (NFD) from macOS, and Latin letters may come full-width from Korean input methods; the same
//! word must be stored once and found whichever way it was typed.

use unicode_normalization::{UnicodeNormalization, is_nfc_quick};

/// `text` in NFC, the form the platform stores; borrowed work is skipped when it already is.
/// Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or carriage return
/// first), kept as text by a leading apostrophe: for every CSV cell people typed.
pub fn defuse_formula(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

pub fn nfc(text: &str) -> String {
    if is_nfc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes {
        text.to_owned()
    } else {
        text.nfc().collect()
    }
}

/// The form a name is searched by: compatibility-composed (NFKC folds full-width Latin and
/// digits to ASCII and composes Hangul) and lowercased, so case, width and composition
/// differences never hide a match.
pub fn search_key(text: &str) -> String {
    text.nfkc().collect::<String>().to_lowercase()
}

/// A `LIKE ... ESCAPE '\'` pattern matching values whose search key contains `term`'s.
pub fn contains_pattern(term: &str) -> String {
    let escaped = search_key(term.trim())
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPOSED: &str = "광주에이아이";

    fn decomposed() -> String {
        COMPOSED.nfd().collect()
    }

    #[test]
    fn decomposed_korean_is_stored_composed() {
        assert_ne!(decomposed(), COMPOSED);
        assert_eq!(nfc(&decomposed()), COMPOSED);
        assert_eq!(nfc(COMPOSED), COMPOSED);
    }

    #[test]
    fn search_keys_ignore_composition_width_and_case() {
        for typed in [
            format!("{}AI랩", decomposed()),
            format!("{COMPOSED}ai랩"),
            format!("{COMPOSED}ＡＩ랩"),
            format!("{COMPOSED}ａｉ랩"),
        ] {
            assert_eq!(search_key(&typed), format!("{COMPOSED}ai랩"), "{typed}");
        }
    }

    #[test]
    fn patterns_escape_like_wildcards() {
        assert_eq!(contains_pattern(" 50%_off\\ "), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern("ＡＩ"), "%ai%");
    }
}
