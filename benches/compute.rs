//! CPU cost of the work each request does besides DynamoDB round trips:
//! `cargo bench --bench compute` (release build). Under `cargo test` it runs
//! each measurement once, as a smoke test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use totp_lambda::domain::{LoginId, ProjectId};
use totp_lambda::otpauth::{provision, TotpSecret};
use totp_lambda::secret_box::{generate_keys_document, Binding, Field, SecretBox};
use totp_lambda::tokens::{Claims, TokenKeys};
use totp_lambda::totp::{code_at, matching_step, Algorithm, TimeStep};

fn measure(name: &str, iterations: usize, mut f: impl FnMut()) {
    let mut samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort();
    let median = samples[samples.len() / 2];
    let p99 = samples[(samples.len() * 99 / 100).min(samples.len() - 1)];
    println!("{name:<44} median {median:>10.1?}  p99 {p99:>10.1?}  ({iterations} runs)");
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let n = |full: usize| if benching { full } else { 1 };

    let project = ProjectId::parse("P2BenchProject").unwrap();
    let login = LoginId::parse(Some("alice@example.com")).unwrap();
    let secret_box = SecretBox::from_json(&generate_keys_document("bench").unwrap()).unwrap();
    let pem = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        .output()
        .expect("openssl");
    let doc = serde_json::json!({"keys": [{"kid": "bench", "privateKeyPem": String::from_utf8(pem.stdout).unwrap()}]});
    let tokens = TokenKeys::from_json(&doc.to_string()).unwrap();

    measure("signup: secret + URL + QR PNG + base64", n(500), || {
        let secret = TotpSecret::generate().unwrap();
        black_box(provision("Acme", login.as_str(), &secret).unwrap());
    });
    let secret = TotpSecret::generate().unwrap();
    let binding = Binding {
        project: &project,
        login_id: &login,
        field: Field::Secret,
        enrollment_id: "EBENCH",
    };
    measure("signup: seal secret (AES-256-GCM)", n(20_000), || {
        black_box(secret_box.seal(&binding, &secret).unwrap());
    });
    let sealed = secret_box.seal(&binding, &secret).unwrap();
    let now = 1_800_000_000;
    let code = code_at(Algorithm::Sha1, secret.as_bytes(), TimeStep::at(now), 6).unwrap();
    measure("verify: open secret + check code (3 steps)", n(20_000), || {
        let opened = secret_box.open(&binding, &sealed).unwrap();
        black_box(matching_step(opened.secret.as_bytes(), &code, now));
    });
    let claims = |drn: &str| Claims {
        iss: project.as_str().into(),
        sub: "U2BENCH".into(),
        iat: now,
        exp: now + 600,
        amr: vec!["totp".into()],
        drn: drn.into(),
        aud: project.as_str().into(),
        nsec: None,
        su: None,
        jti: (drn == "DSR").then(|| "JBENCH".into()),
        login_id: (drn == "DSR").then(|| login.as_str().into()),
        gen: (drn == "DSR").then_some(0),
    };
    measure("verify: sign session + refresh JWT (RS256)", n(200), || {
        black_box(tokens.sign(&claims("DS")).unwrap());
        black_box(tokens.sign(&claims("DSR")).unwrap());
    });
    let refresh = tokens.sign(&claims("DSR")).unwrap();
    measure("update: verify refresh JWT (RS256)", n(2_000), || {
        black_box(tokens.verify_refresh(&refresh, &project, now).unwrap());
    });
}
