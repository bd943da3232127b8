//! Creates the table on a local DynamoDB (for `make dev` and `make test`):
//! `cargo run --example create_table -- <table-name>`, endpoint from
//! `AWS_ENDPOINT_URL_DYNAMODB`. In AWS, template.yaml creates it.

use totp_lambda::store::dynamo::ensure_table;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = std::env::args().nth(1).ok_or("usage: create_table <table-name>")?;
    let sdk = totp_lambda::app::sdk_config().await;
    ensure_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await?;
    println!("table {table} is ready");
    Ok(())
}
