//! The stream edge: a Lambda DynamoDB Streams event in (the records of the
//! users table's stream), the records that failed out, for Lambda's
//! `ReportBatchItemFailures`. The audit function's one entry point, beside
//! the HTTP ones.

use serde_json::{json, Map, Value};

use crate::feed::AuditFeed;
use crate::management_keys::ManagementKeys;
use crate::service::audit::StreamRecord;
use crate::service::App;
use crate::store::Store;

/// The records of an event, in order. A record this code cannot read
/// (no sequence number, no key) is `Err` with what is known of it.
pub fn records(event: &Value) -> Vec<Result<StreamRecord, String>> {
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        return Vec::new();
    };
    records.iter().map(record).collect()
}

fn record(raw: &Value) -> Result<StreamRecord, String> {
    let dynamodb = raw.get("dynamodb").ok_or("a record without dynamodb")?;
    let sequence = dynamodb
        .get("SequenceNumber")
        .and_then(Value::as_str)
        .ok_or("a record without a sequence number")?
        .to_owned();
    let pk = dynamodb
        .pointer("/Keys/pk/S")
        .and_then(Value::as_str)
        .ok_or_else(|| sequence.clone())?
        .to_owned();
    let image = |name: &str| dynamodb.get(name).and_then(Value::as_object).cloned();
    // Seconds, with a fraction on newer streams.
    let seconds = dynamodb
        .get("ApproximateCreationDateTime")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    // TTL deletions are DynamoDB's own, marked by the service principal.
    let by_ttl = raw.pointer("/userIdentity/principalId").and_then(Value::as_str) == Some("dynamodb.amazonaws.com");
    Ok(StreamRecord {
        sequence,
        pk,
        old: image("OldImage"),
        new: image("NewImage"),
        occurred_ms: (seconds * 1000.0) as u64,
        by_ttl,
    })
}

/// One invocation: each record stored as its audit record; the answer
/// names the first record that failed (or could not be read), from which
/// Lambda retries, then bisects, then hands the batch to the failure
/// destination: a poison record is reported, never skipped in silence.
pub async fn audit<S: Store>(app: &App<S>, keys: &ManagementKeys, feed: &impl AuditFeed, event: Value) -> Value {
    let parsed = records(&event);
    let readable: Vec<StreamRecord> = parsed.iter().map_while(|r| r.as_ref().ok().cloned()).collect();
    let failed = match app.record_changes(keys, &readable, feed).await {
        Some(sequence) => Some(sequence),
        None => parsed.get(readable.len()).map(|unreadable| {
            let what = unreadable.as_ref().err().cloned().unwrap_or_default();
            tracing::error!(what, "a stream record could not be read; reported as failed");
            what
        }),
    };
    let failures: Vec<Value> = failed
        .into_iter()
        .map(|sequence| json!({ "itemIdentifier": sequence }))
        .collect();
    let mut answer = Map::new();
    answer.insert("batchItemFailures".into(), Value::Array(failures));
    Value::Object(answer)
}
