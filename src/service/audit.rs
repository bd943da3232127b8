//! The audit trail's use-cases: turn a batch of stream records into audit
//! records (stored once each, and put on the feed), and search them.

use serde_json::{json, Value};

use super::{storage, App};
use crate::audit::{self, Change, Limits};
use crate::domain::{LoginId, ProjectId};
use crate::error::Error;
use crate::feed::AuditFeed;
use crate::lockout::LockoutPolicy;
use crate::management_keys::ManagementKeys;
use crate::store::{AuditQuery, AuditRecord, Store};

/// One stream record, as the edge parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    pub sequence: String,
    pub pk: String,
    pub old: Option<serde_json::Map<String, Value>>,
    pub new: Option<serde_json::Map<String, Value>>,
    pub occurred_ms: u64,
    pub by_ttl: bool,
}

/// Most records one search answers (Descope's page).
pub const MAX_AUDIT_RESULTS: usize = 1000;

/// A record as the search route and the feed show it: Descope's shape.
pub fn record_json(record: &AuditRecord) -> Value {
    let data: Value = serde_json::from_str(&record.data).unwrap_or_else(|_| json!({}));
    json!({
        "projectId": record.project,
        "userId": record.user_id.clone().unwrap_or_default(),
        "action": record.action,
        "occurred": record.occurred_ms,
        "device": "",
        "method": "totp",
        "geo": "",
        "remoteAddress": "",
        // The loginId is never stored; its keyed hash is what a search matches.
        "externalIds": [],
        "loginHash": record.login_hash.clone().unwrap_or_default(),
        "tenants": [],
        "data": data,
    })
}

impl<S: Store> App<S> {
    /// Stores the audit record of each change in order, and puts it on the
    /// feed. Returns the sequence number of the first record that could not
    /// be stored or published: Lambda retries the batch from there, so
    /// nothing is lost and (records being idempotent) nothing doubled.
    pub async fn record_changes(
        &self,
        keys: &ManagementKeys,
        records: &[StreamRecord],
        feed: &impl AuditFeed,
    ) -> Option<String> {
        for record in records {
            let change = Change {
                pk: &record.pk,
                old: record.old.as_ref(),
                new: record.new.as_ref(),
                occurred_ms: record.occurred_ms,
                by_ttl: record.by_ttl,
            };
            // The project's own limits tell a failure that locked the user out.
            let limits = |project: &str| match ProjectId::parse(project) {
                Some(project) => {
                    let policy = LockoutPolicy::of(&self.config, &project);
                    Limits {
                        short: policy.short_limit,
                        long: policy.long_limit,
                    }
                }
                None => Limits {
                    short: self.config.lockout_max_attempts,
                    long: self.config.lockout_daily_max_failures,
                },
            };
            let Some(event) = audit::classify(&change, limits) else {
                continue;
            };
            let login_hash = match (ProjectId::parse(&event.project), event.login_id.as_deref()) {
                (Some(project), Some(login)) => LoginId::parse(Some(login))
                    .ok()
                    .map(|login| keys.audit_subject(&project, &login)),
                _ => None,
            };
            let stored = AuditRecord {
                project: event.project,
                user_id: event.user_id,
                login_hash,
                action: event.action.to_owned(),
                occurred_ms: record.occurred_ms,
                data: Value::Object(event.data).to_string(),
                sequence: record.sequence.clone(),
                expires_at: record.occurred_ms / 1000 + self.config.audit_retention_days * 86_400,
            };
            let written = match self.store.put_audit_record(&stored).await {
                Ok(()) => feed.publish(&stored).await,
                Err(e) => Err(e),
            };
            if let Err(error) = written {
                tracing::error!(error = %error, sequence = record.sequence, "audit record not stored; the batch is retried from it");
                return Some(record.sequence.clone());
            }
            tracing::info!(
                action = stored.action,
                sequence = record.sequence,
                "audit record stored"
            );
        }
        None
    }

    /// POST /v1/mgmt/audit/search: the project's records, newest first.
    pub async fn search_audit(&self, project: &ProjectId, query: &AuditQuery) -> Result<Vec<AuditRecord>, Error> {
        self.store.search_audit(project, query).await.map_err(storage)
    }
}
