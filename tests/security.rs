//! What the service refuses: replays, brute force, plaintext at rest,
//! secrets in logs, unsafe failure, and crossing projects.

use crate::common;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use totp_lambda::store::dynamo::DynamoStore;
use totp_lambda::store::{Store, StoreError, UserKey};

// ---- 1. No code is accepted twice ---------------------------------------

#[tokio::test]
async fn a_code_is_accepted_once() {
    let h = Harness::new().await;
    let (key, _) = h.register("once@example.com").await;
    // The code that completed the sign-up cannot sign in.
    let (status, body) = h.verify("once@example.com", &code(&key, h.now())).await;
    assert_eq!((status, error_code(&body)), (401, "E061102"));
    // Nor can an older step's code still inside the window.
    let (status, _) = h.verify("once@example.com", &code(&key, h.now() - 30)).await;
    assert_eq!(status, 401);
    h.advance(30);
    let c = code(&key, h.now());
    assert_eq!(h.verify("once@example.com", &c).await.0, 200);
    assert_eq!(h.verify("once@example.com", &c).await.0, 401, "replayed sign-in code");
}

#[tokio::test]
async fn a_replayed_code_is_refused_before_any_sign_in_write() {
    // The conditional write would refuse it too: this is the check in front of it.
    let h = Harness::new().await;
    let (key, _) = h.register("once@example.com").await;
    h.advance(30);
    let app = h.hooked(Recorder::default());
    let c = code(&key, h.now());
    let verify = || call_verify(&app, verify_request(PROJECT, "once@example.com", &c));
    assert_eq!(verify().await.0, 200);
    assert!(app.store.hook.0.lock().unwrap().contains(&Op::RecordSignIn));
    app.store.hook.0.lock().unwrap().clear();
    let (status, body) = verify().await;
    assert_eq!((status, error_code(&body)), (401, "E061102"));
    let ops = app.store.hook.0.lock().unwrap().clone();
    assert_eq!(
        ops,
        [Op::Get, Op::TakeAttempt],
        "counted as an attempt, nothing else written"
    );
}

#[tokio::test]
async fn parallel_replays_of_one_code_succeed_exactly_once() {
    let h = Harness::with_config(|c| c.lockout_max_attempts = 100).await;
    let (key, _) = h.register("parallel@example.com").await;
    h.advance(30);
    let c = code(&key, h.now());
    let results = futures::future::join_all((0..10).map(|_| h.verify("parallel@example.com", &c))).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(
            (*status, error_code(body)),
            (401, "E061102"),
            "a replay answers like a wrong code"
        );
    }
}

// ---- 2. Brute force is stopped --------------------------------------------

#[tokio::test]
async fn five_wrong_codes_lock_the_user_even_for_the_right_code() {
    let h = Harness::new().await;
    let (key, _) = h.register("locked@example.com").await;
    h.advance(30);
    for _ in 0..5 {
        let (status, body) = h.verify("locked@example.com", &wrong_code(&key, h.now())).await;
        assert_eq!((status, error_code(&body)), (401, "E061102"));
    }
    let response = totp_lambda::http::verify(
        &h.app,
        verify_request(PROJECT, "locked@example.com", &code(&key, h.now())),
    )
    .await
    .unwrap();
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    let (status, body) = into_parts(response).await;
    assert_eq!(
        (status, error_code(&body)),
        (429, "E061103"),
        "locked out, right code or not"
    );
    // When the window has passed, the right code works again.
    h.advance(retry_after);
    assert_eq!(h.verify("locked@example.com", &code(&key, h.now())).await.0, 200);
}

#[tokio::test]
async fn a_success_resets_the_count() {
    let h = Harness::new().await;
    let (key, _) = h.register("reset@example.com").await;
    for round in 0..3 {
        h.advance(30);
        for _ in 0..4 {
            assert_eq!(
                h.verify("reset@example.com", &wrong_code(&key, h.now())).await.0,
                401,
                "round {round}"
            );
        }
        assert_eq!(
            h.verify("reset@example.com", &code(&key, h.now())).await.0,
            200,
            "round {round}"
        );
    }
}

#[tokio::test]
async fn a_victims_sign_ins_do_not_refill_an_attackers_daily_budget() {
    let h = Harness::new().await;
    let (key, _) = h.register("victim@example.com").await;
    let daily = h.app.config.lockout_daily_max_failures;
    assert_eq!(daily, 20, "the default long-window cap");
    let mut failures = 0;
    // The victim signs in every few minutes; the attacker spends 4 guesses after each.
    while failures < daily {
        h.advance(120);
        for _ in 0..4 {
            let (status, body) = h.verify("victim@example.com", &wrong_code(&key, h.now())).await;
            assert_eq!((status, error_code(&body)), (401, "E061102"), "failure {failures}");
            failures += 1;
        }
        if failures < daily {
            assert_eq!(h.verify("victim@example.com", &code(&key, h.now())).await.0, 200);
        }
    }
    // The day's failures are spent: every code is refused until the long window ends.
    h.advance(120);
    let response = totp_lambda::http::verify(
        &h.app,
        verify_request(PROJECT, "victim@example.com", &wrong_code(&key, h.now())),
    )
    .await
    .unwrap();
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(into_parts(response).await.0, 429);
    assert!(retry_after > 900, "the long window, not the short one: {retry_after}");
    assert_eq!(
        h.verify("victim@example.com", &code(&key, h.now())).await.0,
        429,
        "the victim too: a known loginId can be locked out"
    );
    h.advance(retry_after);
    assert_eq!(h.verify("victim@example.com", &code(&key, h.now())).await.0, 200);
}

#[tokio::test]
async fn parallel_wrong_guesses_cannot_exceed_the_limit() {
    let h = Harness::new().await;
    let (key, _) = h.register("guess@example.com").await;
    h.advance(30);
    let guesses: Vec<String> = (0..20).map(|i| format!("{:06}", 100_000 + i * 37)).collect();
    let valid: Vec<String> = [-30i64, 0, 30]
        .iter()
        .map(|d| code(&key, (h.now() as i64 + d) as u64))
        .collect();
    let guesses: Vec<&String> = guesses.iter().filter(|g| !valid.contains(g)).collect();
    let results = futures::future::join_all(guesses.iter().map(|g| h.verify("guess@example.com", g))).await;
    let evaluated = results.iter().filter(|(s, _)| *s == 401).count();
    let refused = results.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!(evaluated, 5, "exactly the limit was evaluated: {results:?}");
    assert_eq!(refused, guesses.len() - 5);
    let items = h.user_items().await;
    assert_eq!(items[0]["attempts"].as_n().unwrap(), "5");
}

/// A harness whose App loses the first answer to every write that names
/// an attempt (counting a wrong code, and each success write): each lands, then the
/// SDK's retry sends it again, as after a timeout.
async fn losing_answers() -> (Harness, lost_answers::LoseFirstAnswer) {
    let mut h = Harness::new().await;
    let lose = lost_answers::LoseFirstAnswer::to_requests_with(":attemptId");
    let client = lost_answers::client_losing(&endpoint(), &lose).await;
    h.app.store = DynamoStore::new(client, h.table.clone());
    (h, lose)
}

/// Counted twice, a slow table would lock users out after fewer wrong codes
/// than promised.
#[tokio::test]
async fn an_attempt_whose_answer_was_lost_counts_once() {
    let (h, lose) = losing_answers().await;
    let (key, _) = h.register("lost-answer@example.com").await;
    h.advance(30);
    let lost_before = lose.lost();
    // The first opens the short window, the others add to it: both kinds of write.
    for n in 1..=5u32 {
        let (status, body) = h.verify("lost-answer@example.com", &wrong_code(&key, h.now())).await;
        assert_eq!(status, 401, "wrong code {n} is evaluated: {body}");
        assert_eq!(lose.lost() - lost_before, n as usize, "attempt {n}'s answer was lost");
        let item = &h.user_items().await[0];
        assert_eq!(
            item["attempts"].as_n().unwrap(),
            &n.to_string(),
            "attempt {n} counted once"
        );
    }
    let (status, _) = h.verify("lost-answer@example.com", &code(&key, h.now())).await;
    assert_eq!(status, 429, "and the sixth is refused");
    // Refused from the read alone: no write was sent for it.
    assert_eq!(lose.lost() - lost_before, 5);
}

/// A success that landed must not turn into "wrong code" because the
/// retry of its write found its own result; a replay still must.
#[tokio::test]
async fn a_success_whose_answer_was_lost_still_signs_in() {
    let (h, lose) = losing_answers().await;
    // Completing the sign-up: its one write (a right code takes no attempt) lost once.
    let (key, first) = h.register("lost-success@example.com").await;
    assert_eq!(lose.lost(), 1);
    assert_eq!(first["firstSeen"], true);
    // A sign-in.
    h.advance(30);
    let now_code = code(&key, h.now());
    let (status, body) = h.verify("lost-success@example.com", &now_code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(lose.lost(), 2);
    let (status, _) = h.verify("lost-success@example.com", &now_code).await;
    assert_eq!(status, 401, "the same code again is a replay");
    // A new key's first code.
    let refresh = refresh_of(&body);
    let (status, update) = h
        .update(&bearer(&format!("{PROJECT}:{refresh}")), "lost-success@example.com")
        .await;
    assert_eq!(status, 200, "{update}");
    h.advance(30);
    let lost_before = lose.lost();
    let new_key = update["key"].as_str().unwrap();
    let (status, body) = h.verify("lost-success@example.com", &code(new_key, h.now())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(lose.lost() - lost_before, 1);
    assert!(
        !h.scan().await[0].contains_key("pendingSecret"),
        "the new key is the key"
    );
}

#[tokio::test]
async fn parallel_wrong_guesses_cannot_exceed_the_long_window_either() {
    let h = Harness::with_config(|c| c.lockout_max_attempts = 100).await;
    let (key, _) = h.register("guess-long@example.com").await;
    h.advance(30);
    let valid: Vec<String> = [-30i64, 0, 30]
        .iter()
        .map(|d| code(&key, (h.now() as i64 + d) as u64))
        .collect();
    let guesses: Vec<String> = (0..40)
        .map(|i| format!("{:06}", 200_000 + i * 41))
        .filter(|g| !valid.contains(g))
        .collect();
    let results = futures::future::join_all(guesses.iter().map(|g| h.verify("guess-long@example.com", g))).await;
    let evaluated = results.iter().filter(|(s, _)| *s == 401).count();
    assert_eq!(evaluated, 20, "exactly the long limit was evaluated: {results:?}");
    assert!(results.iter().all(|(s, _)| *s == 401 || *s == 429));
    let items = h.scan().await;
    assert_eq!(items[0]["longAttempts"].as_n().unwrap(), "20");
}

#[tokio::test]
async fn pending_signups_are_rate_limited_too() {
    let h = Harness::new().await;
    let (_, signup) = h.signup("pending-guess@example.com").await;
    let key = signup["key"].as_str().unwrap();
    for _ in 0..5 {
        assert_eq!(
            h.verify("pending-guess@example.com", &wrong_code(key, h.now())).await.0,
            401
        );
    }
    assert_eq!(h.verify("pending-guess@example.com", &code(key, h.now())).await.0, 429);
}

// ---- 3. Secrets are encrypted at rest -------------------------------------

fn attribute_bytes(value: &AttributeValue, out: &mut Vec<Vec<u8>>) {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => out.push(s.as_bytes().to_vec()),
        AttributeValue::B(b) => out.push(b.as_ref().to_vec()),
        AttributeValue::M(m) => m.values().for_each(|v| attribute_bytes(v, out)),
        AttributeValue::L(l) => l.iter().for_each(|v| attribute_bytes(v, out)),
        AttributeValue::Ss(l) | AttributeValue::Ns(l) => l.iter().for_each(|s| out.push(s.as_bytes().to_vec())),
        _ => {}
    }
}

#[tokio::test]
async fn no_plaintext_secret_is_stored() {
    let h = Harness::new().await;
    let (pending, _) = h.signup("pending@example.com").await.1["key"]
        .as_str()
        .map(|k| (k.to_owned(), ()))
        .unwrap();
    let (registered, verified) = h.register("registered@example.com").await;
    let refresh = verified["refreshJwt"].as_str().unwrap();
    let (_, updated) = h
        .update(&bearer(&format!("{PROJECT}:{refresh}")), "registered@example.com")
        .await;
    let new_key = updated["key"].as_str().unwrap().to_owned();
    // The scan must see the three sealed secrets it looks through: two
    // `secret`s and one `pendingSecret`, each a v2 blob.
    let items = h.scan().await;
    let sealed: Vec<&AttributeValue> = items
        .iter()
        .flat_map(|item| ["secret", "pendingSecret"].map(|field| item.get(field)))
        .flatten()
        .collect();
    assert_eq!(sealed.len(), 3, "{items:?}");
    assert!(sealed
        .iter()
        .all(|b| totp_lambda::secret_box::is_v2(b.as_b().unwrap().as_ref())));
    for key in [pending, registered, new_key] {
        let raw = data_encoding::BASE32_NOPAD.decode(key.as_bytes()).unwrap();
        let lower = key.to_lowercase();
        for item in h.scan().await {
            let mut values = Vec::new();
            item.values().for_each(|v| attribute_bytes(v, &mut values));
            for bytes in values {
                let text = String::from_utf8_lossy(&bytes).to_lowercase();
                assert!(!text.contains(&lower), "base32 key found in an item");
                assert!(
                    !bytes.windows(raw.len()).any(|w| w == raw),
                    "raw key bytes found in an item"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_user_does_not_decrypt() {
    let h = Harness::new().await;
    let (_, alice) = h.signup("alice@example.com").await;
    let alice_key = alice["key"].as_str().unwrap();
    h.signup("mallory@example.com").await;
    // Copy Alice's sealed secret (and its enrollment id) onto Mallory's item.
    let items = h.scan().await;
    let alice_item = items
        .iter()
        .find(|i| i["pk"].as_s().unwrap().ends_with("#alice@example.com"))
        .unwrap();
    h.client
        .update_item()
        .table_name(&h.table)
        .key("pk", user_pk("mallory@example.com"))
        .update_expression("SET secret = :s, secretKeyId = :k, enrollmentId = :e")
        .expression_attribute_values(":s", alice_item["secret"].clone())
        .expression_attribute_values(":k", alice_item["secretKeyId"].clone())
        .expression_attribute_values(":e", alice_item["enrollmentId"].clone())
        .send()
        .await
        .unwrap();
    let (status, body) = h.verify("mallory@example.com", &code(alice_key, h.now())).await;
    assert_eq!(
        (status, error_code(&body)),
        (500, "E010000"),
        "decryption fails: bound to Alice"
    );
    let mallory = h
        .scan()
        .await
        .into_iter()
        .find(|i| i["pk"].as_s().unwrap().ends_with("#mallory@example.com"))
        .unwrap();
    assert_eq!(mallory["status"].as_s().unwrap(), "pending", "nothing was registered");
    // Alice's own item still works.
    assert_eq!(h.verify("alice@example.com", &code(alice_key, h.now())).await.0, 200);
}

// ---- 5. Nothing secret leaks into logs: tests/logs.rs (a binary of its own) ---

// ---- 6. Faults fail safe ------------------------------------------------------

/// Signup against `endpoint`: the answer, and how long it took.
async fn signup_against(endpoint: &str) -> (u16, serde_json::Value, Option<String>, Duration, Harness) {
    let h = Harness::on_endpoint(endpoint, |_| {}).await;
    let started = Instant::now();
    let call = totp_lambda::http::signup(
        &h.app,
        request(
            lambda_http::http::Method::POST,
            "/v1/auth/totp/signup",
            Some(&bearer(PROJECT)),
            r#"{"loginId":"a@b.co"}"#,
        ),
    );
    // Far beyond the operation timeout: a missing timeout fails here, never hangs.
    let response = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("no answer within 30 s: the operation timeout is not in force")
        .unwrap();
    let elapsed = started.elapsed();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = into_parts(response).await;
    (status, body, retry_after, elapsed, h)
}

#[tokio::test]
async fn a_dead_dynamodb_gives_503_at_once() {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    }; // the listener is dropped: connections are refused
    let (status, body, retry_after, _, h) = signup_against(&dead).await;
    assert_eq!((status, error_code(&body)), (503, "E010001"));
    assert_eq!(retry_after.as_deref(), Some("1"));
    let (status, _) = h.verify("a@b.co", "123456").await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn a_dynamodb_that_never_answers_gives_503_within_the_operation_timeout() {
    // Accepts every connection and reads nothing back: the case a timeout is for.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let (status, body, retry_after, elapsed, _) = signup_against(&silent).await;
    assert_eq!((status, error_code(&body)), (503, "E010001"));
    assert_eq!(retry_after.as_deref(), Some("1"));
    let bound = totp_lambda::app::timeouts().operation_timeout().unwrap();
    assert!(
        elapsed >= bound - Duration::from_millis(500),
        "gave up early: {elapsed:?}"
    );
    assert!(
        elapsed < bound + Duration::from_secs(1),
        "answered in {elapsed:?}, bound {bound:?}"
    );
}

/// Answers every request with a success status and a body cut short: the
/// connection closes 40 bytes before the promised Content-Length.
fn truncating_endpoint() -> String {
    answering_endpoint(r#"{"Item":{"pk":{"S":"#, 40)
}

/// A DynamoDB stand-in that answers every request 200 with `body`, declaring
/// `missing` bytes more than it sends (0: the whole answer).
fn answering_endpoint(body: &'static str, missing: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            // The whole request (headers, then Content-Length bytes), then the answer.
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            let complete = |r: &[u8]| {
                let text = String::from_utf8_lossy(r);
                let Some((head, body)) = text.split_once("\r\n\r\n") else {
                    return false;
                };
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                body.len() >= length
            };
            while !complete(&request) {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len() + missing
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    endpoint
}

#[tokio::test]
async fn a_dynamodb_200_that_is_not_json_gives_503() {
    // What a proxy in the way might send: a whole answer, but not DynamoDB's.
    let (status, body, retry_after, _, h) = signup_against(&answering_endpoint("<html>busy</html>", 0)).await;
    assert_eq!((status, error_code(&body)), (503, "E010001"), "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    let (status, _) = h.verify("a@b.co", "123456").await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn a_dynamodb_answer_cut_short_gives_503() {
    let (status, body, retry_after, _, h) = signup_against(&truncating_endpoint()).await;
    assert_eq!((status, error_code(&body)), (503, "E010001"), "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    let (status, _) = h.verify("a@b.co", "123456").await;
    assert_eq!(status, 503);
}

/// The writes after a read fail as if DynamoDB became unreachable then.
struct FailingWrites;

impl Hook for FailingWrites {
    async fn before(&self, op: Op, _: &UserKey, _: &DynamoStore) -> Result<(), StoreError> {
        match op {
            Op::CompleteSignup | Op::RecordSignIn | Op::PromotePendingKey | Op::PutPendingKey => {
                Err(StoreError::Unavailable("injected".into()))
            }
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn a_failure_between_read_and_write_leaves_the_previous_state_valid() {
    let h = Harness::new().await;
    let failing = h.hooked(FailingWrites);
    let verify = |login: &str, c: &str| verify_request(PROJECT, login, c);
    // The injected failure comes before the write reaches DynamoDB, so what
    // can go wrong is in the service: it must answer 503, and leave nothing
    // that blocks the next try. Those are the assertions.
    // Completing a sign-up fails after the read: still completable.
    let (_, signup) = h.signup("fragile@example.com").await;
    let key = signup["key"].as_str().unwrap().to_owned();
    let (status, body) = call_verify(&failing, verify("fragile@example.com", &code(&key, h.now()))).await;
    assert_eq!((status, error_code(&body)), (503, "E010001"));
    assert_eq!(
        h.verify("fragile@example.com", &code(&key, h.now())).await.0,
        200,
        "the same code still completes it"
    );

    // A sign-in fails after the read: the code was not consumed.
    h.advance(30);
    let c = code(&key, h.now());
    assert_eq!(call_verify(&failing, verify("fragile@example.com", &c)).await.0, 503);
    let (status, signed) = h.verify("fragile@example.com", &c).await;
    assert_eq!(status, 200, "the same code still signs in");

    // An update fails after the read: the old key works, and a new update does too.
    let refresh = signed["refreshJwt"].as_str().unwrap();
    let authorization = bearer(&format!("{PROJECT}:{refresh}"));
    let update = update_request(&authorization, "fragile@example.com");
    assert_eq!(call_update(&failing, update).await.0, 503);
    h.advance(30);
    assert_eq!(h.verify("fragile@example.com", &code(&key, h.now())).await.0, 200);
    assert_eq!(h.update(&authorization, "fragile@example.com").await.0, 200);
}

// ---- 7. Projects are isolated ---------------------------------------------------

#[tokio::test]
async fn another_project_cannot_see_verify_or_overwrite_a_user() {
    let h = Harness::new().await;
    let (key, _) = h.register("shared@example.com").await;
    let before = h.scan().await;
    // B cannot verify A's user, even with A's valid code, and gets the answer of a stranger.
    let (status, body) = h
        .verify_in(OTHER_PROJECT, "shared@example.com", &code(&key, h.now() + 30))
        .await;
    assert_eq!((status, error_code(&body)), (404, "E062108"));
    let (stranger_status, stranger) = h.verify_in(OTHER_PROJECT, "never@example.com", "123456").await;
    assert_eq!(
        (stranger_status, &stranger),
        (status, &body),
        "indistinguishable from an unknown user"
    );
    // B signing up the same loginId makes B's own pending user; A's user is untouched.
    let (status, b_signup) = h.signup_in(OTHER_PROJECT, "shared@example.com").await;
    assert_eq!(status, 200, "B does not learn that A has this user");
    assert_ne!(b_signup["key"], serde_json::Value::String(key.clone()));
    let after = h.scan().await;
    assert_eq!(after.len(), 3, "A's user and its pointer, B's pending user");
    assert!(before.iter().all(|item| after.contains(item)), "A's item is unchanged");
    h.advance(30);
    assert_eq!(h.verify("shared@example.com", &code(&key, h.now())).await.0, 200);
    // A's tokens do not work in B either.
    let (_, signed) = h.verify("shared@example.com", &code(&key, h.now() + 30)).await;
    let refresh = signed["refreshJwt"].as_str().unwrap();
    let (status, body) = h
        .update(&bearer(&format!("{OTHER_PROJECT}:{refresh}")), "shared@example.com")
        .await;
    assert_eq!((status, error_code(&body)), (401, "E061004"));
}

// ---- 8. A pending key dies with the sessions it was made in (issue 23) ----

fn auth_of(signed_in: &serde_json::Value) -> String {
    bearer(&format!("{PROJECT}:{}", refresh_of(signed_in)))
}

/// A registered user with a pending key from update: (current key, pending key, the sign-in).
async fn with_pending_key(h: &Harness, login: &str) -> (String, String, serde_json::Value) {
    let (key, signed_in) = h.register(login).await;
    let (status, updated) = h.update(&auth_of(&signed_in), login).await;
    assert_eq!(status, 200, "{updated}");
    (key, updated["key"].as_str().unwrap().to_owned(), signed_in)
}

/// The names of the user item's pending-key attributes.
async fn pending_attributes(h: &Harness, login: &str) -> Vec<String> {
    let mut names: Vec<String> = item(h, login)
        .await
        .into_keys()
        .filter(|k| k.starts_with("pending"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_end_of_all_sessions_ends_a_pending_key_in_the_same_write() {
    let h = Harness::new().await;
    for how in ["logoutall", "mgmt-logout", "revokeOtherSessions", "remove_totp"] {
        let login = format!("{}@example.com", how.to_lowercase());
        let (key, pending, signed_in) = with_pending_key(&h, &login).await;
        assert_eq!(
            pending_attributes(&h, &login).await,
            [
                "pendingEnrollmentId",
                "pendingExpiresAt",
                "pendingGeneration",
                "pendingSecret",
                "pendingSecretKeyId"
            ],
            "{how}"
        );
        h.advance(30);
        match how {
            "logoutall" => assert_eq!(h.session("logoutall", &refresh_of(&signed_in)).await.0, 200),
            "mgmt-logout" => assert_eq!(mgmt(&h.app, "logout", &login).await.0, 200),
            "remove_totp" => assert_eq!(mgmt(&h.app, "remove_totp", &login).await.0, 200),
            _ => {
                let body = serde_json::json!({"loginId": login, "code": code(&key, h.now()),
                                              "loginOptions": {"revokeOtherSessions": true}});
                let (status, answer) = h.verify_with(&bearer(PROJECT), body).await;
                assert_eq!(status, 200, "{answer}");
            }
        }
        assert!(
            pending_attributes(&h, &login).await.is_empty(),
            "{how}: the pending key is gone"
        );
        h.advance(30);
        let (status, body) = h.verify(&login, &code(&pending, h.now())).await;
        assert_eq!((status, error_code(&body)), (401, "E061102"), "{how}");
    }
}

#[tokio::test]
async fn a_pending_key_is_promoted_only_in_the_generation_it_was_made_in() {
    let h = Harness::new().await;
    let (_, pending, _) = with_pending_key(&h, "generation@example.com").await;
    // Between the verify's read and its promotion, the generation moves on
    // without touching the pending key (as a writer of an older release
    // would): the promotion's own condition must refuse it.
    let racing = h.setting_before(
        Op::PromotePendingKey,
        vec![("sessionGeneration", AttributeValue::N("1".into()))],
    );
    h.advance(30);
    let (status, body) = call_verify(
        &racing,
        verify_request(PROJECT, "generation@example.com", &code(&pending, h.now())),
    )
    .await;
    assert_eq!((status, error_code(&body)), (401, "E061102"), "{body}");
    assert_eq!(
        pending_attributes(&h, "generation@example.com").await.len(),
        5,
        "not promoted"
    );
}

/// A logout (of this token, or everywhere) that lands between update's
/// read and its write.
struct LogoutDuringUpdate {
    everywhere: bool,
    token: std::sync::Mutex<Option<String>>,
}

impl Hook for LogoutDuringUpdate {
    async fn before(&self, op: Op, key: &UserKey, store: &DynamoStore) -> Result<(), StoreError> {
        if op != Op::PutPendingKey {
            return Ok(());
        }
        if self.everywhere {
            store.end_all_sessions(key).await
        } else {
            let token = self.token.lock().unwrap().take().expect("the token");
            let mut session = current_session(store, key).await?;
            session.token_id = token;
            store.revoke_session(key, &session, T0 + 3600).await
        }
    }
}

#[tokio::test]
async fn an_update_racing_a_logout_never_lands() {
    for everywhere in [false, true] {
        let h = Harness::new().await;
        let (_, signed_in) = h.register("racing-update@example.com").await;
        let refresh = refresh_of(&signed_in);
        let token_id = claims(&refresh)["jti"].as_str().unwrap().to_owned();
        let racing = h.hooked(LogoutDuringUpdate {
            everywhere,
            token: std::sync::Mutex::new(Some(token_id)),
        });
        let (status, body) = call_update(
            &racing,
            update_request(&auth_of(&signed_in), "racing-update@example.com"),
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "E064001"),
            "everywhere: {everywhere}"
        );
        assert!(
            pending_attributes(&h, "racing-update@example.com").await.is_empty(),
            "everywhere: {everywhere}: no pending key"
        );
    }
}

// ---- 9. Changing the key needs a fresh sign-in (issue 23) ------------------

#[tokio::test]
async fn update_needs_a_sign_in_from_the_last_five_minutes() {
    let h = Harness::new().await;
    let (key, signed_in) = h.register("fresh-update@example.com").await;
    let freshness = h.app.config.update_freshness_seconds;
    assert_eq!(freshness, 300, "the documented default");
    h.advance(freshness);
    assert_eq!(
        h.update(&auth_of(&signed_in), "fresh-update@example.com").await.0,
        200,
        "at the limit"
    );
    h.advance(1);
    let before = h.scan().await;
    let (status, body) = h.update(&auth_of(&signed_in), "fresh-update@example.com").await;
    assert_eq!((status, error_code(&body)), (401, "E064002"), "{body}");
    assert_eq!(h.scan().await, before, "a refused update writes nothing");
    // A refresh does not make the sign-in fresh: it returns the same refresh JWT.
    let (_, refreshed) = h.session("refresh", &refresh_of(&signed_in)).await;
    assert_eq!(h.update(&auth_of(&refreshed), "fresh-update@example.com").await.0, 401);
    // A step-up verify does: it returns a new refresh JWT.
    h.advance(30);
    let body = serde_json::json!({"loginId": "fresh-update@example.com", "code": code(&key, h.now()),
                                  "loginOptions": {"stepup": true}});
    let (status, stepped_up) = h.verify_with(&auth_of(&signed_in), body).await;
    assert_eq!(status, 200, "{stepped_up}");
    assert_eq!(h.update(&auth_of(&stepped_up), "fresh-update@example.com").await.0, 200);
}

/// A user whose new key waits for its first code is guarded as any other:
/// a code that matches neither key is counted, and the lockout then holds
/// for the new key's code too.
#[tokio::test]
async fn wrong_codes_count_while_a_new_key_waits() {
    let h = Harness::new().await;
    let (key, signed_in) = h.register("waiting@example.com").await;
    let (status, updated) = h
        .update(
            &bearer(&format!("{PROJECT}:{}", refresh_of(&signed_in))),
            "waiting@example.com",
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    let new_key = updated["key"].as_str().unwrap().to_owned();
    h.advance(30);
    // A code that neither key accepts now.
    let now = h.now();
    let valid: Vec<String> = [&key, &new_key]
        .iter()
        .flat_map(|k| [now - 30, now, now + 30].map(|t| code(k, t)))
        .collect();
    let wrong = (0..)
        .map(|i: u32| format!("{:06}", (i * 7919) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap();
    for n in 1..=5 {
        let (status, body) = h.verify("waiting@example.com", &wrong).await;
        assert_eq!((status, error_code(&body)), (401, "E061102"), "wrong code {n}");
    }
    let (status, body) = h.verify("waiting@example.com", &code(&new_key, h.now())).await;
    assert_eq!((status, error_code(&body)), (429, "E061103"), "{body}");
    let stored = h.user_items().await;
    assert_eq!(stored[0]["attempts"].as_n().unwrap(), "5");
}

// ---- AWS endpoints are trusted through Amazon's roots only ----------------

/// A TLS server on loopback whose certificate (for 127.0.0.1) a fresh test
/// authority signed: (its https URL, the authority's PEM file, the server).
fn tls_server_of_a_test_authority(dir: &std::path::Path) -> (String, std::path::PathBuf, std::process::Child) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=totp-lambda test authority",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-cert",
            "server.pem",
            "-key",
            "server.key",
            "-accept",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    (format!("https://127.0.0.1:{port}"), dir.join("ca.pem"), server)
}

/// What a DynamoDB call through the functions' AWS configuration (with
/// `vars` as its environment) to `endpoint` fails with, its whole chain.
async fn dynamodb_failure_through(endpoint: &str, vars: &[(&str, &str)]) -> String {
    let vars: std::collections::HashMap<String, String> =
        vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let get = |name: &str| vars.get(name).cloned();
    let sdk = totp_lambda::app::sdk_config_loader_from(&get)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .endpoint_url(endpoint)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let error = client
        .list_tables()
        .send()
        .await
        .expect_err("the test server is no DynamoDB");
    format!("{:?}", aws_sdk_dynamodb::error::DisplayErrorContext(error))
}

#[tokio::test]
async fn aws_clients_trust_only_amazons_roots_unless_told_to_trust_the_systems() {
    let dir = std::env::temp_dir().join(format!("totp-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (endpoint, authority, mut server) = tls_server_of_a_test_authority(&dir);
    // The system bundle, as the SDK's default reads it, is only the test
    // authority: a client that consults it gets past the handshake.
    std::env::set_var("SSL_CERT_FILE", &authority);

    let by_default = dynamodb_failure_through(&endpoint, &[]).await;
    let asked_for_aws = dynamodb_failure_through(&endpoint, &[("TLS_ROOTS", "aws")]).await;
    let asked_for_system = dynamodb_failure_through(&endpoint, &[("TLS_ROOTS", "system")]).await;
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);

    for refused in [&by_default, &asked_for_aws] {
        assert!(
            refused.contains("UnknownIssuer"),
            "the handshake must fail on the certificate: {refused}"
        );
    }
    // The same server, with the system's roots: the certificate is accepted,
    // and what fails is the answer (s_server is no DynamoDB).
    assert!(!asked_for_system.contains("UnknownIssuer"), "{asked_for_system}");
    assert!(
        !asked_for_system.to_lowercase().contains("certificate"),
        "{asked_for_system}"
    );
}
