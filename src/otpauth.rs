//! A new TOTP key, shown three ways: base32, an `otpauth://` URL (Google's
//! Key-URI format) and a QR code PNG of that URL.

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use qrcodegen::{Mask, QrCode, QrCodeEcc, QrSegment, Version};

use crate::totp::TotpParams;

/// 160 bits: RFC 4226's recommended length and what every app expects.
pub const SECRET_BYTES: usize = 20;

/// A TOTP shared secret. Debug output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// 20 bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(TotpSecret(bytes))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        TotpSecret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32, upper case, no padding: what users type into apps.
    pub fn base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// What signup and update return: the key three ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioning {
    pub url: String,
    pub image_png_base64: String,
    pub key: String,
}

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub fn percent_encode(raw: &str) -> String {
    utf8_percent_encode(raw, NOT_UNRESERVED).to_string()
}

/// `otpauth://totp/Issuer:account?secret=…&issuer=Issuer&…`, each label part
/// percent-encoded, the key's parameters stated.
pub fn provisioning_url(issuer: &str, account: &str, key_base32: &str, params: TotpParams) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={key_base32}&issuer={issuer}&algorithm={algorithm}&digits={digits}&period={period}",
        account = percent_encode(account),
        algorithm = params.algorithm.name(),
        digits = params.digits,
        period = params.period,
    )
}

/// Pixels per QR module and modules of quiet zone around the code: a
/// version-8 code (what a typical URL needs) is then 228 px wide, which
/// phones scan from a screen, and its PNG stays under 1 KiB.
const MODULE_PIXELS: usize = 4;
const QUIET_ZONE_MODULES: usize = 4;

/// One fixed mask pattern. Every mask gives a valid code that any decoder
/// reads; choosing the "best" one scores all eight and costs more than all
/// the rest of a sign-up together. The tests decode codes made this way
/// with two independent decoders.
const MASK: u8 = 0;

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("text does not fit in a QR code")]
    TooLong,
    #[error("PNG encoding failed")]
    Png,
}

/// A 1-bit greyscale PNG of the QR code for `text` (error correction M).
pub fn qr_png(text: &str) -> Result<Vec<u8>, QrError> {
    let segments = QrSegment::make_segments(text);
    let code = QrCode::encode_segments_advanced(
        &segments,
        QrCodeEcc::Medium,
        Version::MIN,
        Version::MAX,
        Some(Mask::new(MASK)),
        true,
    )
    .map_err(|_| QrError::TooLong)?;
    let modules = usize::try_from(code.size()).map_err(|_| QrError::TooLong)?;
    let side = (modules + 2 * QUIET_ZONE_MODULES) * MODULE_PIXELS;
    // PNG scanlines: a filter-type byte (0: none), then the row, where a set
    // bit is white in 1-bit greyscale. Start all white.
    let stride = 1 + side.div_ceil(8);
    let mut scanlines = vec![0xFFu8; stride * side];
    for row in scanlines.chunks_exact_mut(stride) {
        row[0] = 0;
    }
    for my in 0..modules {
        let start = (my + QUIET_ZONE_MODULES) * MODULE_PIXELS * stride;
        let row = &mut scanlines[start..start + stride];
        for mx in 0..modules {
            // Both coordinates are below the code's size, at most 177.
            if code.get_module(mx as i32, my as i32) {
                let x0 = (mx + QUIET_ZONE_MODULES) * MODULE_PIXELS;
                for x in x0..x0 + MODULE_PIXELS {
                    row[1 + x / 8] &= !(0x80 >> (x % 8));
                }
            }
        }
        // A module is MODULE_PIXELS rows tall: repeat the row just drawn.
        let (drawn, rest) = scanlines.split_at_mut(start + stride);
        for copy in rest[..(MODULE_PIXELS - 1) * stride].chunks_exact_mut(stride) {
            copy.copy_from_slice(&drawn[start..]);
        }
    }
    // miniz_oxide directly: the png crate's own deflate path took 0.2 ms for
    // these 7 KB, this one a quarter of that (make bench).
    let image_data = miniz_oxide::deflate::compress_to_vec_zlib(&scanlines, 2);
    let mut out = Vec::with_capacity(image_data.len() + 128);
    {
        let side = u32::try_from(side).map_err(|_| QrError::TooLong)?;
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        let mut writer = encoder.write_header().map_err(|_| QrError::Png)?;
        writer
            .write_chunk(png::chunk::IDAT, &image_data)
            .map_err(|_| QrError::Png)?;
        writer.finish().map_err(|_| QrError::Png)?;
    }
    Ok(out)
}

/// The key three ways, for an issuer and an account (the loginId).
pub fn provision(
    issuer: &str,
    account: &str,
    secret: &TotpSecret,
    params: TotpParams,
) -> Result<Provisioning, QrError> {
    let key = secret.base32();
    let url = provisioning_url(issuer, account, &key, params);
    let png = qr_png(&url)?;
    Ok(Provisioning {
        image_png_base64: base64::engine::general_purpose::STANDARD.encode(png),
        url,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_160_bits_and_differ() {
        let a = TotpSecret::generate().unwrap();
        let b = TotpSecret::generate().unwrap();
        assert_eq!(a.as_bytes().len(), 20);
        assert_ne!(a, b);
        assert_eq!(a.base32().len(), 32);
        assert!(a
            .base32()
            .bytes()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)));
        assert!(!format!("{a:?}").contains(&a.base32()));
    }

    #[test]
    fn base32_matches_rfc4648() {
        // RFC 4648 section 10 test vector, unpadded.
        assert_eq!(TotpSecret::from_bytes(b"foobar".to_vec()).base32(), "MZXW6YTBOI");
    }

    #[test]
    fn url_encodes_label_parts_and_repeats_issuer() {
        let url = provisioning_url(
            "Acme Corp",
            "alice@example.com",
            "JBSWY3DPEHPK3PXP",
            TotpParams::DEFAULT,
        );
        assert_eq!(
            url,
            "otpauth://totp/Acme%20Corp:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30"
        );
        let params = TotpParams::new(crate::totp::Algorithm::Sha512, 8, 60).unwrap();
        let url = provisioning_url("A", "b", "JBSWY3DPEHPK3PXP", params);
        assert!(url.ends_with("&algorithm=SHA512&digits=8&period=60"), "{url}");
    }

    #[test]
    fn percent_encoding_covers_reserved_and_utf8() {
        assert_eq!(percent_encode("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(percent_encode("a:b/c?d&e=f#g"), "a%3Ab%2Fc%3Fd%26e%3Df%23g");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn qr_png_is_a_png() {
        let png = qr_png("otpauth://totp/A:b?secret=JBSWY3DPEHPK3PXP&issuer=A").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
