//! Support's tools against DynamoDB Local: a lost phone, an erasure
//! request, a stolen session; management keys; and a key removal that
//! lands between a sign-in's read and its write. (The audit line has a test
//! binary of its own: tests/management_audit.rs.)

mod common;

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
    let left: Vec<String> = h.scan().await.iter().map(|i| i["pk"].as_s().unwrap().clone()).collect();
    assert_eq!(left, [format!("{PROJECT}#keep@example.com")]);
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
