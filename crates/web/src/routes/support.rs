//! `/api/v1/support-grants`: an organisation lets the platform's operators in, for a while.
//!
//! Operators sit outside every organisation and cannot read its data. When a client wants help,
//! one of its owners or admins gives a grant: a role (at most their own, never owner), a reason
//! and a duration. While it is live, an operator may call the organisation's API with
//! `X-Leadline-Organisation`, limited to that role, and every request they make is entered in the
//! organisation's audit log (`support.access`). Revoking it ends access at once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::{Role, SupportGrantId, Timestamp, UserId};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use store::{ActorKind, NewSupportGrant, SupportGrant};

use crate::auth::{ClientIp, UserSession};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::{AppState, AuditEvent};

/// The longest a grant may last.
pub const MAX_GRANT_HOURS: u32 = 7 * 24;
/// How long a grant lasts when the request does not say.
pub const DEFAULT_GRANT_HOURS: u32 = 24;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SupportGrantView {
    pub id: SupportGrantId,
    /// The most an operator may do under it.
    pub role: Role,
    pub reason: String,
    pub granted_by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    /// Whether operators may use it now.
    pub live: bool,
}

impl SupportGrantView {
    fn new(g: SupportGrant, now: Timestamp) -> Self {
        Self {
            live: g.is_live(now),
            id: g.id,
            role: g.role,
            reason: g.reason,
            granted_by: g.granted_by,
            created_at: g.created_at,
            expires_at: g.expires_at,
            revoked_at: g.revoked_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSupportGrant {
    /// At most the granter's own role, never `owner`; default `viewer`.
    pub role: Option<Role>,
    /// Why operators need access (1 to 500 characters); they see it, and it is audited.
    pub reason: String,
    /// 1 to 168; default 24.
    pub hours: Option<u32>,
}

/// Lets platform operators into this organisation for a while, with at most `role`.
#[utoipa::path(
    post, path = "/api/v1/support-grants", tag = "support", request_body = CreateSupportGrant,
    responses(
        (status = 201, description = "Granted", body = SupportGrantView),
        (status = 403, description = "Not an owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A role above the granter's or owner, a bad reason or duration", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: UserSession,
    body: ApiJson<CreateSupportGrant>,
) -> ApiResult<(StatusCode, Json<SupportGrantView>)> {
    session.require_admin("manage support access")?;
    let CreateSupportGrant {
        role,
        reason,
        hours,
    } = body.value;
    let role = role.unwrap_or(Role::Viewer);
    let reason = reason.trim().to_owned();
    let hours = hours.unwrap_or(DEFAULT_GRANT_HOURS);
    let mut errors = Vec::new();
    if role == Role::Owner || !session.role.at_least(role) {
        errors.push(FieldError {
            field: "role".into(),
            message: format!(
                "may be at most {}, and never owner",
                if session.role == Role::Owner {
                    Role::Admin
                } else {
                    session.role
                }
            ),
        });
    }
    if reason.is_empty() || reason.chars().count() > 500 {
        errors.push(FieldError {
            field: "reason".into(),
            message: "must be 1 to 500 characters".into(),
        });
    }
    if !(1..=MAX_GRANT_HOURS).contains(&hours) {
        errors.push(FieldError {
            field: "hours".into(),
            message: format!("must be 1 to {MAX_GRANT_HOURS}"),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = state.engine.clock.wall_now();
    let grant = state
        .engine
        .store
        .create_support_grant(
            session.tenant,
            NewSupportGrant {
                id: SupportGrantId::new(),
                role,
                reason,
                granted_by: session.user,
                created_at: now,
                expires_at: now + SignedDuration::from_hours(i64::from(hours)),
            },
        )
        .await?;
    state
        .audit(AuditEvent {
            tenant: Some(session.tenant.id()),
            actor: (ActorKind::User, session.user.to_string()),
            action: "support_grant.create",
            target_kind: "support_grant",
            target_id: grant.id.to_string(),
            ip,
            detail: serde_json::json!({
                "role": grant.role,
                "reason": grant.reason,
                "expires_at": grant.expires_at.to_string(),
            }),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(SupportGrantView::new(grant, now))))
}

/// The organisation's support grants, live and past, newest first.
#[utoipa::path(
    get, path = "/api/v1/support-grants", tag = "support",
    responses(
        (status = 200, description = "The grants", body = Vec<SupportGrantView>),
        (status = 403, description = "Not an owner or admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    session: UserSession,
) -> ApiResult<Json<Vec<SupportGrantView>>> {
    session.require_admin("manage support access")?;
    let now = state.engine.clock.wall_now();
    let grants = state
        .engine
        .store
        .list_support_grants(session.tenant)
        .await?;
    Ok(Json(
        grants
            .into_iter()
            .map(|g| SupportGrantView::new(g, now))
            .collect(),
    ))
}

/// Ends a grant now: operators' next requests are refused.
#[utoipa::path(
    delete, path = "/api/v1/support-grants/{id}", tag = "support",
    params(("id" = String, Path, description = "The grant")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not an owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live grant in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: UserSession,
    ApiPath(id): ApiPath<SupportGrantId>,
) -> ApiResult<StatusCode> {
    session.require_admin("manage support access")?;
    let now = state.engine.clock.wall_now();
    if !state
        .engine
        .store
        .revoke_support_grant(session.tenant, id, now)
        .await?
    {
        return Err(ApiError::not_found());
    }
    state
        .audit(AuditEvent {
            tenant: Some(session.tenant.id()),
            actor: (ActorKind::User, session.user.to_string()),
            action: "support_grant.revoke",
            target_kind: "support_grant",
            target_id: id.to_string(),
            ip,
            detail: serde_json::json!({}),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
