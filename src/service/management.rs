//! Support's tools, behind a management key: create users (one by one or
//! in batches, with the seeds their authenticators already hold), enable
//! and disable them, find them, remove a user's key (lost device), issue a
//! sign-in link (their way back in), end their sessions, delete them.

use serde_json::{Map, Value};

use super::{internal, random_id, sign_in_link_hash, storage, App, UserView};
use crate::domain::{LoginId, Profile, ProjectId};
use crate::error::Error;
use crate::secret_box::Field;
use crate::seed::ImportedSeed;
use crate::store::{NewUser, SignInLink, Store, StoreError, UserKey, UserQuery};

/// Most users one batch call creates or deletes.
pub const MAX_BATCH_USERS: usize = 100;
/// Most users one search page holds (and its size when the caller says 0).
pub const MAX_SEARCH_LIMIT: usize = 100;

/// A user to create, validated.
#[derive(Debug)]
pub struct NewUserRequest {
    pub login_id: LoginId,
    pub profile: Profile,
    pub disabled: bool,
    /// The key their authenticator already holds; `None`: they enrol later.
    pub seed: Option<ImportedSeed>,
}

/// One user of a batch as parsed: a request, or the loginId as sent and
/// why it cannot be one.
pub type BatchEntry = Result<NewUserRequest, (String, Error)>;

/// One user of a batch: created, or why not.
#[derive(Debug)]
pub enum BatchOutcome {
    Created(UserView),
    /// The error, and the loginId as sent (it may not have parsed).
    Failed {
        login_id: String,
        error: Error,
    },
}

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

    /// POST /v1/mgmt/user/create: a registered user at once, with the
    /// imported seed sealed before anything is written, or without a key
    /// (they enrol through a sign-in link, then update). 409 if the loginId
    /// is registered; a pending sign-up under it is replaced.
    pub async fn create_user(&self, project: ProjectId, request: NewUserRequest) -> Result<UserView, Error> {
        let key = UserKey {
            project,
            login_id: request.login_id,
        };
        let enrollment_id = random_id("E", 16)?;
        let secret = match &request.seed {
            Some(seed) => Some((
                self.seal(&key, Field::Secret, &enrollment_id, &seed.secret)?,
                seed.params,
            )),
            None => None,
        };
        let user = NewUser {
            user_id: random_id("U2", 16)?,
            enrollment_id,
            secret,
            profile: request.profile,
            disabled: request.disabled,
            created_time: self.clock.now(),
            key,
        };
        match self.store.create_user(&user).await {
            Ok(()) => Ok(UserView {
                login_id: user.key.login_id.as_str().to_owned(),
                user_id: user.user_id,
                created_time: user.created_time,
                profile: user.profile,
                sso_app_ids: Vec::new(),
                totp: user.secret.is_some(),
                recovery_codes: 0,
                disabled: user.disabled,
            }),
            Err(StoreError::Conflict) => Err(Error::AlreadyRegistered),
            Err(e) => Err(storage(e)),
        }
    }

    /// POST /v1/mgmt/user/create/batch: each user as [`App::create_user`],
    /// independently and one after another (each its own transaction, so a
    /// failure half-way leaves every user created or absent, and says which).
    pub async fn create_users(&self, project: &ProjectId, users: Vec<BatchEntry>) -> Vec<BatchOutcome> {
        let mut outcomes = Vec::with_capacity(users.len());
        for user in users {
            let outcome = match user {
                Ok(request) => {
                    let login_id = request.login_id.as_str().to_owned();
                    match self.create_user(project.clone(), request).await {
                        Ok(view) => BatchOutcome::Created(view),
                        Err(error) => BatchOutcome::Failed { login_id, error },
                    }
                }
                Err((login_id, error)) => BatchOutcome::Failed { login_id, error },
            };
            outcomes.push(outcome);
        }
        outcomes
    }

    /// POST /v1/mgmt/user/update/status: disabling ends every session in the
    /// same write; enabling brings none back.
    pub async fn set_status(&self, key: UserKey, disabled: bool) -> Result<UserView, Error> {
        let record = self.store.set_disabled(&key, disabled).await.map_err(no_such_user)?;
        UserView::of(&key.login_id, &record).ok_or(Error::UserNotFound)
    }

    /// GET /v1/mgmt/user?userId=…: strongly consistent, through the pointer
    /// written with the user.
    pub async fn load_user_by_id(&self, project: ProjectId, user_id: &str) -> Result<UserView, Error> {
        let login_id = self
            .store
            .login_id_of(&project, user_id)
            .await
            .map_err(storage)?
            .ok_or(Error::UserNotFound)?;
        let login_id = LoginId::parse(Some(&login_id)).map_err(|_| internal("a stored loginId does not parse"))?;
        let key = UserKey { project, login_id };
        let view = self.load_user(key).await?;
        // The pointer is deleted with its user; a mismatch is a user re-created meanwhile.
        if view.user_id != user_id {
            return Err(Error::UserNotFound);
        }
        Ok(view)
    }

    /// POST /v2/mgmt/user/search: one page of the project's users.
    pub async fn search_users(&self, project: &ProjectId, query: &UserQuery) -> Result<Vec<UserView>, Error> {
        let found = self.store.search_users(project, query).await.map_err(storage)?;
        Ok(found
            .into_iter()
            .filter_map(|(login_id, record)| {
                let login_id = LoginId::parse(Some(&login_id)).ok()?;
                UserView::of(&login_id, &record)
            })
            .collect())
    }

    /// POST /v1/mgmt/user/delete/batch: each userId as delete; unknown ones
    /// are already gone.
    pub async fn delete_users(&self, project: &ProjectId, user_ids: &[String]) -> Result<(), Error> {
        for user_id in user_ids {
            let Some(login_id) = self.store.login_id_of(project, user_id).await.map_err(storage)? else {
                continue;
            };
            let login_id = LoginId::parse(Some(&login_id)).map_err(|_| internal("a stored loginId does not parse"))?;
            let key = UserKey {
                project: project.clone(),
                login_id,
            };
            // Only the user the id names: not someone re-created under the loginId since.
            match self.store.get(&key).await.map_err(storage)? {
                Some(record) if UserView::of(&key.login_id, &record).is_some_and(|u| u.user_id == *user_id) => {
                    self.store.delete_user(&key).await.map_err(storage)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// POST /v1/mgmt/user/delete: nothing of the loginId stays, whether it
    /// was a user, a pending sign-up or nothing at all. Their refresh JWTs
    /// then fail, as their user is gone.
    pub async fn delete_user(&self, key: UserKey) -> Result<(), Error> {
        self.store.delete_user(&key).await.map_err(storage)
    }
}
