//! Recovery codes on DynamoDB: a string set of keyed hashes on the user's
//! item (`recoveryCodes`) and the key they were made with
//! (`recoveryKeyId`). A new set replaces the old in the write that spends
//! the TOTP code authorising it; a redemption removes its one hash under
//! the condition that it is still there, so a code signs in once.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::item::{n, s, REGISTERED};
use super::{DynamoStore, ENABLED, SHORT_WINDOW, SUCCESS_REFUND};
use crate::store::{RecoveryCodeSet, RecoveryRedemption, SessionRef, SignIn, StoreError, UserKey};

impl DynamoStore {
    pub(super) async fn write_recovery_codes(
        &self,
        key: &UserKey,
        session: &SessionRef,
        sign_in: &SignIn<'_>,
        codes: &RecoveryCodeSet,
    ) -> Result<(), StoreError> {
        let update = format!(
            "SET #recoveryCodes = :codes, #recoveryKeyId = :recoveryKeyId, #lastStep = :step, \
             #acceptedAttemptId = :attemptId ADD {SUCCESS_REFUND} REMOVE {SHORT_WINDOW}"
        );
        let condition = "#enrollmentId = :enrollment AND (attribute_not_exists(#lastStep) OR #lastStep < :step)";
        let values = vec![
            (":codes", AttributeValue::Ss(codes.hashes.clone())),
            (":recoveryKeyId", s(&codes.key_id)),
            (":step", n(sign_in.step)),
            (":attemptId", s(sign_in.attempt_id)),
            (":enrollment", s(sign_in.enrollment_id)),
            (":refund", AttributeValue::N("-1".into())),
        ];
        self.update_if_live(key, session, &update, Some(condition), values)
            .await
    }

    pub(super) async fn delete_recovery_code(
        &self,
        key: &UserKey,
        redemption: &RecoveryRedemption<'_>,
    ) -> Result<u64, StoreError> {
        let written = self
            .conditional_update_returning(
                key,
                &format!(
                    "SET #acceptedAttemptId = :attemptId \
                     ADD #sessionGeneration :zero, {SUCCESS_REFUND} \
                     DELETE #recoveryCodes :spent REMOVE {SHORT_WINDOW}"
                ),
                &format!(
                    "#status = :registered AND {ENABLED} AND #recoveryKeyId = :recoveryKeyId \
                     AND contains(#recoveryCodes, :hash)"
                ),
                vec![
                    (":attemptId", s(redemption.attempt_id)),
                    (":zero", n(0)),
                    (":refund", AttributeValue::N("-1".into())),
                    (":spent", AttributeValue::Ss(vec![redemption.hash.to_owned()])),
                    (":registered", s(REGISTERED)),
                    (":recoveryKeyId", s(redemption.key_id)),
                    (":hash", s(redemption.hash)),
                ],
                ReturnValue::UpdatedNew,
            )
            .await?;
        Self::generation_of(written)
    }

    pub(super) async fn remove_all_recovery_codes(&self, key: &UserKey) -> Result<(), StoreError> {
        self.conditional_update(
            key,
            "REMOVE #recoveryCodes, #recoveryKeyId",
            "#status = :registered",
            vec![(":registered", s(REGISTERED))],
        )
        .await
    }
}
