//! Sessions against DynamoDB Local: refresh, me, logout, logout-all, and
//! every way a refresh JWT dies (a new key, revokeOtherSessions, its user
//! gone), including the races the conditions guard.

use crate::common;

use common::*;
use lambda_http::http::Method;
use serde_json::{json, Value};

/// Signs `login_id` in again with its key, one TOTP step later.
async fn sign_in_again(h: &Harness, login_id: &str, key: &str) -> Value {
    h.advance(30);
    let (status, body) = h.verify(login_id, &code(key, h.now())).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Every route that takes a refresh JWT, with it; returns (route, status, code).
async fn every_route(h: &Harness, login_id: &str, refresh: &str) -> Vec<(&'static str, u16, String)> {
    let mut answers = Vec::new();
    for route in ["refresh", "me", "logout", "logoutall"] {
        let (status, body) = h.session(route, refresh).await;
        answers.push((route, status, body["errorCode"].as_str().unwrap_or("").to_owned()));
    }
    let auth = bearer(&format!("{PROJECT}:{refresh}"));
    let (status, body) = h.update(&auth, login_id).await;
    answers.push(("update", status, body["errorCode"].as_str().unwrap_or("").to_owned()));
    let step_up = json!({"loginId": login_id, "code": "000000", "loginOptions": {"stepup": true}});
    let (status, body) = h.verify_with(&auth, step_up).await;
    answers.push(("step-up", status, body["errorCode"].as_str().unwrap_or("").to_owned()));
    answers
}

fn assert_all_revoked(answers: &[(&str, u16, String)]) {
    for (route, status, code) in answers {
        assert_eq!((*status, code.as_str()), (401, "E064001"), "{route}");
    }
}

#[tokio::test]
async fn refresh_issues_a_new_session_beside_the_same_refresh_token() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("refresh@example.com").await;
    let refresh = refresh_of(&signed_in);
    h.advance(700);
    let (status, body) = h.session("refresh", &refresh).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["refreshJwt"], refresh.as_str());
    assert_eq!(body["firstSeen"], false);
    assert_eq!(body["user"], signed_in["user"]);
    let session = claims(body["sessionJwt"].as_str().unwrap());
    assert_eq!(session["iat"], h.now());
    assert_eq!(session["exp"], h.now() + 600);
    assert_eq!(session["drn"], "DS");
    assert_eq!(session["scope"], "session");
    assert_eq!(session["aud"], PROJECT);
    assert_eq!(session["sub"], signed_in["user"]["userId"]);
    // The cookie still describes the refresh token: its expiry, and what is left of it.
    assert_eq!(body["cookieExpiration"], signed_in["cookieExpiration"]);
    assert_eq!(body["cookieMaxAge"], 2_419_200 - 700);
    let (status, me) = h.session("me", &refresh).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me, signed_in["user"]);
}

#[tokio::test]
async fn lifetimes_follow_the_configuration() {
    let h = Harness::with_config(|c| {
        c.session_ttl_seconds = 30;
        c.refresh_ttl_seconds = 3600;
    })
    .await;
    let (_, signed_in) = h.register("short@example.com").await;
    assert_eq!(claims(signed_in["sessionJwt"].as_str().unwrap())["exp"], T0 + 30);
    assert_eq!(claims(&refresh_of(&signed_in))["exp"], T0 + 3600);
    assert_eq!(signed_in["cookieMaxAge"], 3600);
    // Near the end of the refresh token, a session ends with it.
    h.advance(3600 - 10);
    let (status, body) = h.session("refresh", &refresh_of(&signed_in)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(body["sessionJwt"].as_str().unwrap())["exp"], T0 + 3600);
    h.advance(20);
    let (status, body) = h.session("refresh", &refresh_of(&signed_in)).await;
    assert_eq!((status, error_code(&body)), (401, "E061004"), "expired");
}

#[tokio::test]
async fn logout_revokes_that_token_everywhere_and_only_that_token() {
    let h = Harness::new().await;
    let (key, first) = h.register("logout@example.com").await;
    let second = sign_in_again(&h, "logout@example.com", &key).await;
    let (status, body) = h.session("logout", &refresh_of(&first)).await;
    assert_eq!((status, &body), (200, &json!({})));
    assert_all_revoked(&every_route(&h, "logout@example.com", &refresh_of(&first)).await);
    // The other sign-in is untouched.
    assert_eq!(h.session("refresh", &refresh_of(&second)).await.0, 200);
    // One revocation item, which TTL removes only once the token is refused
    // anyway: after its exp, the 5 s leeway it is accepted with, and a minute more.
    let revocations: Vec<_> = h
        .scan()
        .await
        .into_iter()
        .filter(|item| item["pk"].as_s().unwrap().contains("|revoked|"))
        .collect();
    assert_eq!(revocations.len(), 1);
    let jti = claims(&refresh_of(&first))["jti"].as_str().unwrap().to_owned();
    assert_eq!(
        revocations[0]["pk"].as_s().unwrap(),
        &format!("{PROJECT}|revoked|{jti}")
    );
    let exp = claims(&refresh_of(&first))["exp"].as_u64().unwrap();
    assert_eq!(
        revocations[0]["expiresAt"].as_n().unwrap(),
        &(exp + totp_lambda::tokens::LEEWAY_SECONDS + 60).to_string()
    );
    assert_eq!(
        revocations[0]["userId"].as_s().unwrap(),
        first["user"]["userId"].as_str().unwrap(),
        "whose token it was, for the audit trail"
    );
    assert_eq!(
        revocations[0].len(),
        3,
        "a revocation holds nothing but its key, expiry and user"
    );
}

#[tokio::test]
async fn logout_all_revokes_every_earlier_token_of_the_user_and_no_one_elses() {
    let h = Harness::new().await;
    let (key, first) = h.register("all@example.com").await;
    let second = sign_in_again(&h, "all@example.com", &key).await;
    let (_, bystander) = h.register("bystander@example.com").await;
    let (status, body) = h.session("logoutall", &refresh_of(&second)).await;
    assert_eq!((status, &body), (200, &json!({})));
    assert_all_revoked(&every_route(&h, "all@example.com", &refresh_of(&first)).await);
    assert_all_revoked(&every_route(&h, "all@example.com", &refresh_of(&second)).await);
    assert_eq!(h.session("refresh", &refresh_of(&bystander)).await.0, 200);
    // Signing in again opens a session of the new generation.
    let third = sign_in_again(&h, "all@example.com", &key).await;
    assert_eq!(claims(&refresh_of(&third))["gen"], 1);
    assert_eq!(h.session("refresh", &refresh_of(&third)).await.0, 200);
}

#[tokio::test]
async fn confirming_a_new_key_ends_every_earlier_session() {
    let h = Harness::new().await;
    let (key, first) = h.register("rekey@example.com").await;
    let second = sign_in_again(&h, "rekey@example.com", &key).await;
    let auth = bearer(&format!("{PROJECT}:{}", refresh_of(&first)));
    let (status, updated) = h.update(&auth, "rekey@example.com").await;
    assert_eq!(status, 200, "{updated}");
    // Until the new key is confirmed, sessions live on.
    assert_eq!(h.session("refresh", &refresh_of(&second)).await.0, 200);
    h.advance(30);
    let new_key = updated["key"].as_str().unwrap();
    let (status, confirmed) = h.verify("rekey@example.com", &code(new_key, h.now())).await;
    assert_eq!(status, 200, "{confirmed}");
    for earlier in [&first, &second] {
        assert_all_revoked(&every_route(&h, "rekey@example.com", &refresh_of(earlier)).await);
    }
    assert_eq!(h.session("refresh", &refresh_of(&confirmed)).await.0, 200);
}

#[tokio::test]
async fn a_revoked_token_cannot_replace_the_key() {
    let h = Harness::new().await;
    let (key, signed_in) = h.register("stolen@example.com").await;
    assert_eq!(h.session("logout", &refresh_of(&signed_in)).await.0, 200);
    let before = h.scan().await;
    let auth = bearer(&format!("{PROJECT}:{}", refresh_of(&signed_in)));
    let (status, body) = h.update(&auth, "stolen@example.com").await;
    assert_eq!((status, error_code(&body)), (401, "E064001"));
    assert_eq!(h.scan().await, before, "nothing written");
    // The user's own key still signs them in.
    sign_in_again(&h, "stolen@example.com", &key).await;
}

#[tokio::test]
async fn revoke_other_sessions_keeps_only_the_tokens_it_returns() {
    let h = Harness::new().await;
    let (key, first) = h.register("others@example.com").await;
    h.advance(30);
    let body = json!({"loginId": "others@example.com", "code": code(&key, h.now()),
                      "loginOptions": {"revokeOtherSessions": true}});
    let (status, second) = h.verify_with(&bearer(PROJECT), body).await;
    assert_eq!(status, 200, "{second}");
    assert_all_revoked(&every_route(&h, "others@example.com", &refresh_of(&first)).await);
    assert_eq!(h.session("refresh", &refresh_of(&second)).await.0, 200);
    // Without the option, a sign-in leaves earlier sessions alone.
    let third = sign_in_again(&h, "others@example.com", &key).await;
    assert_eq!(h.session("refresh", &refresh_of(&second)).await.0, 200);
    assert_eq!(h.session("refresh", &refresh_of(&third)).await.0, 200);
}

#[tokio::test]
async fn a_token_outlives_neither_its_user_nor_a_new_user_of_the_same_login_id() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("gone@example.com").await;
    let refresh = refresh_of(&signed_in);
    h.client
        .delete_item()
        .table_name(&h.table)
        .key("pk", user_pk("gone@example.com"))
        .send()
        .await
        .unwrap();
    assert_all_revoked(&every_route(&h, "gone@example.com", &refresh).await);
    // The loginId signs up again: a new user, whom the old token is not.
    h.register("gone@example.com").await;
    assert_all_revoked(&every_route(&h, "gone@example.com", &refresh).await);
}

#[tokio::test]
async fn tokens_of_another_project_or_kind_are_refused() {
    let h = Harness::new().await;
    let (_, alpha) = h.register("alice@example.com").await;
    h.signup_in(OTHER_PROJECT, "bob@example.com").await;
    let (_, bravo_signup) = h.signup_in(OTHER_PROJECT, "carol@example.com").await;
    let bravo_key = bravo_signup["key"].as_str().unwrap().to_owned();
    let (status, bravo) = h
        .verify_in(OTHER_PROJECT, "carol@example.com", &code(&bravo_key, h.now()))
        .await;
    assert_eq!(status, 200, "{bravo}");
    // Each project signs with its own key, and its JWKS lists only its own.
    let alpha_kid = jsonwebtoken::decode_header(refresh_of(&alpha)).unwrap().kid;
    let bravo_kid = jsonwebtoken::decode_header(refresh_of(&bravo)).unwrap().kid;
    assert_ne!(alpha_kid, bravo_kid);
    assert_eq!(claims(&refresh_of(&bravo))["aud"], OTHER_PROJECT);
    let cases = [
        (PROJECT, refresh_of(&bravo), "another project's refresh token"),
        (OTHER_PROJECT, refresh_of(&alpha), "another project's refresh token"),
        (
            PROJECT,
            alpha["sessionJwt"].as_str().unwrap().to_owned(),
            "a session token",
        ),
        (PROJECT, format!("{}x", refresh_of(&alpha)), "a tampered token"),
        (PROJECT, "a.b.c".to_owned(), "garbage"),
    ];
    for (project, token, why) in cases {
        for route in ["refresh", "me", "logout", "logoutall"] {
            let (status, body) = h.session_in(project, route, &token).await;
            assert_eq!((status, error_code(&body)), (401, "E061004"), "{route}: {why}");
        }
    }
    // Both tokens still work where they belong: nothing above revoked them.
    assert_eq!(h.session_in(PROJECT, "refresh", &refresh_of(&alpha)).await.0, 200);
    assert_eq!(h.session_in(OTHER_PROJECT, "refresh", &refresh_of(&bravo)).await.0, 200);
}

#[tokio::test]
async fn session_routes_refuse_bad_requests_and_write_nothing() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("bad@example.com").await;
    let refresh = refresh_of(&signed_in);
    let before = h.scan().await;
    let auth = bearer(&format!("{PROJECT}:{refresh}"));
    // (method, path, Authorization, body, status, error code)
    type Case<'a> = (Method, &'a str, Option<String>, &'a str, u16, &'a str);
    let cases: Vec<Case> = vec![
        (Method::GET, "/v1/auth/refresh", Some(auth.clone()), "", 405, "E011001"),
        (Method::POST, "/v1/auth/me", Some(auth.clone()), "{}", 405, "E011001"),
        (
            Method::POST,
            "/v1/auth/logout",
            Some(auth.clone()),
            "[]",
            400,
            "E011001",
        ),
        (
            Method::POST,
            "/v1/auth/logoutall",
            Some(auth.clone()),
            "not json",
            400,
            "E011001",
        ),
        (Method::POST, "/v1/auth/logout", None, "{}", 401, "E011003"),
        (
            Method::POST,
            "/v1/auth/logout",
            Some(bearer("P2Unknown")),
            "{}",
            401,
            "E011003",
        ),
        (
            Method::POST,
            "/v1/auth/refresh",
            Some(bearer(PROJECT)),
            "{}",
            401,
            "E061004",
        ),
        (
            Method::POST,
            "/v1/auth/elsewhere",
            Some(auth.clone()),
            "{}",
            404,
            "E011001",
        ),
    ];
    for (method, path, authorization, body, status, code) in cases {
        let (got, answer) = call_sessions(&h.app, request(method.clone(), path, authorization.as_deref(), body)).await;
        assert_eq!((got, error_code(&answer)), (status, code), "{method} {path} {body}");
    }
    assert_eq!(h.scan().await, before, "nothing written");
    // A body with keys is accepted and its keys ignored, as the SDKs send `{}`.
    let (status, _) = call_sessions(
        &h.app,
        request(Method::POST, "/v1/auth/refresh", Some(&auth), r#"{"extra": 1}"#),
    )
    .await;
    assert_eq!(status, 200);
    // No body, or only white space, in each form API Gateway may hand over.
    for body in [
        lambda_http::Body::Empty,
        lambda_http::Body::Text(" \r\n".into()),
        lambda_http::Body::Binary(b"\t ".to_vec()),
    ] {
        let mut refresh = request(Method::POST, "/v1/auth/refresh", Some(&auth), "");
        *refresh.body_mut() = body;
        let (status, answer) = call_sessions(&h.app, refresh).await;
        assert_eq!(status, 200, "{answer}");
    }
}

#[tokio::test]
async fn parallel_logouts_of_one_token_succeed_once() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("twice@example.com").await;
    let refresh = refresh_of(&signed_in);
    let answers = futures::future::join_all((0..8).map(|_| h.session("logout", &refresh))).await;
    let ok = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(ok, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!((*status, error_code(body)), (401, "E064001"));
    }
}

#[tokio::test]
async fn parallel_logout_alls_of_one_token_succeed_once() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("allatonce@example.com").await;
    let refresh = refresh_of(&signed_in);
    let answers = futures::future::join_all((0..8).map(|_| h.session("logoutall", &refresh))).await;
    let ok = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(ok, 1, "{answers:?}");
    // The generation moved on exactly once.
    let item = h
        .scan()
        .await
        .into_iter()
        .find(|i| i["pk"].as_s().unwrap().ends_with("#allatonce@example.com"))
        .unwrap();
    assert_eq!(item["sessionGeneration"].as_n().unwrap(), "1");
}

#[tokio::test]
async fn logout_racing_logout_all_leaves_the_token_dead_either_way() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("race@example.com").await;
    let refresh = refresh_of(&signed_in);
    let (one, all) = tokio::join!(h.session("logout", &refresh), h.session("logoutall", &refresh));
    // At least one wins; a loser says revoked, or asks for a retry when the
    // two transactions collided.
    assert!(one.0 == 200 || all.0 == 200, "{one:?} {all:?}");
    for (status, body) in [&one, &all] {
        assert!(
            *status == 200 || (*status == 401 && error_code(body) == "E064001") || *status == 503,
            "{status} {body}"
        );
    }
    assert_all_revoked(&every_route(&h, "race@example.com", &refresh).await);
}

/// A user item as a release before session generations wrote it: no
/// `sessionGeneration`, so its tokens are of generation 0.

#[tokio::test]
async fn sessions_of_users_from_before_generations_can_log_out() {
    let h = Harness::new().await;
    let (key, signed_in) = h.register("older@example.com").await;
    h.advance(30);
    let (_, again) = h.verify("older@example.com", &code(&key, h.now())).await;
    set_attributes(&h, "older@example.com", &[], &["sessionGeneration"]).await;
    let item = h.scan().await.into_iter().find(|i| i.contains_key("userId")).unwrap();
    assert!(!item.contains_key("sessionGeneration"));

    let first = refresh_of(&signed_in);
    assert_eq!(h.session("logout", &first).await.0, 200);
    assert_eq!(h.session("refresh", &first).await.0, 401, "logged out");
    let second = refresh_of(&again);
    assert_eq!(h.session("logoutall", &second).await.0, 200);
    assert_eq!(h.session("refresh", &second).await.0, 401, "every session ended");
}

#[tokio::test]
async fn users_from_before_session_generations_can_replace_their_key() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("older-key@example.com").await;
    set_attributes(&h, "older-key@example.com", &[], &["sessionGeneration"]).await;
    let auth = bearer(&format!("{PROJECT}:{}", refresh_of(&signed_in)));
    let (status, updated) = h.update(&auth, "older-key@example.com").await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        item(&h, "older-key@example.com").await["pendingGeneration"]
            .as_n()
            .unwrap(),
        "0"
    );
    h.advance(30);
    let new_key = updated["key"].as_str().unwrap();
    let (status, body) = h.verify("older-key@example.com", &code(new_key, h.now())).await;
    assert_eq!(status, 200, "the new key is confirmed: {body}");
    assert_eq!(
        item(&h, "older-key@example.com").await["sessionGeneration"]
            .as_n()
            .unwrap(),
        "1"
    );
}
