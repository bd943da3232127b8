//! What the functions log, read back: one line per request and one audit
//! line per management call, and never a key, a code, a token or a loginId
//! in clear. Alone in their test binary: a log capture set for one test
//! thread is unreliable while other tests hit the same log call sites on
//! threads without one.

mod common;

use common::*;
use serde_json::Value;

/// Everything logged on this thread from now on, at every level, as the
/// functions format it; until the guard drops.
fn capture_logs() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber =
        totp_lambda::telemetry::subscriber(move || writer.clone(), totp_lambda::telemetry::filter("trace"));
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    (capture, guard)
}

#[tokio::test(flavor = "current_thread")]
async fn logs_of_a_full_flow_hold_no_secrets() {
    let (capture, _guard) = capture_logs();

    let h = Harness::new().await;
    let mut secrets: Vec<String> = Vec::new();
    let (_, signup) = h.signup("logged@example.com").await;
    let key = signup["key"].as_str().unwrap().to_owned();
    let first = code(&key, h.now());
    let (_, verified) = h.verify("logged@example.com", &first).await;
    let refresh = verified["refreshJwt"].as_str().unwrap().to_owned();
    let authorization = bearer(&format!("{PROJECT}:{refresh}"));
    let (_, updated) = h.update(&authorization, "logged@example.com").await;
    let new_key = updated["key"].as_str().unwrap().to_owned();
    h.advance(30);
    let second = code(&new_key, h.now());
    let (status, promoted) = h.verify("logged@example.com", &second).await;
    assert_eq!(status, 200);
    let wrong = wrong_code(&new_key, h.now() + 30);
    h.advance(30);
    h.verify("logged@example.com", &wrong).await;
    let codes = [first, second, wrong];
    secrets.extend([key, new_key, refresh, authorization]);
    secrets.push(verified["sessionJwt"].as_str().unwrap().to_owned());
    secrets.push(promoted["sessionJwt"].as_str().unwrap().to_owned());
    secrets.push(signup["provisioningURL"].as_str().unwrap().to_owned());

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    let requests: Vec<&serde_json::Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(requests.len(), 5, "one line per request:\n{logs}");
    assert_eq!(requests[0]["route"], "signup");
    assert_eq!(requests[2]["route"], "update");
    assert_eq!(requests[4]["status"], 401);
    assert_eq!(requests[4]["error_code"], "E061102");
    assert!(requests.iter().all(|r| r["latency_ms"].is_number()));
    // The rollback alarms' metric filters read these two (Lambda sets both).
    assert!(requests
        .iter()
        .all(|r| r["function"].is_string() && r["version"].is_string()));
    for secret in &secrets {
        if let Some(line) = logs.lines().find(|l| l.contains(secret.as_str())) {
            panic!("a secret reached the logs: {}", &line[..line.len().min(400)]);
        }
    }
    // Six-digit codes can occur by chance inside a timestamp: look for them
    // as whole numbers in every other field.
    for line in &lines {
        for (field, value) in line.as_object().unwrap() {
            if field == "timestamp" {
                continue;
            }
            let text = value.to_string();
            for c in &codes {
                let whole = text.match_indices(c.as_str()).any(|(i, _)| {
                    let before = text[..i].chars().last().is_none_or(|ch| !ch.is_ascii_digit());
                    let after = text[i + c.len()..].chars().next().is_none_or(|ch| !ch.is_ascii_digit());
                    before && after
                });
                assert!(!whole, "a code reached the logs in {field}: {text}");
            }
        }
    }
    // JWT fragments and the header name never appear either.
    assert!(!logs.contains("eyJ"), "no JWT in logs");
    assert!(
        !logs.to_lowercase().contains("bearer"),
        "no Authorization header in logs"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn every_management_call_is_audited_without_naming_anyone() {
    let (capture, _guard) = capture_logs();

    let h = Harness::new().await;
    let (key, signed_in) = h.register("audited@example.com").await;
    mgmt(&h.app, "load", "audited@example.com").await;
    mgmt(&h.app, "logout", "audited@example.com").await;
    mgmt(&h.app, "remove_totp", "audited@example.com").await;
    mgmt(&h.app, "delete", "audited@example.com").await;
    mgmt_as(
        &h.app,
        Some(&bearer(&format!("{PROJECT}:{MGMT_KEY_B}"))),
        "delete",
        "audited@example.com",
    )
    .await;

    let logs = capture.text();
    let audit: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON lines"))
        .filter(|l| l["message"] == "management call")
        .collect();
    assert_eq!(audit.len(), 5, "one audit line per call:\n{logs}");
    let routes: Vec<&str> = audit.iter().map(|l| l["route"].as_str().unwrap()).collect();
    assert_eq!(
        routes,
        [
            "mgmt-load",
            "mgmt-logout",
            "mgmt-remove-totp",
            "mgmt-delete",
            "mgmt-delete"
        ]
    );
    for line in &audit[..4] {
        assert_eq!(line["project"], PROJECT);
        assert_eq!(line["key_id"], "support-alpha");
        assert_eq!(line["status"], 200);
        assert_eq!(
            line["subject"].as_str().unwrap().len(),
            32,
            "a keyed hash names the user"
        );
    }
    assert_eq!(
        audit[0]["subject"], audit[3]["subject"],
        "the same user, the same pseudonym"
    );
    assert_eq!(
        (audit[4]["status"].as_u64(), audit[4]["key_id"].as_str()),
        (Some(401), Some(""))
    );
    let secrets = [
        MGMT_KEY_A.to_owned(),
        MGMT_KEY_B.to_owned(),
        "audited@example.com".to_owned(),
        "audited%40example.com".to_owned(),
        key.clone(),
        refresh_of(&signed_in),
        signed_in["sessionJwt"].as_str().unwrap().to_owned(),
        code(&key, T0),
    ];
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "{secret} reached the logs");
    }
}

/// Stalls every storage call: a request that takes at least that long.
struct SlowStorage;

impl hooked::Hook for SlowStorage {
    async fn before(
        &self,
        _: hooked::Op,
        _: &totp_lambda::store::UserKey,
        _: &totp_lambda::store::dynamo::DynamoStore,
    ) -> Result<(), totp_lambda::store::StoreError> {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_request_line_gives_the_latency_in_milliseconds() {
    let (capture, _guard) = capture_logs();
    let h = Harness::new().await;
    let app = h.hooked(SlowStorage);
    let started = std::time::Instant::now();
    let signup = request(
        lambda_http::http::Method::POST,
        "/v1/auth/totp/signup",
        Some(&bearer(PROJECT)),
        r#"{"loginId":"slow@example.com"}"#,
    );
    let (status, _) = call_signup(&app, signup).await;
    let outside_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(status, 200);
    let line = capture
        .text()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON lines"))
        .find(|l| l["message"] == "request")
        .expect("a request line");
    let latency = line["latency_ms"].as_f64().unwrap();
    // Timed inside the call: at least the stall, at most the whole call.
    assert!(
        (200.0..=outside_ms).contains(&latency),
        "{latency} ms logged, {outside_ms} ms outside"
    );
}
