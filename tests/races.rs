//! Every guarded transition, raced deterministically: a hook runs the
//! competing write between the request's read and its conditional write,
//! and each test asserts that the competitor ran and that the guard held.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use serde_json::Value;
use totp_lambda::secret_box::SealedSecret;
use totp_lambda::store::dynamo::DynamoStore;
use totp_lambda::store::*;

/// Runs `write` once, before the first `op`, and remembers that it did.
struct Before<F> {
    op: Op,
    write: F,
    ran: AtomicBool,
}

impl<F, Fut> Hook for Before<F>
where
    F: Fn(UserKey, DynamoStore) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<(), StoreError>> + Send,
{
    async fn before(&self, op: Op, key: &UserKey, store: &DynamoStore) -> Result<(), StoreError> {
        if op == self.op && !self.ran.swap(true, Ordering::SeqCst) {
            // The competitor must win: its failure would pass for the guard's.
            if let Err(e) = (self.write)(key.clone(), store.clone()).await {
                panic!("the competing write failed: {e}");
            }
        }
        Ok(())
    }
}

fn before<F, Fut>(op: Op, write: F) -> Before<F>
where
    F: Fn(UserKey, DynamoStore) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<(), StoreError>> + Send,
{
    Before {
        op,
        write,
        ran: AtomicBool::new(false),
    }
}

pub(crate) async fn record(h: &Harness, login: &str) -> UserRecord {
    let store = DynamoStore::new(h.client.clone(), h.table.clone());
    store.get(&user_key(login)).await.unwrap().expect("the item")
}

fn user_key(login: &str) -> UserKey {
    UserKey {
        project: totp_lambda::domain::ProjectId::parse(PROJECT).unwrap(),
        login_id: totp_lambda::domain::LoginId::parse(Some(login)).unwrap(),
    }
}

/// A sealed secret that no code will match: the competitor's key.
fn stranger_secret() -> SealedSecret {
    SealedSecret {
        key_id: "enc-test-1".into(),
        blob: vec![2; 49],
    }
}

#[tokio::test]
async fn a_re_signup_between_read_and_write_makes_the_completion_fail() {
    let h = Harness::new().await;
    let (_, signup) = h.signup("resign@example.com").await;
    let key = signup["key"].as_str().unwrap().to_owned();
    let expires = h.now() + 600;
    let racing = h.hooked(before(
        Op::CompleteSignup,
        move |key: UserKey, store: DynamoStore| async move {
            let again = NewEnrollment {
                key,
                enrollment_id: "E-RESIGNED".into(),
                secret: stranger_secret(),
                profile: Default::default(),
                sso_app_id: None,
                expires_at: expires,
                params: totp_lambda::totp::TotpParams::DEFAULT,
            };
            store.put_pending_signup(&again).await
        },
    ));
    let (status, body) = call_verify(
        &racing,
        verify_request(PROJECT, "resign@example.com", &code(&key, h.now())),
    )
    .await;
    assert!(racing.store.hook.ran.load(Ordering::SeqCst), "the re-signup ran");
    assert_eq!(
        (status, error_code(&body)),
        (401, "E061102"),
        "no user with a key they never saw"
    );
    let stored = record(&h, "resign@example.com").await;
    assert!(matches!(stored.status, Status::Pending { .. }));
    assert_eq!(stored.enrollment_id, "E-RESIGNED");
}

#[tokio::test]
async fn a_second_completion_of_one_sign_up_fails() {
    let h = Harness::new().await;
    let (_, signup) = h.signup("twice@example.com").await;
    let key = signup["key"].as_str().unwrap().to_owned();
    let enrollment = record(&h, "twice@example.com").await.enrollment_id;
    let (step, now) = (h.now() / 30, h.now());
    let racing = h.hooked(before(Op::CompleteSignup, move |key: UserKey, store: DynamoStore| {
        let enrollment = enrollment.clone();
        async move {
            store
                .complete_signup(&key, "A-competitor", &enrollment, step, "U2FIRST", &unlocked(now))
                .await
                .map(|_| ())
        }
    }));
    let (status, _) = call_verify(
        &racing,
        verify_request(PROJECT, "twice@example.com", &code(&key, h.now())),
    )
    .await;
    assert!(racing.store.hook.ran.load(Ordering::SeqCst));
    assert_eq!(status, 401, "registered once");
    match record(&h, "twice@example.com").await.status {
        Status::Registered { user_id, .. } => assert_eq!(user_id, "U2FIRST"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_key_promotion_between_read_and_write_makes_a_sign_in_with_the_old_key_fail() {
    let h = Harness::new().await;
    let (old_key, signed_in) = h.register("promoted@example.com").await;
    let (_, updated) = h
        .update(
            &bearer(&format!("{PROJECT}:{}", refresh_of(&signed_in))),
            "promoted@example.com",
        )
        .await;
    assert!(updated["key"].is_string());
    // Two steps on: the promotion lands at the step between.
    h.advance(60);
    let pending = record(&h, "promoted@example.com")
        .await
        .pending_key
        .expect("a pending key");
    let (step, now) = (h.now() / 30, h.now());
    let racing = h.hooked(before(Op::RecordSignIn, move |key: UserKey, store: DynamoStore| {
        let pending = pending.clone();
        async move {
            let promoted = pending.secret.clone();
            store
                .promote_pending_key(&key, "A-competitor", &pending, &promoted, step - 1, &unlocked(now))
                .await
                .map(|_| ())
        }
    }));
    let (status, body) = call_verify(
        &racing,
        verify_request(PROJECT, "promoted@example.com", &code(&old_key, h.now())),
    )
    .await;
    assert!(racing.store.hook.ran.load(Ordering::SeqCst), "the promotion ran");
    assert_eq!((status, error_code(&body)), (401, "E061102"), "the old key is retired");
}

#[tokio::test]
async fn a_newer_pending_key_between_read_and_write_is_never_replaced_by_the_older_one() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("newer@example.com").await;
    let (_, updated) = h
        .update(
            &bearer(&format!("{PROJECT}:{}", refresh_of(&signed_in))),
            "newer@example.com",
        )
        .await;
    let first_update = updated["key"].as_str().unwrap().to_owned();
    let expires = h.now() + 600;
    let racing = h.hooked(before(
        Op::PromotePendingKey,
        move |key: UserKey, store: DynamoStore| async move {
            let session = current_session(&store, &key).await?;
            let newer = PendingKey {
                enrollment_id: "E-NEWER".into(),
                secret: stranger_secret(),
                expires_at: expires,
                params: totp_lambda::totp::TotpParams::DEFAULT,
                generation: Some(session.generation),
            };
            store.put_pending_key(&key, &session, &newer).await
        },
    ));
    h.advance(30);
    let (status, _) = call_verify(
        &racing,
        verify_request(PROJECT, "newer@example.com", &code(&first_update, h.now())),
    )
    .await;
    assert!(racing.store.hook.ran.load(Ordering::SeqCst));
    assert_eq!(status, 401, "a key the user replaced is not promoted");
    let stored = record(&h, "newer@example.com").await;
    assert_eq!(stored.pending_key.unwrap().enrollment_id, "E-NEWER");
}

#[tokio::test]
async fn a_promotion_at_a_step_already_passed_fails() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register("stepped@example.com").await;
    let (_, updated) = h
        .update(
            &bearer(&format!("{PROJECT}:{}", refresh_of(&signed_in))),
            "stepped@example.com",
        )
        .await;
    let new_key = updated["key"].as_str().unwrap().to_owned();
    h.advance(30);
    let enrollment = record(&h, "stepped@example.com").await.enrollment_id;
    let later_step = h.now() / 30 + 1;
    // A sign-in with the current key at a later step lands first.
    let racing = h.hooked(before(
        Op::PromotePendingKey,
        move |key: UserKey, store: DynamoStore| {
            let enrollment = enrollment.clone();
            async move {
                let sign_in = SignIn {
                    attempt_id: "A-competitor",
                    enrollment_id: &enrollment,
                    step: later_step,
                    end_other_sessions: false,
                    resealed: None,
                };
                store.record_sign_in(&key, &sign_in, &unlocked(0)).await.map(|_| ())
            }
        },
    ));
    let (status, _) = call_verify(
        &racing,
        verify_request(PROJECT, "stepped@example.com", &code(&new_key, h.now())),
    )
    .await;
    assert!(racing.store.hook.ran.load(Ordering::SeqCst));
    assert_eq!(status, 401, "the accepted step never goes backwards");
    assert_eq!(record(&h, "stepped@example.com").await.last_step, Some(later_step));
}

/// Wrong codes read 3 of 5 and a competitor takes the 4th and 5th before
/// `code`'s write (`op`): the request is refused as locked out.
async fn limit_held_against_two_taken_before(op: Op, right_code: bool) {
    let h = Harness::new().await;
    let (key, _) = h.register("counted@example.com").await;
    h.advance(30);
    for _ in 0..3 {
        assert_eq!(h.verify("counted@example.com", &wrong_code(&key, h.now())).await.0, 401);
    }
    let code = if right_code {
        code(&key, h.now())
    } else {
        wrong_code(&key, h.now())
    };
    let last_step = record(&h, "counted@example.com").await.last_step;
    // This request read 3 of 5; a competitor takes the 4th and 5th first.
    let racing = h.hooked(before(op, |key: UserKey, store: DynamoStore| async move {
        let counted = store.get(&key).await?.expect("the item").attempts;
        let start = counted.window_start.expect("a window");
        let long_start = counted.long_window_start.expect("a long window");
        let take = AttemptTake {
            short: WindowStep::Continue { start },
            short_limit: 5,
            long: WindowStep::Continue { start: long_start },
            long_limit: 20,
        };
        store.take_attempt(&key, "A-competitor-1", &take, None, false).await?;
        store.take_attempt(&key, "A-competitor-2", &take, None, false).await
    }));
    let (status, body) = call_verify(&racing, verify_request(PROJECT, "counted@example.com", &code)).await;
    assert!(racing.store.hook.ran.load(Ordering::SeqCst));
    assert_eq!((status, error_code(&body)), (429, "E061103"), "the limit held");
    let stored = record(&h, "counted@example.com").await;
    assert_eq!(stored.attempts.count, 5);
    assert_eq!(stored.last_step, last_step, "nothing signed in");
}

#[tokio::test]
async fn an_attempt_counted_between_read_and_write_is_counted_against_the_limit() {
    // The right code: its success write requires a window that is not full.
    limit_held_against_two_taken_before(Op::RecordSignIn, true).await;
}

#[tokio::test]
async fn a_wrong_code_counted_after_two_others_filled_the_window_is_refused() {
    limit_held_against_two_taken_before(Op::TakeAttempt, false).await;
}

#[tokio::test]
async fn a_window_opened_between_read_and_write_is_joined_not_reset() {
    let h = Harness::new().await;
    let (key, _) = h.register("opened@example.com").await;
    h.advance(30);
    let now = h.now();
    // This request saw no window; a competitor opens one first.
    let racing = h.hooked(before(
        Op::TakeAttempt,
        move |key: UserKey, store: DynamoStore| async move {
            let seen = store.get(&key).await?.expect("the item").attempts;
            let take = AttemptTake {
                short: WindowStep::Open {
                    replacing: seen.window_start,
                    at: now,
                },
                short_limit: 5,
                long: match seen.long_window_start {
                    Some(start) => WindowStep::Continue { start },
                    None => WindowStep::Open {
                        replacing: None,
                        at: now,
                    },
                },
                long_limit: 20,
            };
            store.take_attempt(&key, "A-competitor", &take, None, false).await
        },
    ));
    let (status, _) = call_verify(
        &racing,
        verify_request(PROJECT, "opened@example.com", &wrong_code(&key, h.now())),
    )
    .await;
    assert!(racing.store.hook.ran.load(Ordering::SeqCst));
    assert_eq!(status, 401);
    assert_eq!(
        record(&h, "opened@example.com").await.attempts.count,
        2,
        "both attempts counted"
    );
}

/// Attempt counters written directly between a right code's read and its
/// success write (`op`): the write's own condition decides, as the lockout
/// decision (`plan_attempt`) would over the same counters.
async fn success_against_counters(
    h: &Harness,
    op: Op,
    login: &str,
    code: &str,
    counters: Vec<(&'static str, AttributeValue)>,
) -> (u16, Value) {
    let racing = h.setting_before(op, counters);
    call_verify(&racing, verify_request(PROJECT, login, code)).await
}

pub(crate) fn counters(short: (u64, u64), long: (u64, u64)) -> Vec<(&'static str, AttributeValue)> {
    let n = |v: u64| AttributeValue::N(v.to_string());
    vec![
        ("attempts", n(short.0)),
        ("attemptsWindowStart", n(short.1)),
        ("longAttempts", n(long.0)),
        ("longWindowStart", n(long.1)),
    ]
}

#[tokio::test]
async fn a_sign_in_write_holds_both_windows_to_their_edges() {
    let h = Harness::new().await;
    let (key, _) = h.register("edges@example.com").await;
    // (short count, seconds since its start), (long count, seconds since its start)
    // against 5 per 900 s and 20 per 86,400 s: which ones still let a right code in.
    let cases = [
        ((4, 899), (19, 86_399), 200),
        ((5, 899), (0, 10), 429),
        ((5, 900), (0, 10), 200),
        ((0, 10), (20, 86_399), 429),
        ((0, 10), (20, 86_400), 200),
        ((9, 900), (25, 86_400), 200),
    ];
    let policy = totp_lambda::lockout::LockoutPolicy::of(&h.app.config, &user_key("edges@example.com").project);
    for ((short, short_age), (long, long_age), expected) in cases {
        h.advance(30);
        let now = h.now();
        let observed = Attempts {
            count: short as u32,
            window_start: Some(now - short_age),
            long_count: long as i64,
            long_window_start: Some(now - long_age),
        };
        let locked = matches!(
            totp_lambda::lockout::plan_attempt(observed, policy, now),
            totp_lambda::lockout::AttemptPlan::Locked { .. }
        );
        assert_eq!(locked, expected == 429, "the lockout decision agrees with the case");
        let before = record(&h, "edges@example.com").await.last_step;
        let (status, body) = success_against_counters(
            &h,
            Op::RecordSignIn,
            "edges@example.com",
            &code(&key, now),
            counters((short, now - short_age), (long, now - long_age)),
        )
        .await;
        let case = format!("short {short} at -{short_age} s, long {long} at -{long_age} s");
        assert_eq!(status, expected, "{case}: {body}");
        let after = record(&h, "edges@example.com").await;
        if expected == 429 {
            assert_eq!(error_code(&body), "E061103", "{case}");
            assert_eq!(after.last_step, before, "{case}: nothing recorded");
        } else {
            assert_eq!(after.attempts.count, 0, "{case}: a success resets the short window");
        }
        // A success takes nothing from, and gives nothing back to, the long window.
        assert_eq!(after.attempts.long_count, long as i64, "{case}");
        clear_counters(&h, "edges@example.com").await;
    }
}

/// Both lockout windows of `login` emptied, for the next case of a test.
pub(crate) async fn clear_counters(h: &Harness, login: &str) {
    set_attributes(
        h,
        login,
        &[],
        &["attempts", "attemptsWindowStart", "longAttempts", "longWindowStart"],
    )
    .await;
}

#[tokio::test]
async fn a_completion_and_a_promotion_are_refused_when_a_window_filled_meanwhile() {
    let h = Harness::new().await;
    // A sign-up's first code.
    let (_, signup) = h.signup("pending-full@example.com").await;
    let key = signup["key"].as_str().unwrap().to_owned();
    let now = h.now();
    let (status, body) = success_against_counters(
        &h,
        Op::CompleteSignup,
        "pending-full@example.com",
        &code(&key, now),
        counters((5, now - 10), (5, now - 10)),
    )
    .await;
    assert_eq!((status, error_code(&body)), (429, "E061103"), "{body}");
    assert!(matches!(
        record(&h, "pending-full@example.com").await.status,
        Status::Pending { .. }
    ));

    // A new key's first code.
    let (_, signed_in) = h.register("promote-full@example.com").await;
    let (_, updated) = h
        .update(
            &bearer(&format!("{PROJECT}:{}", refresh_of(&signed_in))),
            "promote-full@example.com",
        )
        .await;
    let new_key = updated["key"].as_str().unwrap().to_owned();
    h.advance(30);
    let now = h.now();
    let (status, body) = success_against_counters(
        &h,
        Op::PromotePendingKey,
        "promote-full@example.com",
        &code(&new_key, now),
        counters((0, now - 10), (20, now - 10)),
    )
    .await;
    assert_eq!((status, error_code(&body)), (429, "E061103"), "{body}");
    let stored = record(&h, "promote-full@example.com").await;
    assert!(stored.pending_key.is_some(), "the new key still waits");
}
