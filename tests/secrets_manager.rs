//! Key material is read the way Lambda reads it: from AWS Secrets Manager
//! (here moto's server: the one `make test` started, or one of this test
//! binary's own), once per cold start.

use crate::common;

use common::*;
use totp_lambda::app::KeySource;
use totp_lambda::secret_box::SecretBox;
use totp_lambda::tokens::ProjectKeys;

async fn sdk_config() -> aws_config::SdkConfig {
    moto_sdk_config().await
}

/// Stores `value` as a new secret (unique name) and returns its ARN.
async fn create_secret(sdk: &aws_config::SdkConfig, kind: &str, value: &str) -> String {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let created = client
        .create_secret()
        .name(format!("totp-lambda/{kind}-{}", unique_table()))
        .secret_string(value)
        .send()
        .await
        .unwrap();
    created.arn.unwrap()
}

#[tokio::test]
async fn keys_load_from_secrets_manager() {
    let sdk = sdk_config().await;
    let signing = create_secret(&sdk, "signing", &signing_keys_json()).await;
    let encryption = create_secret(&sdk, "encryption", encryption_keys_json()).await;

    let source = KeySource::SecretsManager { arn: signing };
    let keys = ProjectKeys::from_json(&source.load(&sdk).await.unwrap()).unwrap();
    let tokens = keys
        .for_project(&totp_lambda::domain::ProjectId::parse(PROJECT).unwrap())
        .unwrap();
    assert_eq!(tokens.signing_kid(), "test-key-1");
    assert_eq!(tokens.jwks().len(), 1);

    let source = KeySource::SecretsManager { arn: encryption };
    let sealed_here = SecretBox::from_json(&source.load(&sdk).await.unwrap()).unwrap();
    let from_file = SecretBox::from_json(encryption_keys_json()).unwrap();
    let project = totp_lambda::domain::ProjectId::parse(PROJECT).unwrap();
    let login = totp_lambda::domain::LoginId::parse(Some("sm@example.com")).unwrap();
    let secret = totp_lambda::otpauth::TotpSecret::generate().unwrap();
    let binding = totp_lambda::secret_box::Binding {
        project: &project,
        login_id: &login,
        field: totp_lambda::secret_box::Field::Secret,
        enrollment_id: "E1",
    };
    let sealed = sealed_here.seal(&binding, &secret).unwrap();
    assert_eq!(
        from_file.open(&binding, &sealed).unwrap().secret,
        secret,
        "the same key came back"
    );
}

#[tokio::test]
async fn a_missing_secret_fails_the_cold_start_clearly() {
    let sdk = sdk_config().await;
    let source = KeySource::SecretsManager {
        arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf".into(),
    };
    let error = source.load(&sdk).await.unwrap_err().to_string();
    assert!(error.contains("nope"), "{error}");
}
