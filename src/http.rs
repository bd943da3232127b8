//! The HTTP edge: API Gateway events in, Descope-shaped JSON out.
//! Parses and validates, calls the service, and renders the one reply of
//! each outcome. Every request is logged once, without secrets.

use std::time::Instant;

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::domain::{Code, LoginId, Profile, ProfileInput, ProjectId};
use crate::error::Error;
use crate::otpauth::Provisioning;
use crate::service::{App, SignedIn, SignupRequest, VerifyRequest};
use crate::store::Store;
use crate::tokens::TokenKeys;

/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long clients may cache the JWKS. A rotation publishes the new key at
/// least this long before it signs (see the README).
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

type HandlerResult = Result<Response<Body>, lambda_http::Error>;

/// The Authorization header: `Bearer <projectId>[:<refreshJwt>][:<key>]`.
#[derive(Debug)]
pub struct Bearer {
    pub project: ProjectId,
    pub jwt: Option<String>,
}

pub fn bearer(request: &Request, config: &Config) -> Result<Bearer, Error> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(Error::Unauthorized)?;
    let (scheme, credentials) = value.trim().split_once(' ').ok_or(Error::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::Unauthorized);
    }
    let mut parts = credentials.trim().split(':');
    let project = parts.next().and_then(|p| config.serves(p)).ok_or(Error::Unauthorized)?;
    // The part with two dots is the JWT; a management key suffix is ignored.
    let jwt = parts.find(|p| p.matches('.').count() == 2).map(str::to_owned);
    Ok(Bearer { project, jwt })
}

/// The body as a JSON object of type `T`, within the size limit.
fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, Error> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => return Err(Error::MalformedBody),
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::BodyTooLarge);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|_| Error::MalformedBody)?;
    if !value.is_object() {
        return Err(Error::MalformedBody);
    }
    serde_json::from_value(value).map_err(|_| Error::MalformedBody)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignupBody {
    login_id: Option<String>,
    user: Option<UserBody>,
    sso_app_id: Option<String>,
}

/// Unknown keys in `user` are ignored, as the contract says.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UserBody {
    name: Option<String>,
    given_name: Option<String>,
    middle_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyBody {
    login_id: Option<String>,
    code: Option<String>,
    login_options: Option<LoginOptionsBody>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LoginOptionsBody {
    stepup: Option<bool>,
    mfa: Option<bool>,
    custom_claims: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    login_id: Option<String>,
}

fn parse_signup(request: &Request) -> Result<SignupRequest, Error> {
    let body: SignupBody = json_body(request)?;
    let login_id = LoginId::parse(body.login_id.as_deref())?;
    let user = body.user.unwrap_or_default();
    let profile = Profile::parse(ProfileInput {
        name: user.name.as_deref(),
        given_name: user.given_name.as_deref(),
        middle_name: user.middle_name.as_deref(),
        family_name: user.family_name.as_deref(),
        email: user.email.as_deref(),
        phone: user.phone.as_deref(),
    })?;
    let sso_app_id = body.sso_app_id.filter(|s| !s.is_empty());
    if sso_app_id
        .as_ref()
        .is_some_and(|s| s.len() > 256 || s.chars().any(char::is_control))
    {
        return Err(Error::InvalidArgument("ssoAppId"));
    }
    Ok(SignupRequest {
        login_id,
        profile,
        sso_app_id,
    })
}

fn parse_verify(request: &Request, refresh_jwt: Option<String>) -> Result<VerifyRequest, Error> {
    let body: VerifyBody = json_body(request)?;
    let login_id = LoginId::parse(body.login_id.as_deref())?;
    let code = Code::parse(body.code.as_deref())?;
    let options = body.login_options.unwrap_or_default();
    Ok(VerifyRequest {
        login_id,
        code,
        step_up: options.stepup.unwrap_or(false) || options.mfa.unwrap_or(false),
        refresh_jwt,
        custom_claims: options.custom_claims,
    })
}

fn provisioning_json(p: Provisioning) -> Value {
    json!({"provisioningURL": p.url, "image": p.image_png_base64, "key": p.key})
}

/// Descope's JWTResponse, every user field present.
fn jwt_response_json(s: SignedIn) -> Value {
    let u = s.user;
    json!({
        "sessionJwt": s.session_jwt,
        "refreshJwt": s.refresh_jwt,
        "cookieDomain": "",
        "cookiePath": "/",
        "cookieMaxAge": s.refresh_ttl_seconds,
        "cookieExpiration": s.refresh_expires_at,
        "user": {
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
            "status": "enabled",
            "externalIds": [],
            "picture": "",
            "test": false,
            "customAttributes": {},
            "createdTime": u.created_time,
            "TOTP": true,
            "SAML": false,
            "OAuth": {},
            "webauthn": false,
            "password": false,
            "ssoAppIds": u.sso_app_ids,
            "editable": true,
            "SCIM": false,
        },
        "firstSeen": s.first_seen,
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
async fn serve<F>(
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
    tracing::info!(request_id, route, status, error_code, latency_ms, "request");
    Ok(response)
}

/// POST /v1/auth/totp/signup
pub async fn signup<S: Store>(app: &App<S>, request: Request) -> HandlerResult {
    serve("signup", Method::POST, request, "no-store", async |request| {
        let bearer = bearer(&request, &app.config)?;
        let signup = parse_signup(&request)?;
        app.signup(bearer.project, signup).await.map(provisioning_json)
    })
    .await
}

/// POST /v1/auth/totp/verify
pub async fn verify<S: Store>(app: &App<S>, request: Request) -> HandlerResult {
    serve("verify", Method::POST, request, "no-store", async |request| {
        let bearer = bearer(&request, &app.config)?;
        let verify = parse_verify(&request, bearer.jwt)?;
        app.verify(bearer.project, verify).await.map(jwt_response_json)
    })
    .await
}

/// POST /v1/auth/totp/update
pub async fn update<S: Store>(app: &App<S>, request: Request) -> HandlerResult {
    serve("update", Method::POST, request, "no-store", async |request| {
        let bearer = bearer(&request, &app.config)?;
        let body: UpdateBody = json_body(&request)?;
        let login_id = LoginId::parse(body.login_id.as_deref())?;
        app.update(bearer.project, bearer.jwt.as_deref(), login_id)
            .await
            .map(provisioning_json)
    })
    .await
}

/// The `{projectId}` of `/v2/keys/{projectId}`: from API Gateway's path
/// parameters, else from the path itself (local emulators, REST stages).
fn keys_project(request: &Request) -> Option<String> {
    if let Some(p) = request.path_parameters_ref().and_then(|p| p.first("projectId")) {
        return Some(p.to_owned());
    }
    let path = request.uri().path();
    let (_, rest) = path.split_once("/v2/keys/")?;
    Some(rest.trim_end_matches('/').to_owned())
}

/// GET /v2/keys/{projectId}
pub async fn keys(config: &Config, tokens: &TokenKeys, request: Request) -> HandlerResult {
    serve("keys", Method::GET, request, JWKS_CACHE_CONTROL, async |request| {
        keys_project(&request)
            .and_then(|p| config.serves(&p))
            .ok_or(Error::Unauthorized)?;
        Ok(json!({"keys": tokens.jwks()}))
    })
    .await
}
