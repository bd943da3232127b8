//! The integration tests, in one test binary: each file of tests/ is a module
//! here, but logs.rs, whose log capture needs a binary of its own. One
//! binary links the SDK once instead of sixteen times (`make test`'s link
//! time, docs/testing.md) and starts one DynamoDB Local when none is given.

mod common;

mod bad_input;
mod deploy_secrets;
mod descope_compat;
mod errors;
mod events;
mod fuzz_seeds;
mod key_split;
mod management;
mod qr_image;
mod races;
mod recovery;
mod sealing;
mod secrets_manager;
mod security;
mod sessions;
mod signup_verify;
