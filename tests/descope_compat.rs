//! The Descope surface beyond signup/verify: JWT claims, the JWKS, key
//! update, step-up, custom claims and signing-key rotation.

use crate::common;

use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::http::Method;
use serde_json::{json, Value};

async fn jwks(h: &Harness, project: &str) -> (u16, Value, String) {
    let tokens = h.app.tokens.as_ref().unwrap();
    let response = totp_lambda::http::keys(
        &h.app.config,
        tokens,
        request(Method::GET, &format!("/v2/keys/{project}"), None, ""),
    )
    .await
    .unwrap();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let (status, body) = into_parts(response).await;
    (status, body, cache)
}

/// Verifies `jwt` against the published JWKS with jsonwebtoken, not our code.
fn verify_with_jwks(jwt: &str, jwks: &Value) -> Value {
    let kid = jsonwebtoken::decode_header(jwt).unwrap().kid.expect("kid in header");
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("kid is published");
    let decoding = DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false; // the harness clock is not the wall clock
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    validation.set_audience(&[PROJECT]);
    jsonwebtoken::decode::<Value>(jwt, &decoding, &validation)
        .expect("signature verifies")
        .claims
}

#[tokio::test]
async fn tokens_carry_the_contract_claims_and_verify_against_the_jwks() {
    let h = Harness::new().await;
    let (_, verified) = h.register("claims@example.com").await;
    let (status, keys, cache) = jwks(&h, PROJECT).await;
    assert_eq!(status, 200);
    assert!(cache.starts_with("public, max-age="), "{cache}");
    for key in keys["keys"].as_array().unwrap() {
        for field in ["alg", "kid", "kty", "use", "n", "e"] {
            assert!(key[field].is_string(), "{field} in {key}");
        }
        assert_eq!(
            (key["alg"].as_str(), key["kty"].as_str(), key["use"].as_str()),
            (Some("RS256"), Some("RSA"), Some("sig"))
        );
        use base64::Engine as _;
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key["n"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            (n.len(), n[0] & 0x80),
            (256, 0x80),
            "a 2048-bit modulus, unpadded, no leading zero"
        );
    }
    let user_id = verified["user"]["userId"].as_str().unwrap();
    let session = verify_with_jwks(verified["sessionJwt"].as_str().unwrap(), &keys);
    let refresh = verify_with_jwks(verified["refreshJwt"].as_str().unwrap(), &keys);
    for (claims, drn, ttl) in [(&session, "DS", 600), (&refresh, "DSR", 2_419_200)] {
        assert_eq!(claims["iss"], PROJECT);
        assert_eq!(claims["sub"], user_id);
        assert_eq!(claims["amr"], json!(["totp"]));
        assert_eq!(claims["drn"], drn);
        assert_eq!(claims["iat"], T0);
        assert_eq!(claims["exp"], T0 + ttl);
        assert_eq!(claims["aud"], PROJECT);
    }
    // Only the refresh token names its id, its user's loginId and generation.
    assert!(refresh["jti"].as_str().is_some_and(|j| j.len() >= 26), "{refresh}");
    assert_eq!(refresh["loginId"], "claims@example.com");
    assert_eq!(refresh["gen"], 0);
    for claim in ["jti", "loginId", "gen"] {
        assert!(session.get(claim).is_none(), "{claim} in the session token");
    }
    // What an API Gateway JWT authorizer can require: a scope only session tokens have.
    assert_eq!(session["scope"], "session");
    assert!(refresh.get("scope").is_none(), "{refresh}");
    assert_eq!(verified["cookieExpiration"], refresh["exp"]);
    assert!(session.get("nsec").is_none(), "no custom claims asked for");
}

#[tokio::test]
async fn unknown_project_keys_are_refused() {
    let h = Harness::new().await;
    let (status, body, _) = jwks(&h, "P2Unknown").await;
    assert_eq!((status, error_code(&body)), (401, "E011003"));
    let tokens = h.app.tokens.as_ref().unwrap();
    let post = totp_lambda::http::keys(
        &h.app.config,
        tokens,
        request(Method::POST, &format!("/v2/keys/{PROJECT}"), None, "{}"),
    );
    assert_eq!(into_parts(post.await.unwrap()).await.0, 405);
}

#[tokio::test]
async fn update_issues_a_pending_key_that_replaces_the_old_one_on_first_use() {
    let h = Harness::new().await;
    let (old, verified) = h.register("update@example.com").await;
    let auth = bearer(&format!("{PROJECT}:{}", verified["refreshJwt"].as_str().unwrap()));
    let (status, updated) = h.update(&auth, "update@example.com").await;
    assert_eq!(status, 200, "{updated}");
    let new = updated["key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        decode_qr(updated["image"].as_str().unwrap()),
        updated["provisioningURL"].as_str().unwrap()
    );

    // Until the new key is used, the old one keeps working.
    h.advance(30);
    assert_eq!(h.verify("update@example.com", &code(&old, h.now())).await.0, 200);
    // The new key's first code confirms it...
    h.advance(30);
    let (status, body) = h.verify("update@example.com", &code(&new, h.now())).await;
    assert_eq!((status, body["firstSeen"].as_bool()), (200, Some(false)));
    assert_eq!(body["user"]["userId"], verified["user"]["userId"], "same user");
    // ...and retires the old key.
    h.advance(30);
    assert_eq!(h.verify("update@example.com", &code(&old, h.now())).await.0, 401);
    assert_eq!(h.verify("update@example.com", &code(&new, h.now())).await.0, 200);
    assert!(!h.scan().await[0].contains_key("pendingSecret"));
}

#[tokio::test]
async fn an_abandoned_pending_key_expires_harmlessly() {
    let h = Harness::new().await;
    let (old, verified) = h.register("abandon@example.com").await;
    let auth = bearer(&format!("{PROJECT}:{}", verified["refreshJwt"].as_str().unwrap()));
    let new = h.update(&auth, "abandon@example.com").await.1["key"]
        .as_str()
        .unwrap()
        .to_owned();
    h.advance(600);
    assert_eq!(
        h.verify("abandon@example.com", &code(&new, h.now())).await.0,
        401,
        "expired pending key"
    );
    h.advance(30);
    assert_eq!(
        h.verify("abandon@example.com", &code(&old, h.now())).await.0,
        200,
        "old key unaffected"
    );
}

#[tokio::test]
async fn update_refuses_tokens_that_are_not_this_users_refresh_token() {
    let h = Harness::new().await;
    let (_, alice) = h.register("alice@example.com").await;
    let (_, bob) = h.register("bob@example.com").await;
    let before = h.scan().await;
    let alice_refresh = alice["refreshJwt"].as_str().unwrap();
    let cases = [
        (bearer(PROJECT), "alice@example.com", "no token"),
        (
            bearer(&format!("{PROJECT}:{}", bob["refreshJwt"].as_str().unwrap())),
            "alice@example.com",
            "another user's",
        ),
        (
            bearer(&format!("{PROJECT}:{}", alice["sessionJwt"].as_str().unwrap())),
            "alice@example.com",
            "a session token",
        ),
        (
            bearer(&format!("{PROJECT}:{}x", alice_refresh)),
            "alice@example.com",
            "a tampered token",
        ),
        (bearer(&format!("{PROJECT}:a.b.c")), "alice@example.com", "garbage"),
    ];
    for (auth, login, why) in cases {
        let (status, body) = h.update(&auth, login).await;
        assert_eq!((status, error_code(&body)), (401, "E061004"), "{why}");
    }
    // A management-key suffix is accepted and ignored.
    let (status, _) = h
        .update(
            &bearer(&format!("{PROJECT}:{alice_refresh}:mgmt-key")),
            "alice@example.com",
        )
        .await;
    assert_eq!(status, 200);
    // A valid token of another loginId, even one nobody has: another user's token.
    let (status, body) = h
        .update(&bearer(&format!("{PROJECT}:{alice_refresh}")), "nobody@example.com")
        .await;
    assert_eq!((status, error_code(&body)), (401, "E061004"));
    // Only the one accepted update changed anything, and only Alice's item.
    let after = h.scan().await;
    let bob_item = |items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>]| {
        items
            .iter()
            .find(|i| i["pk"].as_s().unwrap().ends_with("#bob@example.com"))
            .cloned()
            .unwrap()
    };
    assert_eq!(bob_item(&after), bob_item(&before));
    // An expired refresh token is refused.
    h.advance(2_419_200 + 10);
    let (status, _) = h
        .update(&bearer(&format!("{PROJECT}:{alice_refresh}")), "alice@example.com")
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn step_up_and_mfa_need_the_same_users_refresh_token() {
    let h = Harness::new().await;
    let (key, alice) = h.register("stepup@example.com").await;
    let (_, bob) = h.register("other@example.com").await;
    let own = alice["refreshJwt"].as_str().unwrap();
    let foreign = bob["refreshJwt"].as_str().unwrap();
    for option in ["stepup", "mfa"] {
        h.advance(30);
        let body = |c: &str| json!({"loginId": "stepup@example.com", "code": c, "loginOptions": {option: true}});
        let c = code(&key, h.now());
        let (status, err) = h.verify_with(&bearer(PROJECT), body(&c)).await;
        assert_eq!((status, error_code(&err)), (401, "E061004"), "{option} without a token");
        let (status, _) = h.verify_with(&bearer(&format!("{PROJECT}:{foreign}")), body(&c)).await;
        assert_eq!(status, 401, "{option} with another user's token");
        let (status, ok) = h.verify_with(&bearer(&format!("{PROJECT}:{own}")), body(&c)).await;
        assert_eq!(status, 200, "{option} with the user's own token: {ok}");
        // The session says it was stepped up (Descope's `su`); the refresh token does not.
        assert_eq!(claims(ok["sessionJwt"].as_str().unwrap())["su"], true, "{option}");
        assert!(claims(ok["refreshJwt"].as_str().unwrap()).get("su").is_none());
        // A session refreshed later is a plain one again.
        let (status, refreshed) = h.session("refresh", ok["refreshJwt"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert!(claims(refreshed["sessionJwt"].as_str().unwrap()).get("su").is_none());
    }
    // A plain verify that carries a refresh token (the SDK sends one whenever it has it) is fine,
    // and not a step-up.
    h.advance(30);
    let body = json!({"loginId": "stepup@example.com", "code": code(&key, h.now())});
    let (status, plain) = h.verify_with(&bearer(&format!("{PROJECT}:{foreign}")), body).await;
    assert_eq!(status, 200);
    assert!(claims(plain["sessionJwt"].as_str().unwrap()).get("su").is_none());
    assert!(claims(alice["sessionJwt"].as_str().unwrap()).get("su").is_none());
}

#[tokio::test]
async fn custom_claims_land_under_nsec_and_null_or_empty_options_are_fine() {
    let h = Harness::new().await;
    let (key, _) = h.register("custom@example.com").await;
    let cases = [
        (
            json!({"customClaims": {"plan": "gold", "n": 3}}),
            Some(json!({"plan": "gold", "n": 3})),
        ),
        (json!({"customClaims": null}), None),
        (json!({}), None),
        (json!({"stepup": false, "mfa": false, "customClaims": {}}), None),
    ];
    for (options, nsec) in cases {
        h.advance(30);
        let body = json!({"loginId": "custom@example.com", "code": code(&key, h.now()), "loginOptions": options});
        let (status, verified) = h.verify_with(&bearer(PROJECT), body).await;
        assert_eq!(status, 200, "{options}: {verified}");
        let session = claims(verified["sessionJwt"].as_str().unwrap());
        assert_eq!(session.get("nsec").cloned(), nsec, "{options}");
        assert!(claims(verified["refreshJwt"].as_str().unwrap()).get("nsec").is_none());
    }
}

#[tokio::test]
async fn signing_key_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
    let mut h = Harness::new().await;
    let (_, before) = h.register("rotate@example.com").await;
    let old_refresh = before["refreshJwt"].as_str().unwrap().to_owned();
    // A second user keeps a token of the old key that nothing revokes.
    let (bystander_key, bystander) = h.register("bystander@example.com").await;
    let bystander_refresh = bystander["refreshJwt"].as_str().unwrap().to_owned();
    assert_eq!(
        jsonwebtoken::decode_header(&old_refresh).unwrap().kid.as_deref(),
        Some("test-key-1")
    );

    // Step 1: publish the new key before it signs (clients cache the JWKS).
    let publish = json!({"keys": [
        {"kid": "test-key-1", "privateKeyPem": rsa_private_pem(0)},
        {"kid": "test-key-2", "privateKeyPem": rsa_private_pem(1)},
    ]});
    h.app.tokens = Some(project_keys_with(publish));
    let (_, keys, _) = jwks(&h, PROJECT).await;
    let kids: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["test-key-1", "test-key-2"]);
    // Published, but it does not sign yet: clients may still hold the old JWKS.
    h.advance(30);
    let (_, again) = h.verify("bystander@example.com", &code(&bystander_key, h.now())).await;
    for token in ["sessionJwt", "refreshJwt"] {
        let kid = jsonwebtoken::decode_header(again[token].as_str().unwrap()).unwrap().kid;
        assert_eq!(kid.as_deref(), Some("test-key-1"), "{token} in step 1");
    }

    // Step 2: the new key signs; the old one stays published (public part only).
    let old_public = std::process::Command::new("openssl")
        .args(["pkey", "-pubout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(rsa_private_pem(0).as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let rotated = json!({"keys": [
        {"kid": "test-key-2", "privateKeyPem": rsa_private_pem(1)},
        {"kid": "test-key-1", "publicKeyPem": String::from_utf8(old_public.stdout).unwrap()},
    ]});
    h.app.tokens = Some(project_keys_with(rotated));
    let (_, keys, _) = jwks(&h, PROJECT).await;
    assert_eq!(
        keys["keys"].as_array().unwrap().len(),
        2,
        "both keys during the rotation"
    );
    // A token from before the rotation still validates, here and for any JWKS client.
    verify_with_jwks(&old_refresh, &keys);
    let (status, updated) = h
        .update(&bearer(&format!("{PROJECT}:{old_refresh}")), "rotate@example.com")
        .await;
    assert_eq!(status, 200, "{updated}");
    // New tokens carry the new kid.
    h.advance(30);
    let (status, after) = h
        .verify("rotate@example.com", &code(updated["key"].as_str().unwrap(), h.now()))
        .await;
    assert_eq!(status, 200);
    for token in ["sessionJwt", "refreshJwt"] {
        let jwt = after[token].as_str().unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(jwt).unwrap().kid.as_deref(),
            Some("test-key-2")
        );
        verify_with_jwks(jwt, &keys);
    }

    // Step 3: after the refresh lifetime, the old key is dropped; its tokens stop working.
    let done = json!({"keys": [{"kid": "test-key-2", "privateKeyPem": rsa_private_pem(1)}]});
    h.app.tokens = Some(project_keys_with(done));
    let (status, body) = h
        .update(
            &bearer(&format!("{PROJECT}:{bystander_refresh}")),
            "bystander@example.com",
        )
        .await;
    assert_eq!((status, error_code(&body)), (401, "E061004"));
}

#[tokio::test]
async fn parallel_first_codes_of_an_updated_key_confirm_it_once() {
    let h = Harness::with_config(|c| c.lockout_max_attempts = 100).await;
    let (_, verified) = h.register("confirm@example.com").await;
    let auth = bearer(&format!("{PROJECT}:{}", verified["refreshJwt"].as_str().unwrap()));
    let new = h.update(&auth, "confirm@example.com").await.1["key"]
        .as_str()
        .unwrap()
        .to_owned();
    h.advance(30);
    let c = code(&new, h.now());
    let results = futures::future::join_all((0..8).map(|_| h.verify("confirm@example.com", &c))).await;
    assert_eq!(results.iter().filter(|(s, _)| *s == 200).count(), 1, "{results:?}");
    assert!(results
        .iter()
        .all(|(s, b)| *s == 200 || (*s == 401 && error_code(b) == "E061102")));
    assert!(
        !h.scan().await[0].contains_key("pendingSecret"),
        "promoted once, pending key gone"
    );
}
