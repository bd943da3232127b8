//! The audit feed: each audit record also put on an EventBridge bus
//! (`AUDIT_EVENT_BUS_NAME`) for a SIEM. Source `totp-lambda.audit`, detail
//! type the action, detail the record as the search route shows it.

use std::future::Future;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::store::{AuditRecord, StoreError};

/// Where audit records go besides the audit table.
pub trait AuditFeed: Send + Sync {
    fn publish(&self, record: &AuditRecord) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// No bus configured: nothing to do.
impl AuditFeed for () {
    async fn publish(&self, _: &AuditRecord) -> Result<(), StoreError> {
        Ok(())
    }
}

pub const SOURCE: &str = "totp-lambda.audit";

/// An EventBridge bus.
pub struct EventBus {
    pub client: aws_sdk_eventbridge::Client,
    pub bus_name: String,
}

impl AuditFeed for Option<EventBus> {
    async fn publish(&self, record: &AuditRecord) -> Result<(), StoreError> {
        let Some(bus) = self else {
            return Ok(());
        };
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&bus.bus_name)
            .source(SOURCE)
            .detail_type(&record.action)
            .detail(crate::service::audit::record_json(record).to_string())
            .build();
        let output = bus.client.put_events().entries(entry).send().await.map_err(|e| {
            StoreError::Unavailable(format!(
                "EventBridge: {}",
                aws_sdk_eventbridge::error::DisplayErrorContext(e)
            ))
        })?;
        // PutEvents answers 200 with per-entry failures.
        if output.failed_entry_count > 0 {
            return Err(StoreError::Unavailable("EventBridge refused the event".into()));
        }
        Ok(())
    }
}
