//! The sign-up and verify flow against DynamoDB Local, with codes from an
//! independent TOTP implementation and QR codes read by a real decoder.

use crate::common;

use common::*;
use lambda_http::http::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn signup_returns_the_key_three_ways() {
    let h = Harness::new().await;
    let (status, body) = h.signup("alice@example.com").await;
    assert_eq!(status, 200, "{body}");
    let key = body["key"].as_str().unwrap();
    let url = body["provisioningURL"].as_str().unwrap();
    assert_eq!(key.len(), 32, "160 bits in unpadded base32");
    assert!(key
        .bytes()
        .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)));
    assert!(
        url.starts_with("otpauth://totp/Acme%20Test:alice%40example.com?"),
        "{url}"
    );
    assert!(url.contains(&format!("secret={key}&")), "{url}");
    assert!(url.contains("issuer=Acme%20Test"), "{url}");
    let image = body["image"].as_str().unwrap();
    assert!(!image.starts_with("data:"), "raw base64, no data: prefix");
    assert_eq!(decode_qr(image), url, "the QR code encodes exactly provisioningURL");
    assert_eq!(body.as_object().unwrap().len(), 3);
}

#[tokio::test]
async fn signup_then_verify_registers_the_user() {
    let h = Harness::new().await;
    let body = serde_json::json!({
        "loginId": "alice@example.com",
        "user": {"name": "Alice A", "email": "alice@example.com", "phone": "+14155550123", "givenName": "Alice", "unknown": 1},
        "ssoAppId": "app1"
    })
    .to_string();
    let (status, signup) = call_signup(
        &h.app,
        request(Method::POST, "/v1/auth/totp/signup", Some(&bearer(PROJECT)), &body),
    )
    .await;
    assert_eq!(status, 200, "{signup}");
    let key = signup["key"].as_str().unwrap();

    // Pending: not yet a user.
    let items = h.scan().await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"].as_s().unwrap(), "pending");
    let expires_at: u64 = items[0]["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires_at, T0 + 600, "TTL in epoch seconds, now + PENDING_TTL_SECONDS");

    let (status, verified) = h.verify("alice@example.com", &code(key, h.now())).await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["firstSeen"], Value::Bool(true));
    let user = &verified["user"];
    assert_eq!(user["loginIds"], serde_json::json!(["alice@example.com"]));
    assert_eq!(user["name"], "Alice A");
    assert_eq!(user["givenName"], "Alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["phone"], "+14155550123");
    assert_eq!(user["TOTP"], true);
    assert_eq!(user["createdTime"], T0);
    assert_eq!(user["ssoAppIds"], serde_json::json!(["app1"]));
    assert!(user["userId"].as_str().unwrap().starts_with("U2"));
    for field in [
        "loginIds",
        "userId",
        "name",
        "givenName",
        "middleName",
        "familyName",
        "email",
        "verifiedEmail",
        "phone",
        "verifiedPhone",
        "roleNames",
        "userTenants",
        "status",
        "externalIds",
        "picture",
        "test",
        "customAttributes",
        "createdTime",
        "TOTP",
        "SAML",
        "OAuth",
        "webauthn",
        "password",
        "ssoAppIds",
        "editable",
        "SCIM",
    ] {
        assert!(user.get(field).is_some(), "user.{field} is always present");
    }
    assert_eq!(verified["cookiePath"], "/");
    assert_eq!(verified["cookieMaxAge"], 2_419_200);
    assert_eq!(verified["cookieExpiration"], T0 + 2_419_200);

    // Registered: TTL removed, user id assigned.
    let items = h.user_items().await;
    assert_eq!(items[0]["status"].as_s().unwrap(), "registered");
    assert!(!items[0].contains_key("expiresAt"), "a registered user never expires");
    assert_eq!(items[0]["userId"].as_s().unwrap(), user["userId"].as_str().unwrap());

    // A later sign-in, in a later step: firstSeen false, same user.
    h.advance(30);
    let (status, again) = h.verify("alice@example.com", &code(key, h.now())).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["firstSeen"], Value::Bool(false));
    assert_eq!(again["user"]["userId"], user["userId"]);
    assert_eq!(again["user"]["createdTime"], T0);
}

#[tokio::test]
async fn codes_one_step_either_side_are_accepted_two_steps_are_not() {
    let h = Harness::new().await;
    let (_, signup) = h.signup("drift@example.com").await;
    let key = signup["key"].as_str().unwrap();
    let (status, _) = h.verify("drift@example.com", &code(key, h.now() - 60)).await;
    assert_eq!(status, 401, "two steps old");
    let (status, _) = h.verify("drift@example.com", &code(key, h.now() - 30)).await;
    assert_eq!(status, 200, "one step old");
    let (status, _) = h.verify("drift@example.com", &code(key, h.now() + 30)).await;
    assert_eq!(status, 200, "one step ahead, newer than the last accepted");
}

#[tokio::test]
async fn resignup_replaces_the_pending_key() {
    let h = Harness::new().await;
    let (_, first) = h.signup("bob@example.com").await;
    let (_, second) = h.signup("bob@example.com").await;
    let (old, new) = (first["key"].as_str().unwrap(), second["key"].as_str().unwrap());
    assert_ne!(old, new);
    assert_eq!(h.scan().await.len(), 1, "one item per loginId");
    let (status, body) = h.verify("bob@example.com", &code(old, h.now())).await;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (401, Some("E061102")),
        "the replaced key no longer works"
    );
    let (status, body) = h.verify("bob@example.com", &code(new, h.now())).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn signup_of_a_registered_user_fails_and_changes_nothing() {
    let h = Harness::new().await;
    let (key, _) = h.register("carol@example.com").await;
    let before = h.scan().await;
    let (status, body) = h.signup("carol@example.com").await;
    assert_eq!(status, 409);
    assert_eq!(body["errorCode"], "E062107");
    assert_eq!(h.scan().await, before, "the stored user is untouched");
    h.advance(30);
    let (status, _) = h.verify("carol@example.com", &code(&key, h.now())).await;
    assert_eq!(status, 200, "the original key still works");
}

#[tokio::test]
async fn an_expired_pending_signup_is_absent_and_can_be_redone() {
    let h = Harness::new().await;
    let (_, signup) = h.signup("dave@example.com").await;
    let key = signup["key"].as_str().unwrap().to_owned();
    h.advance(600);
    // DynamoDB Local never expires items: the item is still there, and must not count.
    assert_eq!(h.scan().await.len(), 1);
    let (status, body) = h.verify("dave@example.com", &code(&key, h.now())).await;
    assert_eq!((status, body["errorCode"].as_str()), (404, Some("E062108")));
    let (status, again) = h.signup("dave@example.com").await;
    assert_eq!(status, 200, "{again}");
    let (status, body) = h
        .verify("dave@example.com", &code(again["key"].as_str().unwrap(), h.now()))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn one_second_before_expiry_still_works() {
    let h = Harness::new().await;
    let (_, signup) = h.signup("erin@example.com").await;
    h.advance(599);
    let (status, body) = h
        .verify("erin@example.com", &code(signup["key"].as_str().unwrap(), h.now()))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn concurrent_verifies_of_one_pending_signup_register_one_user() {
    let h = Harness::with_config(|c| c.lockout_max_attempts = 50).await;
    let (_, signup) = h.signup("race@example.com").await;
    let key = signup["key"].as_str().unwrap();
    // Codes of the previous, current and next step are all valid: each could
    // complete the sign-up on its own, but only one may.
    let codes: Vec<String> = (0..12).map(|i| code(key, h.now() - 30 + 30 * (i % 3))).collect();
    let calls = codes.iter().map(|c| h.verify("race@example.com", c));
    let results = futures::future::join_all(calls).await;
    let firsts: Vec<&Value> = results
        .iter()
        .filter(|(s, b)| *s == 200 && b["firstSeen"] == true)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(firsts.len(), 1, "exactly one verify completes the sign-up: {results:?}");
    let user_ids: std::collections::HashSet<&str> = results
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b["user"]["userId"].as_str().unwrap())
        .collect();
    assert_eq!(user_ids.len(), 1, "every success names the same user");
    for (status, body) in &results {
        assert!(
            *status == 200 || (*status == 401 && body["errorCode"] == "E061102"),
            "{status} {body}"
        );
    }
}

#[tokio::test]
async fn signup_racing_verify_never_registers_an_unseen_key() {
    // Many rounds of: verify with key K1 while a re-signup issues K2. Whatever
    // the interleaving, a registered user's stored key must be one that the
    // caller saw in a 200 signup response *and* that completed the sign-up.
    let h = Harness::with_config(|c| c.lockout_max_attempts = 1000).await;
    for round in 0..8 {
        let login = format!("racer{round}@example.com");
        let (_, first) = h.signup(&login).await;
        let k1 = first["key"].as_str().unwrap().to_owned();
        let first_code = code(&k1, h.now());
        let (verified, resigned) = tokio::join!(h.verify(&login, &first_code), h.signup(&login));
        match (verified.0, resigned.0) {
            // Verify won: the re-signup must have been refused; K1 is the key.
            (200, 409) => {
                h.advance(30);
                assert_eq!(h.verify(&login, &code(&k1, h.now())).await.0, 200);
            }
            // Re-signup won: K1 did not register anyone; only K2 can complete.
            (401, 200) => {
                let k2 = resigned.1["key"].as_str().unwrap();
                assert_eq!(h.verify(&login, &code(&k1, h.now() + 30)).await.0, 401);
                assert_eq!(h.verify(&login, &code(k2, h.now())).await.0, 200);
            }
            other => panic!("impossible outcome {other:?}: {verified:?} {resigned:?}"),
        }
    }
}

/// `make dev` creates the table (examples/create_table.rs): again on every
/// start, where the table already exists, which is fine; any other refusal
/// is an error.
#[tokio::test]
async fn creating_the_table_again_is_fine_and_a_refused_creation_is_an_error() {
    let h = Harness::new().await;
    h.register("kept@example.com").await;
    totp_lambda::store::dynamo::ensure_table(&h.client, &h.table)
        .await
        .unwrap();
    assert_eq!(h.scan().await.len(), 2, "the table, its user and pointer are kept");
    // DynamoDB table names are 3 to 255 characters.
    let refused = totp_lambda::store::dynamo::ensure_table(&h.client, "ab").await;
    assert!(refused.is_err(), "{refused:?}");
}

#[tokio::test]
async fn each_project_shows_its_own_issuer_and_uses_its_own_key_parameters_and_limits() {
    let h = Harness::with_config(|c| {
        let document = json!({PROJECT: {"issuer": "Project A Inc", "totpAlgorithm": "SHA256", "totpDigits": 8,
                                        "totpPeriod": 60, "lockoutMaxAttempts": 2}});
        c.project_settings = totp_lambda::settings::parse(&document.to_string(), &c.projects).unwrap();
    })
    .await;
    let (status, a) = h.signup("set@example.com").await;
    assert_eq!(status, 200, "{a}");
    let url = a["provisioningURL"].as_str().unwrap();
    assert!(
        url.starts_with("otpauth://totp/Project%20A%20Inc:set%40example.com?"),
        "{url}"
    );
    assert!(
        url.ends_with("&issuer=Project%20A%20Inc&algorithm=SHA256&digits=8&period=60"),
        "{url}"
    );
    assert_eq!(
        decode_qr(a["image"].as_str().unwrap()),
        url,
        "the QR code says the same"
    );
    let key = a["key"].as_str().unwrap();
    let (status, body) = h
        .verify("set@example.com", &code_with(key, h.now(), "SHA256", 8, 60))
        .await;
    assert_eq!(status, 200, "{body}");
    // Two wrong codes lock this project's user out; the other project keeps five.
    for _ in 0..2 {
        assert_eq!(h.verify("set@example.com", "00000000").await.0, 401);
    }
    assert_eq!(h.verify("set@example.com", "00000000").await.0, 429);
    h.advance(h.app.config.lockout_window_seconds + 1);

    let (status, b) = h.signup_in(OTHER_PROJECT, "set@example.com").await;
    assert_eq!(status, 200);
    let url = b["provisioningURL"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("otpauth://totp/{}:", ISSUER.replace(' ', "%20"))),
        "{url}"
    );
    assert!(url.ends_with("&algorithm=SHA1&digits=6&period=30"), "{url}");
    for _ in 0..4 {
        assert_eq!(h.verify_in(OTHER_PROJECT, "set@example.com", "000000").await.0, 401);
    }
    // An update in project A gives a key of A's parameters, which then signs in.
    let (_, signed_in) = h
        .verify("set@example.com", &code_with(key, h.now(), "SHA256", 8, 60))
        .await;
    let refresh = refresh_of(&signed_in);
    assert!(!refresh.is_empty(), "{signed_in}");
    let (status, updated) = h
        .update(&bearer(&format!("{PROJECT}:{refresh}")), "set@example.com")
        .await;
    assert_eq!(status, 200, "{updated}");
    assert!(updated["provisioningURL"]
        .as_str()
        .unwrap()
        .ends_with("digits=8&period=60"));
    h.advance(120);
    let new_key = updated["key"].as_str().unwrap();
    let (status, body) = h
        .verify("set@example.com", &code_with(new_key, h.now(), "SHA256", 8, 60))
        .await;
    assert_eq!(status, 200, "{body}");
}
