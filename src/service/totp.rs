//! The TOTP routes: sign up, verify a code, update a key.

use serde_json::{Map, Value};

use super::{internal, random_id, storage, App, SessionClaims, SignedIn, UserView};
use crate::domain::{Code, LoginId, Profile, ProjectId};
use crate::error::Error;
use crate::lockout::{open_windows, plan_attempt, AttemptPlan, LockoutPolicy};
use crate::otpauth::{self, Provisioning, QrError, TotpSecret};
use crate::secret_box::{Binding, Field, Opened, SealedSecret, SecretBoxError};
use crate::store::{NewEnrollment, PendingKey, SignIn, Status, Store, StoreError, UserKey, UserRecord};
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
/// Each round, at least one of the contending writes wins; a dozen parallel
/// verifies of one user on a loaded machine needed more than 4.
const ATTEMPT_RETRIES: usize = 8;

/// The enrollment id of a pending key that has expired at `now`.
fn expired_pending(record: &UserRecord, now: u64) -> Option<String> {
    record
        .pending_key
        .as_ref()
        .filter(|p| p.expires_at <= now)
        .map(|p| p.enrollment_id.clone())
}

fn binding<'a>(key: &'a UserKey, field: Field, enrollment_id: &'a str) -> Binding<'a> {
    Binding {
        project: &key.project,
        login_id: &key.login_id,
        field,
        enrollment_id,
    }
}

fn provision(
    issuer: &str,
    login_id: &LoginId,
    secret: &TotpSecret,
    params: totp::TotpParams,
) -> Result<Provisioning, Error> {
    otpauth::provision(issuer, login_id.as_str(), secret, params).map_err(|e| match e {
        // Only an extreme loginId makes the URL too long for a QR code.
        QrError::TooLong => Error::InvalidArgument("loginId"),
        QrError::Png => internal("png encoding failed"),
    })
}

impl<S: Store> App<S> {
    /// Seals `secret` for the `field` of `key`'s item, beside `enrollment_id`.
    pub(super) fn seal(
        &self,
        key: &UserKey,
        field: Field,
        enrollment_id: &str,
        secret: &TotpSecret,
    ) -> Result<SealedSecret, Error> {
        self.secret_box()?
            .seal(&binding(key, field, enrollment_id), secret)
            .map_err(|_| internal("sealing a secret failed"))
    }

    pub(super) fn open(
        &self,
        key: &UserKey,
        field: Field,
        enrollment_id: &str,
        sealed: &SealedSecret,
    ) -> Result<Opened, SecretBoxError> {
        self.secret_box()
            .map_err(|_| SecretBoxError::UnknownKey)?
            .open(&binding(key, field, enrollment_id), sealed)
    }

    /// POST /v1/auth/totp/signup
    pub async fn signup(&self, project: ProjectId, request: SignupRequest) -> Result<Provisioning, Error> {
        let now = self.clock.now();
        let key = UserKey {
            project,
            login_id: request.login_id,
        };
        let secret = TotpSecret::generate().map_err(|_| internal("random source failed"))?;
        // The project's own issuer and key parameters, or the deployment's.
        let params = self.config.totp_params_of(&key.project);
        // Everything that can fail on input is done before anything is written.
        let provisioning = provision(self.config.issuer_of(&key.project), &key.login_id, &secret, params)?;
        let enrollment_id = random_id("E", 16)?;
        let enrollment = NewEnrollment {
            secret: self.seal(&key, Field::Secret, &enrollment_id, &secret)?,
            enrollment_id,
            profile: request.profile,
            sso_app_id: request.sso_app_id,
            expires_at: now + self.config.pending_ttl_seconds,
            params,
            key,
        };
        match self.store.put_pending_signup(&enrollment).await {
            Ok(()) => Ok(provisioning),
            // Registered, with a key or without one: signup needs only the
            // project id, so it never attaches a key to an existing user.
            // A user whose key support removed proves who they are first
            // (a sign-in link), then enrols through update.
            Err(StoreError::Conflict) => Err(Error::AlreadyRegistered),
            Err(e) => Err(storage(e)),
        }
    }

    pub(super) async fn live_record(&self, key: &UserKey, now: u64) -> Result<UserRecord, Error> {
        let record = self.store.get(key).await.map_err(storage)?;
        record.filter(|r| r.is_live(now)).ok_or(Error::UserNotFound)
    }

    /// The user a code may sign in: live, and not disabled (checked before
    /// any attempt is counted; the success write checks it again).
    pub(super) async fn signable_record(&self, key: &UserKey, now: u64) -> Result<UserRecord, Error> {
        let record = self.live_record(key, now).await?;
        if record.disabled {
            return Err(Error::UserDisabled);
        }
        Ok(record)
    }

    /// Counts a wrong code (checked before, answered after): takes one
    /// attempt from the user's lockout budget in both windows, under
    /// conditions that keep parallel guesses within either limit. The same
    /// write removes an expired pending key. Returns the attempt's id.
    pub(super) async fn take_attempt(&self, key: &UserKey, record: &UserRecord, now: u64) -> Result<String, Error> {
        let policy = LockoutPolicy::of(&self.config, &key.project);
        let attempt_id = random_id("A", 10)?;
        let (mut observed, mut expired) = (record.attempts, expired_pending(record, now));
        for _ in 0..ATTEMPT_RETRIES {
            let written = match plan_attempt(observed, policy, now) {
                AttemptPlan::Locked { retry_after } => return Err(Error::LockedOut { retry_after }),
                AttemptPlan::Take(take) => {
                    self.store
                        .take_attempt(key, &attempt_id, &take, expired.as_deref(), true)
                        .await
                }
            };
            match written {
                Ok(()) => return Ok(attempt_id),
                // Someone else counted (or wrote) first, or this attempt's
                // own write landed and only its answer was lost: look again.
                Err(StoreError::Conflict) => {
                    let fresh = self.live_record(key, now).await?;
                    if fresh.counted_attempts.contains(&attempt_id) {
                        return Ok(attempt_id);
                    }
                    (observed, expired) = (fresh.attempts, expired_pending(&fresh, now));
                }
                Err(e) => return Err(storage(e)),
            }
        }
        // Sustained contention on one user: transient by nature.
        Err(Error::LockedOut { retry_after: 1 })
    }

    /// The outcome of a success write (written without an attempt taken
    /// first). Its condition failing means another request won the race (a
    /// replay, a newer signup, a racing verify: the code then answers like a
    /// wrong one), or wrong codes filled a lockout window since the read
    /// (a lockout), unless the write was this attempt's own: it landed, its
    /// answer was lost, and the SDK's retry found the condition no longer true.
    pub(super) async fn settle_sign_in(
        &self,
        key: &UserKey,
        attempt: &str,
        written: Result<u64, StoreError>,
        (policy, now): (LockoutPolicy, u64),
    ) -> Result<u64, Error> {
        match written {
            Ok(generation) => Ok(generation),
            Err(StoreError::Conflict) => match self.store.get(key).await.map_err(storage)? {
                Some(record) if record.accepted_attempt.as_deref() == Some(attempt) => Ok(record.session_generation),
                // Disabled since it was read: the administrator won.
                Some(record) if record.disabled => Err(Error::UserDisabled),
                Some(record) => match plan_attempt(record.attempts, policy, now) {
                    AttemptPlan::Locked { retry_after } => Err(Error::LockedOut { retry_after }),
                    AttemptPlan::Take(_) => Err(Error::WrongCode),
                },
                None => Err(Error::WrongCode),
            },
            Err(e) => Err(storage(e)),
        }
    }

    /// The user named in the body, for update and step-up: the refresh
    /// token must be that user's (E061004, without reading anything) and its
    /// session live (E064001: revoked, or its user deleted or re-created).
    pub(super) async fn record_of_session(&self, key: &UserKey, token: &RefreshToken) -> Result<UserRecord, Error> {
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
            self.signable_record(&key, now).await?
        };

        let code = request.code.as_str();
        let current = match &record.secret {
            Some(sealed) => Some(
                self.open(&key, Field::Secret, &record.enrollment_id, sealed)
                    .map_err(|e| {
                        tracing::error!(error = %e, "a stored secret does not decrypt");
                        Error::Internal
                    })?,
            ),
            // Support removed the key: only a new (pending) key can match.
            None => None,
        };
        let current_step = current
            .as_ref()
            .and_then(|c| totp::matching_step(record.totp_params, c.secret.as_bytes(), code, now))
            .map(|step| record.totp_params.replay_counter(step));
        let pending = match (&record.status, record.live_pending_key(now)) {
            (Status::Registered { .. }, Some(p)) => {
                // A pending key this instance cannot open (sealed under an
                // encryption key it does not hold yet, or tampered with) is
                // treated as absent: it never blocks the user's current key.
                match self.open(&key, Field::PendingSecret, &p.enrollment_id, &p.secret) {
                    Ok(opened) => Some((p, opened.secret)),
                    Err(e) => {
                        tracing::warn!(error = %e, key_id = p.secret.key_id, "a pending key does not open; ignored");
                        None
                    }
                }
            }
            _ => None,
        };
        let pending_step = pending.as_ref().and_then(|(p, s)| {
            totp::matching_step(p.params, s.as_bytes(), code, now).map(|step| p.params.replay_counter(step))
        });
        // Steps compare as replay counters, one scale whatever the key's period.
        // A step not newer than the last accepted one is a replay: same answer as a wrong code.
        let fresh = |counter: Option<u64>| counter.filter(|c| record.accepts_step(*c));
        // The code is checked before anything is written; then one write:
        // a wrong code is counted (and only then answered), a right one is
        // recorded by a success write that requires neither lockout window
        // to be full (docs/storage.md, "One read, one write").
        let matched = fresh(current_step).is_some()
            || (matches!(record.status, Status::Registered { .. })
                && pending.is_some()
                && fresh(pending_step).is_some());
        let policy = LockoutPolicy::of(&self.config, &key.project);
        if let AttemptPlan::Locked { retry_after } = plan_attempt(record.attempts, policy, now) {
            return Err(Error::LockedOut { retry_after });
        }
        if !matched {
            self.take_attempt(&key, &record, now).await?;
            return Err(Error::WrongCode);
        }
        let attempt = random_id("A", 10)?;
        let open = open_windows(policy, now);
        let lockout = (policy, now);

        let (user_id, created_time, first_seen, generation) =
            match (&record.status, fresh(current_step), fresh(pending_step), &pending) {
                (Status::Pending { .. }, Some(step), _, _) => {
                    let user_id = random_id("U2", 16)?;
                    let written = self
                        .store
                        .complete_signup(&key, &attempt, &record.enrollment_id, step, &user_id, &open)
                        .await;
                    let generation = self.settle_sign_in(&key, &attempt, written, lockout).await?;
                    (user_id, now, true, generation)
                }
                // A code of the new key confirms it, retires the old one and
                // ends every session opened before.
                (Status::Registered { user_id, created_time }, _, Some(step), Some((pending_key, secret))) => {
                    // Sealed again for its new place: `secret` beside the enrollment id it brings.
                    let promoted = self.seal(&key, Field::Secret, &pending_key.enrollment_id, secret)?;
                    let written = self
                        .store
                        .promote_pending_key(&key, &attempt, pending_key, &promoted, step, &open)
                        .await;
                    let generation = self.settle_sign_in(&key, &attempt, written, lockout).await?;
                    (user_id.clone(), *created_time, false, generation)
                }
                (Status::Registered { user_id, created_time }, Some(step), _, _) => {
                    // A secret sealed the old way (v1, or an old key) is sealed
                    // anew by the sign-in that proves it: migration on the next write.
                    let resealed = match &current {
                        Some(opened) if !opened.current => {
                            Some(self.seal(&key, Field::Secret, &record.enrollment_id, &opened.secret)?)
                        }
                        _ => None,
                    };
                    let sign_in = SignIn {
                        attempt_id: &attempt,
                        enrollment_id: &record.enrollment_id,
                        step,
                        end_other_sessions: request.revoke_other_sessions,
                        resealed: resealed.as_ref(),
                    };
                    let written = self.store.record_sign_in(&key, &sign_in, &open).await;
                    let generation = self.settle_sign_in(&key, &attempt, written, lockout).await?;
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
            recovery_codes: record.recovery_codes.len(),
            disabled: false,
        };
        let session = SessionClaims {
            custom_claims: request.custom_claims,
            stepped_up: request.step_up,
            amr: Vec::new(),
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
        // Changing the key needs a recent sign-in, not only a refresh JWT
        // that may be weeks old: a thief of one cannot replace the key.
        if now > token.issued_at.saturating_add(self.config.update_freshness_seconds) {
            return Err(Error::StaleSession);
        }
        let key = UserKey { project, login_id };
        self.record_of_session(&key, &token).await?;
        let secret = TotpSecret::generate().map_err(|_| internal("random source failed"))?;
        let params = self.config.totp_params_of(&key.project);
        let provisioning = provision(self.config.issuer_of(&key.project), &key.login_id, &secret, params)?;
        let enrollment_id = random_id("E", 16)?;
        let pending = PendingKey {
            secret: self.seal(&key, Field::PendingSecret, &enrollment_id, &secret)?,
            enrollment_id,
            expires_at: now + self.config.pending_ttl_seconds,
            generation: Some(token.generation),
            params,
        };
        match self.store.put_pending_key(&key, &token.session(), &pending).await {
            Ok(()) => Ok(provisioning),
            // The session ended (or its user went) since it was read.
            Err(StoreError::Conflict) => Err(Error::SessionRevoked),
            Err(e) => Err(storage(e)),
        }
    }
}
