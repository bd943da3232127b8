//! Validated request values and the records the service keeps.
//!
//! Parsing happens once, at the edge: a `LoginId` or `Code` that exists is
//! valid, so the service never re-checks raw strings.

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use serde_json::{Map, Value};

use crate::error::Error;

/// Longest loginId accepted, in characters.
pub const MAX_LOGIN_ID_CHARS: usize = 256;
/// Longest profile field (name parts) accepted, in characters.
pub const MAX_PROFILE_FIELD_CHARS: usize = 256;

/// A project this deployment serves. Validated against configuration by the
/// HTTP layer; the type only guarantees it is safe inside a storage key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectId(String);

impl ProjectId {
    /// Project ids are ASCII letters and digits (Descope's are `P2…`), which
    /// keeps `project#loginId` storage keys unambiguous.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| ProjectId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The identifier a user signs in with (usually an email address).
///
/// One rule wherever a loginId enters (every route's body, the management
/// query), so that two users can never look the same:
/// - Unicode NFC: the composed and decomposed spellings of "Zoë" are one user;
/// - refused (E011003): control and format characters (zero-width spaces and
///   joiners, bidi overrides and isolates, soft hyphen, BOM), line and
///   paragraph separators, private-use characters, and white space at either end;
/// - case is kept and significant: `Alice@…` and `alice@…` are two users;
///   an application that wants case-blind emails lowercases them
///   before calling (case folding is locale-dependent, so we don't guess).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginId(String);

impl LoginId {
    pub fn parse(raw: Option<&str>) -> Result<Self, Error> {
        let raw = raw.unwrap_or_default();
        if raw.is_empty() {
            return Err(Error::MissingArgument("loginId"));
        }
        let normalized: String = match is_nfc_quick(raw.chars()) {
            IsNormalized::Yes => raw.to_owned(),
            _ => raw.nfc().collect(),
        };
        let acceptable = normalized.chars().count() <= MAX_LOGIN_ID_CHARS
            && !normalized.chars().any(is_invisible_or_ambiguous)
            && normalized.trim() == normalized;
        if !acceptable {
            return Err(Error::InvalidArgument("loginId"));
        }
        Ok(LoginId(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that render as nothing, reorder what follows, break a line or
/// mean nothing agreed: a loginId holding one could pass for another.
fn is_invisible_or_ambiguous(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
    )
}

/// A code as typed by the user: six ASCII digits, or eight for a key
/// imported with 8-digit codes (the user's key decides which matches).
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    pub fn parse(raw: Option<&str>) -> Result<Self, Error> {
        let raw = raw.unwrap_or_default();
        if raw.is_empty() {
            return Err(Error::MissingArgument("code"));
        }
        if !matches!(raw.len(), 6 | 8) || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidArgument("code"));
        }
        Ok(Code(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// A code is a credential: keep it out of any Debug output.
impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code(******)")
    }
}

/// Most bytes `loginOptions.customClaims` may take as compact JSON. The
/// session JWT carries them (base64url, a third larger) and often travels as a
/// cookie, which browsers cap at 4 KiB: 1 KiB of claims keeps it near 2 KiB.
pub const MAX_CUSTOM_CLAIMS_BYTES: usize = 1024;
/// Deepest nesting of customClaims; the object itself is level 1.
pub const MAX_CUSTOM_CLAIMS_DEPTH: usize = 4;

/// `loginOptions.customClaims`, within the limits above (E011003 if not);
/// an empty object is none.
pub fn custom_claims(claims: Option<Map<String, Value>>) -> Result<Option<Map<String, Value>>, Error> {
    let Some(claims) = claims.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    fn depth(value: &Value) -> usize {
        match value {
            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    let size = serde_json::to_vec(&claims).map_or(usize::MAX, |bytes| bytes.len());
    let levels = 1 + claims.values().map(depth).max().unwrap_or(0);
    if size > MAX_CUSTOM_CLAIMS_BYTES || levels > MAX_CUSTOM_CLAIMS_DEPTH {
        return Err(Error::InvalidArgument("customClaims"));
    }
    Ok(Some(claims))
}

/// What signup may say about the user; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub given_name: String,
    pub middle_name: String,
    pub family_name: String,
    pub email: String,
    pub phone: String,
}

/// The raw profile fields of a signup body, before validation.
#[derive(Debug, Default)]
pub struct ProfileInput<'a> {
    pub name: Option<&'a str>,
    pub given_name: Option<&'a str>,
    pub middle_name: Option<&'a str>,
    pub family_name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
}

impl Profile {
    pub fn parse(input: ProfileInput<'_>) -> Result<Self, Error> {
        let text = |value: Option<&str>, name: &'static str| -> Result<String, Error> {
            let value = value.unwrap_or_default();
            if value.chars().count() > MAX_PROFILE_FIELD_CHARS || value.chars().any(char::is_control) {
                return Err(Error::InvalidArgument(name));
            }
            Ok(value.to_owned())
        };
        let email = input.email.unwrap_or_default();
        if !email.is_empty() && !is_plausible_email(email) {
            return Err(Error::InvalidArgument("email"));
        }
        let phone = input.phone.unwrap_or_default();
        if !phone.is_empty() && !is_plausible_phone(phone) {
            return Err(Error::InvalidArgument("phone"));
        }
        Ok(Profile {
            name: text(input.name, "name")?,
            given_name: text(input.given_name, "givenName")?,
            middle_name: text(input.middle_name, "middleName")?,
            family_name: text(input.family_name, "familyName")?,
            email: email.to_owned(),
            phone: phone.to_owned(),
        })
    }
}

/// A deliberately modest email check: one `@`, a non-empty local part, a
/// dotted domain, no spaces or control characters, at most 254 characters.
/// Deliverability is the mail system's business, not ours.
pub fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// E.164 in spirit: an optional leading `+`, then 7 to 15 digits, with
/// spaces, dashes, dots and parentheses allowed as separators.
pub fn is_plausible_phone(phone: &str) -> bool {
    let rest = phone.strip_prefix('+').unwrap_or(phone);
    let digits = rest.bytes().filter(u8::is_ascii_digit).count();
    let separators_only = rest
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')'));
    separators_only && (7..=15).contains(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_ids() {
        assert_eq!(LoginId::parse(None), Err(Error::MissingArgument("loginId")));
        assert_eq!(LoginId::parse(Some("")), Err(Error::MissingArgument("loginId")));
        assert!(LoginId::parse(Some("alice@example.com")).is_ok());
        assert!(LoginId::parse(Some("ålice+tötp@例え.jp")).is_ok());
        assert!(LoginId::parse(Some(&"a".repeat(256))).is_ok());
        for bad in [
            &"a".repeat(257) as &str,
            "a\nb",
            "a\u{0}b",
            "tab\t",
            " alice",
            "alice ",
            "alice@example.com\u{200B}",  // zero-width space
            "al\u{200D}ice@example.com",  // zero-width joiner
            "\u{202E}moc.elpmaxe@ecila",  // right-to-left override
            "alice\u{2066}@example.com",  // left-to-right isolate
            "al\u{AD}ice@example.com",    // soft hyphen
            "\u{FEFF}alice@example.com",  // byte order mark
            "alice\u{2028}bob",           // line separator
            "alice\u{2029}bob",           // paragraph separator
            "alice\u{E000}@example.com",  // private use
            "alice\u{F0000}@example.com", // supplementary private use
            "alice\u{85}",                // next line (a C1 control)
            "alice\u{3000}",              // ideographic space at the end
        ] {
            assert_eq!(
                LoginId::parse(Some(bad)),
                Err(Error::InvalidArgument("loginId")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn login_ids_are_nfc_and_keep_their_case() {
        let composed = LoginId::parse(Some("Zo\u{EB}@example.com")).unwrap();
        let decomposed = LoginId::parse(Some("Zoe\u{308}@example.com")).unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(decomposed.as_str(), "Zo\u{EB}@example.com");
        let angstrom = LoginId::parse(Some("\u{212B}ngstr\u{F6}m")).unwrap();
        assert_eq!(
            angstrom.as_str(),
            "\u{C5}ngstr\u{F6}m",
            "singletons map to their NFC form"
        );
        assert_ne!(
            LoginId::parse(Some("Alice@example.com")),
            LoginId::parse(Some("alice@example.com"))
        );
        // The limit counts characters of the normalized form.
        let at_limit = "e\u{301}".repeat(MAX_LOGIN_ID_CHARS);
        assert_eq!(LoginId::parse(Some(&at_limit)).unwrap().as_str().chars().count(), 256);
        assert!(
            LoginId::parse(Some("\u{1F600}+tag@example.com")).is_ok(),
            "emoji are fine"
        );
    }

    #[test]
    fn custom_claims_are_capped_in_size_and_depth() {
        let map = |v: Value| v.as_object().cloned();
        assert_eq!(custom_claims(None), Ok(None));
        assert_eq!(custom_claims(map(serde_json::json!({}))), Ok(None));
        let fine = serde_json::json!({"role": "admin", "n": [1, {"a": {"b": 2}}]});
        assert_eq!(custom_claims(map(fine.clone())), Ok(map(fine)), "depth 4 is fine");
        let deep = serde_json::json!({"n": [1, {"a": {"b": {}}}]});
        assert_eq!(custom_claims(map(deep)), Err(Error::InvalidArgument("customClaims")));
        let deep_array = serde_json::json!({"n": [[[[]]]]});
        assert_eq!(
            custom_claims(map(deep_array)),
            Err(Error::InvalidArgument("customClaims"))
        );
        // {"k":"…"} is 8 bytes around the value.
        let at_limit = serde_json::json!({"k": "x".repeat(MAX_CUSTOM_CLAIMS_BYTES - 8)});
        assert!(custom_claims(map(at_limit)).is_ok());
        let over = serde_json::json!({"k": "x".repeat(MAX_CUSTOM_CLAIMS_BYTES - 7)});
        assert_eq!(custom_claims(map(over)), Err(Error::InvalidArgument("customClaims")));
    }

    #[test]
    fn codes() {
        assert_eq!(Code::parse(None), Err(Error::MissingArgument("code")));
        assert_eq!(Code::parse(Some("")), Err(Error::MissingArgument("code")));
        assert!(Code::parse(Some("012345")).is_ok());
        assert!(Code::parse(Some("01234567")).is_ok());
        for bad in [
            "12345",
            "1234567",
            "123456789",
            "12ab56",
            " 12345",
            "١٢٣٤٥٦",
            "12 456",
            "1234567a",
        ] {
            assert_eq!(Code::parse(Some(bad)), Err(Error::InvalidArgument("code")), "{bad:?}");
        }
        assert_eq!(format!("{:?}", Code::parse(Some("123456")).unwrap()), "Code(******)");
    }

    #[test]
    fn project_ids() {
        assert!(ProjectId::parse("P2abcDEF123").is_some());
        for bad in ["", "P2#x", "P2 x", "P2:x", &"P".repeat(65)] {
            assert!(ProjectId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn emails_and_phones() {
        for good in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert!(is_plausible_email(good), "{good}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a@@b.co", "a b@c.co", "a@.co", "a@b.co.", "a@b..co",
        ] {
            assert!(!is_plausible_email(bad), "{bad}");
        }
        for good in ["+14155550123", "+44 20 7946 0958", "(415) 555-0123"] {
            assert!(is_plausible_phone(good), "{good}");
        }
        for bad in ["", "+", "12345", "+1234567890123456", "phone", "+1 415 555 O123"] {
            assert!(!is_plausible_phone(bad), "{bad}");
        }
    }

    #[test]
    fn profiles() {
        let ok = Profile::parse(ProfileInput {
            name: Some("Alice"),
            email: Some("a@b.co"),
            ..Default::default()
        });
        assert_eq!(ok.unwrap().name, "Alice");
        let bad = Profile::parse(ProfileInput {
            email: Some("nope"),
            ..Default::default()
        });
        assert_eq!(bad, Err(Error::InvalidArgument("email")));
        let bad = Profile::parse(ProfileInput {
            phone: Some("call me"),
            ..Default::default()
        });
        assert_eq!(bad, Err(Error::InvalidArgument("phone")));
        let bad = Profile::parse(ProfileInput {
            family_name: Some("x\u{7}"),
            ..Default::default()
        });
        assert_eq!(bad, Err(Error::InvalidArgument("familyName")));
        assert_eq!(Profile::parse(ProfileInput::default()), Ok(Profile::default()));
        // The limit counts characters, not bytes, and is inclusive.
        let at_limit = "é".repeat(MAX_PROFILE_FIELD_CHARS);
        let ok = Profile::parse(ProfileInput {
            given_name: Some(&at_limit),
            ..Default::default()
        });
        assert_eq!(ok.map(|p| p.given_name), Ok(at_limit.clone()));
        let over = at_limit + "é";
        let bad = Profile::parse(ProfileInput {
            given_name: Some(&over),
            ..Default::default()
        });
        assert_eq!(bad, Err(Error::InvalidArgument("givenName")));
    }
}
