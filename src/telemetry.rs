//! Structured JSON logs. What is logged is chosen at the call sites, and
//! none of them log a key, a code, a token or a header.

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Info by default; the AWS SDK held at warn, since its debug output can
/// include request bodies (which carry sealed secrets).
pub fn filter(directives: &str) -> EnvFilter {
    let mut filter = EnvFilter::new(directives);
    for quiet in [
        "aws_smithy_runtime=warn",
        "aws_sdk_dynamodb=warn",
        "aws_sdk_secretsmanager=warn",
    ] {
        if let Ok(directive) = quiet.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
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
