//! Structured JSON logs. What is logged is chosen at the call sites, and
//! none of them log a key, a code, a token or a header.
//!
//! `RUST_LOG` (the template's `LogLevel`) chooses how much of this crate's
//! own logging is seen; it cannot make another crate log below `info`
//! (the AWS SDK below `warn`), because their debug and trace output carries
//! what ours never logs (read in the crates' sources, versions of Cargo.lock):
//! - `lambda_runtime::layers::api_response` logs every raw invocation event at
//!   trace ("raw JSON event received from Lambda": headers, Authorization
//!   included, and body), and `lambda_runtime::requests` the headers of a
//!   streamed response at trace;
//! - `aws_smithy_runtime::client::orchestrator` logs each request and response
//!   to AWS at trace (DynamoDB items carry sealed secrets; Secrets Manager
//!   responses carry the keys), `aws_sigv4` the signed request's headers at
//!   trace, `aws_runtime` configuration values at trace.

use tracing::level_filters::LevelFilter;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// This crate's own targets: the only ones `RUST_LOG` may open below `info`.
const OWN_TARGETS: [&str; 1] = ["totp_lambda"];

/// Every AWS SDK crate (`aws_config`, `aws_sdk_*`, `aws_sigv4`,
/// `aws_smithy_*`, `aws_runtime`, …): held at warn.
const AWS_TARGET_PREFIX: &str = "aws_";

/// The most any other crate may log.
const OTHERS_MAX: LevelFilter = LevelFilter::INFO;
const AWS_MAX: LevelFilter = LevelFilter::WARN;

/// The crates whose raw-event logging is found above, capped by name
/// beside the default level.
const RUNTIME_TARGETS: [&str; 2] = ["lambda_runtime", "lambda_http"];

fn is_own(target: &str) -> bool {
    OWN_TARGETS
        .iter()
        .any(|own| target == *own || target.starts_with(&format!("{own}::")))
}

/// The most `target` may log, whatever `RUST_LOG` says.
fn cap(target: &str) -> LevelFilter {
    if is_own(target) {
        LevelFilter::TRACE
    } else if target.starts_with(AWS_TARGET_PREFIX) {
        AWS_MAX
    } else {
        OTHERS_MAX
    }
}

/// `directives` (EnvFilter syntax) with every other crate capped: a default
/// level applies in full to this crate and at most `info` to the others; a
/// target's level is capped by [`cap`]; span and field filters (`[span]`,
/// `{field}`) are dropped, since a matching span would enable every event
/// inside it, whatever its target. Nothing usable left: `info`.
fn clamp(directives: &str) -> String {
    let mut default: Option<LevelFilter> = None;
    let mut targets: Vec<String> = Vec::new();
    for directive in directives.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if directive.contains('[') || directive.contains('{') {
            continue;
        }
        let (target, level) = match directive.split_once('=') {
            Some((target, level)) => (Some(target.trim()), level.trim()),
            None if directive.parse::<LevelFilter>().is_ok() => (None, directive),
            // A target alone enables it at every level.
            None => (Some(directive), "trace"),
        };
        let Ok(level) = level.parse::<LevelFilter>() else {
            continue;
        };
        match target {
            None => default = Some(level),
            Some(target) if !target.is_empty() => targets.push(format!("{target}={}", level.min(cap(target)))),
            Some(_) => {}
        }
    }
    // Nothing usable: info, not silence (the alarms count the request lines).
    if default.is_none() && targets.is_empty() {
        default = Some(LevelFilter::INFO);
    }
    // The default first, its caps next, then the targets: a later directive
    // for the same target replaces an earlier one, and the targets' levels
    // are capped already.
    let mut kept: Vec<String> = Vec::new();
    if let Some(level) = default {
        kept.push(level.min(OTHERS_MAX).to_string());
        kept.extend(OWN_TARGETS.iter().map(|own| format!("{own}={level}")));
        kept.extend(RUNTIME_TARGETS.iter().map(|t| format!("{t}={}", level.min(OTHERS_MAX))));
        kept.push(format!("{AWS_TARGET_PREFIX}={}", level.min(AWS_MAX)));
    }
    kept.extend(targets);
    kept.join(",")
}

/// Info by default. Whatever `directives` say, no crate but this one logs
/// below info, and the AWS SDK below warn (see the module's documentation).
pub fn filter(directives: &str) -> EnvFilter {
    EnvFilter::new(clamp(directives))
}

/// One JSON object per line, event fields at the top level.
pub fn subscriber<W>(writer: W, filter: EnvFilter) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// Logs to stdout (CloudWatch in Lambda), level from `RUST_LOG`.
pub fn init() {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stdout, filter(&directives)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What the crates log at the call sites found in their sources (same
    /// targets, levels and messages), and two lines of ours.
    fn emit() {
        let event = r#"{"headers":{"authorization":"Bearer P2X:eyJsecret"},"body":"{\"code\":\"123456\"}"}"#;
        tracing::trace!(target: "lambda_runtime::layers::api_response", body = event, "raw JSON event received from Lambda");
        tracing::trace!(target: "lambda_runtime::requests", metadata_prelude = "authorization", "prelude");
        tracing::debug!(target: "lambda_runtime::runtime", "runtime debug");
        tracing::trace!(target: "lambda_http::request", "lambda_http trace");
        tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", request = "PutItem body", "transmitting request");
        tracing::trace!(target: "aws_sigv4::http_request::sign", canonical_request = "x-amz-security-token", "calculated signing parameters");
        tracing::info!(target: "aws_config::profile", "aws info");
        tracing::trace!(target: "hyper_util::client::legacy::pool", "hyper trace");
        tracing::debug!(target: "h2::codec::framed_read", "h2 debug");
        let span = tracing::info_span!(target: "lambda_runtime::layers::trace", "Lambda runtime invoke");
        span.in_scope(|| {
            tracing::trace!(target: "lambda_runtime::layers::api_response", "inside the invoke span");
        });
        tracing::info!(target: "lambda_runtime::runtime", "runtime info");
        tracing::warn!(target: "aws_smithy_runtime::client::retries", "aws warn");
        tracing::trace!(target: "totp_lambda::service", "our trace");
        tracing::info!(target: "totp_lambda::http", "our info");
    }

    /// The messages logged under `directives`.
    fn logged(directives: &str) -> Vec<String> {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = subscriber(move || writer.clone(), filter(directives));
        tracing::subscriber::with_default(subscriber, || {
            tracing::callsite::rebuild_interest_cache();
            emit();
        });
        let text = String::from_utf8(capture.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|line| line["message"].as_str().map(str::to_owned))
            .collect()
    }

    #[test]
    fn trace_cannot_make_the_runtime_or_the_sdk_log_events_bodies_or_headers() {
        let only_safe = ["runtime info", "aws warn", "our trace", "our info"];
        for directives in [
            "trace",
            "trace,lambda_runtime=trace,lambda_http=trace,aws_smithy_runtime=trace,aws_sigv4=trace",
            "lambda_runtime::layers::api_response=trace,lambda_runtime::requests,hyper_util=trace,h2=debug,trace",
            "trace,[Lambda runtime invoke]=trace,lambda_runtime[Lambda runtime invoke]=trace",
            "trace,{body}=trace",
        ] {
            assert_eq!(logged(directives), only_safe, "RUST_LOG={directives}");
        }
    }

    #[test]
    fn the_level_still_chooses_how_much_of_our_own_logging_is_seen() {
        assert_eq!(logged("info"), ["runtime info", "aws warn", "our info"]);
        assert_eq!(logged("debug"), ["runtime info", "aws warn", "our info"]);
        assert_eq!(logged("warn"), ["aws warn"]);
        assert_eq!(
            logged("info,totp_lambda=trace"),
            ["runtime info", "aws warn", "our trace", "our info"]
        );
        assert_eq!(logged("totp_lambda::service=trace,warn"), ["aws warn", "our trace"]);
        assert_eq!(
            logged("info,aws_config=info,lambda_runtime=warn"),
            ["aws warn", "our info"]
        );
        // Nothing usable: info, not silence (the alarms count the request lines).
        assert_eq!(logged("[span]=trace"), ["runtime info", "aws warn", "our info"]);
        assert_eq!(logged("off"), Vec::<String>::new());
    }

    #[test]
    fn clamped_directives_read_as_expected() {
        assert_eq!(
            clamp("trace"),
            "info,totp_lambda=trace,lambda_runtime=info,lambda_http=info,aws_=warn"
        );
        assert_eq!(
            clamp("lambda_runtime::layers::api_response=trace,aws_sdk_dynamodb=debug,totp_lambda::http=debug"),
            "lambda_runtime::layers::api_response=info,aws_sdk_dynamodb=warn,totp_lambda::http=debug"
        );
        assert_eq!(
            clamp("hyper=trace,error"),
            "error,totp_lambda=error,lambda_runtime=error,lambda_http=error,aws_=error,hyper=info"
        );
        assert_eq!(clamp("nonsense=loud,,"), clamp("info"));
    }
}
