//! Per-project settings: one JSON document (`PROJECT_SETTINGS`), read with
//! the rest of the configuration once per cold start and refused at start
//! with a clear error, that lets each served project show its own issuer in
//! authenticator apps, have its own lockout limits, and choose the TOTP
//! parameters of its new keys. What a project does not set comes from the
//! deployment-wide variables (`TOTP_ISSUER`, `LOCKOUT_*`) and SHA-1, 6
//! digits, 30 seconds. Documented in docs/settings.md.
//!
//! ```json
//! {"P2abc": {"issuer": "Acme", "lockoutMaxAttempts": 3, "totpDigits": 8}}
//! ```

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::config::ConfigError;
use crate::domain::ProjectId;
use crate::totp::{Algorithm, TotpParams};

/// What one project sets; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectSettings {
    pub issuer: Option<String>,
    pub lockout_max_attempts: Option<u32>,
    pub lockout_window_seconds: Option<u64>,
    pub lockout_daily_max_failures: Option<u32>,
    pub lockout_daily_window_seconds: Option<u64>,
    pub totp_algorithm: Option<String>,
    pub totp_digits: Option<u32>,
    pub totp_period: Option<u64>,
    /// Checked and kept by [`parse`] from the three fields above.
    #[serde(skip)]
    pub totp: Option<TotpParams>,
}

/// The rule for an issuer, wherever it is set: authenticator apps split the
/// label on ':', and it must fit beside the loginId in a QR code.
pub fn check_issuer(name: &str, issuer: &str) -> Result<(), ConfigError> {
    let ok = !issuer.trim().is_empty()
        && !issuer.contains(':')
        && !issuer.chars().any(char::is_control)
        && issuer.chars().count() <= 64;
    ok.then_some(())
        .ok_or_else(|| ConfigError(format!("{name} must be 1 to 64 characters without ':'")))
}

fn in_range<T: PartialOrd + std::fmt::Debug + Copy>(
    project: &str,
    field: &str,
    value: Option<T>,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), ConfigError> {
    match value {
        Some(v) if !range.contains(&v) => Err(ConfigError(format!(
            "PROJECT_SETTINGS: {project}.{field} must be in {range:?}"
        ))),
        _ => Ok(()),
    }
}

/// The settings document: an object of served project ids. Empty text: none.
pub fn parse(raw: &str, served: &HashSet<ProjectId>) -> Result<HashMap<ProjectId, ProjectSettings>, ConfigError> {
    if raw.trim().is_empty() {
        return Ok(HashMap::new());
    }
    let document: HashMap<String, ProjectSettings> = serde_json::from_str(raw)
        .map_err(|e| ConfigError(format!("PROJECT_SETTINGS is not a settings document: {e}")))?;
    let mut settings = HashMap::new();
    for (raw_project, mut project) in document {
        let id = ProjectId::parse(&raw_project)
            .filter(|p| served.contains(p))
            .ok_or_else(|| {
                ConfigError(format!(
                    "PROJECT_SETTINGS names '{raw_project}', which PROJECT_ID does not serve"
                ))
            })?;
        if let Some(issuer) = &project.issuer {
            check_issuer(&format!("PROJECT_SETTINGS: {raw_project}.issuer"), issuer)?;
        }
        // The same ranges as the deployment-wide variables.
        in_range(
            &raw_project,
            "lockoutMaxAttempts",
            project.lockout_max_attempts,
            1..=1000,
        )?;
        in_range(
            &raw_project,
            "lockoutWindowSeconds",
            project.lockout_window_seconds,
            1..=86_400,
        )?;
        in_range(
            &raw_project,
            "lockoutDailyMaxFailures",
            project.lockout_daily_max_failures,
            1..=100_000,
        )?;
        in_range(
            &raw_project,
            "lockoutDailyWindowSeconds",
            project.lockout_daily_window_seconds,
            60..=31_536_000,
        )?;
        let algorithm = match project.totp_algorithm.as_deref() {
            None => TotpParams::DEFAULT.algorithm,
            Some(name) => Algorithm::parse(name).ok_or_else(|| {
                ConfigError(format!(
                    "PROJECT_SETTINGS: {raw_project}.totpAlgorithm must be SHA1, SHA256 or SHA512"
                ))
            })?,
        };
        let params = TotpParams::new(
            algorithm,
            project.totp_digits.unwrap_or(TotpParams::DEFAULT.digits),
            project.totp_period.unwrap_or(TotpParams::DEFAULT.period),
        )
        .ok_or_else(|| {
            ConfigError(format!(
                "PROJECT_SETTINGS: {raw_project}.totpDigits must be 6 or 8 and totpPeriod 30 or 60"
            ))
        })?;
        project.totp = Some(params);
        settings.insert(id, project);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> HashSet<ProjectId> {
        ["P1", "P2"].iter().filter_map(|p| ProjectId::parse(p)).collect()
    }

    #[test]
    fn empty_is_none_and_fields_are_kept() {
        assert!(parse("", &served()).unwrap().is_empty());
        assert!(parse("  ", &served()).unwrap().is_empty());
        let parsed = parse(
            r#"{"P1": {"issuer": "Acme One", "lockoutMaxAttempts": 3, "totpAlgorithm": "sha256", "totpDigits": 8, "totpPeriod": 60}, "P2": {}}"#,
            &served(),
        )
        .unwrap();
        let p1 = &parsed[&ProjectId::parse("P1").unwrap()];
        assert_eq!(p1.issuer.as_deref(), Some("Acme One"));
        assert_eq!(p1.lockout_max_attempts, Some(3));
        assert_eq!(p1.totp, TotpParams::new(Algorithm::Sha256, 8, 60));
        assert_eq!(parsed[&ProjectId::parse("P2").unwrap()].totp, Some(TotpParams::DEFAULT));
    }

    #[test]
    fn mistakes_are_refused_at_start_with_what_is_wrong() {
        for (raw, says) in [
            ("[]", "not a settings document"),
            (r#"{"P1": {"isuer": "typo"}}"#, "isuer"),
            (r#"{"P3": {}}"#, "'P3'"),
            (r#"{"P1": {"issuer": "A:B"}}"#, "P1.issuer"),
            (r#"{"P1": {"issuer": ""}}"#, "P1.issuer"),
            (r#"{"P1": {"lockoutMaxAttempts": 0}}"#, "lockoutMaxAttempts"),
            (
                r#"{"P1": {"lockoutDailyWindowSeconds": 59}}"#,
                "lockoutDailyWindowSeconds",
            ),
            (r#"{"P1": {"totpAlgorithm": "MD5"}}"#, "totpAlgorithm"),
            (r#"{"P1": {"totpDigits": 7}}"#, "totpDigits"),
            (r#"{"P1": {"totpPeriod": 45}}"#, "totpPeriod"),
            (r#"{"P1": {"lockoutMaxAttempts": -1}}"#, "not a settings document"),
        ] {
            let error = parse(raw, &served()).unwrap_err().0;
            assert!(error.contains(says), "{raw}: {error}");
        }
    }
}
