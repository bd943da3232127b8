//! Structured JSON logs. What is logged is chosen at the call sites, and
//! none of them log a key, a code, a token or a header.

use tracing_subscriber::EnvFilter;

/// JSON lines on stdout (CloudWatch), level from `RUST_LOG` (default info).
/// The AWS SDK is held at warn: its debug output can include request bodies.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("aws_smithy_runtime=warn".parse().unwrap_or_default())
        .add_directive("aws_sdk_dynamodb=warn".parse().unwrap_or_default());
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .init();
}
