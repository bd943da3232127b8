//! Settings from the environment, read once per cold start.

use std::collections::{HashMap, HashSet};

use crate::domain::ProjectId;
use crate::settings::{self, ProjectSettings};
use crate::totp::TotpParams;

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
    /// How recent the sign-in behind a refresh JWT must be for update.
    pub update_freshness_seconds: u64,
    /// Browser origins that may call the API (CORS), from `ALLOWED_ORIGINS`;
    /// empty: none. In AWS the HTTP API applies the same list (template.yaml).
    pub allowed_origins: Vec<String>,
    /// The audit table (`AUDIT_TABLE_NAME`): the audit function writes it,
    /// management's audit search reads it; other functions have none.
    pub audit_table_name: Option<String>,
    /// How long audit records live (`AUDIT_RETENTION_DAYS`).
    pub audit_retention_days: u64,
    /// An EventBridge bus each audit record is also put on (`AUDIT_EVENT_BUS_NAME`).
    pub audit_event_bus_name: Option<String>,
    /// What each project sets for itself (`PROJECT_SETTINGS`); the fields
    /// above are the defaults of what it does not set.
    pub project_settings: HashMap<ProjectId, ProjectSettings>,
}

pub const DEFAULT_PENDING_TTL_SECONDS: u64 = 600;
pub const DEFAULT_LOCKOUT_MAX_ATTEMPTS: u32 = 5;
pub const DEFAULT_LOCKOUT_WINDOW_SECONDS: u64 = 900;
pub const DEFAULT_LOCKOUT_DAILY_MAX_FAILURES: u32 = 20;
pub const DEFAULT_LOCKOUT_DAILY_WINDOW_SECONDS: u64 = 86_400;
pub const DEFAULT_SESSION_TTL_SECONDS: u64 = 600;
pub const DEFAULT_REFRESH_TTL_SECONDS: u64 = 4 * 7 * 24 * 3600;
pub const DEFAULT_UPDATE_FRESHNESS_SECONDS: u64 = 300;
/// Descope keeps 30 days; a security review usually asks for a year and more.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u64 = 400;

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
        settings::check_issuer("TOTP_ISSUER", &issuer)?;
        // Read by app::sdk_config_loader before this; refused here, at start.
        TlsRoots::from_lookup(&get)?;
        let project_settings = settings::parse(&get("PROJECT_SETTINGS").unwrap_or_default(), &projects)?;
        let optional = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(Config {
            project_settings,
            audit_table_name: optional("AUDIT_TABLE_NAME"),
            audit_retention_days: number("AUDIT_RETENTION_DAYS", DEFAULT_AUDIT_RETENTION_DAYS, 1..=3650)?,
            audit_event_bus_name: optional("AUDIT_EVENT_BUS_NAME"),
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
            update_freshness_seconds: number(
                "UPDATE_FRESHNESS_SECONDS",
                DEFAULT_UPDATE_FRESHNESS_SECONDS,
                30..=86_400,
            )?,
            allowed_origins: parse_allowed_origins(&get("ALLOWED_ORIGINS").unwrap_or_default())?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn serves(&self, raw_project: &str) -> Option<ProjectId> {
        ProjectId::parse(raw_project).filter(|p| self.projects.contains(p))
    }

    fn settings_of(&self, project: &ProjectId) -> Option<&ProjectSettings> {
        self.project_settings.get(project)
    }

    /// The issuer `project`'s users see in their authenticator apps.
    pub fn issuer_of(&self, project: &ProjectId) -> &str {
        self.settings_of(project)
            .and_then(|s| s.issuer.as_deref())
            .unwrap_or(&self.issuer)
    }

    /// The parameters of `project`'s new keys (sign-up, update).
    pub fn totp_params_of(&self, project: &ProjectId) -> TotpParams {
        self.settings_of(project)
            .and_then(|s| s.totp)
            .unwrap_or(TotpParams::DEFAULT)
    }
}

/// Which certificates the AWS clients trust (`TLS_ROOTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRoots {
    /// `aws` (the default): only [`crate::app::AMAZON_TRUST_SERVICES_PEM`], compiled in.
    /// The SDK's default parses the system's whole bundle (about 140
    /// certificates) at the first request of every cold start: 80 % of the
    /// instructions of signup's cold start (docs/performance.md). It also
    /// means no other authority can vouch for an AWS endpoint.
    AmazonTrustServices,
    /// `system`: the SDK's default, the system bundle (`SSL_CERT_FILE`
    /// honoured), for an endpoint whose certificate has another root.
    System,
}

impl TlsRoots {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        match get("TLS_ROOTS").as_deref() {
            None | Some("") | Some("aws") => Ok(TlsRoots::AmazonTrustServices),
            Some("system") => Ok(TlsRoots::System),
            Some(other) => Err(ConfigError(format!("TLS_ROOTS must be aws or system, not {other:?}"))),
        }
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
    fn each_project_takes_its_own_settings_and_the_rest_the_defaults() {
        let mut vars = BASE.to_vec();
        vars.push((
            "PROJECT_SETTINGS",
            r#"{"P1": {"issuer": "One Inc", "totpDigits": 8, "lockoutMaxAttempts": 3}}"#,
        ));
        let c = config(&vars).unwrap();
        let (p1, p2) = (ProjectId::parse("P1").unwrap(), ProjectId::parse("P2").unwrap());
        assert_eq!(c.issuer_of(&p1), "One Inc");
        assert_eq!(c.issuer_of(&p2), "Acme");
        assert_eq!(c.totp_params_of(&p1).digits, 8);
        assert_eq!(c.totp_params_of(&p2), TotpParams::DEFAULT);
        let mut vars = BASE.to_vec();
        vars.push(("PROJECT_SETTINGS", r#"{"P9": {}}"#));
        assert!(config(&vars).unwrap_err().0.contains("P9"));
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

    #[test]
    fn tls_roots_are_amazons_unless_system_is_asked_and_nothing_else_starts() {
        let roots = |value: Option<&str>| {
            TlsRoots::from_lookup(|k| (k == "TLS_ROOTS").then_some(value).flatten().map(str::to_owned))
        };
        assert_eq!(roots(None).unwrap(), TlsRoots::AmazonTrustServices);
        assert_eq!(roots(Some("aws")).unwrap(), TlsRoots::AmazonTrustServices);
        assert_eq!(roots(Some("system")).unwrap(), TlsRoots::System);
        let mut vars = BASE.to_vec();
        vars.push(("TLS_ROOTS", "all"));
        assert!(config(&vars).unwrap_err().0.contains("TLS_ROOTS"));
        vars.pop();
        vars.push(("TLS_ROOTS", "system"));
        assert!(config(&vars).is_ok());
    }
}

/// `ALLOWED_ORIGINS`: comma-separated origins exactly as browsers send them in
/// `Origin` (`https://app.example.com`, `http://127.0.0.1:8080`): lowercase,
/// http or https, a host name or IPv4 address, a port only when not the
/// scheme's default, nothing after it. No wildcard and no `null`: each origin
/// is named. template.yaml's `AllowedOrigins` pattern accepts the same values.
pub fn parse_allowed_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    let mut origins: Vec<String> = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if !is_origin(origin) {
            return Err(ConfigError(format!(
                "ALLOWED_ORIGINS: '{origin}' is not an origin: scheme://host[:port] in lowercase, \
                 http or https, no path, no trailing '/', no wildcard, no default port"
            )));
        }
        if !origins.iter().any(|o| o == origin) {
            origins.push(origin.to_owned());
        }
    }
    Ok(origins)
}

fn is_origin(origin: &str) -> bool {
    let (rest, default_port) = if let Some(rest) = origin.strip_prefix("https://") {
        (rest, "443")
    } else if let Some(rest) = origin.strip_prefix("http://") {
        (rest, "80")
    } else {
        return false;
    };
    let (host, port) = match rest.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let host_ok = host.split('.').all(label_ok);
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && !p.starts_with('0')
            && p != default_port
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    host_ok && port_ok
}

#[cfg(test)]
mod allowed_origins_tests {
    use super::*;

    #[test]
    fn parses_a_comma_list_of_origins() {
        assert_eq!(parse_allowed_origins("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_allowed_origins(" , ").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_allowed_origins("https://app.example.com, http://127.0.0.1:8080,https://app.example.com").unwrap(),
            vec!["https://app.example.com", "http://127.0.0.1:8080"]
        );
        for good in [
            "http://localhost:5173",
            "http://a:65535",
            "https://x.example.com:4430",
            "http://x:180",
        ] {
            assert_eq!(parse_allowed_origins(good).unwrap(), vec![good]);
        }
    }

    #[test]
    fn refuses_what_no_browser_sends_as_an_origin() {
        for bad in [
            "*",
            "null",
            "https://*.example.com",
            "https://app.example.com/",
            "https://app.example.com/login",
            "https://App.example.com",
            "HTTPS://app.example.com",
            "app.example.com",
            "ftp://app.example.com",
            "https://app.example.com:443",
            "http://app.example.com:80",
            "http://127.0.0.1:0",
            "http://127.0.0.1:65536",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:",
            "http://user@app.example.com",
            "https://app..example.com",
            "https://-app.example.com",
            "https://app.example.com?x=1",
            "http://[::1]:8080",
            "https://a.example.com:443,https://b.example.com",
            "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com",
        ] {
            assert!(parse_allowed_origins(bad).is_err(), "{bad} was accepted");
            assert!(parse_allowed_origins(&format!("https://ok.example.com,{bad}")).is_err());
        }
    }

    #[test]
    fn config_reads_allowed_origins() {
        let vars = [
            ("TABLE_NAME", "t"),
            ("PROJECT_ID", "P1"),
            ("TOTP_ISSUER", "Acme"),
            ("ALLOWED_ORIGINS", "https://a.example.com,http://127.0.0.1:8080"),
        ];
        let get = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let config = Config::from_lookup(get).unwrap();
        assert_eq!(
            config.allowed_origins,
            ["https://a.example.com", "http://127.0.0.1:8080"]
        );
        let none = Config::from_lookup(|name| get(name).filter(|_| name != "ALLOWED_ORIGINS")).unwrap();
        assert!(none.allowed_origins.is_empty());
        assert!(Config::from_lookup(|name| {
            if name == "ALLOWED_ORIGINS" {
                Some("*".into())
            } else {
                get(name)
            }
        })
        .is_err());
    }
}
