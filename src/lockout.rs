//! Lockout as a pure decision over the attempts counted so far.
//!
//! Two windows, each starting at its first attempt: a short one (5 codes per
//! 15 minutes by default) that a success resets, and a long one (20 wrong
//! codes per 24 hours) that a success does not reset, so a victim's
//! sign-ins never refill an attacker's budget.
//!
//! A verify checks its code first and then writes once: a wrong code is
//! counted in both windows (an atomic increment under the limit) before it
//! is answered; a right code takes no attempt, and its success write
//! requires that neither window is full at that moment ([`open_windows`]).
//! So parallel guesses cannot exceed either limit, and the long window
//! counts wrong codes only. Recovery codes still count every attempt first
//! and give a success's count back.

use crate::config::Config;
use crate::domain::ProjectId;
use crate::settings::ProjectSettings;
use crate::store::{AttemptTake, Attempts, OpenWindows, WindowStep};

/// The limits, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub short_limit: u32,
    pub short_window: u64,
    pub long_limit: u32,
    pub long_window: u64,
}

impl LockoutPolicy {
    /// `project`'s limits: its own settings, else the deployment's.
    pub fn of(config: &Config, project: &ProjectId) -> Self {
        let own = config.project_settings.get(project);
        let pick = |field: fn(&ProjectSettings) -> Option<u64>, default: u64| own.and_then(field).unwrap_or(default);
        LockoutPolicy {
            short_limit: own
                .and_then(|s| s.lockout_max_attempts)
                .unwrap_or(config.lockout_max_attempts),
            short_window: pick(|s| s.lockout_window_seconds, config.lockout_window_seconds),
            long_limit: own
                .and_then(|s| s.lockout_daily_max_failures)
                .unwrap_or(config.lockout_daily_max_failures),
            long_window: pick(|s| s.lockout_daily_window_seconds, config.lockout_daily_window_seconds),
        }
    }
}

/// What to do with one more attempt at a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptPlan {
    /// Count it, in both windows.
    Take(AttemptTake),
    /// A window is full: refuse until it ends.
    Locked { retry_after: u64 },
}

/// One window: how it counts this attempt, or the seconds until it ends if full.
fn step(count: i64, start: Option<u64>, limit: u32, window: u64, now: u64) -> Result<WindowStep, u64> {
    match start.map(|s| (s, s.saturating_add(window))) {
        Some((start, end)) if end > now => {
            if count >= i64::from(limit) {
                Err((end - now).max(1))
            } else {
                Ok(WindowStep::Continue { start })
            }
        }
        // No window, or it has ended: this attempt opens a new one.
        _ => Ok(WindowStep::Open {
            replacing: start,
            at: now,
        }),
    }
}

pub fn plan_attempt(observed: Attempts, policy: LockoutPolicy, now: u64) -> AttemptPlan {
    let short = step(
        observed.count.into(),
        observed.window_start,
        policy.short_limit,
        policy.short_window,
        now,
    );
    let long = step(
        observed.long_count,
        observed.long_window_start,
        policy.long_limit,
        policy.long_window,
        now,
    );
    match (short, long) {
        (Ok(short), Ok(long)) => AttemptPlan::Take(AttemptTake {
            short,
            short_limit: policy.short_limit,
            long,
            long_limit: policy.long_limit,
        }),
        (Err(a), Err(b)) => AttemptPlan::Locked { retry_after: a.max(b) },
        (Err(retry_after), _) | (_, Err(retry_after)) => AttemptPlan::Locked { retry_after },
    }
}

/// What a success written at `now` must find: neither window full. A
/// window that started `window` seconds ago or earlier has ended (as in
/// `step`: it is live while its end is after `now`).
pub fn open_windows(policy: LockoutPolicy, now: u64) -> OpenWindows {
    OpenWindows {
        now,
        short_limit: policy.short_limit,
        short_ended_by: now.saturating_sub(policy.short_window),
        long_limit: policy.long_limit,
        long_ended_by: now.saturating_sub(policy.long_window),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LockoutPolicy = LockoutPolicy {
        short_limit: 5,
        short_window: 900,
        long_limit: 20,
        long_window: 86_400,
    };

    fn attempts(count: u32, start: Option<u64>, long_count: i64, long_start: Option<u64>) -> Attempts {
        Attempts {
            count,
            window_start: start,
            long_count,
            long_window_start: long_start,
        }
    }

    fn take(short: WindowStep, long: WindowStep) -> AttemptPlan {
        AttemptPlan::Take(AttemptTake {
            short,
            short_limit: 5,
            long,
            long_limit: 20,
        })
    }

    fn go_on(start: u64) -> WindowStep {
        WindowStep::Continue { start }
    }

    fn open(replacing: Option<u64>, at: u64) -> WindowStep {
        WindowStep::Open { replacing, at }
    }

    #[test]
    fn the_short_window() {
        assert_eq!(
            plan_attempt(Attempts::default(), POLICY, 1000),
            take(open(None, 1000), open(None, 1000))
        );
        assert_eq!(
            plan_attempt(attempts(4, Some(1000), 4, Some(1000)), POLICY, 1899),
            take(go_on(1000), go_on(1000))
        );
        assert_eq!(
            plan_attempt(attempts(5, Some(1000), 5, Some(1000)), POLICY, 1000),
            AttemptPlan::Locked { retry_after: 900 }
        );
        assert_eq!(
            plan_attempt(attempts(5, Some(1000), 5, Some(1000)), POLICY, 1899),
            AttemptPlan::Locked { retry_after: 1 }
        );
        // The window ends exactly `window` seconds after it started.
        assert_eq!(
            plan_attempt(attempts(5, Some(1000), 5, Some(1000)), POLICY, 1900),
            take(open(Some(1000), 1900), go_on(1000))
        );
        // A window start near the end of time must not overflow.
        assert_eq!(
            plan_attempt(attempts(5, Some(u64::MAX - 10), 0, None), POLICY, 1000),
            AttemptPlan::Locked {
                retry_after: u64::MAX - 1000
            }
        );
    }

    #[test]
    fn the_long_window_outlasts_short_resets() {
        // A success cleared the short window; the long one still counts 20 failures.
        assert_eq!(
            plan_attempt(attempts(0, None, 20, Some(1000)), POLICY, 50_000),
            AttemptPlan::Locked {
                retry_after: 87_400 - 50_000
            }
        );
        assert_eq!(
            plan_attempt(attempts(0, None, 19, Some(1000)), POLICY, 50_000),
            take(open(None, 50_000), go_on(1000))
        );
        // Both full: wait for the later end.
        assert_eq!(
            plan_attempt(attempts(5, Some(49_900), 20, Some(1000)), POLICY, 50_000),
            AttemptPlan::Locked {
                retry_after: 87_400 - 50_000
            }
        );
        assert_eq!(
            plan_attempt(attempts(5, Some(49_900), 3, Some(1000)), POLICY, 50_000),
            AttemptPlan::Locked { retry_after: 800 }
        );
        // A count taken below zero by a late refund counts as zero.
        assert_eq!(
            plan_attempt(attempts(0, None, -1, Some(1000)), POLICY, 2000),
            take(open(None, 2000), go_on(1000))
        );
        // When the long window ends, a new one opens.
        assert_eq!(
            plan_attempt(attempts(0, None, 20, Some(1000)), POLICY, 87_400),
            take(open(None, 87_400), open(Some(1000), 87_400))
        );
    }
}
