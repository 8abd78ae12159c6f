//! `/api/v1/integrations`: an organisation's provider accounts.
//!
//! Credentials are write-only: a `PUT` seals them (one secret per provider, bound to the
//! organisation), reads show only what is set and masked hints, and the audit log names the
//! provider, never a value. With Twilio or SendGrid set, the organisation's texts or emails go
//! through its own account instead of the sandbox (see docs/providers.md).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use compliance::Exemption;
use domain::{Address, Email, Phone, Purpose, SourceKind};
use engine::dispatch::{Dispatched, Outgoing};
use engine::integrations::{
    GhlIntegration, Integration, MetaIntegration, SendgridIntegration, TwilioIntegration,
};
use serde::{Deserialize, Serialize};

use crate::auth::{Auth, ClientIp, scope};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::ApiJson;
use crate::{AppState, AuditEvent};

/// One provider's integration as reads show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    pub provider: String,
    pub set: bool,
    /// What can be shown: identifiers in part, secrets as their last characters.
    pub hints: BTreeMap<String, String>,
}

/// A secret as reads show it: its last `n` characters.
pub(crate) fn tail(v: &str, n: usize) -> String {
    let chars: Vec<char> = v.chars().collect();
    let start = chars.len().saturating_sub(n);
    format!("••••{}", chars[start..].iter().collect::<String>())
}

fn hints_of(kind: SourceKind, raw: &str) -> BTreeMap<String, String> {
    let mut h = BTreeMap::new();
    let v: serde_json::Value = serde_json::from_str(raw).unwrap_or_default();
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    match kind {
        SourceKind::Twilio => {
            if let Some(x) = s("account_sid") {
                h.insert(
                    "account_sid".into(),
                    format!("{}{}", &x[..x.len().min(2)], tail(&x, 4)),
                );
            }
            if let Some(x) = s("auth_token") {
                h.insert("auth_token".into(), tail(&x, 4));
            }
            for k in ["from", "messaging_service_sid", "forward_calls_to"] {
                if let Some(x) = s(k) {
                    h.insert(k.into(), x);
                }
            }
        }
        SourceKind::Sendgrid => {
            if let Some(x) = s("api_key") {
                h.insert("api_key".into(), tail(&x, 4));
            }
            if let Some(x) = s("from_email") {
                h.insert("from_email".into(), x);
            }
            h.insert(
                "inbound_parse".into(),
                if s("inbound_parse_public_key").is_some() {
                    "signed"
                } else {
                    "token"
                }
                .into(),
            );
        }
        SourceKind::Meta => {
            for k in ["app_secret", "verify_token", "page_access_token"] {
                if let Some(x) = s(k) {
                    h.insert(k.into(), tail(&x, 4));
                }
            }
        }
        SourceKind::Ghl => {
            if let Some(x) = s("location_id") {
                h.insert("location_id".into(), x);
            }
            // Public keys, but said only as whose they are.
            for (k, name) in [
                ("webhook_ed25519_key", "ed25519_key"),
                ("webhook_public_key", "rsa_key"),
            ] {
                h.insert(
                    name.into(),
                    if s(k).is_some() { "own" } else { "configured" }.into(),
                );
            }
        }
        SourceKind::Form => {}
    }
    h
}

const PROVIDERS: [SourceKind; 4] = [
    SourceKind::Twilio,
    SourceKind::Sendgrid,
    SourceKind::Meta,
    SourceKind::Ghl,
];

fn provider(name: &str) -> Result<SourceKind, ApiError> {
    SourceKind::parse(name)
        .filter(|k| PROVIDERS.contains(k))
        .ok_or_else(ApiError::not_found)
}

async fn views(state: &AppState, tenant: domain::Tenant) -> ApiResult<Vec<IntegrationView>> {
    let secrets = state.engine.store.get_tenant_secrets(tenant).await?;
    Ok(PROVIDERS
        .iter()
        .map(|kind| {
            let raw = secrets.get(&engine::integrations::secret_name(*kind));
            IntegrationView {
                provider: kind.as_str().to_owned(),
                set: raw.is_some(),
                hints: raw.map(|r| hints_of(*kind, r)).unwrap_or_default(),
            }
        })
        .collect())
}

/// The organisation's integrations; secrets show only as hints.
#[utoipa::path(
    get, path = "/api/v1/integrations", tag = "integrations",
    responses(
        (status = 200, description = "Each provider: set or not, with masked hints", body = Vec<IntegrationView>),
        (status = 403, description = "Lacks settings:read", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth<scope::SettingsRead>,
) -> ApiResult<Json<Vec<IntegrationView>>> {
    Ok(Json(views(&state, auth.tenant).await?))
}

struct Checks(Vec<FieldError>);

impl Checks {
    fn fail(&mut self, field: &str, message: &str) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        });
    }

    /// A value of `min..=max` visible ASCII characters.
    fn token(&mut self, field: &str, v: &str, min: usize, max: usize) {
        if v.len() < min || v.len() > max || !v.bytes().all(|b| b.is_ascii_graphic()) {
            self.fail(
                field,
                &format!("must be {min} to {max} visible characters, no spaces"),
            );
        }
    }

    /// `prefix` then 32 hex digits.
    fn sid(&mut self, field: &str, v: &str, prefix: &str) {
        let ok =
            v.len() == 34 && v.starts_with(prefix) && v[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            self.fail(
                field,
                &format!("must be {prefix} and 32 hexadecimal digits"),
            );
        }
    }

    fn e164(&mut self, field: &str, v: &str) {
        if Phone::parse_e164(v).is_err() {
            self.fail(field, "must be a number in E.164 form (+14155550100)");
        }
    }
}

fn check_twilio(t: &TwilioIntegration, c: &mut Checks) {
    c.sid("account_sid", &t.account_sid, "AC");
    if t.auth_token.len() != 32 || !t.auth_token.bytes().all(|b| b.is_ascii_hexdigit()) {
        c.fail("auth_token", "must be 32 hexadecimal digits");
    }
    match (&t.from, &t.messaging_service_sid) {
        (Some(from), None) => c.e164("from", from),
        (None, Some(mg)) => c.sid("messaging_service_sid", mg, "MG"),
        (Some(_), Some(_)) => c.fail("from", "give from or messaging_service_sid, not both"),
        (None, None) => c.fail("from", "give from or messaging_service_sid"),
    }
    if let Some(line) = &t.forward_calls_to {
        c.e164("forward_calls_to", line);
    }
    if let Some(s) = t.ring_seconds
        && !(5..=60).contains(&s)
    {
        c.fail("ring_seconds", "must be 5 to 60");
    }
}

fn check_sendgrid(s: &SendgridIntegration, c: &mut Checks) {
    if !s.api_key.starts_with("SG.") {
        c.fail("api_key", "must be a SendGrid API key (SG.…)");
    } else {
        c.token("api_key", &s.api_key, 20, 200);
    }
    if Email::parse(&s.from_email).is_err() {
        c.fail("from_email", "must be an email address (a verified sender)");
    }
    if providers::sendgrid::EventKey::parse(&s.event_webhook_public_key).is_err() {
        c.fail(
            "event_webhook_public_key",
            "must be the Event Webhook's verification key (base64, from Mail Settings)",
        );
    }
    if let Some(k) = &s.inbound_parse_public_key
        && providers::sendgrid::EventKey::parse(k).is_err()
    {
        c.fail(
            "inbound_parse_public_key",
            "must be the parse security policy's public key (base64)",
        );
    }
}

fn check_meta(m: &MetaIntegration, c: &mut Checks) {
    c.token("app_secret", &m.app_secret, 16, 128);
    c.token("verify_token", &m.verify_token, 8, 200);
    c.token("page_access_token", &m.page_access_token, 20, 1000);
}

fn check_ghl(g: &GhlIntegration, c: &mut Checks) {
    if g.location_id.is_empty()
        || g.location_id.len() > 64
        || !g.location_id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        c.fail(
            "location_id",
            "must be the location's id (letters and digits)",
        );
    }
    if let Some(pem) = &g.webhook_ed25519_key
        && providers::ghl::Ed25519Key::parse_pem(pem).is_err()
    {
        c.fail(
            "webhook_ed25519_key",
            "must be an Ed25519 public key in PEM form",
        );
    }
    if let Some(pem) = &g.webhook_public_key
        && providers::ghl::RsaKey::parse_pem(pem).is_err()
    {
        c.fail(
            "webhook_public_key",
            "must be an RSA public key in PEM form",
        );
    }
}

/// Reads and checks one provider's body; every problem named.
fn parse<T: Integration + serde::de::DeserializeOwned>(
    body: &serde_json::Value,
    check: fn(&T, &mut Checks),
) -> Result<T, ApiError> {
    let value: T = serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        ApiError::field(
            if path == "." { "body".to_owned() } else { path },
            e.into_inner().to_string(),
        )
    })?;
    let mut checks = Checks(Vec::new());
    check(&value, &mut checks);
    if checks.0.is_empty() {
        Ok(value)
    } else {
        Err(ApiError::validation(checks.0))
    }
}

/// Sets a provider's credentials (replacing any before). The body's fields by provider:
/// `twilio` `{account_sid, auth_token, from | messaging_service_sid, forward_calls_to?,
/// ring_seconds?}`; `sendgrid` `{api_key, from_email, event_webhook_public_key,
/// inbound_parse_public_key?}`; `meta` `{app_secret, verify_token, page_access_token}`; `ghl`
/// `{location_id, webhook_ed25519_key?, webhook_public_key?}` (GoHighLevel's keys in PEM, when
/// they differ from the configured `providers.ghl.*`).
#[utoipa::path(
    put, path = "/api/v1/integrations/{provider}", tag = "integrations",
    params(("provider" = String, Path, description = "twilio, sendgrid, meta or ghl")),
    request_body(content = Object, description = "The provider's credentials"),
    responses(
        (status = 200, description = "Set; shown masked", body = IntegrationView),
        (status = 403, description = "Lacks settings:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such provider", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Each bad field named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn put(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
    axum::extract::Path(name): axum::extract::Path<String>,
    body: ApiJson<serde_json::Value>,
) -> ApiResult<Json<IntegrationView>> {
    let kind = provider(&name)?;
    let e = &state.engine;
    let t = auth.tenant;
    match kind {
        SourceKind::Twilio => {
            e.set_integration(t, Some(&parse(&body.value, check_twilio)?))
                .await?
        }
        SourceKind::Sendgrid => {
            e.set_integration(t, Some(&parse(&body.value, check_sendgrid)?))
                .await?;
        }
        SourceKind::Meta => {
            e.set_integration(t, Some(&parse(&body.value, check_meta)?))
                .await?
        }
        SourceKind::Ghl => {
            e.set_integration(t, Some(&parse(&body.value, check_ghl)?))
                .await?
        }
        SourceKind::Form => return Err(ApiError::not_found()),
    }
    audit(&state, &auth, ip, "integration.set", kind).await?;
    let view = views(&state, t)
        .await?
        .into_iter()
        .find(|v| v.provider == kind.as_str())
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(view))
}

async fn audit(
    state: &AppState,
    auth: &Auth<scope::SettingsWrite>,
    ip: Option<std::net::IpAddr>,
    action: &'static str,
    kind: SourceKind,
) -> ApiResult<()> {
    state
        .audit(AuditEvent {
            tenant: Some(auth.tenant.id()),
            actor: auth.actor.audit_actor(),
            action,
            target_kind: "integration",
            target_id: kind.as_str().to_owned(),
            ip,
            // The provider only: never a credential.
            detail: serde_json::json!({ "provider": kind.as_str() }),
        })
        .await
}

/// Removes a provider's credentials: its messages go through the sandbox again.
#[utoipa::path(
    delete, path = "/api/v1/integrations/{provider}", tag = "integrations",
    params(("provider" = String, Path, description = "twilio, sendgrid, meta or ghl")),
    responses(
        (status = 204, description = "Removed (or was not set)"),
        (status = 403, description = "Lacks settings:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such provider", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> ApiResult<StatusCode> {
    let kind = provider(&name)?;
    let e = &state.engine;
    let t = auth.tenant;
    match kind {
        SourceKind::Twilio => e.set_integration::<TwilioIntegration>(t, None).await?,
        SourceKind::Sendgrid => e.set_integration::<SendgridIntegration>(t, None).await?,
        SourceKind::Meta => e.set_integration::<MetaIntegration>(t, None).await?,
        SourceKind::Ghl => e.set_integration::<GhlIntegration>(t, None).await?,
        SourceKind::Form => return Err(ApiError::not_found()),
    }
    audit(&state, &auth, ip, "integration.remove", kind).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestMessage {
    /// Twilio: a phone number; SendGrid: an email address. Your own: it is sent now, as a
    /// message you asked for, and still refused for a suppressed address or at night there.
    pub to: String,
}

/// What the test did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    /// `sent`, or for Meta `verified` (the page token was read back).
    pub outcome: String,
    pub message_id: Option<domain::MessageId>,
    pub provider_message_id: Option<String>,
}

/// Sends a test message through the provider (Twilio, SendGrid), or for Meta checks the page
/// token against the Graph API. It goes through compliance like any message.
#[utoipa::path(
    post, path = "/api/v1/integrations/{provider}/test", tag = "integrations",
    params(("provider" = String, Path, description = "twilio, sendgrid or meta")),
    request_body = TestMessage,
    responses(
        (status = 200, description = "Sent, or verified", body = TestResult),
        (status = 403, description = "Lacks settings:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such provider", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not set up, refused by compliance (the rules named) or by the provider (its code)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad address", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider could not be reached; nothing is retried", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn test(
    State(state): State<AppState>,
    auth: Auth<scope::SettingsWrite>,
    axum::extract::Path(name): axum::extract::Path<String>,
    body: ApiJson<TestMessage>,
) -> ApiResult<Json<TestResult>> {
    let kind = provider(&name)?;
    let e = &state.engine;
    let t = auth.tenant;
    let not_set = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "not-configured",
            "Integration not set",
        )
        .detail(format!("set PUT /api/v1/integrations/{kind} first"))
    };
    let to = body.value.to;
    let region = state.settings(t).await?.default_region;
    let (address, subject) = match kind {
        SourceKind::Twilio => {
            e.integration::<TwilioIntegration>(t)
                .await?
                .ok_or_else(not_set)?;
            let phone =
                Phone::parse(&to, &region).map_err(|err| ApiError::field("to", err.to_string()))?;
            (Address::Phone(phone), None)
        }
        SourceKind::Sendgrid => {
            e.integration::<SendgridIntegration>(t)
                .await?
                .ok_or_else(not_set)?;
            let email = Email::parse(&to).map_err(|err| ApiError::field("to", err.to_string()))?;
            (
                Address::Email(email),
                Some("Leadline test message".to_owned()),
            )
        }
        SourceKind::Meta => {
            let meta = e
                .integration::<MetaIntegration>(t)
                .await?
                .ok_or_else(not_set)?;
            let graph = providers::meta::Graph::new(
                e.http().clone(),
                &e.config.endpoints.meta_graph_base,
                &meta.page_access_token,
            );
            graph.me().await.map_err(provider_refused)?;
            return Ok(Json(TestResult {
                outcome: "verified".into(),
                message_id: None,
                provider_message_id: None,
            }));
        }
        SourceKind::Ghl | SourceKind::Form => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "nothing-to-test",
                "Nothing to send",
            )
            .detail("GoHighLevel only sends events to Leadline; post a test from its webhook settings"));
        }
    };
    let settings = state.settings(t).await?;
    let now = e.clock.now();
    let out = Outgoing {
        tenant: t,
        lead: None,
        from: match &address {
            Address::Phone(_) => settings.sms_from.clone(),
            Address::Email(_) => settings.email_from.clone(),
        },
        to: address,
        purpose: Purpose::Transactional,
        exemption: Exemption::None,
        subject,
        body: format!(
            "Leadline test: {} can send through {}.",
            if settings.business_name.is_empty() {
                "your organisation"
            } else {
                settings.business_name.as_str()
            },
            kind
        ),
        dedupe_key: None,
        intake_at: None,
        answering: None,
        requested_at: Some(now),
        organisation: None,
        attachments: Vec::new(),
    };
    match e.dispatch(out, None).await {
        Ok(Dispatched::Sent(m)) => Ok(Json(TestResult {
            outcome: "sent".into(),
            message_id: Some(m.id),
            provider_message_id: m.provider_message_id.clone(),
        })),
        Ok(Dispatched::Deferred { until, reasons }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "compliance-deferred",
            "Not sent now",
        )
        .detail(format!(
            "compliance defers it until {until}: {}",
            reasons
                .iter()
                .map(|r| r.rule)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        Ok(Dispatched::Blocked { reasons }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "compliance-blocked",
            "Not sent",
        )
        .detail(format!(
            "compliance blocks it: {}",
            reasons
                .iter()
                .map(|r| r.rule)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        Ok(Dispatched::Failed { code }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "provider-refused",
            "The provider refused the message",
        )
        .detail(format!("provider error {code}"))),
        Ok(Dispatched::AlreadyHandled(id)) => Ok(Json(TestResult {
            outcome: "sent".into(),
            message_id: Some(id),
            provider_message_id: None,
        })),
        Err(err) => {
            tracing::warn!(error = %err.error, "provider test failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "provider-unavailable",
                "The provider could not be reached",
            )
            .detail("the test is not retried; try again"))
        }
    }
}

fn provider_refused(e: providers::ProviderError) -> ApiError {
    match e {
        providers::ProviderError::Transient { .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider-unavailable",
            "The provider could not be reached",
        ),
        other => ApiError::new(
            StatusCode::CONFLICT,
            "provider-refused",
            "The provider refused the credentials",
        )
        .detail(format!("provider error {}", other.code())),
    }
}
