//! Starts every function's configuration the way its cold start does
//! (settings, key documents, for each function only the keys it reads) and
//! stops with that function's own message if one refuses: `make dev` runs
//! it first, so a refused value fails at once instead of leaving requests
//! waiting on a function that cannot start.

use totp_lambda::app::{self, Function};

#[tokio::main]
async fn main() {
    let sdk = app::sdk_config().await;
    let functions = [
        Function::Signup,
        Function::Verify,
        Function::Update,
        Function::Keys,
        Function::Sessions,
        Function::Management,
        Function::Users,
        Function::Audit,
    ];
    // Each refusal once, with the functions that share it.
    let mut refusals: Vec<(String, Vec<Function>)> = Vec::new();
    for function in functions {
        let started = app::build(function, &sdk).await.map(|_| ());
        let started = match (started, function) {
            (Ok(()), Function::Management | Function::Users | Function::Audit) => {
                app::management_keys(&sdk).await.map(|_| ())
            }
            (other, _) => other,
        };
        if let Err(error) = started {
            let message = error.to_string();
            match refusals.iter_mut().find(|(m, _)| *m == message) {
                Some((_, functions)) => functions.push(function),
                None => refusals.push((message, vec![function])),
            }
        }
    }
    for (message, functions) in &refusals {
        eprintln!("refused by {functions:?}: {message}");
    }
    if !refusals.is_empty() {
        std::process::exit(1);
    }
    println!("configuration accepted by every function");
}
