//! Support's tools, behind a management key: remove a user's key (lost
//! device), end their sessions, load them, delete them.

use super::{random_id, storage, App, UserView};
use crate::error::Error;
use crate::store::{Store, StoreError, UserKey};

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
