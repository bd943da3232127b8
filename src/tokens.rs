//! Session and refresh JWTs (RS256) and the JWKS that verifies them.
//!
//! The signing keys document lists keys newest-intent first:
//! `{"keys": [{"kid": "k2", "privateKeyPem": "…"}, {"kid": "k1", "publicKeyPem": "…"}]}`.
//! The first key signs; every key is published, so tokens signed before a
//! rotation keep validating until they expire.

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk as LibraryJwk};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::ProjectId;

/// `drn` of a session token and of a refresh token, as Descope names them.
pub const SESSION_DRN: &str = "DS";
pub const REFRESH_DRN: &str = "DSR";
/// Clock skew tolerated on `exp` and `iat`.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("signing keys: {0}")]
    Config(String),
    #[error("signing failed")]
    Signing,
    #[error("token rejected")]
    Rejected,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyEntry {
    kid: String,
    private_key_pem: Option<String>,
    public_key_pem: Option<String>,
}

#[derive(Deserialize)]
struct KeysDocument {
    keys: Vec<KeyEntry>,
}

/// One public key as published in the JWKS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub alg: String,
    pub kty: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub n: String,
    pub e: String,
}

/// The claims of both tokens (`nsec` only on session tokens that carry custom claims).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    pub amr: Vec<String>,
    pub drn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsec: Option<Map<String, Value>>,
}

struct VerifyingKey {
    jwk: Jwk,
    decoding: DecodingKey,
}

/// The project's signing key and every key it publishes.
pub struct TokenKeys {
    signing_kid: String,
    signing: EncodingKey,
    published: Vec<VerifyingKey>,
}

/// The public modulus and exponent (base64url) of a parsed key.
fn rsa_components(jwk: LibraryJwk) -> Option<(String, String)> {
    match jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => Some((rsa.n, rsa.e)),
        _ => None,
    }
}

impl TokenKeys {
    pub fn from_json(document: &str) -> Result<Self, TokenError> {
        let doc: KeysDocument = serde_json::from_str(document)
            .map_err(|_| TokenError::Config("not a JSON object with a 'keys' list".into()))?;
        let mut signing = None;
        let mut published = Vec::new();
        for (index, entry) in doc.keys.iter().enumerate() {
            if entry.kid.is_empty() || published.iter().any(|k: &VerifyingKey| k.jwk.kid == entry.kid) {
                return Err(TokenError::Config("every key needs a unique, non-empty kid".into()));
            }
            let not_rsa = |what: &str| TokenError::Config(format!("key '{}' is not an RSA {what} key PEM", entry.kid));
            // Parsing both kinds through the crypto provider (aws-lc) checks them at load time.
            let (n, e) = match (&entry.private_key_pem, &entry.public_key_pem) {
                (Some(pem), _) => {
                    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| not_rsa("private"))?;
                    let components = LibraryJwk::from_encoding_key(&key, Algorithm::RS256)
                        .ok()
                        .and_then(rsa_components)
                        .ok_or_else(|| not_rsa("private"))?;
                    if index == 0 {
                        signing = Some(key);
                    }
                    components
                }
                (None, Some(pem)) => {
                    let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| not_rsa("public"))?;
                    LibraryJwk::from_decoding_key(&key, Some(Algorithm::RS256))
                        .ok()
                        .and_then(rsa_components)
                        .ok_or_else(|| not_rsa("public"))?
                }
                (None, None) => return Err(TokenError::Config(format!("key '{}' has no PEM", entry.kid))),
            };
            let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(|_| not_rsa("public"))?;
            published.push(VerifyingKey {
                decoding,
                jwk: Jwk {
                    alg: "RS256".into(),
                    kty: "RSA".into(),
                    kid: entry.kid.clone(),
                    use_: "sig".into(),
                    n,
                    e,
                },
            });
        }
        let signing = signing.ok_or_else(|| TokenError::Config("the first key must have a privateKeyPem".into()))?;
        Ok(TokenKeys {
            signing_kid: doc.keys[0].kid.clone(),
            signing,
            published,
        })
    }

    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    pub fn jwks(&self) -> Vec<Jwk> {
        self.published.iter().map(|k| k.jwk.clone()).collect()
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.signing_kid.clone());
        jsonwebtoken::encode(&header, claims, &self.signing).map_err(|_| TokenError::Signing)
    }

    /// A refresh token of this project: signed by a published key, unexpired
    /// at `now` (the service's clock, not the library's), `iss` = project,
    /// `drn` = DSR, with an `aud` (if any) of the project.
    pub fn verify_refresh(&self, token: &str, project: &ProjectId, now: u64) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Rejected)?;
        let kid = header.kid.ok_or(TokenError::Rejected)?;
        let key = self
            .published
            .iter()
            .find(|k| k.jwk.kid == kid)
            .ok_or(TokenError::Rejected)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[project.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        let data =
            jsonwebtoken::decode::<Value>(token, &key.decoding, &validation).map_err(|_| TokenError::Rejected)?;
        // An aud, when present, must be this project (decode ignored it above).
        if let Some(aud) = data.claims.get("aud") {
            let ok = match aud {
                Value::String(a) => a == project.as_str(),
                Value::Array(list) => list.iter().any(|a| a.as_str() == Some(project.as_str())),
                _ => false,
            };
            if !ok {
                return Err(TokenError::Rejected);
            }
        }
        let claims: Claims = serde_json::from_value(data.claims).map_err(|_| TokenError::Rejected)?;
        let expired = claims.exp.saturating_add(LEEWAY_SECONDS) <= now;
        let issued_in_future = claims.iat > now.saturating_add(LEEWAY_SECONDS);
        if expired || issued_in_future || claims.drn != REFRESH_DRN {
            return Err(TokenError::Rejected);
        }
        Ok(claims)
    }
}
