//! The use-cases, one module per route group: `totp` (sign up, verify,
//! update), `sessions` (refresh, logout, logout-all, me) and `management`
//! (support's tools). Inputs arrive validated; every outcome is a value or a
//! domain [`Error`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::domain::{LoginId, Profile, ProjectId};
use crate::error::Error;
use crate::secret_box::SecretBox;
use crate::store::{SessionRef, Status, Store, StoreError, UserKey, UserRecord};
use crate::tokens::{Claims, ProjectKeys, RefreshToken, TokenKeys, REFRESH_DRN, SESSION_DRN, SESSION_SCOPE};

pub mod audit;
pub mod management;
pub mod recovery;
pub mod sessions;
pub mod totp;

pub use recovery::RecoveryRequest;
pub use totp::{SignupRequest, VerifyRequest};

/// Unix seconds. Injected so tests can move time (expiry, lockout windows).
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        }))
    }

    /// A clock that reads `time`, which the caller may move.
    pub fn manual(time: Arc<AtomicU64>) -> Self {
        Clock(Arc::new(move || time.load(Ordering::SeqCst)))
    }

    pub fn now(&self) -> u64 {
        (self.0)()
    }
}

/// Everything a request needs, built once per cold start. A function holds
/// only the key material its routes use.
pub struct App<S> {
    pub config: Config,
    pub store: S,
    /// Absent in functions that never see a TOTP secret (sessions).
    pub secret_box: Option<SecretBox>,
    /// Absent in functions that issue and check no tokens (signup).
    pub tokens: Option<ProjectKeys>,
    pub clock: Clock,
}

/// The user as the JWTResponse shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    pub login_id: String,
    pub user_id: String,
    pub created_time: u64,
    pub profile: Profile,
    pub sso_app_ids: Vec<String>,
    /// Whether the user has a TOTP key.
    pub totp: bool,
    /// How many recovery codes the user has left (`recoveryCodes`, our own field).
    pub recovery_codes: usize,
    /// `status: "disabled"` rather than `"enabled"`.
    pub disabled: bool,
}

impl UserView {
    /// The registered user of `record`; `None` for a pending sign-up.
    pub fn of(login_id: &LoginId, record: &UserRecord) -> Option<Self> {
        let Status::Registered { user_id, created_time } = &record.status else {
            return None;
        };
        Some(UserView {
            login_id: login_id.as_str().to_owned(),
            user_id: user_id.clone(),
            created_time: *created_time,
            profile: record.profile.clone(),
            sso_app_ids: record.sso_app_id.iter().cloned().collect(),
            totp: record.secret.is_some(),
            recovery_codes: record.recovery_codes.len(),
            disabled: record.disabled,
        })
    }
}

/// Tokens and the user: what verify and refresh answer.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session_jwt: String,
    pub refresh_jwt: String,
    pub refresh_expires_at: u64,
    pub refresh_ttl_seconds: u64,
    pub user: UserView,
    pub first_seen: bool,
}

/// `amr` of the tokens a TOTP code earned.
pub const AMR_TOTP: &str = "totp";
/// `amr` of the tokens a sign-in link (Descope's embedded link) earned.
pub const AMR_EMBEDDED_LINK: &str = "embeddedlink";
/// `amr` of the tokens a recovery code earned: an application may insist
/// on a new authenticator (update) before anything else.
pub const AMR_RECOVERY_CODE: &str = "recovery";

/// What a session JWT may say beyond the standard claims.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionClaims {
    /// `loginOptions.customClaims`, under `nsec`.
    pub custom_claims: Option<Map<String, Value>>,
    /// Issued by a step-up or MFA verify: `su: true`, as Descope marks it.
    pub stepped_up: bool,
    /// How the user proved who they are, for `amr` (empty: a TOTP code), so
    /// that an application can tell a link's session from a code's.
    pub amr: Vec<String>,
}

impl SessionClaims {
    fn amr(&self) -> Vec<String> {
        if self.amr.is_empty() {
            vec![AMR_TOTP.to_owned()]
        } else {
            self.amr.clone()
        }
    }
}

/// A refresh JWT as issued, and when it expires.
pub(crate) struct RefreshJwt {
    pub jwt: String,
    pub expires_at: u64,
}

pub(crate) fn random_id(prefix: &str, bytes: usize) -> Result<String, Error> {
    let mut raw = vec![0u8; bytes];
    getrandom::fill(&mut raw).map_err(|_| internal("random source failed"))?;
    Ok(format!("{prefix}{}", data_encoding::BASE32_NOPAD.encode(&raw)))
}

/// What a sign-in link's token is stored as: hex SHA-256. A plain hash is
/// enough for 256 random bits; the table never holds the token itself.
pub(crate) fn sign_in_link_hash(token: &str) -> String {
    use sha2::Digest as _;
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(token.as_bytes()))
}

pub(crate) fn internal(what: &str) -> Error {
    tracing::error!(what, "internal error");
    Error::Internal
}

/// Storage failures that are not a lost race.
pub(crate) fn storage(error: StoreError) -> Error {
    match error {
        StoreError::Unavailable(why) => {
            tracing::warn!(why, "storage unavailable");
            Error::Unavailable
        }
        StoreError::Conflict => Error::Internal,
        StoreError::Corrupt(why) | StoreError::Other(why) => internal(&why),
    }
}

/// Whether `record` is the registered user `user_id`.
fn is_user(record: &UserRecord, user_id: &str) -> bool {
    matches!(&record.status, Status::Registered { user_id: id, .. } if id == user_id)
}

impl RefreshToken {
    pub fn session(&self) -> SessionRef {
        SessionRef {
            user_id: self.user_id.clone(),
            generation: self.generation,
            token_id: self.token_id.clone(),
        }
    }
}

impl<S: Store> App<S> {
    pub(crate) fn secret_box(&self) -> Result<&SecretBox, Error> {
        self.secret_box
            .as_ref()
            .ok_or_else(|| internal("this function has no encryption keys"))
    }

    /// The key ring of `project`; configuration guarantees every served project has one.
    pub(crate) fn tokens(&self, project: &ProjectId) -> Result<&TokenKeys, Error> {
        self.tokens
            .as_ref()
            .and_then(|keys| keys.for_project(project))
            .ok_or_else(|| internal("no signing keys for this project in this function"))
    }

    /// The refresh JWT of the Authorization header, checked offline: signed
    /// by the project's key, unexpired, a refresh token. E061004 otherwise.
    pub(crate) fn refresh_token(
        &self,
        project: &ProjectId,
        jwt: Option<&str>,
        now: u64,
    ) -> Result<RefreshToken, Error> {
        let jwt = jwt.ok_or(Error::InvalidRefreshToken)?;
        self.tokens(project)?
            .verify_refresh(jwt, project, now)
            .map_err(|_| Error::InvalidRefreshToken)
    }

    /// The user of `token`, if its session is still live, in one strongly
    /// consistent read. A revoked token, or one whose user was deleted or
    /// re-enrolled, is E064001; one whose user was disabled, E064003.
    pub(crate) async fn live_session(&self, key: &UserKey, token: &RefreshToken) -> Result<UserRecord, Error> {
        let state = self.store.get_session(key, &token.token_id).await.map_err(storage)?;
        let disabled = matches!(&state.record, Some(r) if r.disabled && is_user(r, &token.user_id));
        if disabled {
            return Err(Error::UserDisabled);
        }
        state.into_live_record(&token.session()).ok_or(Error::SessionRevoked)
    }

    /// Signs a session token and a refresh token of `generation` for `user`.
    pub(crate) fn issue_tokens(
        &self,
        project: &ProjectId,
        user: UserView,
        first_seen: bool,
        session: SessionClaims,
        generation: u64,
        now: u64,
    ) -> Result<SignedIn, Error> {
        let refresh_ttl = self.config.refresh_ttl_seconds;
        let refresh = Claims {
            jti: Some(random_id("", 16)?),
            login_id: Some(user.login_id.clone()),
            gen: Some(generation),
            ..self.claims(project, &user, REFRESH_DRN, session.amr(), refresh_ttl, now)
        };
        let refresh = RefreshJwt {
            jwt: self.sign(project, &refresh)?,
            expires_at: refresh.exp,
        };
        self.with_session(project, user, first_seen, session, refresh, now)
    }

    /// A new session token beside a refresh token.
    pub(crate) fn with_session(
        &self,
        project: &ProjectId,
        user: UserView,
        first_seen: bool,
        extra: SessionClaims,
        refresh: RefreshJwt,
        now: u64,
    ) -> Result<SignedIn, Error> {
        // A session never outlives the refresh token it came from.
        let ttl = self
            .config
            .session_ttl_seconds
            .min(refresh.expires_at.saturating_sub(now));
        let amr = extra.amr();
        let session = Claims {
            nsec: extra.custom_claims.filter(|c| !c.is_empty()),
            su: extra.stepped_up.then_some(true),
            scope: Some(SESSION_SCOPE.to_owned()),
            ..self.claims(project, &user, SESSION_DRN, amr, ttl, now)
        };
        let session_jwt = self.sign(project, &session)?;
        Ok(SignedIn {
            session_jwt,
            refresh_jwt: refresh.jwt,
            refresh_expires_at: refresh.expires_at,
            refresh_ttl_seconds: refresh.expires_at.saturating_sub(now),
            user,
            first_seen,
        })
    }

    fn sign(&self, project: &ProjectId, claims: &Claims) -> Result<String, Error> {
        self.tokens(project)?
            .sign(claims)
            .map_err(|_| internal("signing a token failed"))
    }

    fn claims(&self, project: &ProjectId, user: &UserView, drn: &str, amr: Vec<String>, ttl: u64, now: u64) -> Claims {
        Claims {
            iss: project.as_str().to_owned(),
            sub: user.user_id.clone(),
            aud: project.as_str().to_owned(),
            iat: now,
            exp: now.saturating_add(ttl),
            amr,
            drn: drn.into(),
            nsec: None,
            su: None,
            jti: None,
            login_id: None,
            gen: None,
            scope: None,
        }
    }
}
