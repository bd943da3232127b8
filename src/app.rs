//! Wiring for the Lambda binaries: configuration, AWS clients and key
//! material, each built once per cold start, before the first request.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::Config;
use crate::management_keys::ManagementKeys;
use crate::secret_box::SecretBox;
use crate::service::{App, Clock};
use crate::store::dynamo::DynamoStore;
use crate::tokens::ProjectKeys;

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

/// The AWS configuration every function loads: pinned behaviour, bounded
/// timeouts and retries. Tests start from the same loader, so these
/// settings are what they exercise.
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::v2026_01_12())
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
}

pub async fn sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// Where a keys document comes from: Secrets Manager in AWS, a file written
/// by the dev scripts locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    SecretsManager { arn: String },
    File { path: String },
}

impl KeySource {
    /// `<PREFIX>_SECRET_ARN` if set, else `<PREFIX>_FILE`.
    pub fn from_env(prefix: &str) -> Result<Self, BoxError> {
        let var = |suffix: &str| {
            std::env::var(format!("{prefix}_{suffix}"))
                .ok()
                .filter(|v| !v.is_empty())
        };
        match (var("SECRET_ARN"), var("FILE")) {
            (Some(arn), _) => Ok(KeySource::SecretsManager { arn }),
            (None, Some(path)) => Ok(KeySource::File { path }),
            (None, None) => {
                Err(format!("set {prefix}_SECRET_ARN (AWS Secrets Manager) or {prefix}_FILE (local file)").into())
            }
        }
    }

    pub async fn load(&self, sdk: &SdkConfig) -> Result<String, BoxError> {
        match self {
            KeySource::SecretsManager { arn } => read_secret(&aws_sdk_secretsmanager::Client::new(sdk), arn).await,
            KeySource::File { path } => {
                std::fs::read_to_string(path).map_err(|e| format!("cannot read the keys file {path}: {e}").into())
            }
        }
    }
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

/// Every served project's signing keys; a served project without keys
/// stops the function at start, not at its first sign-in.
pub async fn project_keys(sdk: &SdkConfig, config: &Config) -> Result<ProjectKeys, BoxError> {
    let keys = ProjectKeys::from_json(&KeySource::from_env("SIGNING_KEYS")?.load(sdk).await?)?;
    keys.check_covers(&config.projects)?;
    Ok(keys)
}

/// The Lambda functions, by the key material each one needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// Seals new secrets; signs nothing.
    Signup,
    /// Opens secrets and signs tokens.
    Verify,
    /// Checks tokens and seals new secrets.
    Update,
    /// Checks and signs tokens; never sees a secret.
    Sessions,
    /// Support's tools: neither seals nor signs (its own keys: [`management_keys`]).
    Management,
}

impl Function {
    fn needs_encryption_keys(self) -> bool {
        matches!(self, Function::Signup | Function::Verify | Function::Update)
    }

    fn needs_signing_keys(self) -> bool {
        matches!(self, Function::Verify | Function::Update | Function::Sessions)
    }
}

/// The management keys document (hashes only).
pub async fn management_keys(sdk: &SdkConfig) -> Result<ManagementKeys, BoxError> {
    Ok(ManagementKeys::from_json(
        &KeySource::from_env("MANAGEMENT_KEYS")?.load(sdk).await?,
    )?)
}

/// The App of one function, holding only the keys that function uses.
pub async fn from_env(function: Function) -> Result<App<DynamoStore>, BoxError> {
    build(function, &sdk_config().await).await
}

pub async fn build(function: Function, sdk: &SdkConfig) -> Result<App<DynamoStore>, BoxError> {
    let config = Config::from_env()?;
    let secret_box = if function.needs_encryption_keys() {
        Some(SecretBox::from_json(
            &KeySource::from_env("ENCRYPTION_KEYS")?.load(sdk).await?,
        )?)
    } else {
        None
    };
    let tokens = if function.needs_signing_keys() {
        Some(project_keys(sdk, &config).await?)
    } else {
        None
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), config.table_name.clone());
    Ok(App {
        config,
        store,
        secret_box,
        tokens,
        clock: Clock::system(),
    })
}
