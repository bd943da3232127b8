//! Whether any item still names an encryption key: run before removing a key
//! from the encryption keys document (docs/keys.md, "Rotating the encryption key").
//! `cargo run --example key_usage -- <table-name> <key-id>`; AWS credentials
//! and region from the environment (or AWS_ENDPOINT_URL_DYNAMODB locally).

use totp_lambda::store::dynamo::key_usage;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(table), Some(key_id)) = (args.next(), args.next()) else {
        return Err("usage: key_usage <table-name> <key-id>".into());
    };
    let sdk = totp_lambda::app::sdk_config().await;
    let usage = key_usage(&aws_sdk_dynamodb::Client::new(&sdk), &table, &key_id).await?;
    println!(
        "{} item(s) name key {key_id}; {} of them hold a v1 seal",
        usage.items, usage.v1_seals
    );
    if usage.items == 0 {
        println!("no item names it: it may be removed from the keys document");
    }
    Ok(())
}
