//! CPU cost of the work each request does besides DynamoDB round trips:
//! `cargo bench --bench compute` (release build) prints each operation's
//! median and p99; `-- --json PATH` (or `BENCH_JSON=PATH`) also writes the
//! rows as JSON (`[{"name", "median_ns", "p99_ns", "runs"}]`), which
//! `make bench` folds into its table. Under `cargo test` it runs each
//! measurement once, as a smoke test, and asserts nothing about time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use totp_lambda::domain::{LoginId, ProjectId};
use totp_lambda::otpauth::{provision, TotpSecret};
use totp_lambda::secret_box::{generate_keys_document, Binding, Field, SecretBox};
use totp_lambda::tokens::{Claims, TokenKeys};
use totp_lambda::totp::{code_at, matching_step, Algorithm, TimeStep, TotpParams};

struct Row {
    name: String,
    median: Duration,
    p99: Duration,
    runs: usize,
}

#[derive(Default)]
struct Rows(Vec<Row>);

impl Rows {
    fn measure(&mut self, name: &str, iterations: usize, mut f: impl FnMut()) {
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
        self.0.push(Row {
            name: name.to_owned(),
            median,
            p99,
            runs: iterations,
        });
    }

    fn to_json(&self) -> String {
        let rows: Vec<serde_json::Value> = self
            .0
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "median_ns": r.median.as_nanos() as u64,
                    "p99_ns": r.p99.as_nanos() as u64,
                    "runs": r.runs,
                })
            })
            .collect();
        serde_json::Value::Array(rows).to_string()
    }
}

/// A private key PEM from openssl (`genpkey` arguments), as scripts/gen-keys.sh makes them.
fn private_key_pem(args: &[&str]) -> String {
    let output = std::process::Command::new("openssl")
        .arg("genpkey")
        .args(args)
        .output()
        .expect("the compute bench runs openssl genpkey to make its signing keys: is openssl installed?");
    assert!(
        output.status.success(),
        "openssl genpkey {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("openssl printed a PEM")
}

/// A signing key ring of one key, as the functions load it (the algorithm follows the key).
fn token_keys(kid: &str, pem: String) -> TokenKeys {
    let doc = serde_json::json!({"keys": [{"kid": kid, "privateKeyPem": pem}]});
    TokenKeys::from_json(&doc.to_string()).expect("a signing key ring of one fresh key")
}

/// Where to write the rows as JSON: `--json PATH` after `--`, else `BENCH_JSON`.
fn json_path() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--json")
        .map(|i| args.get(i + 1).cloned().expect("--json needs a file path"))
        .or_else(|| std::env::var("BENCH_JSON").ok().filter(|p| !p.is_empty()))
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let n = |full: usize| if benching { full } else { 1 };
    let mut rows = Rows::default();

    let project = ProjectId::parse("P2BenchProject").unwrap();
    let login = LoginId::parse(Some("alice@example.com")).unwrap();
    let secret_box = SecretBox::from_json(&generate_keys_document("bench").unwrap()).unwrap();
    let rsa = token_keys(
        "bench-rs256",
        private_key_pem(&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
    );
    let ec = token_keys(
        "bench-es256",
        private_key_pem(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    );
    assert_eq!(rsa.signing_algorithm(), jsonwebtoken::Algorithm::RS256);
    assert_eq!(ec.signing_algorithm(), jsonwebtoken::Algorithm::ES256);

    rows.measure("signup: secret + URL + QR PNG + base64", n(500), || {
        let secret = TotpSecret::generate().unwrap();
        black_box(provision("Acme", login.as_str(), &secret, TotpParams::DEFAULT).unwrap());
    });
    let secret = TotpSecret::generate().unwrap();
    let binding = Binding {
        project: &project,
        login_id: &login,
        field: Field::Secret,
        enrollment_id: "EBENCH",
    };
    rows.measure("signup: seal secret (AES-256-GCM)", n(20_000), || {
        black_box(secret_box.seal(&binding, &secret).unwrap());
    });
    let sealed = secret_box.seal(&binding, &secret).unwrap();
    let now = 1_800_000_000;
    let code = code_at(Algorithm::Sha1, secret.as_bytes(), TimeStep::at(now), 6).unwrap();
    rows.measure("verify: open secret + check code (3 steps)", n(20_000), || {
        let opened = secret_box.open(&binding, &sealed).unwrap();
        black_box(matching_step(TotpParams::DEFAULT, opened.secret.as_bytes(), &code, now));
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
        scope: (drn == "DS").then(|| "session".into()),
    };
    // Signing keys of both kinds the functions accept; RSA signing is slow, so fewer runs.
    let rings = [(&rsa, "RS256", 200), (&ec, "ES256", 2_000)];
    for (tokens, alg, runs) in rings {
        rows.measure(&format!("verify: sign session + refresh JWT ({alg})"), n(runs), || {
            black_box(tokens.sign(&claims("DS")).unwrap());
            black_box(tokens.sign(&claims("DSR")).unwrap());
        });
    }
    for (tokens, alg, _) in rings {
        let refresh = tokens.sign(&claims("DSR")).unwrap();
        rows.measure(&format!("update: verify refresh JWT ({alg})"), n(2_000), || {
            black_box(tokens.verify_refresh(&refresh, &project, now).unwrap());
        });
    }

    if let Some(path) = json_path() {
        if let Some(dir) = std::path::Path::new(&path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        std::fs::write(&path, rows.to_json() + "\n").unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        println!("rows written to {path}");
    }
}
