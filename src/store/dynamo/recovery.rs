//! Recovery codes on DynamoDB: a string set of keyed hashes on the user's
//! item (`recoveryCodes`) and the key they were made with
//! (`recoveryKeyId`). A new set replaces the old in the write that spends
//! the TOTP code authorising it; a redemption removes its one hash under
//! the condition that it is still there (and no lockout window is full),
//! so a code signs in once.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::item::{n, s, REGISTERED};
use super::{open_windows_values, DynamoStore, ENABLED, SHORT_WINDOW, WINDOWS_OPEN};
use crate::store::{OpenWindows, RecoveryCodeSet, RecoveryRedemption, SessionRef, SignIn, StoreError, UserKey};

impl DynamoStore {
    pub(super) async fn write_recovery_codes(
        &self,
        key: &UserKey,
        session: &SessionRef,
        sign_in: &SignIn<'_>,
        codes: &RecoveryCodeSet,
        open: &OpenWindows,
    ) -> Result<(), StoreError> {
        // No attempt was taken: the long window is left as it is.
        let update = format!(
            "SET #recoveryCodes = :codes, #recoveryKeyId = :recoveryKeyId, #lastStep = :step, \
             #acceptedAttemptId = :attemptId REMOVE {SHORT_WINDOW}"
        );
        let condition = format!(
            "#enrollmentId = :enrollment AND (attribute_not_exists(#lastStep) OR #lastStep < :step) AND {WINDOWS_OPEN}"
        );
        let mut values = vec![
            (":codes", AttributeValue::Ss(codes.hashes.clone())),
            (":recoveryKeyId", s(&codes.key_id)),
            (":step", n(sign_in.step)),
            (":attemptId", s(sign_in.attempt_id)),
            (":enrollment", s(sign_in.enrollment_id)),
        ];
        values.extend(open_windows_values(open));
        self.update_if_live(key, session, &update, Some(&condition), values)
            .await
    }

    /// A redemption's one write, as a sign-in's success: no attempt was
    /// taken, so the long window is left as it is, and the condition holds
    /// the lockout instead (docs/storage.md, "One read, one write").
    pub(super) async fn delete_recovery_code(
        &self,
        key: &UserKey,
        redemption: &RecoveryRedemption<'_>,
        open: &OpenWindows,
    ) -> Result<u64, StoreError> {
        let mut values = vec![
            (":attemptId", s(redemption.attempt_id)),
            (":zero", n(0)),
            (":spent", AttributeValue::Ss(vec![redemption.hash.to_owned()])),
            (":registered", s(REGISTERED)),
            (":recoveryKeyId", s(redemption.key_id)),
            (":hash", s(redemption.hash)),
        ];
        values.extend(open_windows_values(open));
        let written = self
            .conditional_update_returning(
                key,
                &format!(
                    "SET #acceptedAttemptId = :attemptId ADD #sessionGeneration :zero \
                     DELETE #recoveryCodes :spent REMOVE {SHORT_WINDOW}"
                ),
                &format!(
                    "#status = :registered AND {ENABLED} AND #recoveryKeyId = :recoveryKeyId \
                     AND contains(#recoveryCodes, :hash) AND {WINDOWS_OPEN}"
                ),
                values,
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
