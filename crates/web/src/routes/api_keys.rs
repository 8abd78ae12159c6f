//! `/api/v1/api-keys`: an organisation's API keys, managed by its owners and admins.
//!
//! Keys are managed only by signed-in users, never by another key (a key that could mint keys
//! could give itself every scope). The secret is shown once, at creation; afterwards a key is
//! known by its visible prefix.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::{ApiKeyId, Timestamp};
use serde::{Deserialize, Serialize};
use store::{API_SCOPES, ActorKind, ApiKeyRecord, NewApiKey};

use crate::auth::{ClientIp, UserSession};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::{AppState, AuditEvent};

/// An API key, without its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: ApiKeyId,
    pub name: String,
    /// The visible start of the key (`ll_...`), to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Updated at most once a minute.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(r: ApiKeyRecord) -> Self {
        Self {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            scopes: r.scopes,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// A new key: its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The whole key. It is not stored and cannot be shown again.
    pub secret: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for (`zapier`, `website form`).
    pub name: String,
    /// The scopes to grant; at least one.
    pub scopes: Vec<String>,
}

/// Lists the organisation's API keys, revoked ones included.
#[utoipa::path(
    get, path = "/api/v1/api-keys", tag = "api-keys",
    responses(
        (status = 200, description = "The keys, without secrets", body = Vec<ApiKeyView>),
        (status = 403, description = "Not an owner or admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    session: UserSession,
) -> ApiResult<Json<Vec<ApiKeyView>>> {
    session.require_admin("manage API keys")?;
    let keys = state.engine.store.list_api_keys(session.tenant).await?;
    Ok(Json(keys.into_iter().map(ApiKeyView::from).collect()))
}

/// Creates an API key; its secret is in this answer only.
#[utoipa::path(
    post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses(
        (status = 201, description = "Created", body = CreatedApiKey),
        (status = 403, description = "Not an owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad name or an unknown scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: UserSession,
    body: ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    session.require_admin("manage API keys")?;
    let CreateApiKey { name, scopes } = body.value;
    let name = name.trim().to_owned();
    let mut errors = Vec::new();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError {
            field: "name".into(),
            message: "must be 1 to 100 characters".into(),
        });
    }
    if scopes.is_empty() {
        errors.push(FieldError {
            field: "scopes".into(),
            message: "grant at least one scope".into(),
        });
    }
    for (i, scope) in scopes.iter().enumerate() {
        if !API_SCOPES.contains(&scope.as_str()) {
            errors.push(FieldError {
                field: format!("scopes[{i}]"),
                message: format!("unknown scope; known: {}", API_SCOPES.join(", ")),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let generated = crypto::generate_api_key();
    let record = state
        .engine
        .store
        .create_api_key(
            session.tenant,
            NewApiKey {
                id: ApiKeyId::new(),
                name,
                prefix: generated.prefix.clone(),
                hash: generated.hash.to_vec(),
                scopes,
                created_at: state.engine.clock.wall_now(),
            },
        )
        .await?;
    state
        .audit(AuditEvent {
            tenant: Some(session.tenant.id()),
            actor: (ActorKind::User, session.user.to_string()),
            action: "api_key.create",
            target_kind: "api_key",
            target_id: record.id.to_string(),
            ip,
            detail: serde_json::json!({ "prefix": record.prefix, "scopes": record.scopes }),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            key: record.into(),
            secret: generated.secret,
        }),
    ))
}

/// Revokes an API key at once.
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "The key")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: UserSession,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> ApiResult<StatusCode> {
    session.require_admin("manage API keys")?;
    state
        .engine
        .store
        .revoke_api_key(session.tenant, id, state.engine.clock.wall_now())
        .await?;
    state
        .audit(AuditEvent {
            tenant: Some(session.tenant.id()),
            actor: (ActorKind::User, session.user.to_string()),
            action: "api_key.revoke",
            target_kind: "api_key",
            target_id: id.to_string(),
            ip,
            detail: serde_json::json!({}),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
