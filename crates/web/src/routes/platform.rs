//! `/api/v1/platform`: the platform operator's desk, outside every organisation.
//!
//! An operator (a user with the operator flag, created by `leadline user create --operator`)
//! creates, lists, suspends and resumes client organisations and sees the system's health. Nothing
//! here reads an organisation's leads, messages or settings: an operator reaches those only
//! through the organisation's own support grant (`/api/v1/support-grants`), request by request,
//! in its audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::{Email, Role, Tenant, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use store::{ActorKind, TenantRecord};

use crate::auth::{ClientIp, OperatorSession};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::{AppState, AuditEvent};

/// A client organisation, as the platform sees it: no settings, no data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrganisationView {
    pub id: TenantId,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Set while suspended: its keys and members are refused.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub suspended_at: Option<Timestamp>,
    /// Until when the organisation lets operators in (its strongest live support grant).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub support_access_until: Option<Timestamp>,
    /// The role that grant gives.
    pub support_role: Option<Role>,
}

async fn view(state: &AppState, org: TenantRecord) -> ApiResult<OrganisationView> {
    let now = state.engine.clock.wall_now();
    let grant = state.engine.store.live_support_grant(org.id, now).await?;
    Ok(OrganisationView {
        id: org.id,
        name: org.name,
        created_at: org.created_at,
        suspended_at: org.suspended_at,
        support_access_until: grant.as_ref().map(|g| g.expires_at),
        support_role: grant.map(|g| g.role),
    })
}

/// Every client organisation, oldest first.
#[utoipa::path(
    get, path = "/api/v1/platform/organisations", tag = "platform",
    responses(
        (status = 200, description = "The organisations", body = Vec<OrganisationView>),
        (status = 403, description = "Not a platform operator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn list_organisations(
    State(state): State<AppState>,
    _operator: OperatorSession,
) -> ApiResult<Json<Vec<OrganisationView>>> {
    let mut out = Vec::new();
    for org in state.engine.store.list_tenants().await? {
        out.push(view(&state, org).await?);
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganisation {
    /// 1 to 200 characters.
    pub name: String,
    /// Gets an invitation to join as the owner (single use, 7 days).
    pub owner_email: String,
}

/// A new organisation, and the invitation sent to its owner.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedOrganisation {
    #[serde(flatten)]
    pub organisation: OrganisationView,
    pub owner_invitation_id: uuid::Uuid,
    #[schema(value_type = String, format = DateTime)]
    pub owner_invitation_expires_at: Timestamp,
}

/// Creates a client organisation and invites its owner by email.
#[utoipa::path(
    post, path = "/api/v1/platform/organisations", tag = "platform", request_body = CreateOrganisation,
    responses(
        (status = 201, description = "Created; the owner is invited", body = CreatedOrganisation),
        (status = 403, description = "Not a platform operator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad name or email", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn create_organisation(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    operator: OperatorSession,
    body: ApiJson<CreateOrganisation>,
) -> ApiResult<(StatusCode, Json<CreatedOrganisation>)> {
    let CreateOrganisation { name, owner_email } = body.value;
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::field("name", "must be 1 to 200 characters"));
    }
    let email =
        Email::parse(&owner_email).map_err(|e| ApiError::field("owner_email", e.to_string()))?;
    let settings = store::TenantSettings {
        business_name: name.clone(),
        ..store::TenantSettings::default()
    };
    let store = &state.engine.store;
    let now = state.engine.clock.wall_now();
    let org = store.create_tenant(&name, &settings, now).await?;
    let tenant = Tenant::from_authenticated(org.id);
    let (invitation, expires_at) =
        super::accounts::send_invitation(&state, tenant, &org.name, &email, Role::Owner, None)
            .await?;
    state
        .audit(AuditEvent {
            tenant: Some(org.id),
            actor: (ActorKind::Operator, operator.user.to_string()),
            action: "organisation.create",
            target_kind: "organisation",
            target_id: org.id.to_string(),
            ip,
            detail: serde_json::json!({ "owner_invitation_id": invitation }),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedOrganisation {
            organisation: view(&state, org).await?,
            owner_invitation_id: invitation,
            owner_invitation_expires_at: expires_at,
        }),
    ))
}

async fn set_suspended(
    state: &AppState,
    operator: &OperatorSession,
    ip: Option<std::net::IpAddr>,
    id: TenantId,
    suspend: bool,
) -> ApiResult<Json<OrganisationView>> {
    let now = state.engine.clock.wall_now();
    let store = &state.engine.store;
    // An unknown id is the store's `NotFound`: 404.
    store
        .set_tenant_suspended(id, suspend.then_some(now))
        .await?;
    state
        .audit(AuditEvent {
            tenant: Some(id),
            actor: (ActorKind::Operator, operator.user.to_string()),
            action: if suspend {
                "organisation.suspend"
            } else {
                "organisation.resume"
            },
            target_kind: "organisation",
            target_id: id.to_string(),
            ip,
            detail: serde_json::json!({}),
        })
        .await?;
    let org = store
        .get_tenant(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(view(state, org).await?))
}

/// Suspends an organisation: its API keys and members are refused (403) until it is resumed.
/// Its data and queued work are kept.
#[utoipa::path(
    post, path = "/api/v1/platform/organisations/{id}/suspend", tag = "platform",
    params(("id" = String, Path, description = "The organisation")),
    responses(
        (status = 200, description = "Suspended", body = OrganisationView),
        (status = 403, description = "Not a platform operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn suspend_organisation(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    operator: OperatorSession,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<OrganisationView>> {
    set_suspended(&state, &operator, ip, id, true).await
}

/// Lifts a suspension.
#[utoipa::path(
    post, path = "/api/v1/platform/organisations/{id}/resume", tag = "platform",
    params(("id" = String, Path, description = "The organisation")),
    responses(
        (status = 200, description = "Resumed", body = OrganisationView),
        (status = 403, description = "Not a platform operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn resume_organisation(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    operator: OperatorSession,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<OrganisationView>> {
    set_suspended(&state, &operator, ip, id, false).await
}

/// The system as an operator sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SystemHealth {
    /// `ok`, or `degraded` when the database or its migrations are not.
    pub status: &'static str,
    pub version: &'static str,
    /// `sqlite` or `postgres`.
    pub database_backend: &'static str,
    /// `ok` or `unreachable`.
    pub database: &'static str,
    /// Whether every migration this binary knows is applied.
    pub migrations_current: bool,
    /// Jobs ready or running, across organisations.
    pub queue_depth: Option<i64>,
    pub organisations: usize,
    pub suspended_organisations: usize,
    /// Seconds since this process started.
    pub uptime_seconds: u64,
    /// Whether sends go to the sandbox instead of real providers.
    pub sandbox: bool,
}

/// The system's health: database, migrations, the job queue, organisations, this process.
#[utoipa::path(
    get, path = "/api/v1/platform/health", tag = "platform",
    responses(
        (status = 200, description = "Health", body = SystemHealth),
        (status = 403, description = "Not a platform operator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn health(
    State(state): State<AppState>,
    _operator: OperatorSession,
) -> ApiResult<Json<SystemHealth>> {
    let store = &state.engine.store;
    let database_ok = store.ping().await.is_ok();
    let migrations_current = database_ok && store.migrations_current().await.unwrap_or(false);
    let tenants = store.list_tenants().await.unwrap_or_default();
    Ok(Json(SystemHealth {
        status: if database_ok && migrations_current {
            "ok"
        } else {
            "degraded"
        },
        version: env!("CARGO_PKG_VERSION"),
        database_backend: store.backend(),
        database: if database_ok { "ok" } else { "unreachable" },
        migrations_current,
        queue_depth: store.queue_depth().await.ok(),
        organisations: tenants.len(),
        suspended_organisations: tenants.iter().filter(|t| t.suspended_at.is_some()).count(),
        uptime_seconds: state.started.elapsed().as_secs(),
        sandbox: state.sandbox.is_some(),
    }))
}
