//! The TOTP routes: sign up, verify, update; and the recovery codes, which
//! the verify function (redeem) and the update function (create) serve.

use lambda_http::http::Method;
use lambda_http::Request;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{bearer, json_body, jwt_response_json, route_of, serve, HandlerResult};
use crate::domain::{custom_claims, Code, LoginId, Profile, ProfileInput};
use crate::error::Error;
use crate::otpauth::Provisioning;
use crate::recovery::{RecoveryCode, MAX_INPUT_CHARS};
use crate::service::{App, RecoveryRequest, SignupRequest, VerifyRequest};
use crate::store::Store;

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
    revoke_other_sessions: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    login_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRecoveryCodesBody {
    login_id: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecoveryBody {
    login_id: Option<String>,
    recovery_code: Option<String>,
    login_options: Option<RecoveryOptionsBody>,
}

/// Of verify's options, the ones a recovery takes; others are ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RecoveryOptionsBody {
    custom_claims: Option<Map<String, Value>>,
}

fn parse_recovery(request: &Request) -> Result<RecoveryRequest, Error> {
    let body: RecoveryBody = json_body(request)?;
    let login_id = LoginId::parse(body.login_id.as_deref())?;
    let raw = body
        .recovery_code
        .filter(|c| !c.is_empty())
        .ok_or(Error::MissingArgument("recoveryCode"))?;
    if raw.chars().count() > MAX_INPUT_CHARS {
        return Err(Error::InvalidArgument("recoveryCode"));
    }
    let code = RecoveryCode::normalise(&raw).ok_or(Error::InvalidArgument("recoveryCode"))?;
    let options = body.login_options.unwrap_or_default();
    Ok(RecoveryRequest {
        login_id,
        code,
        custom_claims: custom_claims(options.custom_claims)?,
    })
}

/// The verify function's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerifyRoute {
    Verify,
    Recovery,
}

/// The update function's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpdateRoute {
    Update,
    RecoveryCodes,
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
        custom_claims: custom_claims(options.custom_claims)?,
        revoke_other_sessions: options.revoke_other_sessions.unwrap_or(false),
    })
}

fn provisioning_json(p: Provisioning) -> Value {
    json!({"provisioningURL": p.url, "image": p.image_png_base64, "key": p.key})
}

/// Descope's JWTResponse, every user field present.
/// POST /v1/auth/totp/signup
pub async fn signup<S: Store>(app: &App<S>, request: Request) -> HandlerResult {
    serve("signup", Method::POST, request, "no-store", async |request| {
        let bearer = bearer(&request, &app.config)?;
        let signup = parse_signup(&request)?;
        app.signup(bearer.project, signup).await.map(provisioning_json)
    })
    .await
}

/// POST /v1/auth/totp/verify, POST /v1/auth/totp/recovery
pub async fn verify<S: Store>(app: &App<S>, request: Request) -> HandlerResult {
    let routes = [
        ("/v1/auth/totp/recovery", VerifyRoute::Recovery),
        ("/v1/auth/totp/verify", VerifyRoute::Verify),
    ];
    if route_of(request.uri().path(), &routes) == Some(VerifyRoute::Recovery) {
        return serve("recovery", Method::POST, request, "no-store", async |request| {
            let bearer = bearer(&request, &app.config)?;
            let recovery = parse_recovery(&request)?;
            app.redeem_recovery_code(bearer.project, recovery)
                .await
                .map(jwt_response_json)
        })
        .await;
    }
    serve("verify", Method::POST, request, "no-store", async |request| {
        let bearer = bearer(&request, &app.config)?;
        let verify = parse_verify(&request, bearer.jwt)?;
        app.verify(bearer.project, verify).await.map(jwt_response_json)
    })
    .await
}

/// POST /v1/auth/totp/update, POST /v1/auth/totp/recovery-codes
pub async fn update<S: Store>(app: &App<S>, request: Request) -> HandlerResult {
    let routes = [
        ("/v1/auth/totp/recovery-codes", UpdateRoute::RecoveryCodes),
        ("/v1/auth/totp/update", UpdateRoute::Update),
    ];
    if route_of(request.uri().path(), &routes) == Some(UpdateRoute::RecoveryCodes) {
        return serve("recovery-codes", Method::POST, request, "no-store", async |request| {
            let bearer = bearer(&request, &app.config)?;
            let body: CreateRecoveryCodesBody = json_body(&request)?;
            let login_id = LoginId::parse(body.login_id.as_deref())?;
            let code = Code::parse(body.code.as_deref())?;
            app.create_recovery_codes(bearer.project, bearer.jwt.as_deref(), login_id, code)
                .await
                .map(|codes| json!({ "recoveryCodes": codes }))
        })
        .await;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn signup_body(body: Value) -> Request {
        let mut request = Request::new(lambda_http::Body::Text(body.to_string()));
        *request.method_mut() = Method::POST;
        request
    }

    #[test]
    fn sso_app_ids_are_capped_at_256_bytes_and_refuse_control_characters() {
        let with = |app: &str| parse_signup(&signup_body(json!({"loginId": "a@b.co", "ssoAppId": app})));
        assert_eq!(with("").unwrap().sso_app_id, None, "empty is absent");
        let at_limit = "a".repeat(256);
        assert_eq!(with(&at_limit).unwrap().sso_app_id, Some(at_limit));
        for bad in ["a".repeat(257), "app\n1".to_owned()] {
            assert_eq!(with(&bad).err(), Some(Error::InvalidArgument("ssoAppId")), "{bad:?}");
        }
    }
}
