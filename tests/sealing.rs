//! Encryption keys and sealing through storage, against DynamoDB Local: a
//! two-phase rotation without an outage, a pending key that an instance
//! cannot open, secrets moved or restored by someone who can write the
//! table, v1 seals migrating on the next sign-in, stale pending keys
//! removed, and the question "does any item still name this key?".

use crate::common;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use common::*;
use totp_lambda::secret_box::{is_v2, Binding, Field, SecretBox};
use totp_lambda::store::dynamo::{key_usage, DynamoStore, KeyUsage};
use totp_lambda::store::Store;

/// Two fixed AES keys, so that documents built at different times agree.
fn key_bytes(id: &str) -> String {
    let byte = match id {
        "k1" => 1u8,
        "k2" => 2,
        _ => 3,
    };
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

/// A keys document holding `ids`, with `current` sealing.
fn secret_box(current: &str, ids: &[&str]) -> SecretBox {
    let keys: serde_json::Map<String, serde_json::Value> =
        ids.iter().map(|id| (id.to_string(), key_bytes(id).into())).collect();
    SecretBox::from_json(&serde_json::json!({"current": current, "keys": keys}).to_string()).unwrap()
}

/// This harness's table and clock, sealing with `secret_box`: another
/// instance of the functions, with its own keys document.
fn instance(h: &Harness, secret_box: SecretBox) -> totp_lambda::service::App<DynamoStore> {
    let mut app = h.app_with(DynamoStore::new(h.client.clone(), h.table.clone()));
    app.secret_box = Some(secret_box);
    app
}

fn refresh_auth(body: &serde_json::Value) -> String {
    bearer(&format!("{PROJECT}:{}", refresh_of(body)))
}

#[tokio::test]
async fn a_two_phase_rotation_has_no_outage() {
    let h = Harness::new().await;
    // Phase 1: every instance gets the new key k2, k1 still seals.
    let phase1 = instance(&h, secret_box("k1", &["k1", "k2"]));
    // Phase 2, once phase 1 is everywhere: k2 seals. Warm instances of phase 1 remain.
    let phase2 = instance(&h, secret_box("k2", &["k1", "k2"]));
    let (status, signup) = call_signup(&phase2, signup_request("rotating@example.com")).await;
    assert_eq!(status, 200);
    assert_eq!(
        item(&h, "rotating@example.com").await["secretKeyId"].as_s().unwrap(),
        "k2"
    );
    let key = signup["key"].as_str().unwrap().to_owned();
    // A phase-1 instance opens what phase 2 sealed, and the reverse.
    let (status, signed_in) = call_verify(
        &phase1,
        verify_request(PROJECT, "rotating@example.com", &code(&key, h.now())),
    )
    .await;
    assert_eq!(status, 200, "{signed_in}");
    let (status, updated) = call_update(
        &phase1,
        update_request(&refresh_auth(&signed_in), "rotating@example.com"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        item(&h, "rotating@example.com").await["pendingSecretKeyId"]
            .as_s()
            .unwrap(),
        "k1"
    );
    h.advance(30);
    let new_key = updated["key"].as_str().unwrap();
    let (status, _) = call_verify(
        &phase2,
        verify_request(PROJECT, "rotating@example.com", &code(new_key, h.now())),
    )
    .await;
    assert_eq!(status, 200);
    // Promotion seals the key again, with the current key of the instance that promoted.
    assert_eq!(
        item(&h, "rotating@example.com").await["secretKeyId"].as_s().unwrap(),
        "k2"
    );
}

#[tokio::test]
async fn an_unreadable_pending_key_never_blocks_the_current_key() {
    let h = Harness::new().await;
    // An instance that never got k2 (phase 1 skipped), and one that seals with it.
    let behind = instance(&h, secret_box("k1", &["k1"]));
    let ahead = instance(&h, secret_box("k2", &["k1", "k2"]));
    let (status, signup) = call_signup(&behind, signup_request("behind@example.com")).await;
    assert_eq!(status, 200);
    let key = signup["key"].as_str().unwrap().to_owned();
    let (_, signed_in) = call_verify(
        &behind,
        verify_request(PROJECT, "behind@example.com", &code(&key, h.now())),
    )
    .await;
    let (status, updated) = call_update(&ahead, update_request(&refresh_auth(&signed_in), "behind@example.com")).await;
    assert_eq!(status, 200);
    h.advance(30);
    // The user's current key still signs in where the pending key cannot be opened.
    let (status, body) = call_verify(
        &behind,
        verify_request(PROJECT, "behind@example.com", &code(&key, h.now())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Its code is just a wrong code there, and the key stays pending for the others.
    h.advance(30);
    let new_key = updated["key"].as_str().unwrap();
    let (status, body) = call_verify(
        &behind,
        verify_request(PROJECT, "behind@example.com", &code(new_key, h.now())),
    )
    .await;
    assert_eq!((status, error_code(&body)), (401, "E061102"));
    let (status, _) = call_verify(
        &ahead,
        verify_request(PROJECT, "behind@example.com", &code(new_key, h.now())),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_pending_secret_moved_into_place_does_not_open() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("moved@example.com").await;
    let (_, updated) = h.update(&refresh_auth(&signed_in), "moved@example.com").await;
    let before = item(&h, "moved@example.com").await;
    // Someone who can write the table, not decrypt it, makes the pending key the key.
    set_attributes(
        &h,
        "moved@example.com",
        &[
            ("secret", before["pendingSecret"].clone()),
            ("secretKeyId", before["pendingSecretKeyId"].clone()),
            ("enrollmentId", before["pendingEnrollmentId"].clone()),
        ],
        &[
            "pendingSecret",
            "pendingSecretKeyId",
            "pendingEnrollmentId",
            "pendingExpiresAt",
        ],
    )
    .await;
    h.advance(30);
    let new_key = updated["key"].as_str().unwrap();
    let (status, body) = h.verify("moved@example.com", &code(new_key, h.now())).await;
    assert_eq!(
        (status, error_code(&body)),
        (500, "E010000"),
        "no session for a moved secret"
    );
}

#[tokio::test]
async fn a_secret_put_back_beside_a_newer_enrollment_does_not_open() {
    let h = Harness::new().await;
    let (old_key, signed_in) = h.register("restored@example.com").await;
    let backup = item(&h, "restored@example.com").await;
    let (_, updated) = h.update(&refresh_auth(&signed_in), "restored@example.com").await;
    h.advance(30);
    let new_key = updated["key"].as_str().unwrap();
    assert_eq!(h.verify("restored@example.com", &code(new_key, h.now())).await.0, 200);
    // The old secret comes back from a backup; the enrollment id stays the new one.
    set_attributes(
        &h,
        "restored@example.com",
        &[
            ("secret", backup["secret"].clone()),
            ("secretKeyId", backup["secretKeyId"].clone()),
        ],
        &[],
    )
    .await;
    h.advance(30);
    let (status, body) = h.verify("restored@example.com", &code(&old_key, h.now())).await;
    assert_eq!(
        (status, error_code(&body)),
        (500, "E010000"),
        "the old key does not come back"
    );
}

#[tokio::test]
async fn v1_seals_keep_opening_and_are_sealed_anew_by_the_next_sign_in() {
    let h = Harness::new().await;
    let (key, _) = h.register("legacy@example.com").await;
    let stored = item(&h, "legacy@example.com").await;
    assert!(is_v2(stored["secret"].as_b().unwrap().as_ref()), "new seals are v2");
    // The item as the previous release wrote it: a v1 seal.
    let enrollment = stored["enrollmentId"].as_s().unwrap().clone();
    let project = totp_lambda::domain::ProjectId::parse(PROJECT).unwrap();
    let login = totp_lambda::domain::LoginId::parse(Some("legacy@example.com")).unwrap();
    let binding = Binding {
        project: &project,
        login_id: &login,
        field: Field::Secret,
        enrollment_id: &enrollment,
    };
    let secret =
        totp_lambda::otpauth::TotpSecret::from_bytes(data_encoding::BASE32_NOPAD.decode(key.as_bytes()).unwrap());
    let v1 = h
        .app
        .secret_box
        .as_ref()
        .unwrap()
        .seal_v1_for_tests(&binding, &secret)
        .unwrap();
    set_attributes(
        &h,
        "legacy@example.com",
        &[("secret", AttributeValue::B(v1.blob.clone().into()))],
        &[],
    )
    .await;
    assert!(!is_v2(&v1.blob));
    let usage = || key_usage(&h.client, &h.table, &v1.key_id);
    assert_eq!(usage().await.unwrap(), KeyUsage { items: 1, v1_seals: 1 });
    h.advance(30);
    assert_eq!(h.verify("legacy@example.com", &code(&key, h.now())).await.0, 200);
    let migrated = item(&h, "legacy@example.com").await;
    assert!(is_v2(migrated["secret"].as_b().unwrap().as_ref()), "sealed anew as v2");
    assert_eq!(usage().await.unwrap(), KeyUsage { items: 1, v1_seals: 0 });
    h.advance(30);
    assert_eq!(h.verify("legacy@example.com", &code(&key, h.now())).await.0, 200);
    assert_eq!(
        item(&h, "legacy@example.com").await["secret"],
        migrated["secret"],
        "a current seal is not written again"
    );
}

#[tokio::test]
async fn sign_ins_move_secrets_to_the_current_key_and_key_usage_tells_when_an_old_one_can_go() {
    let h = Harness::new().await;
    let old = instance(&h, secret_box("k1", &["k1"]));
    let rotated = instance(&h, secret_box("k2", &["k1", "k2"]));
    let mut keys = Vec::new();
    for login in ["active@example.com", "idle@example.com"] {
        let (_, signup) = call_signup(&old, signup_request(login)).await;
        let key = signup["key"].as_str().unwrap().to_owned();
        assert_eq!(
            call_verify(&old, verify_request(PROJECT, login, &code(&key, h.now())))
                .await
                .0,
            200
        );
        keys.push(key);
    }
    let usage = |kid: &'static str| {
        let client = h.client.clone();
        let table = h.table.clone();
        async move { key_usage(&client, &table, kid).await.unwrap() }
    };
    assert_eq!(usage("k1").await, KeyUsage { items: 2, v1_seals: 0 });
    assert_eq!(usage("k2").await.items, 0);
    // After the switch, a sign-in seals the active user's secret with k2.
    h.advance(30);
    assert_eq!(
        call_verify(
            &rotated,
            verify_request(PROJECT, "active@example.com", &code(&keys[0], h.now()))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        item(&h, "active@example.com").await["secretKeyId"].as_s().unwrap(),
        "k2"
    );
    assert_eq!(usage("k1").await.items, 1, "the idle user still needs k1");
    assert_eq!(usage("k2").await.items, 1);
    h.advance(30);
    assert_eq!(
        call_verify(
            &rotated,
            verify_request(PROJECT, "idle@example.com", &code(&keys[1], h.now()))
        )
        .await
        .0,
        200
    );
    assert_eq!(usage("k1").await.items, 0, "now k1 may be removed");
}

#[tokio::test]
async fn an_expired_pending_key_is_removed_by_the_next_attempt() {
    let h = Harness::new().await;
    let (key, signed_in) = h.register("stale@example.com").await;
    h.update(&refresh_auth(&signed_in), "stale@example.com").await;
    // A fresh pending key is left alone by an attempt.
    h.advance(30);
    h.verify("stale@example.com", &wrong_code(&key, h.now())).await;
    assert!(item(&h, "stale@example.com").await.contains_key("pendingSecret"));
    // Once expired, the next attempt, right or wrong, removes it.
    h.advance(h.app.config.pending_ttl_seconds);
    let (status, _) = h.verify("stale@example.com", &wrong_code(&key, h.now())).await;
    assert_eq!(status, 401);
    let stored = item(&h, "stale@example.com").await;
    for gone in [
        "pendingSecret",
        "pendingSecretKeyId",
        "pendingEnrollmentId",
        "pendingExpiresAt",
    ] {
        assert!(!stored.contains_key(gone), "{gone} left behind");
    }
    h.advance(30);
    assert_eq!(h.verify("stale@example.com", &code(&key, h.now())).await.0, 200);
}

#[tokio::test]
async fn removing_an_expired_pending_key_never_removes_a_newer_one() {
    // The attempt read an expired pending key; an update wrote a new one
    // before the attempt's write. The new one must survive.
    struct UpdateFirst(std::sync::Mutex<Option<totp_lambda::store::PendingKey>>);
    impl Hook for UpdateFirst {
        async fn before(
            &self,
            op: Op,
            key: &totp_lambda::store::UserKey,
            store: &DynamoStore,
        ) -> Result<(), totp_lambda::store::StoreError> {
            let pending = if op == Op::TakeAttempt {
                self.0.lock().unwrap().take()
            } else {
                None
            };
            if let Some(pending) = pending {
                let session = current_session(store, key).await?;
                store.put_pending_key(key, &session, &pending).await?;
            }
            Ok(())
        }
    }
    let h = Harness::new().await;
    let (key, signed_in) = h.register("fresh@example.com").await;
    h.update(&refresh_auth(&signed_in), "fresh@example.com").await;
    h.advance(h.app.config.pending_ttl_seconds + 30);
    let newer = totp_lambda::store::PendingKey {
        enrollment_id: "E-NEWER".into(),
        secret: item(&h, "fresh@example.com")
            .await
            .get("secret")
            .map(|b| totp_lambda::secret_box::SealedSecret {
                key_id: "enc-test-1".into(),
                blob: b.as_b().unwrap().as_ref().to_vec(),
            })
            .unwrap(),
        expires_at: h.now() + 600,
        params: totp_lambda::totp::TotpParams::DEFAULT,
        generation: Some(0),
    };
    let racing = h.hooked(UpdateFirst(std::sync::Mutex::new(Some(newer))));
    // A wrong code: the write that counts it is the one that removes an
    // expired pending key (a right code's success write removes none).
    let (status, _) = call_verify(
        &racing,
        verify_request(PROJECT, "fresh@example.com", &wrong_code(&key, h.now())),
    )
    .await;
    assert_eq!(status, 401, "the attempt re-read and went on");
    assert_eq!(
        item(&h, "fresh@example.com").await["pendingEnrollmentId"]
            .as_s()
            .unwrap(),
        "E-NEWER"
    );
}

fn signup_request(login: &str) -> lambda_http::Request {
    request(
        lambda_http::http::Method::POST,
        "/v1/auth/totp/signup",
        Some(&bearer(PROJECT)),
        &serde_json::json!({ "loginId": login }).to_string(),
    )
}

/// `scripts/gen-keys.sh`, as an operator runs the rotation: each document it
/// prints loads, and the sealing key moves only at the switch.
#[test]
fn gen_keys_rotates_in_two_phases() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-keys.sh");
    let run = |args: &[&str], input: Option<&str>| -> String {
        use std::io::Write as _;
        let mut child = std::process::Command::new("bash")
            .arg(&script)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if let Some(input) = input {
            stdin.write_all(input.as_bytes()).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "gen-keys.sh {args:?} failed");
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run(&["encryption", "k1"], None);
    let added = run(&["encryption-add", "k2"], Some(&first));
    let switched = run(&["encryption-switch", "k2"], Some(&added));
    assert_eq!(SecretBox::from_json(&first).unwrap().current_key_id(), "k1");
    assert_eq!(
        SecretBox::from_json(&added).unwrap().current_key_id(),
        "k1",
        "phase 1 does not seal with k2"
    );
    assert_eq!(SecretBox::from_json(&switched).unwrap().current_key_id(), "k2");
    let parsed = |doc: &str| serde_json::from_str::<serde_json::Value>(doc).unwrap();
    assert_eq!(
        parsed(&added)["keys"]["k1"],
        parsed(&first)["keys"]["k1"],
        "k1 kept as it was"
    );
    let removed = run(&["encryption-remove", "k1"], Some(&switched));
    assert!(parsed(&removed)["keys"].get("k1").is_none());
    assert_eq!(parsed(&removed)["keys"]["k2"], parsed(&switched)["keys"]["k2"]);
}
