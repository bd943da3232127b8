//! Lambda function for POST /v1/auth/totp/update. It checks refresh JWTs
//! against the public keys document only: it never holds a private key, so
//! it cannot issue a token.

use lambda_http::{service_fn, Error};
use totp_lambda::app::{self, Function};
use totp_lambda::{http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = app::from_env(Function::Update).await?;
    http::run(service_fn(|request| http::update(&app, request))).await
}
