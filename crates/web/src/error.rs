//! Error policy of the HTTP layer.
//!
//! Every error answer is RFC 9457 problem+json with the request's correlation id (also sent as
//! `X-Request-Id`). Input problems name the field: malformed ids and JSON are 400 (JSON with its
//! line and column), failed validation is 422 with one entry per field. Credentials are 401, a
//! missing scope 403, another tenant's or an unknown id 404. Server faults are 500/503 and say
//! nothing internal: the cause is logged with the correlation id instead.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

tokio::task_local! {
    /// The correlation id of the request being served.
    pub static REQUEST_ID: String;
}

/// The current request's correlation id, if inside a request.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a path into the request (`consent.purposes[1]`), or a parameter name.
    pub field: String,
    pub message: String,
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// A short slug: the problem `type` is `/problems/{kind}`.
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<u64>,
    pub www_authenticate: bool,
}

/// The problem+json body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    pub correlation_id: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str) -> Self {
        Self {
            status,
            kind,
            title,
            detail: None,
            errors: Vec::new(),
            retry_after: None,
            www_authenticate: false,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "The request is malformed",
        )
        .detail(detail)
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "The body is not valid JSON",
        )
        .detail(detail)
    }

    pub fn malformed_id(field: &str, kind: &str) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-id",
            "An id in the request is malformed",
        )
        .detail(format!("{field} is not a valid {kind} id"));
        e.errors.push(FieldError {
            field: field.to_owned(),
            message: format!("not a valid {kind} id"),
        });
        e
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "The request has invalid fields",
        );
        e.detail = Some(
            errors
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; "),
        );
        e.errors = errors;
        e
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn unauthorized() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or invalid credentials",
        )
        .detail("send an API key as `Authorization: Bearer <key>`");
        e.www_authenticate = true;
        e
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed").detail(detail)
    }

    /// 429 with `Retry-After` (at least one second) for a limit that resets in `retry_after`.
    pub fn rate_limited(
        title: &'static str,
        detail: &str,
        retry_after: jiff::SignedDuration,
    ) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", title).detail(detail);
        e.retry_after = Some(u64::try_from(retry_after.as_secs().max(1)).unwrap_or(1));
        e
    }

    /// The organisation is suspended by the platform's operator.
    pub fn suspended() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "organisation-suspended",
            "The organisation is suspended",
        )
        .detail("contact the operator of this Leadline server")
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found")
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "The body is too large",
        )
        .detail(format!("the limit is {} KiB", limit / 1024))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .detail("send `Content-Type: application/json`")
    }

    /// A server fault. `cause` is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        )
        .detail("the error was logged; quote the correlation id when you report it")
    }

    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "service unavailable");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
        )
        .detail("try again shortly");
        e.retry_after = Some(5);
        e
    }

    /// The problem+json body for this error.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.kind),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            correlation_id: request_id().unwrap_or_default(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl From<engine::EngineError> for ApiError {
    fn from(e: engine::EngineError) -> Self {
        match e {
            engine::EngineError::NotFound => ApiError::not_found(),
            engine::EngineError::IdempotencyMismatch => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-mismatch",
                "The Idempotency-Key was used with a different request",
            )
            .detail("send a new Idempotency-Key for a different request"),
            engine::EngineError::Store(db) => db.into(),
        }
    }
}

impl From<store::DbError> for ApiError {
    fn from(e: store::DbError) -> Self {
        match e {
            store::DbError::NotFound => ApiError::not_found(),
            store::DbError::IdempotencyMismatch => engine::EngineError::IdempotencyMismatch.into(),
            store::DbError::Unavailable(_) => ApiError::unavailable(&e),
            other => ApiError::internal(&other),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
