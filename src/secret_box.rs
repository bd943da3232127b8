//! TOTP secrets encrypted at rest with AES-256-GCM.
//!
//! The associated data binds each ciphertext to where it belongs: its
//! project, loginId, attribute (`secret` or `pendingSecret`) and enrollment
//! id. A ciphertext copied onto another user, moved from `pendingSecret`
//! into `secret`, or put back beside another enrollment id does not decrypt.
//! Each sealed secret names the key that sealed it, so keys rotate without
//! re-enrolling anyone: new secrets use the current key, old ones open with
//! theirs.
//!
//! Layouts: v2 (`0x02 || nonce || ciphertext || tag`, the binding above) is
//! what is written. v1 (`nonce || ciphertext || tag`, bound to project and
//! loginId only) is what was written before: it still opens, and the next
//! sign-in re-seals it as v2 with the current key (`Opened::current`).

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
const AAD_PREFIX_V1: &[u8] = b"totp-lambda/secret/v1";
const AAD_PREFIX_V2: &[u8] = b"totp-lambda/secret/v2";
/// The first byte of a v2 blob.
const V2: u8 = 2;

/// The attribute a sealed secret is stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The user's key (or a pending sign-up's).
    Secret,
    /// A key from update, or a returning user's new key, awaiting its first code.
    PendingSecret,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Secret => "secret",
            Field::PendingSecret => "pendingSecret",
        }
    }
}

/// Where a sealed secret belongs; the associated data binds it there.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub project: &'a ProjectId,
    pub login_id: &'a LoginId,
    pub field: Field,
    pub enrollment_id: &'a str,
}

/// A secret that opened, and whether it is sealed as new secrets are (v2,
/// current key); if not, the next write should re-seal it.
#[derive(Debug)]
pub struct Opened {
    pub secret: TotpSecret,
    pub current: bool,
}

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

/// Seals and opens TOTP secrets; also holds, per encryption key, the key
/// that recovery codes are hashed with (`recovery`), derived from it.
pub struct SecretBox {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
    recovery_keys: HashMap<String, [u8; 32]>,
}

impl SecretBox {
    pub fn from_json(document: &str) -> Result<Self, SecretBoxError> {
        let doc: KeysDocument = serde_json::from_str(document)
            .map_err(|_| SecretBoxError::Config("not a JSON object with 'current' and 'keys'".into()))?;
        let mut keys = HashMap::new();
        let mut recovery_keys = HashMap::new();
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
            let recovery_key = crate::recovery::derive_key(&bytes)
                .ok_or_else(|| SecretBoxError::Config(format!("key '{id}' is unusable")))?;
            recovery_keys.insert(id.clone(), recovery_key);
        }
        if !keys.contains_key(&doc.current) {
            return Err(SecretBoxError::Config("'current' names no key in 'keys'".into()));
        }
        Ok(SecretBox {
            current: doc.current,
            keys,
            recovery_keys,
        })
    }

    /// Length-prefixed parts after a version prefix: no two bindings share bytes.
    fn associated_data(prefix: &[u8], parts: &[&str]) -> Vec<u8> {
        let mut aad = prefix.to_vec();
        for part in parts {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }

    fn aad_v2(binding: &Binding<'_>) -> Vec<u8> {
        Self::associated_data(
            AAD_PREFIX_V2,
            &[
                binding.project.as_str(),
                binding.login_id.as_str(),
                binding.field.name(),
                binding.enrollment_id,
            ],
        )
    }

    fn aad_v1(binding: &Binding<'_>) -> Vec<u8> {
        Self::associated_data(AAD_PREFIX_V1, &[binding.project.as_str(), binding.login_id.as_str()])
    }

    /// Seals `secret` for `binding` with the current key (v2).
    pub fn seal(&self, binding: &Binding<'_>, secret: &TotpSecret) -> Result<SealedSecret, SecretBoxError> {
        let cipher = self.keys.get(&self.current).ok_or(SecretBoxError::UnknownKey)?;
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|_| SecretBoxError::Random)?;
        let aad = Self::aad_v2(binding);
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SecretBoxError::Undecryptable)?;
        let mut blob = vec![V2];
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(SealedSecret {
            key_id: self.current.clone(),
            blob,
        })
    }

    /// `nonce || ciphertext` under `aad`, if it decrypts.
    fn decrypt(cipher: &Aes256Gcm, sealed: &[u8], aad: &[u8]) -> Option<TotpSecret> {
        if sealed.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad })
            .ok()
            .map(TotpSecret::from_bytes)
    }

    /// Opens a secret sealed for `binding`: v2, or else the v1 layout of
    /// before (bound to project and loginId only).
    pub fn open(&self, binding: &Binding<'_>, sealed: &SealedSecret) -> Result<Opened, SecretBoxError> {
        let cipher = self.keys.get(&sealed.key_id).ok_or(SecretBoxError::UnknownKey)?;
        if let Some(v2) = sealed.blob.strip_prefix(&[V2]) {
            if let Some(secret) = Self::decrypt(cipher, v2, &Self::aad_v2(binding)) {
                let current = sealed.key_id == self.current;
                return Ok(Opened { secret, current });
            }
        }
        // A v1 blob starts with its nonce, whose first byte may be anything.
        Self::decrypt(cipher, &sealed.blob, &Self::aad_v1(binding))
            .map(|secret| Opened { secret, current: false })
            .ok_or(SecretBoxError::Undecryptable)
    }

    /// Seals with the v1 layout of before: only for tests that prove old
    /// items keep opening.
    #[doc(hidden)]
    pub fn seal_v1_for_tests(
        &self,
        binding: &Binding<'_>,
        secret: &TotpSecret,
    ) -> Result<SealedSecret, SecretBoxError> {
        let cipher = self.keys.get(&self.current).ok_or(SecretBoxError::UnknownKey)?;
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|_| SecretBoxError::Random)?;
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: &Self::aad_v1(binding),
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

    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// The recovery-code hashing key derived from the encryption key
    /// `key_id` (the current one for `None`), with its id.
    pub fn recovery_key(&self, key_id: Option<&str>) -> Result<(&str, &[u8; 32]), SecretBoxError> {
        let id = key_id.unwrap_or(&self.current);
        self.recovery_keys
            .get_key_value(id)
            .map(|(id, key)| (id.as_str(), key))
            .ok_or(SecretBoxError::UnknownKey)
    }
}

/// Whether a stored blob has the v2 layout (an operator's question: `open`
/// decides by trying). A v1 blob is `nonce || ciphertext || tag`, 48 bytes
/// for a 160-bit secret; v2 adds the leading version byte.
pub fn is_v2(blob: &[u8]) -> bool {
    blob.first() == Some(&V2) && blob.len() % 2 == 1
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

    fn at<'a>(p: &'a ProjectId, l: &'a LoginId, field: Field, enrollment: &'a str) -> Binding<'a> {
        Binding {
            project: p,
            login_id: l,
            field,
            enrollment_id: enrollment,
        }
    }

    #[test]
    fn round_trip_and_binding_to_its_place() {
        let sb = SecretBox::from_json(&generate_keys_document("k1").unwrap()).unwrap();
        let secret = TotpSecret::generate().unwrap();
        let (p, alice) = ids("P1", "alice");
        let home = at(&p, &alice, Field::Secret, "E1");
        let sealed = sb.seal(&home, &secret).unwrap();
        let opened = sb.open(&home, &sealed).unwrap();
        assert_eq!((opened.secret, opened.current), (secret.clone(), true));
        assert!(!sealed
            .blob
            .windows(secret.as_bytes().len())
            .any(|w| w == secret.as_bytes()));
        let (p2, bob) = ids("P2", "bob");
        for elsewhere in [
            at(&p, &bob, Field::Secret, "E1"),
            at(&p2, &alice, Field::Secret, "E1"),
            at(&p, &alice, Field::PendingSecret, "E1"),
            at(&p, &alice, Field::Secret, "E2"),
        ] {
            assert_eq!(
                sb.open(&elsewhere, &sealed).err(),
                Some(SecretBoxError::Undecryptable),
                "{elsewhere:?}"
            );
        }
        let mut tampered = sealed.clone();
        let last = tampered.blob.len() - 1;
        tampered.blob[last] ^= 1;
        assert_eq!(sb.open(&home, &tampered).err(), Some(SecretBoxError::Undecryptable));
    }

    #[test]
    fn v1_blobs_still_open_and_ask_to_be_resealed() {
        let sb = SecretBox::from_json(&generate_keys_document("k1").unwrap()).unwrap();
        let secret = TotpSecret::generate().unwrap();
        let (p, alice) = ids("P1", "alice");
        let home = at(&p, &alice, Field::Secret, "E1");
        assert!(is_v2(&sb.seal(&home, &secret).unwrap().blob));
        // Many blobs, so that some v1 nonces start with the v2 marker byte.
        for _ in 0..600 {
            let old = sb.seal_v1_for_tests(&home, &secret).unwrap();
            assert!(!is_v2(&old.blob), "a v1 blob is never taken for v2");
            let opened = sb.open(&home, &old).unwrap();
            assert_eq!((opened.secret, opened.current), (secret.clone(), false));
            // v1 binds project and loginId only: the reason to re-seal.
            assert!(sb.open(&at(&p, &alice, Field::PendingSecret, "E9"), &old).is_ok());
            let (_, bob) = ids("P1", "bob");
            assert!(sb.open(&at(&p, &bob, Field::Secret, "E1"), &old).is_err());
        }
        // One whose nonce starts with the marker: one in 256 does, so 20 000
        // tries miss with p < 1e-33.
        let marked = std::iter::repeat_with(|| sb.seal_v1_for_tests(&home, &secret).unwrap())
            .take(20_000)
            .find(|old| old.blob[0] == V2)
            .unwrap();
        assert!(!is_v2(&marked.blob), "the length tells them apart");
        assert!(sb.open(&home, &marked).is_ok());
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
        let home = at(&p, &alice, Field::Secret, "E1");
        let secret = TotpSecret::generate().unwrap();
        let sealed_old = old.seal(&home, &secret).unwrap();
        let opened = rotated.open(&home, &sealed_old).unwrap();
        assert_eq!(
            (opened.secret, opened.current),
            (secret.clone(), false),
            "not the current key"
        );
        let sealed_new = rotated.seal(&home, &secret).unwrap();
        assert_eq!(sealed_new.key_id, "k2");
        assert_eq!((old.current_key_id(), rotated.current_key_id()), ("k1", "k2"));
        assert_eq!(old.open(&home, &sealed_new).err(), Some(SecretBoxError::UnknownKey));
    }

    #[test]
    fn bad_documents_are_refused() {
        for doc in [
            "",
            "{}",
            r#"{"current":"k1","keys":{}}"#,
            r#"{"current":"k1","keys":{"k1":"short"}}"#,
            r#"{"current":"k1","keys":{"k1":"AAAA"}}"#,
            // A good 32-byte key under an empty id: ids name keys in stored items.
            r#"{"current":"","keys":{"":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}"#,
        ] {
            assert!(SecretBox::from_json(doc).is_err(), "{doc}");
        }
        let good = r#"{"current":"k1","keys":{"k1":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}"#;
        assert!(SecretBox::from_json(good).is_ok(), "the same key under an id is fine");
    }

    #[test]
    fn a_sealed_secret_shows_its_key_id_and_size_only() {
        let sealed = SealedSecret {
            key_id: "k7".into(),
            blob: vec![0xAB; 44],
        };
        assert_eq!(format!("{sealed:?}"), "SealedSecret(key_id=k7, 44 bytes)");
    }
}
