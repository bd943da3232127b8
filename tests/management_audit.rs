//! The audit line of every management call, read from the logs. Alone in
//! its test binary: a log capture set for one test thread is unreliable
//! while other tests hit the same log call sites on other threads.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "current_thread")]
async fn every_management_call_is_audited_without_naming_anyone() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber =
        totp_lambda::telemetry::subscriber(move || writer.clone(), totp_lambda::telemetry::filter("trace"));
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

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
