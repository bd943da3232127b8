//! The DynamoDB store: one table, partition key `pk` = `<projectId>#<loginId>`.
//!
//! Every decision is a conditional write, every read that decides is
//! strongly consistent, and every condition on a pending sign-up compares
//! `expiresAt` with the caller's clock, because TTL deletion lags by hours.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{Attempts, NewEnrollment, PendingKey, Status, Store, StoreError, UserKey, UserRecord};
use crate::domain::Profile;
use crate::secret_box::SealedSecret;

/// Attribute names: the item layout, documented in the README.
mod attr {
    pub const PK: &str = "pk";
    pub const STATUS: &str = "status";
    pub const ENROLLMENT_ID: &str = "enrollmentId";
    pub const SECRET: &str = "secret";
    pub const SECRET_KEY_ID: &str = "secretKeyId";
    pub const EXPIRES_AT: &str = "expiresAt";
    pub const USER_ID: &str = "userId";
    pub const CREATED_TIME: &str = "createdTime";
    pub const PROFILE: &str = "profile";
    pub const SSO_APP_ID: &str = "ssoAppId";
    pub const LAST_STEP: &str = "lastStep";
    pub const ATTEMPTS: &str = "attempts";
    pub const ATTEMPTS_WINDOW_START: &str = "attemptsWindowStart";
    pub const PENDING_ENROLLMENT_ID: &str = "pendingEnrollmentId";
    pub const PENDING_SECRET: &str = "pendingSecret";
    pub const PENDING_SECRET_KEY_ID: &str = "pendingSecretKeyId";
    pub const PENDING_EXPIRES_AT: &str = "pendingExpiresAt";
}

const PENDING: &str = "pending";
const REGISTERED: &str = "registered";

/// Profile fields inside the `profile` map, named as in Descope's user object.
const PROFILE_FIELDS: [&str; 6] = ["name", "givenName", "middleName", "familyName", "email", "phone"];

pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn partition_key(key: &UserKey) -> String {
        // Project ids are letters and digits only, so the first '#' splits.
        format!("{}#{}", key.project.as_str(), key.login_id.as_str())
    }

    fn pk(key: &UserKey) -> AttributeValue {
        AttributeValue::S(Self::partition_key(key))
    }

    /// An UpdateItem of `update` under `condition`, where every `#name` in
    /// the expressions is an attribute name (so reserved words never bite)
    /// and `values` binds the `:placeholders`.
    async fn conditional_update(
        &self,
        key: &UserKey,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, Self::pk(key))
            .update_expression(update)
            .condition_expression(condition);
        for name in expression_names(&[update, condition]) {
            request = request.expression_attribute_names(format!("#{name}"), name);
        }
        for (placeholder, value) in values {
            request = request.expression_attribute_values(placeholder, value);
        }
        request.send().await.map(|_| ()).map_err(classify)
    }
}

/// Every `#name` token in the expressions, once each.
fn expression_names(expressions: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for expression in expressions {
        let mut rest = *expression;
        while let Some(start) = rest.find('#') {
            let tail = &rest[start + 1..];
            let end = tail.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(tail.len());
            let name = &tail[..end];
            if !name.is_empty() && !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
            rest = &tail[end..];
        }
    }
    names
}

/// Conflict, transient (503) or other (500).
fn classify<E: ProvideErrorMetadata, R>(error: SdkError<E, R>) -> StoreError {
    match &error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown");
            match code {
                "ConditionalCheckFailedException" => StoreError::Conflict,
                "ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionConflictException" => StoreError::Unavailable(code.to_owned()),
                other => StoreError::Other(other.to_owned()),
            }
        }
        SdkError::TimeoutError(_) => StoreError::Unavailable("timeout".into()),
        SdkError::DispatchFailure(_) => StoreError::Unavailable("dispatch failure".into()),
        SdkError::ResponseError(_) => StoreError::Unavailable("unreadable response".into()),
        _ => StoreError::Other("request not sent".into()),
    }
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn b(value: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(value))
}

struct Item(HashMap<String, AttributeValue>);

impl Item {
    fn string(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(StoreError::Corrupt(format!("{name} is not a string"))),
        }
    }

    fn number(&self, name: &str) -> Result<Option<u64>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Corrupt(format!("{name} is not a whole number"))),
            Some(_) => Err(StoreError::Corrupt(format!("{name} is not a number"))),
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

    fn profile(&self) -> Result<Profile, StoreError> {
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

    fn record(&self) -> Result<UserRecord, StoreError> {
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
                secret,
            }),
        };
        let count = self.number(attr::ATTEMPTS)?.unwrap_or(0);
        Ok(UserRecord {
            status,
            enrollment_id: Self::required(attr::ENROLLMENT_ID, self.string(attr::ENROLLMENT_ID)?)?,
            secret: Self::required(attr::SECRET, self.sealed(attr::SECRET, attr::SECRET_KEY_ID)?)?,
            profile: self.profile()?,
            sso_app_id: self.string(attr::SSO_APP_ID)?,
            last_step: self.number(attr::LAST_STEP)?,
            attempts: Attempts {
                count: u32::try_from(count).unwrap_or(u32::MAX),
                window_start: self.number(attr::ATTEMPTS_WINDOW_START)?,
            },
            pending_key,
        })
    }
}

fn profile_map(profile: &Profile) -> AttributeValue {
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

impl Store for DynamoStore {
    async fn get(&self, key: &UserKey) -> Result<Option<UserRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, Self::pk(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output.item.map(|item| Item(item).record()).transpose()
    }

    async fn put_pending_signup(&self, e: &NewEnrollment) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(attr::PK, Self::pk(&e.key))
            .item(attr::STATUS, s(PENDING))
            .item(attr::ENROLLMENT_ID, s(&e.enrollment_id))
            .item(attr::SECRET, b(&e.secret.blob))
            .item(attr::SECRET_KEY_ID, s(&e.secret.key_id))
            .item(attr::EXPIRES_AT, n(e.expires_at))
            .item(attr::PROFILE, profile_map(&e.profile))
            // Registered users are never overwritten: they change key through update.
            .condition_expression("attribute_not_exists(#pk) OR #status = :pending")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_values(":pending", s(PENDING));
        if let Some(app) = &e.sso_app_id {
            request = request.item(attr::SSO_APP_ID, s(app));
        }
        request.send().await.map(|_| ()).map_err(classify)
    }

    async fn start_attempt_window(&self, key: &UserKey, now: u64, window: u64) -> Result<(), StoreError> {
        self.conditional_update(
            key,
            "SET #attempts = :one, #attemptsWindowStart = :now",
            "attribute_exists(#pk) AND (attribute_not_exists(#attemptsWindowStart) OR #attemptsWindowStart <= :cutoff)",
            vec![
                (":one", n(1)),
                (":now", n(now)),
                (":cutoff", n(now.saturating_sub(window))),
            ],
        )
        .await
    }

    async fn count_attempt(&self, key: &UserKey, window_start: u64, limit: u32) -> Result<(), StoreError> {
        self.conditional_update(
            key,
            "SET #attempts = #attempts + :one",
            "#attemptsWindowStart = :start AND #attempts < :limit",
            vec![(":one", n(1)), (":start", n(window_start)), (":limit", n(limit.into()))],
        )
        .await
    }

    async fn complete_signup(
        &self,
        key: &UserKey,
        enrollment_id: &str,
        step: u64,
        user_id: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        self.conditional_update(
            key,
            "SET #status = :registered, #userId = :userId, #createdTime = :now, #lastStep = :step \
             REMOVE #expiresAt, #attempts, #attemptsWindowStart",
            "#status = :pending AND #enrollmentId = :enrollment AND #expiresAt > :now",
            vec![
                (":registered", s(REGISTERED)),
                (":pending", s(PENDING)),
                (":userId", s(user_id)),
                (":now", n(now)),
                (":step", n(step)),
                (":enrollment", s(enrollment_id)),
            ],
        )
        .await
    }

    async fn record_sign_in(&self, key: &UserKey, enrollment_id: &str, step: u64) -> Result<(), StoreError> {
        self.conditional_update(
            key,
            "SET #lastStep = :step REMOVE #attempts, #attemptsWindowStart",
            "#status = :registered AND #enrollmentId = :enrollment AND (attribute_not_exists(#lastStep) OR #lastStep < :step)",
            vec![(":registered", s(REGISTERED)), (":enrollment", s(enrollment_id)), (":step", n(step))],
        )
        .await
    }

    async fn promote_pending_key(
        &self,
        key: &UserKey,
        pending: &PendingKey,
        step: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.conditional_update(
            key,
            "SET #secret = :secret, #secretKeyId = :keyId, #enrollmentId = :enrollment, #lastStep = :step \
             REMOVE #pendingSecret, #pendingSecretKeyId, #pendingEnrollmentId, #pendingExpiresAt, #attempts, #attemptsWindowStart",
            "#status = :registered AND #pendingEnrollmentId = :enrollment AND #pendingExpiresAt > :now \
             AND (attribute_not_exists(#lastStep) OR #lastStep < :step)",
            vec![
                (":secret", b(&pending.secret.blob)),
                (":keyId", s(&pending.secret.key_id)),
                (":enrollment", s(&pending.enrollment_id)),
                (":step", n(step)),
                (":registered", s(REGISTERED)),
                (":now", n(now)),
            ],
        )
        .await
    }

    async fn put_pending_key(&self, key: &UserKey, user_id: &str, pending: &PendingKey) -> Result<(), StoreError> {
        self.conditional_update(
            key,
            "SET #pendingSecret = :secret, #pendingSecretKeyId = :keyId, #pendingEnrollmentId = :enrollment, \
             #pendingExpiresAt = :expires",
            "#status = :registered AND #userId = :userId",
            vec![
                (":secret", b(&pending.secret.blob)),
                (":keyId", s(&pending.secret.key_id)),
                (":enrollment", s(&pending.enrollment_id)),
                (":expires", n(pending.expires_at)),
                (":registered", s(REGISTERED)),
                (":userId", s(user_id)),
            ],
        )
        .await
    }
}

/// Creates the table (partition key `pk`, on-demand, TTL on `expiresAt`) if
/// it does not exist: for `make dev` and the tests; AWS deployments get it
/// from template.yaml.
pub async fn ensure_table(client: &Client, table: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Other(e.to_string());
    let created = client
        .create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr::PK)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(invalid)?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(attr::PK)
                .key_type(KeyType::Hash)
                .build()
                .map_err(invalid)?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
        Err(e) => return Err(classify(e)),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attr::EXPIRES_AT)
                .enabled(true)
                .build()
                .map_err(invalid)?,
        )
        .send()
        .await
        .map_err(classify)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expression_names_are_found_once_each() {
        assert_eq!(
            expression_names(&["SET #a = :x, #b = #a + :one", "#status = :p AND attribute_exists(#pk)"]),
            vec!["a", "b", "status", "pk"]
        );
        assert!(expression_names(&["SET x = :y"]).is_empty());
    }
}
