//! The session routes, served by one function: refresh, logout, logoutall
//! (POST) and me (GET), each with `Bearer <projectId>:<refreshJwt>`; and
//! magiclink/verify (POST, `Bearer <projectId>`), which spends a sign-in link;
//! and try-refresh (POST), refresh that answers `{}` when there is no session.

use lambda_http::http::Method;
use lambda_http::{Body, Request};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{bearer, json_body, jwt_response_json, route_of, serve, user_json, HandlerResult};
use crate::error::Error;
use crate::service::App;
use crate::store::Store;

/// Which session route a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRoute {
    Refresh,
    Logout,
    LogoutAll,
    Me,
    MagicLinkVerify,
    TryRefresh,
}

impl SessionRoute {
    pub fn of(path: &str) -> Option<Self> {
        route_of(
            path,
            &[
                ("/v1/auth/refresh", SessionRoute::Refresh),
                ("/v1/auth/logout", SessionRoute::Logout),
                ("/v1/auth/logoutall", SessionRoute::LogoutAll),
                ("/v1/auth/me", SessionRoute::Me),
                ("/v1/auth/magiclink/verify", SessionRoute::MagicLinkVerify),
                ("/v1/auth/try-refresh", SessionRoute::TryRefresh),
            ],
        )
    }
}

/// The session routes take no arguments: the body is empty or a JSON object
/// (`{}` from the SDKs), whose keys are ignored.
fn no_arguments(request: &Request) -> Result<(), Error> {
    let empty = match request.body() {
        Body::Empty => true,
        Body::Text(text) => text.trim().is_empty(),
        Body::Binary(bytes) => bytes.iter().all(u8::is_ascii_whitespace),
        _ => false,
    };
    if empty {
        return Ok(());
    }
    super::json_body::<serde_json::Map<String, Value>>(request).map(|_| ())
}

#[derive(Deserialize)]
struct MagicLinkBody {
    token: Option<String>,
}

/// The longest token accepted: ours are 52 characters.
const MAX_LINK_TOKEN_CHARS: usize = 128;

/// The token of a magiclink/verify body: present, and of the characters
/// and length a token can have (anything else cannot be one).
fn link_token(request: &Request) -> Result<String, Error> {
    let token = json_body::<MagicLinkBody>(request)?
        .token
        .filter(|t| !t.is_empty())
        .ok_or(Error::MissingArgument("token"))?;
    if token.len() > MAX_LINK_TOKEN_CHARS || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::InvalidArgument("token"));
    }
    Ok(token)
}

/// POST /v1/auth/refresh, POST /v1/auth/logout, POST /v1/auth/logoutall, GET /v1/auth/me,
/// POST /v1/auth/magiclink/verify, POST /v1/auth/try-refresh
pub async fn sessions<S: Store>(app: &App<S>, request: Request) -> HandlerResult {
    let Some(route) = SessionRoute::of(request.uri().path()) else {
        let method = request.method().clone();
        return serve("sessions", method, request, "no-store", async |_| {
            Err(Error::UnknownRoute)
        })
        .await;
    };
    let (name, method) = match route {
        SessionRoute::Refresh => ("refresh", Method::POST),
        SessionRoute::Logout => ("logout", Method::POST),
        SessionRoute::LogoutAll => ("logoutall", Method::POST),
        SessionRoute::Me => ("me", Method::GET),
        SessionRoute::MagicLinkVerify => ("magiclink-verify", Method::POST),
        SessionRoute::TryRefresh => ("try-refresh", Method::POST),
    };
    serve(name, method, request, "no-store", async |request| {
        let bearer = bearer(&request, &app.config)?;
        let jwt = bearer.jwt.as_deref();
        // Refresh, logout and logoutall take no arguments; me reads no body;
        // magiclink/verify reads its token.
        if matches!(
            route,
            SessionRoute::Refresh | SessionRoute::Logout | SessionRoute::LogoutAll | SessionRoute::TryRefresh
        ) {
            no_arguments(&request)?;
        }
        match route {
            SessionRoute::Refresh => app.refresh(bearer.project, jwt).await.map(jwt_response_json),
            SessionRoute::TryRefresh => app
                .try_refresh(bearer.project, jwt)
                .await
                .map(|signed_in| signed_in.map_or_else(|| json!({}), jwt_response_json)),
            SessionRoute::Logout => app.logout(bearer.project, jwt).await.map(|()| json!({})),
            SessionRoute::LogoutAll => app.logout_all(bearer.project, jwt).await.map(|()| json!({})),
            SessionRoute::Me => app.me(bearer.project, jwt).await.map(user_json),
            SessionRoute::MagicLinkVerify => {
                let token = link_token(&request)?;
                app.redeem_sign_in_link(bearer.project, &token)
                    .await
                    .map(jwt_response_json)
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_matched_at_the_end_of_the_path() {
        assert_eq!(SessionRoute::of("/v1/auth/refresh"), Some(SessionRoute::Refresh));
        assert_eq!(SessionRoute::of("/prod/v1/auth/logout/"), Some(SessionRoute::Logout));
        assert_eq!(SessionRoute::of("/v1/auth/logoutall"), Some(SessionRoute::LogoutAll));
        assert_eq!(SessionRoute::of("/v1/auth/me"), Some(SessionRoute::Me));
        assert_eq!(
            SessionRoute::of("/v1/auth/magiclink/verify"),
            Some(SessionRoute::MagicLinkVerify)
        );
        assert_eq!(SessionRoute::of("/v1/auth/try-refresh"), Some(SessionRoute::TryRefresh));
        assert_eq!(SessionRoute::of("/v1/auth/mee"), None);
        assert_eq!(SessionRoute::of("/v1/auth/totp/verify"), None);
    }
}
