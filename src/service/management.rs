//! Support's tools, behind a management key: remove a user's key (lost
//! device), issue a sign-in link (their way back in), end their sessions,
//! load them, delete them.

use serde_json::{Map, Value};

use super::{random_id, sign_in_link_hash, storage, App, UserView};
use crate::error::Error;
use crate::store::{SignInLink, Store, StoreError, UserKey};

/// How long a sign-in link lives when the caller says 0 (Descope's default).
pub const DEFAULT_LINK_SECONDS: u64 = 600;
/// The longest a sign-in link may live.
pub const MAX_LINK_SECONDS: u64 = 3600;

/// A write whose condition found no registered user.
fn no_such_user(error: StoreError) -> Error {
    match error {
        StoreError::Conflict => Error::UserNotFound,
        other => storage(other),
    }
}

impl<S: Store> App<S> {
    /// POST /v1/mgmt/user/totp/delete: the user keeps their userId and
    /// profile, loses their key and every session, and may enrol again.
    pub async fn remove_totp(&self, key: UserKey) -> Result<UserView, Error> {
        let record = self
            .store
            .remove_key(&key, &random_id("E", 16)?)
            .await
            .map_err(no_such_user)?;
        UserView::of(&key.login_id, &record).ok_or(Error::UserNotFound)
    }

    /// POST /v1/mgmt/user/signin/embeddedlink: a single-use token that signs
    /// the registered user in once (POST /v1/auth/magiclink/verify), within
    /// `timeout` seconds. Support hands it over out of band; with the
    /// session it gives, a user whose key was removed enrols a new one
    /// (update, then verify). Only its hash is stored.
    pub async fn sign_in_link(
        &self,
        key: UserKey,
        custom_claims: Option<Map<String, Value>>,
        timeout: u64,
    ) -> Result<String, Error> {
        let now = self.clock.now();
        let record = self.store.get(&key).await.map_err(storage)?;
        let user = record
            .and_then(|r| UserView::of(&key.login_id, &r))
            .ok_or(Error::UserNotFound)?;
        // 256 bits: the token is the whole credential.
        let token = random_id("", 32)?;
        let custom_claims = match custom_claims {
            Some(claims) => Some(serde_json::to_string(&claims).map_err(|_| Error::InvalidArgument("customClaims"))?),
            None => None,
        };
        let link = SignInLink {
            token_hash: sign_in_link_hash(&token),
            login_id: key.login_id.as_str().to_owned(),
            user_id: user.user_id,
            expires_at: now + if timeout == 0 { DEFAULT_LINK_SECONDS } else { timeout },
            custom_claims,
        };
        self.store
            .put_sign_in_link(&key.project, &link)
            .await
            .map_err(storage)?;
        Ok(token)
    }

    /// POST /v1/mgmt/user/logout: every refresh JWT of the user stops working.
    pub async fn logout_user(&self, key: UserKey) -> Result<(), Error> {
        self.store.end_all_sessions(&key).await.map_err(no_such_user)
    }

    /// GET /v1/mgmt/user: a registered user; a pending sign-up is no user.
    pub async fn load_user(&self, key: UserKey) -> Result<UserView, Error> {
        let record = self.store.get(&key).await.map_err(storage)?;
        record
            .and_then(|r| UserView::of(&key.login_id, &r))
            .ok_or(Error::UserNotFound)
    }

    /// POST /v1/mgmt/user/delete: nothing of the loginId stays, whether it
    /// was a user, a pending sign-up or nothing at all. Their refresh JWTs
    /// then fail, as their user is gone.
    pub async fn delete_user(&self, key: UserKey) -> Result<(), Error> {
        self.store.delete_user(&key).await.map_err(storage)
    }
}
