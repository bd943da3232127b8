//! `make deploy`'s secret step (scripts/deploy_aws.py) against moto's
//! Secrets Manager: the first run creates every key secret, a second run
//! creates none and keeps every value, a new project gets keys of its own, and
//! each document loads with the loaders the functions use.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{local_services, moto_sdk_config, unique_table};
use serde_json::Value;
use totp_lambda::app::KeySource;
use totp_lambda::domain::{LoginId, ProjectId};
use totp_lambda::management_keys::ManagementKeys;
use totp_lambda::otpauth::TotpSecret;
use totp_lambda::secret_box::{Binding, Field, SecretBox};
use totp_lambda::tokens::ProjectKeys;

async fn sdk_config() -> aws_config::SdkConfig {
    moto_sdk_config().await
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A samconfig.toml of its own, in a directory removed when the test ends.
struct Deployment {
    dir: PathBuf,
    stack: String,
}

impl Deployment {
    fn new() -> Self {
        let stack = format!("deploy-{}", unique_table());
        let dir = std::env::temp_dir().join(format!("totp-lambda-{stack}"));
        std::fs::create_dir(&dir).expect("a fresh directory");
        Deployment { dir, stack }
    }

    fn config(&self, projects: &str) -> PathBuf {
        let path = self.dir.join("samconfig.toml");
        let text = format!(
            "version = 0.1\n[default.global.parameters]\nstack_name = \"{}\"\n[default.deploy.parameters]\n\
             capabilities = \"CAPABILITY_IAM\"\nparameter_overrides = \"ProjectId=\\\"{projects}\\\" TotpIssuer=\\\"Acme Corp\\\" AlarmTopicArn=\\\"\\\"\"\n",
            self.stack
        );
        std::fs::write(&path, text).expect("samconfig.toml written");
        path
    }

    /// `deploy_aws.py secrets` as make deploy runs it, against moto.
    fn secrets(&self, projects: &str) -> Value {
        let out = Command::new(root().join(".venv/bin/python"))
            .arg(root().join("scripts/deploy_aws.py"))
            .args(["secrets", "--config-file"])
            .arg(self.config(projects))
            .env("AWS_ENDPOINT_URL", local_services::moto_endpoint())
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("the .venv python runs (make test installs it)");
        assert!(
            out.status.success(),
            "deploy_aws.py secrets failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "nothing on stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The four documents, as the functions read them: by ARN, from Secrets Manager.
struct Documents {
    signing: String,
    public: String,
    encryption: String,
    management: String,
}

async fn documents(sdk: &aws_config::SdkConfig, output: &Value) -> Documents {
    let read = |parameter: &str| {
        let arn = output["parameters"][parameter].as_str().expect("an ARN").to_owned();
        async move {
            KeySource::SecretsManager { arn }
                .load(sdk)
                .await
                .expect("the secret loads")
        }
    };
    Documents {
        signing: read("SigningKeysSecretArn").await,
        public: read("PublicKeysSecretArn").await,
        encryption: read("EncryptionKeysSecretArn").await,
        management: read("ManagementKeysSecretArn").await,
    }
}

fn names(output: &Value, verb: &str) -> Vec<String> {
    let mut names: Vec<String> = output[verb]
        .as_array()
        .expect("a list")
        .iter()
        .map(|n| n.as_str().expect("a name").to_owned())
        .collect();
    names.sort();
    names
}

fn new_keys(output: &Value) -> Vec<(String, String)> {
    output["managementKeys"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|k| {
            (
                k["projectId"].as_str().unwrap().to_owned(),
                k["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn project(raw: &str) -> ProjectId {
    ProjectId::parse(raw).expect("a project id")
}

fn jwks(keys: &ProjectKeys, raw: &str) -> Value {
    serde_json::to_value(keys.for_project(&project(raw)).expect("a ring").jwks()).unwrap()
}

/// Every document loads with the functions' own loaders and covers `projects`.
fn check_documents(documents: &Documents, projects: &[&str]) -> (ProjectKeys, ManagementKeys) {
    let served: Vec<ProjectId> = projects.iter().map(|p| project(p)).collect();
    let signing = ProjectKeys::from_json(&documents.signing).expect("the signing document loads");
    signing.check_covers(&served).unwrap();
    let public = ProjectKeys::from_public_json(&documents.public).expect("the public document loads");
    public.check_covers(&served).unwrap();
    assert!(!documents.public.contains("PRIVATE KEY"));
    for raw in projects {
        assert!(signing.for_project(&project(raw)).unwrap().can_sign());
        assert!(!public.for_project(&project(raw)).unwrap().can_sign());
        assert_eq!(jwks(&public, raw), jwks(&signing, raw), "{raw}");
    }
    let secret_box = SecretBox::from_json(&documents.encryption).expect("the encryption document loads");
    let login = LoginId::parse(Some("deploy@example.com")).unwrap();
    let binding = Binding {
        project: &served[0],
        login_id: &login,
        field: Field::Secret,
        enrollment_id: "E1",
    };
    let secret = TotpSecret::generate().unwrap();
    let sealed = secret_box.seal(&binding, &secret).unwrap();
    assert_eq!(secret_box.open(&binding, &sealed).unwrap().secret, secret);
    let management = ManagementKeys::from_json(&documents.management).expect("the management document loads");
    (signing, management)
}

#[tokio::test]
async fn make_deploy_creates_the_key_secrets_once_and_keeps_them() {
    let sdk = sdk_config().await;
    let deployment = Deployment::new();
    let stack = deployment.stack.clone();
    let all: Vec<String> = ["encryption-keys", "management-keys", "public-keys", "signing-keys"]
        .iter()
        .map(|kind| format!("{stack}/{kind}"))
        .collect();

    // First run: every secret is created, a management key per project is handed out.
    let first = deployment.secrets("P2DeployAlpha,P2DeployBravo");
    assert_eq!(names(&first, "created"), all);
    assert!(names(&first, "updated").is_empty());
    let parameters = &first["parameters"];
    assert_eq!(parameters["ProjectId"], "P2DeployAlpha,P2DeployBravo");
    assert_eq!(
        parameters["TotpIssuer"], "Acme Corp",
        "samconfig.toml's settings are kept"
    );
    assert_eq!(parameters["AlarmTopicArn"], "");
    for (parameter, kind) in [
        ("SigningKeysSecretArn", "signing-keys"),
        ("PublicKeysSecretArn", "public-keys"),
        ("EncryptionKeysSecretArn", "encryption-keys"),
        ("ManagementKeysSecretArn", "management-keys"),
    ] {
        let arn = parameters[parameter].as_str().unwrap();
        assert!(
            arn.starts_with("arn:aws:secretsmanager:us-east-1:") && arn.contains(&format!(":secret:{stack}/{kind}-")),
            "{parameter}: {arn}"
        );
    }
    let version = parameters["KeysVersion"].as_str().unwrap().to_owned();
    assert_eq!(version.len(), 32);

    let documents_first = documents(&sdk, &first).await;
    let (_, management) = check_documents(&documents_first, &["P2DeployAlpha", "P2DeployBravo"]);
    let keys = new_keys(&first);
    assert_eq!(keys.len(), 2);
    for (raw, key) in &keys {
        assert!(key.len() >= 32, "256 random bits");
        assert!(
            !documents_first.management.contains(key.as_str()),
            "only its hash is stored"
        );
        assert!(
            management.authenticate(&project(raw), key).is_some(),
            "{raw}'s key opens {raw}"
        );
        let other = if raw == "P2DeployAlpha" {
            "P2DeployBravo"
        } else {
            "P2DeployAlpha"
        };
        assert!(
            management.authenticate(&project(other), key).is_none(),
            "{raw}'s key opens only {raw}"
        );
    }

    // Second run: nothing created, nothing changed, no new key.
    let second = deployment.secrets("P2DeployAlpha,P2DeployBravo");
    assert!(names(&second, "created").is_empty(), "{second}");
    assert!(names(&second, "updated").is_empty(), "{second}");
    assert!(new_keys(&second).is_empty());
    assert_eq!(second["parameters"], first["parameters"]);
    let documents_second = documents(&sdk, &second).await;
    assert_eq!(documents_second.signing, documents_first.signing);
    assert_eq!(documents_second.public, documents_first.public);
    assert_eq!(documents_second.encryption, documents_first.encryption);
    assert_eq!(documents_second.management, documents_first.management);

    // A project added to ProjectId: keys for it, the others' kept.
    let third = deployment.secrets("P2DeployAlpha,P2DeployBravo,P2DeployCharlie");
    assert!(names(&third, "created").is_empty());
    assert_eq!(
        names(&third, "updated"),
        all[1..].to_vec(),
        "signing, public and management"
    );
    assert_ne!(third["parameters"]["KeysVersion"], first["parameters"]["KeysVersion"]);
    let documents_third = documents(&sdk, &third).await;
    assert_eq!(documents_third.encryption, documents_first.encryption);
    let (signing, management) =
        check_documents(&documents_third, &["P2DeployAlpha", "P2DeployBravo", "P2DeployCharlie"]);
    let before = ProjectKeys::from_json(&documents_first.signing).unwrap();
    for raw in ["P2DeployAlpha", "P2DeployBravo"] {
        assert_eq!(jwks(&signing, raw), jwks(&before, raw), "{raw} keeps its keys");
    }
    let added = new_keys(&third);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].0, "P2DeployCharlie");
    assert!(management
        .authenticate(&project("P2DeployCharlie"), &added[0].1)
        .is_some());
    for (raw, key) in &keys {
        assert!(
            management.authenticate(&project(raw), key).is_some(),
            "{raw}'s first key still works"
        );
    }
    let audit_key = |document: &str| serde_json::from_str::<Value>(document).unwrap()["auditKey"].clone();
    assert_eq!(
        audit_key(&documents_third.management),
        audit_key(&documents_first.management),
        "audit pseudonyms stay stable"
    );

    // Nothing was written beside the configuration.
    let files: Vec<_> = std::fs::read_dir(&deployment.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["samconfig.toml"]);
}
