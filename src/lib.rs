//! totp-lambda: TOTP sign-up and sign-in on AWS Lambda and DynamoDB,
//! speaking Descope's TOTP wire format.
//!
//! The domain sits in the middle (`domain`, `totp`, `service`), storage
//! behind a small trait (`store`, with DynamoDB beside it), key material
//! (`secret_box`, `tokens`), and the HTTP edge (`http`) that the
//! `src/bin/*` Lambda functions call.

pub mod app;
pub mod audit;
pub mod config;
pub mod domain;
pub mod error;
pub mod feed;
pub mod http;
pub mod lockout;
pub mod management_keys;
pub mod otpauth;
pub mod recovery;
pub mod secret_box;
pub mod seed;
pub mod service;
pub mod settings;
pub mod store;
pub mod stream;
pub mod telemetry;
pub mod tokens;
pub mod totp;
