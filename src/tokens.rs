//! Session and refresh JWTs, signed per project, and the JWKS that verifies them.
//!
//! The signing keys document gives every served project its own key ring,
//! newest-intent first:
//! `{"projects": {"P2a…": {"keys": [{"kid": "k2", "privateKeyPem": "…"}, {"kid": "k1", "publicKeyPem": "…"}]}}}`.
//! The first key of a ring signs; every key of the ring is published, so
//! tokens signed before a rotation keep validating until they expire. The
//! algorithm follows the key: RS256 for RSA, ES256 for P-256.
//!
//! The public keys document has the same shape with `publicKeyPem` entries
//! only (`scripts/gen-keys.sh public` derives it from the signing one). The
//! functions that only check or publish signatures load it: their rings are
//! verification-only, and [`TokenKeys::sign`] fails on them.

use std::collections::HashMap;

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::ProjectId;

/// `drn` of a session token and of a refresh token, as Descope names them.
pub const SESSION_DRN: &str = "DS";
pub const REFRESH_DRN: &str = "DSR";
/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("signing keys: {0}")]
    Config(String),
    #[error("signing failed")]
    Signing,
    #[error("this key ring holds public keys only: it verifies, it cannot sign")]
    VerificationOnly,
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
struct KeyRingDocument {
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct ProjectsDocument {
    projects: HashMap<String, KeyRingDocument>,
}

/// The claims of both tokens. `nsec` only on session tokens that carry
/// custom claims; `jti`, `loginId` and `gen` only on refresh tokens, which
/// the service itself must map back to a user and a revocation state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
    pub amr: Vec<String>,
    pub drn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsec: Option<Map<String, Value>>,
    /// `true` on a session token issued by a step-up or MFA verify (Descope's
    /// step-up claim); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub su: Option<bool>,
    /// The refresh token's own id: what logout revokes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Where the user is stored (refresh tokens reach the user without a body).
    #[serde(default, rename = "loginId", skip_serializing_if = "Option::is_none")]
    pub login_id: Option<String>,
    /// The user's session generation when issued: logout-all moves it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen: Option<u64>,
    /// [`SESSION_SCOPE`] on session tokens only: API Gateway JWT authorizers
    /// cannot compare `drn`, but can require a scope, so a route that
    /// requires this one refuses a refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The `scope` every session token carries and no refresh token does.
pub const SESSION_SCOPE: &str = "session";

/// A refresh token that verified: signature, project, lifetime, kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub user_id: String,
    pub login_id: String,
    pub token_id: String,
    pub generation: u64,
    pub expires_at: u64,
    /// When the sign-in that issued it happened (`iat`): how fresh it is.
    pub issued_at: u64,
    /// How that sign-in was proved (`amr`); a refreshed session says the same.
    pub amr: Vec<String>,
}

struct VerifyingKey {
    kid: String,
    jwk: Jwk,
    algorithm: Algorithm,
    decoding: DecodingKey,
}

/// Which keys document a ring comes from, and so what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// The signing document: the first key's private half signs.
    Sign,
    /// The public document: `publicKeyPem` entries only; verifies and publishes, never signs.
    VerifyOnly,
}

/// One project's signing key and every key it publishes.
pub struct TokenKeys {
    /// The ring's current signing key (its first): whether or not this ring
    /// holds its private half, the tokens of the project are signed with it.
    signing_kid: String,
    signing_algorithm: Algorithm,
    /// `None` in a verification-only ring.
    signing: Option<EncodingKey>,
    published: Vec<VerifyingKey>,
}

/// A private key PEM as RSA (RS256) or P-256 (ES256).
fn parse_private(pem: &str) -> Option<(EncodingKey, Algorithm)> {
    if let Ok(key) = EncodingKey::from_rsa_pem(pem.as_bytes()) {
        return Some((key, Algorithm::RS256));
    }
    EncodingKey::from_ec_pem(pem.as_bytes())
        .ok()
        .map(|key| (key, Algorithm::ES256))
}

/// A public key PEM as RSA (RS256) or P-256 (ES256).
fn parse_public(pem: &str) -> Option<(DecodingKey, Algorithm)> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
        return Some((key, Algorithm::RS256));
    }
    DecodingKey::from_ec_pem(pem.as_bytes())
        .ok()
        .map(|key| (key, Algorithm::ES256))
}

impl TokenKeys {
    /// One signing key ring: `{"keys": [...]}`, the first with a `privateKeyPem`.
    pub fn from_json(document: &str) -> Result<Self, TokenError> {
        Self::ring_from_json(document, KeyUse::Sign)
    }

    /// One verification-only key ring: `{"keys": [...]}`, `publicKeyPem` entries only.
    pub fn verification_only_from_json(document: &str) -> Result<Self, TokenError> {
        Self::ring_from_json(document, KeyUse::VerifyOnly)
    }

    fn ring_from_json(document: &str, key_use: KeyUse) -> Result<Self, TokenError> {
        let doc: KeyRingDocument = serde_json::from_str(document)
            .map_err(|_| TokenError::Config("not a JSON object with a 'keys' list".into()))?;
        Self::from_entries(&doc.keys, key_use)
    }

    fn from_entries(entries: &[KeyEntry], key_use: KeyUse) -> Result<Self, TokenError> {
        let mut signing = None;
        let mut published: Vec<VerifyingKey> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            if entry.kid.is_empty() || published.iter().any(|k| k.kid == entry.kid) {
                return Err(TokenError::Config("every key needs a unique, non-empty kid".into()));
            }
            // A private key where only public ones belong is refused, not
            // ignored: it would sit in a function that must never hold one.
            if key_use == KeyUse::VerifyOnly && entry.private_key_pem.is_some() {
                return Err(TokenError::Config(format!(
                    "key '{}' has a privateKeyPem, but a public keys document holds public keys only \
                     (derive it with scripts/gen-keys.sh public)",
                    entry.kid
                )));
            }
            let unusable =
                |what: &str| TokenError::Config(format!("key '{}' is not an RSA or P-256 {what} key PEM", entry.kid));
            // Parsing through the crypto provider (aws-lc) checks each key at load time.
            let (mut jwk, algorithm) = match (&entry.private_key_pem, &entry.public_key_pem) {
                (Some(pem), _) => {
                    let (key, algorithm) = parse_private(pem).ok_or_else(|| unusable("private"))?;
                    let jwk = Jwk::from_encoding_key(&key, algorithm).map_err(|_| unusable("private"))?;
                    if index == 0 {
                        signing = Some(key);
                    }
                    (jwk, algorithm)
                }
                (None, Some(pem)) => {
                    let (key, algorithm) = parse_public(pem).ok_or_else(|| unusable("public"))?;
                    let jwk = Jwk::from_decoding_key(&key, Some(algorithm)).map_err(|_| unusable("public"))?;
                    (jwk, algorithm)
                }
                (None, None) => return Err(TokenError::Config(format!("key '{}' has no PEM", entry.kid))),
            };
            jwk.common.key_id = Some(entry.kid.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            // Verification uses the public half only, exactly as published.
            let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| unusable("public"))?;
            published.push(VerifyingKey {
                kid: entry.kid.clone(),
                jwk,
                algorithm,
                decoding,
            });
        }
        let first = published
            .first()
            .ok_or_else(|| TokenError::Config("a key ring needs at least one key".into()))?;
        let (signing_kid, signing_algorithm) = (first.kid.clone(), first.algorithm);
        let signing = match key_use {
            KeyUse::Sign => {
                Some(signing.ok_or_else(|| TokenError::Config("the first key must have a privateKeyPem".into()))?)
            }
            KeyUse::VerifyOnly => None,
        };
        Ok(TokenKeys {
            signing_kid,
            signing_algorithm,
            signing,
            published,
        })
    }

    /// Whether this ring holds the private half of its signing key.
    pub fn can_sign(&self) -> bool {
        self.signing.is_some()
    }

    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    pub fn signing_algorithm(&self) -> Algorithm {
        self.signing_algorithm
    }

    pub fn jwks(&self) -> Vec<Jwk> {
        self.published.iter().map(|k| k.jwk.clone()).collect()
    }

    /// A JWT of `claims`, signed by the ring's first key; fails on a
    /// verification-only ring.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let key = self.signing.as_ref().ok_or(TokenError::VerificationOnly)?;
        let mut header = Header::new(self.signing_algorithm);
        header.kid = Some(self.signing_kid.clone());
        jsonwebtoken::encode(&header, claims, key).map_err(|_| TokenError::Signing)
    }

    /// A refresh token of `project`: signed by a published key with that
    /// key's algorithm, `iss` and `aud` = project, `drn` = DSR, unexpired and
    /// not issued in the future at `now` (the service's clock, not the
    /// library's), and carrying the claims sessions need.
    pub fn verify_refresh(&self, token: &str, project: &ProjectId, now: u64) -> Result<RefreshToken, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Rejected)?;
        let kid = header.kid.ok_or(TokenError::Rejected)?;
        let key = self
            .published
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::Rejected)?;
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[project.as_str()]);
        validation.set_audience(&[project.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|_| TokenError::Rejected)?
            .claims;
        let expired = claims.exp.saturating_add(LEEWAY_SECONDS) <= now;
        let issued_in_future = claims.iat > now.saturating_add(LEEWAY_SECONDS);
        if expired || issued_in_future || claims.drn != REFRESH_DRN {
            return Err(TokenError::Rejected);
        }
        match (claims.jti, claims.login_id, claims.gen) {
            (Some(token_id), Some(login_id), Some(generation)) if !token_id.is_empty() => Ok(RefreshToken {
                user_id: claims.sub,
                login_id,
                token_id,
                generation,
                expires_at: claims.exp,
                issued_at: claims.iat,
                amr: claims.amr,
            }),
            _ => Err(TokenError::Rejected),
        }
    }
}

/// Every served project's key ring. A project's tokens are signed and
/// verified only with its own ring, and `/v2/keys/{projectId}` publishes only it.
pub struct ProjectKeys {
    rings: HashMap<ProjectId, TokenKeys>,
}

impl ProjectKeys {
    /// The signing document: `{"projects": {"<projectId>": {"keys": [...]}, ...}}`.
    /// Key ids are unique across projects, so a cached JWKS can never confuse two.
    pub fn from_json(document: &str) -> Result<Self, TokenError> {
        Self::from_document(document, KeyUse::Sign)
    }

    /// The public keys document: the same shape, `publicKeyPem` entries
    /// only. Its rings verify and publish; none can sign.
    pub fn from_public_json(document: &str) -> Result<Self, TokenError> {
        Self::from_document(document, KeyUse::VerifyOnly)
    }

    fn from_document(document: &str, key_use: KeyUse) -> Result<Self, TokenError> {
        let doc: ProjectsDocument = serde_json::from_str(document).map_err(|_| {
            TokenError::Config("not a JSON object with 'projects': {<projectId>: {'keys': [...]}}".into())
        })?;
        let mut rings = HashMap::new();
        let mut kids: Vec<String> = Vec::new();
        for (raw, ring) in &doc.projects {
            let project = ProjectId::parse(raw)
                .ok_or_else(|| TokenError::Config(format!("project id '{raw}' must be letters and digits")))?;
            let keys = TokenKeys::from_entries(&ring.keys, key_use)
                .map_err(|e| TokenError::Config(format!("project '{raw}': {e}")))?;
            for key in &keys.published {
                if kids.contains(&key.kid) {
                    return Err(TokenError::Config(format!("kid '{}' is used by two projects", key.kid)));
                }
                kids.push(key.kid.clone());
            }
            rings.insert(project, keys);
        }
        Ok(ProjectKeys { rings })
    }

    /// One ring per project, built in code (tests, benchmarks).
    pub fn from_rings(rings: impl IntoIterator<Item = (ProjectId, TokenKeys)>) -> Self {
        ProjectKeys {
            rings: rings.into_iter().collect(),
        }
    }

    pub fn for_project(&self, project: &ProjectId) -> Option<&TokenKeys> {
        self.rings.get(project)
    }

    /// Refuses a configuration in which a served project has no keys.
    pub fn check_covers<'a>(&self, projects: impl IntoIterator<Item = &'a ProjectId>) -> Result<(), TokenError> {
        for project in projects {
            if !self.rings.contains_key(project) {
                return Err(TokenError::Config(format!(
                    "project '{}' is served but has no key ring in the keys document",
                    project.as_str()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    const NOW: u64 = 1_800_000_000;

    fn pem(kind: &str) -> String {
        let args: &[&str] = match kind {
            "rsa" => &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            _ => &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        };
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        String::from_utf8(out.stdout).expect("PEM text")
    }

    /// The public half of a private key PEM, as `scripts/gen-keys.sh public` derives it.
    fn public_pem(private: &str) -> String {
        use std::io::Write as _;
        let mut child = std::process::Command::new("openssl")
            .args(["pkey", "-pubout"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("openssl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(private.as_bytes())
            .expect("write the PEM");
        let out = child.wait_with_output().expect("openssl pkey");
        assert!(out.status.success());
        String::from_utf8(out.stdout).expect("PEM text")
    }

    /// Two RSA keys and two P-256 keys, made once.
    fn pems() -> &'static [String; 4] {
        static PEMS: OnceLock<[String; 4]> = OnceLock::new();
        PEMS.get_or_init(|| [pem("rsa"), pem("rsa"), pem("ec"), pem("ec")])
    }

    fn ring(entries: &[(&str, &str)]) -> TokenKeys {
        let keys: Vec<Value> = entries
            .iter()
            .map(|(kid, pem)| serde_json::json!({"kid": kid, "privateKeyPem": pem}))
            .collect();
        TokenKeys::from_json(&serde_json::json!({ "keys": keys }).to_string()).expect("a valid ring")
    }

    fn project() -> ProjectId {
        ProjectId::parse("P2Alpha").unwrap()
    }

    fn refresh_claims() -> Claims {
        Claims {
            iss: "P2Alpha".into(),
            sub: "U2USER".into(),
            aud: "P2Alpha".into(),
            iat: NOW,
            exp: NOW + 3600,
            amr: vec!["totp".into()],
            drn: REFRESH_DRN.into(),
            nsec: None,
            su: None,
            jti: Some("JTOKEN".into()),
            login_id: Some("alice@example.com".into()),
            gen: Some(3),
            scope: None,
        }
    }

    #[test]
    fn a_refresh_token_round_trips_with_either_algorithm() {
        for (pem, algorithm) in [(&pems()[0], Algorithm::RS256), (&pems()[2], Algorithm::ES256)] {
            let keys = ring(&[("k1", pem)]);
            assert_eq!(keys.signing_algorithm(), algorithm);
            let token = keys.sign(&refresh_claims()).unwrap();
            assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, algorithm);
            let verified = keys.verify_refresh(&token, &project(), NOW).unwrap();
            assert_eq!(
                verified,
                RefreshToken {
                    user_id: "U2USER".into(),
                    login_id: "alice@example.com".into(),
                    token_id: "JTOKEN".into(),
                    generation: 3,
                    expires_at: NOW + 3600,
                    issued_at: NOW,
                    amr: vec!["totp".into()],
                }
            );
            let jwk = serde_json::to_value(&keys.jwks()[0]).unwrap();
            assert_eq!(jwk["kid"], "k1");
            assert_eq!(jwk["use"], "sig");
            let expected = if algorithm == Algorithm::ES256 {
                ("ES256", "EC")
            } else {
                ("RS256", "RSA")
            };
            assert_eq!(
                (jwk["alg"].as_str(), jwk["kty"].as_str()),
                (Some(expected.0), Some(expected.1))
            );
        }
    }

    #[test]
    fn every_bad_refresh_token_is_rejected() {
        let keys = ring(&[("k1", &pems()[0])]);
        let valid = keys.sign(&refresh_claims()).unwrap();
        let rejected = |token: &str, now: u64| keys.verify_refresh(token, &project(), now) == Err(TokenError::Rejected);
        assert!(!rejected(&valid, NOW), "the control case verifies");

        // Signed by another key under the published kid.
        let impostor = ring(&[("k1", &pems()[1])]).sign(&refresh_claims()).unwrap();
        assert!(rejected(&impostor, NOW), "another key, same kid");
        // An unpublished kid.
        assert!(rejected(
            &ring(&[("k9", &pems()[0])]).sign(&refresh_claims()).unwrap(),
            NOW
        ));
        // A tampered payload under the original signature.
        let parts: Vec<&str> = valid.split('.').collect();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        payload["sub"] = "U2SOMEONEELSE".into();
        let tampered = format!("{}.{}.{}", parts[0], b64.encode(payload.to_string()), parts[2]);
        assert!(rejected(&tampered, NOW), "tampered payload");

        let variant = |change: &dyn Fn(&mut Claims)| {
            let mut claims = refresh_claims();
            change(&mut claims);
            keys.sign(&claims).unwrap()
        };
        assert!(
            rejected(&variant(&|c| c.aud = "P2Bravo".into()), NOW),
            "another audience"
        );
        assert!(rejected(&variant(&|c| c.iss = "P2Bravo".into()), NOW), "another issuer");
        assert!(
            rejected(&variant(&|c| c.drn = SESSION_DRN.into()), NOW),
            "a session token"
        );
        assert!(rejected(&variant(&|c| c.jti = None), NOW), "no token id");
        assert!(
            rejected(&variant(&|c| c.jti = Some(String::new())), NOW),
            "an empty token id"
        );
        assert!(rejected(&variant(&|c| c.login_id = None), NOW), "no loginId");
        assert!(rejected(&variant(&|c| c.gen = None), NOW), "no generation");
        // Issued in the future, beyond the tolerated skew; within it, accepted.
        assert!(
            rejected(&variant(&|c| c.iat = NOW + LEEWAY_SECONDS + 1), NOW),
            "future iat"
        );
        assert!(!rejected(&variant(&|c| c.iat = NOW + LEEWAY_SECONDS), NOW));
        // Expired, by the service's clock (the library's wall clock is not consulted).
        assert!(rejected(&valid, NOW + 3600 + LEEWAY_SECONDS), "expired");
        assert!(!rejected(&valid, NOW + 3600 + LEEWAY_SECONDS - 1));
        // Another algorithm than the key's: an ES256 header on an RSA kid.
        let es = ring(&[("k1", &pems()[2])]).sign(&refresh_claims()).unwrap();
        assert!(rejected(&es, NOW), "algorithm does not follow the key");
        assert!(rejected("not.a.jwt", NOW));
    }

    #[test]
    fn only_the_first_key_signs_and_every_key_is_published() {
        let keys = ring(&[("new", &pems()[1]), ("old", &pems()[0])]);
        assert_eq!(keys.signing_kid(), "new");
        let kids: Vec<_> = keys.jwks().into_iter().filter_map(|k| k.common.key_id).collect();
        assert_eq!(kids, ["new", "old"]);
        // A token of the old key still verifies during the rotation.
        let old = ring(&[("old", &pems()[0])]).sign(&refresh_claims()).unwrap();
        assert!(keys.verify_refresh(&old, &project(), NOW).is_ok());
    }

    #[test]
    fn a_verification_only_ring_verifies_and_publishes_but_never_signs() {
        let signing = ring(&[("new", &pems()[2]), ("old", &pems()[0])]);
        let public = TokenKeys::verification_only_from_json(
            &serde_json::json!({"keys": [
                {"kid": "new", "publicKeyPem": public_pem(&pems()[2])},
                {"kid": "old", "publicKeyPem": public_pem(&pems()[0])},
            ]})
            .to_string(),
        )
        .unwrap();
        assert!(signing.can_sign());
        assert!(!public.can_sign());
        assert_eq!(public.sign(&refresh_claims()), Err(TokenError::VerificationOnly));
        // The same JWKS as the signing ring's, and the same current key.
        assert_eq!(
            serde_json::to_value(public.jwks()).unwrap(),
            serde_json::to_value(signing.jwks()).unwrap()
        );
        assert_eq!(
            (public.signing_kid(), public.signing_algorithm()),
            ("new", Algorithm::ES256)
        );
        // Tokens of the signing ring, of either key, verify.
        let token = signing.sign(&refresh_claims()).unwrap();
        assert!(public.verify_refresh(&token, &project(), NOW).is_ok());
        let old = ring(&[("old", &pems()[0])]).sign(&refresh_claims()).unwrap();
        assert!(public.verify_refresh(&old, &project(), NOW).is_ok());
        let impostor = ring(&[("new", &pems()[3])]).sign(&refresh_claims()).unwrap();
        assert_eq!(
            public.verify_refresh(&impostor, &project(), NOW),
            Err(TokenError::Rejected)
        );
    }

    #[test]
    fn the_two_documents_do_not_stand_in_for_each_other() {
        let private =
            serde_json::json!({"projects": {"P2Alpha": {"keys": [{"kid": "a1", "privateKeyPem": pems()[0]}]}}});
        let public = serde_json::json!({"projects": {"P2Alpha": {"keys": [{"kid": "a1", "publicKeyPem": public_pem(&pems()[0])}]}}});
        // A private key in the public document would reach functions that must not hold one.
        let refused = ProjectKeys::from_public_json(&private.to_string()).err().unwrap();
        assert!(refused.to_string().contains("privateKeyPem"), "{refused}");
        // The public document cannot sign, so it cannot be the signing one.
        assert!(ProjectKeys::from_json(&public.to_string()).is_err());
        let keys = ProjectKeys::from_public_json(&public.to_string()).unwrap();
        let ring = keys.for_project(&project()).unwrap();
        assert!(!ring.can_sign());
        assert!(keys.check_covers([&project()]).is_ok());
        assert!(keys.check_covers([&ProjectId::parse("P2Other").unwrap()]).is_err());
        // The shared checks hold in the public document too.
        for bad in [
            serde_json::json!({"projects": {"P2Alpha": {"keys": []}}}),
            serde_json::json!({"projects": {"P2Alpha": {"keys": [{"kid": "a1", "publicKeyPem": "not a pem"}]}}}),
            serde_json::json!({"projects": {"P2Alpha": {"keys": [{"kid": "a1"}]}}}),
            serde_json::json!({"projects": {
                "P2Alpha": {"keys": [{"kid": "same", "publicKeyPem": public_pem(&pems()[0])}]},
                "P2Bravo": {"keys": [{"kid": "same", "publicKeyPem": public_pem(&pems()[1])}]},
            }}),
        ] {
            assert!(ProjectKeys::from_public_json(&bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_documents_are_checked_at_load() {
        let doc = |projects: Value| ProjectKeys::from_json(&serde_json::json!({ "projects": projects }).to_string());
        let key = |kid: &str, pem: &str| serde_json::json!({"kid": kid, "privateKeyPem": pem});
        let good = doc(serde_json::json!({
            "P2Alpha": {"keys": [key("a1", &pems()[0])]},
            "P2Bravo": {"keys": [key("b1", &pems()[2])]},
        }))
        .unwrap();
        let alpha = project();
        let bravo = ProjectId::parse("P2Bravo").unwrap();
        assert_eq!(good.for_project(&alpha).unwrap().signing_kid(), "a1");
        assert_eq!(good.for_project(&bravo).unwrap().signing_algorithm(), Algorithm::ES256);
        assert!(good.check_covers([&alpha, &bravo]).is_ok());
        assert!(good.check_covers([&ProjectId::parse("P2Other").unwrap()]).is_err());
        // A token of one project never verifies with another's keys.
        let alpha_token = good.for_project(&alpha).unwrap().sign(&refresh_claims()).unwrap();
        assert!(good
            .for_project(&bravo)
            .unwrap()
            .verify_refresh(&alpha_token, &alpha, NOW)
            .is_err());

        let refused = [
            serde_json::json!({"P2Alpha": {"keys": []}}),
            serde_json::json!({"P2Alpha": {"keys": [key("a1", "not a pem")]}}),
            serde_json::json!({"P2Alpha": {"keys": [key("", &pems()[0])]}}),
            serde_json::json!({"P2Alpha": {"keys": [key("a1", &pems()[0]), key("a1", &pems()[1])]}}),
            serde_json::json!({"P2Alpha": {"keys": [{"kid": "a1", "publicKeyPem": "x"}]}}),
            serde_json::json!({"P2Alpha": {"keys": [key("same", &pems()[0])]}, "P2Bravo": {"keys": [key("same", &pems()[1])]}}),
            serde_json::json!({"P2-Alpha": {"keys": [key("a1", &pems()[0])]}}),
        ];
        for projects in refused {
            assert!(doc(projects.clone()).is_err(), "{projects}");
        }
        assert!(
            ProjectKeys::from_json(r#"{"keys": []}"#).is_err(),
            "the one-ring layout of before"
        );
    }
}
