//! Shared harness for the integration tests: a fresh table on DynamoDB
//! Local per test, real keys, a movable clock, and an independent TOTP
//! implementation (totp-rs) to compute codes from the keys we hand out.
#![allow(dead_code)]

pub mod hooked;
pub mod local_services;
pub mod lost_answers;
#[allow(unused_imports)]
pub use hooked::{Hook, Op, Recorder};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use aws_sdk_dynamodb::config::{Credentials, Region};
use base64::Engine as _;
use lambda_http::http::Method;
use lambda_http::{Body, Request};
use serde_json::{json, Value};
use sha2::Digest as _;
use totp_lambda::config::Config;
use totp_lambda::management_keys::ManagementKeys;
use totp_lambda::secret_box::{generate_keys_document, SecretBox};
use totp_lambda::service::{App, Clock};
use totp_lambda::store::dynamo::{ensure_table, DynamoStore};
use totp_lambda::store::Store;
use totp_lambda::tokens::ProjectKeys;

pub const PROJECT: &str = "P2TestProjectA";
pub const OTHER_PROJECT: &str = "P2TestProjectB";
pub const ISSUER: &str = "Acme Test";
/// A fixed start time, in the middle of a 30 s step.
pub const T0: u64 = 1_800_000_015;

/// DynamoDB Local: the one `make test` started, or one of this test binary's own.
pub fn endpoint() -> String {
    local_services::dynamodb_endpoint()
}

/// The AWS configuration of the tests that use Secrets Manager: moto's
/// server, local credentials, the functions' own timeouts.
pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    local_sdk_config(&local_services::moto_endpoint()).await
}

/// A client for `endpoint` with the functions' own configuration
/// (`app::sdk_config_loader`: timeouts, retries), local credentials.
pub async fn dynamodb_client_for(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&local_sdk_config(endpoint).await)
}

/// The functions' own AWS configuration, pointed at a local service.
pub async fn local_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    totp_lambda::app::sdk_config_loader()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
        .endpoint_url(endpoint)
        .load()
        .await
}

pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    dynamodb_client_for(&endpoint()).await
}

/// An RSA key pair in PKCS#8 PEM, made by openssl (once per test binary).
pub fn rsa_private_pem(index: usize) -> String {
    static KEYS: OnceLock<Vec<String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..3)
            .map(|_| {
                let out = std::process::Command::new("openssl")
                    .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
                    .output()
                    .expect("openssl must be installed");
                assert!(out.status.success(), "openssl genpkey failed");
                String::from_utf8(out.stdout).unwrap()
            })
            .collect()
    })[index]
        .clone()
}

/// PROJECT signs with `test-key-1`, OTHER_PROJECT with a key of its own.
pub fn signing_keys_json() -> String {
    signing_keys_with(serde_json::json!({"keys": [{"kid": "test-key-1", "privateKeyPem": rsa_private_pem(0)}]}))
}

/// The signing keys document with `ring` as PROJECT's key ring.
pub fn signing_keys_with(ring: Value) -> String {
    serde_json::json!({"projects": {
        PROJECT: ring,
        OTHER_PROJECT: {"keys": [{"kid": "test-key-b", "privateKeyPem": rsa_private_pem(2)}]},
    }})
    .to_string()
}

pub fn project_keys_with(ring: Value) -> ProjectKeys {
    ProjectKeys::from_json(&signing_keys_with(ring)).unwrap()
}

pub fn encryption_keys_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| generate_keys_document("enc-test-1").unwrap())
}

pub fn unique_table() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "t{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

pub fn config(table: &str) -> Config {
    Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(table.to_owned()),
        "PROJECT_ID" => Some(format!("{PROJECT},{OTHER_PROJECT}")),
        "TOTP_ISSUER" => Some(ISSUER.to_owned()),
        _ => None,
    })
    .unwrap()
}

/// A test deployment: the App, its table, and the clock it reads.
pub struct Harness {
    pub app: App<DynamoStore>,
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    pub time: Arc<AtomicU64>,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::on_endpoint(&endpoint(), adjust).await
    }

    /// A harness whose App talks to `endpoint` (the table is made on DynamoDB Local).
    pub async fn on_endpoint(app_endpoint: &str, adjust: impl FnOnce(&mut Config)) -> Self {
        let table = unique_table();
        let client = dynamodb_client().await;
        ensure_table(&client, &table)
            .await
            .expect("create table on DynamoDB Local");
        let audit_table = format!("{table}-audit");
        totp_lambda::store::dynamo::ensure_audit_table(&client, &audit_table)
            .await
            .expect("create the audit table on DynamoDB Local");
        let mut config = config(&table);
        config.audit_table_name = Some(audit_table);
        adjust(&mut config);
        let time = Arc::new(AtomicU64::new(T0));
        let store = DynamoStore::new(dynamodb_client_for(app_endpoint).await, table.clone())
            .with_audit_table(config.audit_table_name.clone());
        let app = App {
            config,
            store,
            secret_box: Some(SecretBox::from_json(encryption_keys_json()).unwrap()),
            tokens: Some(ProjectKeys::from_json(&signing_keys_json()).unwrap()),
            clock: Clock::manual(time.clone()),
        };
        Harness {
            app,
            client,
            table,
            time,
        }
    }

    pub fn now(&self) -> u64 {
        self.time.load(Ordering::SeqCst)
    }

    /// An App like this harness's (same table, keys, clock) over `store`.
    pub fn app_with<S: Store>(&self, store: S) -> App<S> {
        App {
            config: self.app.config.clone(),
            store,
            secret_box: Some(SecretBox::from_json(encryption_keys_json()).unwrap()),
            tokens: Some(ProjectKeys::from_json(&signing_keys_json()).unwrap()),
            clock: self.app.clock.clone(),
        }
    }

    /// This harness's App over the table, with `hook` before every operation.
    pub fn hooked<H: hooked::Hook>(&self, hook: H) -> App<hooked::Hooked<H>> {
        self.app_with(hooked::Hooked {
            inner: DynamoStore::new(self.client.clone(), self.table.clone())
                .with_audit_table(self.app.config.audit_table_name.clone()),
            hook,
        })
    }

    pub fn advance(&self, seconds: u64) {
        self.time.fetch_add(seconds, Ordering::SeqCst);
    }

    pub async fn signup(&self, login_id: &str) -> (u16, Value) {
        self.signup_in(PROJECT, login_id).await
    }

    pub async fn signup_in(&self, project: &str, login_id: &str) -> (u16, Value) {
        let body = serde_json::json!({"loginId": login_id}).to_string();
        call_signup(
            &self.app,
            request(Method::POST, "/v1/auth/totp/signup", Some(&bearer(project)), &body),
        )
        .await
    }

    pub async fn verify(&self, login_id: &str, code: &str) -> (u16, Value) {
        self.verify_in(PROJECT, login_id, code).await
    }

    pub async fn verify_in(&self, project: &str, login_id: &str, code: &str) -> (u16, Value) {
        call_verify(&self.app, verify_request(project, login_id, code)).await
    }

    pub async fn verify_with(&self, authorization: &str, body: Value) -> (u16, Value) {
        call_verify(
            &self.app,
            request(
                Method::POST,
                "/v1/auth/totp/verify",
                Some(authorization),
                &body.to_string(),
            ),
        )
        .await
    }

    pub async fn update(&self, authorization: &str, login_id: &str) -> (u16, Value) {
        call_update(&self.app, update_request(authorization, login_id)).await
    }

    /// Signs `login_id` up and completes the sign-up; returns the key and the verify response.
    pub async fn register(&self, login_id: &str) -> (String, Value) {
        let (status, body) = self.signup(login_id).await;
        assert_eq!(status, 200, "{body}");
        let key = body["key"].as_str().unwrap().to_owned();
        let (status, body) = self.verify(login_id, &code(&key, self.now())).await;
        assert_eq!(status, 200, "{body}");
        (key, body)
    }

    /// A session route (`refresh`, `logout`, `logoutall` POST; `me` GET)
    /// with `Bearer <project>:<refresh_jwt>`.
    pub async fn session(&self, route: &str, refresh_jwt: &str) -> (u16, Value) {
        self.session_in(PROJECT, route, refresh_jwt).await
    }

    pub async fn session_in(&self, project: &str, route: &str, refresh_jwt: &str) -> (u16, Value) {
        let method = if route == "me" { Method::GET } else { Method::POST };
        let body = if route == "me" { "" } else { "{}" };
        let auth = bearer(&format!("{project}:{refresh_jwt}"));
        call_sessions(
            &self.app,
            request(method, &format!("/v1/auth/{route}"), Some(&auth), body),
        )
        .await
    }

    /// The user items (and pending sign-ups) in the table, raw: no userId
    /// pointers, links or revocations.
    pub async fn user_items(&self) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let mut items = self.scan().await;
        items.retain(|i| {
            i.get("pk")
                .and_then(|pk| pk.as_s().ok())
                .is_some_and(|pk| !pk.contains('|'))
        });
        items
    }

    /// Every item in the table, raw.
    pub async fn scan(&self) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let out = self.client.scan().table_name(&self.table).send().await.unwrap();
        out.items.unwrap_or_default()
    }
}

pub fn bearer(value: &str) -> String {
    format!("Bearer {value}")
}

/// A verify request of `project` for `login_id` with `code`.
pub fn verify_request(project: &str, login_id: &str, code: &str) -> Request {
    let body = serde_json::json!({"loginId": login_id, "code": code}).to_string();
    request(Method::POST, "/v1/auth/totp/verify", Some(&bearer(project)), &body)
}

/// An update request with this Authorization header for `login_id`.
pub fn update_request(authorization: &str, login_id: &str) -> Request {
    let body = serde_json::json!({"loginId": login_id}).to_string();
    request(Method::POST, "/v1/auth/totp/update", Some(authorization), &body)
}

pub fn request(method: Method, path: &str, authorization: Option<&str>, body: &str) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"))
        .header("content-type", "application/json");
    if let Some(auth) = authorization {
        builder = builder.header("authorization", auth);
    }
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Text(body.to_owned())
    };
    builder.body(body).unwrap()
}

/// The error code of an error body that has exactly Descope's three keys.
pub fn error_code(body: &Value) -> &str {
    let object = body.as_object().expect("error body is an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["errorCode", "errorDescription", "errorMessage"], "{body}");
    body["errorCode"].as_str().unwrap()
}

/// The refresh JWT of a verify or refresh answer.
pub fn refresh_of(body: &Value) -> String {
    body["refreshJwt"].as_str().expect("a refresh JWT").to_owned()
}

/// The claims of a JWT, unverified (the signature is checked elsewhere).
pub fn claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

pub async fn into_parts(response: lambda_http::Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, body)
}

pub async fn call_signup<S: Store>(app: &App<S>, req: Request) -> (u16, Value) {
    into_parts(totp_lambda::http::signup(app, req).await.unwrap()).await
}

pub async fn call_verify<S: Store>(app: &App<S>, req: Request) -> (u16, Value) {
    into_parts(totp_lambda::http::verify(app, req).await.unwrap()).await
}

pub async fn call_sessions<S: Store>(app: &App<S>, req: Request) -> (u16, Value) {
    into_parts(totp_lambda::http::sessions(app, req).await.unwrap()).await
}

pub async fn call_update<S: Store>(app: &App<S>, req: Request) -> (u16, Value) {
    into_parts(totp_lambda::http::update(app, req).await.unwrap()).await
}

/// The code an authenticator app shows at `time` for a base32 key, computed
/// straight from RFC 4226/6238 with the `hmac` and `sha1` crates: an oracle
/// independent of the production path (totp-rs under `totp::matching_step`).
pub fn code(key_base32: &str, time: u64) -> String {
    use hmac::Mac;
    let secret = data_encoding::BASE32_NOPAD
        .decode(key_base32.as_bytes())
        .expect("base32 key");
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&secret).expect("any key length");
    mac.update(&(time / 30).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", binary % 1_000_000)
}

/// A six-digit code that is none of the codes valid around `time`.
pub fn wrong_code(key_base32: &str, time: u64) -> String {
    let valid: Vec<String> = [time - 30, time, time + 30]
        .iter()
        .map(|t| code(key_base32, *t))
        .collect();
    (0..)
        .map(|i: u32| format!("{:06}", (i * 7919) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap()
}

/// Decodes a base64 PNG QR code with rqrr, a real QR decoder.
pub fn decode_qr(image_base64: &str) -> String {
    use base64::Engine as _;
    let png_bytes = base64::engine::general_purpose::STANDARD
        .decode(image_base64)
        .expect("raw base64");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).expect("PNG data");
    let (width, height) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| buffer[(y * width + x) * channels]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code in the image");
    let (_, content) = grids[0].decode().expect("QR decodes");
    content
}

/// Log output captured in memory, for tests that read what was logged.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

// ---- Management: two projects' keys, and one call helper per route --------

pub const MGMT_KEY_A: &str = "mk-alpha-0123456789abcdefghijklmnopqrstuvwxyzABCD";
pub const MGMT_KEY_B: &str = "mk-bravo-0123456789abcdefghijklmnopqrstuvwxyzABCD";

pub fn management_keys() -> ManagementKeys {
    let sha = |k: &str| data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(k.as_bytes()));
    let doc = json!({
        "auditKey": base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
        "projects": {
            PROJECT: {"keys": [{"id": "support-alpha", "sha256": sha(MGMT_KEY_A)}]},
            OTHER_PROJECT: {"keys": [{"id": "support-bravo", "sha256": sha(MGMT_KEY_B)}]},
        }
    });
    ManagementKeys::from_json(&doc.to_string()).unwrap()
}

/// One management call with `Authorization: <authorization>`.
pub async fn mgmt_as<S: Store>(app: &App<S>, authorization: Option<&str>, route: &str, login_id: &str) -> (u16, Value) {
    let (method, path, body) = match route {
        "load" => (
            Method::GET,
            format!("/v1/mgmt/user?loginId={}", urlencode(login_id)),
            String::new(),
        ),
        "remove_totp" => (Method::POST, "/v1/mgmt/user/totp/delete".into(), body_of(login_id)),
        "delete" => (Method::POST, "/v1/mgmt/user/delete".into(), body_of(login_id)),
        "logout" => (Method::POST, "/v1/mgmt/user/logout".into(), body_of(login_id)),
        other => panic!("no route {other}"),
    };
    let req = request(method, &path, authorization, &body);
    let req = if route == "load" {
        with_login_id_query(req, login_id)
    } else {
        req
    };
    into_parts(
        totp_lambda::http::management(app, &management_keys(), req)
            .await
            .unwrap(),
    )
    .await
}

/// `req` with `?loginId=<login_id>` where lambda_http reads the query: its
/// own extension, as API Gateway fills it (the URI's query is not parsed).
pub fn with_login_id_query(req: Request, login_id: &str) -> Request {
    use lambda_http::RequestExt as _;
    req.with_query_string_parameters(
        [("loginId".to_owned(), login_id.to_owned())]
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    )
}

pub async fn mgmt<S: Store>(app: &App<S>, route: &str, login_id: &str) -> (u16, Value) {
    mgmt_as(app, Some(&bearer(&format!("{PROJECT}:{MGMT_KEY_A}"))), route, login_id).await
}

fn body_of(login_id: &str) -> String {
    json!({ "loginId": login_id }).to_string()
}

fn urlencode(text: &str) -> String {
    text.replace('@', "%40")
}

/// POST /v1/mgmt/user/signin/embeddedlink with `body`, as support (project A's key).
pub async fn mgmt_sign_in_link<S: Store>(app: &App<S>, body: Value) -> (u16, Value) {
    let auth = bearer(&format!("{PROJECT}:{MGMT_KEY_A}"));
    let req = request(
        Method::POST,
        "/v1/mgmt/user/signin/embeddedlink",
        Some(&auth),
        &body.to_string(),
    );
    into_parts(
        totp_lambda::http::management(app, &management_keys(), req)
            .await
            .unwrap(),
    )
    .await
}

/// A sign-in link's token for `login_id` (support's call, which must succeed).
pub async fn sign_in_link<S: Store>(app: &App<S>, login_id: &str) -> String {
    let (status, body) = mgmt_sign_in_link(app, json!({"loginId": login_id, "customClaims": null, "timeout": 0})).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("a token").to_owned()
}

/// POST /v1/auth/magiclink/verify of `project` with `{"token": token}`.
pub async fn redeem_link_in<S: Store>(app: &App<S>, project: &str, token: &str) -> (u16, Value) {
    let body = json!({ "token": token }).to_string();
    call_sessions(
        app,
        request(Method::POST, "/v1/auth/magiclink/verify", Some(&bearer(project)), &body),
    )
    .await
}

pub async fn redeem_link<S: Store>(app: &App<S>, token: &str) -> (u16, Value) {
    redeem_link_in(app, PROJECT, token).await
}

/// A session of the registered user at `key` in their current generation,
/// never logged out: what a store write made on a live token's behalf names.
pub async fn current_session(
    store: &DynamoStore,
    key: &totp_lambda::store::UserKey,
) -> Result<totp_lambda::store::SessionRef, totp_lambda::store::StoreError> {
    let record = store.get(key).await?.expect("a stored user");
    let totp_lambda::store::Status::Registered { user_id, .. } = record.status else {
        panic!("a registered user")
    };
    Ok(totp_lambda::store::SessionRef {
        user_id,
        generation: record.session_generation,
        token_id: "J-NEVER-REVOKED".into(),
    })
}

/// The key of `login`'s user item in PROJECT.
pub fn user_pk(login: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(format!("{PROJECT}#{login}"))
}

/// The user item of `login` in PROJECT, raw.
pub async fn item(
    h: &Harness,
    login: &str,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    let pk = user_pk(login);
    h.scan()
        .await
        .into_iter()
        .find(|i| i.get("pk") == Some(&pk))
        .expect("the user's item")
}

/// Sets `values` and removes `remove` on the item `pk`, directly: another
/// writer (an older release, a racing request) as the table sees it.
pub async fn set_attributes_of(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: aws_sdk_dynamodb::types::AttributeValue,
    values: &[(&str, aws_sdk_dynamodb::types::AttributeValue)],
    remove: &[&str],
) {
    let mut update = String::new();
    let mut request = client.update_item().table_name(table).key("pk", pk);
    if !values.is_empty() {
        let sets: Vec<String> = values.iter().map(|(name, _)| format!("#{name} = :{name}")).collect();
        update.push_str(&format!("SET {}", sets.join(", ")));
    }
    if !remove.is_empty() {
        let names: Vec<String> = remove.iter().map(|name| format!("#{name}")).collect();
        update.push_str(&format!(" REMOVE {}", names.join(", ")));
    }
    for (name, value) in values {
        request = request
            .expression_attribute_names(format!("#{name}"), *name)
            .expression_attribute_values(format!(":{name}"), value.clone());
    }
    for name in remove {
        request = request.expression_attribute_names(format!("#{name}"), *name);
    }
    request
        .update_expression(update.trim())
        .send()
        .await
        .expect("a direct write");
}

/// [`set_attributes_of`] on `login`'s user item.
pub async fn set_attributes(
    h: &Harness,
    login: &str,
    values: &[(&str, aws_sdk_dynamodb::types::AttributeValue)],
    remove: &[&str],
) {
    set_attributes_of(&h.client, &h.table, user_pk(login), values, remove).await
}

impl Harness {
    /// This harness's App, with `values` set directly on the user's item
    /// just before each `op`: a write racing the one `op` makes.
    pub fn setting_before(
        &self,
        op: Op,
        values: Vec<(&'static str, aws_sdk_dynamodb::types::AttributeValue)>,
    ) -> App<hooked::Hooked<hooked::SetBefore>> {
        self.hooked(hooked::SetBefore {
            op,
            values,
            client: self.client.clone(),
            table: self.table.clone(),
        })
    }
}

/// The code at `time` of a key with other parameters (`algorithm` "SHA1",
/// "SHA256" or "SHA512", `digits`, `period`), straight from RFC 6238 with
/// the `hmac` and `sha1`/`sha2` crates: the oracle for imported seeds.
pub fn code_with(key_base32: &str, time: u64, algorithm: &str, digits: u32, period: u64) -> String {
    use hmac::Mac;
    let secret = data_encoding::BASE32_NOPAD
        .decode(key_base32.as_bytes())
        .expect("base32 key");
    let counter = (time / period).to_be_bytes();
    let digest: Vec<u8> = match algorithm {
        "SHA1" => {
            let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&secret).unwrap();
            mac.update(&counter);
            mac.finalize().into_bytes().to_vec()
        }
        "SHA256" => {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
            mac.update(&counter);
            mac.finalize().into_bytes().to_vec()
        }
        "SHA512" => {
            let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(&secret).unwrap();
            mac.update(&counter);
            mac.finalize().into_bytes().to_vec()
        }
        other => panic!("no algorithm {other}"),
    };
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:0width$}", binary % 10u32.pow(digits), width = digits as usize)
}

/// A management call of project A's key: `method` `path` with `body`
/// (a GET's query parameters in `query`).
pub async fn mgmt_call<S: Store>(
    app: &App<S>,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    body: Value,
) -> (u16, Value) {
    use lambda_http::RequestExt as _;
    let auth = bearer(&format!("{PROJECT}:{MGMT_KEY_A}"));
    let body = if method == Method::GET {
        String::new()
    } else {
        body.to_string()
    };
    let req = request(method, path, Some(&auth), &body).with_query_string_parameters(
        query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<std::collections::HashMap<_, _>>(),
    );
    into_parts(
        totp_lambda::http::management(app, &management_keys(), req)
            .await
            .unwrap(),
    )
    .await
}

/// What a competitor's success write in a race test requires of the lockout
/// windows: none of them full, at `now` (limits no test reaches).
pub fn unlocked(now: u64) -> totp_lambda::store::OpenWindows {
    totp_lambda::store::OpenWindows {
        now,
        short_limit: 1_000,
        short_ended_by: 0,
        long_limit: 1_000,
        long_ended_by: 0,
    }
}
