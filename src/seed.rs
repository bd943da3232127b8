//! Seeds brought from another system (user creation, batch import): a
//! base32 key, or the `otpauth://totp/` URL an authenticator app scanned.
//!
//! Parsed before anything is written, and never echoed: an error says what
//! is wrong with the seed, not what it was.

use crate::otpauth::TotpSecret;
use crate::totp::{Algorithm, TotpParams};

/// RFC 4226 section 4: a shared secret of at least 128 bits.
pub const MIN_SEED_BYTES: usize = 16;
/// A key longer than any HMAC block gains nothing; this bounds the item.
pub const MAX_SEED_BYTES: usize = 64;
/// The longest seed text taken (an otpauth URL with a long label).
pub const MAX_SEED_CHARS: usize = 2048;

/// A seed as the user's authenticator already holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct ImportedSeed {
    pub secret: TotpSecret,
    pub params: TotpParams,
}

// A seed is a credential: keep it out of any Debug output.
impl std::fmt::Debug for ImportedSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ImportedSeed({}, ******)", self.params.encode())
    }
}

/// Why a seed was refused; says nothing of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("the seed is not base32 or an otpauth://totp/ URL")]
    Malformed,
    #[error("the seed is shorter than 128 bits or longer than 512")]
    Length,
    #[error("the otpauth URL asks for an algorithm, digits or period this service does not implement")]
    Parameters,
}

impl ImportedSeed {
    pub fn parse(raw: &str) -> Result<Self, SeedError> {
        let raw = raw.trim();
        if raw.chars().count() > MAX_SEED_CHARS {
            return Err(SeedError::Malformed);
        }
        match strip_prefix_ignore_case(raw, "otpauth://") {
            Some(rest) => from_url(rest),
            None => Ok(ImportedSeed {
                secret: base32(raw)?,
                params: TotpParams::DEFAULT,
            }),
        }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// RFC 4648 base32, any case, with its padding and any spaces ignored.
fn base32(text: &str) -> Result<TotpSecret, SeedError> {
    let cleaned: String = text
        .chars()
        .filter(|c| *c != ' ' && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let bytes = data_encoding::BASE32_NOPAD
        .decode(cleaned.as_bytes())
        .map_err(|_| SeedError::Malformed)?;
    if !(MIN_SEED_BYTES..=MAX_SEED_BYTES).contains(&bytes.len()) {
        return Err(SeedError::Length);
    }
    Ok(TotpSecret::from_bytes(bytes))
}

/// `totp/<label>?secret=…&algorithm=…&digits=…&period=…` (after the scheme).
/// Missing parameters take the defaults of the Key Uri Format; `issuer`
/// and any other parameter are ignored; a parameter given twice is refused.
fn from_url(rest: &str) -> Result<ImportedSeed, SeedError> {
    let rest = strip_prefix_ignore_case(rest, "totp/").ok_or(SeedError::Malformed)?;
    let (_label, query) = rest.split_once('?').ok_or(SeedError::Malformed)?;
    let (mut secret, mut algorithm, mut digits, mut period) = (None, None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value).ok_or(SeedError::Malformed)?;
        let slot = match name.to_ascii_lowercase().as_str() {
            "secret" => &mut secret,
            "algorithm" => &mut algorithm,
            "digits" => &mut digits,
            "period" => &mut period,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(SeedError::Malformed);
        }
    }
    let secret = base32(&secret.ok_or(SeedError::Malformed)?)?;
    let algorithm = match algorithm {
        None => Algorithm::Sha1,
        Some(name) => Algorithm::parse(&name).ok_or(SeedError::Parameters)?,
    };
    let number = |value: Option<String>, default: u64| match value {
        None => Ok(default),
        Some(text) => text.parse::<u64>().map_err(|_| SeedError::Parameters),
    };
    let digits = u32::try_from(number(digits, 6)?).map_err(|_| SeedError::Parameters)?;
    let params = TotpParams::new(algorithm, digits, number(period, 30)?).ok_or(SeedError::Parameters)?;
    Ok(ImportedSeed { secret, params })
}

/// `%XX` escapes and `+` as a space (apps write both); `None` for a broken escape.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 bytes "12345678901234567890" (the RFC 6238 SHA-1 seed) in base32.
    const RFC_SEED_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    fn parsed(raw: &str) -> ImportedSeed {
        ImportedSeed::parse(raw).unwrap()
    }

    #[test]
    fn base32_in_any_case_with_padding_and_spaces() {
        let seed = parsed(RFC_SEED_B32);
        assert_eq!(seed.secret.as_bytes(), b"12345678901234567890");
        assert_eq!(seed.params, TotpParams::DEFAULT);
        assert_eq!(parsed(&RFC_SEED_B32.to_lowercase()), seed);
        assert_eq!(parsed("gezd gnbv gy3t qojq gezd gnbv gy3t qojq"), seed);
        // 16 bytes need padding in RFC 4648: accepted with it and without.
        let sixteen = data_encoding::BASE32.encode(&[7u8; 16]);
        assert!(sixteen.ends_with('='));
        assert_eq!(parsed(&sixteen).secret.as_bytes(), &[7u8; 16]);
        assert_eq!(parsed(sixteen.trim_end_matches('=')).secret.as_bytes(), &[7u8; 16]);
    }

    #[test]
    fn seeds_shorter_than_128_bits_or_not_base32_are_refused() {
        let fifteen = data_encoding::BASE32_NOPAD.encode(&[1u8; 15]);
        assert_eq!(ImportedSeed::parse(&fifteen), Err(SeedError::Length));
        let too_long = data_encoding::BASE32_NOPAD.encode(&[1u8; MAX_SEED_BYTES + 1]);
        assert_eq!(ImportedSeed::parse(&too_long), Err(SeedError::Length));
        let longest = data_encoding::BASE32_NOPAD.encode(&[1u8; MAX_SEED_BYTES]);
        assert!(ImportedSeed::parse(&longest).is_ok());
        for bad in [
            "",
            "AAAA",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",
            "GEZDGNBVGY3TQOJQ-GEZDGNBVGY3TQOJQ",
        ] {
            assert!(ImportedSeed::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            ImportedSeed::parse(&"A".repeat(MAX_SEED_CHARS + 1)),
            Err(SeedError::Malformed)
        );
    }

    #[test]
    fn otpauth_urls_keep_their_parameters() {
        let url = format!("otpauth://totp/Acme:alice%40example.com?secret={RFC_SEED_B32}&issuer=Acme&algorithm=SHA256&digits=8&period=60");
        let seed = parsed(&url);
        assert_eq!(seed.secret.as_bytes(), b"12345678901234567890");
        assert_eq!(seed.params, TotpParams::new(Algorithm::Sha256, 8, 60).unwrap());
        let defaults = parsed(&format!("OTPAUTH://TOTP/alice?secret={}", RFC_SEED_B32.to_lowercase()));
        assert_eq!(defaults.params, TotpParams::DEFAULT);
        let padded = parsed(&format!(
            "otpauth://totp/x?secret={}%3D%3D%3D&algorithm=sha512",
            data_encoding::BASE32_NOPAD.encode(&[9u8; 16])
        ));
        assert_eq!(padded.params.algorithm, Algorithm::Sha512);
        assert_eq!(padded.secret.as_bytes(), &[9u8; 16]);
    }

    #[test]
    fn otpauth_urls_outside_what_apps_implement_are_refused() {
        let with = |query: &str| ImportedSeed::parse(&format!("otpauth://totp/a?secret={RFC_SEED_B32}&{query}"));
        assert_eq!(with("algorithm=MD5"), Err(SeedError::Parameters));
        assert_eq!(with("digits=7"), Err(SeedError::Parameters));
        assert_eq!(with("digits=-6"), Err(SeedError::Parameters));
        assert_eq!(with("period=45"), Err(SeedError::Parameters));
        assert_eq!(with("digits=99999999999999999999"), Err(SeedError::Parameters));
        assert_eq!(with("period=30&period=60"), Err(SeedError::Malformed), "twice");
        assert_eq!(with("digits=%zz"), Err(SeedError::Malformed));
        assert_eq!(
            ImportedSeed::parse(&format!("otpauth://hotp/a?secret={RFC_SEED_B32}&counter=1")),
            Err(SeedError::Malformed),
            "HOTP keys count, not tell time"
        );
        assert_eq!(
            ImportedSeed::parse("otpauth://totp/a?issuer=x"),
            Err(SeedError::Malformed)
        );
        assert_eq!(ImportedSeed::parse("otpauth://totp/a"), Err(SeedError::Malformed));
        assert_eq!(
            ImportedSeed::parse("otpauth://totp/a?secret=AAAA"),
            Err(SeedError::Length)
        );
    }

    #[test]
    fn neither_debug_nor_errors_show_the_seed() {
        let seed = parsed(RFC_SEED_B32);
        let shown = format!("{seed:?}");
        assert!(!shown.contains("GEZD") && !shown.contains("1234"), "{shown}");
        for error in [SeedError::Malformed, SeedError::Length, SeedError::Parameters] {
            assert!(!error.to_string().contains("GEZD"));
        }
    }
}
