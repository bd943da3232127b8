//! Wiring for the Lambda binaries: configuration, AWS clients and key
//! material, each built once per cold start, before the first request.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};

use crate::config::{Config, TlsRoots};
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
/// timeouts and retries, and what Lambda puts in the environment taken from
/// there directly ([`from_lambda_environment`]). Tests start from the same
/// loader, so these settings are what they exercise.
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    sdk_config_loader_from(&environment)
}

/// As [`sdk_config_loader`], reading the variables through `get`.
pub fn sdk_config_loader_from(get: Lookup) -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::v2026_01_12())
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    // An unknown TLS_ROOTS stops the function at start: Config::from_lookup
    // refuses it with the other settings.
    let loader = match (TlsRoots::from_lookup(get), https_client_trusting_aws_roots()) {
        (Ok(TlsRoots::AmazonTrustServices) | Err(_), Some(client)) => loader.http_client(client),
        _ => loader,
    };
    from_lambda_environment(loader, get)
}

/// The roots every AWS service endpoint's certificate chains to: Amazon
/// Root CA 1 to 4 and Starfield Services Root G2 (Amazon Trust Services),
/// from Mozilla's root store. Fingerprints in `certs/README.md`, checked by
/// a test.
pub const AMAZON_TRUST_SERVICES_PEM: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

/// The SDK's default HTTPS client (rustls on aws-lc, the proxy from the
/// environment), trusting only the Amazon Trust Services roots.
fn https_client_trusting_aws_roots() -> Option<aws_smithy_runtime_api::client::http::SharedHttpClient> {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_SERVICES_PEM);
    // Building the context checks nothing today; were it to fail, the SDK's
    // default client is the answer.
    let context = tls::TlsContext::builder().with_trust_store(trust).build().ok()?;
    Some(Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    }))
}

/// Lambda hands every function its Region and its role's credentials in the
/// environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...). Where both are there,
/// the loader takes them from it and reads no profile file, instead of
/// walking the default chains (profile files, SSO, web identity, container
/// and instance metadata) that exist for laptops and servers. Elsewhere, an
/// operator's `cargo run --example` with a profile, say, the default chains
/// stay. Measured in docs/performance.md.
pub fn from_lambda_environment(loader: aws_config::ConfigLoader, get: Lookup) -> aws_config::ConfigLoader {
    let region = get("AWS_REGION").filter(|r| !r.is_empty());
    let credentials = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|name| get(name).is_some_and(|v| !v.is_empty()));
    match region {
        Some(region) if credentials => loader
            .region(aws_config::Region::new(region))
            .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new())
            .profile_files(
                EnvConfigFiles::builder()
                    .include_default_config_file(false)
                    .include_default_credentials_file(false)
                    .with_contents(EnvConfigFileKind::Config, "")
                    .build(),
            ),
        _ => loader,
    }
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

/// How a setting is looked up: the process environment in the functions,
/// a map in tests.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl KeySource {
    /// `<PREFIX>_SECRET_ARN` if set, else `<PREFIX>_FILE`.
    pub fn from_env(prefix: &str) -> Result<Self, BoxError> {
        Self::from_lookup(prefix, &environment)
    }

    /// As [`KeySource::from_env`], reading the variables through `get`.
    pub fn from_lookup(prefix: &str, get: Lookup) -> Result<Self, BoxError> {
        let var = |suffix: &str| get(&format!("{prefix}_{suffix}")).filter(|v| !v.is_empty());
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

/// Which keys document holds a function's token keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKeysDocument {
    /// `SIGNING_KEYS_SECRET_ARN` / `SIGNING_KEYS_FILE`: the private keys, for
    /// the functions that issue tokens.
    Signing,
    /// `PUBLIC_KEYS_SECRET_ARN` / `PUBLIC_KEYS_FILE`: their public halves
    /// only, for the functions that check or publish signatures.
    Public,
}

impl TokenKeysDocument {
    /// The prefix of the two variables that name the document.
    pub fn env_prefix(self) -> &'static str {
        match self {
            TokenKeysDocument::Signing => "SIGNING_KEYS",
            TokenKeysDocument::Public => "PUBLIC_KEYS",
        }
    }

    fn parse(self, document: &str) -> Result<ProjectKeys, crate::tokens::TokenError> {
        match self {
            TokenKeysDocument::Signing => ProjectKeys::from_json(document),
            TokenKeysDocument::Public => ProjectKeys::from_public_json(document),
        }
    }
}

/// The Lambda functions, by the key material each one needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// Seals new secrets; signs nothing.
    Signup,
    /// Opens secrets and signs tokens.
    Verify,
    /// Checks tokens (public keys only) and seals new secrets.
    Update,
    /// Publishes the JWKS (public keys only).
    Keys,
    /// Checks and signs tokens; never sees a secret.
    Sessions,
    /// Support's tools and the audit search: neither seals nor signs (its
    /// own keys: [`management_keys`]).
    Management,
    /// User creation (seals imported seeds), status, search, batch
    /// deletion: signs nothing (its own keys: [`management_keys`]).
    Users,
    /// The audit trail from the table's stream: no key material but the
    /// management document's audit key, for the loginId hash.
    Audit,
}

impl Function {
    pub fn needs_encryption_keys(self) -> bool {
        matches!(
            self,
            Function::Signup | Function::Verify | Function::Update | Function::Users
        )
    }

    /// The document of this function's token keys: the private signing keys
    /// only where tokens are issued (verify, sessions); the public keys where
    /// they are only checked or published (update, keys); none elsewhere.
    pub fn token_keys(self) -> Option<TokenKeysDocument> {
        match self {
            Function::Verify | Function::Sessions => Some(TokenKeysDocument::Signing),
            Function::Update | Function::Keys => Some(TokenKeysDocument::Public),
            Function::Signup | Function::Management | Function::Users | Function::Audit => None,
        }
    }
}

/// The token keys of `function`, from its document, covering every served
/// project; a served project without keys stops the function at start, not
/// at its first request. `None` for a function that needs no token keys.
pub async fn token_keys(function: Function, sdk: &SdkConfig, config: &Config) -> Result<Option<ProjectKeys>, BoxError> {
    token_keys_from(function, sdk, config, &environment).await
}

/// As [`token_keys`], reading the variables through `get`.
pub async fn token_keys_from(
    function: Function,
    sdk: &SdkConfig,
    config: &Config,
    get: Lookup<'_>,
) -> Result<Option<ProjectKeys>, BoxError> {
    let Some(document) = function.token_keys() else {
        return Ok(None);
    };
    let text = KeySource::from_lookup(document.env_prefix(), get)?.load(sdk).await?;
    let keys = document
        .parse(&text)
        .map_err(|e| format!("{}: {e}", document.env_prefix()))?;
    keys.check_covers(&config.projects)?;
    Ok(Some(keys))
}

/// The management keys document (hashes only).
pub async fn management_keys(sdk: &SdkConfig) -> Result<ManagementKeys, BoxError> {
    Ok(ManagementKeys::from_json(
        &KeySource::from_env("MANAGEMENT_KEYS")?.load(sdk).await?,
    )?)
}

/// The audit feed of the configuration: its EventBridge bus, if one is named.
pub fn audit_feed(sdk: &SdkConfig, config: &Config) -> Option<crate::feed::EventBus> {
    config.audit_event_bus_name.as_ref().map(|bus| crate::feed::EventBus {
        client: aws_sdk_eventbridge::Client::new(sdk),
        bus_name: bus.clone(),
    })
}

/// The App of one function, holding only the keys that function uses.
pub async fn from_env(function: Function) -> Result<App<DynamoStore>, BoxError> {
    build(function, &sdk_config().await).await
}

pub async fn build(function: Function, sdk: &SdkConfig) -> Result<App<DynamoStore>, BoxError> {
    build_from(function, sdk, &environment).await
}

/// As [`build`], reading the variables through `get`.
pub async fn build_from(function: Function, sdk: &SdkConfig, get: Lookup<'_>) -> Result<App<DynamoStore>, BoxError> {
    let config = Config::from_lookup(get)?;
    let encryption_keys = async {
        if !function.needs_encryption_keys() {
            return Ok(None);
        }
        let document = KeySource::from_lookup("ENCRYPTION_KEYS", get)?.load(sdk).await?;
        Ok::<_, BoxError>(Some(SecretBox::from_json(&document)?))
    };
    // In AWS each document is a Secrets Manager round trip: fetch them together.
    let (secret_box, tokens) = tokio::try_join!(encryption_keys, token_keys_from(function, sdk, &config, get))?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), config.table_name.clone())
        .with_audit_table(config.audit_table_name.clone());
    Ok(App {
        config,
        store,
        secret_box,
        tokens,
        clock: Clock::system(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;

    #[test]
    fn the_compiled_in_roots_are_the_five_of_amazon_trust_services() {
        let text = std::str::from_utf8(AMAZON_TRUST_SERVICES_PEM).unwrap();
        let fingerprints: Vec<String> = text
            .split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .map(|block| {
                let body: String = block
                    .split("-----END CERTIFICATE-----")
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .collect();
                let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
                Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect()
            })
            .collect();
        // certs/README.md: Amazon Root CA 1 to 4, Starfield Services Root G2.
        assert_eq!(
            fingerprints,
            [
                "8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E",
                "1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4",
                "18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4",
                "E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092",
                "568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5",
            ]
        );
    }

    async fn region_loaded_from(vars: &[(&str, &str)]) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let get = |name: &str| map.get(name).cloned();
        let loader = aws_config::defaults(BehaviorVersion::v2026_01_12());
        from_lambda_environment(loader, &get)
            .load()
            .await
            .region()
            .map(|r| r.to_string())
    }

    #[tokio::test]
    async fn lambdas_region_and_credentials_come_from_the_environment_only_when_both_are_there() {
        let keys = [
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ];
        let lambda = [("AWS_REGION", "xx-lambda-7"), keys[0], keys[1]];
        assert_eq!(region_loaded_from(&lambda).await.as_deref(), Some("xx-lambda-7"));
        // Without credentials in the environment, the default chains stay: the
        // lookup's Region is not forced on them.
        assert_ne!(
            region_loaded_from(&[("AWS_REGION", "xx-lambda-7"), keys[0]])
                .await
                .as_deref(),
            Some("xx-lambda-7")
        );
    }
}
