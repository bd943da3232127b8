//! The HTTP edge: API Gateway events in, Descope-shaped JSON out. One
//! module per route group; this one holds what they share: the bearer,
//! body parsing, the response shapes, `serve`, which checks the method,
//! renders the one reply of each outcome and logs every request once,
//! without secrets, and each function's entry, which applies the CORS
//! policy (`cors`) around it.

use std::sync::OnceLock;
use std::time::Instant;

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};

use crate::config::Config;
use crate::domain::ProjectId;
use crate::error::Error;
use crate::management_keys::ManagementKeys;
use crate::service::{App, SignedIn, UserView};
use crate::store::Store;
use crate::tokens::ProjectKeys;

mod body;
pub mod cors;
mod keys;
mod management;
mod sessions;
mod totp;

/// Serves `handler` as `lambda_http::run` does, with the event's `Host` and
/// `X-Forwarded-Proto` headers checked first. lambda_http builds the request's
/// URL from them and panics on one that does not parse (an unwrap in its
/// `build_request_uri`), and an empty Host moves the path's first segment into
/// the host. API Gateway sets both itself; any other front (or `cargo lambda
/// watch`) may pass a client's: an unsound one is dropped, and the URL is then
/// built from the request context's domain name, or is relative.
pub async fn run<'a, S, R, E>(handler: S) -> Result<(), lambda_http::Error>
where
    S: lambda_http::Service<Request, Response = R, Error = E>,
    S::Future: Send + 'a,
    R: lambda_http::IntoResponse + 'a,
    E: std::fmt::Debug + Into<lambda_http::lambda_runtime::Diagnostic>,
{
    use lambda_http::request::LambdaRequest;
    use lambda_http::{Adapter, LambdaEvent, Service};
    let mut adapter: Adapter<'a, R, S> = Adapter::from(handler);
    lambda_http::lambda_runtime::run(lambda_http::service_fn(move |mut event: LambdaEvent<LambdaRequest>| {
        sound_forwarding(&mut event.payload);
        adapter.call(event)
    }))
    .await
}

/// Drops a `Host` or `X-Forwarded-Proto` header lambda_http could not build a URL from.
pub fn sound_forwarding(request: &mut lambda_http::request::LambdaRequest) {
    use lambda_http::request::LambdaRequest;
    let (headers, multi) = match request {
        LambdaRequest::ApiGatewayV1(ag) => (&mut ag.headers, Some(&mut ag.multi_value_headers)),
        LambdaRequest::ApiGatewayV2(ag) => (&mut ag.headers, None),
        // No other kind of event is enabled (Cargo.toml's lambda_http features).
        _ => return,
    };
    let proto = header::HeaderName::from_static("x-forwarded-proto");
    for headers in std::iter::once(headers).chain(multi) {
        if unsound(headers, &header::HOST, host_is_sound) {
            headers.remove(header::HOST);
        }
        if unsound(headers, &proto, |p| {
            p.eq_ignore_ascii_case("https") || p.eq_ignore_ascii_case("http")
        }) {
            headers.remove(&proto);
        }
    }
}

/// Whether any value of `name` is not text that `sound` accepts.
fn unsound(headers: &lambda_http::http::HeaderMap, name: &header::HeaderName, sound: fn(&str) -> bool) -> bool {
    headers.get_all(name).iter().any(|v| !v.to_str().is_ok_and(sound))
}

/// A host that makes `https://<host>/` a URL with that host and nothing of it
/// spilled into the path, query or fragment.
fn host_is_sound(host: &str) -> bool {
    !host.is_empty()
        && url::Url::parse(&format!("https://{host}/"))
            .is_ok_and(|u| u.host_str().is_some() && u.path() == "/" && u.query().is_none() && u.fragment().is_none())
}

// Each function's entry: the CORS policy of ALLOWED_ORIGINS around its route(s).

/// POST /v1/auth/totp/signup
pub async fn signup<S: Store>(app: &App<S>, request: Request) -> HandlerResult {
    cors::with_cors(&app.config.allowed_origins, request, async |r| {
        totp::signup(app, r).await
    })
    .await
}

/// POST /v1/auth/totp/verify
pub async fn verify<S: Store>(app: &App<S>, request: Request) -> HandlerResult {
    cors::with_cors(&app.config.allowed_origins, request, async |r| {
        totp::verify(app, r).await
    })
    .await
}

/// POST /v1/auth/totp/update
pub async fn update<S: Store>(app: &App<S>, request: Request) -> HandlerResult {
    cors::with_cors(&app.config.allowed_origins, request, async |r| {
        totp::update(app, r).await
    })
    .await
}

/// POST /v1/auth/refresh, POST /v1/auth/logout, POST /v1/auth/logoutall, GET /v1/auth/me
pub async fn sessions<S: Store>(app: &App<S>, request: Request) -> HandlerResult {
    cors::with_cors(&app.config.allowed_origins, request, async |r| {
        sessions::sessions(app, r).await
    })
    .await
}

/// The /v1/mgmt/user... routes.
pub async fn management<S: Store>(app: &App<S>, keys: &ManagementKeys, request: Request) -> HandlerResult {
    cors::with_cors(&app.config.allowed_origins, request, async |r| {
        management::management(app, keys, r).await
    })
    .await
}

/// GET /v2/keys/{projectId}
pub async fn keys(config: &Config, tokens: &ProjectKeys, request: Request) -> HandlerResult {
    cors::with_cors(&config.allowed_origins, request, async |r| {
        keys::keys(config, tokens, r).await
    })
    .await
}

pub(crate) use body::json_body;
pub use body::MAX_BODY_BYTES;
/// How long clients may cache the JWKS. A rotation publishes the new key at
/// least this long before it signs (see docs/keys.md).
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

pub(crate) type HandlerResult = Result<Response<Body>, lambda_http::Error>;

/// The Authorization header: `Bearer <projectId>[:<refreshJwt>][:<key>]`.
#[derive(Debug)]
pub struct Bearer {
    pub project: ProjectId,
    pub jwt: Option<String>,
}

/// What follows `Bearer ` in the Authorization header, trimmed.
pub(crate) fn bearer_credentials(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim())
}

/// The route of `path` in `routes`, matched at the end of the path: API
/// Gateway may put a stage or a base path in front. Longer suffixes first.
pub(crate) fn route_of<R: Copy>(path: &str, routes: &[(&str, R)]) -> Option<R> {
    let path = path.trim_end_matches('/');
    routes
        .iter()
        .find(|(suffix, _)| path.ends_with(suffix))
        .map(|(_, route)| *route)
}

pub fn bearer(request: &Request, config: &Config) -> Result<Bearer, Error> {
    let credentials = bearer_credentials(request).ok_or(Error::Unauthorized)?;
    let mut parts = credentials.split(':');
    let project = parts.next().and_then(|p| config.serves(p)).ok_or(Error::Unauthorized)?;
    // The part with two dots is the JWT; a management key suffix is ignored.
    let jwt = parts.find(|p| p.matches('.').count() == 2).map(str::to_owned);
    Ok(Bearer { project, jwt })
}

pub(crate) fn jwt_response_json(s: SignedIn) -> Value {
    let u = s.user;
    json!({
        "sessionJwt": s.session_jwt,
        "refreshJwt": s.refresh_jwt,
        "cookieDomain": "",
        "cookiePath": "/",
        "cookieMaxAge": s.refresh_ttl_seconds,
        "cookieExpiration": s.refresh_expires_at,
        "user": user_json(u),
        "firstSeen": s.first_seen,
    })
}

/// Descope's user object, every field present.
pub(crate) fn user_json(u: UserView) -> Value {
    json!({
            "loginIds": [u.login_id],
            "userId": u.user_id,
            "name": u.profile.name,
            "givenName": u.profile.given_name,
            "middleName": u.profile.middle_name,
            "familyName": u.profile.family_name,
            "email": u.profile.email,
            "verifiedEmail": false,
            "phone": u.profile.phone,
            "verifiedPhone": false,
            "roleNames": [],
            "userTenants": [],
            "status": if u.disabled { "disabled" } else { "enabled" },
            "externalIds": [],
            "picture": "",
            "test": false,
            "customAttributes": {},
            "createdTime": u.created_time,
            "TOTP": u.totp,
            "SAML": false,
            "OAuth": {},
            "webauthn": false,
            "password": false,
            "ssoAppIds": u.sso_app_ids,
            "editable": true,
            "SCIM": false,
            // Our own field: how many recovery codes the user has left.
            "recoveryCodes": u.recovery_codes,
    })
}

fn json_response(status: u16, body: &Value, cache_control: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    response
}

fn error_response(error: &Error) -> Response<Body> {
    let reply = error.reply();
    let body = json!({"errorCode": reply.code, "errorDescription": reply.description, "errorMessage": reply.message});
    let mut response = json_response(reply.status, &body, "no-store");
    if let Some(seconds) = reply.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Runs one request of `route`: checks the method, turns the outcome into a
/// response and logs it (request id, route, status, error code, latency).
pub(crate) async fn serve<F>(
    route: &'static str,
    method: Method,
    request: Request,
    cache_control: &'static str,
    work: F,
) -> HandlerResult
where
    F: AsyncFnOnce(Request) -> Result<Value, Error>,
{
    let started = Instant::now();
    let request_id = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let outcome = if request.method() == method {
        work(request).await
    } else {
        Err(Error::MethodNotAllowed)
    };
    let response = match &outcome {
        Ok(body) => json_response(200, body, cache_control),
        Err(error) => {
            let mut response = error_response(error);
            if *error == Error::MethodNotAllowed {
                response.headers_mut().insert(
                    header::ALLOW,
                    HeaderValue::from_str(method.as_str()).unwrap_or(HeaderValue::from_static("POST")),
                );
            }
            response
        }
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    let error_code = outcome.as_ref().err().map(|e| e.reply().code).unwrap_or("");
    let (function, version) = deployed();
    tracing::info!(request_id, route, status, error_code, latency_ms, function, version, "request");
    Ok(response)
}

/// The function and version this process runs, as Lambda names them: on the
/// request line, so that during a canary the rollback alarms count the new
/// version's answers apart from the old one's (template.yaml's
/// `*ByVersion` metric filters).
fn deployed() -> (&'static str, &'static str) {
    static DEPLOYED: OnceLock<(String, String)> = OnceLock::new();
    let (function, version) = DEPLOYED.get_or_init(|| {
        let var = |name| std::env::var(name).unwrap_or_default();
        (var("AWS_LAMBDA_FUNCTION_NAME"), var("AWS_LAMBDA_FUNCTION_VERSION"))
    });
    (function, version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::request::LambdaRequest;

    /// events/<name> with these forwarding headers, in `headers` and, for a
    /// REST event, `multiValueHeaders` too.
    fn event(name: &str, host: &str, proto: &str) -> LambdaRequest {
        let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for (field, value) in [("host", host), ("x-forwarded-proto", proto)] {
            for (map, value) in [("headers", json!(value)), ("multiValueHeaders", json!([value]))] {
                if let Some(Value::Object(headers)) = json.get_mut(map) {
                    headers.retain(|name, _| !name.eq_ignore_ascii_case(field));
                    headers.insert(field.into(), value);
                }
            }
        }
        serde_json::from_value(json).unwrap()
    }

    fn path_of(request: LambdaRequest) -> std::thread::Result<String> {
        std::panic::catch_unwind(|| Request::from(request).uri().path().to_owned())
    }

    #[test]
    fn an_unparsable_forwarded_proto_would_panic_and_is_dropped() {
        for name in ["verify-http-api.json", "verify-rest-api.json"] {
            let raw = event(name, "a1b2c3d4e5.example.com", "!!OxeU0>=,|");
            assert!(path_of(raw).is_err(), "{name}: lambda_http panics on it");
            let mut checked = event(name, "a1b2c3d4e5.example.com", "!!OxeU0>=,|");
            sound_forwarding(&mut checked);
            // (A REST event's path carries its stage.)
            assert!(path_of(checked).unwrap().ends_with("/v1/auth/totp/verify"), "{name}");
        }
    }

    #[test]
    fn an_empty_or_unparsable_host_is_dropped_and_the_path_kept() {
        for host in ["", "ID(S.[kDHm", "a/b", "a?b", "a#b", "a b"] {
            let mut checked = event("verify-http-api.json", host, "https");
            sound_forwarding(&mut checked);
            assert_eq!(path_of(checked).unwrap(), "/v1/auth/totp/verify", "{host:?}");
        }
        // Unchecked, the empty Host moves the path's first segment into the host.
        let raw = event("verify-http-api.json", "", "https");
        assert_ne!(path_of(raw).unwrap(), "/v1/auth/totp/verify");
    }

    #[test]
    fn sound_forwarding_headers_are_kept() {
        for (host, proto) in [
            ("a1b2c3d4e5.example.com", "https"),
            ("127.0.0.1:9000", "http"),
            ("EXAMPLE.com", "HTTPS"),
        ] {
            let mut checked = event("verify-rest-api.json", host, proto);
            sound_forwarding(&mut checked);
            let LambdaRequest::ApiGatewayV1(ag) = &checked else {
                panic!("a REST event")
            };
            assert_eq!(ag.headers.get("host").unwrap(), host);
            assert_eq!(ag.headers.get("x-forwarded-proto").unwrap(), proto);
            assert_eq!(ag.multi_value_headers.get("x-forwarded-proto").unwrap(), proto);
        }
    }
}
