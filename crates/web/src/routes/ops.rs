//! Operations: liveness, readiness, metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrations: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        database: None,
        migrations: None,
    })
}

/// The process can serve: the database answers and its migrations are current.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let store = &state.engine.store;
    let database_ok = store.ping().await.is_ok();
    let migrations_ok = database_ok && store.migrations_current().await.unwrap_or(false);
    let health = Health {
        status: if database_ok && migrations_ok {
            "ok"
        } else {
            "unavailable"
        },
        database: Some(if database_ok { "ok" } else { "unreachable" }),
        migrations: Some(if migrations_ok {
            "current"
        } else if database_ok {
            "pending"
        } else {
            "unknown"
        }),
    };
    let status = if database_ok && migrations_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}

/// Prometheus metrics, on the public listener only with the configured bearer token.
pub async fn metrics_with_token(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.metrics_token else {
        return ApiError::not_found().into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let expected = token.expose_secret().as_bytes();
    if !bool::from(presented.as_bytes().ct_eq(expected)) {
        return ApiError::unauthorized().into_response();
    }
    render_metrics(&state).await
}

/// Prometheus metrics, as served on the separate `metrics_bind` listener.
pub async fn metrics_open(State(state): State<AppState>) -> Response {
    render_metrics(&state).await
}

async fn render_metrics(state: &AppState) -> Response {
    if let Ok(depth) = state.engine.store.queue_depth().await {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(engine::metrics::QUEUE_DEPTH).set(depth as f64);
    }
    if let Ok(staged) = state.engine.store.staged_audit_count().await {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(engine::metrics::AUDIT_STAGED).set(staged as f64);
    }
    match &state.prometheus {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => ApiError::not_found().into_response(),
    }
}
