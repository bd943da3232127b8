//! CORS: which browser origins may call the API, and with what.
//!
//! In AWS the HTTP API applies this policy itself (template.yaml's
//! `CorsConfiguration`, built from the same `ALLOWED_ORIGINS`): it answers
//! preflights without calling a function and ignores CORS headers that a
//! function returns. Locally `cargo lambda watch --disable-cors` leaves CORS
//! to the functions, and this module gives browsers the same answers, so a
//! page that works under `make dev` works against the deployed API and a page
//! that is refused in AWS is refused locally too.
//!
//! The lists below are what `@descope/web-js-sdk` sends and reads: every
//! request carries `Authorization`, `Content-Type` (with a JSON body) and its
//! `x-descope-*` headers, with `credentials: 'include'` unless the app sets
//! `cookiePolicy`, so credentials must be allowed; on a 429 it reads
//! `Retry-After`, so that header is exposed.

use lambda_http::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use super::HandlerResult;

/// Methods of the API's routes (and the preflight's own).
pub const ALLOW_METHODS: [&str; 3] = ["GET", "POST", "OPTIONS"];
/// Request headers Descope's JavaScript SDKs send (core-js-sdk's HTTP client
/// and web-js-sdk's enhancers), lowercase.
pub const ALLOW_HEADERS: [&str; 10] = [
    "authorization",
    "content-type",
    "x-descope-sdk-name",
    "x-descope-sdk-version",
    "x-descope-sdk-session-id",
    "x-descope-project-id",
    "x-descope-refresh-cookie-name",
    "x-descope-flow-nonce",
    "x-descope-trusted-device-token",
    "x-descope-known-device-token",
];
/// Response headers scripts may read beyond the safelisted ones.
pub const EXPOSE_HEADERS: [&str; 1] = ["retry-after"];
/// How long a browser may cache a preflight answer.
pub const MAX_AGE_SECONDS: u32 = 600;
/// The SDK sends `credentials: 'include'` by default; the service sets no
/// cookie and reads none, so this grants nothing beyond letting those
/// requests through.
pub const ALLOW_CREDENTIALS: bool = true;

/// A CORS preflight: OPTIONS with `Origin` and `Access-Control-Request-Method`
/// (what API Gateway answers by itself). Any other OPTIONS reaches the route,
/// which refuses the method.
fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The request's `Origin` when it is one of `allowed` (exact match: browsers
/// send origins lowercase and without a default port, as the configuration
/// requires them to be written).
fn allowed_origin<'a>(allowed: &[String], request: &'a Request) -> Option<&'a HeaderValue> {
    let origin = request.headers().get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    allowed.iter().any(|o| o == text).then_some(origin)
}

fn join(values: &[&str]) -> HeaderValue {
    HeaderValue::from_str(&values.join(",")).unwrap_or(HeaderValue::from_static(""))
}

fn add_common(response: &mut Response<Body>, origin: Option<&HeaderValue>) {
    let headers = response.headers_mut();
    // Answers differ by Origin: no cache may serve one origin's answer to another.
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if ALLOW_CREDENTIALS {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

/// 204 to every preflight, as API Gateway answers; the Access-Control-*
/// headers only for an allowed origin, so the browser refuses the others.
fn preflight(allowed: &[String], request: &Request) -> Response<Body> {
    let origin = allowed_origin(allowed, request);
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    add_common(&mut response, origin);
    if origin.is_some() {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, join(&ALLOW_METHODS));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, join(&ALLOW_HEADERS));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(MAX_AGE_SECONDS));
    }
    response
}

/// Runs `handler` under the CORS policy of `allowed`: answers a preflight
/// itself, and marks the response to an allowed origin's request as readable
/// by that origin. Without any allowed origin it changes nothing.
pub(crate) async fn with_cors<F>(allowed: &[String], request: Request, handler: F) -> HandlerResult
where
    F: AsyncFnOnce(Request) -> HandlerResult,
{
    if allowed.is_empty() {
        return handler(request).await;
    }
    if is_preflight(&request) {
        let response = preflight(allowed, &request);
        let request_id = request
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default();
        let origin_allowed = response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN);
        tracing::info!(
            request_id,
            route = "preflight",
            status = response.status().as_u16(),
            origin_allowed,
            "request"
        );
        return Ok(response);
    }
    let origin = allowed_origin(allowed, &request).cloned();
    let mut response = handler(request).await?;
    add_common(&mut response, origin.as_ref());
    if origin.is_some() {
        response.headers_mut().insert(
            HeaderName::from_static("access-control-expose-headers"),
            join(&EXPOSE_HEADERS),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    const APP: &str = "https://app.example.com";

    fn allowed() -> Vec<String> {
        vec![APP.to_owned(), "http://127.0.0.1:8080".to_owned()]
    }

    fn request(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().method(method).uri("/v1/auth/totp/signup");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::Empty).unwrap()
    }

    fn preflight_from(origin: &str) -> Request {
        request(
            Method::OPTIONS,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type,x-descope-sdk-name",
                ),
            ],
        )
    }

    /// A route that answers 200, counting how often it ran.
    async fn run(allowed: &[String], request: Request) -> (Response<Body>, bool) {
        let mut ran = false;
        let response = with_cors(allowed, request, async |_| {
            ran = true;
            let mut response = Response::new(Body::Text("{}".into()));
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            Ok(response)
        })
        .await
        .unwrap();
        (response, ran)
    }

    fn header_of<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn an_allowed_origins_preflight_is_answered_with_the_policy() {
        let (response, ran) = run(&allowed(), preflight_from(APP)).await;
        assert!(!ran, "a preflight never reaches the route");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(header_of(&response, "access-control-allow-origin"), Some(APP));
        assert_eq!(header_of(&response, "access-control-allow-credentials"), Some("true"));
        assert_eq!(
            header_of(&response, "access-control-allow-methods"),
            Some("GET,POST,OPTIONS")
        );
        let headers = header_of(&response, "access-control-allow-headers").unwrap();
        for name in [
            "authorization",
            "content-type",
            "x-descope-sdk-name",
            "x-descope-sdk-version",
            "x-descope-project-id",
        ] {
            assert!(headers.split(',').any(|h| h == name), "{name} missing from {headers}");
        }
        assert_eq!(header_of(&response, "access-control-max-age"), Some("600"));
        assert_eq!(header_of(&response, "vary"), Some("origin"));
    }

    #[tokio::test]
    async fn another_origins_preflight_gets_no_cors_headers() {
        for origin in [
            "https://evil.example.com",
            "https://app.example.com.evil.example",
            "http://app.example.com",
            "https://APP.example.com",
            "null",
            "http://127.0.0.1:8081",
        ] {
            let (response, ran) = run(&allowed(), preflight_from(origin)).await;
            assert!(!ran);
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            assert!(
                !response
                    .headers()
                    .keys()
                    .any(|k| k.as_str().starts_with("access-control-")),
                "{origin}: {:?}",
                response.headers()
            );
        }
    }

    #[tokio::test]
    async fn an_allowed_origins_request_is_readable_by_it() {
        let post = request(Method::POST, &[("origin", "http://127.0.0.1:8080")]);
        let (response, ran) = run(&allowed(), post).await;
        assert!(ran);
        assert_eq!(
            header_of(&response, "access-control-allow-origin"),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(header_of(&response, "access-control-allow-credentials"), Some("true"));
        assert_eq!(
            header_of(&response, "access-control-expose-headers"),
            Some("retry-after")
        );
        assert_eq!(header_of(&response, "vary"), Some("origin"));
    }

    #[tokio::test]
    async fn other_requests_are_served_without_cors_headers() {
        let requests = [
            request(Method::POST, &[("origin", "https://evil.example.com")]),
            request(Method::POST, &[]),
        ];
        for request in requests {
            let (response, ran) = run(&allowed(), request).await;
            assert!(ran);
            assert!(!response
                .headers()
                .keys()
                .any(|k| k.as_str().starts_with("access-control-")));
        }
    }

    #[tokio::test]
    async fn an_options_request_that_is_no_preflight_reaches_the_route() {
        // No Access-Control-Request-Method: the route answers (405 in `serve`).
        let (_, ran) = run(&allowed(), request(Method::OPTIONS, &[("origin", APP)])).await;
        assert!(ran);
    }

    #[tokio::test]
    async fn without_allowed_origins_nothing_changes() {
        let (response, ran) = run(&[], preflight_from(APP)).await;
        assert!(ran, "no policy: the route answers OPTIONS as before");
        assert!(!response.headers().contains_key("access-control-allow-origin"));
        assert!(!response.headers().contains_key("vary"));
    }
}
