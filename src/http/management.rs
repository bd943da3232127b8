//! The management routes, each behind `Bearer <projectId>:<managementKey>`:
//! users' creation (one, a batch), status, lookup (by loginId or userId),
//! search, key removal, sign-in links, sign-out, recovery-code removal,
//! deletion (one, a batch) and the audit search. Two functions serve them
//! (`management` and `users`, split by the keys they hold; template.yaml
//! routes each path to one); every call writes one audit line.

use lambda_http::http::Method;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{bearer_credentials, json_body, route_of, serve, user_json, HandlerResult};
use crate::config::Config;
use crate::domain::{custom_claims, LoginId, Profile, ProfileInput, ProjectId};
use crate::error::Error;
use crate::management_keys::ManagementKeys;
use crate::seed::ImportedSeed;
use crate::service::audit::{record_json, MAX_AUDIT_RESULTS};
use crate::service::management::{
    BatchEntry, BatchOutcome, NewUserRequest, MAX_BATCH_USERS, MAX_LINK_SECONDS, MAX_SEARCH_LIMIT,
};
use crate::service::App;
use crate::store::{AuditQuery, Store, UserKey, UserQuery};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagementRoute {
    RemoveTotp,
    Delete,
    Load,
    Logout,
    SignInLink,
    RemoveRecoveryCodes,
    Create,
    CreateBatch,
    DeleteBatch,
    UpdateStatus,
    Search,
    AuditSearch,
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
                ("/v1/mgmt/user/create", ManagementRoute::Create),
                ("/v1/mgmt/user/create/batch", ManagementRoute::CreateBatch),
                ("/v1/mgmt/user/delete/batch", ManagementRoute::DeleteBatch),
                ("/v1/mgmt/user/update/status", ManagementRoute::UpdateStatus),
                ("/v2/mgmt/user/search", ManagementRoute::Search),
                ("/v1/mgmt/audit/search", ManagementRoute::AuditSearch),
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
            ManagementRoute::Create => ("mgmt-create", Method::POST),
            ManagementRoute::CreateBatch => ("mgmt-create-batch", Method::POST),
            ManagementRoute::DeleteBatch => ("mgmt-delete-batch", Method::POST),
            ManagementRoute::UpdateStatus => ("mgmt-update-status", Method::POST),
            ManagementRoute::Search => ("mgmt-search", Method::POST),
            ManagementRoute::AuditSearch => ("mgmt-audit-search", Method::POST),
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

/// A JSON number with no fraction and no sign (`600` or `600.0`: JSON
/// Schema counts both integers) of at most `max`, if it is one.
fn whole_number(n: &serde_json::Number, max: u64) -> Option<u64> {
    n.as_u64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
        .filter(|v| *v <= max)
}

fn sign_in_link_request(request: &Request) -> Result<SignInLinkRequest, Error> {
    let body: SignInLinkBody = json_body(request)?;
    let login_id = LoginId::parse(body.login_id.as_deref())?;
    let timeout = match &body.timeout {
        None => 0,
        Some(n) => whole_number(n, MAX_LINK_SECONDS).ok_or(Error::InvalidArgument("timeout"))?,
    };
    Ok(SignInLinkRequest {
        login_id,
        custom_claims: custom_claims(body.custom_claims)?,
        timeout,
    })
}

fn login_id_of(request: &Request, route: ManagementRoute) -> Result<LoginId, Error> {
    let raw = if route == ManagementRoute::Load {
        query_parameter(request, "loginId")
    } else {
        json_body::<LoginIdBody>(request)?.login_id
    };
    LoginId::parse(raw.as_deref())
}

fn query_parameter(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

/// Longest userId taken: ours are `U2` and 26 base32 characters.
const MAX_USER_ID_CHARS: usize = 64;

/// A userId as this service writes them: letters and digits.
fn user_id(raw: Option<&str>, name: &'static str) -> Result<String, Error> {
    let raw = raw.filter(|r| !r.is_empty()).ok_or(Error::MissingArgument(name))?;
    let plausible = raw.len() <= MAX_USER_ID_CHARS && raw.bytes().all(|b| b.is_ascii_alphanumeric());
    plausible.then(|| raw.to_owned()).ok_or(Error::InvalidArgument(name))
}

/// What `mgmt.user.create` sends, and each user of a batch. Roles,
/// tenants, pictures, custom attributes, invitations and the like are
/// accepted and ignored: this service keeps none of them and sends no message.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    login_id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    middle_name: Option<String>,
    family_name: Option<String>,
    status: Option<String>,
    seed: Option<String>,
}

/// `enabled` → false, `disabled` → true. Descope's `invited` and
/// `expired` mean nothing here (no invitations are sent).
fn disabled_of(status: &str) -> Result<bool, Error> {
    match status {
        "enabled" => Ok(false),
        "disabled" => Ok(true),
        _ => Err(Error::InvalidArgument("status")),
    }
}

fn new_user(body: CreateBody) -> Result<NewUserRequest, Error> {
    let login_id = LoginId::parse(body.login_id.as_deref())?;
    let profile = Profile::parse(ProfileInput {
        name: body.display_name.as_deref(),
        given_name: body.given_name.as_deref(),
        middle_name: body.middle_name.as_deref(),
        family_name: body.family_name.as_deref(),
        email: body.email.as_deref(),
        phone: body.phone.as_deref(),
    })?;
    let disabled = match body.status.as_deref().filter(|s| !s.is_empty()) {
        None => false,
        Some(status) => disabled_of(status)?,
    };
    // Never echoed: the error names the argument, not its value.
    let seed = match body.seed.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(ImportedSeed::parse(raw).map_err(|_| Error::InvalidArgument("seed"))?),
    };
    Ok(NewUserRequest {
        login_id,
        profile,
        disabled,
        seed,
    })
}

#[derive(Deserialize)]
struct BatchBody {
    users: Option<Vec<Value>>,
}

/// A batch's list, `name` in the body: present, not empty, at most
/// [`MAX_BATCH_USERS`] long.
fn batch_of<T>(list: Option<Vec<T>>, name: &'static str) -> Result<Vec<T>, Error> {
    let list = list.filter(|l| !l.is_empty()).ok_or(Error::MissingArgument(name))?;
    if list.len() > MAX_BATCH_USERS {
        return Err(Error::InvalidArgument(name));
    }
    Ok(list)
}

/// Each user of a batch, parsed on its own: a bad one fails alone.
fn batch_users(request: &Request) -> Result<Vec<BatchEntry>, Error> {
    let users = batch_of(json_body::<BatchBody>(request)?.users, "users")?;
    Ok(users
        .into_iter()
        .map(|user| {
            let login_id = user
                .get("loginId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            serde_json::from_value::<CreateBody>(user)
                .map_err(|_| Error::MalformedBody)
                .and_then(new_user)
                .map_err(|error| (login_id, error))
        })
        .collect())
}

/// Descope's batch answer: the users created, and each failure with its reason.
fn batch_json(outcomes: Vec<BatchOutcome>) -> Value {
    let mut created = Vec::new();
    let mut failed = Vec::new();
    for outcome in outcomes {
        match outcome {
            BatchOutcome::Created(user) => created.push(user_json(user)),
            BatchOutcome::Failed { login_id, error } => {
                let reply = error.reply();
                failed.push(json!({
                    "failure": format!("{}: {}", reply.code, reply.message),
                    "user": {"loginIds": [login_id]},
                }));
            }
        }
    }
    json!({"createdUsers": created, "failedUsers": failed})
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    login_id: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteBatchBody {
    user_ids: Option<Vec<String>>,
}

fn delete_batch_ids(request: &Request) -> Result<Vec<String>, Error> {
    let ids = batch_of(json_body::<DeleteBatchBody>(request)?.user_ids, "userIds")?;
    ids.iter().map(|id| user_id(Some(id), "userIds")).collect()
}

/// What `mgmt.user.search_all` sends that this service filters on; the
/// rest (tenants, roles, custom attributes, test users) is ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchBody {
    /// JSON numbers with no fraction (`2` or `2.0`), as for a link's timeout.
    limit: Option<serde_json::Number>,
    page: Option<serde_json::Number>,
    login_ids: Option<Vec<String>>,
    statuses: Option<Vec<String>>,
    text: Option<String>,
}

/// The query of a search body; `None` when its statuses can match no one
/// (only `invited` or `expired`, which no user here ever is).
fn search_query(request: &Request) -> Result<Option<UserQuery>, Error> {
    let body: SearchBody = json_body(request)?;
    // openapi.yaml bounds the page by u32::MAX.
    let whole = |n: &serde_json::Number| whole_number(n, u64::from(u32::MAX));
    let limit = match body.limit.as_ref().map(whole) {
        None | Some(Some(0)) => MAX_SEARCH_LIMIT,
        Some(n) => n
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n <= MAX_SEARCH_LIMIT)
            .ok_or(Error::InvalidArgument("limit"))?,
    };
    let page = match body.page.as_ref().map(whole) {
        None => 0,
        Some(n) => n
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(Error::InvalidArgument("page"))?,
    };
    let login_ids = body.login_ids.unwrap_or_default();
    if login_ids.len() > MAX_BATCH_USERS {
        return Err(Error::InvalidArgument("loginIds"));
    }
    let login_ids = login_ids
        .iter()
        .map(|raw| LoginId::parse(Some(raw)).map_err(|_| Error::InvalidArgument("loginIds")))
        .collect::<Result<Vec<_>, _>>()?;
    let statuses = body.statuses.unwrap_or_default();
    if statuses
        .iter()
        .any(|s| !matches!(s.as_str(), "enabled" | "disabled" | "invited" | "expired"))
    {
        return Err(Error::InvalidArgument("statuses"));
    }
    let wants = |s: &str| statuses.iter().any(|x| x == s);
    let disabled = match (statuses.is_empty(), wants("enabled"), wants("disabled")) {
        (true, _, _) | (false, true, true) => None,
        (false, true, false) => Some(false),
        (false, false, true) => Some(true),
        (false, false, false) => return Ok(None),
    };
    let text = body.text.filter(|t| !t.is_empty());
    if text
        .as_ref()
        .is_some_and(|t| t.chars().count() > crate::domain::MAX_LOGIN_ID_CHARS)
    {
        return Err(Error::InvalidArgument("text"));
    }
    Ok(Some(UserQuery {
        login_ids,
        disabled,
        text,
        limit,
        page,
    }))
}

/// What `mgmt.audit.search` sends. Devices, geos, remote addresses and
/// tenants are never recorded here: a filter on them matches nothing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditSearchBody {
    /// Ignored (no record has a tenant), but of its type.
    #[allow(dead_code)]
    no_tenants: Option<bool>,
    user_ids: Option<Vec<String>>,
    actions: Option<Vec<String>>,
    excluded_actions: Option<Vec<String>>,
    /// loginIds.
    external_ids: Option<Vec<String>>,
    methods: Option<Vec<String>>,
    devices: Option<Vec<String>>,
    geos: Option<Vec<String>>,
    remote_addresses: Option<Vec<String>>,
    tenants: Option<Vec<String>>,
    text: Option<String>,
    /// Milliseconds: JSON numbers with no fraction.
    from: Option<serde_json::Number>,
    to: Option<serde_json::Number>,
}

/// The latest time a search may name: 13 digits of milliseconds.
const MAX_AUDIT_MS: u64 = 9_999_999_999_999;
/// Most values one filter list takes.
const MAX_FILTER_VALUES: usize = 100;

/// The query of an audit search body, the text filter, and whether any
/// record can match at all.
fn audit_query(
    request: &Request,
    keys: &ManagementKeys,
    project: &ProjectId,
) -> Result<(AuditQuery, Option<String>, bool), Error> {
    let body: AuditSearchBody = json_body(request)?;
    let list = |values: Option<Vec<String>>, name: &'static str| -> Result<Vec<String>, Error> {
        let values = values.unwrap_or_default();
        let plausible = |v: &String| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric());
        if values.len() > MAX_FILTER_VALUES || !values.iter().all(plausible) {
            return Err(Error::InvalidArgument(name));
        }
        Ok(values)
    };
    let user_ids = list(body.user_ids, "userIds")?;
    let actions = list(body.actions, "actions")?;
    let excluded_actions = list(body.excluded_actions, "excludedActions")?;
    let login_ids = body.external_ids.unwrap_or_default();
    if login_ids.len() > MAX_FILTER_VALUES {
        return Err(Error::InvalidArgument("externalIds"));
    }
    let login_hashes = login_ids
        .iter()
        .map(|raw| LoginId::parse(Some(raw)).map(|l| keys.audit_subject(project, &l)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Error::InvalidArgument("externalIds"))?;
    let millis = |value: Option<serde_json::Number>, default: u64, name: &'static str| match value {
        None => Ok(default),
        Some(ms) => whole_number(&ms, MAX_AUDIT_MS).ok_or(Error::InvalidArgument(name)),
    };
    let from_ms = millis(body.from, 0, "from")?;
    let to_ms = millis(body.to, MAX_AUDIT_MS, "to")?;
    let methods = body.methods.unwrap_or_default();
    // Every record here is of method "totp", and has no device, geo, address or tenant.
    let can_match = (methods.is_empty() || methods.iter().any(|m| m == "totp"))
        && [body.devices, body.geos, body.remote_addresses, body.tenants]
            .iter()
            .all(|filter| filter.as_ref().is_none_or(Vec::is_empty))
        && from_ms <= to_ms;
    let text = body.text.filter(|t| !t.is_empty());
    if text
        .as_ref()
        .is_some_and(|t| t.chars().count() > crate::domain::MAX_LOGIN_ID_CHARS)
    {
        return Err(Error::InvalidArgument("text"));
    }
    let query = AuditQuery {
        user_ids,
        login_hashes,
        actions,
        excluded_actions,
        from_ms,
        to_ms,
        limit: MAX_AUDIT_RESULTS,
    };
    Ok((query, text, can_match))
}

fn users_json(users: Vec<crate::service::UserView>) -> Value {
    let total = users.len();
    json!({"users": users.into_iter().map(user_json).collect::<Vec<_>>(), "total": total})
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
        match route {
            ManagementRoute::SignInLink => {
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
            ManagementRoute::Create => {
                let user = new_user(json_body(&request)?)?;
                audit.subject = Some(keys.audit_subject(&project, &user.login_id));
                return app
                    .create_user(project, user)
                    .await
                    .map(|u| json!({"user": user_json(u)}));
            }
            ManagementRoute::CreateBatch => {
                let users = batch_users(&request)?;
                return Ok(batch_json(app.create_users(&project, users).await));
            }
            ManagementRoute::DeleteBatch => {
                let ids = delete_batch_ids(&request)?;
                return app.delete_users(&project, &ids).await.map(|()| json!({}));
            }
            ManagementRoute::AuditSearch => {
                let (query, text, can_match) = audit_query(&request, keys, &project)?;
                let records = if can_match {
                    app.search_audit(&project, &query).await?
                } else {
                    Vec::new()
                };
                // Free text matches the action, the userId and the data.
                let audits: Vec<Value> = records
                    .iter()
                    .map(record_json)
                    .filter(|record| {
                        text.as_deref().is_none_or(|needle| {
                            let needle = needle.to_lowercase();
                            [&record["action"], &record["userId"], &record["data"]]
                                .iter()
                                .any(|field| field.to_string().to_lowercase().contains(&needle))
                        })
                    })
                    .collect();
                return Ok(json!({ "audits": audits }));
            }
            ManagementRoute::Search => {
                return match search_query(&request)? {
                    Some(query) => app.search_users(&project, &query).await.map(users_json),
                    None => Ok(users_json(Vec::new())),
                };
            }
            ManagementRoute::Load if query_parameter(&request, "loginId").is_none() => {
                let id = user_id(query_parameter(&request, "userId").as_deref(), "userId")
                    // Neither given: the loginId is what Descope asks for first.
                    .map_err(|e| match e {
                        Error::MissingArgument(_) => Error::MissingArgument("loginId"),
                        other => other,
                    })?;
                return app
                    .load_user_by_id(project, &id)
                    .await
                    .map(|u| json!({"user": user_json(u)}));
            }
            _ => {}
        }
        if route == ManagementRoute::UpdateStatus {
            let body: StatusBody = json_body(&request)?;
            let login_id = LoginId::parse(body.login_id.as_deref())?;
            audit.subject = Some(keys.audit_subject(&project, &login_id));
            let status = body
                .status
                .filter(|s| !s.is_empty())
                .ok_or(Error::MissingArgument("status"))?;
            let disabled = disabled_of(&status)?;
            let key = UserKey { project, login_id };
            return app
                .set_status(key, disabled)
                .await
                .map(|u| json!({"user": user_json(u)}));
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
            _ => Err(Error::UnknownRoute),
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
        for (path, route) in [
            ("/v1/mgmt/user/create", ManagementRoute::Create),
            ("/v1/mgmt/user/create/batch", ManagementRoute::CreateBatch),
            ("/v1/mgmt/user/delete/batch", ManagementRoute::DeleteBatch),
            ("/v1/mgmt/user/update/status", ManagementRoute::UpdateStatus),
            ("/v2/mgmt/user/search", ManagementRoute::Search),
            ("/v1/mgmt/audit/search", ManagementRoute::AuditSearch),
        ] {
            assert_eq!(ManagementRoute::of(path), Some(route), "{path}");
        }
        assert_eq!(ManagementRoute::of("/v1/mgmt/user/search"), None, "search is v2");
        assert_eq!(ManagementRoute::of("/v1/mgmt/license"), None);
        assert_eq!(ManagementRoute::of("/v1/mgmt/users"), None);
    }
}
