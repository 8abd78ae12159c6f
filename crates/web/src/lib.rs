//! The HTTP face of Leadline: the REST API under `/api/v1` (documented by OpenAPI at
//! `/api/v1/openapi.json`), the dashboard under `/app` ([`dashboard`]), health and readiness,
//! and metrics.
//!
//! Handlers authenticate through extractors that hand out a tenant scope ([`auth`]), parse input
//! at the edge into domain types, and call the engine; they never call a provider. Every error
//! is problem+json ([`error`]).

pub mod auth;
pub mod budget;
pub mod dashboard;
pub mod error;
pub mod extract;
mod middleware;
pub mod routes;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use domain::Tenant;
use engine::{Engine, SandboxClock};
use metrics_exporter_prometheus::PrometheusHandle;
use providers::sandbox::SandboxProvider;
use secrecy::SecretString;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;

/// The sandbox's moving parts, present unless in production mode.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub clock: Arc<SandboxClock>,
    pub provider: Arc<SandboxProvider>,
}

/// How users sign in.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The `iss` of access tokens (the public base URL, or `leadline`).
    pub issuer: String,
    /// The `aud` of access tokens.
    pub audience: String,
    /// Access tokens live this long (15 minutes).
    pub access_ttl: Duration,
    /// A refresh token unused this long stops working (30 days); each refresh starts it anew.
    pub refresh_ttl: Duration,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Whether anyone may create an organisation (`signup = "open"`); otherwise users join by
    /// invitation.
    pub signup_open: bool,
    /// The sender of account emails (password resets, invitations).
    pub email_from: String,
    /// The public address, for links in account emails (empty: the links are left out).
    pub public_base_url: String,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "leadline".to_owned(),
            audience: "leadline-api".to_owned(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 86_400),
            trusted_proxies: Vec::new(),
            signup_open: false,
            email_from: "no-reply@leadline.invalid".to_owned(),
            public_base_url: String::new(),
        }
    }
}

/// Browser-facing protections.
#[derive(Debug, Clone, Default)]
pub struct HttpSecurity {
    /// Origins allowed to call the API from a browser (CORS). Never a wildcard: the list is
    /// exact origins. Empty: no cross-origin access.
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// Send `Strict-Transport-Security` (when the public address is https).
    pub hsts: bool,
}

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Signs and verifies access tokens; keys the rate-limit counters.
    pub cipher: crypto::Cipher,
    pub auth: AuthSettings,
    pub http: HttpSecurity,
    pub sandbox: Option<Sandbox>,
    pub prometheus: Option<PrometheusHandle>,
    /// When set, `/metrics` on the public listener answers to this bearer token.
    pub metrics_token: Option<SecretString>,
    pub key_usage: Arc<auth::KeyUsage>,
    /// Request budgets per API key and organisation, and this process's counts against them.
    pub budgets: budget::Budgets,
    pub budget_counters: Arc<budget::BudgetCounters>,
    /// How long a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// When this process started (for uptime).
    pub started: std::time::Instant,
}

impl AppState {
    pub fn new(engine: Arc<Engine>, cipher: crypto::Cipher, sandbox: Option<Sandbox>) -> Self {
        Self {
            engine,
            cipher,
            auth: AuthSettings::default(),
            http: HttpSecurity::default(),
            sandbox,
            prometheus: None,
            metrics_token: None,
            key_usage: Arc::default(),
            budgets: budget::Budgets::default(),
            budget_counters: Arc::default(),
            request_timeout: Duration::from_secs(30),
            started: std::time::Instant::now(),
        }
    }

    /// The organisation's settings (its default region reads numbers typed without a country
    /// code). Read only by handlers that need them: it is a database read.
    pub async fn settings(&self, tenant: Tenant) -> ApiResult<store::TenantSettings> {
        let org = self
            .engine
            .store
            .get_tenant(tenant.id())
            .await?
            .ok_or_else(error::ApiError::not_found)?;
        Ok(org.settings)
    }
}

/// What an audit entry says, apart from when, who asks and the request's correlation id.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub tenant: Option<domain::TenantId>,
    pub actor: (store::ActorKind, String),
    pub action: &'static str,
    pub target_kind: &'static str,
    pub target_id: String,
    pub ip: Option<std::net::IpAddr>,
    pub detail: serde_json::Value,
}

impl AppState {
    /// Appends to the audit log. A failure fails the request: a change that cannot be recorded
    /// is not made silently.
    pub async fn audit(&self, event: AuditEvent) -> ApiResult<()> {
        let (actor_kind, actor_id) = event.actor;
        self.engine
            .store
            .append_audit(store::NewAuditEntry {
                id: domain::AuditId::new(),
                tenant_id: event.tenant,
                at: self.engine.clock.wall_now(),
                actor_kind,
                actor_id,
                action: event.action.to_owned(),
                target_kind: event.target_kind.to_owned(),
                target_id: event.target_id,
                ip: event.ip.map(|ip| ip.to_string()),
                correlation_id: error::request_id().unwrap_or_default(),
                detail: event.detail,
            })
            .await?;
        Ok(())
    }
}

/// An audit event of `actor` (a key, a member, an operator under a grant) in its organisation:
/// a read of personal data, or a change.
pub(crate) fn actor_event(
    tenant: Tenant,
    actor: &auth::Actor,
    action: &'static str,
    target_kind: &'static str,
    target_id: String,
    ip: Option<std::net::IpAddr>,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        tenant: Some(tenant.id()),
        actor: actor.audit_actor(),
        action,
        target_kind,
        target_id,
        ip,
        detail,
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Leadline API",
        description = "Takes leads and answers them within a second, by SMS or email, within the law.\n\n\
            Authenticate with an organisation's API key: `Authorization: Bearer ll_...`. Errors are \
            RFC 9457 problem+json with a `correlation_id` (also the `X-Request-Id` header).",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in, sessions and passwords"),
        (name = "api-keys", description = "The organisation's API keys (owners and admins)"),
        (name = "settings", description = "The organisation's settings; secrets are write-only"),
        (name = "audit", description = "The organisation's tamper-evident audit log"),
        (name = "support", description = "Letting platform operators in, for a while and audited (owners and admins)"),
        (name = "platform", description = "The platform operator's desk: organisations and system health (operators only)"),
        (name = "sources", description = "Inbound sources (web forms, provider webhooks), each bound to the organisation with its own secret"),
        (name = "sequences", description = "Follow-up sequences: versioned steps, the runs of leads through them, and dry runs"),
        (name = "hooks", description = "Where sources post: authenticated by the source's secret or rules, not by an API key"),
        (name = "leads", description = "Intake and lookup of leads"),
        (name = "messages", description = "Every message in and out"),
        (name = "jobs", description = "Durable work, dead letters included"),
        (name = "sandbox", description = "Simulation: inbound messages and the clock (refused in production)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token from /api/v1/auth/login")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ll_ API key")
                    .build(),
            ),
        );
    }
}

/// The documented routes. Every route of the API is registered here, through `routes!`, so it
/// cannot be served without being in the OpenAPI document.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::auth::login))
        .routes(routes!(routes::auth::refresh))
        .routes(routes!(routes::auth::logout))
        .routes(routes!(routes::auth::change_password))
        .routes(routes!(routes::accounts::forgot_password))
        .routes(routes!(routes::accounts::reset_password))
        .routes(routes!(routes::accounts::invite))
        .routes(routes!(routes::accounts::accept_invitation))
        .routes(routes!(routes::accounts::signup))
        .routes(routes!(routes::auth::list_sessions))
        .routes(routes!(routes::auth::revoke_session))
        .routes(routes!(routes::audit::list))
        .routes(routes!(routes::support::list, routes::support::create))
        .routes(routes!(routes::support::revoke))
        .routes(routes!(
            routes::platform::list_organisations,
            routes::platform::create_organisation
        ))
        .routes(routes!(routes::platform::suspend_organisation))
        .routes(routes!(routes::platform::resume_organisation))
        .routes(routes!(routes::platform::health))
        .routes(routes!(routes::settings::get, routes::settings::put))
        .routes(routes!(routes::api_keys::list, routes::api_keys::create))
        .routes(routes!(routes::api_keys::revoke))
        .routes(routes!(routes::sources::list, routes::sources::create))
        .routes(routes!(
            routes::sources::get,
            routes::sources::update,
            routes::sources::revoke
        ))
        .routes(routes!(routes::sources::rotate_secret))
        .routes(routes!(routes::sequences::list, routes::sequences::create))
        .routes(routes!(
            routes::sequences::get,
            routes::sequences::update,
            routes::sequences::archive
        ))
        .routes(routes!(routes::sequences::enrol))
        .routes(routes!(routes::sequences::simulate))
        .routes(routes!(routes::sequences::lead_enrolments))
        .routes(routes!(routes::sequences::exit))
        .routes(routes!(routes::conversation::send))
        .routes(routes!(routes::conversation::preview))
        .routes(routes!(routes::followup::timeline))
        .routes(routes!(routes::followup::add_note))
        .routes(routes!(
            routes::followup::book,
            routes::followup::list_appointments
        ))
        .routes(routes!(routes::followup::reschedule))
        .routes(routes!(routes::followup::cancel))
        .routes(routes!(routes::followup::run_recovery))
        .routes(routes!(
            routes::ai::get,
            routes::ai::put,
            routes::ai::remove
        ))
        .routes(routes!(routes::ai::usage))
        .routes(routes!(routes::integrations::list))
        .routes(routes!(
            routes::integrations::put,
            routes::integrations::remove
        ))
        .routes(routes!(routes::integrations::test))
        .routes(routes!(routes::leads::create, routes::leads::list))
        .routes(routes!(
            routes::leads::get,
            routes::leads::update,
            routes::compliance::erase
        ))
        .routes(routes!(routes::compliance::lead))
        .routes(routes!(routes::compliance::consent))
        .routes(routes!(routes::compliance::check))
        .routes(routes!(routes::compliance::reviews))
        .routes(routes!(routes::compliance::resolve))
        .routes(routes!(
            routes::compliance::dnc_list,
            routes::compliance::dnc_add
        ))
        .routes(routes!(routes::compliance::dnc_import))
        .routes(routes!(routes::compliance::dnc_remove))
        .routes(routes!(
            routes::compliance::registry_get,
            routes::compliance::registry_put
        ))
        .routes(routes!(routes::messages::list))
        .routes(routes!(routes::jobs::list))
        .routes(routes!(routes::sandbox::inbound))
        .routes(routes!(routes::sandbox::clock))
        .routes(routes!(routes::sandbox::account_emails))
        .routes(routes!(routes::ops::healthz))
        .routes(routes!(routes::ops::readyz))
}

/// The webhooks (`/hooks/...`): documented with the API, served beside it without its CORS
/// policy (each source answers for its own origins).
fn hooks() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::hooks::form, routes::hooks::form_preflight))
        .routes(routes!(routes::provider_hooks::twilio_sms))
        .routes(routes!(routes::provider_hooks::twilio_status))
        .routes(routes!(routes::provider_hooks::twilio_voice))
        .routes(routes!(routes::provider_hooks::twilio_voice_done))
        .routes(routes!(routes::provider_hooks::sendgrid_events))
        .routes(routes!(routes::provider_hooks::sendgrid_inbound))
        .routes(routes!(
            routes::provider_hooks::meta_handshake,
            routes::provider_hooks::meta_delivery
        ))
        .routes(routes!(routes::provider_hooks::ghl_event))
        .routes(routes!(
            routes::unsubscribe::page_get,
            routes::unsubscribe::one_click
        ))
}

/// The OpenAPI document of the API and the webhooks.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api().split_for_parts().1;
    doc.merge(hooks().split_for_parts().1);
    doc
}

/// The layers every request passes: body limit, timeout, panic guard, correlation id and log.
fn serve(router: Router<AppState>, state: &AppState) -> Router {
    router
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.request_timeout,
            middleware::timeout,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .with_state(state.clone())
}

/// The public router.
pub fn router(state: AppState) -> Router {
    let (api, mut doc) = api().split_for_parts();
    let (hooks, hooks_doc) = hooks().split_for_parts();
    doc.merge(hooks_doc);
    let doc = Arc::new(doc);
    let api = api
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .route("/metrics", get(routes::ops::metrics_with_token))
        .fallback(middleware::not_found);
    let api = middleware::security_headers(serve(api, &state), &state.http, true);
    let hooks = middleware::security_headers(serve(hooks, &state), &state.http, false);
    let dashboard =
        middleware::security_headers(serve(dashboard::router(&state), &state), &state.http, false);
    api.merge(hooks).merge(dashboard)
}

/// The router of the separate metrics listener (`metrics_bind`): metrics and health only.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(routes::ops::metrics_open))
        .route("/healthz", get(routes::ops::healthz))
        .with_state(state)
}
