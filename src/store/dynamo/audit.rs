//! The audit table: one item per audit record, partition `pk` = project id,
//! sort `sk` = the time in milliseconds (13 digits) and the stream record's
//! sequence number (zero-padded), so a project's records read newest first
//! and the same stream record always lands on the same key (a retried batch
//! stores nothing twice). The `byUser` index (`userKey` = `<project>#<userId>`,
//! same `sk`) reads one user's records newest first. Records expire through
//! TTL on `expiresAt`.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{attr, n, s, Item};
use super::{classify, enable_ttl, DynamoStore};
use crate::domain::ProjectId;
use crate::store::{AuditQuery, AuditRecord, StoreError};

pub const BY_USER_INDEX: &str = "byUser";
const SK: &str = "sk";
const USER_KEY: &str = "userKey";
const LOGIN_HASH: &str = "loginHash";
const ACTION: &str = "action";
const OCCURRED: &str = "occurred";
const DATA: &str = "data";
const SEQUENCE: &str = "sequence";
/// Records read per Query page while filtering.
const PAGE: i32 = 500;

/// `occurred` and the sequence number, as the sort key orders them.
fn sort_key(occurred_ms: u64, sequence: &str) -> String {
    format!("{occurred_ms:013}#{sequence:0>40}")
}

impl DynamoStore {
    fn audit_table(&self) -> Result<&str, StoreError> {
        self.audit_table
            .as_deref()
            .ok_or_else(|| StoreError::Other("no audit table configured (AUDIT_TABLE_NAME)".into()))
    }

    pub(super) async fn put_audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(self.audit_table()?)
            .item(attr::PK, s(&record.project))
            .item(SK, s(&sort_key(record.occurred_ms, &record.sequence)))
            .item(ACTION, s(&record.action))
            .item(OCCURRED, n(record.occurred_ms))
            .item(DATA, s(&record.data))
            .item(SEQUENCE, s(&record.sequence))
            .item(attr::EXPIRES_AT, n(record.expires_at))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK);
        if let Some(user_id) = &record.user_id {
            put = put
                .item(attr::USER_ID, s(user_id))
                .item(USER_KEY, s(&format!("{}#{user_id}", record.project)));
        }
        if let Some(hash) = &record.login_hash {
            put = put.item(LOGIN_HASH, s(hash));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            // Stored by an earlier delivery of the same stream record.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    pub(super) async fn query_audit(
        &self,
        project: &ProjectId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let (from, to) = (sort_key(query.from_ms, ""), sort_key(query.to_ms, "~"));
        let mut found = Vec::new();
        // One user's records come from the index; a project's from the table.
        let partitions: Vec<(Option<&str>, String)> = if query.user_ids.is_empty() {
            vec![(None, project.as_str().to_owned())]
        } else {
            query
                .user_ids
                .iter()
                .map(|u| (Some(BY_USER_INDEX), format!("{}#{u}", project.as_str())))
                .collect()
        };
        for (index, partition) in partitions {
            let key_name = if index.is_some() { USER_KEY } else { attr::PK };
            let mut kept = 0;
            let mut start = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(self.audit_table()?)
                    .set_index_name(index.map(str::to_owned))
                    .key_condition_expression("#key = :key AND #sk BETWEEN :from AND :to")
                    .expression_attribute_names("#key", key_name)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":key", s(&partition))
                    .expression_attribute_values(":from", s(&from))
                    .expression_attribute_values(":to", s(&to))
                    .scan_index_forward(false)
                    .limit(PAGE)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(classify)?;
                for item in output.items.unwrap_or_default() {
                    let record = audit_record(project, item)?;
                    if query.admits(&record) {
                        found.push(record);
                        kept += 1;
                    }
                }
                start = output.last_evaluated_key;
                if kept >= query.limit || start.is_none() {
                    break;
                }
            }
        }
        // Several users' records merged: newest first, then the limit.
        found.sort_by_key(|r| std::cmp::Reverse(sort_key(r.occurred_ms, &r.sequence)));
        found.truncate(query.limit);
        Ok(found)
    }
}

fn audit_record(project: &ProjectId, item: HashMap<String, AttributeValue>) -> Result<AuditRecord, StoreError> {
    let item = Item(item);
    let required = |name: &str, value: Option<String>| {
        value.ok_or_else(|| StoreError::Corrupt(format!("an audit record without {name}")))
    };
    Ok(AuditRecord {
        project: project.as_str().to_owned(),
        user_id: item.string(attr::USER_ID)?,
        login_hash: item.string(LOGIN_HASH)?,
        action: required(ACTION, item.string(ACTION)?)?,
        occurred_ms: item.number(OCCURRED)?.unwrap_or(0),
        data: item.string(DATA)?.unwrap_or_else(|| "{}".into()),
        sequence: required(SEQUENCE, item.string(SEQUENCE)?)?,
        expires_at: item.number(attr::EXPIRES_AT)?.unwrap_or(0),
    })
}

/// Creates the audit table (and its index and TTL) if it does not exist:
/// for `make dev` and the tests; AWS deployments get it from template.yaml.
pub async fn ensure_audit_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType,
    };
    let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Other(e.to_string());
    let definition = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(invalid)
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(invalid)
    };
    let by_user = GlobalSecondaryIndex::builder()
        .index_name(BY_USER_INDEX)
        .key_schema(key(USER_KEY, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(invalid)?;
    let created = client
        .create_table()
        .table_name(table)
        .attribute_definitions(definition(attr::PK)?)
        .attribute_definitions(definition(SK)?)
        .attribute_definitions(definition(USER_KEY)?)
        .key_schema(key(attr::PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .global_secondary_indexes(by_user)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
        Err(e) => return Err(classify(e)),
    }
    enable_ttl(client, table).await
}
