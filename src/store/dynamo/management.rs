//! What support does to a user on DynamoDB: remove their key, end their
//! sessions. Each is one write on the user's item (creation, status,
//! lookup and deletion are in `users`).

use aws_sdk_dynamodb::types::ReturnValue;

use super::item::{n, s, REGISTERED};
use super::{DynamoStore, PENDING_KEY};
use crate::store::{StoreError, UserKey, UserRecord};

impl DynamoStore {
    pub(super) async fn remove_user_key(
        &self,
        key: &UserKey,
        new_enrollment_id: &str,
    ) -> Result<UserRecord, StoreError> {
        // A new enrollmentId makes a sign-in with the old key, already past
        // its read, fail its condition; the generation ends every session.
        self.conditional_update_returning(
            key,
            &format!(
                "SET #enrollmentId = :enrollment ADD #sessionGeneration :one \
                 REMOVE #secret, #secretKeyId, #totpParams, #lastStep, {PENDING_KEY}"
            ),
            "#status = :registered",
            vec![
                (":enrollment", s(new_enrollment_id)),
                (":one", n(1)),
                (":registered", s(REGISTERED)),
            ],
            ReturnValue::AllNew,
        )
        .await?
        .record()
    }

    pub(super) async fn end_user_sessions(&self, key: &UserKey) -> Result<(), StoreError> {
        self.conditional_update(
            key,
            &format!("ADD #sessionGeneration :one REMOVE {PENDING_KEY}"),
            "#status = :registered",
            vec![(":one", n(1)), (":registered", s(REGISTERED))],
        )
        .await
    }
}
