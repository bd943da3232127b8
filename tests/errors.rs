//! Every error row of the contract that applies to signup, verify and
//! update: status, Descope error code, exact body shape, and nothing written.

use crate::common;

use common::*;
use lambda_http::http::Method;
use lambda_http::Body;

const SIGNUP: &str = "/v1/auth/totp/signup";
const VERIFY: &str = "/v1/auth/totp/verify";

#[tokio::test]
async fn bad_requests_get_descope_errors_and_write_nothing() {
    let h = Harness::new().await;
    let auth = bearer(PROJECT);
    let long_login = "a".repeat(257);
    let big = format!(r#"{{"loginId":"a@b.co","pad":"{}"}}"#, "x".repeat(64 * 1024));
    // (route, Authorization, body, status, errorCode)
    #[rustfmt::skip]
    let cases: Vec<(&str, Option<String>, String, u16, &str)> = vec![
        (SIGNUP, Some(auth.clone()), "not json".into(), 400, "E011001"),
        (SIGNUP, Some(auth.clone()), "".into(), 400, "E011001"),
        (SIGNUP, Some(auth.clone()), "[]".into(), 400, "E011001"),
        (SIGNUP, Some(auth.clone()), r#"["a@b.co"]"#.into(), 400, "E011001"),
        (SIGNUP, Some(auth.clone()), "null".into(), 400, "E011001"),
        (SIGNUP, Some(auth.clone()), r#"{"loginId": 42}"#.into(), 400, "E011001"),
        (SIGNUP, Some(auth.clone()), r#"{"loginId": "a@b.co", "user": {"name": 5}}"#.into(), 400, "E011001"),
        (SIGNUP, Some(auth.clone()), r#"{"loginId": "a@b.co", "user": "x"}"#.into(), 400, "E011001"),
        (SIGNUP, Some(auth.clone()), big.clone(), 413, "E011001"),
        (SIGNUP, Some(auth.clone()), "{}".into(), 400, "E011002"),
        (SIGNUP, Some(auth.clone()), r#"{"loginId": ""}"#.into(), 400, "E011002"),
        (SIGNUP, Some(auth.clone()), r#"{"loginId": null}"#.into(), 400, "E011002"),
        (SIGNUP, Some(auth.clone()), format!(r#"{{"loginId": "{long_login}"}}"#), 400, "E011003"),
        (SIGNUP, Some(auth.clone()), r#"{"loginId": "a\nb"}"#.into(), 400, "E011003"),
        (SIGNUP, Some(auth.clone()), r#"{"loginId": "a\u0000b"}"#.into(), 400, "E011003"),
        (SIGNUP, Some(auth.clone()), r#"{"loginId": "a@b.co", "user": {"email": "nope"}}"#.into(), 400, "E011003"),
        (SIGNUP, Some(auth.clone()), r#"{"loginId": "a@b.co", "user": {"phone": "call me"}}"#.into(), 400, "E011003"),
        (SIGNUP, None, r#"{"loginId": "a@b.co"}"#.into(), 401, "E011003"),
        (SIGNUP, Some("Bearer".into()), r#"{"loginId": "a@b.co"}"#.into(), 401, "E011003"),
        (SIGNUP, Some("Basic P2TestProjectA".into()), r#"{"loginId": "a@b.co"}"#.into(), 401, "E011003"),
        (SIGNUP, Some(bearer("P2Unknown")), r#"{"loginId": "a@b.co"}"#.into(), 401, "E011003"),
        (SIGNUP, Some(bearer("")), r#"{"loginId": "a@b.co"}"#.into(), 401, "E011003"),
        (VERIFY, Some(auth.clone()), "not json".into(), 400, "E011001"),
        (VERIFY, Some(auth.clone()), r#"{"loginId": "a@b.co", "code": 123456}"#.into(), 400, "E011001"),
        (VERIFY, Some(auth.clone()), r#"{"loginId": "a@b.co", "code": "123456", "loginOptions": 1}"#.into(), 400, "E011001"),
        (VERIFY, Some(auth.clone()), big, 413, "E011001"),
        (VERIFY, Some(auth.clone()), r#"{"code": "123456"}"#.into(), 400, "E011002"),
        (VERIFY, Some(auth.clone()), r#"{"loginId": "a@b.co"}"#.into(), 400, "E011002"),
        (VERIFY, Some(auth.clone()), r#"{"loginId": "a@b.co", "code": ""}"#.into(), 400, "E011002"),
        (VERIFY, Some(auth.clone()), r#"{"loginId": "a@b.co", "code": "12ab56"}"#.into(), 400, "E011003"),
        (VERIFY, Some(auth.clone()), r#"{"loginId": "a@b.co", "code": "12345"}"#.into(), 400, "E011003"),
        (VERIFY, Some(auth.clone()), r#"{"loginId": "a@b.co", "code": "1234567"}"#.into(), 400, "E011003"),
        (VERIFY, Some(bearer("P2Unknown")), r#"{"loginId": "a@b.co", "code": "123456"}"#.into(), 401, "E011003"),
        (VERIFY, Some(auth.clone()), r#"{"loginId": "nobody@example.com", "code": "123456"}"#.into(), 404, "E062108"),
        // Step-up checks the token before the store is read, as update does.
        (VERIFY, Some(auth.clone()), r#"{"loginId": "a@b.co", "code": "123456", "loginOptions": {"stepup": true}}"#.into(), 401, "E061004"),
    ];
    for (route, authorization, body, status, code) in cases {
        let req = request(Method::POST, route, authorization.as_deref(), &body);
        let (got_status, got) = if route == SIGNUP {
            call_signup(&h.app, req).await
        } else {
            call_verify(&h.app, req).await
        };
        let label = format!("{route} {authorization:?} {}", &body[..body.len().min(80)]);
        assert_eq!((got_status, error_code(&got)), (status, code), "{label}: {got}");
    }
    assert!(h.scan().await.is_empty(), "no bad request wrote anything");
}

#[tokio::test]
async fn bad_input_against_an_existing_user_changes_nothing() {
    let h = Harness::new().await;
    h.register("kept@example.com").await;
    let before = h.scan().await;
    let auth = bearer(PROJECT);
    for body in [
        r#"{"loginId": "kept@example.com", "code": "12ab56"}"#,
        r#"{"loginId": "kept@example.com", "code": 1}"#,
        r#"{"loginId": "kept@example.com"}"#,
        r#"{"loginId": "kept@example.com", "user": {"email": "bad"}}"#,
    ] {
        let (status, _) = call_verify(&h.app, request(Method::POST, VERIFY, Some(&auth), body)).await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, _) = call_signup(
        &h.app,
        request(
            Method::POST,
            SIGNUP,
            Some(&auth),
            r#"{"loginId": "kept@example.com", "user": {"email": "bad"}}"#,
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(h.scan().await, before);
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let h = Harness::new().await;
    let response = totp_lambda::http::signup(&h.app, request(Method::GET, SIGNUP, Some(&bearer(PROJECT)), ""))
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    let (status, body) = into_parts(response).await;
    assert_eq!((status, error_code(&body)), (405, "E011001"));
    let (status, body) = call_verify(&h.app, request(Method::PUT, VERIFY, Some(&bearer(PROJECT)), "{}")).await;
    assert_eq!((status, error_code(&body)), (405, "E011001"));
}

#[tokio::test]
async fn base64_bodies_from_api_gateway_are_decoded() {
    // lambda_http turns `isBase64Encoded` bodies into Body::Binary.
    let h = Harness::new().await;
    let req = lambda_http::http::Request::builder()
        .method(Method::POST)
        .uri(format!("https://api.example.com{SIGNUP}"))
        .header("authorization", bearer(PROJECT))
        .body(Body::Binary(br#"{"loginId":"bin@example.com"}"#.to_vec()))
        .unwrap();
    let (status, body) = call_signup(&h.app, req).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn error_bodies_never_echo_secrets_or_codes() {
    let h = Harness::new().await;
    let (_, signup) = h.signup("quiet@example.com").await;
    let key = signup["key"].as_str().unwrap();
    let wrong = wrong_code(key, h.now());
    let (status, body) = h.verify("quiet@example.com", &wrong).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"));
    let text = body.to_string();
    assert!(
        !text.contains(&wrong) && !text.contains(key) && !text.contains("quiet@example.com"),
        "{text}"
    );
}

#[tokio::test]
async fn login_ids_are_exact_and_unicode_is_fine() {
    let h = Harness::new().await;
    let (key, _) = h.register("Zoë+totp@例え.jp").await;
    h.advance(30);
    assert_eq!(h.verify("Zoë+totp@例え.jp", &code(&key, h.now())).await.0, 200);
    let (status, body) = h.verify("zoë+totp@例え.jp", &code(&key, h.now() + 30)).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "E062108"),
        "a different loginId is a different user"
    );
}
