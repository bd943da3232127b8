//! Management keys: what support tools present on `/v1/mgmt/...`.
//!
//! Keys are random (256 bits from `scripts/gen-keys.sh management`) and
//! stored only as SHA-256 hashes, per project, in a document kept in Secrets
//! Manager (a file locally):
//! `{"auditKey": "<base64 32 bytes>", "projects": {"P2a…": {"keys": [{"id": "mk1", "sha256": "<hex>"}]}}}`.
//! A presented key is hashed and compared with every hash of its project in
//! constant time; a key of project A is not a key of project B. A fast hash
//! is enough: the keys are random, not passwords. `auditKey` keys the hash
//! that names a loginId in the audit log without revealing it.

use std::collections::HashMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::{LoginId, ProjectId};

/// Fewest bytes a management key must carry; shorter ones are refused
/// outright (the generated ones are 43 characters of base64url).
const MIN_KEY_CHARS: usize = 22;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("management keys: {0}")]
pub struct ManagementKeysError(String);

#[derive(Deserialize)]
struct KeyEntry {
    id: String,
    sha256: String,
}

#[derive(Deserialize)]
struct Ring {
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    audit_key: String,
    projects: HashMap<String, Ring>,
}

struct StoredKey {
    id: String,
    hash: [u8; 32],
}

pub struct ManagementKeys {
    projects: HashMap<ProjectId, Vec<StoredKey>>,
    audit_key: Vec<u8>,
}

impl ManagementKeys {
    pub fn from_json(document: &str) -> Result<Self, ManagementKeysError> {
        let doc: Document = serde_json::from_str(document).map_err(|_| {
            ManagementKeysError(
                "not a JSON object with 'auditKey' and 'projects': {<projectId>: {'keys': [...]}}".into(),
            )
        })?;
        let audit_key = base64::engine::general_purpose::STANDARD
            .decode(&doc.audit_key)
            .ok()
            .filter(|k| k.len() >= 32)
            .ok_or_else(|| ManagementKeysError("'auditKey' must be at least 32 bytes of base64".into()))?;
        let mut projects = HashMap::new();
        for (raw, ring) in doc.projects {
            let project = ProjectId::parse(&raw)
                .ok_or_else(|| ManagementKeysError(format!("project id '{raw}' must be letters and digits")))?;
            let mut keys: Vec<StoredKey> = Vec::new();
            for entry in ring.keys {
                let hash = data_encoding::HEXLOWER_PERMISSIVE
                    .decode(entry.sha256.as_bytes())
                    .ok()
                    .and_then(|h| <[u8; 32]>::try_from(h).ok())
                    .ok_or_else(|| ManagementKeysError(format!("key '{}': sha256 must be 64 hex digits", entry.id)))?;
                if entry.id.is_empty() || keys.iter().any(|k| k.id == entry.id) {
                    return Err(ManagementKeysError(format!(
                        "project '{raw}': key ids must be unique and non-empty"
                    )));
                }
                keys.push(StoredKey { id: entry.id, hash });
            }
            projects.insert(project, keys);
        }
        Ok(ManagementKeys { projects, audit_key })
    }

    /// The id of the key of `project` that `presented` is, if it is one.
    /// Every stored hash of the project is compared, in constant time.
    pub fn authenticate(&self, project: &ProjectId, presented: &str) -> Option<&str> {
        if presented.len() < MIN_KEY_CHARS {
            return None;
        }
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for key in self.projects.get(project)? {
            if bool::from(key.hash.ct_eq(&hash)) {
                found = Some(key.id.as_str());
            }
        }
        found
    }

    /// A stable pseudonym of a loginId for the audit log: HMAC-SHA256 under
    /// `auditKey`, so the log can correlate calls without naming anyone.
    pub fn audit_subject(&self, project: &ProjectId, login_id: &LoginId) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.audit_key) else {
            return String::new();
        };
        mac.update(project.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(login_id.as_str().as_bytes());
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV6cXV1enF1dXo";
    const KEY_B: &str = "YW5vdGhlcmtleWFub3RoZXJrZXlhbm90aGVya2V5YW4";

    fn sha(key: &str) -> String {
        data_encoding::HEXLOWER.encode(&Sha256::digest(key.as_bytes()))
    }

    fn keys() -> ManagementKeys {
        let doc = serde_json::json!({
            "auditKey": base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
            "projects": {
                "P2Alpha": {"keys": [{"id": "a-old", "sha256": sha("retired-but-still-listed-key")}, {"id": "a-new", "sha256": sha(KEY_A)}]},
                "P2Bravo": {"keys": [{"id": "b1", "sha256": sha(KEY_B)}]},
            }
        });
        ManagementKeys::from_json(&doc.to_string()).unwrap()
    }

    #[test]
    fn a_key_opens_only_its_own_project() {
        let keys = keys();
        let alpha = ProjectId::parse("P2Alpha").unwrap();
        let bravo = ProjectId::parse("P2Bravo").unwrap();
        assert_eq!(keys.authenticate(&alpha, KEY_A), Some("a-new"));
        assert_eq!(keys.authenticate(&bravo, KEY_B), Some("b1"));
        assert_eq!(keys.authenticate(&bravo, KEY_A), None, "A's key for B");
        assert_eq!(keys.authenticate(&alpha, KEY_B), None, "B's key for A");
        assert_eq!(keys.authenticate(&alpha, &KEY_A[..KEY_A.len() - 1]), None, "a prefix");
        assert_eq!(keys.authenticate(&alpha, &format!("{KEY_A}x")), None, "an extension");
        assert_eq!(keys.authenticate(&alpha, ""), None);
        assert_eq!(keys.authenticate(&ProjectId::parse("P2Other").unwrap(), KEY_A), None);
        // A hash is not a key.
        assert_eq!(keys.authenticate(&alpha, &sha(KEY_A)), None);
    }

    #[test]
    fn audit_subjects_are_stable_keyed_and_opaque() {
        let keys = keys();
        let alpha = ProjectId::parse("P2Alpha").unwrap();
        let alice = LoginId::parse(Some("alice@example.com")).unwrap();
        let subject = keys.audit_subject(&alpha, &alice);
        assert_eq!(subject.len(), 32);
        assert_eq!(subject, keys.audit_subject(&alpha, &alice));
        assert!(!subject.contains("alice"));
        let bob = LoginId::parse(Some("bob@example.com")).unwrap();
        assert_ne!(subject, keys.audit_subject(&alpha, &bob));
        let bravo = ProjectId::parse("P2Bravo").unwrap();
        assert_ne!(subject, keys.audit_subject(&bravo, &alice));
    }

    #[test]
    fn bad_documents_are_refused() {
        let audit = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let bad = [
            serde_json::json!({"projects": {}}),
            serde_json::json!({"auditKey": "c2hvcnQ=", "projects": {}}),
            serde_json::json!({"auditKey": audit, "projects": {"P2A": {"keys": [{"id": "k", "sha256": "abc"}]}}}),
            serde_json::json!({"auditKey": audit, "projects": {"P2A": {"keys": [{"id": "", "sha256": sha(KEY_A)}]}}}),
            serde_json::json!({"auditKey": audit, "projects": {"P2A": {"keys": [{"id": "k", "sha256": sha(KEY_A)}, {"id": "k", "sha256": sha(KEY_B)}]}}}),
            serde_json::json!({"auditKey": audit, "projects": {"P2-A": {"keys": []}}}),
        ];
        for doc in bad {
            assert!(ManagementKeys::from_json(&doc.to_string()).is_err(), "{doc}");
        }
    }
}
