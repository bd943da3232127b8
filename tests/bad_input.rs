//! The bad-input corpus: what no client should send, route by route, with
//! the answer each gets. Every case runs against a deployment that holds a
//! registered user, a pending sign-up and a live session, and none of them
//! may change a single item.

use crate::common;

use common::*;
use lambda_http::http::Method;
use lambda_http::{Body, Request};
use serde_json::{json, Value};

const SIGNUP: &str = "/v1/auth/totp/signup";
const VERIFY: &str = "/v1/auth/totp/verify";
const UPDATE: &str = "/v1/auth/totp/update";
const REFRESH: &str = "/v1/auth/refresh";
const ME: &str = "/v1/auth/me";
const MGMT_DELETE: &str = "/v1/mgmt/user/delete";
const MGMT_LOAD: &str = "/v1/mgmt/user";
const MGMT_LINK: &str = "/v1/mgmt/user/signin/embeddedlink";
const MAGIC_LINK: &str = "/v1/auth/magiclink/verify";
const RECOVERY: &str = "/v1/auth/totp/recovery";
const RECOVERY_CODES: &str = "/v1/auth/totp/recovery-codes";
const MGMT_RECOVERY_DELETE: &str = "/v1/mgmt/user/recovery-codes/delete";
const MGMT_CREATE: &str = "/v1/mgmt/user/create";
const MGMT_CREATE_BATCH: &str = "/v1/mgmt/user/create/batch";
const MGMT_DELETE_BATCH: &str = "/v1/mgmt/user/delete/batch";
const MGMT_STATUS: &str = "/v1/mgmt/user/update/status";
const MGMT_SEARCH: &str = "/v2/mgmt/user/search";
const AUDIT_SEARCH: &str = "/v1/mgmt/audit/search";
const TRY_REFRESH: &str = "/v1/auth/try-refresh";
const KEYS: &str = "/v2/keys/P2TestProjectA";

const KEPT: &str = "kept@example.com";
/// A base32 seed of 80 bits: too short, and never to be echoed.
const SHORT_SEED: &str = "JBSWY3DPEHPK3PXP";

/// One bad request and the answer it must get.
struct Case {
    what: &'static str,
    method: Method,
    path: &'static str,
    content_type: &'static str,
    /// The Authorization header; `None` sends none.
    authorization: Option<String>,
    body: Body,
    /// `?loginId=` of the management load route.
    query_login_id: Option<String>,
    /// `?userId=` of the same route.
    query_user_id: Option<String>,
    status: u16,
    error_code: &'static str,
    /// A batch whose one user fails alone: 200, that user in `failedUsers`
    /// with `error_code`, no one created.
    fails_alone: bool,
}

fn case(what: &'static str, path: &'static str, authorization: Option<String>, body: &str) -> Case {
    Case {
        what,
        method: if path == ME || path == MGMT_LOAD || path == KEYS {
            Method::GET
        } else {
            Method::POST
        },
        path,
        content_type: "application/json",
        authorization,
        body: if body.is_empty() {
            Body::Empty
        } else {
            Body::Text(body.to_owned())
        },
        query_login_id: None,
        query_user_id: None,
        status: 400,
        error_code: "E011001",
        fails_alone: false,
    }
}

impl Case {
    fn answers(mut self, status: u16, error_code: &'static str) -> Self {
        self.status = status;
        self.error_code = error_code;
        self
    }
    fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }
    fn content_type(mut self, content_type: &'static str) -> Self {
        self.content_type = content_type;
        self
    }
    fn binary(mut self, bytes: &[u8]) -> Self {
        self.body = Body::Binary(bytes.to_vec());
        self
    }
    fn query(mut self, login_id: &str) -> Self {
        self.query_login_id = Some(login_id.to_owned());
        self
    }
    fn query_user_id(mut self, user_id: &str) -> Self {
        self.query_user_id = Some(user_id.to_owned());
        self
    }
    fn fails_alone(mut self, error_code: &'static str) -> Self {
        self.status = 200;
        self.error_code = error_code;
        self.fails_alone = true;
        self
    }

    fn request(&self) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method(self.method.clone())
            .uri(format!("https://api.example.com{}", self.path))
            .header("content-type", self.content_type);
        if let Some(auth) = &self.authorization {
            builder = builder.header("authorization", auth.as_str());
        }
        let req = builder.body(self.body.clone()).unwrap();
        match (&self.query_login_id, &self.query_user_id) {
            (Some(login_id), _) => with_login_id_query(req, login_id),
            (None, Some(user_id)) => {
                use lambda_http::RequestExt as _;
                req.with_query_string_parameters(
                    [("userId".to_owned(), user_id.clone())]
                        .into_iter()
                        .collect::<std::collections::HashMap<_, _>>(),
                )
            }
            (None, None) => req,
        }
    }
}

async fn send(h: &Harness, case: &Case) -> (u16, Value) {
    let req = case.request();
    let response = match case.path {
        SIGNUP => totp_lambda::http::signup(&h.app, req).await,
        VERIFY | RECOVERY => totp_lambda::http::verify(&h.app, req).await,
        UPDATE | RECOVERY_CODES => totp_lambda::http::update(&h.app, req).await,
        REFRESH | ME | MAGIC_LINK | TRY_REFRESH => totp_lambda::http::sessions(&h.app, req).await,
        MGMT_DELETE | MGMT_LOAD | MGMT_LINK | MGMT_RECOVERY_DELETE | MGMT_CREATE | MGMT_CREATE_BATCH
        | MGMT_DELETE_BATCH | MGMT_STATUS | MGMT_SEARCH | AUDIT_SEARCH => {
            totp_lambda::http::management(&h.app, &management_keys(), req).await
        }
        KEYS => totp_lambda::http::keys(&h.app.config, h.app.tokens.as_ref().unwrap(), req).await,
        other => panic!("no route {other}"),
    };
    into_parts(response.expect("a handler answers every request")).await
}

fn body(value: Value) -> String {
    value.to_string()
}

fn corpus(refresh_jwt: &str, kept_user_id: &str) -> Vec<Case> {
    let auth = Some(bearer(PROJECT));
    let session = Some(bearer(&format!("{PROJECT}:{refresh_jwt}")));
    let mgmt = Some(bearer(&format!("{PROJECT}:{MGMT_KEY_A}")));
    let ten_mb = format!(r#"{{"loginId":"{KEPT}","pad":"{}"}}"#, "x".repeat(10 * 1024 * 1024));
    let verify = |code: &str| body(json!({"loginId": KEPT, "code": code}));
    let with_claims =
        |claims: Value| body(json!({"loginId": KEPT, "code": "000000", "loginOptions": {"customClaims": claims}}));
    let nested = |levels: usize| {
        let mut value = json!("deep");
        for _ in 0..levels {
            value = json!({ "k": value });
        }
        value
    };
    let huge_claims = json!({ "blob": "x".repeat(4096) });
    let many_claims: Value = (0..200)
        .map(|i| (format!("claim{i}"), json!(i)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let zero_width = format!("{KEPT}\u{200B}");
    let create = |fields: Value| {
        let mut user = json!({ "loginId": "new@example.com" });
        user.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        body(user)
    };
    let one_user = |user: Value| body(json!({ "users": [user], "invite": true }));
    let many_users: Vec<Value> = (0..101)
        .map(|i| json!({ "loginId": format!("new{i}@example.com") }))
        .collect();
    // The registered user's id among too many: refused before any is deleted.
    let many_ids: Vec<String> = (0..101)
        .map(|i| {
            if i == 50 {
                kept_user_id.to_owned()
            } else {
                format!("U2{i:026}")
            }
        })
        .collect();
    let many_login_ids: Vec<String> = (0..101).map(|i| format!("user{i}@example.com")).collect();
    vec![
        // Bodies that are not one JSON object.
        case("empty body", SIGNUP, auth.clone(), ""),
        case("empty body", VERIFY, auth.clone(), ""),
        case("empty body", UPDATE, auth.clone(), ""),
        case("empty body", MGMT_DELETE, mgmt.clone(), ""),
        case("null", SIGNUP, auth.clone(), "null"),
        case("null", VERIFY, auth.clone(), "null"),
        case("null", REFRESH, session.clone(), "null"),
        case("null", MGMT_DELETE, mgmt.clone(), "null"),
        case("an array", SIGNUP, auth.clone(), r#"[{"loginId": "kept@example.com"}]"#),
        case("an array", VERIFY, auth.clone(), r#"["kept@example.com", "123456"]"#),
        case("an array", REFRESH, session.clone(), "[]"),
        case("a number", UPDATE, auth.clone(), "42"),
        case("a string", MGMT_DELETE, mgmt.clone(), r#""kept@example.com""#),
        case(
            "trailing garbage",
            SIGNUP,
            auth.clone(),
            r#"{"loginId": "new@example.com"} {}"#,
        ),
        case(
            "truncated",
            VERIFY,
            auth.clone(),
            r#"{"loginId": "kept@example.com", "code": "1"#,
        ),
        // Numbers, arrays and objects where strings belong.
        case("loginId a number", SIGNUP, auth.clone(), r#"{"loginId": 42}"#),
        case(
            "loginId an array",
            VERIFY,
            auth.clone(),
            r#"{"loginId": ["kept@example.com"], "code": "123456"}"#,
        ),
        case("loginId an object", UPDATE, auth.clone(), r#"{"loginId": {"$ne": ""}}"#),
        case("loginId true", MGMT_DELETE, mgmt.clone(), r#"{"loginId": true}"#),
        case(
            "code a number",
            VERIFY,
            auth.clone(),
            r#"{"loginId": "kept@example.com", "code": 123456}"#,
        ),
        case(
            "name a number",
            SIGNUP,
            auth.clone(),
            r#"{"loginId": "new@example.com", "user": {"name": 1}}"#,
        ),
        case(
            "stepup a string",
            VERIFY,
            auth.clone(),
            r#"{"loginId": "kept@example.com", "code": "123456", "loginOptions": {"stepup": "yes"}}"#,
        ),
        case(
            "customClaims an array",
            VERIFY,
            auth.clone(),
            &with_claims(json!(["a"])),
        ),
        // Too large: refused before it is parsed.
        case("10 MB body", SIGNUP, auth.clone(), &ten_mb).answers(413, "E011001"),
        case("10 MB body", VERIFY, auth.clone(), &ten_mb).answers(413, "E011001"),
        case("10 MB body", UPDATE, auth.clone(), &ten_mb).answers(413, "E011001"),
        case("10 MB body", REFRESH, session.clone(), &ten_mb).answers(413, "E011001"),
        case("10 MB body", MGMT_DELETE, mgmt.clone(), &ten_mb).answers(413, "E011001"),
        // NUL and control characters.
        case(
            "escaped NUL in loginId",
            SIGNUP,
            auth.clone(),
            r#"{"loginId": "new\u0000@example.com"}"#,
        )
        .answers(400, "E011003"),
        case(
            "raw NUL in a string",
            SIGNUP,
            auth.clone(),
            "{\"loginId\": \"new\0@example.com\"}",
        ),
        case(
            "raw NUL outside strings",
            VERIFY,
            auth.clone(),
            "{\"loginId\": \"kept@example.com\",\0\"code\": \"123456\"}",
        ),
        case(
            "bell in loginId",
            MGMT_DELETE,
            mgmt.clone(),
            r#"{"loginId": "kept\u0007@example.com"}"#,
        )
        .answers(400, "E011003"),
        case(
            "escape in givenName",
            SIGNUP,
            auth.clone(),
            r#"{"loginId": "new@example.com", "user": {"givenName": "\u001b[31m"}}"#,
        )
        .answers(400, "E011003"),
        case(
            "lone surrogate",
            SIGNUP,
            auth.clone(),
            r#"{"loginId": "new\ud800@example.com"}"#,
        ),
        case("invalid UTF-8", VERIFY, auth.clone(), "").binary(b"{\"loginId\": \"\xff\xfe\", \"code\": \"123456\"}"),
        // Look-alike loginIds (see LoginId in src/domain.rs).
        case(
            "zero-width space after a registered loginId",
            SIGNUP,
            auth.clone(),
            &body(json!({"loginId": zero_width})),
        )
        .answers(400, "E011003"),
        case(
            "zero-width space after a registered loginId",
            VERIFY,
            auth.clone(),
            &body(json!({"loginId": zero_width, "code": "123456"})),
        )
        .answers(400, "E011003"),
        case(
            "bidi override",
            SIGNUP,
            auth.clone(),
            &body(json!({"loginId": "\u{202E}moc.elpmaxe@peek"})),
        )
        .answers(400, "E011003"),
        case(
            "soft hyphen",
            UPDATE,
            auth.clone(),
            &body(json!({"loginId": "ke\u{AD}pt@example.com"})),
        )
        .answers(400, "E011003"),
        case(
            "line separator",
            MGMT_DELETE,
            mgmt.clone(),
            &body(json!({"loginId": "kept@example.com\u{2028}"})),
        )
        .answers(400, "E011003"),
        case("zero-width joiner in the query", MGMT_LOAD, mgmt.clone(), "")
            .query("ke\u{200D}pt@example.com")
            .answers(400, "E011003"),
        // The same key twice: refused, whichever value would win.
        case(
            "loginId twice",
            SIGNUP,
            auth.clone(),
            r#"{"loginId": "new@example.com", "loginId": "kept@example.com"}"#,
        ),
        case(
            "code twice",
            VERIFY,
            auth.clone(),
            r#"{"loginId": "kept@example.com", "code": "000000", "code": "111111"}"#,
        ),
        case(
            "loginId twice",
            MGMT_DELETE,
            mgmt.clone(),
            r#"{"loginId": "other@example.com", "loginId": "kept@example.com"}"#,
        ),
        case(
            "a customClaim twice",
            VERIFY,
            auth.clone(),
            r#"{"loginId": "kept@example.com", "code": "000000", "loginOptions": {"customClaims": {"role": "user", "role": "admin"}}}"#,
        ),
        case("an unknown key twice", REFRESH, session.clone(), r#"{"x": 1, "x": 2}"#),
        // Content-Type: bodies are JSON whatever the header says, so a body
        // that is not JSON is refused as such.
        case("form-encoded", SIGNUP, auth.clone(), "loginId=new%40example.com")
            .content_type("application/x-www-form-urlencoded"),
        case("XML", VERIFY, auth.clone(), "<loginId>kept@example.com</loginId>").content_type("application/xml"),
        case(
            "multipart",
            UPDATE,
            auth.clone(),
            "--x\r\nContent-Disposition: form-data; name=\"loginId\"\r\n\r\nkept@example.com\r\n--x--",
        )
        .content_type("multipart/form-data; boundary=x"),
        // A body API Gateway marked base64 arrives decoded (Body::Binary): bytes that are not JSON.
        case("binary body", SIGNUP, auth.clone(), "").binary(&[0x1f, 0x8b, 0x08, 0x00, 0xff]),
        case(
            "base64 text that was not decoded",
            SIGNUP,
            auth.clone(),
            "eyJsb2dpbklkIjoibmV3QGV4YW1wbGUuY29tIn0=",
        ),
        // Methods no route takes.
        case("PROPFIND", SIGNUP, auth.clone(), "{}")
            .method(Method::from_bytes(b"PROPFIND").unwrap())
            .answers(405, "E011001"),
        case("DELETE", VERIFY, auth.clone(), "{}")
            .method(Method::DELETE)
            .answers(405, "E011001"),
        case("PUT", UPDATE, auth.clone(), "{}")
            .method(Method::PUT)
            .answers(405, "E011001"),
        case("GET", REFRESH, session.clone(), "")
            .method(Method::GET)
            .answers(405, "E011001"),
        case("POST", ME, session.clone(), "{}")
            .method(Method::POST)
            .answers(405, "E011001"),
        case("PATCH", MGMT_DELETE, mgmt.clone(), "{}")
            .method(Method::PATCH)
            .answers(405, "E011001"),
        case("POST", KEYS, None, "{}")
            .method(Method::POST)
            .answers(405, "E011001"),
        // Bearer values with extra colons or spaces.
        case(
            "no project",
            SIGNUP,
            Some("Bearer :P2TestProjectA".into()),
            r#"{"loginId": "new@example.com"}"#,
        )
        .answers(401, "E011003"),
        case(
            "space inside the project",
            SIGNUP,
            Some("Bearer P2Test ProjectA".into()),
            r#"{"loginId": "new@example.com"}"#,
        )
        .answers(401, "E011003"),
        case(
            "no space after Bearer",
            SIGNUP,
            Some("BearerP2TestProjectA".into()),
            r#"{"loginId": "new@example.com"}"#,
        )
        .answers(401, "E011003"),
        case(
            "tab for the space",
            SIGNUP,
            Some("Bearer\tP2TestProjectA".into()),
            r#"{"loginId": "new@example.com"}"#,
        )
        .answers(401, "E011003"),
        case(
            "project then colons and no token",
            UPDATE,
            Some("Bearer P2TestProjectA:::".into()),
            &body(json!({"loginId": KEPT})),
        )
        .answers(401, "E061004"),
        case(
            "a token that is three dots",
            UPDATE,
            Some("Bearer P2TestProjectA:..:x".into()),
            &body(json!({"loginId": KEPT})),
        )
        .answers(401, "E061004"),
        case(
            "a token of junk",
            REFRESH,
            Some("Bearer P2TestProjectA:a.b.c".into()),
            "",
        )
        .answers(401, "E061004"),
        case(
            "a token with a space in it",
            ME,
            Some(format!("Bearer P2TestProjectA:{} x", &refresh_jwt[..20])),
            "",
        )
        .answers(401, "E061004"),
        case(
            "the project twice",
            REFRESH,
            Some("Bearer P2TestProjectA:P2TestProjectA".into()),
            "",
        )
        .answers(401, "E061004"),
        case(
            "management key with a colon more",
            MGMT_DELETE,
            Some(format!("Bearer {PROJECT}:{MGMT_KEY_A}:")),
            &body(json!({"loginId": KEPT})),
        )
        .answers(401, "E011003"),
        case(
            "management key with a space",
            MGMT_DELETE,
            Some(format!("Bearer {PROJECT}: {MGMT_KEY_A}")),
            &body(json!({"loginId": KEPT})),
        )
        .answers(401, "E011003"),
        case(
            "management key of another project",
            MGMT_DELETE,
            Some(format!("Bearer {PROJECT}:{MGMT_KEY_B}")),
            &body(json!({"loginId": KEPT})),
        )
        .answers(401, "E011003"),
        // Codes that are not six ASCII digits.
        case("code with a space", VERIFY, auth.clone(), &verify("123 456")).answers(400, "E011003"),
        case("code padded", VERIFY, auth.clone(), &verify(" 123456")).answers(400, "E011003"),
        case("full-width digits", VERIFY, auth.clone(), &verify("１２３４５６")).answers(400, "E011003"),
        case("Arabic-Indic digits", VERIFY, auth.clone(), &verify("١٢٣٤٥٦")).answers(400, "E011003"),
        case("code with a NUL", VERIFY, auth.clone(), &verify("12345\u{0}")).answers(400, "E011003"),
        case("code negative", VERIFY, auth.clone(), &verify("-12345")).answers(400, "E011003"),
        case("code in exponent form", VERIFY, auth.clone(), &verify("1e5000")).answers(400, "E011003"),
        // customClaims that would make the session JWT too big for a header or a cookie.
        case("customClaims of 4 KiB", VERIFY, auth.clone(), &with_claims(huge_claims)).answers(400, "E011003"),
        case("200 customClaims", VERIFY, auth.clone(), &with_claims(many_claims)).answers(400, "E011003"),
        case("customClaims 10 deep", VERIFY, auth.clone(), &with_claims(nested(10))).answers(400, "E011003"),
        case(
            "customClaims past the parser's depth limit",
            VERIFY,
            auth.clone(),
            &format!(
                r#"{{"loginId": "{KEPT}", "code": "000000", "loginOptions": {{"customClaims": {{"k": {}1{}}}}}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            ),
        ),
        // Sign-in links: support's request, and the token a user redeems.
        case("empty body", MGMT_LINK, mgmt.clone(), ""),
        case("no loginId", MGMT_LINK, mgmt.clone(), "{}").answers(400, "E011002"),
        case(
            "timeout past an hour",
            MGMT_LINK,
            mgmt.clone(),
            &body(json!({"loginId": KEPT, "timeout": 3601})),
        )
        .answers(400, "E011003"),
        case(
            "timeout negative",
            MGMT_LINK,
            mgmt.clone(),
            &body(json!({"loginId": KEPT, "timeout": -5})),
        )
        .answers(400, "E011003"),
        case(
            "timeout a fraction",
            MGMT_LINK,
            mgmt.clone(),
            &body(json!({"loginId": KEPT, "timeout": 1.5})),
        )
        .answers(400, "E011003"),
        case(
            "timeout huge",
            MGMT_LINK,
            mgmt.clone(),
            r#"{"loginId": "kept@example.com", "timeout": 1e400}"#,
        ),
        case(
            "customClaims of 4 KiB",
            MGMT_LINK,
            mgmt.clone(),
            &body(json!({"loginId": KEPT, "customClaims": {"blob": "x".repeat(4096)}})),
        )
        .answers(400, "E011003"),
        case(
            "customClaims a list",
            MGMT_LINK,
            mgmt.clone(),
            &body(json!({"loginId": KEPT, "customClaims": [1]})),
        ),
        case(
            "a refresh JWT for a key",
            MGMT_LINK,
            session.clone(),
            &body(json!({ "loginId": KEPT })),
        )
        .answers(401, "E011003"),
        case("empty body", MAGIC_LINK, auth.clone(), ""),
        case("no token", MAGIC_LINK, auth.clone(), "{}").answers(400, "E011002"),
        case("token empty", MAGIC_LINK, auth.clone(), r#"{"token": ""}"#).answers(400, "E011002"),
        case("token a number", MAGIC_LINK, auth.clone(), r#"{"token": 7}"#),
        case(
            "token of 129 characters",
            MAGIC_LINK,
            auth.clone(),
            &body(json!({"token": "A".repeat(129)})),
        )
        .answers(400, "E011003"),
        case("token with a dash", MAGIC_LINK, auth.clone(), r#"{"token": "ABC-DEF"}"#).answers(400, "E011003"),
        case(
            "token with a NUL",
            MAGIC_LINK,
            auth.clone(),
            r#"{"token": "ABC\u0000"}"#,
        )
        .answers(400, "E011003"),
        case(
            "a guessed token",
            MAGIC_LINK,
            auth.clone(),
            &body(json!({"token": "A".repeat(52)})),
        )
        .answers(401, "E061102"),
        case("no project", MAGIC_LINK, None, &body(json!({"token": "A".repeat(52)}))).answers(401, "E011003"),
        // Recovery codes: redeeming, creating, and support's removal.
        case("empty body", RECOVERY, auth.clone(), ""),
        case("no recoveryCode", RECOVERY, auth.clone(), &body(json!({ "loginId": KEPT }))).answers(400, "E011002"),
        case("recoveryCode empty", RECOVERY, auth.clone(), &body(json!({"loginId": KEPT, "recoveryCode": ""})))
            .answers(400, "E011002"),
        case("recoveryCode a number", RECOVERY, auth.clone(), &body(json!({"loginId": KEPT, "recoveryCode": 7}))),
        case("recoveryCode too short", RECOVERY, auth.clone(), &body(json!({"loginId": KEPT, "recoveryCode": "ABCD-EFGH-IJK"})))
            .answers(400, "E011003"),
        case("recoveryCode with a 1", RECOVERY, auth.clone(), &body(json!({"loginId": KEPT, "recoveryCode": "ABCD-EFGH-IJK1"})))
            .answers(400, "E011003"),
        case("recoveryCode with a tab", RECOVERY, auth.clone(), &body(json!({"loginId": KEPT, "recoveryCode": "ABCD\tEFGH-IJKL"})))
            .answers(400, "E011003"),
        case("recoveryCode of 65 characters", RECOVERY, auth.clone(), &body(json!({"loginId": KEPT, "recoveryCode": format!("ABCDEFGHIJKL{}", " ".repeat(53))})))
            .answers(400, "E011003"),
        case("recovery without loginId", RECOVERY, auth.clone(), &body(json!({"recoveryCode": "ABCD-EFGH-IJKL"})))
            .answers(400, "E011002"),
        case("recovery customClaims of 4 KiB", RECOVERY, auth.clone(), &body(json!({"loginId": KEPT, "recoveryCode": "ABCD-EFGH-IJKL", "loginOptions": {"customClaims": {"blob": "x".repeat(4096)}}})))
            .answers(400, "E011003"),
        case("no project", RECOVERY, None, &body(json!({"loginId": KEPT, "recoveryCode": "ABCD-EFGH-IJKL"})))
            .answers(401, "E011003"),
        case("empty body", RECOVERY_CODES, session.clone(), ""),
        case("no code", RECOVERY_CODES, session.clone(), &body(json!({ "loginId": KEPT }))).answers(400, "E011002"),
        case("code of 5 digits", RECOVERY_CODES, session.clone(), &body(json!({"loginId": KEPT, "code": "12345"})))
            .answers(400, "E011003"),
        case("no refresh JWT", RECOVERY_CODES, auth.clone(), &body(json!({"loginId": KEPT, "code": "123456"})))
            .answers(401, "E061004"),
        case("another user's loginId", RECOVERY_CODES, session.clone(), &body(json!({"loginId": "pending@example.com", "code": "123456"})))
            .answers(401, "E061004"),
        case("empty body", MGMT_RECOVERY_DELETE, mgmt.clone(), ""),
        case("no loginId", MGMT_RECOVERY_DELETE, mgmt.clone(), "{}").answers(400, "E011002"),
        case("a refresh JWT for a key", MGMT_RECOVERY_DELETE, session.clone(), &body(json!({ "loginId": KEPT })))
            .answers(401, "E011003"),
        // Creating a user: every field checked before anything is written.
        case("empty body", MGMT_CREATE, mgmt.clone(), ""),
        case("an array", MGMT_CREATE, mgmt.clone(), r#"[{"loginId": "new@example.com"}]"#),
        case("no loginId", MGMT_CREATE, mgmt.clone(), r#"{"displayName": "Eve"}"#).answers(400, "E011002"),
        case("seed of 20 bits", MGMT_CREATE, mgmt.clone(), &create(json!({"seed": "AAAA"}))).answers(400, "E011003"),
        case("seed of 80 bits", MGMT_CREATE, mgmt.clone(), &create(json!({ "seed": SHORT_SEED }))).answers(400, "E011003"),
        case("seed a number", MGMT_CREATE, mgmt.clone(), &create(json!({"seed": 12345}))),
        case(
            "seed not base32",
            MGMT_CREATE,
            mgmt.clone(),
            &create(json!({"seed": "GEZDGNBVGY3TQOJQ-GEZDGNBVGY3TQOJQ"})),
        )
        .answers(400, "E011003"),
        case(
            "seed an HOTP URL",
            MGMT_CREATE,
            mgmt.clone(),
            &create(json!({"seed": "otpauth://hotp/a?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=1"})),
        )
        .answers(400, "E011003"),
        case(
            "seed with 7 digits",
            MGMT_CREATE,
            mgmt.clone(),
            &create(json!({"seed": "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=7"})),
        )
        .answers(400, "E011003"),
        case(
            "seed with its secret twice",
            MGMT_CREATE,
            mgmt.clone(),
            &create(json!({"seed": "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"})),
        )
        .answers(400, "E011003"),
        case("seed of 2049 characters", MGMT_CREATE, mgmt.clone(), &create(json!({"seed": "A".repeat(2049)})))
            .answers(400, "E011003"),
        case("status invited", MGMT_CREATE, mgmt.clone(), &create(json!({"status": "invited"}))).answers(400, "E011003"),
        case("status a boolean", MGMT_CREATE, mgmt.clone(), &create(json!({"status": true}))),
        case("email malformed", MGMT_CREATE, mgmt.clone(), &create(json!({"email": "not-an-address"})))
            .answers(400, "E011003"),
        case("escape in displayName", MGMT_CREATE, mgmt.clone(), &create(json!({"displayName": "\u{1b}[31m"})))
            .answers(400, "E011003"),
        case("zero-width space after a registered loginId", MGMT_CREATE, mgmt.clone(), &body(json!({ "loginId": zero_width })))
            .answers(400, "E011003"),
        case("a registered loginId", MGMT_CREATE, mgmt.clone(), &body(json!({ "loginId": KEPT }))).answers(409, "E062107"),
        case("a refresh JWT for a key", MGMT_CREATE, session.clone(), &create(json!({}))).answers(401, "E011003"),
        case("10 MB body", MGMT_CREATE, mgmt.clone(), &ten_mb).answers(413, "E011001"),
        case("PUT", MGMT_CREATE, mgmt.clone(), &create(json!({})))
            .method(Method::PUT)
            .answers(405, "E011001"),
        // A batch: the shape of the call is checked first; then each user on its own.
        case("users not an array", MGMT_CREATE_BATCH, mgmt.clone(), &body(json!({"users": {"loginId": "new@example.com"}}))),
        case("users a string", MGMT_CREATE_BATCH, mgmt.clone(), r#"{"users": "new@example.com"}"#),
        case("no users", MGMT_CREATE_BATCH, mgmt.clone(), r#"{"invite": true}"#).answers(400, "E011002"),
        case("users empty", MGMT_CREATE_BATCH, mgmt.clone(), r#"{"users": []}"#).answers(400, "E011002"),
        case("101 users", MGMT_CREATE_BATCH, mgmt.clone(), &body(json!({ "users": many_users })))
            .answers(400, "E011003"),
        case("users twice", MGMT_CREATE_BATCH, mgmt.clone(), r#"{"users": [], "users": [{"loginId": "new@example.com"}]}"#),
        case("a user with a seed of 20 bits", MGMT_CREATE_BATCH, mgmt.clone(), &one_user(json!({"loginId": "new@example.com", "seed": "AAAA"})))
            .fails_alone("E011003"),
        case("a user with a seed of 80 bits", MGMT_CREATE_BATCH, mgmt.clone(), &one_user(json!({"loginId": "new@example.com", "seed": SHORT_SEED})))
            .fails_alone("E011003"),
        case("a user with a seed of SHA384", MGMT_CREATE_BATCH, mgmt.clone(), &one_user(json!({"loginId": "new@example.com", "seed": "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA384"})))
            .fails_alone("E011003"),
        case("a user invited", MGMT_CREATE_BATCH, mgmt.clone(), &one_user(json!({"loginId": "new@example.com", "status": "invited"})))
            .fails_alone("E011003"),
        case("a user that is a number", MGMT_CREATE_BATCH, mgmt.clone(), &one_user(json!(42))).fails_alone("E011001"),
        case("a user with loginId a number", MGMT_CREATE_BATCH, mgmt.clone(), &one_user(json!({"loginId": 42})))
            .fails_alone("E011001"),
        case("a user without loginId", MGMT_CREATE_BATCH, mgmt.clone(), &one_user(json!({"displayName": "Eve"})))
            .fails_alone("E011002"),
        case("a look-alike of a registered user", MGMT_CREATE_BATCH, mgmt.clone(), &one_user(json!({ "loginId": zero_width })))
            .fails_alone("E011003"),
        case("a registered user", MGMT_CREATE_BATCH, mgmt.clone(), &one_user(json!({ "loginId": KEPT })))
            .fails_alone("E062107"),
        case("10 MB body", MGMT_CREATE_BATCH, mgmt.clone(), &ten_mb).answers(413, "E011001"),
        case("another project's key", MGMT_CREATE_BATCH, Some(format!("Bearer {PROJECT}:{MGMT_KEY_B}")), &one_user(json!({"loginId": "new@example.com"})))
            .answers(401, "E011003"),
        // Status: enabled or disabled, of a registered user.
        case("status invited", MGMT_STATUS, mgmt.clone(), &body(json!({"loginId": KEPT, "status": "invited"})))
            .answers(400, "E011003"),
        case("status in capitals", MGMT_STATUS, mgmt.clone(), &body(json!({"loginId": KEPT, "status": "DISABLED"})))
            .answers(400, "E011003"),
        case("no status", MGMT_STATUS, mgmt.clone(), &body(json!({ "loginId": KEPT }))).answers(400, "E011002"),
        case("status empty", MGMT_STATUS, mgmt.clone(), &body(json!({"loginId": KEPT, "status": ""})))
            .answers(400, "E011002"),
        case("status a boolean", MGMT_STATUS, mgmt.clone(), &body(json!({"loginId": KEPT, "status": false}))),
        case("no loginId", MGMT_STATUS, mgmt.clone(), r#"{"status": "disabled"}"#).answers(400, "E011002"),
        case("a pending sign-up", MGMT_STATUS, mgmt.clone(), &body(json!({"loginId": "pending@example.com", "status": "disabled"})))
            .answers(404, "E062108"),
        case("a refresh JWT for a key", MGMT_STATUS, session.clone(), &body(json!({"loginId": KEPT, "status": "disabled"})))
            .answers(401, "E011003"),
        // Search: a page of at most 100, from page 0.
        case("empty body", MGMT_SEARCH, mgmt.clone(), ""),
        case("limit 101", MGMT_SEARCH, mgmt.clone(), &body(json!({"limit": 101}))).answers(400, "E011003"),
        case("limit -1", MGMT_SEARCH, mgmt.clone(), &body(json!({"limit": -1}))).answers(400, "E011003"),
        case("page -1", MGMT_SEARCH, mgmt.clone(), &body(json!({"page": -1}))).answers(400, "E011003"),
        case("limit a string", MGMT_SEARCH, mgmt.clone(), &body(json!({"limit": "10"}))),
        case("statuses active", MGMT_SEARCH, mgmt.clone(), &body(json!({"statuses": ["active"]}))).answers(400, "E011003"),
        case("statuses a string", MGMT_SEARCH, mgmt.clone(), &body(json!({"statuses": "enabled"}))),
        case("101 loginIds", MGMT_SEARCH, mgmt.clone(), &body(json!({ "loginIds": many_login_ids }))).answers(400, "E011003"),
        case("an empty loginId", MGMT_SEARCH, mgmt.clone(), &body(json!({"loginIds": [KEPT, ""]}))).answers(400, "E011003"),
        case("text of 257 characters", MGMT_SEARCH, mgmt.clone(), &body(json!({"text": "x".repeat(257)})))
            .answers(400, "E011003"),
        case("GET", MGMT_SEARCH, mgmt.clone(), "").method(Method::GET).answers(405, "E011001"),
        // The audit search: times in whole milliseconds, ids and actions of letters and digits.
        case("empty body", AUDIT_SEARCH, mgmt.clone(), ""),
        case("from -1", AUDIT_SEARCH, mgmt.clone(), &body(json!({"from": -1}))).answers(400, "E011003"),
        case("to 1.5", AUDIT_SEARCH, mgmt.clone(), &body(json!({"to": 1.5}))).answers(400, "E011003"),
        case("to past 13 digits", AUDIT_SEARCH, mgmt.clone(), &body(json!({"to": 10_000_000_000_000u64})))
            .answers(400, "E011003"),
        case("a userId with ';'", AUDIT_SEARCH, mgmt.clone(), &body(json!({"userIds": ["U2;x"]}))).answers(400, "E011003"),
        case("an empty action", AUDIT_SEARCH, mgmt.clone(), &body(json!({"actions": [""]}))).answers(400, "E011003"),
        case("101 excluded actions", AUDIT_SEARCH, mgmt.clone(), &body(json!({"excludedActions": vec!["LoginFailed"; 101]})))
            .answers(400, "E011003"),
        case("a look-alike loginId", AUDIT_SEARCH, mgmt.clone(), &body(json!({"externalIds": ["a\u{200B}@example.com"]})))
            .answers(400, "E011003"),
        case("text of 257 characters", AUDIT_SEARCH, mgmt.clone(), &body(json!({"text": "x".repeat(257)})))
            .answers(400, "E011003"),
        case("userIds a string", AUDIT_SEARCH, mgmt.clone(), &body(json!({"userIds": "U2x"}))),
        case("no management key", AUDIT_SEARCH, Some(bearer(PROJECT)), "{}").answers(401, "E011003"),
        case("GET", AUDIT_SEARCH, mgmt.clone(), "").method(Method::GET).answers(405, "E011001"),
        // Delete by userId: every id is checked before any user is deleted.
        case("101 userIds", MGMT_DELETE_BATCH, mgmt.clone(), &body(json!({ "userIds": many_ids }))).answers(400, "E011003"),
        case("userIds empty", MGMT_DELETE_BATCH, mgmt.clone(), r#"{"userIds": []}"#).answers(400, "E011002"),
        case("no userIds", MGMT_DELETE_BATCH, mgmt.clone(), "{}").answers(400, "E011002"),
        case("an empty userId", MGMT_DELETE_BATCH, mgmt.clone(), &body(json!({"userIds": [kept_user_id, ""]})))
            .answers(400, "E011002"),
        case("a userId with a dash", MGMT_DELETE_BATCH, mgmt.clone(), &body(json!({"userIds": [kept_user_id, "U2-ABC"]})))
            .answers(400, "E011003"),
        case("a userId of 65 characters", MGMT_DELETE_BATCH, mgmt.clone(), &body(json!({"userIds": [kept_user_id, "U".repeat(65)]})))
            .answers(400, "E011003"),
        case("userIds a string", MGMT_DELETE_BATCH, mgmt.clone(), &body(json!({ "userIds": kept_user_id }))),
        case("a userId a number", MGMT_DELETE_BATCH, mgmt.clone(), &body(json!({"userIds": [kept_user_id, 7]}))),
        case("a refresh JWT for a key", MGMT_DELETE_BATCH, session.clone(), &body(json!({ "userIds": [kept_user_id] })))
            .answers(401, "E011003"),
        // Load by userId.
        case("userId with a dash", MGMT_LOAD, mgmt.clone(), "").query_user_id("U2-ABC").answers(400, "E011003"),
        case("userId with a NUL", MGMT_LOAD, mgmt.clone(), "").query_user_id("U2\u{0}").answers(400, "E011003"),
        case("userId of 65 characters", MGMT_LOAD, mgmt.clone(), "")
            .query_user_id(&"U".repeat(65))
            .answers(400, "E011003"),
        case("userId empty", MGMT_LOAD, mgmt.clone(), "").query_user_id("").answers(400, "E011002"),
        // try-refresh: no session is no error, but a body that is no object still is.
        case("null", TRY_REFRESH, session.clone(), "null"),
        case("an array", TRY_REFRESH, auth.clone(), "[]"),
        case("no project", TRY_REFRESH, None, "{}").answers(401, "E011003"),
        case("10 MB body", TRY_REFRESH, session.clone(), &ten_mb).answers(413, "E011001"),
        case("GET", TRY_REFRESH, session.clone(), "")
            .method(Method::GET)
            .answers(405, "E011001"),
    ]
}

#[tokio::test]
async fn every_bad_input_gets_its_answer_and_changes_nothing() {
    let h = Harness::new().await;
    let (_, signed_in) = h.register(KEPT).await;
    let refresh_jwt = refresh_of(&signed_in);
    let kept_user_id = signed_in["user"]["userId"].as_str().unwrap().to_owned();
    assert_eq!(h.signup("pending@example.com").await.0, 200);
    let before = h.scan().await;
    let cases = corpus(&refresh_jwt, &kept_user_id);
    for case in &cases {
        let (status, body) = send(&h, case).await;
        let what = format!("{} on {} {}: {body}", case.what, case.method, case.path);
        // A seed is never echoed, whatever is wrong with the request.
        assert!(!body.to_string().contains(SHORT_SEED), "{what}");
        if case.fails_alone {
            assert_eq!(status, 200, "{what}");
            assert_eq!(body["createdUsers"], json!([]), "{what}");
            let failed = body["failedUsers"].as_array().expect("failedUsers");
            assert_eq!(failed.len(), 1, "{what}");
            let failure = failed[0]["failure"].as_str().unwrap_or_default();
            assert!(failure.starts_with(&format!("{}: ", case.error_code)), "{what}");
            continue;
        }
        assert_eq!((status, error_code(&body)), (case.status, case.error_code), "{what}");
    }
    assert_eq!(h.scan().await, before, "a bad request changed the table");
    // The session the corpus tried to abuse still refreshes: nothing was revoked.
    assert_eq!(h.session("/v1/auth/refresh", &refresh_jwt).await.0, 200);
}

#[tokio::test]
async fn a_json_body_is_read_whatever_its_content_type_says() {
    // The contract says bodies are JSON; the header is not what decides it.
    let h = Harness::new().await;
    for (content_type, login_id) in [
        ("text/plain", "plain@example.com"),
        ("application/json; charset=utf-8", "charset@example.com"),
        ("", "none@example.com"),
    ] {
        let case = case(
            "JSON body",
            SIGNUP,
            Some(bearer(PROJECT)),
            &body(json!({ "loginId": login_id })),
        )
        .content_type(content_type);
        let (status, body) = send(&h, &case).await;
        assert_eq!(status, 200, "{content_type:?}: {body}");
    }
}

#[tokio::test]
async fn look_alike_login_ids_cannot_become_two_users() {
    let h = Harness::new().await;
    let composed = "Zo\u{EB}.m\u{FC}ller@example.com";
    let decomposed = "Zoe\u{308}.mu\u{308}ller@example.com";
    assert_ne!(composed, decomposed);
    let (key, signed_in) = h.register(composed).await;
    assert_eq!(signed_in["user"]["loginIds"], json!([composed]));

    // The decomposed spelling is the same user: sign-up is refused as a
    // duplicate, and its code signs in the composed user.
    let (status, body) = h.signup(decomposed).await;
    assert_eq!((status, error_code(&body)), (409, "E062107"), "{body}");
    h.advance(30);
    let (status, body) = h.verify(decomposed, &code(&key, h.now())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["loginIds"], json!([composed]));
    assert_eq!(body["user"]["userId"], signed_in["user"]["userId"]);

    // Invisible and reordering characters are refused, not stored as a new user.
    for look_alike in [
        format!("{composed}\u{200B}"),
        format!("\u{2067}{composed}\u{2069}"),
        format!("\u{202E}{composed}"),
        "alice@example.com\u{200B}".to_owned(),
    ] {
        let (status, body) = h.signup(&look_alike).await;
        assert_eq!((status, error_code(&body)), (400, "E011003"), "{look_alike:?}: {body}");
    }
    assert_eq!(h.user_items().await.len(), 1, "one user: {:?}", h.scan().await);
    assert_eq!(h.scan().await.len(), 2, "and its userId pointer, nothing else");
}
