//! The TOTP routes: sign up, verify a code, update a key.

use serde_json::{Map, Value};

use super::{internal, random_id, storage, App, SessionClaims, SignedIn, UserView};
use crate::domain::{Code, LoginId, Profile, ProjectId};
use crate::error::Error;
use crate::lockout::{plan_attempt, AttemptPlan, LockoutPolicy};
use crate::otpauth::{self, Provisioning, QrError, TotpSecret};
use crate::secret_box::SealedSecret;
use crate::store::{Attempts, NewEnrollment, PendingKey, Status, Store, StoreError, UserKey, UserRecord};
use crate::tokens::RefreshToken;
use crate::totp;

/// A signup request after validation.
#[derive(Debug)]
pub struct SignupRequest {
    pub login_id: LoginId,
    pub profile: Profile,
    pub sso_app_id: Option<String>,
}

/// A verify request after validation.
#[derive(Debug)]
pub struct VerifyRequest {
    pub login_id: LoginId,
    pub code: Code,
    /// `loginOptions.stepup` or `.mfa`: the caller must prove a session.
    pub step_up: bool,
    /// The refresh JWT from the Authorization header, if any.
    pub refresh_jwt: Option<String>,
    pub custom_claims: Option<Map<String, Value>>,
    /// `loginOptions.revokeOtherSessions`: end every earlier session.
    pub revoke_other_sessions: bool,
}

/// How often a contended attempt is re-read and retried before answering 429.
const ATTEMPT_RETRIES: usize = 4;

fn provision(issuer: &str, login_id: &LoginId, secret: &TotpSecret) -> Result<Provisioning, Error> {
    otpauth::provision(issuer, login_id.as_str(), secret).map_err(|e| match e {
        // Only an extreme loginId makes the URL too long for a QR code.
        QrError::TooLong => Error::InvalidArgument("loginId"),
        QrError::Png => internal("png encoding failed"),
    })
}

impl<S: Store> App<S> {
    fn seal(&self, key: &UserKey, secret: &TotpSecret) -> Result<SealedSecret, Error> {
        self.secret_box()?
            .seal(&key.project, &key.login_id, secret)
            .map_err(|_| internal("sealing a secret failed"))
    }

    fn open(&self, key: &UserKey, sealed: &SealedSecret) -> Result<TotpSecret, Error> {
        self.secret_box()?
            .open(&key.project, &key.login_id, sealed)
            .map_err(|e| {
                tracing::error!(error = %e, "a stored secret does not decrypt");
                Error::Internal
            })
    }

    /// POST /v1/auth/totp/signup
    pub async fn signup(&self, project: ProjectId, request: SignupRequest) -> Result<Provisioning, Error> {
        let now = self.clock.now();
        let key = UserKey {
            project,
            login_id: request.login_id,
        };
        let secret = TotpSecret::generate().map_err(|_| internal("random source failed"))?;
        // Everything that can fail on input is done before anything is written.
        let provisioning = provision(&self.config.issuer, &key.login_id, &secret)?;
        let enrollment = NewEnrollment {
            enrollment_id: random_id("E", 16)?,
            secret: self.seal(&key, &secret)?,
            profile: request.profile,
            sso_app_id: request.sso_app_id,
            expires_at: now + self.config.pending_ttl_seconds,
            key,
        };
        match self.store.put_pending_signup(&enrollment).await {
            Ok(()) => Ok(provisioning),
            // Registered: a user whose key support removed enrols again and
            // keeps their userId; anyone else is already registered.
            Err(StoreError::Conflict) => {
                let returning = PendingKey {
                    enrollment_id: enrollment.enrollment_id,
                    secret: enrollment.secret,
                    expires_at: enrollment.expires_at,
                };
                match self.store.put_reenrolment(&enrollment.key, &returning).await {
                    Ok(()) => Ok(provisioning),
                    Err(StoreError::Conflict) => Err(Error::AlreadyRegistered),
                    Err(e) => Err(storage(e)),
                }
            }
            Err(e) => Err(storage(e)),
        }
    }

    async fn live_record(&self, key: &UserKey, now: u64) -> Result<UserRecord, Error> {
        let record = self.store.get(key).await.map_err(storage)?;
        record.filter(|r| r.is_live(now)).ok_or(Error::UserNotFound)
    }

    /// Takes one attempt from the user's lockout budget before a code is
    /// even looked at, so parallel guesses cannot exceed the limit.
    async fn take_attempt(&self, key: &UserKey, mut observed: Attempts, now: u64) -> Result<(), Error> {
        let policy = LockoutPolicy::of(&self.config);
        for _ in 0..ATTEMPT_RETRIES {
            let written = match plan_attempt(observed, policy, now) {
                AttemptPlan::Locked { retry_after } => return Err(Error::LockedOut { retry_after }),
                AttemptPlan::Take(take) => self.store.take_attempt(key, &take).await,
            };
            match written {
                Ok(()) => return Ok(()),
                // Someone else counted first: look again.
                Err(StoreError::Conflict) => observed = self.live_record(key, now).await?.attempts,
                Err(e) => return Err(storage(e)),
            }
        }
        // Sustained contention on one user: transient by nature.
        Err(Error::LockedOut { retry_after: 1 })
    }

    /// The user named in the body, for update and step-up: the refresh
    /// token must be that user's (E061004, without reading anything) and its
    /// session live (E064001: revoked, or its user deleted or re-created).
    async fn record_of_session(&self, key: &UserKey, token: &RefreshToken) -> Result<UserRecord, Error> {
        if token.login_id != key.login_id.as_str() {
            return Err(Error::InvalidRefreshToken);
        }
        self.live_session(key, token).await
    }

    /// POST /v1/auth/totp/verify
    pub async fn verify(&self, project: ProjectId, request: VerifyRequest) -> Result<SignedIn, Error> {
        let now = self.clock.now();
        let key = UserKey {
            project,
            login_id: request.login_id,
        };
        let record = if request.step_up {
            // The token is checked before the store is read: no token, no lookup.
            let token = self.refresh_token(&key.project, request.refresh_jwt.as_deref(), now)?;
            self.record_of_session(&key, &token).await?
        } else {
            self.live_record(&key, now).await?
        };
        self.take_attempt(&key, record.attempts, now).await?;

        let code = request.code.as_str();
        let current_step = match &record.secret {
            Some(sealed) => totp::matching_step(self.open(&key, sealed)?.as_bytes(), code, now),
            // Support removed the key: only a new (pending) key can match.
            None => None,
        };
        let pending = match (&record.status, record.live_pending_key(now)) {
            (Status::Registered { .. }, Some(p)) => Some((p, self.open(&key, &p.secret)?)),
            _ => None,
        };
        let pending_step = pending
            .as_ref()
            .and_then(|(_, s)| totp::matching_step(s.as_bytes(), code, now));
        // A step not newer than the last accepted one is a replay: same answer as a wrong code.
        let fresh = |step: Option<totp::TimeStep>| step.filter(|s| record.last_step.is_none_or(|last| s.0 > last));

        let (user_id, created_time, first_seen, generation) =
            match (&record.status, fresh(current_step), fresh(pending_step), &pending) {
                (Status::Pending { .. }, Some(step), _, _) => {
                    let user_id = random_id("U2", 16)?;
                    let generation = self
                        .store
                        .complete_signup(&key, &record.enrollment_id, step.0, &user_id, now)
                        .await
                        .map_err(lost_race)?;
                    (user_id, now, true, generation)
                }
                // A code of the new key confirms it, retires the old one and
                // ends every session opened before.
                (Status::Registered { user_id, created_time }, _, Some(step), Some((pending_key, _))) => {
                    let generation = self
                        .store
                        .promote_pending_key(&key, pending_key, step.0, now)
                        .await
                        .map_err(lost_race)?;
                    (user_id.clone(), *created_time, false, generation)
                }
                (Status::Registered { user_id, created_time }, Some(step), _, _) => {
                    let generation = self
                        .store
                        .record_sign_in(&key, &record.enrollment_id, step.0, request.revoke_other_sessions)
                        .await
                        .map_err(lost_race)?;
                    (user_id.clone(), *created_time, false, generation)
                }
                _ => return Err(Error::WrongCode),
            };

        let user = UserView {
            login_id: key.login_id.as_str().to_owned(),
            user_id,
            created_time,
            profile: record.profile,
            sso_app_ids: record.sso_app_id.into_iter().collect(),
            totp: true,
        };
        let session = SessionClaims {
            custom_claims: request.custom_claims,
            stepped_up: request.step_up,
        };
        self.issue_tokens(&key.project, user, first_seen, session, generation, now)
    }

    /// POST /v1/auth/totp/update
    pub async fn update(
        &self,
        project: ProjectId,
        refresh_jwt: Option<&str>,
        login_id: LoginId,
    ) -> Result<Provisioning, Error> {
        let now = self.clock.now();
        // The token is checked before the store is read: no token, no lookup.
        let token = self.refresh_token(&project, refresh_jwt, now)?;
        let key = UserKey { project, login_id };
        self.record_of_session(&key, &token).await?;
        let user_id = &token.user_id;
        let secret = TotpSecret::generate().map_err(|_| internal("random source failed"))?;
        let provisioning = provision(&self.config.issuer, &key.login_id, &secret)?;
        let pending = PendingKey {
            enrollment_id: random_id("E", 16)?,
            secret: self.seal(&key, &secret)?,
            expires_at: now + self.config.pending_ttl_seconds,
        };
        match self.store.put_pending_key(&key, user_id, &pending).await {
            Ok(()) => Ok(provisioning),
            Err(StoreError::Conflict) => Err(Error::UserNotFound),
            Err(e) => Err(storage(e)),
        }
    }
}

/// A conditional write that lost to another request (a replay, a newer
/// signup, a racing verify) answers like a wrong code.
fn lost_race(error: StoreError) -> Error {
    match error {
        StoreError::Conflict => Error::WrongCode,
        other => storage(other),
    }
}
