//! Lambda function for POST /v1/auth/totp/verify.

use lambda_http::{service_fn, Error};
use totp_lambda::app::{self, Function};
use totp_lambda::{http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = app::from_env(Function::Verify).await?;
    http::run(service_fn(|request| http::verify(&app, request))).await
}
