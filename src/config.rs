//! Settings from the environment, read once per cold start.

use std::collections::HashSet;

use crate::domain::ProjectId;

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub projects: HashSet<ProjectId>,
    pub issuer: String,
    /// Lifetime of a pending sign-up or a pending key update.
    pub pending_ttl_seconds: u64,
    /// Codes (right or wrong) a user may try per window before lockout.
    pub lockout_max_attempts: u32,
    pub lockout_window_seconds: u64,
    /// Wrong codes a user may give per long window; a success does not
    /// reset this count, so a victim's sign-ins never refill an attacker's budget.
    pub lockout_daily_max_failures: u32,
    pub lockout_daily_window_seconds: u64,
    pub session_ttl_seconds: u64,
    pub refresh_ttl_seconds: u64,
}

pub const DEFAULT_PENDING_TTL_SECONDS: u64 = 600;
pub const DEFAULT_LOCKOUT_MAX_ATTEMPTS: u32 = 5;
pub const DEFAULT_LOCKOUT_WINDOW_SECONDS: u64 = 900;
pub const DEFAULT_LOCKOUT_DAILY_MAX_FAILURES: u32 = 20;
pub const DEFAULT_LOCKOUT_DAILY_WINDOW_SECONDS: u64 = 86_400;
pub const DEFAULT_SESSION_TTL_SECONDS: u64 = 600;
pub const DEFAULT_REFRESH_TTL_SECONDS: u64 = 4 * 7 * 24 * 3600;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads the variables through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ConfigError(format!("{name} is required")))
        };
        let number = |name: &str, default: u64, range: std::ops::RangeInclusive<u64>| -> Result<u64, ConfigError> {
            match get(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(raw) => raw
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|v| range.contains(v))
                    .ok_or_else(|| ConfigError(format!("{name} must be a whole number in {range:?}"))),
            }
        };
        let mut projects = HashSet::new();
        for raw in required("PROJECT_ID")?
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let project = ProjectId::parse(raw)
                .ok_or_else(|| ConfigError(format!("PROJECT_ID '{raw}' must be letters and digits")))?;
            projects.insert(project);
        }
        if projects.is_empty() {
            return Err(ConfigError("PROJECT_ID names no project".into()));
        }
        let issuer = required("TOTP_ISSUER")?;
        // Authenticator apps split the label on ':'; the issuer must not contain one.
        if issuer.contains(':') || issuer.chars().any(char::is_control) || issuer.chars().count() > 64 {
            return Err(ConfigError(
                "TOTP_ISSUER must be at most 64 characters without ':'".into(),
            ));
        }
        Ok(Config {
            table_name: required("TABLE_NAME")?,
            projects,
            issuer,
            pending_ttl_seconds: number("PENDING_TTL_SECONDS", DEFAULT_PENDING_TTL_SECONDS, 1..=86_400)?,
            lockout_max_attempts: number("LOCKOUT_MAX_ATTEMPTS", DEFAULT_LOCKOUT_MAX_ATTEMPTS.into(), 1..=1000)? as u32,
            lockout_window_seconds: number("LOCKOUT_WINDOW_SECONDS", DEFAULT_LOCKOUT_WINDOW_SECONDS, 1..=86_400)?,
            lockout_daily_max_failures: number(
                "LOCKOUT_DAILY_MAX_FAILURES",
                DEFAULT_LOCKOUT_DAILY_MAX_FAILURES.into(),
                1..=100_000,
            )? as u32,
            lockout_daily_window_seconds: number(
                "LOCKOUT_DAILY_WINDOW_SECONDS",
                DEFAULT_LOCKOUT_DAILY_WINDOW_SECONDS,
                60..=31_536_000,
            )?,
            session_ttl_seconds: number("SESSION_TTL_SECONDS", DEFAULT_SESSION_TTL_SECONDS, 5..=86_400)?,
            refresh_ttl_seconds: number("REFRESH_TTL_SECONDS", DEFAULT_REFRESH_TTL_SECONDS, 60..=31_536_000)?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn serves(&self, raw_project: &str) -> Option<ProjectId> {
        ProjectId::parse(raw_project).filter(|p| self.projects.contains(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 3] = [("TABLE_NAME", "t"), ("PROJECT_ID", "P1, P2"), ("TOTP_ISSUER", "Acme")];

    #[test]
    fn defaults_and_projects() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.pending_ttl_seconds, 600);
        assert_eq!(c.lockout_max_attempts, 5);
        assert_eq!(c.refresh_ttl_seconds, 2_419_200);
        assert!(c.serves("P1").is_some() && c.serves("P2").is_some());
        assert!(c.serves("P3").is_none() && c.serves("P1#x").is_none());
    }

    #[test]
    fn refuses_missing_and_bad_values() {
        assert!(config(&BASE[1..]).is_err());
        let mut vars = BASE.to_vec();
        vars.push(("PENDING_TTL_SECONDS", "ten"));
        assert!(config(&vars).is_err());
        let mut vars = BASE.to_vec();
        vars.push(("PENDING_TTL_SECONDS", "0"));
        assert!(config(&vars).is_err());
        let mut vars = BASE.to_vec();
        vars[2] = ("TOTP_ISSUER", "Acme:Corp");
        assert!(config(&vars).is_err());
        let mut vars = BASE.to_vec();
        vars[1] = ("PROJECT_ID", "P#1");
        assert!(config(&vars).is_err());
    }
}
