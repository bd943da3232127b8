//! What the service keeps about each user, and the small trait it is kept
//! behind. Every method that changes state is a single conditional write, so
//! two racing requests can never both win (see `dynamo.rs`).

use std::future::Future;

use crate::domain::{LoginId, Profile, ProjectId};
use crate::secret_box::SealedSecret;
use crate::totp::TotpParams;

pub mod dynamo;

/// Which user of which project. Every stored item belongs to exactly one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKey {
    pub project: ProjectId,
    pub login_id: LoginId,
}

/// Where a loginId is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Signed up, no code verified yet; gone (for every decision) after `expires_at`.
    Pending { expires_at: u64 },
    /// A code was verified: the user exists.
    Registered { user_id: String, created_time: u64 },
}

/// Attempts at a code, for lockout (see `lockout`): those in the short
/// window that started at `window_start`, and those in the long window that
/// started at `long_window_start` (less the successes, which give theirs back).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempts {
    pub count: u32,
    pub window_start: Option<u64>,
    /// As stored: a success that lands just after another attempt opened a
    /// new long window may take it below zero (it counts as zero).
    pub long_count: i64,
    pub long_window_start: Option<u64>,
}

/// How one lockout window counts an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowStep {
    /// Add one to the window that started at `start`, if it still did and
    /// holds fewer than the limit (an atomic increment: parallel attempts
    /// do not conflict).
    Continue { start: u64 },
    /// Open a new window at `at` with this attempt as its first, if the
    /// window is still the one seen (`replacing`; `None`: there was none).
    Open { replacing: Option<u64>, at: u64 },
}

/// The lockout windows as a verify's success must find them when it is
/// written: neither full at that moment. A code is checked before anything
/// is written, and a right one takes no attempt (only wrong ones are
/// counted), so the success write itself carries the lockout: parallel
/// wrong guesses fill a window atomically, and a right code arriving after
/// them finds it full and is refused like any other attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenWindows {
    /// When the success is written: its enrollment or pending key must not
    /// have expired by then either.
    pub now: u64,
    pub short_limit: u32,
    /// A short window that started at or before this has ended.
    pub short_ended_by: u64,
    pub long_limit: u32,
    pub long_ended_by: u64,
}

/// A verified code of the user's current key.
#[derive(Debug, Clone, Copy)]
pub struct SignIn<'a> {
    /// The verify attempt whose code matched (see [`UserRecord::accepted_attempt`]).
    pub attempt_id: &'a str,
    /// The enrollment whose secret matched.
    pub enrollment_id: &'a str,
    /// The time step it matched.
    pub step: u64,
    /// `revokeOtherSessions`: every earlier refresh token dies.
    pub end_other_sessions: bool,
    /// The same secret sealed anew (current key, current layout), when the
    /// stored one was sealed the old way.
    pub resealed: Option<&'a SealedSecret>,
}

/// One attempt, counted in both lockout windows in one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptTake {
    pub short: WindowStep,
    pub short_limit: u32,
    pub long: WindowStep,
    pub long_limit: u32,
}

/// A new key from update, waiting for its first verified code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingKey {
    pub enrollment_id: String,
    pub secret: SealedSecret,
    pub expires_at: u64,
    /// The session generation of the update that created it: it can be
    /// promoted only while that generation is current, so every event that
    /// ends the user's sessions ends it too. `None` on keys written before
    /// this was recorded, which can never be promoted.
    pub generation: Option<u64>,
    /// How the new key makes its codes.
    pub params: TotpParams,
}

/// One user (or would-be user) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub status: Status,
    /// Changes whenever the secret changes; writes that assume a secret name it.
    pub enrollment_id: String,
    /// The user's key; `None` after support removed it (lost device), until
    /// the user enrols again.
    pub secret: Option<SealedSecret>,
    /// How that key makes its codes (an imported seed keeps its own).
    pub totp_params: TotpParams,
    /// An administrator disabled the user: no sign-in, no session.
    pub disabled: bool,
    pub profile: Profile,
    pub sso_app_id: Option<String>,
    /// The newest time step accepted for this user (replay protection).
    pub last_step: Option<u64>,
    pub attempts: Attempts,
    /// The ids of the attempts counted in the current short window: an
    /// attempt whose write landed but whose answer was lost finds itself here
    /// instead of being counted twice.
    pub counted_attempts: Vec<String>,
    /// The attempt whose code was accepted last: a success write that
    /// landed, though its answer was lost, is recognised by it.
    pub accepted_attempt: Option<String>,
    pub pending_key: Option<PendingKey>,
    /// Moves on whenever every session of the user ends (logout-all, a new
    /// key, support's sign-out or key removal): refresh tokens carry the
    /// generation they were issued in, and the same write removes any
    /// pending key.
    pub session_generation: u64,
    /// The keyed hashes of the recovery codes not yet used.
    pub recovery_codes: Vec<String>,
    /// The encryption key whose derived key made those hashes.
    pub recovery_key_id: Option<String>,
}

/// A new set of recovery codes, as stored: their keyed hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCodeSet {
    pub hashes: Vec<String>,
    pub key_id: String,
}

/// A recovery code that matched a stored hash, and the attempt that gave it.
#[derive(Debug, Clone, Copy)]
pub struct RecoveryRedemption<'a> {
    pub attempt_id: &'a str,
    pub hash: &'a str,
    pub key_id: &'a str,
}

impl UserRecord {
    /// A pending sign-up past its lifetime is treated as absent, whatever
    /// DynamoDB's TTL sweeper has or has not done yet.
    pub fn is_live(&self, now: u64) -> bool {
        match self.status {
            Status::Pending { expires_at } => expires_at > now,
            Status::Registered { .. } => true,
        }
    }

    /// Whether a code whose replay counter (see [`TotpParams::replay_counter`])
    /// is `counter` may be accepted: newer than the last accepted one (no
    /// replay). The store's writes check the same in their condition.
    pub fn accepts_step(&self, counter: u64) -> bool {
        self.last_step.is_none_or(|last| counter > last)
    }

    /// The pending key from update, if it has not expired.
    pub fn live_pending_key(&self, now: u64) -> Option<&PendingKey> {
        self.pending_key.as_ref().filter(|p| p.expires_at > now)
    }
}

/// One refresh token as the store needs it: whose, of which generation, which one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    pub user_id: String,
    pub generation: u64,
    pub token_id: String,
}

/// The user and the revocation state of one refresh token, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    pub record: Option<UserRecord>,
    /// The token was logged out on its own.
    pub token_revoked: bool,
}

impl SessionState {
    /// Whether `session` is still alive: its user is this registered user,
    /// its generation is current, and it was not logged out.
    pub fn is_live(&self, session: &SessionRef) -> bool {
        let user_matches = match &self.record {
            Some(UserRecord {
                status: Status::Registered { user_id, .. },
                session_generation,
                disabled: false,
                ..
            }) => *user_id == session.user_id && *session_generation == session.generation,
            _ => false,
        };
        user_matches && !self.token_revoked
    }

    /// The record, if `session` is still alive.
    pub fn into_live_record(self, session: &SessionRef) -> Option<UserRecord> {
        if self.is_live(session) {
            self.record
        } else {
            None
        }
    }
}

/// A single-use sign-in link that support issued for one registered user
/// (Descope's embedded link): kept under the SHA-256 of its token, never
/// the token itself, and spent by the sign-in it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInLink {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Where the user is stored.
    pub login_id: String,
    /// The user it was issued for: a user deleted and signed up again under
    /// the same loginId is someone else.
    pub user_id: String,
    pub expires_at: u64,
    /// The custom claims the session JWT will carry, as JSON.
    pub custom_claims: Option<String>,
}

/// A user an administrator creates (one by one or in a batch): registered
/// at once, with an imported key or none (they enrol through a sign-in link).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub key: UserKey,
    pub user_id: String,
    pub enrollment_id: String,
    /// The sealed seed and its parameters; `None`: no key yet.
    pub secret: Option<(SealedSecret, TotpParams)>,
    pub profile: Profile,
    pub disabled: bool,
    pub created_time: u64,
}

/// Which users of a project a search wants, and which page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Only these loginIds (empty: any).
    pub login_ids: Vec<LoginId>,
    /// `Some(true)`: only disabled users; `Some(false)`: only enabled ones.
    pub disabled: Option<bool>,
    /// A case-blind substring of the loginId, name, email or phone.
    pub text: Option<String>,
    pub limit: usize,
    pub page: usize,
}

impl UserQuery {
    /// Whether a user's searchable fields pass the filters (`login_ids` aside).
    pub fn admits(&self, login_id: &str, profile: &Profile, disabled: bool) -> bool {
        let status = self.disabled.is_none_or(|wanted| wanted == disabled);
        let text = self.text.as_deref().is_none_or(|needle| {
            let needle = needle.to_lowercase();
            [login_id, &profile.name, &profile.email, &profile.phone]
                .iter()
                .any(|field| field.to_lowercase().contains(&needle))
        });
        status && text
    }
}

/// One audit record as stored (see `audit`): who, what, when, and the
/// stream record it came from, which makes storing it idempotent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub project: String,
    pub user_id: Option<String>,
    /// The keyed hash of the loginId (never the loginId).
    pub login_hash: Option<String>,
    pub action: String,
    pub occurred_ms: u64,
    /// Safe outcome data, as a JSON object.
    pub data: String,
    /// The stream record's sequence number.
    pub sequence: String,
    /// When TTL removes it (`AUDIT_RETENTION_DAYS` after it occurred).
    pub expires_at: u64,
}

/// Which audit records a search wants, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only these users (empty: any).
    pub user_ids: Vec<String>,
    /// Only these loginIds, as their keyed hashes (empty: any).
    pub login_hashes: Vec<String>,
    /// Only these actions (empty: any), and never these.
    pub actions: Vec<String>,
    pub excluded_actions: Vec<String>,
    /// Milliseconds, both inclusive.
    pub from_ms: u64,
    pub to_ms: u64,
    pub limit: usize,
}

impl AuditQuery {
    /// Whether a record passes the filters a key lookup does not apply.
    pub fn admits(&self, record: &AuditRecord) -> bool {
        let action = self.actions.is_empty() || self.actions.contains(&record.action);
        let not_excluded = !self.excluded_actions.contains(&record.action);
        let login = self.login_hashes.is_empty()
            || record
                .login_hash
                .as_ref()
                .is_some_and(|h| self.login_hashes.contains(h));
        let user = self.user_ids.is_empty() || record.user_id.as_ref().is_some_and(|u| self.user_ids.contains(u));
        action && not_excluded && login && user
    }
}

/// A sign-up waiting for its first code.
#[derive(Debug, Clone)]
pub struct NewEnrollment {
    pub key: UserKey,
    pub enrollment_id: String,
    pub secret: SealedSecret,
    pub profile: Profile,
    pub sso_app_id: Option<String>,
    pub expires_at: u64,
    /// How the new key makes its codes (the project's choice).
    pub params: TotpParams,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A condition did not hold: another request changed the item first, or
    /// the item is not in the state the write requires.
    #[error("condition failed")]
    Conflict,
    /// Unreachable, throttled or timed out after the client's retries.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// An item that does not have the layout this code writes.
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    /// Anything else (a misconfigured table, a rejected request).
    #[error("storage error: {0}")]
    Other(String),
}

/// Storage of users and pending sign-ups.
pub trait Store: Send + Sync {
    /// A strongly consistent read.
    fn get(&self, key: &UserKey) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    /// Stores a pending sign-up, replacing a pending (or expired) one.
    /// `Conflict` when the loginId is registered; then nothing changes.
    fn put_pending_signup(&self, enrollment: &NewEnrollment) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Counts one attempt, named `attempt_id`, in both windows. `Conflict` if
    /// a window filled up or was replaced meanwhile, or if this attempt was
    /// counted already (an SDK retry of a write whose response was lost):
    /// read again, look for the id in [`UserRecord::counted_attempts`], and
    /// plan again only if it is not there. With
    /// `expired_pending`, the expired pending key of that enrollment id is
    /// removed in the same write, so no stale secret (nor the id of an old
    /// encryption key) lingers on the item. With `wrong` (the code was
    /// checked first and matched nothing) the write also records the
    /// attempt as the last failed one, which the audit trail reads.
    fn take_attempt(
        &self,
        key: &UserKey,
        attempt_id: &str,
        take: &AttemptTake,
        expired_pending: Option<&str>,
        wrong: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Pending → registered, if the pending sign-up is still the one whose
    /// secret matched (`enrollment_id`) and has not expired (`open.now`); the
    /// userId pointer is written in the same transaction. `step` is the
    /// code's replay counter, and neither lockout window full (`open`).
    /// Returns the session generation the new tokens belong to.
    fn complete_signup(
        &self,
        key: &UserKey,
        attempt_id: &str,
        enrollment_id: &str,
        step: u64,
        user_id: &str,
        open: &OpenWindows,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Records a sign-in (see [`SignIn`]), if the secret is still the one
    /// that matched, its step is newer than the last accepted one and
    /// neither lockout window is full (`open`). Returns the generation the
    /// new tokens belong to.
    fn record_sign_in(
        &self,
        key: &UserKey,
        sign_in: &SignIn<'_>,
        open: &OpenWindows,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Makes the pending key the user's key at `step` (stored as `promoted`:
    /// the same secret, sealed for its new place), if it is still pending,
    /// unexpired (`open.now`), of the current session generation, and `step` is
    /// newer than the last accepted one, and neither lockout window is full
    /// (`open`). Every earlier session ends; returns the new generation.
    fn promote_pending_key(
        &self,
        key: &UserKey,
        attempt_id: &str,
        pending: &PendingKey,
        promoted: &SealedSecret,
        step: u64,
        open: &OpenWindows,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The user and whether `token_id` was logged out, in one strongly
    /// consistent read.
    fn get_session(
        &self,
        key: &UserKey,
        token_id: &str,
    ) -> impl Future<Output = Result<SessionState, StoreError>> + Send;

    /// Logs one refresh token out until `expires_at` (when it would have
    /// expired anyway), if it is still live. `Conflict` if it is not.
    fn revoke_session(
        &self,
        key: &UserKey,
        session: &SessionRef,
        expires_at: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends every session of the user by moving the generation on, if
    /// `session` is still live. `Conflict` if it is not.
    fn revoke_all_sessions(
        &self,
        key: &UserKey,
        session: &SessionRef,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes a registered user's key and any pending key, and ends every
    /// session; the user, their userId and profile stay. Returns the user as
    /// left. `Conflict` if the loginId is not a registered user.
    fn remove_key(
        &self,
        key: &UserKey,
        new_enrollment_id: &str,
    ) -> impl Future<Output = Result<UserRecord, StoreError>> + Send;

    /// Ends every session of a registered user. `Conflict` if there is none.
    fn end_all_sessions(&self, key: &UserKey) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes everything stored under the loginId (a user and its userId
    /// pointer, or a pending sign-up).
    fn delete_user(&self, key: &UserKey) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a sign-in link of `project`. `Conflict` if one with the same
    /// hash exists (never, for random tokens).
    fn put_sign_in_link(
        &self,
        project: &ProjectId,
        link: &SignInLink,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The link whose token hashes to `token_hash`, in a strongly consistent read.
    fn get_sign_in_link(
        &self,
        project: &ProjectId,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<SignInLink>, StoreError>> + Send;

    /// Spends `link` (deletes it, if it is still there and unexpired at
    /// `now`) and checks, in the same transaction, that its user is still
    /// registered, the same userId, in session generation `generation`.
    /// `Conflict` if any of it fails: then nothing changes, and of parallel
    /// redemptions of one link exactly one succeeds.
    fn redeem_sign_in_link(
        &self,
        key: &UserKey,
        link: &SignInLink,
        generation: u64,
        now: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces the user's recovery codes with `codes` and records the TOTP
    /// code that authorised it as a sign-in's success does, without an
    /// attempt taken first (`sign_in`: its step newer than the last
    /// accepted, its enrollment still the user's, neither lockout window
    /// full as of `open`; the short window cleared), in one write, if the
    /// session of `session` is still live (as for [`Store::put_pending_key`]).
    fn put_recovery_codes(
        &self,
        key: &UserKey,
        session: &SessionRef,
        sign_in: &SignIn<'_>,
        codes: &RecoveryCodeSet,
        open: &OpenWindows,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Spends one recovery code without an attempt taken first, as a
    /// sign-in's success is recorded: removes its hash, if it is still among
    /// the user's (under the same hashing key) and neither lockout window is
    /// full as of `open`, records the attempt id and clears the short
    /// window. Returns the session generation. `Conflict` if the hash is
    /// gone or a window is full: of parallel redemptions of one code exactly
    /// one succeeds.
    fn spend_recovery_code(
        &self,
        key: &UserKey,
        redemption: &RecoveryRedemption<'_>,
        open: &OpenWindows,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Removes every recovery code of a registered user. `Conflict` if there is none.
    fn remove_recovery_codes(&self, key: &UserKey) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Registers a user an administrator created, with the userId pointer,
    /// in one transaction. `Conflict` if the loginId is registered (a
    /// pending sign-up is replaced: it was nobody yet) or, never in
    /// practice, the userId is taken.
    fn create_user(&self, user: &NewUser) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Disables a registered user, ending every session and any pending key
    /// in the same write, or enables them (no session comes back). Returns
    /// the user as left. `Conflict` if the loginId is not a registered user.
    fn set_disabled(
        &self,
        key: &UserKey,
        disabled: bool,
    ) -> impl Future<Output = Result<UserRecord, StoreError>> + Send;

    /// The loginId of a registered user of `project`, by userId, in a
    /// strongly consistent read of the pointer written with the user.
    fn login_id_of(
        &self,
        project: &ProjectId,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// One page of the project's registered users, in loginId order, as
    /// `query` asks; each user read strongly consistently.
    fn search_users(
        &self,
        project: &ProjectId,
        query: &UserQuery,
    ) -> impl Future<Output = Result<Vec<(String, UserRecord)>, StoreError>> + Send;

    /// Stores an audit record once: storing it again (a retried stream
    /// batch) changes nothing and succeeds.
    fn put_audit_record(&self, record: &AuditRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The project's audit records `query` asks for, newest first.
    fn search_audit(
        &self,
        project: &ProjectId,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Vec<AuditRecord>, StoreError>> + Send;

    /// Stores a pending key of the user of `session`, replacing any earlier
    /// pending key, if that session is still live at the write (its user,
    /// its generation, not logged out): an update racing a logout never
    /// lands. `Conflict` if it is not.
    fn put_pending_key(
        &self,
        key: &UserKey,
        session: &SessionRef,
        pending: &PendingKey,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(user_id: &str, generation: u64) -> UserRecord {
        UserRecord {
            status: Status::Registered {
                user_id: user_id.into(),
                created_time: 1,
            },
            enrollment_id: "E1".into(),
            secret: Some(SealedSecret {
                key_id: "k".into(),
                blob: vec![0; 40],
            }),
            totp_params: TotpParams::DEFAULT,
            disabled: false,
            profile: Profile::default(),
            sso_app_id: None,
            last_step: None,
            attempts: Attempts::default(),
            counted_attempts: Vec::new(),
            accepted_attempt: None,
            pending_key: None,
            session_generation: generation,
            recovery_codes: Vec::new(),
            recovery_key_id: None,
        }
    }

    fn session(user_id: &str, generation: u64) -> SessionRef {
        SessionRef {
            user_id: user_id.into(),
            generation,
            token_id: "J1".into(),
        }
    }

    #[test]
    fn queries_filter_on_status_and_case_blind_text() {
        let profile = Profile {
            name: "Zoë Quinn".into(),
            email: "zq@example.com".into(),
            ..Profile::default()
        };
        let any = UserQuery::default();
        assert!(any.admits("zoe", &profile, true) && any.admits("zoe", &profile, false));
        let enabled = UserQuery {
            disabled: Some(false),
            ..UserQuery::default()
        };
        assert!(enabled.admits("zoe", &profile, false));
        assert!(!enabled.admits("zoe", &profile, true));
        let text = |t: &str| UserQuery {
            text: Some(t.into()),
            ..UserQuery::default()
        };
        assert!(text("ZOË").admits("u1", &profile, false), "name, any case");
        assert!(text("EXAMPLE.COM").admits("u1", &profile, false), "email");
        assert!(text("U1").admits("u1", &profile, false), "loginId");
        assert!(!text("nobody").admits("u1", &profile, false));
    }

    #[test]
    fn a_session_is_live_only_for_its_user_generation_and_unrevoked() {
        let state = |record: Option<UserRecord>, token_revoked| SessionState { record, token_revoked };
        assert!(state(Some(registered("U1", 2)), false).is_live(&session("U1", 2)));
        assert!(
            !state(Some(registered("U1", 2)), true).is_live(&session("U1", 2)),
            "logged out"
        );
        assert!(
            !state(Some(registered("U1", 3)), false).is_live(&session("U1", 2)),
            "logged out everywhere"
        );
        assert!(
            !state(Some(registered("U1", 2)), false).is_live(&session("U1", 3)),
            "a generation from the future"
        );
        assert!(
            !state(Some(registered("U2", 2)), false).is_live(&session("U1", 2)),
            "another user"
        );
        assert!(!state(None, false).is_live(&session("U1", 2)), "user deleted");
        let mut disabled = registered("U1", 2);
        disabled.disabled = true;
        assert!(!state(Some(disabled), false).is_live(&session("U1", 2)), "disabled");
        let mut pending = registered("U1", 2);
        pending.status = Status::Pending { expires_at: 10 };
        assert!(
            !state(Some(pending), false).is_live(&session("U1", 2)),
            "not registered"
        );
        assert_eq!(
            state(Some(registered("U1", 2)), false).into_live_record(&session("U1", 2)),
            Some(registered("U1", 2))
        );
        assert_eq!(
            state(Some(registered("U1", 2)), true).into_live_record(&session("U1", 2)),
            None
        );
    }
}
