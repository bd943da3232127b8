//! The session routes: refresh, logout, logout-all, me. Each takes only a
//! refresh JWT; the user it names is read together with the token's
//! revocation state in one strongly consistent read.

use serde_json::{Map, Value};

use super::{sign_in_link_hash, storage, App, RefreshJwt, SessionClaims, SignedIn, UserView, AMR_EMBEDDED_LINK};
use crate::domain::{LoginId, ProjectId};
use crate::error::Error;
use crate::store::{Store, StoreError, UserKey};
use crate::tokens::{RefreshToken, LEEWAY_SECONDS};

/// Kept past a logged-out token's `exp` and leeway (issue 23: a revocation
/// item that expired first would let the token back in for those seconds).
pub const REVOCATION_MARGIN_SECONDS: u64 = 60;

/// A revocation whose condition failed: the token was revoked (or its user
/// deleted) between the token check and the write.
fn revoked_meanwhile(error: StoreError) -> Error {
    match error {
        StoreError::Conflict => Error::SessionRevoked,
        other => storage(other),
    }
}

impl<S: Store> App<S> {
    /// The verified token and where its user is stored.
    fn session_token(&self, project: ProjectId, jwt: Option<&str>, now: u64) -> Result<(UserKey, RefreshToken), Error> {
        let token = self.refresh_token(&project, jwt, now)?;
        // The service wrote this loginId; one that no longer parses is not ours.
        let login_id = LoginId::parse(Some(&token.login_id)).map_err(|_| Error::InvalidRefreshToken)?;
        Ok((UserKey { project, login_id }, token))
    }

    /// POST /v1/auth/refresh: a new session JWT beside the same refresh JWT.
    pub async fn refresh(&self, project: ProjectId, jwt: Option<&str>) -> Result<SignedIn, Error> {
        let now = self.clock.now();
        let (key, token) = self.session_token(project, jwt, now)?;
        let record = self.live_session(&key, &token).await?;
        let user = UserView::of(&key.login_id, &record).ok_or(Error::SessionRevoked)?;
        let refresh = RefreshJwt {
            jwt: jwt.unwrap_or_default().to_owned(),
            expires_at: token.expires_at,
        };
        // A refreshed session is a plain one: step-up proves a recent code.
        // It says how the sign-in behind it was proved.
        let claims = SessionClaims {
            amr: token.amr,
            ..SessionClaims::default()
        };
        self.with_session(&key.project, user, false, claims, refresh, now)
    }

    /// POST /v1/auth/try-refresh: refresh's answer when a live refresh JWT
    /// comes, and none (not an error) when none does or it is dead: the web
    /// SDKs call it at start, signed in or not. Transient failures stay errors.
    pub async fn try_refresh(&self, project: ProjectId, jwt: Option<&str>) -> Result<Option<SignedIn>, Error> {
        match self.refresh(project, jwt).await {
            Ok(signed_in) => Ok(Some(signed_in)),
            Err(Error::InvalidRefreshToken | Error::SessionRevoked | Error::UserDisabled) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// POST /v1/auth/magiclink/verify: a sign-in link support issued, spent
    /// for a session of its user. Wrong, spent and expired links get one
    /// answer; of parallel redemptions of one link exactly one signs in.
    pub async fn redeem_sign_in_link(&self, project: ProjectId, token: &str) -> Result<SignedIn, Error> {
        let now = self.clock.now();
        let link = self
            .store
            .get_sign_in_link(&project, &sign_in_link_hash(token))
            .await
            .map_err(storage)?
            .filter(|link| link.expires_at > now)
            .ok_or(Error::LinkRefused)?;
        let login_id = LoginId::parse(Some(&link.login_id)).map_err(|_| Error::LinkRefused)?;
        let key = UserKey { project, login_id };
        // The user it was issued for, still registered: not a new user under the same loginId.
        let record = self.store.get(&key).await.map_err(storage)?;
        if record.as_ref().is_some_and(|r| r.disabled) {
            return Err(Error::UserDisabled);
        }
        let (user, generation) = record
            .and_then(|r| UserView::of(&key.login_id, &r).map(|user| (user, r.session_generation)))
            .filter(|(user, _)| user.user_id == link.user_id)
            .ok_or(Error::LinkRefused)?;
        match self.store.redeem_sign_in_link(&key, &link, generation, now).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(Error::LinkRefused),
            Err(e) => return Err(storage(e)),
        }
        let custom_claims = link
            .custom_claims
            .as_deref()
            .and_then(|text| serde_json::from_str::<Map<String, Value>>(text).ok());
        let claims = SessionClaims {
            custom_claims,
            stepped_up: false,
            amr: vec![AMR_EMBEDDED_LINK.to_owned()],
        };
        self.issue_tokens(&key.project, user, false, claims, generation, now)
    }

    /// GET /v1/auth/me: the signed-in user.
    pub async fn me(&self, project: ProjectId, jwt: Option<&str>) -> Result<UserView, Error> {
        let now = self.clock.now();
        let (key, token) = self.session_token(project, jwt, now)?;
        let record = self.live_session(&key, &token).await?;
        UserView::of(&key.login_id, &record).ok_or(Error::SessionRevoked)
    }

    /// POST /v1/auth/logout: this refresh JWT stops working. One write, whose
    /// condition re-checks that the token is live.
    pub async fn logout(&self, project: ProjectId, jwt: Option<&str>) -> Result<(), Error> {
        let now = self.clock.now();
        let (key, token) = self.session_token(project, jwt, now)?;
        // The revocation must outlive every moment the token is accepted:
        // its `exp`, the leeway on it, and a margin for clocks.
        let revoked_until = token.expires_at + LEEWAY_SECONDS + REVOCATION_MARGIN_SECONDS;
        self.store
            .revoke_session(&key, &token.session(), revoked_until)
            .await
            .map_err(revoked_meanwhile)
    }

    /// POST /v1/auth/logoutall: every refresh JWT of the user issued so far
    /// stops working. One write.
    pub async fn logout_all(&self, project: ProjectId, jwt: Option<&str>) -> Result<(), Error> {
        let now = self.clock.now();
        let (key, token) = self.session_token(project, jwt, now)?;
        self.store
            .revoke_all_sessions(&key, &token.session())
            .await
            .map_err(revoked_meanwhile)
    }
}
