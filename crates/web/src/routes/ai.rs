//! The organisation's AI writer: its Anthropic account (write-only) and what it has used.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use engine::writer::{WriterSettings, month_of};
use serde::Serialize;

use crate::auth::{Auth, ClientIp, scope};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::ApiJson;
use crate::{AppState, actor_event};

/// The writer's settings as reads show them: never the key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WriterView {
    pub enabled: bool,
    /// The key's last 4 characters.
    pub api_key_hint: Option<String>,
    pub model: Option<String>,
    pub monthly_token_budget: Option<u64>,
    pub input_usd_per_mtok: Option<f64>,
    pub output_usd_per_mtok: Option<f64>,
}

fn view(settings: Option<WriterSettings>) -> WriterView {
    match settings {
        Some(s) => WriterView {
            enabled: true,
            api_key_hint: Some(super::integrations::tail(&s.api_key, 4)),
            model: Some(s.model),
            monthly_token_budget: Some(s.monthly_token_budget),
            input_usd_per_mtok: Some(s.input_usd_per_mtok),
            output_usd_per_mtok: Some(s.output_usd_per_mtok),
        },
        None => WriterView {
            enabled: false,
            api_key_hint: None,
            model: None,
            monthly_token_budget: None,
            input_usd_per_mtok: None,
            output_usd_per_mtok: None,
        },
    }
}

/// The AI writer's settings (the key is never shown).
#[utoipa::path(
    get, path = "/api/v1/ai/writer", tag = "sequences",
    responses((status = 200, description = "The settings", body = WriterView)),
    security(("session" = []), ("api_key" = ["settings:read"]))
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth<scope::SettingsRead>,
) -> ApiResult<Json<WriterView>> {
    Ok(Json(view(state.engine.writer_settings(auth.tenant).await?)))
}

/// Sets the AI writer: the organisation's Anthropic key (sealed, write-only), the model, the
/// monthly token budget and the prices the cost is recorded at. Steps with an `ai` brief are
/// then drafted by it.
#[utoipa::path(
    put, path = "/api/v1/ai/writer", tag = "sequences", request_body = WriterSettings,
    responses(
        (status = 200, description = "Set", body = WriterView),
        (status = 422, description = "A bad field, named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn put(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
    body: ApiJson<WriterSettings>,
) -> ApiResult<Json<WriterView>> {
    let settings = body.value;
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(ApiError::validation(
            problems
                .into_iter()
                .map(|(field, message)| FieldError {
                    field: field.to_owned(),
                    message,
                })
                .collect(),
        ));
    }
    state
        .engine
        .set_writer(auth.tenant, Some(&settings))
        .await?;
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "ai_writer.set",
            "organisation",
            auth.tenant.id().to_string(),
            ip,
            // Never the key.
            serde_json::json!({ "model": settings.model, "monthly_token_budget": settings.monthly_token_budget }),
        ))
        .await?;
    Ok(Json(view(Some(settings))))
}

/// Turns the AI writer off and forgets the key.
#[utoipa::path(
    delete, path = "/api/v1/ai/writer", tag = "sequences",
    responses((status = 204, description = "Off")),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
) -> ApiResult<StatusCode> {
    state.engine.set_writer(auth.tenant, None).await?;
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "ai_writer.remove",
            "organisation",
            auth.tenant.id().to_string(),
            ip,
            serde_json::json!({}),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageView {
    /// The calendar month (UTC), `2026-11`.
    pub month: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// The budget, when the writer is set.
    pub monthly_token_budget: Option<u64>,
    /// US dollars, at the organisation's prices.
    pub cost_usd: f64,
    /// The latest drafts, newest first: each with the message it was for (its dedupe key),
    /// tokens, cost and outcome.
    pub recent: Vec<store::AiGeneration>,
}

/// What the AI writer used this month, and its latest drafts.
#[utoipa::path(
    get, path = "/api/v1/ai/usage", tag = "sequences",
    responses((status = 200, description = "This month's use", body = UsageView)),
    security(("session" = []), ("api_key" = ["settings:read"]))
)]
pub async fn usage(
    State(state): State<AppState>,
    auth: Auth<scope::SettingsRead>,
) -> ApiResult<Json<UsageView>> {
    let engine = &state.engine;
    let month = month_of(engine.clock.now());
    let used = engine.store.ai_usage(auth.tenant, &month).await?;
    let recent = engine.store.list_ai_generations(auth.tenant, 50).await?;
    let budget = engine
        .writer_settings(auth.tenant)
        .await?
        .map(|s| s.monthly_token_budget);
    Ok(Json(UsageView {
        month,
        input_tokens: used.input_tokens,
        output_tokens: used.output_tokens,
        monthly_token_budget: budget,
        cost_usd: used.cost_micros as f64 / 1e6,
        recent,
    }))
}
