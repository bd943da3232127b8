//! The item layout: attribute names, and the conversions between a stored
//! item and a [`UserRecord`]. Documented in docs/storage.md.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::Profile;
use crate::secret_box::SealedSecret;
use crate::store::{Attempts, PendingKey, Status, StoreError, UserRecord};
use crate::totp::TotpParams;

pub mod attr {
    pub const PK: &str = "pk";
    pub const STATUS: &str = "status";
    pub const ENROLLMENT_ID: &str = "enrollmentId";
    pub const SECRET: &str = "secret";
    pub const SECRET_KEY_ID: &str = "secretKeyId";
    pub const EXPIRES_AT: &str = "expiresAt";
    pub const USER_ID: &str = "userId";
    /// On a sign-in link or a userId pointer: where its user is stored.
    pub const LOGIN_ID: &str = "loginId";
    pub const CREATED_TIME: &str = "createdTime";
    pub const PROFILE: &str = "profile";
    pub const SSO_APP_ID: &str = "ssoAppId";
    pub const LAST_STEP: &str = "lastStep";
    pub const ATTEMPTS: &str = "attempts";
    pub const ATTEMPTS_WINDOW_START: &str = "attemptsWindowStart";
    pub const ATTEMPT_IDS: &str = "attemptIds";
    pub const ACCEPTED_ATTEMPT_ID: &str = "acceptedAttemptId";
    pub const LONG_ATTEMPTS: &str = "longAttempts";
    pub const LONG_WINDOW_START: &str = "longWindowStart";
    pub const PENDING_ENROLLMENT_ID: &str = "pendingEnrollmentId";
    pub const PENDING_SECRET: &str = "pendingSecret";
    pub const PENDING_SECRET_KEY_ID: &str = "pendingSecretKeyId";
    pub const PENDING_EXPIRES_AT: &str = "pendingExpiresAt";
    pub const PENDING_GENERATION: &str = "pendingGeneration";
    pub const RECOVERY_CODES: &str = "recoveryCodes";
    pub const RECOVERY_KEY_ID: &str = "recoveryKeyId";
    pub const SESSION_GENERATION: &str = "sessionGeneration";
    /// On a registered user: the project, the partition key of the
    /// `byProject` index (absent on pending sign-ups, which stay out of it).
    pub const PROJECT: &str = "project";
    /// `disabled`, or absent: enabled.
    pub const USER_STATUS: &str = "userStatus";
    /// `SHA256:8:60`, or absent: SHA1, 6 digits, 30 s.
    pub const TOTP_PARAMS: &str = "totpParams";
    pub const PENDING_TOTP_PARAMS: &str = "pendingTotpParams";
}

/// The `userStatus` of a disabled user.
pub const DISABLED: &str = "disabled";
/// The index of a project's registered users, in loginId order.
pub const BY_PROJECT_INDEX: &str = "byProject";

pub const PENDING: &str = "pending";
pub const REGISTERED: &str = "registered";

/// Profile fields inside the `profile` map, named as in Descope's user object.
const PROFILE_FIELDS: [&str; 6] = ["name", "givenName", "middleName", "familyName", "email", "phone"];

pub fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub fn b(value: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(value))
}

pub struct Item(pub HashMap<String, AttributeValue>);

impl Item {
    pub(super) fn string(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(StoreError::Corrupt(format!("{name} is not a string"))),
        }
    }

    pub(super) fn number(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.parsed(name)
    }

    fn signed(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.parsed(name)
    }

    fn parsed<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Corrupt(format!("{name} is not a whole number"))),
            Some(_) => Err(StoreError::Corrupt(format!("{name} is not a number"))),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(Vec::new()),
            Some(AttributeValue::Ss(v)) => Ok(v.clone()),
            Some(_) => Err(StoreError::Corrupt(format!("{name} is not a string set"))),
        }
    }

    fn bytes(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::B(v)) => Ok(Some(v.as_ref().to_vec())),
            Some(_) => Err(StoreError::Corrupt(format!("{name} is not binary"))),
        }
    }

    fn required<T>(name: &str, value: Option<T>) -> Result<T, StoreError> {
        value.ok_or_else(|| StoreError::Corrupt(format!("{name} is missing")))
    }

    fn sealed(&self, blob: &str, key_id: &str) -> Result<Option<SealedSecret>, StoreError> {
        match (self.bytes(blob)?, self.string(key_id)?) {
            (Some(blob), Some(key_id)) => Ok(Some(SealedSecret { key_id, blob })),
            (None, None) => Ok(None),
            _ => Err(StoreError::Corrupt(format!("{blob} and {key_id} must come together"))),
        }
    }

    fn totp_params(&self, name: &str) -> Result<TotpParams, StoreError> {
        match self.string(name)? {
            None => Ok(TotpParams::DEFAULT),
            Some(text) => TotpParams::decode(&text).ok_or_else(|| StoreError::Corrupt(format!("{name} is malformed"))),
        }
    }

    pub(super) fn profile(&self) -> Result<Profile, StoreError> {
        let map = match self.0.get(attr::PROFILE) {
            None => return Ok(Profile::default()),
            Some(AttributeValue::M(map)) => map,
            Some(_) => return Err(StoreError::Corrupt("profile is not a map".into())),
        };
        let field = |name: &str| match map.get(name) {
            Some(AttributeValue::S(v)) => v.clone(),
            _ => String::new(),
        };
        Ok(Profile {
            name: field("name"),
            given_name: field("givenName"),
            middle_name: field("middleName"),
            family_name: field("familyName"),
            email: field("email"),
            phone: field("phone"),
        })
    }

    pub fn record(&self) -> Result<UserRecord, StoreError> {
        let status = match Self::required(attr::STATUS, self.string(attr::STATUS)?)?.as_str() {
            PENDING => Status::Pending {
                expires_at: Self::required(attr::EXPIRES_AT, self.number(attr::EXPIRES_AT)?)?,
            },
            REGISTERED => Status::Registered {
                user_id: Self::required(attr::USER_ID, self.string(attr::USER_ID)?)?,
                created_time: Self::required(attr::CREATED_TIME, self.number(attr::CREATED_TIME)?)?,
            },
            _ => return Err(StoreError::Corrupt("unknown status".into())),
        };
        let pending_key = match self.sealed(attr::PENDING_SECRET, attr::PENDING_SECRET_KEY_ID)? {
            None => None,
            Some(secret) => Some(PendingKey {
                enrollment_id: Self::required(attr::PENDING_ENROLLMENT_ID, self.string(attr::PENDING_ENROLLMENT_ID)?)?,
                expires_at: Self::required(attr::PENDING_EXPIRES_AT, self.number(attr::PENDING_EXPIRES_AT)?)?,
                generation: self.number(attr::PENDING_GENERATION)?,
                params: self.totp_params(attr::PENDING_TOTP_PARAMS)?,
                secret,
            }),
        };
        let count = self.number(attr::ATTEMPTS)?.unwrap_or(0);
        // A registered user whose key support removed has none until they enrol again.
        let secret = self.sealed(attr::SECRET, attr::SECRET_KEY_ID)?;
        if secret.is_none() && matches!(status, Status::Pending { .. }) {
            return Err(StoreError::Corrupt("a pending sign-up without a secret".into()));
        }
        Ok(UserRecord {
            status,
            enrollment_id: Self::required(attr::ENROLLMENT_ID, self.string(attr::ENROLLMENT_ID)?)?,
            secret,
            totp_params: self.totp_params(attr::TOTP_PARAMS)?,
            disabled: self.string(attr::USER_STATUS)?.as_deref() == Some(DISABLED),
            profile: self.profile()?,
            sso_app_id: self.string(attr::SSO_APP_ID)?,
            last_step: self.number(attr::LAST_STEP)?,
            attempts: Attempts {
                count: u32::try_from(count).unwrap_or(u32::MAX),
                window_start: self.number(attr::ATTEMPTS_WINDOW_START)?,
                long_count: self.signed(attr::LONG_ATTEMPTS)?.unwrap_or(0),
                long_window_start: self.number(attr::LONG_WINDOW_START)?,
            },
            counted_attempts: self.strings(attr::ATTEMPT_IDS)?,
            accepted_attempt: self.string(attr::ACCEPTED_ATTEMPT_ID)?,
            pending_key,
            session_generation: self.number(attr::SESSION_GENERATION)?.unwrap_or(0),
            recovery_codes: self.strings(attr::RECOVERY_CODES)?,
            recovery_key_id: self.string(attr::RECOVERY_KEY_ID)?,
        })
    }
}

/// The stored form of `params`: `None` for the default, which is stored as absence.
pub fn params_value(params: TotpParams) -> Option<AttributeValue> {
    (params != TotpParams::DEFAULT).then(|| s(&params.encode()))
}

pub fn profile_map(profile: &Profile) -> AttributeValue {
    let values = [
        &profile.name,
        &profile.given_name,
        &profile.middle_name,
        &profile.family_name,
        &profile.email,
        &profile.phone,
    ];
    let map = PROFILE_FIELDS
        .iter()
        .zip(values)
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), s(v)))
        .collect();
    AttributeValue::M(map)
}
