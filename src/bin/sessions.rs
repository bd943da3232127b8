//! Lambda function for the session routes: POST /v1/auth/refresh,
//! POST /v1/auth/logout, POST /v1/auth/logoutall, GET /v1/auth/me.

use lambda_http::{service_fn, Error};
use totp_lambda::app::{self, Function};
use totp_lambda::{http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = app::from_env(Function::Sessions).await?;
    http::run(service_fn(|request| http::sessions(&app, request))).await
}
