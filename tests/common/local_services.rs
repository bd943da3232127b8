//! The local services the integration tests talk to: those `make test`
//! started (their endpoints in the environment), or else ones this test
//! binary starts itself from what `make setup` installed, so a plain
//! `cargo test` works. A service started here stops when the test binary
//! exits: a watcher shell ends it once the binary's process is gone.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Starts `command` (a shell command line, run in `dir`) on loopback `port`,
/// tied to this process's life, and waits until the port accepts.
fn start(name: &str, dir: &Path, command: &str, port: u16) -> String {
    let watcher = format!(
        "{command} >/dev/null 2>&1 & child=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $child 2>/dev/null",
        parent = std::process::id()
    );
    let child = Command::new("sh")
        .arg("-c")
        .arg(watcher)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    // Kept for the life of the test binary; the watcher ends the service after it.
    static WATCHERS: Mutex<Vec<Child>> = Mutex::new(Vec::new());
    WATCHERS.lock().unwrap_or_else(|e| e.into_inner()).push(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{name} did not start on port {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
    format!("http://127.0.0.1:{port}")
}

/// DynamoDB Local: `AWS_ENDPOINT_URL_DYNAMODB`, or Amazon's jar from `.tools/`.
pub fn dynamodb_endpoint() -> String {
    static STARTED: OnceLock<String> = OnceLock::new();
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        return endpoint;
    }
    STARTED
        .get_or_init(|| {
            let dir = root().join(".tools/dynamodb-local");
            assert!(
                dir.join("DynamoDBLocal.jar").exists(),
                "no DynamoDB Local: run `make setup` once (or set AWS_ENDPOINT_URL_DYNAMODB)"
            );
            let port = free_port();
            let command = format!(
                "exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -port {port}"
            );
            start("DynamoDB Local", &dir, &command, port)
        })
        .clone()
}

/// moto's server (a local Secrets Manager): `MOTO_ENDPOINT`, or the one in `.venv`.
pub fn moto_endpoint() -> String {
    static STARTED: OnceLock<String> = OnceLock::new();
    if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
        return endpoint;
    }
    STARTED
        .get_or_init(|| {
            let server = root().join(".venv/bin/moto_server");
            assert!(server.exists(), "no moto: run `make setup` once (or set MOTO_ENDPOINT)");
            let port = free_port();
            let command = format!("exec {} -H 127.0.0.1 -p {port}", server.display());
            start("moto", &root(), &command, port)
        })
        .clone()
}
