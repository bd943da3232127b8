//! Wiring for the Lambda binaries: configuration, AWS clients and key
//! material, each built once per cold start, before the first request.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::Config;
use crate::secret_box::SecretBox;
use crate::service::{App, Clock};
use crate::store::dynamo::DynamoStore;
use crate::tokens::TokenKeys;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bounds on every AWS call: a dead endpoint gives 503 in seconds, never a
/// Lambda that hangs until its own timeout.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(1000))
        .operation_attempt_timeout(Duration::from_millis(1500))
        .operation_timeout(Duration::from_millis(4000))
        .build()
}

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::v2026_01_12())
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// Where a keys document comes from: Secrets Manager in AWS (`<PREFIX>_SECRET_ARN`),
/// a file written by the dev scripts locally (`<PREFIX>_FILE`).
pub async fn load_document(sdk: &SdkConfig, prefix: &str) -> Result<String, BoxError> {
    let arn_var = format!("{prefix}_SECRET_ARN");
    let file_var = format!("{prefix}_FILE");
    if let Some(arn) = std::env::var(&arn_var).ok().filter(|v| !v.is_empty()) {
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        return read_secret(&client, &arn).await;
    }
    if let Some(path) = std::env::var(&file_var).ok().filter(|v| !v.is_empty()) {
        return std::fs::read_to_string(&path).map_err(|e| format!("{file_var}: cannot read the file: {e}").into());
    }
    Err(format!("set {arn_var} (AWS Secrets Manager) or {file_var} (local file)").into())
}

/// The SecretString of one secret.
pub async fn read_secret(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<String, BoxError> {
    let output = client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
        format!(
            "reading secret {arn}: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        )
    })?;
    output
        .secret_string
        .ok_or_else(|| format!("secret {arn} has no SecretString").into())
}

pub async fn token_keys(sdk: &SdkConfig) -> Result<TokenKeys, BoxError> {
    Ok(TokenKeys::from_json(&load_document(sdk, "SIGNING_KEYS").await?)?)
}

/// The App of signup (`with_tokens` false), verify and update (true).
pub async fn from_env(with_tokens: bool) -> Result<App<DynamoStore>, BoxError> {
    let config = Config::from_env()?;
    let sdk = sdk_config().await;
    let secret_box = SecretBox::from_json(&load_document(&sdk, "ENCRYPTION_KEYS").await?)?;
    let tokens = if with_tokens {
        Some(token_keys(&sdk).await?)
    } else {
        None
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.table_name.clone());
    Ok(App {
        config,
        store,
        secret_box,
        tokens,
        clock: Clock::system(),
    })
}
