//! Lambda function for user creation (one, a batch: it seals imported
//! seeds), status, search and batch deletion, behind a management key.

use lambda_http::{service_fn, Error};
use totp_lambda::app::{self, Function};
use totp_lambda::{http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = app::sdk_config().await;
    let app = app::build(Function::Users, &sdk).await?;
    let keys = app::management_keys(&sdk).await?;
    http::run(service_fn(|request| http::management(&app, &keys, request))).await
}
