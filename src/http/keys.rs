//! GET /v2/keys/{projectId}: the JWKS of one project.

use lambda_http::http::Method;
use lambda_http::{Request, RequestExt};
use serde_json::json;

use super::{serve, HandlerResult, JWKS_CACHE_CONTROL};
use crate::config::Config;
use crate::error::Error;
use crate::tokens::ProjectKeys;

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
pub async fn keys(config: &Config, tokens: &ProjectKeys, request: Request) -> HandlerResult {
    serve("keys", Method::GET, request, JWKS_CACHE_CONTROL, async |request| {
        let project = keys_project(&request)
            .and_then(|p| config.serves(&p))
            .ok_or(Error::Unauthorized)?;
        // Only this project's keys: a token of another project never validates here.
        let ring = tokens.for_project(&project).ok_or(Error::Internal)?;
        Ok(json!({"keys": ring.jwks()}))
    })
    .await
}
