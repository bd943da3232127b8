//! Lambda function for GET /v2/keys/{projectId}: the JWKS of one project.

use lambda_http::{service_fn, Error};
use totp_lambda::{app, config::Config, http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let tokens = app::project_keys(&app::sdk_config().await, &config).await?;
    lambda_http::run(service_fn(|request| http::keys(&config, &tokens, request))).await
}
