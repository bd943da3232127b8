//! Every sample event in events/ goes through its handler, as API Gateway
//! (or `sam local invoke -e`, or `cargo lambda invoke --data-file`) sends it.

use crate::common;

use common::*;
use totp_lambda::config::Config;

const SAMPLE_PROJECT: &str = "P2TotpLambdaSampleProject01";

/// Each file, its function, and the status on an empty table (events/README.md).
const EXPECTED: &[(&str, &str, u16)] = &[
    ("signup-http-api.json", "signup", 200),
    ("signup-rest-api.json", "signup", 200),
    ("signup-bad-input.json", "signup", 400),
    ("signup-base64-body.json", "signup", 200),
    ("verify-http-api.json", "verify", 404),
    ("verify-rest-api.json", "verify", 404),
    ("verify-bad-code.json", "verify", 400),
    ("update-http-api.json", "update", 401),
    ("keys-http-api.json", "keys", 200),
    ("keys-rest-api.json", "keys", 200),
    ("refresh-http-api.json", "sessions", 401),
    ("logout-http-api.json", "sessions", 401),
    ("logoutall-http-api.json", "sessions", 401),
    ("me-http-api.json", "sessions", 401),
    ("mgmt-remove-totp.json", "management", 401),
    ("mgmt-delete-user.json", "management", 401),
    ("mgmt-logout-user.json", "management", 401),
    ("mgmt-load-user.json", "management", 401),
    ("mgmt-embedded-link.json", "management", 401),
    ("magiclink-verify-http-api.json", "sessions", 401),
    ("recovery-codes-http-api.json", "update", 401),
    ("recovery-http-api.json", "verify", 404),
    ("mgmt-remove-recovery-codes.json", "management", 401),
    ("mgmt-create-user.json", "management", 401),
    ("mgmt-create-batch.json", "management", 401),
    ("mgmt-delete-batch.json", "management", 401),
    ("mgmt-update-status.json", "management", 401),
    ("mgmt-load-user-by-id.json", "management", 401),
    ("mgmt-search-users.json", "management", 401),
    ("try-refresh-http-api.json", "sessions", 200),
];

/// A harness serving the sample project, on a fresh (empty) table.
async fn sample_deployment() -> Harness {
    let mut h = Harness::new().await;
    h.app.config = Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(h.table.clone()),
        "PROJECT_ID" => Some(SAMPLE_PROJECT.into()),
        "TOTP_ISSUER" => Some(ISSUER.into()),
        _ => None,
    })
    .unwrap();
    let ring = serde_json::json!({"keys": [{"kid": "sample-key", "privateKeyPem": rsa_private_pem(0)}]});
    let document = serde_json::json!({"projects": {SAMPLE_PROJECT: ring}});
    h.app.tokens = Some(totp_lambda::tokens::ProjectKeys::from_json(&document.to_string()).unwrap());
    h
}

#[tokio::test]
async fn every_event_file_is_handled_as_documented() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        // A stream event is no request: tests/management/audit.rs feeds it to the audit function.
        .filter(|name| !name.starts_with("audit-"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        EXPECTED.len(),
        "every event file has an expectation: {files:?}"
    );
    for file in files {
        let (_, function, expected) = EXPECTED
            .iter()
            .find(|(f, _, _)| *f == file)
            .expect("listed in EXPECTED");
        let h = sample_deployment().await;
        let text = std::fs::read_to_string(dir.join(&file)).unwrap();
        let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
        let response = match *function {
            "signup" => totp_lambda::http::signup(&h.app, request).await,
            "verify" => totp_lambda::http::verify(&h.app, request).await,
            "update" => totp_lambda::http::update(&h.app, request).await,
            "sessions" => totp_lambda::http::sessions(&h.app, request).await,
            "management" => totp_lambda::http::management(&h.app, &management_keys(), request).await,
            "keys" => totp_lambda::http::keys(&h.app.config, h.app.tokens.as_ref().unwrap(), request).await,
            other => panic!("unknown function {other}"),
        }
        .unwrap();
        let (status, body) = into_parts(response).await;
        assert_eq!(status, *expected, "{file}: {body}");
        if file.starts_with("try-refresh") {
            // The same unsigned token: no session, and no error either.
            assert_eq!(body, serde_json::json!({}), "{file}");
        } else if *function == "sessions" {
            // A JWT-shaped token that no key of the project signed; a link token no one issued.
            let expected = if file.starts_with("magiclink") {
                "E061102"
            } else {
                "E061004"
            };
            assert_eq!(error_code(&body), expected, "{file}");
        }
        if *function == "management" {
            // A placeholder where the project's management key belongs.
            assert_eq!(error_code(&body), "E011003", "{file}");
        }
        let written = h.scan().await.len();
        if status == 200 && *function == "signup" {
            assert_eq!(
                decode_qr(body["image"].as_str().unwrap()),
                body["provisioningURL"].as_str().unwrap()
            );
            assert_eq!(written, 1, "{file}: one pending sign-up");
        } else {
            assert_eq!(written, 0, "{file}: nothing written");
        }
    }
}
