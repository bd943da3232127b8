//! Session revocation on DynamoDB.
//!
//! The user item carries `sessionGeneration`: every refresh token names the
//! generation it was issued in, and ending all sessions moves it on (one
//! UpdateItem). Logging one token out writes `<projectId>|revoked|<jti>`,
//! which expires with the token through TTL, so the table does not grow with
//! logouts. A refresh reads both items in one strongly consistent
//! BatchGetItem; each revocation is one TransactWriteItems whose condition
//! re-checks, at the write, that the presented token is still live.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};

use super::item::{attr, b, n, params_value, s, Item, REGISTERED};
use super::{bindings, classify, DynamoStore, ENABLED, PENDING_KEY};
use crate::store::{PendingKey, SessionRef, SessionState, StoreError, UserKey};

/// The condition, on the user item, that `session` is of this user and of
/// the current generation (users registered before generations existed are
/// at generation 0).
fn live_session_condition(session: &SessionRef) -> (String, Vec<(&'static str, AttributeValue)>) {
    let generation = if session.generation == 0 {
        "(attribute_not_exists(#sessionGeneration) OR #sessionGeneration = :generation)"
    } else {
        "#sessionGeneration = :generation"
    };
    (
        format!("#status = :registered AND #userId = :userId AND {generation} AND {ENABLED}"),
        vec![
            (":registered", s(REGISTERED)),
            (":userId", s(&session.user_id)),
            (":generation", n(session.generation)),
        ],
    )
}

pub(super) fn invalid(error: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(error.to_string())
}

/// `Conflict` when a condition of the transaction failed, `Unavailable`
/// when it lost to a concurrent transaction or was throttled (retryable).
fn classify_transaction<R>(error: SdkError<TransactWriteItemsError, R>) -> StoreError {
    if let SdkError::ServiceError(service) = &error {
        if let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err() {
            let reasons = cancelled.cancellation_reasons();
            let transient = reasons.iter().any(|r| {
                matches!(
                    r.code(),
                    Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
                )
            });
            return if transient {
                StoreError::Unavailable("transaction conflict".into())
            } else {
                StoreError::Conflict
            };
        }
    }
    classify(error)
}

impl DynamoStore {
    pub(super) async fn read_session(&self, key: &UserKey, token_id: &str) -> Result<SessionState, StoreError> {
        let user_pk = Self::partition_key(key);
        let token_pk = Self::revoked_token_key(key, token_id);
        let found = self
            .consistent_batch_get(vec![user_pk.clone(), token_pk.clone()])
            .await?;
        let is =
            |item: &Item, pk: &str| item.0.get(attr::PK).and_then(|v| v.as_s().ok()).map(String::as_str) == Some(pk);
        let token_revoked = found.iter().any(|item| is(item, &token_pk));
        let record = found
            .into_iter()
            .find(|item| is(item, &user_pk))
            .map(|item| item.record())
            .transpose()?;
        Ok(SessionState { record, token_revoked })
    }

    /// A transaction's check, on the user item, that `session` is of this
    /// user and of the current generation.
    pub(super) fn live_session_check(&self, key: &UserKey, session: &SessionRef) -> Result<ConditionCheck, StoreError> {
        let (live, values) = live_session_condition(session);
        let (names, values) = bindings(&[&live], values);
        ConditionCheck::builder()
            .table_name(&self.table)
            .key(attr::PK, Self::pk(key))
            .condition_expression(&live)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(invalid)
    }

    pub(super) async fn write_revocation(
        &self,
        key: &UserKey,
        session: &SessionRef,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        // Once per token: a second logout of the same token finds it revoked.
        let put = Put::builder()
            .table_name(&self.table)
            .item(attr::PK, s(&Self::revoked_token_key(key, &session.token_id)))
            .item(attr::EXPIRES_AT, n(expires_at))
            // Whose token it was, for the audit trail's Logout.
            .item(attr::USER_ID, s(&session.user_id))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK);
        self.transact([
            TransactWriteItem::builder()
                .condition_check(self.live_session_check(key, session)?)
                .build(),
            TransactWriteItem::builder().put(put.build().map_err(invalid)?).build(),
        ])
        .await
    }

    pub(super) async fn bump_generation(&self, key: &UserKey, session: &SessionRef) -> Result<(), StoreError> {
        // A pending key of the ended generation dies in the same write.
        let update = format!("ADD #sessionGeneration :one REMOVE {PENDING_KEY}");
        self.update_if_live(key, session, &update, None, vec![(":one", n(1))])
            .await
    }

    /// The pending key of an update, written only if the session of the
    /// refresh token that asked for it is still live at the write: an
    /// update racing a logout (or a logout-all) never lands.
    pub(super) async fn write_pending_key(
        &self,
        key: &UserKey,
        session: &SessionRef,
        pending: &PendingKey,
    ) -> Result<(), StoreError> {
        let mut update = String::from(
            "SET #pendingSecret = :secret, #pendingSecretKeyId = :keyId, \
             #pendingEnrollmentId = :enrollment, #pendingExpiresAt = :expires, \
             #pendingGeneration = :pendingGeneration",
        );
        let mut values = vec![
            (":secret", b(&pending.secret.blob)),
            (":keyId", s(&pending.secret.key_id)),
            (":enrollment", s(&pending.enrollment_id)),
            (":expires", n(pending.expires_at)),
            (":pendingGeneration", n(session.generation)),
        ];
        match params_value(pending.params) {
            Some(params) => {
                update.push_str(", #pendingTotpParams = :params");
                values.push((":params", params));
            }
            None => update.push_str(" REMOVE #pendingTotpParams"),
        }
        self.update_if_live(key, session, &update, None, values).await
    }

    /// `update_expression` on the user item, in one transaction with the
    /// checks that `session` is live: its user and generation (the item's
    /// condition, with `and_also` if given) and not logged out on its own
    /// (its revocation item absent).
    pub(super) async fn update_if_live(
        &self,
        key: &UserKey,
        session: &SessionRef,
        update_expression: &str,
        and_also: Option<&str>,
        extra: Vec<(&'static str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let (mut live, mut values) = live_session_condition(session);
        if let Some(condition) = and_also {
            live = format!("{live} AND {condition}");
        }
        values.extend(extra);
        let (names, values) = bindings(&[update_expression, &live], values);
        let update = Update::builder()
            .table_name(&self.table)
            .key(attr::PK, Self::pk(key))
            .update_expression(update_expression)
            .condition_expression(&live)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values);
        // The presented token must not have been logged out on its own.
        let not_revoked = ConditionCheck::builder()
            .table_name(&self.table)
            .key(attr::PK, s(&Self::revoked_token_key(key, &session.token_id)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK);
        self.transact([
            TransactWriteItem::builder()
                .update(update.build().map_err(invalid)?)
                .build(),
            TransactWriteItem::builder()
                .condition_check(not_revoked.build().map_err(invalid)?)
                .build(),
        ])
        .await
    }

    /// All of `items` or none.
    pub(super) async fn transact(&self, items: [TransactWriteItem; 2]) -> Result<(), StoreError> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items.into()))
            .send()
            .await
            .map(|_| ())
            .map_err(classify_transaction)
    }
}
