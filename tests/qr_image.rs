//! The QR image signup returns, read back by an independent decoder (rqrr):
//! every code decodes to its URL, whatever the key and account, and the
//! image stays small enough to ship in a JSON body and large enough to scan.

use crate::common;

use base64::Engine as _;
use common::decode_qr;
use totp_lambda::otpauth::{provision, TotpSecret};

fn png_size(image_base64: &str) -> (usize, u32) {
    let png = base64::engine::general_purpose::STANDARD.decode(image_base64).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png.clone()));
    let width = decoder.read_info().unwrap().info().width;
    (png.len(), width)
}

#[test]
fn every_code_decodes_to_its_url() {
    let accounts = [
        "a",
        "alice@example.com",
        "+14155550100",
        "δοκιμή@παράδειγμα.ελ",
        "a.rather.long.login.id.with.many.parts@subdomain.example-company.com",
    ];
    for (i, account) in accounts.iter().cycle().take(60).enumerate() {
        let secret = TotpSecret::generate().unwrap();
        let issuer = if i % 2 == 0 { "Acme Test" } else { "A" };
        let provisioning = provision(issuer, account, &secret, totp_lambda::totp::TotpParams::DEFAULT).unwrap();
        assert_eq!(decode_qr(&provisioning.image_png_base64), provisioning.url, "{account}");
    }
}

#[test]
fn a_typical_code_is_under_one_kib_and_160_to_300_px_wide() {
    for _ in 0..20 {
        let secret = TotpSecret::generate().unwrap();
        let provisioning = provision(
            "Acme Test",
            "alice@example.com",
            &secret,
            totp_lambda::totp::TotpParams::DEFAULT,
        )
        .unwrap();
        let (bytes, width) = png_size(&provisioning.image_png_base64);
        assert!(bytes <= 1024, "{bytes} bytes");
        assert!((160..=300).contains(&width), "{width} px");
    }
}
