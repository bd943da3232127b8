//! Gives users registered before the userId pointer and the `byProject`
//! index existed both, so that load-by-userId and search find them: run
//! once after upgrading (docs/storage.md). Safe to run again.
//! `cargo run --example backfill_users -- <table-name>`; AWS credentials
//! and region from the environment (or AWS_ENDPOINT_URL_DYNAMODB locally).

use totp_lambda::store::dynamo::backfill_user_index;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(table) = std::env::args().nth(1) else {
        return Err("usage: backfill_users <table-name>".into());
    };
    let sdk = totp_lambda::app::sdk_config().await;
    let done = backfill_user_index(&aws_sdk_dynamodb::Client::new(&sdk), &table).await?;
    println!("{done} user(s) given a userId pointer and a place in the byProject index");
    Ok(())
}
