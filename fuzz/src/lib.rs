//! The fuzz targets' logic, shared by the cargo-fuzz binaries
//! (`fuzz_targets/`) and by `tests/fuzz_seeds.rs`, which runs it over the
//! seeds in `fuzz/seeds/` as ordinary tests in `make test`.
//!
//! Each target takes raw bytes and must neither panic nor hang nor grow
//! memory without bound; each also checks what must hold of any answer.

use std::sync::OnceLock;

use lambda_http::http::{HeaderValue, Method};
use lambda_http::{Body, Request};
use serde_json::Value;
use totp_lambda::config::Config;
use totp_lambda::domain::ProjectId;
use totp_lambda::management_keys::ManagementKeys;
use totp_lambda::otpauth::{provision, TotpSecret};
use totp_lambda::service::{App, Clock};
use totp_lambda::store::*;
use totp_lambda::tokens::ProjectKeys;

pub const PROJECT: &str = "P2FuzzProject";
const NOW: u64 = 1_800_000_000;

/// A store that is always down: the targets fuzz everything a request goes
/// through before storage (routing, bearer, body, validation, tokens) and
/// the error answers; storage itself is tested against DynamoDB Local.
pub struct Down;

fn down<T>() -> Result<T, StoreError> {
    Err(StoreError::Unavailable("fuzzing: no storage".into()))
}

impl Store for Down {
    async fn get(&self, _: &UserKey) -> Result<Option<UserRecord>, StoreError> {
        down()
    }
    async fn put_pending_signup(&self, _: &NewEnrollment) -> Result<(), StoreError> {
        down()
    }
    async fn take_attempt(
        &self,
        _: &UserKey,
        _: &str,
        _: &AttemptTake,
        _: Option<&str>,
        _: bool,
    ) -> Result<(), StoreError> {
        down()
    }
    async fn complete_signup(
        &self,
        _: &UserKey,
        _: &str,
        _: &str,
        _: u64,
        _: &str,
        _: &OpenWindows,
    ) -> Result<u64, StoreError> {
        down()
    }
    async fn record_sign_in(&self, _: &UserKey, _: &SignIn<'_>, _: &OpenWindows) -> Result<u64, StoreError> {
        down()
    }
    async fn promote_pending_key(
        &self,
        _: &UserKey,
        _: &str,
        _: &PendingKey,
        _: &totp_lambda::secret_box::SealedSecret,
        _: u64,
        _: &OpenWindows,
    ) -> Result<u64, StoreError> {
        down()
    }
    async fn get_session(&self, _: &UserKey, _: &str) -> Result<SessionState, StoreError> {
        down()
    }
    async fn revoke_session(&self, _: &UserKey, _: &SessionRef, _: u64) -> Result<(), StoreError> {
        down()
    }
    async fn revoke_all_sessions(&self, _: &UserKey, _: &SessionRef) -> Result<(), StoreError> {
        down()
    }
    async fn remove_key(&self, _: &UserKey, _: &str) -> Result<UserRecord, StoreError> {
        down()
    }
    async fn end_all_sessions(&self, _: &UserKey) -> Result<(), StoreError> {
        down()
    }
    async fn delete_user(&self, _: &UserKey) -> Result<(), StoreError> {
        down()
    }
    async fn put_recovery_codes(
        &self,
        _: &UserKey,
        _: &SessionRef,
        _: &SignIn<'_>,
        _: &RecoveryCodeSet,
        _: &OpenWindows,
    ) -> Result<(), StoreError> {
        down()
    }
    async fn spend_recovery_code(
        &self,
        _: &UserKey,
        _: &RecoveryRedemption<'_>,
        _: &OpenWindows,
    ) -> Result<u64, StoreError> {
        down()
    }
    async fn remove_recovery_codes(&self, _: &UserKey) -> Result<(), StoreError> {
        down()
    }
    async fn put_pending_key(&self, _: &UserKey, _: &SessionRef, _: &PendingKey) -> Result<(), StoreError> {
        down()
    }
    async fn put_sign_in_link(&self, _: &ProjectId, _: &SignInLink) -> Result<(), StoreError> {
        down()
    }
    async fn get_sign_in_link(&self, _: &ProjectId, _: &str) -> Result<Option<SignInLink>, StoreError> {
        down()
    }
    async fn redeem_sign_in_link(&self, _: &UserKey, _: &SignInLink, _: u64, _: u64) -> Result<(), StoreError> {
        down()
    }
    async fn put_audit_record(&self, _: &AuditRecord) -> Result<(), StoreError> {
        down()
    }
    async fn search_audit(&self, _: &ProjectId, _: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        down()
    }
    async fn create_user(&self, _: &NewUser) -> Result<(), StoreError> {
        down()
    }
    async fn set_disabled(&self, _: &UserKey, _: bool) -> Result<UserRecord, StoreError> {
        down()
    }
    async fn login_id_of(&self, _: &ProjectId, _: &str) -> Result<Option<String>, StoreError> {
        down()
    }
    async fn search_users(&self, _: &ProjectId, _: &UserQuery) -> Result<Vec<(String, UserRecord)>, StoreError> {
        down()
    }
}

/// An ES256 key pair made by openssl, once per process.
fn ec_private_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        let out = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
            .output()
            .expect("openssl must be installed");
        assert!(out.status.success(), "openssl genpkey failed");
        String::from_utf8(out.stdout).expect("PEM is text")
    })
}

fn signing_document() -> String {
    serde_json::json!({"projects": {PROJECT: {"keys": [{"kid": "fuzz-key", "privateKeyPem": ec_private_pem()}]}}})
        .to_string()
}

struct World {
    app: App<Down>,
    management: ManagementKeys,
    /// The project's private key, for `jwt_verify` to sign fuzzed claims.
    signing: jsonwebtoken::EncodingKey,
    runtime: tokio::runtime::Runtime,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let config = Config::from_lookup(|name| match name {
            "TABLE_NAME" => Some("fuzz".into()),
            "PROJECT_ID" => Some(PROJECT.into()),
            "TOTP_ISSUER" => Some("Fuzz Inc".into()),
            "ALLOWED_ORIGINS" => Some("https://app.example.com".into()),
            _ => None,
        })
        .expect("fuzz config");
        let encryption = totp_lambda::secret_box::generate_keys_document("fuzz-enc").expect("random key");
        let management = serde_json::json!({
            "auditKey": "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=",
            "projects": {PROJECT: {"keys": [{"id": "fuzz", "sha256": MANAGEMENT_KEY_SHA256}]}},
        });
        World {
            app: App {
                config,
                store: Down,
                secret_box: Some(totp_lambda::secret_box::SecretBox::from_json(&encryption).expect("keys")),
                tokens: Some(ProjectKeys::from_json(&signing_document()).expect("signing keys")),
                clock: Clock::manual(std::sync::Arc::new(NOW.into())),
            },
            management: ManagementKeys::from_json(&management.to_string()).expect("management keys"),
            signing: jsonwebtoken::EncodingKey::from_ec_pem(ec_private_pem().as_bytes()).expect("key"),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime"),
        }
    })
}

/// SHA-256 (hex) of the management key the seeds use,
/// `fuzz-management-key-0123456789abcdef`.
const MANAGEMENT_KEY_SHA256: &str = "153c36678b25c9b9317a114ce39f47e48a27ed091b13c7982475b7f5f319c912";

// Append only: a seed's first byte names its path by index.
const PATHS: [&str; 25] = [
    "/v1/auth/totp/signup",
    "/v1/auth/totp/verify",
    "/v1/auth/totp/update",
    "/v1/auth/refresh",
    "/v1/auth/logout",
    "/v1/auth/logoutall",
    "/v1/auth/me",
    "/v1/mgmt/user/totp/delete",
    "/v1/mgmt/user/delete",
    "/v1/mgmt/user/logout",
    "/v1/mgmt/user",
    "/v2/keys/P2FuzzProject",
    "/stage/v1/auth/unknown",
    "/v1/auth/magiclink/verify",
    "/v1/mgmt/user/signin/embeddedlink",
    "/v1/auth/totp/recovery",
    "/v1/auth/totp/recovery-codes",
    "/v1/mgmt/user/recovery-codes/delete",
    "/v1/mgmt/user/create",
    "/v1/mgmt/user/create/batch",
    "/v1/mgmt/user/delete/batch",
    "/v1/mgmt/user/update/status",
    "/v2/mgmt/user/search",
    "/v1/auth/try-refresh",
    "/v1/mgmt/audit/search",
];
const METHODS: [&str; 5] = ["POST", "GET", "OPTIONS", "PUT", "PROPFIND"];

/// Input layout: byte 0 picks the path, byte 1 the method and whether an
/// Origin header is sent; then the Authorization value up to the first
/// newline, the `?loginId=` value up to the next (`userId=<id>` there asks
/// for `?userId=` instead), and the body.
/// Returns the status answered.
pub fn http_request(data: &[u8]) -> Option<u16> {
    let [path_byte, method_byte, rest @ ..] = data else {
        return None;
    };
    let route = usize::from(*path_byte) % PATHS.len();
    let path = PATHS[route];
    let method = METHODS[usize::from(*method_byte) % METHODS.len()];
    let mut parts = rest.splitn(3, |b| *b == b'\n');
    let authorization = parts.next().unwrap_or_default();
    let query = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    let mut builder = lambda_http::http::Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("a method"))
        .uri(format!("https://api.example.com{path}"));
    if let Ok(value) = HeaderValue::from_bytes(authorization) {
        builder = builder.header("authorization", value);
    }
    if method_byte & 0x80 != 0 {
        builder = builder.header("origin", "https://app.example.com");
    }
    let body = match std::str::from_utf8(body) {
        Ok("") => Body::Empty,
        Ok(text) => Body::Text(text.to_owned()),
        Err(_) => Body::Binary(body.to_vec()),
    };
    let request: Request = builder.body(body).expect("a request");
    let request = {
        use lambda_http::RequestExt as _;
        let (name, value) = match query.strip_prefix(b"userId=") {
            Some(user_id) => ("userId", user_id),
            None => ("loginId", query),
        };
        let value = String::from_utf8_lossy(value).into_owned();
        request.with_query_string_parameters(
            [(name.to_owned(), value)]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        )
    };

    let w = world();
    let response = w.runtime.block_on(async {
        let app = &w.app;
        match route {
            0 => totp_lambda::http::signup(app, request).await,
            1 => totp_lambda::http::verify(app, request).await,
            2 => totp_lambda::http::update(app, request).await,
            3..=6 => totp_lambda::http::sessions(app, request).await,
            7..=10 => totp_lambda::http::management(app, &w.management, request).await,
            11 => totp_lambda::http::keys(&app.config, app.tokens.as_ref().expect("keys"), request).await,
            14 | 17..=22 | 24 => totp_lambda::http::management(app, &w.management, request).await,
            15 => totp_lambda::http::verify(app, request).await,
            16 => totp_lambda::http::update(app, request).await,
            _ => totp_lambda::http::sessions(app, request).await,
        }
    });
    let response = response.expect("every request gets an answer");
    let status = response.status().as_u16();
    // Storage is down, so nothing but a preflight or the public keys succeeds,
    // and nothing may be an unexplained 500.
    assert_ne!(status, 500, "500 for {method} {path}");
    let body = match response.body() {
        Body::Empty => return Some(status),
        Body::Text(text) => text.as_bytes().to_vec(),
        Body::Binary(bytes) => bytes.clone(),
        _ => panic!("an unexpected body kind"),
    };
    let json: Value = serde_json::from_slice(&body).expect("every body is JSON");
    if status >= 400 {
        let code = json["errorCode"].as_str().expect("an errorCode");
        assert!(code.starts_with('E') && code.len() == 7, "{code}");
        assert_eq!(json.as_object().map(|o| o.len()), Some(3), "Descope's three keys");
    }
    Some(status)
}

/// The Authorization header as `Bearer <projectId>[:<jwt>][:<key>]`, and the
/// management key check after it.
pub fn bearer(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let request: Request = lambda_http::http::Request::builder()
        .header("authorization", value)
        .body(Body::Empty)
        .expect("a request");
    let w = world();
    if let Ok(bearer) = totp_lambda::http::bearer(&request, &w.app.config) {
        assert_eq!(bearer.project.as_str(), PROJECT, "only a served project");
        if let Some(jwt) = &bearer.jwt {
            assert_eq!(jwt.matches('.').count(), 2);
        }
        let presented = String::from_utf8_lossy(data);
        let key = presented.rsplit(':').next().unwrap_or_default();
        let _ = w.management.authenticate(&bearer.project, key);
    }
}

/// Input layout: the issuer, a NUL, the account; a secret from the bytes'
/// length. The URL is printable ASCII and its label decodes back to
/// `issuer:account`; the image is a PNG; a refusal means a label too long
/// for any QR code (the service refuses such loginIds long before).
pub fn otpauth_qr(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (issuer, account) = text.split_once('\0').unwrap_or(("Fuzz Inc", &text));
    let secret = TotpSecret::from_bytes((0..20u8).map(|i| i.wrapping_mul(data.len() as u8)).collect());
    let url = totp_lambda::otpauth::provisioning_url(
        issuer,
        account,
        &secret.base32(),
        totp_lambda::totp::TotpParams::DEFAULT,
    );
    assert!(url.bytes().all(|b| b.is_ascii_graphic()), "{url}");
    let (label, query) = url
        .strip_prefix("otpauth://totp/")
        .and_then(|rest| rest.split_once('?'))
        .expect("otpauth://totp/<label>?<query>");
    let decoded = percent_encoding::percent_decode_str(label)
        .decode_utf8()
        .expect("UTF-8");
    assert_eq!(decoded, format!("{issuer}:{account}"));
    assert!(query.starts_with(&format!("secret={}&", secret.base32())), "{url}");
    match provision(issuer, account, &secret, totp_lambda::totp::TotpParams::DEFAULT) {
        Ok(p) => {
            assert_eq!(p.url, url);
            assert_eq!(p.key, secret.base32());
            assert!(
                base64_decode(&p.image_png_base64).starts_with(b"\x89PNG\r\n\x1a\n"),
                "a PNG"
            );
        }
        Err(_) => assert!(url.len() > 1000, "a QR code refused {url}"),
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).expect("base64")
}

/// Input: byte 0 even, the rest is a token as presented; odd, the rest is a
/// claims payload that we sign with the project's key, so that the fuzzer
/// reaches the claim checks behind the signature. Returns whether the
/// project's key ring accepted the token.
pub fn jwt_verify(data: &[u8]) -> bool {
    let [mode, rest @ ..] = data else {
        return false;
    };
    let w = world();
    let project = ProjectId::parse(PROJECT).expect("project");
    let token = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        sign_raw(&w.signing, rest)
    };
    let ring = w
        .app
        .tokens
        .as_ref()
        .expect("keys")
        .for_project(&project)
        .expect("ring");
    let Ok(refresh) = ring.verify_refresh(&token, &project, NOW) else {
        return false;
    };
    assert!(mode % 2 == 1, "only a token we signed verifies");
    assert!(!refresh.token_id.is_empty());
    assert!(refresh.expires_at.saturating_add(60) > NOW, "unexpired");
    true
}

/// `header.payload.signature` with the fuzz key over any payload bytes.
fn sign_raw(key: &jsonwebtoken::EncodingKey, payload: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let message = format!(
        "{}.{}",
        b64.encode(br#"{"alg":"ES256","typ":"JWT","kid":"fuzz-key"}"#),
        b64.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, jsonwebtoken::Algorithm::ES256).expect("sign");
    format!("{message}.{signature}")
}
