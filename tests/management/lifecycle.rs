//! The user lifecycle against DynamoDB Local: users created by an
//! administrator (with the seeds their authenticators hold, or none),
//! batches, status, lookup by userId, search, deletion, try-refresh; and
//! the races: creation against sign-up, disabling against a sign-in, a
//! batch retried, a batch with storage failing half-way.

use crate::common::*;
use lambda_http::http::Method;
use serde_json::{json, Value};
use totp_lambda::store::dynamo::DynamoStore;
use totp_lambda::store::*;

/// 20 random-looking bytes in base32 (a seed as another system exported it).
const SEED_SHA1: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const SEED_SHA256: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA";

async fn create(h: &Harness, body: Value) -> (u16, Value) {
    mgmt_call(&h.app, Method::POST, "/v1/mgmt/user/create", &[], body).await
}

async fn batch(h: &Harness, users: Value) -> (u16, Value) {
    let body = json!({"users": users, "invite": true, "sendMail": false});
    mgmt_call(&h.app, Method::POST, "/v1/mgmt/user/create/batch", &[], body).await
}

async fn set_status(h: &Harness, login_id: &str, status: &str) -> (u16, Value) {
    let body = json!({"loginId": login_id, "status": status});
    mgmt_call(&h.app, Method::POST, "/v1/mgmt/user/update/status", &[], body).await
}

async fn load_by_id(h: &Harness, user_id: &str) -> (u16, Value) {
    mgmt_call(&h.app, Method::GET, "/v1/mgmt/user", &[("userId", user_id)], json!({})).await
}

async fn search(h: &Harness, body: Value) -> (u16, Value) {
    mgmt_call(&h.app, Method::POST, "/v2/mgmt/user/search", &[], body).await
}

fn login_ids(found: &Value) -> Vec<String> {
    found["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["loginIds"][0].as_str().unwrap().to_owned())
        .collect()
}

fn pks(items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>]) -> Vec<String> {
    let mut pks: Vec<String> = items.iter().map(|i| i["pk"].as_s().unwrap().clone()).collect();
    pks.sort();
    pks
}

#[tokio::test]
async fn a_created_user_without_a_seed_is_registered_refuses_signup_and_enrols_through_a_link() {
    let h = Harness::new().await;
    let (status, created) = create(
        &h,
        json!({"loginId": "new@example.com", "email": "new@example.com", "displayName": "New Person",
               "roleNames": [], "userTenants": [], "invite": false, "test": false, "customAttributes": null}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let user = &created["user"];
    assert_eq!(user["status"], "enabled");
    assert_eq!(user["TOTP"], false);
    assert_eq!(user["name"], "New Person");
    let user_id = user["userId"].as_str().unwrap().to_owned();
    // The pointer and the user, nothing else.
    assert_eq!(
        pks(&h.scan().await),
        vec![format!("{PROJECT}#new@example.com"), format!("{PROJECT}|uid|{user_id}")]
    );
    let (status, loaded) = load_by_id(&h, &user_id).await;
    assert_eq!(status, 200, "{loaded}");
    assert_eq!(loaded["user"]["loginIds"], json!(["new@example.com"]));

    // A second create, or a plain signup, changes nothing.
    let before = h.scan().await;
    let (status, body) = create(&h, json!({"loginId": "new@example.com"})).await;
    assert_eq!((status, error_code(&body)), (409, "E062107"));
    let (status, body) = h.signup("new@example.com").await;
    assert_eq!((status, error_code(&body)), (409, "E062107"));
    assert_eq!(h.scan().await, before);

    // The administrator's link, then update, then verify: the same user.
    let token = sign_in_link(&h.app, "new@example.com").await;
    let (status, linked) = redeem_link(&h.app, &token).await;
    assert_eq!(status, 200, "{linked}");
    let (status, updated) = h
        .update(
            &bearer(&format!("{PROJECT}:{}", refresh_of(&linked))),
            "new@example.com",
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    h.advance(30);
    let key = updated["key"].as_str().unwrap();
    let (status, enrolled) = h.verify("new@example.com", &code(key, h.now())).await;
    assert_eq!(status, 200, "{enrolled}");
    assert_eq!(enrolled["firstSeen"], false);
    assert_eq!(enrolled["user"]["userId"], user_id.as_str());
}

#[tokio::test]
async fn an_imported_seed_signs_in_with_its_own_algorithm_digits_and_period() {
    let h = Harness::new().await;
    let url = format!("otpauth://totp/Old:ann?secret={SEED_SHA256}&issuer=Old&algorithm=SHA256&digits=8&period=60");
    let (status, created) = create(&h, json!({"loginId": "ann@example.com", "seed": url})).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["user"]["TOTP"], true);
    let stored = format!("{:?}", h.scan().await);
    assert!(
        !stored.contains(SEED_SHA256) && !stored.contains("1234567890"),
        "the seed is sealed"
    );
    assert!(stored.contains("SHA256:8:60"));

    let now = h.now();
    let six = code_with(SEED_SHA256, now, "SHA256", 8, 60)[2..].to_owned();
    let (status, body) = h.verify("ann@example.com", &six).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "E061102"),
        "six digits of an 8-digit key"
    );
    let sha1_30 = code_with(SEED_SHA256, now, "SHA256", 8, 30);
    if sha1_30 != code_with(SEED_SHA256, now, "SHA256", 8, 60) {
        let (status, _) = h.verify("ann@example.com", &sha1_30).await;
        assert_eq!(status, 401, "a 30-second code of a 60-second key");
    }
    let right = code_with(SEED_SHA256, now, "SHA256", 8, 60);
    let (status, signed_in) = h.verify("ann@example.com", &right).await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(signed_in["firstSeen"], false);
    assert_eq!(signed_in["user"]["userId"], created["user"]["userId"]);
    // The step is spent: the same code again is a replay.
    let (status, _) = h.verify("ann@example.com", &right).await;
    assert_eq!(status, 401, "replay within the step");
    h.advance(60);
    let next = code_with(SEED_SHA256, h.now(), "SHA256", 8, 60);
    assert_eq!(h.verify("ann@example.com", &next).await.0, 200);

    // A plain base32 seed is SHA-1, 6 digits, 30 seconds.
    let (status, _) = create(
        &h,
        json!({"loginId": "bob@example.com", "seed": SEED_SHA1.to_lowercase()}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = h.verify("bob@example.com", &code(SEED_SHA1, h.now())).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_bad_seed_or_status_in_create_is_refused_and_writes_nothing() {
    let h = Harness::new().await;
    for (body, argument) in [
        (json!({"loginId": "x@example.com", "seed": "AAAA"}), "seed"),
        (
            json!({"loginId": "x@example.com", "seed": format!("otpauth://totp/x?secret={SEED_SHA1}&digits=7")}),
            "seed",
        ),
        (json!({"loginId": "x@example.com", "status": "invited"}), "status"),
        (json!({"loginId": "x@example.com", "email": "not an email"}), "email"),
    ] {
        let (status, reply) = create(&h, body).await;
        assert_eq!((status, error_code(&reply)), (400, "E011003"), "{reply}");
        assert!(reply["errorMessage"].as_str().unwrap().contains(argument), "{reply}");
        assert!(!reply.to_string().contains("AAAA") && !reply.to_string().contains(SEED_SHA1));
    }
    assert!(h.scan().await.is_empty());
}

#[tokio::test]
async fn a_batch_creates_each_user_independently_and_a_retry_changes_nothing() {
    let h = Harness::new().await;
    h.register("taken@example.com").await;
    let users = json!([
        {"loginId": "b1@example.com", "seed": SEED_SHA1, "email": "b1@example.com"},
        {"loginId": "b2@example.com", "seed": "AAAA"},
        {"loginId": "taken@example.com", "seed": SEED_SHA1},
        {"loginId": "b3@example.com", "status": "disabled"},
        {"loginId": 7},
        {"loginId": "b4\u{200B}@example.com"},
    ]);
    let (status, answer) = batch(&h, users.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let created: Vec<&str> = answer["createdUsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["loginIds"][0].as_str().unwrap())
        .collect();
    assert_eq!(created, ["b1@example.com", "b3@example.com"]);
    assert_eq!(answer["createdUsers"][1]["status"], "disabled");
    let failures: Vec<(String, String)> = answer["failedUsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["user"]["loginIds"][0].as_str().unwrap().to_owned(),
                f["failure"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert_eq!(failures[0].0, "b2@example.com");
    assert!(failures[0].1.starts_with("E011003") && failures[0].1.contains("seed"));
    assert!(failures[1].1.starts_with("E062107"));
    assert!(failures[2].1.starts_with("E011001"), "a loginId that is not a string");
    assert!(failures[3].1.starts_with("E011003"));
    assert!(!answer.to_string().contains(SEED_SHA1), "no seed in the answer");

    let before = h.scan().await;
    let (status, again) = batch(&h, users).await;
    assert_eq!(status, 200);
    assert_eq!(again["createdUsers"], json!([]));
    assert_eq!(again["failedUsers"].as_array().unwrap().len(), 6);
    assert_eq!(h.scan().await, before, "the retried batch changed nothing");

    let (status, body) = batch(
        &h,
        json!((0..101)
            .map(|i| json!({"loginId": format!("u{i}")}))
            .collect::<Vec<_>>()),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "E011003"));
    let (status, body) = batch(&h, json!([])).await;
    assert_eq!((status, error_code(&body)), (400, "E011002"));
}

/// Storage fails for the second user of a batch.
struct FailSecondCreate(std::sync::atomic::AtomicUsize);

impl hooked::Hook for FailSecondCreate {
    async fn before(&self, op: hooked::Op, _: &UserKey, _: &DynamoStore) -> Result<(), StoreError> {
        if op == hooked::Op::CreateUser && self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            return Err(StoreError::Unavailable("throttled".into()));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_batch_that_storage_fails_half_way_leaves_each_user_whole_or_absent_and_says_which() {
    let h = Harness::new().await;
    let app = h.hooked(FailSecondCreate(Default::default()));
    let users = json!([
        {"loginId": "h1@example.com", "seed": SEED_SHA1},
        {"loginId": "h2@example.com", "seed": SEED_SHA1},
        {"loginId": "h3@example.com", "seed": SEED_SHA1},
    ]);
    let body = json!({"users": users, "invite": true});
    let (status, answer) = mgmt_call(&app, Method::POST, "/v1/mgmt/user/create/batch", &[], body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["createdUsers"].as_array().unwrap().len(), 2);
    assert_eq!(answer["failedUsers"][0]["user"]["loginIds"], json!(["h2@example.com"]));
    assert!(answer["failedUsers"][0]["failure"]
        .as_str()
        .unwrap()
        .starts_with("E010001"));
    let items = h.scan().await;
    let users: Vec<String> = pks(&items).into_iter().filter(|pk| pk.contains('#')).collect();
    assert_eq!(
        users,
        [format!("{PROJECT}#h1@example.com"), format!("{PROJECT}#h3@example.com")]
    );
    assert_eq!(items.len(), 4, "each created user with its pointer, nothing of h2");
    // Sending the batch again creates the one that failed, and only it.
    let (status, again) = mgmt_call(&h.app, Method::POST, "/v1/mgmt/user/create/batch", &[], body).await;
    assert_eq!(status, 200);
    assert_eq!(again["createdUsers"][0]["loginIds"], json!(["h2@example.com"]));
    assert_eq!(again["failedUsers"].as_array().unwrap().len(), 2);
    assert_eq!(h.scan().await.len(), 6);
}

#[tokio::test]
async fn a_disabled_user_is_refused_everywhere_and_enabling_brings_no_session_back() {
    let h = Harness::new().await;
    let (key, signed_in) = h.register("dis@example.com").await;
    let refresh = refresh_of(&signed_in);
    let (status, disabled) = set_status(&h, "dis@example.com", "disabled").await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["user"]["status"], "disabled");
    h.advance(30);
    let before = item(&h, "dis@example.com").await;
    let (status, body) = h.verify("dis@example.com", &code(&key, h.now())).await;
    assert_eq!((status, error_code(&body)), (403, "E064003"));
    assert_eq!(item(&h, "dis@example.com").await, before, "no attempt counted");
    for route in ["refresh", "me", "try-refresh"] {
        let (status, body) = h.session(route, &refresh).await;
        if route == "try-refresh" {
            assert_eq!((status, &body), (200, &json!({})), "try-refresh answers no session");
        } else {
            assert_eq!((status, error_code(&body)), (403, "E064003"), "{route}");
        }
    }
    let (status, body) = h
        .update(&bearer(&format!("{PROJECT}:{refresh}")), "dis@example.com")
        .await;
    assert_eq!((status, error_code(&body)), (403, "E064003"));
    let (status, body) = h
        .verify_with(
            &bearer(&format!("{PROJECT}:{refresh}")),
            json!({"loginId": "dis@example.com", "code": code(&key, h.now()), "loginOptions": {"stepup": true}}),
        )
        .await;
    assert_eq!((status, error_code(&body)), (403, "E064003"), "step-up");
    let token = sign_in_link(&h.app, "dis@example.com").await;
    let (status, body) = redeem_link(&h.app, &token).await;
    assert_eq!((status, error_code(&body)), (403, "E064003"), "a sign-in link");
    let (status, found) = search(&h, json!({"statuses": ["disabled"]})).await;
    assert_eq!(status, 200);
    assert_eq!(login_ids(&found), ["dis@example.com"]);

    let (status, enabled) = set_status(&h, "dis@example.com", "enabled").await;
    assert_eq!(status, 200);
    assert_eq!(enabled["user"]["status"], "enabled");
    let (status, body) = h.session("refresh", &refresh).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "E064001"),
        "disabling ended the session for good"
    );
    let (status, body) = h.verify("dis@example.com", &code(&key, h.now())).await;
    assert_eq!(status, 200, "{body}");
    for bad in [
        json!({"loginId": "dis@example.com", "status": "invited"}),
        json!({"loginId": "dis@example.com"}),
    ] {
        let (status, _) = mgmt_call(&h.app, Method::POST, "/v1/mgmt/user/update/status", &[], bad).await;
        assert_eq!(status, 400);
    }
    let (status, body) = set_status(&h, "nobody@example.com", "disabled").await;
    assert_eq!((status, error_code(&body)), (404, "E062108"));
}

#[tokio::test]
async fn disabling_between_a_sign_ins_read_and_its_write_wins() {
    let h = Harness::new().await;
    let (key, _) = h.register("race@example.com").await;
    h.advance(30);
    let racing = h.hooked(hooked::SetBefore {
        op: hooked::Op::RecordSignIn,
        values: vec![(
            "userStatus",
            aws_sdk_dynamodb::types::AttributeValue::S("disabled".into()),
        )],
        client: h.client.clone(),
        table: h.table.clone(),
    });
    let (status, body) = call_verify(
        &racing,
        verify_request(PROJECT, "race@example.com", &code(&key, h.now())),
    )
    .await;
    assert_eq!((status, error_code(&body)), (403, "E064003"), "{body}");
    assert!(body.get("sessionJwt").is_none());
}

#[tokio::test]
async fn create_and_signup_of_one_login_id_never_make_two_users() {
    let h = Harness::new().await;
    // A pending sign-up was nobody: the administrator's user replaces it.
    let (_, pending) = h.signup("both@example.com").await;
    let (status, created) = create(&h, json!({"loginId": "both@example.com"})).await;
    assert_eq!(status, 200, "{created}");
    let (status, _) = h
        .verify("both@example.com", &code(pending["key"].as_str().unwrap(), h.now()))
        .await;
    assert_eq!(status, 401, "the replaced sign-up cannot complete");
    // A user created between a signup's checks and its write: 409, the user intact.
    let racing = h.hooked(CreateFirst);
    let (status, body) = call_signup(
        &racing,
        request(
            Method::POST,
            "/v1/auth/totp/signup",
            Some(&bearer(PROJECT)),
            &json!({"loginId": "late@example.com"}).to_string(),
        ),
    )
    .await;
    assert_eq!((status, error_code(&body)), (409, "E062107"));
    let stored = item(&h, "late@example.com").await;
    assert_eq!(stored["status"].as_s().unwrap(), "registered");
    assert!(!stored.contains_key("secret"), "no key was attached");
}

/// Creates the user (without a key) just before a signup's write.
struct CreateFirst;

impl hooked::Hook for CreateFirst {
    async fn before(&self, op: hooked::Op, key: &UserKey, store: &DynamoStore) -> Result<(), StoreError> {
        if op == hooked::Op::PutPendingSignup {
            store
                .create_user(&NewUser {
                    key: key.clone(),
                    user_id: "U2RACER".into(),
                    enrollment_id: "E-RACER".into(),
                    secret: None,
                    profile: Default::default(),
                    disabled: false,
                    created_time: 1,
                })
                .await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_user_registered_by_a_code_is_found_by_user_id_at_once_and_deletion_leaves_nothing() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("reg@example.com").await;
    let user_id = signed_in["user"]["userId"].as_str().unwrap().to_owned();
    let (status, loaded) = load_by_id(&h, &user_id).await;
    assert_eq!(status, 200, "{loaded}");
    assert_eq!(loaded["user"]["loginIds"], json!(["reg@example.com"]));
    for bad in ["", "U2;x", &"U".repeat(65)] {
        let (status, _) = load_by_id(&h, bad).await;
        assert_eq!(status, 400, "{bad:?}");
    }
    assert_eq!(load_by_id(&h, "U2NOBODY").await.0, 404);

    let (status, _) = mgmt(&h.app, "delete", "reg@example.com").await;
    assert_eq!(status, 200);
    assert!(h.scan().await.is_empty(), "the user and its pointer are gone");
    assert_eq!(load_by_id(&h, &user_id).await.0, 404);

    // Batch deletion by userId; unknown ids are already gone.
    let (_, a) = create(&h, json!({"loginId": "da@example.com"})).await;
    let (_, b) = create(&h, json!({"loginId": "db@example.com"})).await;
    let ids = json!([a["user"]["userId"], b["user"]["userId"], "U2UNKNOWN"]);
    let (status, body) = mgmt_call(
        &h.app,
        Method::POST,
        "/v1/mgmt/user/delete/batch",
        &[],
        json!({"userIds": ids}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(h.scan().await.is_empty());
    let (status, _) = mgmt_call(
        &h.app,
        Method::POST,
        "/v1/mgmt/user/delete/batch",
        &[],
        json!({"userIds": []}),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn search_pages_one_projects_registered_users_in_login_id_order() {
    let h = Harness::new().await;
    for (i, login) in ["e@x.io", "a@x.io", "d@x.io", "c@x.io", "b@x.io"].iter().enumerate() {
        let status = if i % 2 == 0 { "enabled" } else { "disabled" };
        let (code, _) = create(
            &h,
            json!({"loginId": login, "displayName": format!("Person {login}"), "status": status}),
        )
        .await;
        assert_eq!(code, 200);
    }
    h.signup("pending@x.io").await;
    h.signup_in(OTHER_PROJECT, "other@x.io").await;
    let (status, all) = search(&h, json!({"limit": 0, "page": 0, "tenantIds": [], "roleNames": []})).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(login_ids(&all), ["a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io"]);
    let mut paged = Vec::new();
    for page in 0..3 {
        let (_, found) = search(&h, json!({"limit": 2, "page": page})).await;
        paged.extend(login_ids(&found));
    }
    assert_eq!(paged, login_ids(&all), "pages are disjoint and complete");
    let (_, enabled) = search(&h, json!({"statuses": ["enabled"]})).await;
    assert_eq!(login_ids(&enabled), ["b@x.io", "d@x.io", "e@x.io"]);
    let (_, text) = search(&h, json!({"text": "PERSON D"})).await;
    assert_eq!(login_ids(&text), ["d@x.io"]);
    let (_, named) = search(&h, json!({"loginIds": ["c@x.io", "pending@x.io", "zz@x.io", "a@x.io"]})).await;
    assert_eq!(login_ids(&named), ["a@x.io", "c@x.io"]);
    let (status, twice) = search(&h, json!({"loginIds": ["c@x.io", "c@x.io", "zz@x.io", "zz@x.io"]})).await;
    assert_eq!(status, 200, "a loginId named twice: {twice}");
    assert_eq!(login_ids(&twice), ["c@x.io"]);
    let (_, nobody) = search(&h, json!({"statuses": ["invited"]})).await;
    assert_eq!(login_ids(&nobody), Vec::<String>::new());
    let (_, whole) = search(&h, json!({"limit": 2.0, "page": 1.0})).await;
    assert_eq!(
        login_ids(&whole),
        ["c@x.io", "d@x.io"],
        "whole numbers written as floats"
    );
    for bad in [
        json!({"limit": 101}),
        json!({"limit": -1}),
        json!({"limit": 2.5}),
        json!({"page": -1}),
        json!({"page": 4_294_967_296u64}),
        json!({"statuses": ["gone"]}),
    ] {
        let (status, body) = search(&h, bad.clone()).await;
        assert_eq!((status, error_code(&body)), (400, "E011003"), "{bad}");
    }
}

#[tokio::test]
async fn try_refresh_answers_refresh_with_a_live_session_and_nothing_without_one() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("try@example.com").await;
    let refresh = refresh_of(&signed_in);
    let (status, body) = h.session("try-refresh", &refresh).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["sessionJwt"].is_string());
    assert_eq!(body["user"]["loginIds"], json!(["try@example.com"]));
    let (status, body) = call_sessions(
        &h.app,
        request(Method::POST, "/v1/auth/try-refresh", Some(&bearer(PROJECT)), "{}"),
    )
    .await;
    assert_eq!((status, body), (200, json!({})));
    assert_eq!(h.session("logout", &refresh).await.0, 200);
    let (status, body) = h.session("try-refresh", &refresh).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, body) = h.session("try-refresh", "a.b.c").await;
    assert_eq!((status, body), (200, json!({})));
}

#[tokio::test]
async fn users_registered_before_the_index_are_found_after_the_backfill() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("old@example.com").await;
    let user_id = signed_in["user"]["userId"].as_str().unwrap().to_owned();
    // As an older version left it: no project attribute, no pointer.
    set_attributes(&h, "old@example.com", &[], &["project"]).await;
    h.client
        .delete_item()
        .table_name(&h.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("{PROJECT}|uid|{user_id}")),
        )
        .send()
        .await
        .unwrap();
    h.signup("pending@example.com").await;
    assert_eq!(load_by_id(&h, &user_id).await.0, 404);
    let (_, found) = search(&h, json!({})).await;
    assert_eq!(login_ids(&found), Vec::<String>::new());

    let backfill = totp_lambda::store::dynamo::backfill_user_index;
    assert_eq!(
        backfill(&h.client, &h.table).await.unwrap(),
        1,
        "the pending sign-up is no user"
    );
    assert_eq!(load_by_id(&h, &user_id).await.0, 200);
    let (_, found) = search(&h, json!({})).await;
    assert_eq!(login_ids(&found), ["old@example.com"]);
    let before = h.scan().await;
    assert_eq!(backfill(&h.client, &h.table).await.unwrap(), 0, "nothing left to do");
    assert_eq!(h.scan().await, before);
}

/// The SDK gives every TransactWriteItems an idempotency token and retries
/// with the same one, so DynamoDB answers the retry as the success it was
/// instead of failing on the conditions the first attempt made false.
#[tokio::test]
async fn a_creation_whose_answer_was_lost_is_retried_as_the_success_it_was() {
    let mut h = Harness::new().await;
    let lose = lost_answers::LoseFirstAnswer::to_requests_with("|uid|");
    let client = lost_answers::client_losing(&endpoint(), &lose).await;
    h.app.store = DynamoStore::new(client, h.table.clone());
    let (status, created) = create(&h, json!({"loginId": "lost@example.com", "seed": SEED_SHA1})).await;
    assert_eq!(lose.lost(), 1, "the transaction's first answer was lost");
    assert_eq!(status, 200, "the SDK's retry is the same creation: {created}");
    assert_eq!(h.scan().await.len(), 2, "one user, one pointer");
    let (status, body) = create(&h, json!({"loginId": "lost@example.com"})).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "E062107"),
        "a second creation is another"
    );
}
