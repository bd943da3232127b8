//! The audit trail, derived from the table's change stream: each change of
//! an item becomes at most one audit record, named with Descope's action
//! name where Descope has one. The request functions write nothing for it;
//! what happened is read off the difference between an item's old and new
//! image (docs/audit.md lists every action and how it is recognised).
//!
//! A record names the user by userId and a keyed hash of the loginId, and
//! carries only data that is safe to show: never a secret, a code, a
//! token, a loginId or a profile field.

use serde_json::{json, Map, Value};

/// One stream record as the audit function needs it: the key, the images
/// in DynamoDB's JSON (`{"name": {"S": "…"}}`), when and in which order.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<'a> {
    pub pk: &'a str,
    pub old: Option<&'a Map<String, Value>>,
    pub new: Option<&'a Map<String, Value>>,
    /// DynamoDB's `ApproximateCreationDateTime`, in milliseconds.
    pub occurred_ms: u64,
    /// DynamoDB removed the item itself (TTL), not a request.
    pub by_ttl: bool,
}

/// What a change means, before the user is named.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub project: String,
    /// The loginId, when the item names one (for the keyed hash only).
    pub login_id: Option<String>,
    pub user_id: Option<String>,
    pub action: &'static str,
    pub data: Map<String, Value>,
}

/// Descope's names, where Descope has one for the event.
pub mod action {
    pub const USER_CREATED: &str = "UserCreated";
    pub const USER_DELETED: &str = "UserDeleted";
    pub const USER_MODIFIED: &str = "UserModified";
    pub const LOGIN_SUCCEED: &str = "LoginSucceed";
    pub const LOGIN_FAILED: &str = "LoginFailed";
    pub const LOGIN_EXCEED_MAX_ATTEMPTS: &str = "LoginExceedMaxAttempts";
    pub const LOGOUT: &str = "Logout";
    // This service's own: Descope names none for these.
    pub const SIGN_UP_STARTED: &str = "TOTPSignUpStarted";
    pub const KEY_UPDATE_STARTED: &str = "TOTPKeyUpdateStarted";
    pub const KEY_UPDATED: &str = "TOTPKeyUpdated";
    pub const KEY_REMOVED: &str = "TOTPKeyRemoved";
    pub const RECOVERY_CODES_GENERATED: &str = "RecoveryCodesGenerated";
    pub const RECOVERY_CODES_REMOVED: &str = "RecoveryCodesRemoved";
    pub const EMBEDDED_LINK_CREATED: &str = "EmbeddedLinkCreated";
}

fn string<'a>(image: Option<&'a Map<String, Value>>, name: &str) -> Option<&'a str> {
    image?.get(name)?.get("S")?.as_str()
}

fn number(image: Option<&Map<String, Value>>, name: &str) -> Option<i64> {
    image?.get(name)?.get("N")?.as_str()?.parse().ok()
}

fn string_set<'a>(image: Option<&'a Map<String, Value>>, name: &str) -> Vec<&'a str> {
    image
        .and_then(|i| i.get(name))
        .and_then(|v| v.get("SS"))
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn changed(change: &Change<'_>, name: &str) -> bool {
    change.old.and_then(|i| i.get(name)) != change.new.and_then(|i| i.get(name))
}

/// The lockout limits of the project, to tell a failure that locked the
/// user out from one that did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub short: u32,
    pub long: u32,
}

/// What `change` means, if anything an auditor asks about: `None` for
/// changes that are half of an event recorded elsewhere (a right code's
/// counted attempt, whose success write follows) or no event at all
/// (a userId pointer, an abandoned sign-up expiring).
pub fn classify(change: &Change<'_>, limits: impl Fn(&str) -> Limits) -> Option<Event> {
    // Project ids are letters and digits: what follows them says the kind.
    let split = change.pk.find(|c: char| !c.is_ascii_alphanumeric())?;
    let (project, rest) = change.pk.split_at(split);
    let event = |login_id, user_id, action, data| new_event(project, login_id, user_id, action, data);
    if let Some(login_id) = rest.strip_prefix('#') {
        return user_change(change, project, login_id, limits(project));
    }
    if rest.starts_with("|revoked|") {
        // One refresh token logged out on its own (the item names its user).
        let user_id = string(change.new, "userId");
        return (change.old.is_none() && change.new.is_some())
            .then(|| event(None, user_id, action::LOGOUT, json!({"allSessions": false})));
    }
    if rest.starts_with("|link|") {
        let user_id = string(change.new.or(change.old), "userId");
        let login_id = string(change.new.or(change.old), "loginId");
        return match (change.old, change.new) {
            (None, Some(_)) => Some(event(login_id, user_id, action::EMBEDDED_LINK_CREATED, json!({}))),
            // Spent by a sign-in (an expired link DynamoDB removed is no event).
            (Some(_), None) if !change.by_ttl => Some(event(
                login_id,
                user_id,
                action::LOGIN_SUCCEED,
                json!({"method": "embeddedlink"}),
            )),
            _ => None,
        };
    }
    None
}

/// A wrong code counted (the counting write names it the last failed
/// attempt), and whether it reached a lockout limit.
fn failure(change: &Change<'_>, limits: Limits) -> Option<(&'static str, Value)> {
    let new = change.new;
    if !changed(change, "lastFailedAttemptId") || string(new, "lastFailedAttemptId").is_none() {
        return None;
    }
    let attempts = number(new, "attempts").unwrap_or(0);
    let failures = number(new, "longAttempts").unwrap_or(0);
    let locked = attempts >= i64::from(limits.short) || failures >= i64::from(limits.long);
    let action = if locked {
        action::LOGIN_EXCEED_MAX_ATTEMPTS
    } else {
        action::LOGIN_FAILED
    };
    Some((action, json!({"attempts": attempts, "dailyFailures": failures})))
}

fn new_event(project: &str, login_id: Option<&str>, user_id: Option<&str>, action: &'static str, data: Value) -> Event {
    Event {
        project: project.to_owned(),
        login_id: login_id.map(str::to_owned),
        user_id: user_id.map(str::to_owned),
        action,
        data: match data {
            Value::Object(map) => map,
            _ => Map::new(),
        },
    }
}

fn user_change(change: &Change<'_>, project: &str, login_id: &str, limits: Limits) -> Option<Event> {
    let (old, new) = (change.old, change.new);
    let status = |image| string(image, "status");
    let user_id = string(new, "userId").or(string(old, "userId"));
    let user = |action, data| Some(new_event(project, Some(login_id), user_id, action, data));
    match (status(old), status(new)) {
        // Wrong codes at a pending sign-up's first code count like any.
        (Some("pending"), Some("pending")) if !changed(change, "enrollmentId") => {}
        (_, Some("pending")) => return user(action::SIGN_UP_STARTED, json!({})),
        (None, Some("registered")) => {
            let with_key = string(new, "secretKeyId").is_some();
            let disabled = string(new, "userStatus") == Some("disabled");
            return user(
                action::USER_CREATED,
                json!({"by": "management", "TOTP": with_key, "status": if disabled {"disabled"} else {"enabled"}}),
            );
        }
        // A first code completes a sign-up (and records its attempt); an
        // administrator's user replaces a pending sign-up without one.
        (Some("pending"), Some("registered")) if string(new, "acceptedAttemptId").is_some() => {
            return user(action::USER_CREATED, json!({"by": "signup"}))
        }
        (Some("pending"), Some("registered")) => return user(action::USER_CREATED, json!({"by": "management"})),
        (Some("registered"), None) if !change.by_ttl => return user(action::USER_DELETED, json!({})),
        (Some("registered"), Some("registered")) => {}
        _ => return None,
    }
    if let Some(failure) = failure(change, limits) {
        return user(failure.0, failure.1);
    }
    let generation = number(new, "sessionGeneration").unwrap_or(0);
    if changed(change, "userStatus") {
        let disabled = string(new, "userStatus") == Some("disabled");
        return user(
            action::USER_MODIFIED,
            json!({"status": if disabled {"disabled"} else {"enabled"}, "sessionGeneration": generation}),
        );
    }
    if string(old, "secretKeyId").is_some() && string(new, "secretKeyId").is_none() {
        return user(action::KEY_REMOVED, json!({"sessionGeneration": generation}));
    }
    if changed(change, "enrollmentId") {
        return user(
            action::KEY_UPDATED,
            json!({"keyId": string(new, "secretKeyId"), "sessionGeneration": generation}),
        );
    }
    let (old_codes, new_codes) = (string_set(old, "recoveryCodes"), string_set(new, "recoveryCodes"));
    if changed(change, "acceptedAttemptId") {
        if !new_codes.is_empty() && !new_codes.iter().any(|c| old_codes.contains(c)) {
            return user(action::RECOVERY_CODES_GENERATED, json!({"count": new_codes.len()}));
        }
        if new_codes.len() + 1 == old_codes.len() {
            return user(
                action::LOGIN_SUCCEED,
                json!({"method": "recoveryCode", "recoveryCodesLeft": new_codes.len(), "sessionGeneration": generation}),
            );
        }
        return user(
            action::LOGIN_SUCCEED,
            json!({"method": "totp", "sessionGeneration": generation}),
        );
    }
    if changed(change, "pendingEnrollmentId") && string(new, "pendingEnrollmentId").is_some() {
        return user(
            action::KEY_UPDATE_STARTED,
            json!({"keyId": string(new, "pendingSecretKeyId")}),
        );
    }
    if !old_codes.is_empty() && new_codes.is_empty() {
        return user(action::RECOVERY_CODES_REMOVED, json!({}));
    }
    if number(new, "sessionGeneration") > number(old, "sessionGeneration") {
        return user(
            action::LOGOUT,
            json!({"allSessions": true, "sessionGeneration": generation}),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { short: 5, long: 20 };

    fn image(fields: &[(&str, Value)]) -> Map<String, Value> {
        fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn s(v: &str) -> Value {
        json!({ "S": v })
    }

    fn n(v: i64) -> Value {
        json!({ "N": v.to_string() })
    }

    fn registered(extra: &[(&str, Value)]) -> Map<String, Value> {
        let mut fields = vec![
            ("pk", s("P2a#ann@example.com")),
            ("status", s("registered")),
            ("userId", s("U2ANN")),
            ("enrollmentId", s("E1")),
            ("secretKeyId", s("k1")),
            ("secret", json!({"B": "c2VjcmV0"})),
            ("sessionGeneration", n(0)),
        ];
        fields.extend(extra.iter().cloned());
        let mut map = image(&[]);
        for (k, v) in fields {
            map.insert(k.to_owned(), v);
        }
        map
    }

    fn classify_user(old: Option<&Map<String, Value>>, new: Option<&Map<String, Value>>) -> Option<Event> {
        classify(
            &Change {
                pk: "P2a#ann@example.com",
                old,
                new,
                occurred_ms: 1,
                by_ttl: false,
            },
            |_| LIMITS,
        )
    }

    fn action_of(old: Option<&Map<String, Value>>, new: Option<&Map<String, Value>>) -> Option<&'static str> {
        classify_user(old, new).map(|e| e.action)
    }

    #[test]
    fn sign_up_registration_and_creation() {
        let pending = image(&[("status", s("pending")), ("secretKeyId", s("k1"))]);
        assert_eq!(action_of(None, Some(&pending)), Some(action::SIGN_UP_STARTED));
        let replaced = image(&[("status", s("pending")), ("enrollmentId", s("E9"))]);
        assert_eq!(
            action_of(Some(&pending), Some(&replaced)),
            Some(action::SIGN_UP_STARTED)
        );
        let guessed = image(&[
            ("status", s("pending")),
            ("attempts", n(1)),
            ("lastFailedAttemptId", s("A1")),
        ]);
        assert_eq!(action_of(Some(&pending), Some(&guessed)), Some(action::LOGIN_FAILED));
        assert_eq!(action_of(Some(&pending), Some(&pending)), None);
        let completed = registered(&[("acceptedAttemptId", s("A1"))]);
        let event = classify_user(Some(&pending), Some(&completed)).unwrap();
        assert_eq!(
            (event.action, event.data["by"].as_str()),
            (action::USER_CREATED, Some("signup"))
        );
        assert_eq!(event.user_id.as_deref(), Some("U2ANN"));
        assert_eq!(event.login_id.as_deref(), Some("ann@example.com"));
        assert_eq!(event.project, "P2a");
        let created = registered(&[("userStatus", s("disabled"))]);
        let event = classify_user(None, Some(&created)).unwrap();
        assert_eq!(event.action, action::USER_CREATED);
        assert_eq!(
            event.data,
            *json!({"by": "management", "TOTP": true, "status": "disabled"})
                .as_object()
                .unwrap()
        );
        let event = classify_user(Some(&pending), Some(&registered(&[]))).unwrap();
        assert_eq!(
            event.data["by"], "management",
            "a created user replacing a pending sign-up"
        );
        // An abandoned sign-up expiring or deleted is nobody's event.
        assert_eq!(action_of(Some(&pending), None), None);
        assert_eq!(action_of(Some(&registered(&[])), None), Some(action::USER_DELETED));
    }

    #[test]
    fn sign_ins_failures_and_lockout() {
        let before = registered(&[("acceptedAttemptId", s("A0")), ("lastStep", n(10))]);
        // A right code's counted attempt is half of its sign-in: no record.
        let counted = registered(&[
            ("acceptedAttemptId", s("A0")),
            ("attempts", n(1)),
            ("attemptIds", json!({"SS": ["A1"]})),
        ]);
        assert_eq!(action_of(Some(&before), Some(&counted)), None);
        let signed_in = registered(&[("acceptedAttemptId", s("A1")), ("lastStep", n(11))]);
        let event = classify_user(Some(&counted), Some(&signed_in)).unwrap();
        assert_eq!(
            (event.action, event.data["method"].as_str()),
            (action::LOGIN_SUCCEED, Some("totp"))
        );
        let wrong = registered(&[
            ("acceptedAttemptId", s("A0")),
            ("attempts", n(2)),
            ("longAttempts", n(1)),
            ("lastFailedAttemptId", s("A2")),
        ]);
        let event = classify_user(Some(&signed_in), Some(&wrong)).unwrap();
        assert_eq!(event.action, action::LOGIN_FAILED);
        assert_eq!(
            event.data,
            *json!({"attempts": 2, "dailyFailures": 1}).as_object().unwrap()
        );
        let fifth = registered(&[
            ("acceptedAttemptId", s("A0")),
            ("attempts", n(5)),
            ("lastFailedAttemptId", s("A5")),
        ]);
        assert_eq!(
            action_of(Some(&wrong), Some(&fifth)),
            Some(action::LOGIN_EXCEED_MAX_ATTEMPTS)
        );
        let daily = registered(&[
            ("attempts", n(1)),
            ("longAttempts", n(20)),
            ("lastFailedAttemptId", s("A9")),
        ]);
        assert_eq!(
            action_of(Some(&fifth), Some(&daily)),
            Some(action::LOGIN_EXCEED_MAX_ATTEMPTS)
        );
    }

    #[test]
    fn keys_recovery_codes_status_and_sessions() {
        let base = registered(&[]);
        let updating = registered(&[("pendingEnrollmentId", s("E2")), ("pendingSecretKeyId", s("k1"))]);
        assert_eq!(
            action_of(Some(&base), Some(&updating)),
            Some(action::KEY_UPDATE_STARTED)
        );
        let promoted = registered(&[
            ("enrollmentId", s("E2")),
            ("acceptedAttemptId", s("A3")),
            ("sessionGeneration", n(1)),
        ]);
        assert_eq!(action_of(Some(&updating), Some(&promoted)), Some(action::KEY_UPDATED));
        let mut removed = registered(&[("enrollmentId", s("E3")), ("sessionGeneration", n(2))]);
        removed.remove("secretKeyId");
        removed.remove("secret");
        assert_eq!(action_of(Some(&promoted), Some(&removed)), Some(action::KEY_REMOVED));

        let codes = |list: &[&str]| json!({ "SS": list });
        let generated = registered(&[
            ("recoveryCodes", codes(&["h1", "h2", "h3"])),
            ("acceptedAttemptId", s("A4")),
        ]);
        let event = classify_user(Some(&base), Some(&generated)).unwrap();
        assert_eq!(
            (event.action, &event.data["count"]),
            (action::RECOVERY_CODES_GENERATED, &json!(3))
        );
        let spent = registered(&[("recoveryCodes", codes(&["h1", "h3"])), ("acceptedAttemptId", s("A5"))]);
        let event = classify_user(Some(&generated), Some(&spent)).unwrap();
        assert_eq!(
            (event.action, event.data["method"].as_str()),
            (action::LOGIN_SUCCEED, Some("recoveryCode"))
        );
        let cleared = registered(&[("acceptedAttemptId", s("A5"))]);
        assert_eq!(
            action_of(Some(&spent), Some(&cleared)),
            Some(action::RECOVERY_CODES_REMOVED)
        );

        let disabled = registered(&[("userStatus", s("disabled")), ("sessionGeneration", n(1))]);
        let event = classify_user(Some(&base), Some(&disabled)).unwrap();
        assert_eq!(
            (event.action, event.data["status"].as_str()),
            (action::USER_MODIFIED, Some("disabled"))
        );
        let enabled = registered(&[("sessionGeneration", n(1))]);
        let event = classify_user(Some(&disabled), Some(&enabled)).unwrap();
        assert_eq!(event.data["status"], "enabled");
        let everywhere = registered(&[("sessionGeneration", n(2))]);
        let event = classify_user(Some(&enabled), Some(&everywhere)).unwrap();
        assert_eq!(
            (event.action, &event.data["allSessions"]),
            (action::LOGOUT, &json!(true))
        );
        // The backfill's `project` and a pointer are no events.
        assert_eq!(
            action_of(Some(&base), Some(&registered(&[("project", s("P2a"))]))),
            None
        );
    }

    #[test]
    fn links_revocations_and_pointers() {
        let link = image(&[
            ("pk", s("P2a|link|ab")),
            ("userId", s("U2ANN")),
            ("loginId", s("ann@example.com")),
        ]);
        let change = |old, new, by_ttl, pk| Change {
            pk,
            old,
            new,
            occurred_ms: 1,
            by_ttl,
        };
        let created = classify(&change(None, Some(&link), false, "P2a|link|ab"), |_| LIMITS).unwrap();
        assert_eq!(created.action, action::EMBEDDED_LINK_CREATED);
        let spent = classify(&change(Some(&link), None, false, "P2a|link|ab"), |_| LIMITS).unwrap();
        assert_eq!(
            (spent.action, spent.data["method"].as_str()),
            (action::LOGIN_SUCCEED, Some("embeddedlink"))
        );
        assert_eq!(
            classify(&change(Some(&link), None, true, "P2a|link|ab"), |_| LIMITS),
            None,
            "expired"
        );
        let revoked = image(&[("userId", s("U2ANN"))]);
        let logout = classify(&change(None, Some(&revoked), false, "P2a|revoked|J1"), |_| LIMITS).unwrap();
        assert_eq!(
            (logout.action, logout.user_id.as_deref()),
            (action::LOGOUT, Some("U2ANN"))
        );
        assert_eq!(
            classify(&change(Some(&revoked), None, true, "P2a|revoked|J1"), |_| LIMITS),
            None
        );
        let pointer = image(&[("loginId", s("ann@example.com"))]);
        assert_eq!(
            classify(&change(None, Some(&pointer), false, "P2a|uid|U2ANN"), |_| LIMITS),
            None
        );
    }

    #[test]
    fn no_record_carries_a_secret_or_the_login_id_in_its_data() {
        let pending = image(&[("status", s("pending")), ("secret", json!({"B": "c2VjcmV0"}))]);
        let images = [registered(&[
            ("recoveryCodes", json!({"SS": ["hash1"]})),
            ("acceptedAttemptId", s("A1")),
        ])];
        for (old, new) in [
            (None, Some(&pending)),
            (Some(&pending), Some(&images[0])),
            (Some(&images[0]), None),
        ] {
            let event = classify_user(old, new).unwrap();
            let data = Value::Object(event.data).to_string();
            for secret in ["c2VjcmV0", "hash1", "ann@example.com", "A1"] {
                assert!(!data.contains(secret), "{data}");
            }
        }
    }
}
