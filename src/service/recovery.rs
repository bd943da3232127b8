//! Recovery codes: a signed-in user creates ten (with a current TOTP code),
//! and redeems one for a session after losing the authenticator. Creation
//! is served by the update function (it checks refresh JWTs and opens TOTP
//! secrets, and holds the hashing key's source); redemption by verify (it
//! issues tokens); support's removal by management.

use serde_json::{Map, Value};

use super::{internal, random_id, storage, App, SessionClaims, SignedIn, UserView, AMR_RECOVERY_CODE};
use crate::domain::{Code, LoginId, ProjectId};
use crate::error::Error;
use crate::lockout::{open_windows, plan_attempt, AttemptPlan, LockoutPolicy};
use crate::recovery::{self, RecoveryCode};
use crate::secret_box::Field;
use crate::store::{RecoveryCodeSet, RecoveryRedemption, SignIn, Store, StoreError, UserKey, UserRecord};
use crate::totp;

/// A redemption request after validation.
#[derive(Debug)]
pub struct RecoveryRequest {
    pub login_id: LoginId,
    pub code: RecoveryCode,
    pub custom_claims: Option<Map<String, Value>>,
}

impl<S: Store> App<S> {
    /// POST /v1/auth/totp/recovery-codes: a new set of ten codes, shown this
    /// once, replacing any earlier set. Needs a live refresh JWT of the user
    /// and a current code of their key, which is spent as a sign-in's is
    /// (lockout, replay), in the same write that stores the set.
    pub async fn create_recovery_codes(
        &self,
        project: ProjectId,
        refresh_jwt: Option<&str>,
        login_id: LoginId,
        code: Code,
    ) -> Result<Vec<String>, Error> {
        let now = self.clock.now();
        let token = self.refresh_token(&project, refresh_jwt, now)?;
        let key = UserKey { project, login_id };
        let record = self.record_of_session(&key, &token).await?;
        // Only the user's current key proves it is them (not a pending one).
        let step = match &record.secret {
            Some(sealed) => {
                let opened = self
                    .open(&key, Field::Secret, &record.enrollment_id, sealed)
                    .map_err(|_| internal("a stored secret does not decrypt"))?;
                totp::matching_step(record.totp_params, opened.secret.as_bytes(), code.as_str(), now)
                    .map(|step| record.totp_params.replay_counter(step))
                    .filter(|counter| record.accepts_step(*counter))
            }
            None => None,
        };
        // As a sign-in: checked before anything is written; then one write,
        // counting a wrong code (answered only after), or spending a right one
        // with the set, under the condition that neither lockout window is full.
        let policy = LockoutPolicy::of(&self.config, &key.project);
        if let AttemptPlan::Locked { retry_after } = plan_attempt(record.attempts, policy, now) {
            return Err(Error::LockedOut { retry_after });
        }
        let Some(step) = step else {
            self.take_attempt(&key, &record, now).await?;
            return Err(Error::WrongCode);
        };
        let attempt = random_id("A", 10)?;
        let codes = recovery::generate_set().map_err(|_| internal("random source failed"))?;
        let (key_id, hashing_key) = self
            .secret_box()?
            .recovery_key(None)
            .map_err(|_| internal("no current encryption key"))?;
        let hashes = codes
            .iter()
            .map(|c| recovery::hash(hashing_key, &key.project, &key.login_id, c))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| internal("hashing a recovery code failed"))?;
        let set = RecoveryCodeSet {
            hashes,
            key_id: key_id.to_owned(),
        };
        let sign_in = SignIn {
            attempt_id: &attempt,
            enrollment_id: &record.enrollment_id,
            step,
            end_other_sessions: false,
            resealed: None,
        };
        let written = self
            .store
            .put_recovery_codes(&key, &token.session(), &sign_in, &set, &open_windows(policy, now))
            .await;
        match self
            .settle_sign_in(&key, &attempt, written.map(|()| 0), (policy, now))
            .await
        {
            Ok(_) => Ok(codes.iter().map(RecoveryCode::display).collect()),
            // Lost to a session that ended meanwhile, or to a racing use of the code.
            Err(Error::WrongCode) => {
                self.live_session(&key, &token).await?;
                Err(Error::WrongCode)
            }
            Err(e) => Err(e),
        }
    }

    /// POST /v1/auth/totp/recovery: one recovery code for a session. A wrong
    /// code counts in the same lockout windows as a wrong TOTP code; the code
    /// is spent in the write that records the success, so it signs in once.
    pub async fn redeem_recovery_code(&self, project: ProjectId, request: RecoveryRequest) -> Result<SignedIn, Error> {
        let now = self.clock.now();
        let key = UserKey {
            project,
            login_id: request.login_id,
        };
        let record = self.signable_record(&key, now).await?;
        let found = self.matching_recovery_code(&key, &record, &request.code)?;
        // As a sign-in: the code is checked before anything is written; then
        // one write, counting a wrong code (answered only after), or spending
        // a right one under the condition that neither lockout window is full.
        let policy = LockoutPolicy::of(&self.config, &key.project);
        if let AttemptPlan::Locked { retry_after } = plan_attempt(record.attempts, policy, now) {
            return Err(Error::LockedOut { retry_after });
        }
        let (Some((hash, key_id)), Some(user)) = (found, UserView::of(&key.login_id, &record)) else {
            self.take_attempt(&key, &record, now).await?;
            return Err(Error::WrongCode);
        };
        let attempt = random_id("A", 10)?;
        let redemption = RecoveryRedemption {
            attempt_id: &attempt,
            hash,
            key_id,
        };
        let written = self
            .store
            .spend_recovery_code(&key, &redemption, &open_windows(policy, now))
            .await;
        let generation = self.settle_sign_in(&key, &attempt, written, (policy, now)).await?;
        let user = UserView {
            recovery_codes: record.recovery_codes.len().saturating_sub(1),
            ..user
        };
        let claims = SessionClaims {
            custom_claims: request.custom_claims,
            stepped_up: false,
            amr: vec![AMR_RECOVERY_CODE.to_owned()],
        };
        self.issue_tokens(&key.project, user, false, claims, generation, now)
    }

    /// The stored hash `code` matches, and the key that made it, if any.
    fn matching_recovery_code<'r>(
        &self,
        key: &UserKey,
        record: &'r UserRecord,
        code: &RecoveryCode,
    ) -> Result<Option<(&'r str, &str)>, Error> {
        let Some(stored_key) = record.recovery_key_id.as_deref() else {
            return Ok(None);
        };
        // Hashed under an encryption key since removed: those codes can no
        // longer be checked (the codes themselves are never stored).
        let Ok((key_id, hashing_key)) = self.secret_box()?.recovery_key(Some(stored_key)) else {
            tracing::warn!(
                key_id = stored_key,
                "recovery codes hashed under a key this function does not hold"
            );
            return Ok(None);
        };
        let candidate = recovery::hash(hashing_key, &key.project, &key.login_id, code)
            .ok_or_else(|| internal("hashing a recovery code failed"))?;
        Ok(recovery::find(&record.recovery_codes, &candidate).map(|hash| (hash.as_str(), key_id)))
    }

    /// POST /v1/mgmt/user/recovery-codes/delete: the user's codes are gone.
    pub async fn remove_recovery_codes(&self, key: UserKey) -> Result<(), Error> {
        match self.store.remove_recovery_codes(&key).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(Error::UserNotFound),
            Err(e) => Err(storage(e)),
        }
    }
}
