//! Lambda function for GET /v2/keys/{projectId}: the JWKS of one project.

use lambda_http::{service_fn, Error};
use totp_lambda::app::{self, Function};
use totp_lambda::{config::Config, http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env()?;
    // The public keys document: this function publishes keys and holds no private one.
    let tokens = app::token_keys(Function::Keys, &app::sdk_config().await, &config)
        .await?
        .ok_or("the keys function reads the public keys document")?;
    http::run(service_fn(|request| http::keys(&config, &tokens, request))).await
}
