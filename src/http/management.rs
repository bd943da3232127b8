//! The management routes, served by one function, each behind
//! `Bearer <projectId>:<managementKey>`: POST /v1/mgmt/user/totp/delete,
//! POST /v1/mgmt/user/delete, GET /v1/mgmt/user?loginId=…, POST
//! /v1/mgmt/user/logout. Every call writes one audit line.

use lambda_http::http::Method;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{bearer_credentials, json_body, route_of, serve, user_json, HandlerResult};
use crate::config::Config;
use crate::domain::{custom_claims, LoginId, ProjectId};
use crate::error::Error;
use crate::management_keys::ManagementKeys;
use crate::service::management::MAX_LINK_SECONDS;
use crate::service::App;
use crate::store::{Store, UserKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagementRoute {
    RemoveTotp,
    Delete,
    Load,
    Logout,
    SignInLink,
    RemoveRecoveryCodes,
}

impl ManagementRoute {
    pub fn of(path: &str) -> Option<Self> {
        route_of(
            path,
            &[
                ("/v1/mgmt/user/totp/delete", ManagementRoute::RemoveTotp),
                ("/v1/mgmt/user/delete", ManagementRoute::Delete),
                ("/v1/mgmt/user/logout", ManagementRoute::Logout),
                ("/v1/mgmt/user/signin/embeddedlink", ManagementRoute::SignInLink),
                (
                    "/v1/mgmt/user/recovery-codes/delete",
                    ManagementRoute::RemoveRecoveryCodes,
                ),
                ("/v1/mgmt/user", ManagementRoute::Load),
            ],
        )
    }

    fn name_and_method(self) -> (&'static str, Method) {
        match self {
            ManagementRoute::RemoveTotp => ("mgmt-remove-totp", Method::POST),
            ManagementRoute::Delete => ("mgmt-delete", Method::POST),
            ManagementRoute::Load => ("mgmt-load", Method::GET),
            ManagementRoute::Logout => ("mgmt-logout", Method::POST),
            ManagementRoute::SignInLink => ("mgmt-signin-link", Method::POST),
            ManagementRoute::RemoveRecoveryCodes => ("mgmt-remove-recovery-codes", Method::POST),
        }
    }
}

/// `Bearer <projectId>:<managementKey>`: the project and the id of the key,
/// if the key is one of that project's. Nothing else passes: no refresh JWT,
/// no other project's key.
fn authenticate<'k>(
    request: &Request,
    config: &Config,
    keys: &'k ManagementKeys,
) -> Result<(ProjectId, &'k str), Error> {
    let credentials = bearer_credentials(request).ok_or(Error::ManagementKeyRefused)?;
    let (project, key) = credentials.split_once(':').ok_or(Error::ManagementKeyRefused)?;
    let project = config.serves(project).ok_or(Error::ManagementKeyRefused)?;
    let key_id = keys.authenticate(&project, key).ok_or(Error::ManagementKeyRefused)?;
    Ok((project, key_id))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginIdBody {
    login_id: Option<String>,
}

/// What `mgmt.user.generate_embedded_link` sends.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignInLinkBody {
    login_id: Option<String>,
    custom_claims: Option<Map<String, Value>>,
    /// Seconds; a JSON number with no fraction (`600` or `600.0`).
    timeout: Option<serde_json::Number>,
}

/// A sign-in link's request: whom for, its custom claims and lifetime.
struct SignInLinkRequest {
    login_id: LoginId,
    custom_claims: Option<Map<String, Value>>,
    timeout: u64,
}

fn sign_in_link_request(request: &Request) -> Result<SignInLinkRequest, Error> {
    let body: SignInLinkBody = json_body(request)?;
    let login_id = LoginId::parse(body.login_id.as_deref())?;
    let whole_seconds = |n: &serde_json::Number| {
        n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=MAX_LINK_SECONDS as f64).contains(f))
                .map(|f| f as u64)
        })
    };
    let timeout = match &body.timeout {
        None => 0,
        Some(n) => whole_seconds(n)
            .filter(|t| *t <= MAX_LINK_SECONDS)
            .ok_or(Error::InvalidArgument("timeout"))?,
    };
    Ok(SignInLinkRequest {
        login_id,
        custom_claims: custom_claims(body.custom_claims)?,
        timeout,
    })
}

fn login_id_of(request: &Request, route: ManagementRoute) -> Result<LoginId, Error> {
    let raw = if route == ManagementRoute::Load {
        request
            .query_string_parameters_ref()
            .and_then(|q| q.first("loginId"))
            .map(str::to_owned)
    } else {
        json_body::<LoginIdBody>(request)?.login_id
    };
    LoginId::parse(raw.as_deref())
}

/// What the audit line says of a call: never a key, never a loginId in clear.
#[derive(Default)]
struct Audit {
    project: Option<ProjectId>,
    key_id: Option<String>,
    subject: Option<String>,
}

pub async fn management<S: Store>(app: &App<S>, keys: &ManagementKeys, request: Request) -> HandlerResult {
    let Some(route) = ManagementRoute::of(request.uri().path()) else {
        let method = request.method().clone();
        return serve("mgmt", method, request, "no-store", async |_| Err(Error::UnknownRoute)).await;
    };
    let (name, method) = route.name_and_method();
    let mut audit = Audit::default();
    let response = serve(name, method, request, "no-store", async |request| {
        let (project, key_id) = authenticate(&request, &app.config, keys)?;
        audit.project = Some(project.clone());
        audit.key_id = Some(key_id.to_owned());
        if route == ManagementRoute::SignInLink {
            let link = sign_in_link_request(&request)?;
            audit.subject = Some(keys.audit_subject(&project, &link.login_id));
            let key = UserKey {
                project,
                login_id: link.login_id,
            };
            return app
                .sign_in_link(key, link.custom_claims, link.timeout)
                .await
                .map(|token| json!({ "token": token }));
        }
        let login_id = login_id_of(&request, route)?;
        audit.subject = Some(keys.audit_subject(&project, &login_id));
        let key = UserKey { project, login_id };
        match route {
            ManagementRoute::RemoveTotp => app.remove_totp(key).await.map(|u| json!({"user": user_json(u)})),
            ManagementRoute::Delete => app.delete_user(key).await.map(|()| json!({})),
            ManagementRoute::Load => app.load_user(key).await.map(|u| json!({"user": user_json(u)})),
            ManagementRoute::Logout => app.logout_user(key).await.map(|()| json!({})),
            ManagementRoute::RemoveRecoveryCodes => app.remove_recovery_codes(key).await.map(|()| json!({})),
            ManagementRoute::SignInLink => Err(Error::UnknownRoute),
        }
    })
    .await?;
    tracing::info!(
        audit = true,
        route = name,
        project = audit.project.as_ref().map(ProjectId::as_str).unwrap_or(""),
        key_id = audit.key_id.as_deref().unwrap_or(""),
        subject = audit.subject.as_deref().unwrap_or(""),
        status = response.status().as_u16(),
        "management call"
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_told_apart() {
        assert_eq!(
            ManagementRoute::of("/v1/mgmt/user/totp/delete"),
            Some(ManagementRoute::RemoveTotp)
        );
        assert_eq!(
            ManagementRoute::of("/v1/mgmt/user/delete"),
            Some(ManagementRoute::Delete)
        );
        assert_eq!(
            ManagementRoute::of("/v1/mgmt/user/logout/"),
            Some(ManagementRoute::Logout)
        );
        assert_eq!(ManagementRoute::of("/prod/v1/mgmt/user"), Some(ManagementRoute::Load));
        assert_eq!(
            ManagementRoute::of("/v1/mgmt/user/signin/embeddedlink"),
            Some(ManagementRoute::SignInLink)
        );
        assert_eq!(
            ManagementRoute::of("/v1/mgmt/user/recovery-codes/delete"),
            Some(ManagementRoute::RemoveRecoveryCodes)
        );
        assert_eq!(ManagementRoute::of("/v1/mgmt/license"), None);
        assert_eq!(ManagementRoute::of("/v1/mgmt/users"), None);
    }
}
