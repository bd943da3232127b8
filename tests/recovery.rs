//! Recovery codes against DynamoDB Local: created with a session and a
//! current code, redeemed once each for a session, sharing the lockout
//! budget with TOTP codes, kept when support removes the key, removed by
//! support, and never stored in clear.

use crate::common;

use crate::races::{clear_counters, counters, record};
use common::*;
use lambda_http::http::Method;
use serde_json::{json, Value};
use totp_lambda::store::dynamo::DynamoStore;
use totp_lambda::store::Store;

fn auth_of(signed_in: &Value) -> String {
    bearer(&format!("{PROJECT}:{}", refresh_of(signed_in)))
}

/// POST /v1/auth/totp/recovery-codes (the update function) with this Authorization.
async fn create_codes_with<S: Store>(
    app: &totp_lambda::service::App<S>,
    authorization: &str,
    login: &str,
    totp_code: &str,
) -> (u16, Value) {
    let body = json!({"loginId": login, "code": totp_code}).to_string();
    call_update(
        app,
        request(Method::POST, "/v1/auth/totp/recovery-codes", Some(authorization), &body),
    )
    .await
}

/// POST /v1/auth/totp/recovery (the verify function).
async fn redeem_with<S: Store>(app: &totp_lambda::service::App<S>, login: &str, recovery_code: &str) -> (u16, Value) {
    let body = json!({"loginId": login, "recoveryCode": recovery_code}).to_string();
    call_verify(
        app,
        request(Method::POST, "/v1/auth/totp/recovery", Some(&bearer(PROJECT)), &body),
    )
    .await
}

/// A registered user with a set of codes: (TOTP key, the sign-in, the codes).
async fn with_codes(h: &Harness, login: &str) -> (String, Value, Vec<String>) {
    let (key, signed_in) = h.register(login).await;
    h.advance(30);
    let (status, body) = create_codes_with(&h.app, &auth_of(&signed_in), login, &code(&key, h.now())).await;
    assert_eq!(status, 200, "{body}");
    let codes = body["recoveryCodes"]
        .as_array()
        .expect("recoveryCodes")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (key, signed_in, codes)
}

#[tokio::test]
async fn a_user_who_lost_the_phone_gets_back_in_with_a_code_and_enrols_a_new_key() {
    let h = Harness::new().await;
    let (old_key, signed_in, codes) = with_codes(&h, "lost@example.com").await;
    assert_eq!(codes.len(), 10);
    for c in &codes {
        assert!(
            c.len() == 14 && c.as_bytes()[4] == b'-' && c.as_bytes()[9] == b'-',
            "XXXX-XXXX-XXXX: {c}"
        );
    }
    let (_, me) = h.session("me", &refresh_of(&signed_in)).await;
    assert_eq!(me["recoveryCodes"], 10);
    // Support removes the lost phone's key: the codes stay, the way back in.
    let (status, removed) = mgmt(&h.app, "remove_totp", "lost@example.com").await;
    assert_eq!((status, &removed["user"]["recoveryCodes"]), (200, &json!(10)));
    // Typed in lower case without dashes.
    let typed = codes[3].replace('-', "").to_lowercase();
    let (status, recovered) = redeem_with(&h.app, "lost@example.com", &typed).await;
    assert_eq!(status, 200, "{recovered}");
    assert_eq!(recovered["firstSeen"], false);
    assert_eq!(recovered["user"]["userId"], signed_in["user"]["userId"]);
    assert_eq!(recovered["user"]["recoveryCodes"], 9);
    assert_eq!(recovered["user"]["TOTP"], false);
    for jwt in [&recovered["sessionJwt"], &recovered["refreshJwt"]] {
        assert_eq!(claims(jwt.as_str().unwrap())["amr"], json!(["recovery"]));
    }
    // Used once, and once only.
    let (status, body) = redeem_with(&h.app, "lost@example.com", &codes[3]).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"));
    // The recovery session enrols a new key; the old one stays dead.
    let (status, updated) = h.update(&auth_of(&recovered), "lost@example.com").await;
    assert_eq!(status, 200, "{updated}");
    let new_key = updated["key"].as_str().unwrap().to_owned();
    h.advance(30);
    let (status, enrolled) = h.verify("lost@example.com", &code(&new_key, h.now())).await;
    assert_eq!(status, 200, "{enrolled}");
    assert_eq!(enrolled["user"]["recoveryCodes"], 9);
    h.advance(30);
    assert_eq!(h.verify("lost@example.com", &code(&old_key, h.now())).await.0, 401);
    // No code is stored in clear.
    let items = format!("{:?}", h.scan().await);
    for c in &codes {
        assert!(!items.contains(&c.replace('-', "")), "a code in clear");
        assert!(!items.contains(c.as_str()), "a code in clear");
    }
}

#[tokio::test]
async fn creating_codes_needs_a_live_session_and_a_fresh_code_of_the_key() {
    let h = Harness::new().await;
    let (key, signed_in) = h.register("create@example.com").await;
    let before = h.scan().await;
    // The code that signed in is spent: a replay.
    let (status, body) =
        create_codes_with(&h.app, &auth_of(&signed_in), "create@example.com", &code(&key, h.now())).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"), "{body}");
    h.advance(30);
    let now_code = code(&key, h.now());
    for (authorization, status, error) in [
        (bearer(PROJECT), 401, "E061004"),
        (bearer(&format!("{PROJECT}:not.a.jwt")), 401, "E061004"),
    ] {
        let (got, body) = create_codes_with(&h.app, &authorization, "create@example.com", &now_code).await;
        assert_eq!((got, error_code(&body)), (status, error), "{authorization}");
    }
    let (status, body) = create_codes_with(
        &h.app,
        &auth_of(&signed_in),
        "create@example.com",
        &wrong_code(&key, h.now()),
    )
    .await;
    assert_eq!((status, error_code(&body)), (401, "E061102"));
    let after = h.scan().await;
    assert!(!item(&h, "create@example.com").await.contains_key("recoveryCodes"));
    assert_ne!(before, after, "the wrong codes were counted");
    // A new set replaces the old one at once.
    let (status, first) = create_codes_with(&h.app, &auth_of(&signed_in), "create@example.com", &now_code).await;
    assert_eq!(status, 200, "{first}");
    h.advance(30);
    let (status, second) =
        create_codes_with(&h.app, &auth_of(&signed_in), "create@example.com", &code(&key, h.now())).await;
    assert_eq!(status, 200, "{second}");
    let old = first["recoveryCodes"][0].as_str().unwrap();
    assert_eq!(
        redeem_with(&h.app, "create@example.com", old).await.0,
        401,
        "the old set is gone"
    );
    let new = second["recoveryCodes"][0].as_str().unwrap();
    assert_eq!(redeem_with(&h.app, "create@example.com", new).await.0, 200);
    // A logged-out session creates nothing.
    assert_eq!(h.session("logout", &refresh_of(&signed_in)).await.0, 200);
    h.advance(30);
    let (status, body) =
        create_codes_with(&h.app, &auth_of(&signed_in), "create@example.com", &code(&key, h.now())).await;
    assert_eq!((status, error_code(&body)), (401, "E064001"));
}

#[tokio::test]
async fn wrong_recovery_codes_and_wrong_totp_codes_share_one_lockout_budget() {
    let h = Harness::new().await;
    let (key, _, codes) = with_codes(&h, "budget@example.com").await;
    h.advance(30);
    for _ in 0..3 {
        let (status, body) = redeem_with(&h.app, "budget@example.com", "AAAA-AAAA-AAAA").await;
        assert_eq!((status, error_code(&body)), (401, "E061102"));
    }
    for _ in 0..2 {
        assert_eq!(h.verify("budget@example.com", &wrong_code(&key, h.now())).await.0, 401);
    }
    // Five in the window: both kinds of code are refused now, even right ones.
    let (status, body) = redeem_with(&h.app, "budget@example.com", &codes[0]).await;
    assert_eq!((status, error_code(&body)), (429, "E061103"));
    let (status, _) = h.verify("budget@example.com", &code(&key, h.now())).await;
    assert_eq!(status, 429);
    // Refused input is no attempt: a code that cannot be one is a 400.
    let (status, body) = redeem_with(&h.app, "budget@example.com", "not-a-code!").await;
    assert_eq!((status, error_code(&body)), (400, "E011003"));
}

#[tokio::test]
async fn parallel_redemptions_of_one_code_sign_in_once() {
    let h = Harness::with_config(|c| c.lockout_max_attempts = 50).await;
    let (_, _, codes) = with_codes(&h, "parallel@example.com").await;
    let answers =
        futures::future::join_all((0..8).map(|_| redeem_with(&h.app, "parallel@example.com", &codes[0]))).await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| [200, 401, 429].contains(s)), "{statuses:?}");
    let left = item(&h, "parallel@example.com").await["recoveryCodes"]
        .as_ss()
        .unwrap()
        .len();
    assert_eq!(left, 9);
}

#[tokio::test]
async fn a_redemption_racing_a_new_set_signs_no_one_in() {
    let h = Harness::new().await;
    let (_, _, codes) = with_codes(&h, "regen@example.com").await;
    let racing = h.setting_before(
        Op::SpendRecoveryCode,
        vec![(
            "recoveryCodes",
            aws_sdk_dynamodb::types::AttributeValue::Ss(vec!["f".repeat(64)]),
        )],
    );
    let (status, body) = redeem_with(&racing, "regen@example.com", &codes[0]).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"), "{body}");
    let stored = item(&h, "regen@example.com").await["recoveryCodes"]
        .as_ss()
        .unwrap()
        .clone();
    assert_eq!(stored, vec!["f".repeat(64)], "the new set is untouched");
}

#[tokio::test]
async fn a_redemption_whose_answer_was_lost_still_signs_in_once() {
    let mut h = Harness::new().await;
    let (_, _, codes) = with_codes(&h, "lost-answer@example.com").await;
    let lose = lost_answers::LoseFirstAnswer::to_requests_with(":spent");
    h.app.store = DynamoStore::new(lost_answers::client_losing(&endpoint(), &lose).await, h.table.clone());
    let (status, body) = redeem_with(&h.app, "lost-answer@example.com", &codes[1]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(lose.lost(), 1, "the spending write's answer was lost once");
    assert_eq!(body["user"]["recoveryCodes"], 9);
    let item = item(&h, "lost-answer@example.com").await;
    assert_eq!(item["recoveryCodes"].as_ss().unwrap().len(), 9, "spent once");
    assert!(!item.contains_key("attempts"), "counted as a success");
}

#[tokio::test]
async fn support_removes_the_codes_and_deleting_the_user_removes_everything() {
    let h = Harness::new().await;
    let (_, _, codes) = with_codes(&h, "support@example.com").await;
    let auth = bearer(&format!("{PROJECT}:{MGMT_KEY_A}"));
    let remove = |login: &str| {
        let body = json!({ "loginId": login }).to_string();
        let req = request(Method::POST, "/v1/mgmt/user/recovery-codes/delete", Some(&auth), &body);
        async {
            into_parts(
                totp_lambda::http::management(&h.app, &management_keys(), req)
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, body) = remove("support@example.com").await;
    assert_eq!((status, &body), (200, &json!({})));
    let (_, loaded) = mgmt(&h.app, "load", "support@example.com").await;
    assert_eq!(loaded["user"]["recoveryCodes"], 0);
    assert_eq!(redeem_with(&h.app, "support@example.com", &codes[0]).await.0, 401);
    let (status, body) = remove("nobody@example.com").await;
    assert_eq!((status, error_code(&body)), (404, "E062108"));
    // A user without codes is refused like a wrong code.
    let (status, body) = redeem_with(&h.app, "support@example.com", &codes[1]).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"));
    let (status, body) = redeem_with(&h.app, "nobody@example.com", &codes[1]).await;
    assert_eq!((status, error_code(&body)), (404, "E062108"));
}

#[tokio::test]
async fn a_redemption_racing_a_change_of_hashing_key_signs_no_one_in() {
    let h = Harness::new().await;
    let (_, _, codes) = with_codes(&h, "rekeyed@example.com").await;
    // The same hashes, now said to be under another key: they no longer prove the code.
    let racing = h.setting_before(
        Op::SpendRecoveryCode,
        vec![(
            "recoveryKeyId",
            aws_sdk_dynamodb::types::AttributeValue::S("enc-other".into()),
        )],
    );
    let (status, body) = redeem_with(&racing, "rekeyed@example.com", &codes[0]).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"), "{body}");
    assert_eq!(
        item(&h, "rekeyed@example.com").await["recoveryCodes"]
            .as_ss()
            .unwrap()
            .len(),
        10
    );
}

#[tokio::test]
async fn codes_hashed_under_a_removed_encryption_key_are_refused_not_an_error() {
    let h = Harness::new().await;
    let (_, _, codes) = with_codes(&h, "rotated@example.com").await;
    let mut rotated = h.app_with(DynamoStore::new(h.client.clone(), h.table.clone()));
    let later = totp_lambda::secret_box::generate_keys_document("enc-later").unwrap();
    rotated.secret_box = Some(totp_lambda::secret_box::SecretBox::from_json(&later).unwrap());
    let (status, body) = redeem_with(&rotated, "rotated@example.com", &codes[0]).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"), "{body}");
    // Under the document that still holds the key, the code works.
    assert_eq!(redeem_with(&h.app, "rotated@example.com", &codes[0]).await.0, 200);
}

#[tokio::test]
async fn key_usage_counts_codes_hashed_under_a_key() {
    use totp_lambda::store::dynamo::key_usage;
    let h = Harness::new().await;
    with_codes(&h, "usage@example.com").await;
    // Without its TOTP key, the item names the encryption key only through its codes.
    assert_eq!(mgmt(&h.app, "remove_totp", "usage@example.com").await.0, 200);
    let usage = key_usage(&h.client, &h.table, "enc-test-1").await.unwrap();
    assert_eq!(usage.items, 1, "the recovery codes still need enc-test-1");
    let body = json!({ "loginId": "usage@example.com" }).to_string();
    let auth = bearer(&format!("{PROJECT}:{MGMT_KEY_A}"));
    let req = request(Method::POST, "/v1/mgmt/user/recovery-codes/delete", Some(&auth), &body);
    let (status, _) = into_parts(
        totp_lambda::http::management(&h.app, &management_keys(), req)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(key_usage(&h.client, &h.table, "enc-test-1").await.unwrap().items, 0);
}

#[tokio::test]
async fn a_creation_whose_code_was_used_or_whose_key_changed_meanwhile_stores_nothing() {
    use aws_sdk_dynamodb::types::AttributeValue;
    // The same code spent by a sign-in meanwhile; the key replaced meanwhile.
    for (name, value) in [
        ("lastStep", AttributeValue::N(u64::MAX.to_string())),
        ("enrollmentId", AttributeValue::S("E-ANOTHER-KEY".into())),
    ] {
        let h = Harness::new().await;
        let (key, signed_in) = h.register("racing-create@example.com").await;
        h.advance(30);
        let racing = h.setting_before(Op::PutRecoveryCodes, vec![(name, value)]);
        let (status, body) = create_codes_with(
            &racing,
            &auth_of(&signed_in),
            "racing-create@example.com",
            &code(&key, h.now()),
        )
        .await;
        assert_eq!((status, error_code(&body)), (401, "E061102"), "{name}: {body}");
        assert!(
            !item(&h, "racing-create@example.com")
                .await
                .contains_key("recoveryCodes"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_replayed_code_is_refused_before_any_codes_are_written() {
    let h = Harness::new().await;
    let (key, signed_in) = h.register("replayed@example.com").await;
    let recording = h.hooked(Recorder::default());
    // The code that signed in, again: its step is not newer than the last accepted.
    let (status, body) = create_codes_with(
        &recording,
        &auth_of(&signed_in),
        "replayed@example.com",
        &code(&key, h.now()),
    )
    .await;
    assert_eq!((status, error_code(&body)), (401, "E061102"));
    let ops = recording.store.hook.0.lock().unwrap().clone();
    assert!(ops.contains(&Op::TakeAttempt), "the attempt was counted: {ops:?}");
    assert!(
        !ops.contains(&Op::PutRecoveryCodes),
        "no write of codes was tried: {ops:?}"
    );
}

// ---- One read, one write: a right code's write holds the lockout ---------

#[tokio::test]
async fn a_recovery_code_is_refused_and_kept_when_a_window_filled_before_its_write() {
    let h = Harness::new().await;
    let (_, _, codes) = with_codes(&h, "spend-full@example.com").await;
    for (short, long, expected) in [
        ((5, 10), (5, 10), 429),
        ((0, 10), (20, 10), 429),
        ((4, 10), (19, 10), 200),
    ] {
        let now = h.now();
        let racing = h.setting_before(
            Op::SpendRecoveryCode,
            counters((short.0, now - short.1), (long.0, now - long.1)),
        );
        let (status, body) = redeem_with(&racing, "spend-full@example.com", &codes[0]).await;
        let stored = record(&h, "spend-full@example.com").await;
        assert_eq!(status, expected, "short {short:?}, long {long:?}: {body}");
        if expected == 429 {
            assert_eq!(error_code(&body), "E061103");
            assert_eq!(stored.recovery_codes.len(), 10, "the code is not spent");
        } else {
            assert_eq!(stored.recovery_codes.len(), 9);
            assert_eq!(stored.attempts.count, 0, "a success clears the short window");
            assert_eq!(stored.attempts.long_count, long.0 as i64, "and leaves the long one");
        }
        clear_counters(&h, "spend-full@example.com").await;
    }
}

#[tokio::test]
async fn a_right_recovery_code_takes_no_attempt() {
    let h = Harness::new().await;
    let (key, _, codes) = with_codes(&h, "uncounted@example.com").await;
    h.advance(30);
    assert_eq!(
        h.verify("uncounted@example.com", &wrong_code(&key, h.now())).await.0,
        401
    );
    let (status, body) = redeem_with(&h.app, "uncounted@example.com", &codes[1]).await;
    assert_eq!(status, 200, "{body}");
    let stored = record(&h, "uncounted@example.com").await;
    assert_eq!(
        (stored.attempts.count, stored.attempts.long_count),
        (0, 1),
        "only the wrong code counts"
    );
}

#[tokio::test]
async fn new_codes_are_refused_and_the_old_kept_when_a_window_filled_before_their_write() {
    let h = Harness::new().await;
    let (key, signed_in, codes) = with_codes(&h, "renew-full@example.com").await;
    h.advance(30);
    let now = h.now();
    let racing = h.setting_before(Op::PutRecoveryCodes, counters((5, now - 10), (5, now - 10)));
    let (status, body) = create_codes_with(
        &racing,
        &auth_of(&signed_in),
        "renew-full@example.com",
        &code(&key, now),
    )
    .await;
    assert_eq!((status, error_code(&body)), (429, "E061103"), "{body}");
    // The first set still works: nothing was replaced.
    set_attributes(&h, "renew-full@example.com", &[], &["attempts", "attemptsWindowStart"]).await;
    assert_eq!(redeem_with(&h.app, "renew-full@example.com", &codes[0]).await.0, 200);
}
