//! Middleware: correlation ids, request logs without personal data, timeouts, and the rule
//! that every error answer is problem+json, even the ones axum makes itself (405, a panic).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, REQUEST_ID};

const REQUEST_ID_HEADER: &str = "x-request-id";

/// Gives every request a correlation id (the client's `X-Request-Id` when it is sane), logs the
/// request by route template (never the raw path or query, which may carry a phone number), and
/// turns any error answer that is not problem+json into one.
pub async fn request_context(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = REQUEST_ID
        .scope(id.clone(), async move {
            let response = next.run(req).await;
            normalise(response)
        })
        .await;
    let mut response = response;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    tracing::info!(
        request_id = %id,
        %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// Rewrites an error answer that is not problem+json (axum's 405, an empty 4xx) into one.
fn normalise(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    // The dashboard answers its errors with pages of its own.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_problem || is_page {
        return response;
    }
    let mut error = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new(status, "method-not-allowed", "Method not allowed")
        }
        StatusCode::NOT_FOUND => ApiError::not_found(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(crate::extract::MAX_BODY),
        StatusCode::REQUEST_TIMEOUT => {
            ApiError::new(status, "timeout", "The request took too long")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::unsupported_media_type(),
        s if s.is_server_error() => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        ),
        _ => ApiError::new(status, "bad-request", "The request could not be served"),
    };
    error.status = status;
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut res = error.into_response();
    if let Some(allow) = allow {
        res.headers_mut().insert(header::ALLOW, allow);
    }
    res
}

/// 404 for paths no route serves.
pub async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Answers 408 when a request takes longer than the configured limit.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "The request took too long",
        )
        .into_response(),
    }
}

/// A panic in a handler becomes a 500 that says nothing of it.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
    )
    .into_response()
}

/// Headers every answer carries, and (with `cors`) CORS for the configured origins only.
///
/// The API serves JSON, so its content security policy allows nothing to load and nothing to
/// frame it; `nosniff` keeps browsers from reading JSON as HTML; no referrer leaves.
pub fn security_headers(
    router: axum::Router,
    security: &crate::HttpSecurity,
    cors: bool,
) -> axum::Router {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    use tower_http::set_header::SetResponseHeaderLayer;

    let fixed: [(HeaderName, &'static str); 4] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    let mut router = router;
    for (name, value) in fixed {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if security.hsts {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    if cors && !security.cors_origins.is_empty() {
        let cors = tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::AllowOrigin::list(
                security.cors_origins.clone(),
            ))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
            // Bearer tokens, not cookies: browsers send no credentials cross-origin.
            .allow_credentials(false)
            .max_age(std::time::Duration::from_secs(600));
        router = router.layer(cors);
    }
    router
}
