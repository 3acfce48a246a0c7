//! Names as downstream apps see them: usernames, e-mail addresses and group names travel in
//! identity headers (`Remote-User`, `Remote-Email`, `Remote-Groups`, `X-Organizr-*`), where an
//! app may compare them with other case rules or split a list on `,`.
//!
//! Must never: accept a name with characters that do not show (format characters such as the
//! zero-width space, soft hyphen, byte-order mark, bidi controls), nor let two names that render
//! alike compare as different. [`name_key`] is the comparison: NFKC, full case folding, then the
//! confusable skeleton of Unicode TS #39 (so `аdmin` with a Cyrillic `а`, `admın` and `ſam`
//! meet `admin`, `admin` and `sam`).

use caseless::default_case_fold_str;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::GeneralSecurityProfile;

/// Characters that split a list in a header value (Authelia's `Remote-Groups` convention is
/// comma-separated; some apps also split on `;`).
pub const LIST_SEPARATORS: [char; 2] = [',', ';'];

/// A name in Unicode compatibility form (NFKC): full-width letters, ligatures and the long `ſ`
/// become their plain forms. New names are stored this way.
pub fn normalise(name: &str) -> String {
    name.nfkc().collect()
}

/// The key two names share when they look alike: NFKC, full case folding, TS #39 skeleton
/// (which also drops default-ignorable characters), folded again because some prototypes
/// are capitals. Only for comparison, never for display.
pub fn name_key(name: &str) -> String {
    let folded = default_case_fold_str(&normalise(name));
    let skeleton: String = unicode_security::skeleton(&folded).collect();
    default_case_fold_str(&skeleton)
}

/// True for a character that does not show or changes how its neighbours show: control,
/// format (Cf: zero-width space, soft hyphen, BOM, bidi controls), default-ignorable (Hangul
/// fillers, variation selectors), and line or paragraph separators.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
        || c.identifier_type() == Some(IdentifierType::Default_Ignorable)
}

/// True when a name holds a character that does not show (see [`is_invisible`]).
pub fn has_invisible(name: &str) -> bool {
    name.chars().any(is_invisible)
}

/// True when a value would read as more than one item to an app that splits a header list,
/// before or after NFKC (full-width `，` becomes `,`).
pub fn has_list_separator(value: &str) -> bool {
    let splits = |c: char| LIST_SEPARATORS.contains(&c);
    value.chars().any(splits) || normalise(value).chars().any(splits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_share_a_key() {
        let admin = name_key("admin");
        for look_alike in [
            "Admin",
            "ADMIN",
            "\u{430}dmin",   // Cyrillic а
            "adm\u{131}n",   // dotless ı
            "ａｄｍｉｎ",    // full-width
            "admin\u{200b}", // zero-width space (dropped by the skeleton)
        ] {
            assert_eq!(name_key(look_alike), admin, "{look_alike:?}");
        }
        assert_eq!(name_key("\u{17f}am"), name_key("sam"), "long s");
        assert_eq!(
            name_key("Stra\u{df}e"),
            name_key("STRASSE"),
            "full case folding"
        );
        assert_ne!(name_key("alice"), name_key("bob"));
        assert_ne!(name_key("sam"), name_key("pam"));
    }

    #[test]
    fn invisible_and_direction_characters_are_found() {
        for c in [
            '\u{200b}', // zero-width space
            '\u{ad}',   // soft hyphen
            '\u{feff}', // byte-order mark
            '\u{202e}', // right-to-left override
            '\u{2066}', // left-to-right isolate
            '\u{200f}', // right-to-left mark
            '\u{61c}',  // Arabic letter mark
            '\u{3164}', // Hangul filler
            '\u{2028}', // line separator
            '\u{7}',
        ] {
            assert!(is_invisible(c), "{:04x}", c as u32);
            assert!(has_invisible(&format!("admin{c}")));
        }
        for c in ['a', 'ö', '日', ' ', '-', '\u{430}'] {
            assert!(!is_invisible(c), "{c}");
        }
    }

    #[test]
    fn list_separators_before_and_after_normalisation() {
        assert!(has_list_separator("Friends, admins"));
        assert!(has_list_separator("a;b"));
        assert!(has_list_separator("Friends\u{ff0c} admins"));
        assert!(!has_list_separator("Power User"));
    }
}
