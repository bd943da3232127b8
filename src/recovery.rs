//! Recovery codes: ten single-use codes a signed-in user creates, each a way
//! back in after losing the authenticator.
//!
//! A code is 12 characters of RFC 4648 base32 (60 random bits), shown as
//! `XXXX-XXXX-XXXX`; case, spaces and dashes do not matter when it is typed.
//! Only a keyed hash is stored: HMAC-SHA256 under a key derived from an
//! encryption key of the keys document (so it rotates with that document,
//! and the functions that hold it are the ones that already see secrets),
//! over the project, the loginId and the code, so a hash copied onto
//! another user matches nothing.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::{LoginId, ProjectId};

/// How many codes a set holds.
pub const CODES_PER_SET: usize = 10;
/// Characters of a code: 12 × 5 bits = 60 random bits.
const CODE_CHARS: usize = 12;
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Versions what the hash covers.
const HASH_PREFIX: &[u8] = b"totp-lambda/recovery-code/v1";
/// What the hashing key is derived with from an encryption key.
pub const KEY_LABEL: &[u8] = b"totp-lambda/recovery-code-key/v1";
/// The longest input worth normalising: anything longer is no code.
pub const MAX_INPUT_CHARS: usize = 64;

/// A code as the user typed it, normalised: 12 base32 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(…)")
    }
}

impl RecoveryCode {
    /// Upper case, ASCII spaces and dashes removed; `None` unless what is
    /// left is 12 characters of the code alphabet (openapi.yaml's pattern
    /// says the same).
    pub fn normalise(input: &str) -> Option<Self> {
        if input.chars().count() > MAX_INPUT_CHARS {
            return None;
        }
        let code: String = input
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = code.len() == CODE_CHARS && code.bytes().all(|b| ALPHABET.contains(&b));
        valid.then_some(RecoveryCode(code))
    }

    /// As shown to the user: `XXXX-XXXX-XXXX`.
    pub fn display(&self) -> String {
        let s = &self.0;
        format!("{}-{}-{}", &s[..4], &s[4..8], &s[8..])
    }
}

/// A fresh set of codes from the operating system's random source.
pub fn generate_set() -> Result<Vec<RecoveryCode>, getrandom::Error> {
    let mut raw = [0u8; CODES_PER_SET * CODE_CHARS];
    getrandom::fill(&mut raw)?;
    // 256 is a multiple of 32: the low five bits of a byte are uniform.
    Ok(raw
        .chunks(CODE_CHARS)
        .map(|chunk| {
            RecoveryCode(
                chunk
                    .iter()
                    .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                    .collect(),
            )
        })
        .collect())
}

/// HMAC-SHA256 of `parts` under `key` (HMAC takes a key of any length, so
/// this never fails; it is typed as it is only to avoid a panic path).
fn mac(key: &[u8], parts: &[&[u8]]) -> Option<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac.finalize().into_bytes().into())
}

/// The hashing key of one encryption key.
pub fn derive_key(encryption_key: &[u8]) -> Option<[u8; 32]> {
    mac(encryption_key, &[KEY_LABEL])
}

/// The stored form of `code` for this user: hex HMAC-SHA256.
pub fn hash(key: &[u8; 32], project: &ProjectId, login_id: &LoginId, code: &RecoveryCode) -> Option<String> {
    let mut parts: Vec<Vec<u8>> = vec![HASH_PREFIX.to_vec()];
    for part in [project.as_str(), login_id.as_str(), code.0.as_str()] {
        let mut framed = (part.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(part.as_bytes());
        parts.push(framed);
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    mac(key, &refs).map(|digest| data_encoding::HEXLOWER.encode(&digest))
}

/// The stored hash equal to `candidate`, comparing every one in constant time.
pub fn find<'a>(stored: &'a [String], candidate: &str) -> Option<&'a String> {
    let mut found = None;
    for hash in stored {
        if bool::from(hash.as_bytes().ct_eq(candidate.as_bytes())) {
            found = Some(hash);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_distinct_sixty_bit_base32_strings() {
        let set = generate_set().unwrap();
        assert_eq!(set.len(), CODES_PER_SET);
        for code in &set {
            assert_eq!(code.0.len(), 12);
            assert!(code.0.bytes().all(|b| ALPHABET.contains(&b)), "{}", code.0);
            let shown = code.display();
            assert_eq!(shown.len(), 14);
            assert_eq!((&shown[4..5], &shown[9..10]), ("-", "-"));
        }
        let mut distinct: Vec<&String> = set.iter().map(|c| &c.0).collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), CODES_PER_SET);
    }

    #[test]
    fn typing_ignores_case_spaces_and_dashes_and_nothing_else() {
        let code = RecoveryCode("7KQ2M6XD4TAB".into());
        for typed in [
            "7KQ2-M6XD-4TAB",
            "7kq2 m6xd 4tab",
            " 7KQ2M6XD4TAB ",
            "7-K-Q-2-M-6-X-D-4-T-A-B",
        ] {
            assert_eq!(RecoveryCode::normalise(typed), Some(code.clone()), "{typed:?}");
        }
        let too_long = format!("{}{}", "7KQ2M6XD4TAB", " ".repeat(MAX_INPUT_CHARS));
        for refused in [
            "7KQ2-M6XD-4TA",
            "7KQ2-M6XD-4TABC",
            "7KQ2-M6XD-4TA1",
            "7KQ2_M6XD_4TAB",
            "7KQ2\tM6XD4TAB",
            "7KQ2-M9XD-4TAB",
            "",
            too_long.as_str(),
        ] {
            assert_eq!(RecoveryCode::normalise(refused), None, "{refused:?}");
        }
        // 64 characters are still read: 12 of code and 52 spaces.
        let at_limit = format!("{}{}", "7KQ2M6XD4TAB", " ".repeat(MAX_INPUT_CHARS - 12));
        assert_eq!(RecoveryCode::normalise(&at_limit), Some(code));
    }

    #[test]
    fn a_hash_is_bound_to_its_key_project_user_and_code() {
        let key = derive_key(&[7u8; 32]).unwrap();
        let other_key = derive_key(&[8u8; 32]).unwrap();
        assert_ne!(key, other_key);
        assert_ne!(key, [7u8; 32], "derived, not the encryption key itself");
        let project = ProjectId::parse("P1").unwrap();
        let alice = LoginId::parse(Some("alice@example.com")).unwrap();
        let code = RecoveryCode("7KQ2M6XD4TAB".into());
        let h = hash(&key, &project, &alice, &code).unwrap();
        assert_eq!(h.len(), 64);
        let other = |k: &[u8; 32], p: &ProjectId, l: &LoginId, c: &RecoveryCode| hash(k, p, l, c).unwrap();
        assert_eq!(h, other(&key, &project, &alice, &code));
        assert_ne!(h, other(&other_key, &project, &alice, &code));
        assert_ne!(h, other(&key, &ProjectId::parse("P2").unwrap(), &alice, &code));
        assert_ne!(
            h,
            other(&key, &project, &LoginId::parse(Some("bob@example.com")).unwrap(), &code)
        );
        assert_ne!(h, other(&key, &project, &alice, &RecoveryCode("7KQ2M6XD4TAC".into())));
        // The framing: a part's end cannot move into the next.
        let shifted = other(
            &key,
            &ProjectId::parse("P1a").unwrap(),
            &LoginId::parse(Some("lice@example.com")).unwrap(),
            &code,
        );
        assert_ne!(
            other(
                &key,
                &project,
                &LoginId::parse(Some("alice@example.com")).unwrap(),
                &code
            ),
            shifted
        );
    }

    #[test]
    fn debug_output_never_shows_the_code() {
        let code = RecoveryCode("7KQ2M6XD4TAB".into());
        assert_eq!(format!("{code:?}"), "RecoveryCode(…)");
        assert_eq!(format!("{:?}", Some(code)), "Some(RecoveryCode(…))");
    }

    #[test]
    fn find_returns_the_matching_hash_only() {
        let stored = vec!["aa".to_owned(), "bb".to_owned(), "cc".to_owned()];
        assert_eq!(find(&stored, "bb"), Some(&stored[1]));
        assert_eq!(find(&stored, "cc"), Some(&stored[2]));
        assert_eq!(find(&stored, "dd"), None);
        assert_eq!(find(&[], "aa"), None);
    }
}
