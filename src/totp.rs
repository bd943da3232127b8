//! RFC 6238 time-based one-time passwords.
//!
//! `totp-rs` computes each code; this layer adds what its `check()` lacks:
//! replay protection needs to know *which* time step a code matched, and
//! every candidate must be compared in constant time.
//!
//! New keys use [`TotpParams::DEFAULT`] (SHA-1, 6 digits, 30 s: what every
//! authenticator app honours); a seed imported with its user keeps the
//! parameters its authenticator already uses.

use subtle::{ConditionallySelectable, ConstantTimeEq};
use totp_rs::TOTP;

/// Seconds per time step (RFC 6238's X). Authenticator apps assume 30.
pub const PERIOD_SECONDS: u64 = 30;
/// Digits in a code. Authenticator apps assume 6.
pub const DIGITS: u32 = 6;
/// Steps accepted either side of the current one, for clock drift and typing time.
pub const SKEW_STEPS: u64 = 1;

/// A 30-second window counted from the Unix epoch (RFC 6238's T with T0 = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeStep(pub u64);

impl TimeStep {
    pub fn at(unix_seconds: u64) -> Self {
        TimeStep(unix_seconds / PERIOD_SECONDS)
    }
}

/// The HMAC of RFC 6238 section 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// As an otpauth URL's `algorithm` names it.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// `SHA1`, `SHA256` or `SHA512`, any case.
    pub fn parse(name: &str) -> Option<Self> {
        [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

/// How a key makes its codes: the parameters authenticator apps let an
/// otpauth URL choose. Only these combinations are accepted: the ones
/// apps implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    pub algorithm: Algorithm,
    /// 6 or 8.
    pub digits: u32,
    /// 30 or 60 seconds.
    pub period: u64,
}

impl TotpParams {
    pub const DEFAULT: TotpParams = TotpParams {
        algorithm: Algorithm::Sha1,
        digits: DIGITS,
        period: PERIOD_SECONDS,
    };

    pub fn new(algorithm: Algorithm, digits: u32, period: u64) -> Option<Self> {
        (matches!(digits, 6 | 8) && matches!(period, 30 | 60)).then_some(TotpParams {
            algorithm,
            digits,
            period,
        })
    }

    /// `SHA256:8:60`, as stored.
    pub fn encode(self) -> String {
        format!("{}:{}:{}", self.algorithm.name(), self.digits, self.period)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let algorithm = Algorithm::parse(parts.next()?)?;
        let digits = parts.next()?.parse().ok()?;
        let period = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Self::new(algorithm, digits, period)
    }

    /// The step of this key's period that holds `unix_seconds`.
    pub fn step_at(self, unix_seconds: u64) -> TimeStep {
        TimeStep(unix_seconds / self.period)
    }

    /// What replay protection compares: the first second of `step`, in
    /// 30-second units. One scale for every period, so that the last step
    /// accepted under one key still orders the steps of a key with another
    /// period; for 30-second keys it is the step itself.
    pub fn replay_counter(self, step: TimeStep) -> u64 {
        step.0.saturating_mul(self.period / PERIOD_SECONDS)
    }

    fn first_second(self, step: TimeStep) -> Option<u64> {
        step.0.checked_mul(self.period)
    }
}

/// A secret's code generator. `new_unchecked`: the secret's length is ours
/// to check (160 bits at sign-up, at least 128 on import), and the RFC
/// vectors' seeds are fixed.
fn generator(algorithm: Algorithm, secret: &[u8], digits: u32, period: u64) -> TOTP {
    let algorithm = match algorithm {
        Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
        Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
        Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
    };
    // Skew is ours (`matching_step`), so totp-rs's own is unused.
    TOTP::new_unchecked(algorithm, digits as usize, 0, period, secret.to_vec())
}

/// The first second of a 30-second step: totp-rs takes a time, not a counter.
fn first_second(step: TimeStep) -> Option<u64> {
    step.0.checked_mul(PERIOD_SECONDS)
}

/// The code for one 30-second step, zero-padded to `digits` (at most 9, which a u32 holds).
pub fn code_at(algorithm: Algorithm, secret: &[u8], step: TimeStep, digits: u32) -> Option<String> {
    if !(1..=9).contains(&digits) {
        return None;
    }
    Some(generator(algorithm, secret, digits, PERIOD_SECONDS).generate(first_second(step)?))
}

/// The step (of the key's own period) whose code equals `code`, looking at
/// the current step and `SKEW_STEPS` either side. All candidates are
/// computed and compared in constant time, so timing tells nothing about
/// which (if any) matched. When two steps match (a one-in-a-million
/// coincidence) the newest wins, which is the conservative choice for
/// replay protection. A code of another length than the key's matches nothing.
pub fn matching_step(params: TotpParams, secret: &[u8], code: &str, unix_seconds: u64) -> Option<TimeStep> {
    let current = params.step_at(unix_seconds).0;
    let mut matched = subtle::Choice::from(0u8);
    let mut found = 0u64;
    let totp = generator(params.algorithm, secret, params.digits, params.period);
    for step in current.saturating_sub(SKEW_STEPS)..=current.saturating_add(SKEW_STEPS) {
        let Some(time) = params.first_second(TimeStep(step)) else {
            continue;
        };
        let candidate = totp.generate(time);
        let equal = candidate.as_bytes().ct_eq(code.as_bytes());
        found = u64::conditional_select(&found, &step, equal);
        matched |= equal;
    }
    bool::from(matched).then_some(TimeStep(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238 Appendix B: time, SHA1, SHA256, SHA512 (8 digits, T0 = 0, X = 30).
    const APPENDIX_B: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];

    fn otp(algorithm: Algorithm, seed: &[u8], step: TimeStep, digits: u32) -> String {
        code_at(algorithm, seed, step, digits).unwrap()
    }

    #[test]
    fn rfc6238_appendix_b_vectors() {
        for (time, sha1, sha256, sha512) in APPENDIX_B {
            let step = TimeStep::at(time);
            assert_eq!(otp(Algorithm::Sha1, SEED_SHA1, step, 8), sha1, "SHA1 at {time}");
            assert_eq!(otp(Algorithm::Sha256, SEED_SHA256, step, 8), sha256, "SHA256 at {time}");
            assert_eq!(otp(Algorithm::Sha512, SEED_SHA512, step, 8), sha512, "SHA512 at {time}");
        }
    }

    #[test]
    fn six_digit_codes_are_the_low_digits_of_the_rfc_values() {
        // Truncation to 6 digits is the same value modulo 10^6.
        for (time, sha1, _, _) in APPENDIX_B {
            assert_eq!(otp(Algorithm::Sha1, SEED_SHA1, TimeStep::at(time), 6), sha1[2..]);
        }
    }

    #[test]
    fn accepts_one_step_either_side_and_reports_which() {
        let now = 1_111_111_111;
        let current = TimeStep::at(now);
        for offset in [-1i64, 0, 1] {
            let step = TimeStep((current.0 as i64 + offset) as u64);
            let code = otp(Algorithm::Sha1, SEED_SHA1, step, DIGITS);
            assert_eq!(
                matching_step(TotpParams::DEFAULT, SEED_SHA1, &code, now),
                Some(step),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn refuses_codes_two_steps_away_and_wrong_codes() {
        let now = 1_111_111_111;
        let current = TimeStep::at(now).0;
        // The window around this instant holds no code equal to the codes
        // two steps away (checked, so the refusal below is always asserted).
        let inside: Vec<String> = (current - 1..=current + 1)
            .map(|s| otp(Algorithm::Sha1, SEED_SHA1, TimeStep(s), DIGITS))
            .collect();
        for step in [current - 2, current + 2] {
            let code = otp(Algorithm::Sha1, SEED_SHA1, TimeStep(step), DIGITS);
            assert!(!inside.contains(&code), "pick another instant: step {step} collides");
            assert_eq!(
                matching_step(TotpParams::DEFAULT, SEED_SHA1, &code, now),
                None,
                "step {step}"
            );
        }
        let right = otp(Algorithm::Sha1, SEED_SHA1, TimeStep(current), DIGITS);
        let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
        assert_eq!(matching_step(TotpParams::DEFAULT, SEED_SHA1, &wrong, now), None);
        assert_eq!(matching_step(TotpParams::DEFAULT, SEED_SHA1, "", now), None);
        assert_eq!(
            matching_step(TotpParams::DEFAULT, SEED_SHA1, &format!("{right}0"), now),
            None
        );
    }

    #[test]
    fn digits_outside_what_a_u32_holds_are_refused() {
        assert_eq!(code_at(Algorithm::Sha1, SEED_SHA1, TimeStep(1), 0), None);
        assert_eq!(code_at(Algorithm::Sha1, SEED_SHA1, TimeStep(1), 10), None);
        assert_eq!(otp(Algorithm::Sha1, SEED_SHA1, TimeStep(1), 9).len(), 9);
        assert_eq!(otp(Algorithm::Sha1, SEED_SHA1, TimeStep(1), 1).len(), 1);
    }

    #[test]
    fn steps_past_the_last_representable_second_match_nothing() {
        let last = u64::MAX;
        let step = TimeStep::at(last);
        assert_eq!(code_at(Algorithm::Sha1, SEED_SHA1, TimeStep(step.0 + 1), DIGITS), None);
        let code = otp(Algorithm::Sha1, SEED_SHA1, step, DIGITS);
        assert_eq!(matching_step(TotpParams::DEFAULT, SEED_SHA1, &code, last), Some(step));
    }

    #[test]
    fn works_at_the_epoch_without_underflow() {
        let code = otp(Algorithm::Sha1, SEED_SHA1, TimeStep(0), DIGITS);
        assert_eq!(
            matching_step(TotpParams::DEFAULT, SEED_SHA1, &code, 0),
            Some(TimeStep(0))
        );
    }

    #[test]
    fn keys_of_other_parameters_match_their_own_codes() {
        // RFC 6238's counter at time 59 is 1; a 60-second key reaches
        // counter 1 at 60..119, with the same code.
        let (time, _, sha256, sha512) = APPENDIX_B[0];
        let counter = TimeStep::at(time);
        let sha256_8_60 = TotpParams::new(Algorithm::Sha256, 8, 60).unwrap();
        assert_eq!(matching_step(sha256_8_60, SEED_SHA256, sha256, 60 + 59), Some(counter));
        assert_eq!(
            matching_step(sha256_8_60, SEED_SHA256, sha256, 60 + 60 + 59),
            Some(counter),
            "skew"
        );
        assert_eq!(
            matching_step(sha256_8_60, SEED_SHA256, sha256, 60 * 4),
            None,
            "two steps on"
        );
        assert_eq!(
            matching_step(sha256_8_60, SEED_SHA256, &sha256[2..], 60),
            None,
            "6 digits of an 8-digit key"
        );
        let sha512_8_30 = TotpParams::new(Algorithm::Sha512, 8, 30).unwrap();
        assert_eq!(matching_step(sha512_8_30, SEED_SHA512, sha512, time), Some(counter));
        assert_eq!(matching_step(TotpParams::DEFAULT, SEED_SHA512, sha512, time), None);
    }

    #[test]
    fn only_what_apps_implement_is_a_parameter_set() {
        assert_eq!(TotpParams::new(Algorithm::Sha1, 6, 30), Some(TotpParams::DEFAULT));
        assert!(TotpParams::new(Algorithm::Sha1, 7, 30).is_none());
        assert!(TotpParams::new(Algorithm::Sha1, 6, 45).is_none());
        assert!(TotpParams::new(Algorithm::Sha1, 9, 60).is_none());
        let params = TotpParams::new(Algorithm::Sha512, 8, 60).unwrap();
        assert_eq!(params.encode(), "SHA512:8:60");
        assert_eq!(TotpParams::decode("SHA512:8:60"), Some(params));
        assert_eq!(TotpParams::decode("sha1:6:30"), Some(TotpParams::DEFAULT));
        for bad in [
            "",
            "SHA1",
            "SHA1:6",
            "SHA1:6:30:1",
            "MD5:6:30",
            "SHA1:7:30",
            "SHA1:6:31",
        ] {
            assert_eq!(TotpParams::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn replay_counters_share_one_scale_across_periods() {
        let sixty = TotpParams::new(Algorithm::Sha1, 6, 60).unwrap();
        assert_eq!(TotpParams::DEFAULT.replay_counter(TimeStep(7)), 7);
        assert_eq!(sixty.replay_counter(TimeStep(7)), 14);
        // The 60-second step that holds second 3600 starts with the 30-second step that does.
        let at = 3600;
        assert_eq!(
            sixty.replay_counter(sixty.step_at(at)),
            TotpParams::DEFAULT.replay_counter(TotpParams::DEFAULT.step_at(at))
        );
        assert_eq!(sixty.replay_counter(TimeStep(u64::MAX)), u64::MAX);
    }
}
