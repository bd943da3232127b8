//! A DynamoDB whose answers get lost: the request reaches the table and is
//! carried out, then the client sees a 500 instead of the answer, so the
//! SDK's own retry sends the same request again. This is what a timeout
//! after a write landed looks like to the functions.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// Loses the first answer to every distinct request whose body contains
/// `marker`; the retry of that request gets its answer.
#[derive(Debug, Clone)]
pub struct LoseFirstAnswer {
    marker: &'static str,
    seen: Arc<Mutex<HashSet<Vec<u8>>>>,
    pub lost: Arc<AtomicUsize>,
}

impl LoseFirstAnswer {
    pub fn to_requests_with(marker: &'static str) -> Self {
        LoseFirstAnswer {
            marker,
            seen: Arc::default(),
            lost: Arc::default(),
        }
    }

    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Intercept for LoseFirstAnswer {
    fn name(&self) -> &'static str {
        "LoseFirstAnswer"
    }

    // The request is gone once sent: decide before it is.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(body) = context.request().body().bytes() else {
            return Ok(());
        };
        let marked = body.windows(self.marker.len()).any(|w| w == self.marker.as_bytes());
        let first = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(body.to_vec());
        cfg.interceptor_state().store_put(LoseThisAnswer(marked && first));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<LoseThisAnswer>().is_some_and(|lose| lose.0) {
            *context.response_mut().status_mut() = StatusCode::try_from(500)?;
            self.lost.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct LoseThisAnswer(bool);

impl Storable for LoseThisAnswer {
    type Storer = StoreReplace<Self>;
}

/// A DynamoDB client with the functions' own configuration whose answers
/// to requests containing `marker` are lost once each.
pub async fn client_losing(endpoint: &str, lose: &LoseFirstAnswer) -> aws_sdk_dynamodb::Client {
    let shared = super::local_sdk_config(endpoint).await;
    let config = aws_sdk_dynamodb::config::Builder::from(&shared)
        .interceptor(lose.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
