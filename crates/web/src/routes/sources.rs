//! `/api/v1/sources`: the organisation's inbound doors.
//!
//! A source is bound to one organisation: its URL (`/hooks/{kind}/{id}`) carries an unguessable
//! id, and its own secret signs what is posted to it. The secret is shown when the source is
//! created and when it is rotated, never again; a rotation keeps the old secret working for a
//! day so senders can switch without losing a request.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::{SourceId, SourceKind, Timestamp};
use engine::integrations::ProviderSourceSettings;
use jiff::SignedDuration;
use providers::form::FormSettings;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use store::{NewSource, SourceRecord, SourceUpdate};

use crate::auth::{Auth, ClientIp, scope};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::{AppState, actor_event};

/// How long a rotated-out secret is still accepted.
pub const ROTATION_GRACE: SignedDuration = SignedDuration::from_hours(24);

/// A source, without its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SourceView {
    pub id: SourceId,
    pub kind: SourceKind,
    pub name: String,
    /// Where the sender posts: the public base URL (when configured) and `/hooks/{kind}/{id}`.
    pub url: String,
    /// What to paste into the provider, by name: Twilio's messaging, status and voice
    /// webhooks; SendGrid's Event Webhook and Inbound Parse (add `?token=<secret>` when the
    /// parse webhook is not signed); Meta's callback URL; GoHighLevel's webhook URL.
    pub endpoints: std::collections::BTreeMap<String, String>,
    /// The kind's settings (for a form: mode, allowed origins, field mapping, consent; for a
    /// provider: `lead_source`, `consent_purposes`).
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// After a rotation: until when the previous secret is still accepted.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub previous_secret_valid_until: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl SourceView {
    fn new(state: &AppState, r: SourceRecord) -> Self {
        let url = hook_url(state, r.kind, r.id);
        let endpoints = match r.kind {
            SourceKind::Form => vec![("form", url.clone())],
            SourceKind::Twilio => vec![
                ("messaging_webhook", url.clone()),
                ("status_callback", format!("{url}/status")),
                ("voice_webhook", format!("{url}/voice")),
            ],
            SourceKind::Sendgrid => vec![
                ("event_webhook", format!("{url}/events")),
                ("inbound_parse", format!("{url}/inbound")),
            ],
            SourceKind::Meta => vec![("callback_url", url.clone())],
            SourceKind::Ghl => vec![("webhook_url", url.clone())],
        }
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self {
            endpoints,
            url,
            previous_secret_valid_until: r.previous_secret.as_ref().map(|(_, until)| *until),
            id: r.id,
            kind: r.kind,
            name: r.name,
            settings: r.settings,
            created_at: r.created_at,
            updated_at: r.updated_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// The address a source is reached at.
pub fn hook_url(state: &AppState, kind: SourceKind, id: SourceId) -> String {
    format!(
        "{}/hooks/{kind}/{id}",
        state.auth.public_base_url.trim_end_matches('/')
    )
}

/// A source and its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedSource {
    #[serde(flatten)]
    pub source: SourceView,
    /// Signs requests (`Leadline-Signature`, see docs/providers.md). Not shown again.
    pub secret: String,
}

/// A rotated secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    /// The new secret. Not shown again.
    pub secret: String,
    /// Until when the previous secret is still accepted.
    #[schema(value_type = String, format = DateTime)]
    pub previous_secret_valid_until: Timestamp,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSource {
    /// `form`, `twilio`, `sendgrid`, `meta` or `ghl` (a provider's source needs its
    /// integration, `PUT /api/v1/integrations/{kind}`, to verify what it receives).
    pub kind: String,
    /// What it is (`Website contact form`), 1 to 100 characters.
    pub name: String,
    /// For a form: `{"mode": "signed"}` or `{"mode": "browser", "allowed_origins": [...]}`,
    /// with optional `honeypot_field`, `field_map`, `consent`, `redirect_url`, `lead_source`.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSource {
    pub name: Option<String>,
    /// Replaces the settings as a whole.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) -> String {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError {
            field: "name".into(),
            message: "must be 1 to 100 characters, without control characters".into(),
        });
    }
    name
}

/// Checks a kind's settings; returns them as stored (normalised by their type).
fn check_settings(
    kind: SourceKind,
    settings: serde_json::Value,
    errors: &mut Vec<FieldError>,
) -> serde_json::Value {
    match kind {
        SourceKind::Form => {
            let parsed: Result<FormSettings, _> = serde_path_to_error::deserialize(&settings);
            match parsed {
                Ok(form) => {
                    errors.extend(
                        form.problems()
                            .into_iter()
                            .map(|(field, message)| FieldError { field, message }),
                    );
                    serde_json::to_value(&form).unwrap_or(settings)
                }
                Err(e) => {
                    let path = e.path().to_string();
                    let field = if path == "." {
                        "settings".to_owned()
                    } else {
                        format!("settings.{path}")
                    };
                    errors.push(FieldError {
                        field,
                        message: e.into_inner().to_string(),
                    });
                    settings
                }
            }
        }
        _ => {
            let parsed: Result<ProviderSourceSettings, _> =
                serde_path_to_error::deserialize(&settings);
            match parsed {
                Ok(provider) => {
                    if let Some(src) = &provider.lead_source
                        && (src.is_empty() || src.len() > 50 || src.chars().any(char::is_control))
                    {
                        errors.push(FieldError {
                            field: "settings.lead_source".into(),
                            message: "must be 1 to 50 characters".into(),
                        });
                    }
                    serde_json::to_value(&provider).unwrap_or(settings)
                }
                Err(e) => {
                    let path = e.path().to_string();
                    errors.push(FieldError {
                        field: if path == "." {
                            "settings".to_owned()
                        } else {
                            format!("settings.{path}")
                        },
                        message: e.into_inner().to_string(),
                    });
                    settings
                }
            }
        }
    }
}

fn new_secret() -> SecretString {
    SecretString::from(format!("llwh_{}", crypto::random_token()))
}

/// Lists the organisation's sources, revoked ones included.
#[utoipa::path(
    get, path = "/api/v1/sources", tag = "sources",
    responses(
        (status = 200, description = "The sources, without secrets", body = Vec<SourceView>),
        (status = 403, description = "Lacks settings:read", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth<scope::SettingsRead>,
) -> ApiResult<Json<Vec<SourceView>>> {
    let sources = state.engine.store.list_sources(auth.tenant).await?;
    Ok(Json(
        sources
            .into_iter()
            .map(|s| SourceView::new(&state, s))
            .collect(),
    ))
}

/// One source.
#[utoipa::path(
    get, path = "/api/v1/sources/{id}", tag = "sources",
    params(("id" = String, Path, description = "The source")),
    responses(
        (status = 200, description = "The source, without its secret", body = SourceView),
        (status = 404, description = "No such source in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:read"]))
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth<scope::SettingsRead>,
    ApiPath(id): ApiPath<SourceId>,
) -> ApiResult<Json<SourceView>> {
    let source = state
        .engine
        .store
        .get_source(auth.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(SourceView::new(&state, source)))
}

/// Creates a source; its secret is in this answer only.
#[utoipa::path(
    post, path = "/api/v1/sources", tag = "sources", request_body = CreateSource,
    responses(
        (status = 201, description = "Created: its URL and secret", body = CreatedSource),
        (status = 403, description = "Lacks settings:write", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad kind, name or setting, each named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
    body: ApiJson<CreateSource>,
) -> ApiResult<(StatusCode, Json<CreatedSource>)> {
    let CreateSource {
        kind,
        name,
        settings,
    } = body.value;
    let mut errors = Vec::new();
    let name = check_name(&name, &mut errors);
    let kind = match SourceKind::parse(&kind) {
        Some(kind) => Some(kind),
        None => {
            errors.push(FieldError {
                field: "kind".into(),
                message: "must be form, twilio, sendgrid, meta or ghl".into(),
            });
            None
        }
    };
    // Settings are read by the kind's rules, so only once the kind is known.
    let settings = kind.map(|kind| (kind, check_settings(kind, settings, &mut errors)));
    let Some((kind, settings)) = settings.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let secret = new_secret();
    let record = state
        .engine
        .store
        .create_source(
            auth.tenant,
            NewSource {
                id: SourceId::new(),
                kind,
                name,
                settings,
                secret: secret.clone(),
                created_at: state.engine.clock.wall_now(),
            },
        )
        .await?;
    // Its status callback may be the organisation's new one.
    state.engine.forget_route(auth.tenant);
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "source.create",
            "source",
            record.id.to_string(),
            ip,
            serde_json::json!({ "kind": kind.as_str(), "name": record.name }),
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSource {
            source: SourceView::new(&state, record),
            secret: secret.expose_secret().to_owned(),
        }),
    ))
}

/// Renames a source or replaces its settings.
#[utoipa::path(
    patch, path = "/api/v1/sources/{id}", tag = "sources", request_body = UpdateSource,
    params(("id" = String, Path, description = "The source")),
    responses(
        (status = 200, description = "Changed", body = SourceView),
        (status = 404, description = "No such live source in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad name or setting, each named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn update(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
    ApiPath(id): ApiPath<SourceId>,
    body: ApiJson<UpdateSource>,
) -> ApiResult<Json<SourceView>> {
    let store = &state.engine.store;
    let current = store
        .get_source(auth.tenant, id)
        .await?
        .filter(|s| s.revoked_at.is_none())
        .ok_or_else(ApiError::not_found)?;
    let mut errors = Vec::new();
    let name = body.value.name.map(|n| check_name(&n, &mut errors));
    let settings = body
        .value
        .settings
        .map(|s| check_settings(current.kind, s, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let changed: Vec<&str> = [
        name.as_ref().map(|_| "name"),
        settings.as_ref().map(|_| "settings"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let record = store
        .update_source(
            auth.tenant,
            id,
            SourceUpdate {
                name,
                settings,
                rotate_secret: None,
            },
            state.engine.clock.wall_now(),
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "source.update",
            "source",
            id.to_string(),
            ip,
            serde_json::json!({ "changed": changed }),
        ))
        .await?;
    Ok(Json(SourceView::new(&state, record)))
}

/// Gives the source a new secret; the previous one works for 24 more hours.
#[utoipa::path(
    post, path = "/api/v1/sources/{id}/rotate-secret", tag = "sources",
    params(("id" = String, Path, description = "The source")),
    responses(
        (status = 200, description = "The new secret, shown this once", body = RotatedSecret),
        (status = 404, description = "No such live source in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
    ApiPath(id): ApiPath<SourceId>,
) -> ApiResult<Json<RotatedSecret>> {
    let now = state.engine.clock.wall_now();
    let until = store::codec::at_rest(now + ROTATION_GRACE);
    let secret = new_secret();
    state
        .engine
        .store
        .update_source(
            auth.tenant,
            id,
            SourceUpdate {
                rotate_secret: Some((secret.clone(), until)),
                ..SourceUpdate::default()
            },
            now,
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "source.rotate_secret",
            "source",
            id.to_string(),
            ip,
            serde_json::json!({ "previous_secret_valid_until": until.to_string() }),
        ))
        .await?;
    Ok(Json(RotatedSecret {
        secret: secret.expose_secret().to_owned(),
        previous_secret_valid_until: until,
    }))
}

/// Revokes a source at once: its URL answers 404 from now on.
#[utoipa::path(
    delete, path = "/api/v1/sources/{id}", tag = "sources",
    params(("id" = String, Path, description = "The source")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such live source in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
    ApiPath(id): ApiPath<SourceId>,
) -> ApiResult<StatusCode> {
    let revoked = state
        .engine
        .store
        .revoke_source(auth.tenant, id, state.engine.clock.wall_now())
        .await?;
    state.engine.forget_route(auth.tenant);
    if !revoked {
        return Err(ApiError::not_found());
    }
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "source.revoke",
            "source",
            id.to_string(),
            ip,
            serde_json::json!({}),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
