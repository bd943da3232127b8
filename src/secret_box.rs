//! TOTP secrets encrypted at rest with AES-256-GCM.
//!
//! The associated data binds each ciphertext to its project and loginId, so a
//! ciphertext copied onto another user's item does not decrypt. Each sealed
//! secret names the key that sealed it, so keys rotate without re-enrolling
//! anyone: new secrets use the current key, old ones open with theirs.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use serde::Deserialize;

use crate::domain::{LoginId, ProjectId};
use crate::otpauth::TotpSecret;

const NONCE_BYTES: usize = 12;
const KEY_BYTES: usize = 32;
/// Versions the associated-data layout, so it can change without ambiguity.
const AAD_PREFIX: &[u8] = b"totp-lambda/secret/v1";

/// A TOTP secret as stored: the id of the key that sealed it and
/// `nonce || ciphertext || tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub key_id: String,
    pub blob: Vec<u8>,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedSecret(key_id={}, {} bytes)", self.key_id, self.blob.len())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretBoxError {
    #[error("encryption keys: {0}")]
    Config(String),
    #[error("no encryption key with the id the secret names")]
    UnknownKey,
    #[error("the secret does not decrypt with its key and owner")]
    Undecryptable,
    #[error("the operating system's random source failed")]
    Random,
}

/// The encryption keys document, as kept in Secrets Manager or a local file:
/// `{"current": "k2", "keys": {"k1": "<base64 32 bytes>", "k2": "…"}}`.
#[derive(Deserialize)]
struct KeysDocument {
    current: String,
    keys: HashMap<String, String>,
}

/// Seals and opens TOTP secrets.
pub struct SecretBox {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
}

impl SecretBox {
    pub fn from_json(document: &str) -> Result<Self, SecretBoxError> {
        let doc: KeysDocument = serde_json::from_str(document)
            .map_err(|_| SecretBoxError::Config("not a JSON object with 'current' and 'keys'".into()))?;
        let mut keys = HashMap::new();
        for (id, encoded) in &doc.keys {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| SecretBoxError::Config(format!("key '{id}' is not base64")))?;
            if bytes.len() != KEY_BYTES || id.is_empty() {
                return Err(SecretBoxError::Config(format!(
                    "key '{id}' must be 32 bytes with a non-empty id"
                )));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| SecretBoxError::Config(format!("key '{id}' is unusable")))?;
            keys.insert(id.clone(), cipher);
        }
        if !keys.contains_key(&doc.current) {
            return Err(SecretBoxError::Config("'current' names no key in 'keys'".into()));
        }
        Ok(SecretBox {
            current: doc.current,
            keys,
        })
    }

    fn associated_data(project: &ProjectId, login_id: &LoginId) -> Vec<u8> {
        // Length-prefixed parts: no two (project, loginId) pairs share bytes.
        let mut aad = AAD_PREFIX.to_vec();
        for part in [project.as_str(), login_id.as_str()] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }

    pub fn seal(
        &self,
        project: &ProjectId,
        login_id: &LoginId,
        secret: &TotpSecret,
    ) -> Result<SealedSecret, SecretBoxError> {
        let cipher = self.keys.get(&self.current).ok_or(SecretBoxError::UnknownKey)?;
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|_| SecretBoxError::Random)?;
        let aad = Self::associated_data(project, login_id);
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SecretBoxError::Undecryptable)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        Ok(SealedSecret {
            key_id: self.current.clone(),
            blob,
        })
    }

    pub fn open(
        &self,
        project: &ProjectId,
        login_id: &LoginId,
        sealed: &SealedSecret,
    ) -> Result<TotpSecret, SecretBoxError> {
        let cipher = self.keys.get(&sealed.key_id).ok_or(SecretBoxError::UnknownKey)?;
        if sealed.blob.len() <= NONCE_BYTES {
            return Err(SecretBoxError::Undecryptable);
        }
        let (nonce, ciphertext) = sealed.blob.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SecretBoxError::Undecryptable)?;
        let aad = Self::associated_data(project, login_id);
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(TotpSecret::from_bytes)
            .map_err(|_| SecretBoxError::Undecryptable)
    }
}

/// A fresh keys document with one random key, for the dev scripts and tests.
pub fn generate_keys_document(key_id: &str) -> Result<String, SecretBoxError> {
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key).map_err(|_| SecretBoxError::Random)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(key);
    Ok(serde_json::json!({"current": key_id, "keys": {key_id: encoded}}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(project: &str, login: &str) -> (ProjectId, LoginId) {
        (ProjectId::parse(project).unwrap(), LoginId::parse(Some(login)).unwrap())
    }

    #[test]
    fn round_trip_and_binding_to_owner() {
        let sb = SecretBox::from_json(&generate_keys_document("k1").unwrap()).unwrap();
        let secret = TotpSecret::generate().unwrap();
        let (p, alice) = ids("P1", "alice");
        let sealed = sb.seal(&p, &alice, &secret).unwrap();
        assert_eq!(sb.open(&p, &alice, &sealed).unwrap(), secret);
        assert!(!sealed
            .blob
            .windows(secret.as_bytes().len())
            .any(|w| w == secret.as_bytes()));
        let (p2, bob) = ids("P2", "bob");
        assert_eq!(sb.open(&p, &bob, &sealed), Err(SecretBoxError::Undecryptable));
        assert_eq!(sb.open(&p2, &alice, &sealed), Err(SecretBoxError::Undecryptable));
        let mut tampered = sealed.clone();
        let last = tampered.blob.len() - 1;
        tampered.blob[last] ^= 1;
        assert_eq!(sb.open(&p, &alice, &tampered), Err(SecretBoxError::Undecryptable));
    }

    #[test]
    fn rotation_keeps_old_secrets_readable() {
        let old =
            SecretBox::from_json(r#"{"current":"k1","keys":{"k1":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}"#)
                .unwrap();
        let rotated = SecretBox::from_json(
            r#"{"current":"k2","keys":{"k1":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","k2":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="}}"#,
        )
        .unwrap();
        let (p, alice) = ids("P1", "alice");
        let secret = TotpSecret::generate().unwrap();
        let sealed_old = old.seal(&p, &alice, &secret).unwrap();
        assert_eq!(rotated.open(&p, &alice, &sealed_old).unwrap(), secret);
        let sealed_new = rotated.seal(&p, &alice, &secret).unwrap();
        assert_eq!(sealed_new.key_id, "k2");
        assert_eq!(old.open(&p, &alice, &sealed_new), Err(SecretBoxError::UnknownKey));
    }

    #[test]
    fn bad_documents_are_refused() {
        for doc in [
            "",
            "{}",
            r#"{"current":"k1","keys":{}}"#,
            r#"{"current":"k1","keys":{"k1":"short"}}"#,
            r#"{"current":"k1","keys":{"k1":"AAAA"}}"#,
        ] {
            assert!(SecretBox::from_json(doc).is_err(), "{doc}");
        }
    }
}
