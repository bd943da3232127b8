//! Creates the table (with its stream) and, if named, the audit table on a
//! local DynamoDB (for `make dev` and `make test`):
//! `cargo run --example create_table -- <table-name> [<audit-table-name>]`,
//! endpoint from `AWS_ENDPOINT_URL_DYNAMODB`. In AWS, template.yaml creates them.

use totp_lambda::store::dynamo::{ensure_audit_table, ensure_table};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let table = args
        .next()
        .ok_or("usage: create_table <table-name> [<audit-table-name>]")?;
    let sdk = totp_lambda::app::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    ensure_table(&client, &table).await?;
    println!("table {table} is ready");
    if let Some(audit) = args.next() {
        ensure_audit_table(&client, &audit).await?;
        println!("audit table {audit} is ready");
    }
    Ok(())
}
