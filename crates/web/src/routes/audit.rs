//! `/api/v1/audit`: the organisation's audit log, newest first.

use axum::Json;
use axum::extract::State;
use domain::{AuditId, Timestamp};
use serde::{Deserialize, Serialize};
use store::{ActorKind, AuditChain};

use super::leads::parse_limit;
use crate::AppState;
use crate::auth::{Auth, scope};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListAudit {
    /// Entries before this position (`seq` of the last entry of the previous page).
    pub before: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<String>,
}

/// One audit entry, with the hashes that chain it to the one before.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    /// Position in the organisation's chain, from 1.
    pub seq: i64,
    pub id: AuditId,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub ip: Option<String>,
    pub correlation_id: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// Hex SHA-256 of the entry before (zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 over `prev_hash` and this entry.
    pub hash: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditView>,
    /// Pass as `before` for the next (older) page; absent on the last.
    pub next_before: Option<i64>,
}

/// Lists the organisation's audit log, newest first (owners and admins, or an API key with
/// `audit:read`).
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit", params(ListAudit),
    responses(
        (status = 200, description = "Audit entries", body = AuditPage),
        (status = 403, description = "The role or key may not read the audit log", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["audit:read"]), ("session" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth<scope::AuditRead>,
    ApiQuery(q): ApiQuery<ListAudit>,
) -> ApiResult<Json<AuditPage>> {
    let limit = parse_limit(q.limit.as_deref())?;
    let before = q
        .before
        .as_deref()
        .map(|b| {
            b.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::field("before", "must be a positive whole number"))
        })
        .transpose()?;
    let entries = state
        .engine
        .store
        .list_audit(AuditChain::Tenant(auth.tenant.id()), before, limit)
        .await?;
    let next_before = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    let data = entries
        .into_iter()
        .map(|e| AuditView {
            seq: e.seq,
            id: e.entry.id,
            at: e.entry.at,
            actor_kind: e.entry.actor_kind,
            actor_id: e.entry.actor_id,
            action: e.entry.action,
            target_kind: e.entry.target_kind,
            target_id: e.entry.target_id,
            ip: e.entry.ip,
            correlation_id: e.entry.correlation_id,
            detail: e.entry.detail,
            prev_hash: hex::encode(&e.prev_hash),
            hash: hex::encode(&e.hash),
        })
        .collect();
    Ok(Json(AuditPage { data, next_before }))
}
