//! A Store that is DynamoDB Local with a hook before every operation: the
//! hook may fail the operation (a fault after the read) or run a competing
//! write first (a race, made deterministic).

use std::future::Future;

use totp_lambda::store::dynamo::DynamoStore;
use totp_lambda::store::*;

/// The Store operation about to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    PutPendingSignup,
    TakeAttempt,
    CompleteSignup,
    RecordSignIn,
    PromotePendingKey,
    GetSession,
    RevokeSession,
    RevokeAllSessions,
    RemoveKey,
    EndAllSessions,
    DeleteUser,
    PutPendingKey,
    RedeemSignInLink,
    PutRecoveryCodes,
    SpendRecoveryCode,
    RemoveRecoveryCodes,
    CreateUser,
    SetDisabled,
}

pub trait Hook: Send + Sync {
    /// Runs before `op` on `key`, with the real store at hand; an error is
    /// the operation's answer, and the operation does not run.
    fn before(&self, op: Op, key: &UserKey, store: &DynamoStore)
        -> impl Future<Output = Result<(), StoreError>> + Send;
}

pub struct Hooked<H> {
    pub inner: DynamoStore,
    pub hook: H,
}

impl<H: Hook> Store for Hooked<H> {
    async fn get(&self, key: &UserKey) -> Result<Option<UserRecord>, StoreError> {
        self.hook.before(Op::Get, key, &self.inner).await?;
        self.inner.get(key).await
    }
    async fn put_pending_signup(&self, e: &NewEnrollment) -> Result<(), StoreError> {
        self.hook.before(Op::PutPendingSignup, &e.key, &self.inner).await?;
        self.inner.put_pending_signup(e).await
    }
    async fn take_attempt(
        &self,
        key: &UserKey,
        id: &str,
        take: &AttemptTake,
        expired: Option<&str>,
        wrong: bool,
    ) -> Result<(), StoreError> {
        self.hook.before(Op::TakeAttempt, key, &self.inner).await?;
        self.inner.take_attempt(key, id, take, expired, wrong).await
    }
    async fn complete_signup(
        &self,
        key: &UserKey,
        attempt: &str,
        e: &str,
        step: u64,
        user: &str,
        open: &OpenWindows,
    ) -> Result<u64, StoreError> {
        self.hook.before(Op::CompleteSignup, key, &self.inner).await?;
        self.inner.complete_signup(key, attempt, e, step, user, open).await
    }
    async fn record_sign_in(&self, key: &UserKey, sign_in: &SignIn<'_>, open: &OpenWindows) -> Result<u64, StoreError> {
        self.hook.before(Op::RecordSignIn, key, &self.inner).await?;
        self.inner.record_sign_in(key, sign_in, open).await
    }
    async fn promote_pending_key(
        &self,
        key: &UserKey,
        attempt: &str,
        p: &PendingKey,
        promoted: &totp_lambda::secret_box::SealedSecret,
        step: u64,
        open: &OpenWindows,
    ) -> Result<u64, StoreError> {
        self.hook.before(Op::PromotePendingKey, key, &self.inner).await?;
        self.inner
            .promote_pending_key(key, attempt, p, promoted, step, open)
            .await
    }
    async fn get_session(&self, key: &UserKey, token_id: &str) -> Result<SessionState, StoreError> {
        self.hook.before(Op::GetSession, key, &self.inner).await?;
        self.inner.get_session(key, token_id).await
    }
    async fn revoke_session(&self, key: &UserKey, session: &SessionRef, expires: u64) -> Result<(), StoreError> {
        self.hook.before(Op::RevokeSession, key, &self.inner).await?;
        self.inner.revoke_session(key, session, expires).await
    }
    async fn revoke_all_sessions(&self, key: &UserKey, session: &SessionRef) -> Result<(), StoreError> {
        self.hook.before(Op::RevokeAllSessions, key, &self.inner).await?;
        self.inner.revoke_all_sessions(key, session).await
    }
    async fn remove_key(&self, key: &UserKey, e: &str) -> Result<UserRecord, StoreError> {
        self.hook.before(Op::RemoveKey, key, &self.inner).await?;
        self.inner.remove_key(key, e).await
    }
    async fn end_all_sessions(&self, key: &UserKey) -> Result<(), StoreError> {
        self.hook.before(Op::EndAllSessions, key, &self.inner).await?;
        self.inner.end_all_sessions(key).await
    }
    async fn delete_user(&self, key: &UserKey) -> Result<(), StoreError> {
        self.hook.before(Op::DeleteUser, key, &self.inner).await?;
        self.inner.delete_user(key).await
    }
    // Links are found by their hash, not a user: only their redemption is hooked.
    async fn put_sign_in_link(
        &self,
        project: &totp_lambda::domain::ProjectId,
        link: &SignInLink,
    ) -> Result<(), StoreError> {
        self.inner.put_sign_in_link(project, link).await
    }
    async fn get_sign_in_link(
        &self,
        project: &totp_lambda::domain::ProjectId,
        hash: &str,
    ) -> Result<Option<SignInLink>, StoreError> {
        self.inner.get_sign_in_link(project, hash).await
    }
    async fn redeem_sign_in_link(
        &self,
        key: &UserKey,
        link: &SignInLink,
        gen: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.hook.before(Op::RedeemSignInLink, key, &self.inner).await?;
        self.inner.redeem_sign_in_link(key, link, gen, now).await
    }
    async fn put_recovery_codes(
        &self,
        key: &UserKey,
        session: &SessionRef,
        sign_in: &SignIn<'_>,
        codes: &RecoveryCodeSet,
        open: &OpenWindows,
    ) -> Result<(), StoreError> {
        self.hook.before(Op::PutRecoveryCodes, key, &self.inner).await?;
        self.inner.put_recovery_codes(key, session, sign_in, codes, open).await
    }
    async fn spend_recovery_code(
        &self,
        key: &UserKey,
        r: &RecoveryRedemption<'_>,
        open: &OpenWindows,
    ) -> Result<u64, StoreError> {
        self.hook.before(Op::SpendRecoveryCode, key, &self.inner).await?;
        self.inner.spend_recovery_code(key, r, open).await
    }
    async fn remove_recovery_codes(&self, key: &UserKey) -> Result<(), StoreError> {
        self.hook.before(Op::RemoveRecoveryCodes, key, &self.inner).await?;
        self.inner.remove_recovery_codes(key).await
    }
    async fn put_pending_key(&self, key: &UserKey, session: &SessionRef, p: &PendingKey) -> Result<(), StoreError> {
        self.hook.before(Op::PutPendingKey, key, &self.inner).await?;
        self.inner.put_pending_key(key, session, p).await
    }
    // Audit records name no user key: not hooked.
    async fn put_audit_record(&self, record: &AuditRecord) -> Result<(), StoreError> {
        self.inner.put_audit_record(record).await
    }
    async fn search_audit(
        &self,
        project: &totp_lambda::domain::ProjectId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.search_audit(project, query).await
    }
    async fn create_user(&self, user: &NewUser) -> Result<(), StoreError> {
        self.hook.before(Op::CreateUser, &user.key, &self.inner).await?;
        self.inner.create_user(user).await
    }
    async fn set_disabled(&self, key: &UserKey, disabled: bool) -> Result<UserRecord, StoreError> {
        self.hook.before(Op::SetDisabled, key, &self.inner).await?;
        self.inner.set_disabled(key, disabled).await
    }
    // Lookups by userId and searches name no user: not hooked.
    async fn login_id_of(
        &self,
        project: &totp_lambda::domain::ProjectId,
        user_id: &str,
    ) -> Result<Option<String>, StoreError> {
        self.inner.login_id_of(project, user_id).await
    }
    async fn search_users(
        &self,
        project: &totp_lambda::domain::ProjectId,
        query: &UserQuery,
    ) -> Result<Vec<(String, UserRecord)>, StoreError> {
        self.inner.search_users(project, query).await
    }
}

/// Sets `values` on the user's item directly just before `op`.
pub struct SetBefore {
    pub op: Op,
    pub values: Vec<(&'static str, aws_sdk_dynamodb::types::AttributeValue)>,
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

impl Hook for SetBefore {
    async fn before(&self, op: Op, key: &UserKey, _: &DynamoStore) -> Result<(), StoreError> {
        if op == self.op {
            let pk = aws_sdk_dynamodb::types::AttributeValue::S(DynamoStore::partition_key(key));
            super::set_attributes_of(&self.client, &self.table, pk, &self.values, &[]).await;
        }
        Ok(())
    }
}

/// Records every storage operation asked for, in order: shows what a request
/// did not get as far as.
#[derive(Default)]
pub struct Recorder(pub std::sync::Mutex<Vec<Op>>);

impl Hook for Recorder {
    async fn before(&self, op: Op, _: &UserKey, _: &DynamoStore) -> Result<(), StoreError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(op);
        Ok(())
    }
}
