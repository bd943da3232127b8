//! The DynamoDB store: one table, partition key `pk`. A user (or pending
//! sign-up) is `<projectId>#<loginId>`; a logged-out refresh token is
//! `<projectId>|revoked|<jti>` and expires with the token through TTL.
//!
//! Every decision is a conditional write, every read that decides is
//! strongly consistent, and every condition on a pending sign-up compares
//! `expiresAt` with the caller's clock, because TTL deletion lags by hours.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use aws_sdk_dynamodb::Client;

use super::{
    AttemptTake, NewEnrollment, OpenWindows, PendingKey, SignIn, Store, StoreError, UserKey, UserRecord, WindowStep,
};
use super::{
    AuditQuery, AuditRecord, NewUser, RecoveryCodeSet, RecoveryRedemption, SessionRef, SessionState, SignInLink,
    UserQuery,
};
use crate::domain::ProjectId;
use crate::secret_box::SealedSecret;
use item::{attr, b, n, params_value, profile_map, s, Item, PENDING, REGISTERED};

mod audit;
mod item;
mod links;
mod management;
mod recovery;
mod sessions;
mod users;

pub use audit::ensure_audit_table;
pub use users::backfill_user_index;

/// The attributes of a pending key, for a REMOVE clause: every write that
/// ends the user's sessions (or promotes or retires the key) names them all.
const PENDING_KEY: &str = "#pendingSecret, #pendingSecretKeyId, #pendingEnrollmentId, #pendingExpiresAt, \
                           #pendingGeneration, #pendingTotpParams";

/// For a condition: the user is not disabled. Every write that signs a
/// user in (or keeps a session going) requires it, so a sign-in racing
/// the administrator's disable loses.
const ENABLED: &str = "attribute_not_exists(#userStatus)";

/// The short lockout window, for a REMOVE clause: every success clears it.
const SHORT_WINDOW: &str = "#attempts, #attemptsWindowStart, #attemptIds";

/// For a condition: neither lockout window is full now (bind the values of
/// [`open_windows_values`]). A window that has ended counts as empty.
const WINDOWS_OPEN: &str = "(attribute_not_exists(#attemptsWindowStart) OR #attempts < :shortLimit \
     OR #attemptsWindowStart <= :shortEndedBy) \
     AND (attribute_not_exists(#longWindowStart) OR #longAttempts < :longLimit \
     OR #longWindowStart <= :longEndedBy)";

fn open_windows_values(open: &OpenWindows) -> [(&'static str, AttributeValue); 4] {
    [
        (":shortLimit", n(open.short_limit.into())),
        (":shortEndedBy", n(open.short_ended_by)),
        (":longLimit", n(open.long_limit.into())),
        (":longEndedBy", n(open.long_ended_by)),
    ]
}

/// How often unprocessed keys of a BatchGetItem are asked for again.
const BATCH_RETRIES: usize = 3;

/// Cheap to clone: the client is a handle.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// The audit table, in the functions that write or search it.
    audit_table: Option<String>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            audit_table: None,
        }
    }

    /// The same, with the audit table (the audit and management functions).
    pub fn with_audit_table(self, audit_table: Option<String>) -> Self {
        DynamoStore { audit_table, ..self }
    }

    pub fn partition_key(key: &UserKey) -> String {
        // Project ids are letters and digits only, so the first '#' splits.
        format!("{}#{}", key.project.as_str(), key.login_id.as_str())
    }

    fn pk(key: &UserKey) -> AttributeValue {
        AttributeValue::S(Self::partition_key(key))
    }

    /// A logged-out refresh token. Project ids are letters and digits, so
    /// `|` after one can never begin a user's key.
    pub fn revoked_token_key(key: &UserKey, token_id: &str) -> String {
        format!("{}|revoked|{token_id}", key.project.as_str())
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
        self.conditional_update_returning(key, update, condition, values, ReturnValue::None)
            .await
            .map(|_| ())
    }

    /// The same, returning the attributes `returning` asks for.
    async fn conditional_update_returning(
        &self,
        key: &UserKey,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        returning: ReturnValue,
    ) -> Result<Item, StoreError> {
        let (names, values) = bindings(&[update, condition], values);
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, Self::pk(key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(returning)
            .send()
            .await
            .map_err(classify)?;
        Ok(Item(output.attributes.unwrap_or_default()))
    }

    /// The items of `wanted` (partition keys) that exist, in strongly
    /// consistent BatchGetItem reads of at most 100 keys each, asking again
    /// for any the service left unprocessed. In no particular order; a key
    /// named twice is read once.
    pub(super) async fn consistent_batch_get(&self, mut wanted: Vec<String>) -> Result<Vec<Item>, StoreError> {
        // BatchGetItem refuses a request that names one key twice.
        wanted.sort();
        wanted.dedup();
        let mut found = Vec::new();
        for chunk in wanted.chunks(100) {
            let mut wanted = chunk.to_vec();
            let mut rounds = 0;
            while !wanted.is_empty() {
                rounds += 1;
                if rounds > BATCH_RETRIES {
                    return Err(StoreError::Unavailable("batch read left keys unprocessed".into()));
                }
                let mut keys = KeysAndAttributes::builder().consistent_read(true);
                for pk in &wanted {
                    keys = keys.keys([(attr::PK.to_owned(), s(pk))].into());
                }
                let keys = keys.build().map_err(|e| StoreError::Other(e.to_string()))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(classify)?;
                if let Some(items) = output.responses.and_then(|mut r| r.remove(&self.table)) {
                    found.extend(items.into_iter().map(Item));
                }
                wanted = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|k| k.get(attr::PK).and_then(|v| v.as_s().ok()).cloned())
                    .collect();
            }
        }
        Ok(found)
    }

    /// The session generation an update wrote (it always writes one).
    fn generation_of(written: Item) -> Result<u64, StoreError> {
        written
            .number(attr::SESSION_GENERATION)?
            .ok_or_else(|| StoreError::Corrupt("the update returned no session generation".into()))
    }
}

/// The attribute names (`#name` → `name`) of the expressions and the values
/// of their placeholders, as UpdateItem, Update and ConditionCheck take them.
type Bindings = (Option<HashMap<String, String>>, Option<HashMap<String, AttributeValue>>);

fn bindings(expressions: &[&str], values: Vec<(&str, AttributeValue)>) -> Bindings {
    let names: HashMap<String, String> = expression_names(expressions)
        .into_iter()
        .map(|name| (format!("#{name}"), name))
        .collect();
    let values: HashMap<String, AttributeValue> = values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    // DynamoDB refuses an empty map where none is needed.
    (
        (!names.is_empty()).then_some(names),
        (!values.is_empty()).then_some(values),
    )
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
            // DynamoDB names every error it sends; an answer without a name
            // (a 200 whose body is not DynamoDB's, from a proxy in the way)
            // is as transient as one cut short.
            let Some(code) = service.err().code() else {
                return StoreError::Unavailable("an answer that is not DynamoDB's".into());
            };
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
        if let Some(params) = params_value(e.params) {
            request = request.item(attr::TOTP_PARAMS, params);
        }
        request.send().await.map(|_| ()).map_err(classify)
    }

    async fn take_attempt(
        &self,
        key: &UserKey,
        attempt_id: &str,
        take: &AttemptTake,
        expired_pending: Option<&str>,
        wrong: bool,
    ) -> Result<(), StoreError> {
        let mut sets = Vec::new();
        if wrong {
            sets.push("#lastFailedAttemptId = :attemptId".to_owned());
        }
        let mut adds = Vec::new();
        // An SDK retry of a write that landed must not count the attempt again.
        let mut conditions = vec!["attribute_exists(#pk) AND NOT contains(#attemptIds, :attemptId)".to_owned()];
        let mut values = vec![
            (":one", n(1)),
            (":attemptId", s(attempt_id)),
            (":attemptIds", AttributeValue::Ss(vec![attempt_id.to_owned()])),
        ];
        let mut removes = String::new();
        if let Some(enrollment) = expired_pending {
            // Only the expired key that was read: never one written since.
            removes = format!(" REMOVE {PENDING_KEY}");
            conditions.push("#pendingEnrollmentId = :expiredPending".into());
            values.push((":expiredPending", s(enrollment)));
        }
        let windows = [
            (
                take.short,
                take.short_limit,
                "#attempts",
                "#attemptsWindowStart",
                ":shortStart",
                ":shortLimit",
                ":shortSeen",
            ),
            (
                take.long,
                take.long_limit,
                "#longAttempts",
                "#longWindowStart",
                ":longStart",
                ":longLimit",
                ":longSeen",
            ),
        ];
        // The ids live as long as the short window: a new one starts a new set.
        match take.short {
            WindowStep::Continue { .. } => adds.push("#attemptIds :attemptIds".to_owned()),
            WindowStep::Open { .. } => sets.push("#attemptIds = :attemptIds".to_owned()),
        }
        for (step, limit, count, start, start_value, limit_value, seen_value) in windows {
            match step {
                // Atomic increment under the limit: parallel attempts do not conflict.
                WindowStep::Continue { start: seen } => {
                    adds.push(format!("{count} :one"));
                    conditions.push(format!("{start} = {start_value} AND {count} < {limit_value}"));
                    values.push((start_value, n(seen)));
                    values.push((limit_value, n(limit.into())));
                }
                // A new window, if the old one is still the one that was read.
                WindowStep::Open { replacing, at } => {
                    sets.push(format!("{count} = :one, {start} = {start_value}"));
                    values.push((start_value, n(at)));
                    match replacing {
                        None => conditions.push(format!("attribute_not_exists({start})")),
                        Some(old) => {
                            conditions.push(format!("{start} = {seen_value}"));
                            values.push((seen_value, n(old)));
                        }
                    }
                }
            }
        }
        let mut update = String::new();
        if !sets.is_empty() {
            update.push_str(&format!("SET {}", sets.join(", ")));
        }
        if !adds.is_empty() {
            update.push_str(&format!(" ADD {}", adds.join(", ")));
        }
        update.push_str(&removes);
        self.conditional_update(key, update.trim(), &conditions.join(" AND "), values)
            .await
    }

    async fn complete_signup(
        &self,
        key: &UserKey,
        attempt_id: &str,
        enrollment_id: &str,
        step: u64,
        user_id: &str,
        open: &OpenWindows,
    ) -> Result<u64, StoreError> {
        self.register_signup(key, attempt_id, enrollment_id, step, user_id, open)
            .await
    }

    async fn record_sign_in(&self, key: &UserKey, sign_in: &SignIn<'_>, open: &OpenWindows) -> Result<u64, StoreError> {
        let mut update = String::from("SET #lastStep = :step, #acceptedAttemptId = :attemptId");
        let mut removes = String::from("#attempts, #attemptsWindowStart, #attemptIds");
        if sign_in.end_other_sessions {
            // A new generation: a pending key of the old one dies with it.
            removes.push_str(&format!(", {PENDING_KEY}"));
        }
        let mut values = vec![
            (":attemptId", s(sign_in.attempt_id)),
            (":registered", s(REGISTERED)),
            (":enrollment", s(sign_in.enrollment_id)),
            (":step", n(sign_in.step)),
            (":bump", n(sign_in.end_other_sessions.into())),
        ];
        values.extend(open_windows_values(open));
        if let Some(resealed) = sign_in.resealed {
            update.push_str(", #secret = :secret, #secretKeyId = :keyId");
            values.push((":secret", b(&resealed.blob)));
            values.push((":keyId", s(&resealed.key_id)));
        }
        // No attempt was taken: the long window is left as it is.
        update.push_str(&format!(" ADD #sessionGeneration :bump REMOVE {removes}"));
        self.conditional_update_returning(
            key,
            &update,
            &format!(
                "#status = :registered AND {ENABLED} AND #enrollmentId = :enrollment \
                 AND (attribute_not_exists(#lastStep) OR #lastStep < :step) AND {WINDOWS_OPEN}"
            ),
            values,
            ReturnValue::UpdatedNew,
        )
        .await
        .and_then(Self::generation_of)
    }

    async fn promote_pending_key(
        &self,
        key: &UserKey,
        attempt_id: &str,
        pending: &PendingKey,
        promoted: &SealedSecret,
        step: u64,
        open: &OpenWindows,
    ) -> Result<u64, StoreError> {
        let now = open.now;
        // Only in the generation it was created in: a sign-out everywhere
        // (or any other end of every session) since then has ended it too.
        let generation = pending
            .generation
            .ok_or_else(|| StoreError::Corrupt("a pending key without its generation".into()))?;
        let same_generation = if generation == 0 {
            "(attribute_not_exists(#sessionGeneration) OR #sessionGeneration = :generation)"
        } else {
            "#sessionGeneration = :generation"
        };
        let mut values = vec![
            (":generation", n(generation)),
            (":secret", b(&promoted.blob)),
            (":keyId", s(&promoted.key_id)),
            (":attemptId", s(attempt_id)),
            (":enrollment", s(&pending.enrollment_id)),
            (":step", n(step)),
            (":registered", s(REGISTERED)),
            (":now", n(now)),
            (":one", n(1)),
        ];
        values.extend(open_windows_values(open));
        // The new key's parameters replace the old key's.
        let (set_params, remove_params) = match params_value(pending.params) {
            Some(params) => {
                values.push((":params", params));
                (", #totpParams = :params", "")
            }
            None => ("", ", #totpParams"),
        };
        // A new key ends every session the old key opened.
        self.conditional_update_returning(
            key,
            &format!(
                "SET #secret = :secret, #secretKeyId = :keyId, #enrollmentId = :enrollment, #lastStep = :step, \
                 #acceptedAttemptId = :attemptId{set_params} \
                 ADD #sessionGeneration :one \
                 REMOVE {PENDING_KEY}, {SHORT_WINDOW}{remove_params}"
            ),
            &format!(
                "#status = :registered AND {ENABLED} AND #pendingEnrollmentId = :enrollment \
                 AND #pendingExpiresAt > :now AND #pendingGeneration = :generation AND {same_generation} \
                 AND (attribute_not_exists(#lastStep) OR #lastStep < :step) AND {WINDOWS_OPEN}"
            ),
            values,
            ReturnValue::UpdatedNew,
        )
        .await
        .and_then(Self::generation_of)
    }

    async fn get_session(&self, key: &UserKey, token_id: &str) -> Result<SessionState, StoreError> {
        self.read_session(key, token_id).await
    }

    async fn revoke_session(&self, key: &UserKey, session: &SessionRef, expires_at: u64) -> Result<(), StoreError> {
        self.write_revocation(key, session, expires_at).await
    }

    async fn revoke_all_sessions(&self, key: &UserKey, session: &SessionRef) -> Result<(), StoreError> {
        self.bump_generation(key, session).await
    }

    async fn remove_key(&self, key: &UserKey, new_enrollment_id: &str) -> Result<UserRecord, StoreError> {
        self.remove_user_key(key, new_enrollment_id).await
    }

    async fn end_all_sessions(&self, key: &UserKey) -> Result<(), StoreError> {
        self.end_user_sessions(key).await
    }

    async fn delete_user(&self, key: &UserKey) -> Result<(), StoreError> {
        self.delete_user_and_pointer(key).await
    }

    async fn put_audit_record(&self, record: &AuditRecord) -> Result<(), StoreError> {
        self.put_audit(record).await
    }

    async fn search_audit(&self, project: &ProjectId, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.query_audit(project, query).await
    }

    async fn create_user(&self, user: &NewUser) -> Result<(), StoreError> {
        self.put_new_user(user).await
    }

    async fn set_disabled(&self, key: &UserKey, disabled: bool) -> Result<UserRecord, StoreError> {
        self.write_status(key, disabled).await
    }

    async fn login_id_of(&self, project: &ProjectId, user_id: &str) -> Result<Option<String>, StoreError> {
        self.read_pointer(project, user_id).await
    }

    async fn search_users(
        &self,
        project: &ProjectId,
        query: &UserQuery,
    ) -> Result<Vec<(String, UserRecord)>, StoreError> {
        self.query_users(project, query).await
    }

    async fn put_sign_in_link(&self, project: &ProjectId, link: &SignInLink) -> Result<(), StoreError> {
        self.put_link(project, link).await
    }

    async fn get_sign_in_link(&self, project: &ProjectId, token_hash: &str) -> Result<Option<SignInLink>, StoreError> {
        self.get_link(project, token_hash).await
    }

    async fn redeem_sign_in_link(
        &self,
        key: &UserKey,
        link: &SignInLink,
        generation: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.spend_link(key, link, generation, now).await
    }

    async fn put_recovery_codes(
        &self,
        key: &UserKey,
        session: &SessionRef,
        sign_in: &SignIn<'_>,
        codes: &RecoveryCodeSet,
        open: &OpenWindows,
    ) -> Result<(), StoreError> {
        self.write_recovery_codes(key, session, sign_in, codes, open).await
    }

    async fn spend_recovery_code(
        &self,
        key: &UserKey,
        redemption: &RecoveryRedemption<'_>,
        open: &OpenWindows,
    ) -> Result<u64, StoreError> {
        self.delete_recovery_code(key, redemption, open).await
    }

    async fn remove_recovery_codes(&self, key: &UserKey) -> Result<(), StoreError> {
        self.remove_all_recovery_codes(key).await
    }

    async fn put_pending_key(
        &self,
        key: &UserKey,
        session: &SessionRef,
        pending: &PendingKey,
    ) -> Result<(), StoreError> {
        self.write_pending_key(key, session, pending).await
    }
}

/// How many items still name an encryption key, in `secretKeyId`,
/// `pendingSecretKeyId` or `recoveryKeyId` (recovery-code hashes are made
/// with a key derived from it), and how many of those hold a secret sealed the v1
/// way. A key may be removed from the keys document when the first is zero.
/// A full scan: for an operator's occasional question, never a request path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyUsage {
    pub items: u64,
    pub v1_seals: u64,
}

pub async fn key_usage(client: &Client, table: &str, key_id: &str) -> Result<KeyUsage, StoreError> {
    let mut usage = KeyUsage::default();
    let mut start = None;
    loop {
        let output = client
            .scan()
            .table_name(table)
            .filter_expression("#secretKeyId = :key OR #pendingSecretKeyId = :key OR #recoveryKeyId = :key")
            .expression_attribute_names("#secretKeyId", attr::SECRET_KEY_ID)
            .expression_attribute_names("#pendingSecretKeyId", attr::PENDING_SECRET_KEY_ID)
            .expression_attribute_names("#recoveryKeyId", attr::RECOVERY_KEY_ID)
            .expression_attribute_values(":key", s(key_id))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        for item in output.items.unwrap_or_default() {
            usage.items += 1;
            let v1 = [attr::SECRET, attr::PENDING_SECRET]
                .iter()
                .filter_map(|name| item.get(*name).and_then(|v| v.as_b().ok()))
                .any(|blob| !crate::secret_box::is_v2(blob.as_ref()));
            usage.v1_seals += u64::from(v1);
        }
        start = output.last_evaluated_key;
        if start.is_none() {
            return Ok(usage);
        }
    }
}

/// Creates the table (partition key `pk`, on-demand, TTL on `expiresAt`,
/// the `byProject` index) if it does not exist, and adds the index to a
/// table made before it: for `make dev` and the tests; AWS deployments get
/// it from template.yaml.
pub async fn ensure_table(client: &Client, table: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Other(e.to_string());
    let string_attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(invalid)
    };
    let created = client
        .create_table()
        .table_name(table)
        .attribute_definitions(string_attribute(attr::PK)?)
        .attribute_definitions(string_attribute(attr::PROJECT)?)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(attr::PK)
                .key_type(KeyType::Hash)
                .build()
                .map_err(invalid)?,
        )
        .global_secondary_indexes(by_project_index()?)
        // The audit function reads every change (docs/audit.md).
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
                .build()
                .map_err(invalid)?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.code() == Some("ResourceInUseException") => return add_missing_index(client, table).await,
        Err(e) => return Err(classify(e)),
    }
    enable_ttl(client, table).await
}

/// TTL on `expiresAt`, the attribute every expiring item of both tables has.
pub(super) async fn enable_ttl(client: &Client, table: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::TimeToLiveSpecification;
    let specification = TimeToLiveSpecification::builder()
        .attribute_name(attr::EXPIRES_AT)
        .enabled(true)
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(specification)
        .send()
        .await
        .map_err(classify)?;
    Ok(())
}

/// The index of a project's registered users: partition `project`, sort
/// `pk` (so loginId order), with what a search filters on.
fn by_project_index() -> Result<aws_sdk_dynamodb::types::GlobalSecondaryIndex, StoreError> {
    use aws_sdk_dynamodb::types::{GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType};
    let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Other(e.to_string());
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(invalid)
    };
    GlobalSecondaryIndex::builder()
        .index_name(item::BY_PROJECT_INDEX)
        .key_schema(key(attr::PROJECT, KeyType::Hash)?)
        .key_schema(key(attr::PK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .non_key_attributes(attr::USER_STATUS)
                .non_key_attributes(attr::PROFILE)
                .build(),
        )
        .build()
        .map_err(invalid)
}

/// A dev table from before the index and the stream gets them (DynamoDB
/// Local builds the index at once).
async fn add_missing_index(client: &Client, table: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, ScalarAttributeType,
    };
    let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Other(e.to_string());
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(classify)?;
    let has_stream = described
        .table
        .as_ref()
        .and_then(|t| t.stream_specification.as_ref())
        .is_some_and(|s| s.stream_enabled);
    let has_index = described
        .table
        .and_then(|t| t.global_secondary_indexes)
        .unwrap_or_default()
        .iter()
        .any(|index| index.index_name() == Some(item::BY_PROJECT_INDEX));
    if !has_stream {
        client
            .update_table()
            .table_name(table)
            .stream_specification(
                aws_sdk_dynamodb::types::StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(invalid)?,
            )
            .send()
            .await
            .map_err(classify)?;
    }
    if has_index {
        return Ok(());
    }
    let index = by_project_index()?;
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(item::BY_PROJECT_INDEX)
        .set_key_schema(Some(index.key_schema().to_vec()))
        .set_projection(index.projection().cloned())
        .build()
        .map_err(invalid)?;
    client
        .update_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr::PROJECT)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(invalid)?,
        )
        .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build())
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
