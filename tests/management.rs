//! Support's tools against DynamoDB Local: a lost phone, an erasure
//! request, a stolen session; management keys; and a key removal that
//! lands between a sign-in's read and its write. (The audit line is read
//! back by tests/logs.rs, a binary of its own.)

mod audit;
use crate::common;
mod lifecycle;

use common::*;
use lambda_http::http::Method;
use serde_json::json;
use totp_lambda::store::dynamo::DynamoStore;
use totp_lambda::store::*;

#[tokio::test]
async fn a_lost_phone_removes_the_key_and_sessions_and_the_user_enrols_again() {
    let h = Harness::new().await;
    let profile = json!({"loginId": "phone@example.com", "user": {"name": "Pat Phone", "email": "pat@example.com"}});
    let (status, signup) = call_signup(
        &h.app,
        request(
            Method::POST,
            "/v1/auth/totp/signup",
            Some(&bearer(PROJECT)),
            &profile.to_string(),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let old_key = signup["key"].as_str().unwrap().to_owned();
    let (_, first) = h.verify("phone@example.com", &code(&old_key, h.now())).await;
    let user_id = first["user"]["userId"].clone();

    let (status, removed) = mgmt(&h.app, "remove_totp", "phone@example.com").await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["user"]["TOTP"], false);
    assert_eq!(removed["user"]["userId"], user_id);
    assert_eq!(removed["user"]["name"], "Pat Phone");
    assert_eq!(removed["user"]["email"], "pat@example.com");
    // The old key and the old session are dead.
    h.advance(30);
    let (status, body) = h.verify("phone@example.com", &code(&old_key, h.now())).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"));
    let (status, body) = h.session("refresh", &refresh_of(&first)).await;
    assert_eq!((status, error_code(&body)), (401, "E064001"));
    // Load shows the user without a key, and no secret is left on the item.
    let (status, loaded) = mgmt(&h.app, "load", "phone@example.com").await;
    assert_eq!(status, 200, "{loaded}");
    assert_eq!(loaded["user"]["TOTP"], false);
    let item = h.scan().await.into_iter().next().unwrap();
    for gone in ["secret", "secretKeyId", "pendingSecret", "lastStep"] {
        assert!(!item.contains_key(gone), "{gone} left on the item");
    }

    // Signing up again is refused: only a proof of identity brings a key back.
    let (status, body) = h.signup("phone@example.com").await;
    assert_eq!((status, error_code(&body)), (409, "E062107"));

    // Support hands the user a sign-in link; its session enrols a new key.
    let token = sign_in_link(&h.app, "phone@example.com").await;
    let (status, linked) = redeem_link(&h.app, &token).await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(linked["firstSeen"], false);
    assert_eq!(linked["user"]["userId"], user_id);
    assert_eq!(linked["user"]["TOTP"], false);
    for jwt in [&linked["sessionJwt"], &linked["refreshJwt"]] {
        assert_eq!(claims(jwt.as_str().unwrap())["amr"], json!(["embeddedlink"]));
    }
    let link_refresh = refresh_of(&linked);
    let (status, updated) = h
        .update(&bearer(&format!("{PROJECT}:{link_refresh}")), "phone@example.com")
        .await;
    assert_eq!(status, 200, "{updated}");
    let new_key = updated["key"].as_str().unwrap().to_owned();
    h.advance(30);
    let (status, enrolled) = h.verify("phone@example.com", &code(&new_key, h.now())).await;
    assert_eq!(status, 200, "{enrolled}");
    assert_eq!(enrolled["firstSeen"], false);
    assert_eq!(enrolled["user"]["userId"], user_id);
    assert_eq!(enrolled["user"]["TOTP"], true);
    assert_eq!(enrolled["user"]["name"], "Pat Phone");
    assert_eq!(claims(enrolled["sessionJwt"].as_str().unwrap())["amr"], json!(["totp"]));
    // The link is spent, and the new key ended the link's session.
    let (status, body) = redeem_link(&h.app, &token).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"));
    let (status, body) = h.session("refresh", &link_refresh).await;
    assert_eq!((status, error_code(&body)), (401, "E064001"));
    h.advance(30);
    assert_eq!(h.verify("phone@example.com", &code(&old_key, h.now())).await.0, 401);
    assert_eq!(h.verify("phone@example.com", &code(&new_key, h.now())).await.0, 200);
}

#[tokio::test]
async fn a_sign_in_link_is_stored_as_a_hash_and_carries_custom_claims_and_refreshes_as_a_link() {
    let h = Harness::new().await;
    h.register("claims@example.com").await;
    let (status, body) = mgmt_sign_in_link(
        &h.app,
        json!({"loginId": "claims@example.com", "customClaims": {"ticket": "T-1"}, "timeout": 60}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 52, "at least 256 bits in base32: {token}");
    let items = format!("{:?}", h.scan().await);
    assert!(!items.contains(&token), "the token itself is never stored");
    let (status, linked) = redeem_link(&h.app, &token).await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(
        claims(linked["sessionJwt"].as_str().unwrap())["nsec"],
        json!({"ticket": "T-1"})
    );
    // A refreshed session says how the sign-in behind it was proved.
    let (status, refreshed) = h.session("refresh", &refresh_of(&linked)).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        claims(refreshed["sessionJwt"].as_str().unwrap())["amr"],
        json!(["embeddedlink"])
    );
    let left: Vec<String> = h.scan().await.iter().map(|i| i["pk"].as_s().unwrap().clone()).collect();
    assert_eq!(
        left.iter().filter(|pk| !pk.contains("|uid|")).collect::<Vec<_>>(),
        [&format!("{PROJECT}#claims@example.com")],
        "the spent link is gone"
    );
}

#[tokio::test]
async fn a_sign_in_link_is_refused_when_wrong_spent_expired_or_for_someone_else() {
    let h = Harness::new().await;
    h.register("linked@example.com").await;
    // Unknown, or only pending: no link.
    h.signup("pending@example.com").await;
    for login in ["nobody@example.com", "pending@example.com"] {
        let (status, body) = mgmt_sign_in_link(&h.app, json!({ "loginId": login })).await;
        assert_eq!((status, error_code(&body)), (404, "E062108"), "{login}");
    }
    for (timeout, code) in [
        (json!(3601), "E011003"),
        (json!(-1), "E011003"),
        (json!("60"), "E011001"),
    ] {
        let (status, body) =
            mgmt_sign_in_link(&h.app, json!({"loginId": "linked@example.com", "timeout": timeout})).await;
        assert_eq!((status, error_code(&body)), (400, code), "{timeout}");
    }
    let before = h.scan().await;
    // A guess, a malformed token, no token: nothing changes.
    let guess = "A".repeat(52);
    for (token, status, code) in [
        (guess.as_str(), 401, "E061102"),
        ("not a token!", 400, "E011003"),
        ("", 400, "E011002"),
    ] {
        let (got, body) = redeem_link(&h.app, token).await;
        assert_eq!((got, error_code(&body)), (status, code), "{token:?}");
    }
    assert_eq!(h.scan().await, before, "a refused redemption wrote nothing");

    // Expired: one second past its lifetime.
    let (_, body) = mgmt_sign_in_link(&h.app, json!({"loginId": "linked@example.com", "timeout": 60})).await;
    let expiring = body["token"].as_str().unwrap().to_owned();
    h.advance(60);
    let (status, body) = redeem_link(&h.app, &expiring).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"), "expired");

    // Of another project: project B knows no such link.
    let token = sign_in_link(&h.app, "linked@example.com").await;
    let (status, body) = redeem_link_in(&h.app, OTHER_PROJECT, &token).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"), "another project");
    // The user deleted and the loginId signed up again: someone else now.
    assert_eq!(mgmt(&h.app, "delete", "linked@example.com").await.0, 200);
    h.register("linked@example.com").await;
    let (status, body) = redeem_link(&h.app, &token).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "E061102"),
        "issued for the deleted user"
    );
}

#[tokio::test]
async fn parallel_redemptions_of_one_link_sign_in_once() {
    let h = Harness::new().await;
    h.register("race-link@example.com").await;
    let token = sign_in_link(&h.app, "race-link@example.com").await;
    let answers = futures::future::join_all((0..8).map(|_| redeem_link(&h.app, &token))).await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 401), "{statuses:?}");
}

/// Support logs the user out between a redemption's read and its write:
/// the link's session would belong to an ended generation, so none is given.
struct LogoutDuringRedemption;

impl Hook for LogoutDuringRedemption {
    async fn before(&self, op: Op, key: &UserKey, store: &DynamoStore) -> Result<(), StoreError> {
        if op == Op::RedeemSignInLink {
            store.end_all_sessions(key).await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_redemption_racing_a_sign_out_everywhere_gives_no_session() {
    let h = Harness::new().await;
    h.register("race-logout@example.com").await;
    let token = sign_in_link(&h.app, "race-logout@example.com").await;
    let racing = h.hooked(LogoutDuringRedemption);
    let (status, body) = redeem_link(&racing, &token).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"), "{body}");
    // Nothing was spent: the link signs in once the race is over.
    assert_eq!(redeem_link(&h.app, &token).await.0, 200);
}

/// The takeover of issue 23: after support removed a user's key, a sign-up
/// needs only the project id and the loginId. It must be refused and write
/// nothing, and nothing the attacker can send afterwards signs them in.
#[tokio::test]
async fn after_a_key_removal_a_sign_up_by_anyone_is_refused_and_writes_nothing() {
    let h = Harness::new().await;
    let (old_key, _) = h.register("victim@example.com").await;
    assert_eq!(mgmt(&h.app, "remove_totp", "victim@example.com").await.0, 200);
    let before = h.scan().await;
    for _ in 0..2 {
        let (status, body) = h.signup("victim@example.com").await;
        assert_eq!((status, error_code(&body)), (409, "E062107"), "{body}");
        assert_eq!(h.scan().await, before, "a refused sign-up wrote nothing");
    }
    // No key is pending, so no code the attacker can compute signs anyone in.
    h.advance(30);
    for key in [old_key.as_str(), "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"] {
        let (status, body) = h.verify("victim@example.com", &code(key, h.now())).await;
        assert_eq!((status, error_code(&body)), (401, "E061102"), "{key}");
    }
    let (_, loaded) = mgmt(&h.app, "load", "victim@example.com").await;
    assert_eq!(loaded["user"]["TOTP"], false);
}

#[tokio::test]
async fn delete_leaves_nothing_and_the_login_id_starts_over() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("erase@example.com").await;
    let old_user_id = signed_in["user"]["userId"].clone();
    h.signup("pending@example.com").await;
    h.register("keep@example.com").await;
    for login in ["erase@example.com", "pending@example.com", "never@example.com"] {
        let (status, body) = mgmt(&h.app, "delete", login).await;
        assert_eq!((status, &body), (200, &json!({})), "{login}");
    }
    let mut left: Vec<String> = h.scan().await.iter().map(|i| i["pk"].as_s().unwrap().clone()).collect();
    left.sort();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[0], format!("{PROJECT}#keep@example.com"));
    assert!(
        left[1].starts_with(&format!("{PROJECT}|uid|")),
        "only the kept user's pointer"
    );
    for login in ["erase@example.com", "pending@example.com"] {
        let (status, body) = mgmt(&h.app, "load", login).await;
        assert_eq!((status, error_code(&body)), (404, "E062108"), "{login}");
        let (status, body) = h.verify(login, "123456").await;
        assert_eq!((status, error_code(&body)), (404, "E062108"), "{login}");
    }
    let (status, body) = h.session("refresh", &refresh_of(&signed_in)).await;
    assert_eq!((status, error_code(&body)), (401, "E064001"));
    // The loginId may sign up again: a new user.
    let (_, again) = h.register("erase@example.com").await;
    assert_eq!(again["firstSeen"], true);
    assert_ne!(again["user"]["userId"], old_user_id);
}

#[tokio::test]
async fn logout_user_ends_every_session_and_load_shows_only_users() {
    let h = Harness::new().await;
    let (key, first) = h.register("signout@example.com").await;
    h.advance(30);
    let (_, second) = h.verify("signout@example.com", &code(&key, h.now())).await;
    let (status, body) = mgmt(&h.app, "logout", "signout@example.com").await;
    assert_eq!((status, &body), (200, &json!({})));
    for token in [&first, &second] {
        let (status, body) = h.session("me", &refresh_of(token)).await;
        assert_eq!((status, error_code(&body)), (401, "E064001"));
    }
    // The key still works: only sessions ended.
    h.advance(30);
    assert_eq!(h.verify("signout@example.com", &code(&key, h.now())).await.0, 200);

    let (status, loaded) = mgmt(&h.app, "load", "signout@example.com").await;
    assert_eq!(status, 200);
    assert_eq!(loaded["user"]["userId"], first["user"]["userId"]);
    assert_eq!(loaded["user"]["TOTP"], true);
    h.signup("halfway@example.com").await;
    for route in ["load", "logout", "remove_totp"] {
        for login in ["halfway@example.com", "nobody@example.com"] {
            let (status, body) = mgmt(&h.app, route, login).await;
            assert_eq!((status, error_code(&body)), (404, "E062108"), "{route} {login}");
        }
    }
}

#[tokio::test]
async fn only_a_management_key_of_the_project_opens_the_routes() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("guarded@example.com").await;
    let before = h.scan().await;
    let refresh = refresh_of(&signed_in);
    let refused = [
        None,
        Some(bearer(PROJECT)),
        Some(bearer(&format!("{PROJECT}:"))),
        Some(bearer(&format!("{PROJECT}:wrong-key-0123456789abcdefghijklmnop"))),
        Some(bearer(&format!("{PROJECT}:{MGMT_KEY_B}"))),
        Some(bearer(&format!("{PROJECT}:{refresh}"))),
        Some(bearer(&format!("{PROJECT}:{MGMT_KEY_A}x"))),
        Some(bearer(&format!("P2Unknown:{MGMT_KEY_A}"))),
        Some(format!("Basic {PROJECT}:{MGMT_KEY_A}")),
        Some(MGMT_KEY_A.to_owned()),
    ];
    for authorization in &refused {
        for route in ["remove_totp", "delete", "load", "logout"] {
            let (status, body) = mgmt_as(&h.app, authorization.as_deref(), route, "guarded@example.com").await;
            assert_eq!(
                (status, error_code(&body)),
                (401, "E011003"),
                "{route} {authorization:?}"
            );
        }
    }
    assert_eq!(h.scan().await, before, "nothing changed");
    assert_eq!(h.session("refresh", &refresh).await.0, 200);
    // Project B's key works for project B's users only.
    let other = bearer(&format!("{OTHER_PROJECT}:{MGMT_KEY_B}"));
    let (status, body) = mgmt_as(&h.app, Some(&other), "load", "guarded@example.com").await;
    assert_eq!((status, error_code(&body)), (404, "E062108"), "A's user is not B's");
    // Bad input after a good key: a clear error, nothing changed.
    let auth = bearer(&format!("{PROJECT}:{MGMT_KEY_A}"));
    for (method, path, body, code) in [
        (Method::POST, "/v1/mgmt/user/delete", "{}", "E011002"),
        (Method::POST, "/v1/mgmt/user/delete", "[]", "E011001"),
        (Method::POST, "/v1/mgmt/user/logout", r#"{"loginId": 7}"#, "E011001"),
        (Method::GET, "/v1/mgmt/user", "", "E011002"),
    ] {
        let req = request(method, path, Some(&auth), body);
        let (status, answer) = into_parts(
            totp_lambda::http::management(&h.app, &management_keys(), req)
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, error_code(&answer)), (400, code), "{path} {body}");
    }
    let req = request(Method::GET, "/v1/mgmt/user/delete", Some(&auth), "");
    let (status, _) = into_parts(
        totp_lambda::http::management(&h.app, &management_keys(), req)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 405);
    assert_eq!(h.scan().await, before, "nothing changed");
}

/// Support removes the user's key right after a sign-in has read the user
/// and before it writes: the sign-in's condition on the enrollment it
/// matched must refuse it.
#[derive(Default)]
struct RemovalDuringSignIn {
    removed: std::sync::atomic::AtomicBool,
}

impl Hook for RemovalDuringSignIn {
    async fn before(&self, op: Op, key: &UserKey, store: &DynamoStore) -> Result<(), StoreError> {
        if op == Op::RecordSignIn {
            store.remove_key(key, "E-REMOVED-MEANWHILE").await?;
            self.removed.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_key_removed_between_a_sign_ins_read_and_write_signs_no_one_in() {
    let h = Harness::new().await;
    let (key, _) = h.register("racing@example.com").await;
    let racing = h.hooked(RemovalDuringSignIn::default());
    h.advance(30);
    let (status, body) = call_verify(
        &racing,
        verify_request(PROJECT, "racing@example.com", &code(&key, h.now())),
    )
    .await;
    assert!(
        racing.store.hook.removed.load(std::sync::atomic::Ordering::SeqCst),
        "the removal ran"
    );
    assert_eq!(
        (status, error_code(&body)),
        (401, "E061102"),
        "no tokens for a removed key"
    );
    let (_, loaded) = mgmt(&h.app, "load", "racing@example.com").await;
    assert_eq!(loaded["user"]["TOTP"], false);
}

#[tokio::test]
async fn the_store_spends_a_link_only_before_it_expires() {
    use sha2::Digest as _;
    let h = Harness::new().await;
    h.register("expiry@example.com").await;
    let token = sign_in_link(&h.app, "expiry@example.com").await;
    let hash = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(token.as_bytes()));
    let project = totp_lambda::domain::ProjectId::parse(PROJECT).unwrap();
    let link = h
        .app
        .store
        .get_sign_in_link(&project, &hash)
        .await
        .unwrap()
        .expect("the link");
    let key = UserKey {
        project,
        login_id: totp_lambda::domain::LoginId::parse(Some("expiry@example.com")).unwrap(),
    };
    let generation = h.app.store.get(&key).await.unwrap().unwrap().session_generation;
    // TTL deletion lags: the write itself refuses a link at its expiry.
    let spend = |now| h.app.store.redeem_sign_in_link(&key, &link, generation, now);
    assert_eq!(spend(link.expires_at).await, Err(StoreError::Conflict));
    assert_eq!(spend(link.expires_at - 1).await, Ok(()));
    assert_eq!(spend(link.expires_at - 1).await, Err(StoreError::Conflict), "spent");
}

#[tokio::test]
async fn a_link_timeout_is_whole_seconds_as_any_json_number() {
    let h = Harness::new().await;
    h.register("timeout@example.com").await;
    // JSON Schema's integer: 600.0 is 600.
    for timeout in [json!(600.0), json!(3600), json!(null), json!(0)] {
        let (status, body) =
            mgmt_sign_in_link(&h.app, json!({"loginId": "timeout@example.com", "timeout": timeout})).await;
        assert_eq!(status, 200, "{timeout}: {body}");
    }
    for timeout in [json!(600.5), json!(3600.0 + 1.0), json!(-0.5), json!(1e300)] {
        let (status, body) =
            mgmt_sign_in_link(&h.app, json!({"loginId": "timeout@example.com", "timeout": timeout})).await;
        assert_eq!((status, error_code(&body)), (400, "E011003"), "{timeout}");
    }
}

#[tokio::test]
async fn an_expired_link_is_refused_before_any_write() {
    let h = Harness::new().await;
    h.register("expired-link@example.com").await;
    let (_, body) = mgmt_sign_in_link(&h.app, json!({"loginId": "expired-link@example.com", "timeout": 60})).await;
    let token = body["token"].as_str().unwrap().to_owned();
    // At its expiry exactly: no longer valid, and refused on the read alone.
    h.advance(60);
    let recording = h.hooked(Recorder::default());
    let (status, body) = redeem_link(&recording, &token).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"));
    let ops = recording.store.hook.0.lock().unwrap().clone();
    assert!(!ops.contains(&Op::RedeemSignInLink), "no redemption was tried: {ops:?}");
}
