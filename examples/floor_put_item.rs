//! `make bench`'s second floor: a lambda_http function as the AWS SDK's
//! own examples write it: the default configuration chain
//! (`aws_config::load_from_env`, profile files and all) and one DynamoDB
//! `PutItem` per request into `TABLE_NAME`. A function that stores
//! anything cannot start for less unless it sets the SDK up differently;
//! `make bench` shows signup and verify as a ratio to it. Not deployed.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{service_fn, Body, Error, Request, RequestExt, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("TABLE_NAME")?;
    let (client, table) = (&client, table.as_str());
    lambda_http::run(service_fn(move |request: Request| async move {
        let id = request
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default();
        client
            .put_item()
            .table_name(table)
            .item("pk", AttributeValue::S(format!("FLOOR#{id}")))
            .send()
            .await?;
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .map_err(Error::from)
    }))
    .await
}
