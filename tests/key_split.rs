//! Keys where they are needed: the private signing keys only in the
//! functions that sign (verify, sessions); update and keys read the public
//! keys document, which `scripts/gen-keys.sh public` derives from the signing
//! one, and a function built from it cannot sign.

use crate::common;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use lambda_http::http::Method;
use serde_json::Value;
use totp_lambda::app::{self, Function, TokenKeysDocument};
use totp_lambda::domain::ProjectId;
use totp_lambda::tokens::{ProjectKeys, TokenError};

fn script(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-keys.sh"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("bash runs scripts/gen-keys.sh");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or("").as_bytes()).expect("stdin written");
    drop(input);
    let out = child.wait_with_output().expect("gen-keys.sh ran");
    assert!(out.status.success(), "gen-keys.sh {args:?} failed");
    String::from_utf8(out.stdout).expect("text")
}

/// The public keys document of a signing document, as make dev, make test and make deploy make it.
fn public_of(signing: &str) -> String {
    script(&["public"], Some(signing))
}

fn project(raw: &str) -> ProjectId {
    ProjectId::parse(raw).expect("a project id")
}

fn jwks(keys: &ProjectKeys, project: &ProjectId) -> Value {
    serde_json::to_value(keys.for_project(project).expect("a ring").jwks()).expect("JWKS as JSON")
}

#[test]
fn the_public_document_is_the_public_half_of_the_signing_one() {
    for algorithm in ["rsa", "ec"] {
        let signing_text = script(&["signing", "split", "P2SplitA,P2SplitB", algorithm], None);
        let public_text = public_of(&signing_text);
        assert!(
            !public_text.contains("PRIVATE KEY"),
            "no private key in the public document"
        );
        let signing = ProjectKeys::from_json(&signing_text).unwrap();
        let public = ProjectKeys::from_public_json(&public_text).unwrap();
        for raw in ["P2SplitA", "P2SplitB"] {
            let p = project(raw);
            assert_eq!(jwks(&public, &p), jwks(&signing, &p), "{algorithm} {raw}");
            let ring = public.for_project(&p).unwrap();
            assert_eq!(ring.signing_kid(), format!("split-{raw}"));
            assert!(!ring.can_sign());
        }
        public
            .check_covers([&project("P2SplitA"), &project("P2SplitB")])
            .unwrap();
    }

    // Mid-rotation: a new key first, the old one kept as a public key only.
    let new = script(&["signing-key", "split-new"], None);
    let mut document: Value = serde_json::from_str(&script(&["signing", "split-old", "P2SplitA"], None)).unwrap();
    let old = document["projects"]["P2SplitA"]["keys"][0].clone();
    let old_public: Value = serde_json::from_str(&public_of(&document.to_string())).unwrap();
    document["projects"]["P2SplitA"]["keys"] = serde_json::json!([
        serde_json::from_str::<Value>(&new).unwrap(),
        old_public["projects"]["P2SplitA"]["keys"][0].clone(),
    ]);
    let signing = ProjectKeys::from_json(&document.to_string()).unwrap();
    let public = ProjectKeys::from_public_json(&public_of(&document.to_string())).unwrap();
    let p = project("P2SplitA");
    assert_eq!(jwks(&public, &p), jwks(&signing, &p));
    let kids: Vec<String> = public
        .for_project(&p)
        .unwrap()
        .jwks()
        .into_iter()
        .filter_map(|k| k.common.key_id)
        .collect();
    assert_eq!(kids, ["split-new", old["kid"].as_str().unwrap()]);
}

#[test]
fn each_function_reads_only_the_document_it_needs() {
    let expected = [
        (Function::Signup, None),
        (Function::Verify, Some(TokenKeysDocument::Signing)),
        (Function::Update, Some(TokenKeysDocument::Public)),
        (Function::Keys, Some(TokenKeysDocument::Public)),
        (Function::Sessions, Some(TokenKeysDocument::Signing)),
        (Function::Management, None),
        (Function::Users, None),
        (Function::Audit, None),
    ];
    // Only the functions that seal or open TOTP secrets hold the encryption keys.
    for (function, seals) in [
        (Function::Signup, true),
        (Function::Verify, true),
        (Function::Update, true),
        (Function::Users, true),
        (Function::Keys, false),
        (Function::Sessions, false),
        (Function::Management, false),
        (Function::Audit, false),
    ] {
        assert_eq!(function.needs_encryption_keys(), seals, "{function:?}");
    }
    for (function, document) in expected {
        assert_eq!(function.token_keys(), document, "{function:?}");
    }
    assert_eq!(TokenKeysDocument::Signing.env_prefix(), "SIGNING_KEYS");
    assert_eq!(TokenKeysDocument::Public.env_prefix(), "PUBLIC_KEYS");
}

/// A directory of key files for one test, removed when it ends.
struct KeyFiles(PathBuf);

impl KeyFiles {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("totp-lambda-key-split-{}", unique_table()));
        std::fs::create_dir(&dir).expect("a fresh directory");
        KeyFiles(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("key file written");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for KeyFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_function_built_for_verification_cannot_sign() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("split@example.com").await;
    let refresh = refresh_of(&signed_in);

    // The harness's own signing keys and their public half.
    let files = KeyFiles::new();
    let signing_file = files.write("signing.json", &signing_keys_json());
    let public_file = files.write("public.json", &public_of(&signing_keys_json()));
    let encryption_file = files.write("encryption.json", encryption_keys_json());
    let base: HashMap<&str, String> = HashMap::from([
        ("TABLE_NAME", h.table.clone()),
        ("PROJECT_ID", format!("{PROJECT},{OTHER_PROJECT}")),
        ("TOTP_ISSUER", ISSUER.to_owned()),
        ("ENCRYPTION_KEYS_FILE", encryption_file),
    ]);
    let with = |extra: &[(&'static str, &str)]| {
        let mut vars = base.clone();
        vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        move |name: &str| vars.get(name).cloned()
    };
    // The public document only: no private key anywhere in reach.
    let public_only = with(&[("PUBLIC_KEYS_FILE", &public_file)]);
    let signing_only = with(&[("SIGNING_KEYS_FILE", &signing_file)]);
    // The functions' configuration, on DynamoDB Local (make test's or the binary's own).
    let sdk = local_sdk_config(&endpoint()).await;

    let mut update = app::build_from(Function::Update, &sdk, &public_only).await.unwrap();
    update.clock = h.app.clock.clone();
    let rings = update.tokens.as_ref().expect("update checks tokens");
    for raw in [PROJECT, OTHER_PROJECT] {
        let ring = rings.for_project(&project(raw)).unwrap();
        assert!(!ring.can_sign(), "{raw}");
        let claims = totp_lambda::tokens::Claims {
            iss: raw.into(),
            sub: "U2X".into(),
            aud: raw.into(),
            iat: h.now(),
            exp: h.now() + 60,
            amr: vec!["totp".into()],
            drn: "DS".into(),
            nsec: None,
            su: None,
            jti: None,
            login_id: None,
            gen: None,
            scope: None,
        };
        assert_eq!(ring.sign(&claims), Err(TokenError::VerificationOnly));
    }

    // What update does, it does with the public keys: the refresh JWT checks out.
    let authorization = bearer(&format!("{PROJECT}:{refresh}"));
    let (status, body) = call_update(&update, update_request(&authorization, "split@example.com")).await;
    assert_eq!(status, 200, "{body}");

    // Anything that would sign fails with this App: a refresh (a new session JWT)…
    let refresh_request = request(Method::POST, "/v1/auth/refresh", Some(&authorization), "{}");
    let (status, body) = call_sessions(&update, refresh_request).await;
    assert_eq!((status, error_code(&body)), (500, "E010000"), "{body}");
    // …and a sign-in with the right code.
    let (status, signup) = h.signup("split-two@example.com").await;
    assert_eq!(status, 200, "{signup}");
    let key = signup["key"].as_str().unwrap();
    let (status, body) = call_verify(
        &update,
        verify_request(PROJECT, "split-two@example.com", &code(key, h.now())),
    )
    .await;
    assert_eq!((status, error_code(&body)), (500, "E010000"), "{body}");

    // The functions that sign get the private keys, and do sign.
    let mut sessions = app::build_from(Function::Sessions, &sdk, &signing_only).await.unwrap();
    sessions.clock = h.app.clock.clone();
    let refresh_request = request(Method::POST, "/v1/auth/refresh", Some(&authorization), "{}");
    let (status, body) = call_sessions(&sessions, refresh_request).await;
    assert_eq!(status, 200, "{body}");
    assert!(app::build_from(Function::Verify, &sdk, &signing_only).await.is_ok());

    // The keys function publishes exactly the signing keys' JWKS from the public document.
    let config = totp_lambda::config::Config::from_lookup(&public_only).unwrap();
    let published = app::token_keys_from(Function::Keys, &sdk, &config, &public_only)
        .await
        .unwrap()
        .expect("the keys function loads keys");
    let signing = ProjectKeys::from_json(&signing_keys_json()).unwrap();
    assert_eq!(jwks(&published, &project(PROJECT)), jwks(&signing, &project(PROJECT)));

    // No function falls back to the other document.
    for (function, lookup, missing) in [
        (Function::Update, &signing_only, "PUBLIC_KEYS"),
        (Function::Keys, &signing_only, "PUBLIC_KEYS"),
        (Function::Verify, &public_only, "SIGNING_KEYS"),
        (Function::Sessions, &public_only, "SIGNING_KEYS"),
    ] {
        let error = app::build_from(function, &sdk, lookup).await.err().expect("refused");
        assert!(error.to_string().contains(missing), "{function:?}: {error}");
    }
    // A private key where the public document belongs stops the function at start.
    let misconfigured = with(&[("PUBLIC_KEYS_FILE", &signing_file)]);
    let error = app::build_from(Function::Update, &sdk, &misconfigured)
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("privateKeyPem"), "{error}");
}
