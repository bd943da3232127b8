//! Lambda function fed by the users table's DynamoDB Stream: each change
//! becomes an audit record (and, with AUDIT_EVENT_BUS_NAME, an EventBridge event).

use lambda_http::lambda_runtime::{self, service_fn, Error, LambdaEvent};
use serde_json::Value;
use totp_lambda::app::{self, Function};
use totp_lambda::{stream, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = app::sdk_config().await;
    let app = app::build(Function::Audit, &sdk).await?;
    let keys = app::management_keys(&sdk).await?;
    let feed = app::audit_feed(&sdk, &app.config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        Ok::<Value, Error>(stream::audit(&app, &keys, &feed, event.payload).await)
    }))
    .await
}
