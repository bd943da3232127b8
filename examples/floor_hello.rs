//! `make bench`'s first floor: the smallest lambda_http function there is
//! (no AWS SDK, no keys, no storage), built with the project's release
//! profile, so each function's cold start, CPU and RSS read as a ratio to
//! what any lambda_http program costs. Not deployed.

use lambda_http::{service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from("{\"hello\":\"world\"}"))
            .map_err(Error::from)
    }))
    .await
}
