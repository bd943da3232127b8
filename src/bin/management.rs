//! Lambda function for support's tools behind a management key (key
//! removal, sign-in links, sign-out, load, deletion) and the audit search.
//! User creation, status and search are the `users` function's.

use lambda_http::{service_fn, Error};
use totp_lambda::app::{self, Function};
use totp_lambda::{http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = app::sdk_config().await;
    let app = app::build(Function::Management, &sdk).await?;
    let keys = app::management_keys(&sdk).await?;
    http::run(service_fn(|request| http::management(&app, &keys, request))).await
}
