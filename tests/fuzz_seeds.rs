//! The cargo-fuzz targets (fuzz/) run over their seeds (fuzz/seeds/<target>/)
//! as ordinary tests, so `make test` checks the targets' logic and every
//! input that once found a bug. A seed whose name starts with `crash-` is a
//! fuzzer finding kept as a regression test.

#[path = "../fuzz/src/lib.rs"]
mod targets;

/// Runs `run` over every seed of `target`; returns each seed's name and answer.
fn run_seeds<T>(target: &str, run: fn(&[u8]) -> T) -> std::collections::HashMap<String, T> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    assert!(entries.len() >= 5, "{target}: too few seeds in {}", dir.display());
    let mut answers = std::collections::HashMap::new();
    for path in entries {
        let data = std::fs::read(&path).expect("a seed file");
        eprintln!("{target}: {}", path.display());
        let name = path.file_name().expect("a name").to_string_lossy().into_owned();
        answers.insert(name, run(&data));
    }
    answers
}

#[test]
fn http_request_seeds() {
    let status = run_seeds("http_request", targets::http_request);
    // Storage is down in the targets: a request that passed every check gets 503.
    for (seed, expected) in [
        ("signup", 503),
        ("signup-nfd", 503),
        ("signup-duplicate-key", 400),
        ("signup-zero-width", 400),
        ("signup-no-auth", 401),
        ("signup-deep", 400),
        ("verify", 503),
        ("verify-claims-deep", 400),
        ("verify-full-width", 400),
        ("verify-stepup", 401),
        ("mgmt-totp-delete", 503),
        ("mgmt-delete-wrong-key", 401),
        ("mgmt-load", 503),
        ("mgmt-load-bidi", 400),
        ("mgmt-load-user-id", 503),
        ("mgmt-create", 503),
        ("mgmt-create-bad-seed", 400),
        // Each user fails on its own (storage down, a short seed, `invited`, not an object).
        ("mgmt-create-batch", 200),
        ("mgmt-delete-batch", 503),
        ("mgmt-update-status", 503),
        ("mgmt-update-status-invited", 400),
        ("mgmt-search", 503),
        ("mgmt-search-limit", 400),
        ("audit-search", 503),
        ("audit-search-bad-from", 400),
        // No session is no error.
        ("try-refresh", 200),
        ("try-refresh-no-session", 200),
        ("keys", 200),
        ("keys-other-project", 405),
        ("propfind", 405),
        ("unknown-route", 404),
    ] {
        assert_eq!(status[seed], Some(expected), "seed {seed}");
    }
}

#[test]
fn bearer_seeds() {
    run_seeds("bearer", targets::bearer);
}

#[test]
fn otpauth_qr_seeds() {
    run_seeds("otpauth_qr", targets::otpauth_qr);
}

#[test]
fn jwt_verify_seeds() {
    let accepted = run_seeds("jwt_verify", targets::jwt_verify);
    assert!(accepted["signed-valid"], "a good token passes");
    for (seed, passed) in &accepted {
        if seed != "signed-valid" {
            assert!(!passed, "seed {seed} must be refused");
        }
    }
}
