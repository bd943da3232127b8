#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| totp_lambda_fuzz::otpauth_qr(data));
