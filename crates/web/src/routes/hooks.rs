//! `/hooks/{kind}/{source_id}`: where leads and provider events come in.
//!
//! Each request names a source, and through it one organisation. The source's rules
//! authenticate it before its body is read as anything: a signature over the raw bytes, or
//! for a browser form the allowed origins. Refusals are 401 or 403 with nothing said of why;
//! the reason goes to metrics (`leadline_webhooks_total`) and to the log, never the body.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use domain::{SourceId, SourceKind, Tenant};
use jiff::SignedDuration;
use providers::form::{self, FormMode, FormSettings, PayloadError};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use store::{ActorKind, AuditContext, IdempotencyClaim, SourceRecord};

use crate::AppState;
use crate::auth::ClientIp;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{MAX_BODY, parse_json};
use crate::routes::leads::{ConsentInput, CreateLead, validate};

/// How long a webhook event id is remembered for replay defence: longer than any provider
/// retries a delivery (SendGrid: 72 hours; Meta and GoHighLevel: less).
pub const REMEMBER_EVENTS: SignedDuration = SignedDuration::from_hours(7 * 24);

/// Browser submissions per visitor address per source in [`BROWSER_WINDOW`].
const BROWSER_SUBMISSIONS: i64 = 20;
const BROWSER_WINDOW: SignedDuration = SignedDuration::from_mins(10);

pub(crate) fn count(kind: SourceKind, outcome: &'static str, reason: &'static str) {
    metrics::counter!(engine::metrics::WEBHOOKS, "kind" => kind.as_str(), "outcome" => outcome, "reason" => reason)
        .increment(1);
}

/// Refuses a request: counted and logged with the reason, answered without it.
pub(crate) fn refuse(kind: SourceKind, reason: &'static str, status: StatusCode) -> ApiError {
    count(kind, "rejected", reason);
    tracing::warn!(kind = kind.as_str(), reason, "webhook refused");
    match status {
        StatusCode::UNAUTHORIZED => ApiError::new(status, "unauthorized", "Unauthorized"),
        StatusCode::FORBIDDEN => ApiError::new(status, "forbidden", "Forbidden"),
        _ => ApiError::not_found(),
    }
}

/// The live source of this kind and id, or 404 (an unknown, revoked or other-kind id alike).
pub(crate) async fn source(
    state: &AppState,
    kind: SourceKind,
    id: &str,
) -> Result<SourceRecord, ApiError> {
    let not_found = || refuse(kind, "unknown_source", StatusCode::NOT_FOUND);
    let id: SourceId = id.parse().map_err(|_| not_found())?;
    let source = state
        .engine
        .store
        .find_source(id)
        .await?
        .filter(|s| s.kind == kind && s.revoked_at.is_none())
        .ok_or_else(not_found)?;
    if source.tenant_suspended {
        return Err(refuse(kind, "suspended", StatusCode::FORBIDDEN));
    }
    Ok(source)
}

fn form_settings(source: &SourceRecord) -> Result<FormSettings, ApiError> {
    // Settings are checked when they are written; a row that no longer parses is a fault.
    FormSettings::deserialize(&source.settings).map_err(|e| ApiError::internal(&e))
}

/// The JSON answer to a signed submission.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FormAccepted {
    pub lead_id: domain::LeadId,
    /// A new lead (201), or a known person touched again (200).
    pub created: bool,
}

/// The JSON answer to a browser submission (it says nothing of the organisation's leads).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FormReceived {
    /// Always `received`.
    pub status: &'static str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OnlyConsent {
    consent: ConsentInput,
}

pub(crate) fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Takes a web form's submission.
///
/// A **signed** source (posted by the customer's server) needs `Leadline-Signature:
/// t=<unix>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>` within five minutes of our clock; a
/// replay of a delivery gets the first answer again and sends nothing. A **browser** source
/// accepts posts from its allowed origins only. The body is JSON or form-encoded; fields are
/// read through the source's mapping (common names need none). See docs/providers.md.
#[utoipa::path(
    post, path = "/hooks/form/{source_id}", tag = "hooks",
    params(
        ("source_id" = String, Path, description = "The source"),
        ("Leadline-Signature" = Option<String>, Header, description = "Signed sources: t=<unix>,v1=<hex>"),
    ),
    request_body(content = Object, description = "The form's fields", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "A new lead", body = FormAccepted),
        (status = 200, description = "A known person touched again, or a replay", body = FormAccepted),
        (status = 303, description = "Browser source with a redirect_url: the thank-you page"),
        (status = 401, description = "Signature missing, stale or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Origin not allowed, or organisation suspended", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live source", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor form-encoded", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, named as the form names them", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many browser submissions from one address", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    axum::extract::Path(source_id): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Set once the request's origin is found allowed: every answer from then on, errors
    // included, carries the CORS headers, so a page's script can read it.
    let mut cors_origin = None;
    let result = take_form(&state, ip, &source_id, &headers, body, &mut cors_origin).await;
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    if let Some(allowed) = cors_origin
        && let Ok(value) = HeaderValue::from_str(&allowed)
    {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

async fn take_form(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    source_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    cors_origin: &mut Option<String>,
) -> Result<Response, ApiError> {
    let kind = SourceKind::Form;
    let source = source(state, kind, source_id).await?;
    let settings = form_settings(&source)?;
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            ApiError::too_large(MAX_BODY)
        }
        _ => ApiError::bad_request("the body could not be read"),
    })?;
    let now = state.engine.clock.wall_now();

    let mut idempotency = None;
    match settings.mode {
        FormMode::Signed => {
            let secrets = source.secrets_at(now);
            let secrets: Vec<&[u8]> = secrets
                .iter()
                .map(|s| s.expose_secret().as_bytes())
                .collect();
            let verified = form::verify(
                header_text(headers, form::SIGNATURE_HEADER),
                &body,
                &secrets,
                now.as_second(),
            )
            .map_err(|e| refuse(kind, e.reason(), StatusCode::UNAUTHORIZED))?;
            // The signature names the delivery: a replay finds the first answer.
            idempotency = Some(IdempotencyClaim {
                key: format!("hook:{}:{}", source.id, hex::encode(verified.signature)),
                request_hash: crypto::sha256(&body),
            });
        }
        FormMode::Browser => {
            let origin = header_text(headers, header::ORIGIN)
                .filter(|o| settings.allows_origin(o))
                .ok_or_else(|| refuse(kind, "origin", StatusCode::FORBIDDEN))?;
            *cors_origin = Some(origin.to_owned());
            limit_browser(state, &source, ip).await?;
        }
    }

    let submission =
        form::parse(header_text(headers, header::CONTENT_TYPE), &body).map_err(payload_error)?;
    let mapped = settings.map(&submission.fields);
    if mapped.honeypot_filled {
        // Answer as if taken, so the bot learns nothing; keep nothing.
        count(kind, "honeypot", "");
        return Ok(browser_answer(&settings, StatusCode::CREATED));
    }

    let consent = match (submission.consent, &settings.consent) {
        (Some(consent), _) if settings.mode == FormMode::Signed => {
            let wrapped = serde_json::json!({ "consent": consent }).to_string();
            Some(parse_json::<OnlyConsent>(wrapped.as_bytes())?.consent)
        }
        (_, Some(asked)) if mapped.consent_given => Some(ConsentInput {
            disclosure_text: asked.disclosure_text.clone(),
            disclosure_version: asked.disclosure_version.clone(),
            seller: asked.seller.clone(),
            // What the request itself shows: the page, the visitor's address and browser.
            page_url: header_text(headers, header::REFERER)
                .filter(|r| r.starts_with("https://") || r.starts_with("http://"))
                .map(str::to_owned),
            ip: (settings.mode == FormMode::Browser)
                .then_some(ip)
                .flatten()
                .map(|ip| ip.to_string()),
            user_agent: (settings.mode == FormMode::Browser)
                .then(|| header_text(headers, header::USER_AGENT).map(str::to_owned))
                .flatten(),
            timestamp: None,
            purposes: asked.purposes.clone(),
        }),
        (_, Some(asked)) if asked.required => {
            return Err(ApiError::field(asked.field.clone(), "must be ticked"));
        }
        _ => None,
    };

    let input = CreateLead {
        name: mapped.name,
        phone: mapped.phone,
        email: mapped.email,
        source: Some(
            settings
                .lead_source
                .clone()
                .unwrap_or_else(|| "web_form".to_owned()),
        ),
        address: mapped.address,
        zip: mapped.zip,
        time_zone: mapped.time_zone,
        consent,
        details: Some(
            mapped
                .details
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ),
        tags: None,
    };
    let tenant = Tenant::from_authenticated(source.tenant_id);
    let region = state.settings(tenant).await?.default_region;
    let lead = validate(input, &region, state.engine.clock.now()).map_err(|mut e| {
        // Name each field as the form names it.
        for error in &mut e.errors {
            if let Some(name) = mapped.origins.get(error.field.as_str()) {
                error.field.clone_from(name);
            }
        }
        e
    })?;
    let audit = AuditContext {
        actor_kind: ActorKind::Source,
        actor_id: source.id.to_string(),
        ip: ip.map(|ip| ip.to_string()),
        correlation_id: crate::error::request_id().unwrap_or_default(),
    };
    let outcome = state
        .engine
        .intake(tenant, lead, idempotency, audit)
        .await?;
    count(
        kind,
        if outcome.replayed {
            "replayed"
        } else {
            "accepted"
        },
        "",
    );
    let status = if outcome.created && !outcome.replayed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(match settings.mode {
        FormMode::Signed => (
            status,
            Json(FormAccepted {
                lead_id: outcome.lead.id,
                created: outcome.created,
            }),
        )
            .into_response(),
        FormMode::Browser => browser_answer(&settings, status),
    })
}

fn browser_answer(settings: &FormSettings, status: StatusCode) -> Response {
    match settings
        .redirect_url
        .as_deref()
        .and_then(|u| HeaderValue::from_str(u).ok())
    {
        Some(location) if settings.mode == FormMode::Browser => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        _ => (status, Json(FormReceived { status: "received" })).into_response(),
    }
}

fn payload_error(e: PayloadError) -> ApiError {
    match e {
        PayloadError::UnsupportedType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .detail("send application/json or application/x-www-form-urlencoded"),
        PayloadError::Json {
            line,
            column,
            message,
        } => ApiError::malformed_json(format!("{message} at line {line} column {column}")),
        PayloadError::FieldTooLong(name) => ApiError::validation(vec![FieldError {
            message: format!("is longer than {} characters", form::MAX_VALUE),
            field: name,
        }]),
        other => ApiError::field("body", other.to_string()),
    }
}

/// Browser posts: at most [`BROWSER_SUBMISSIONS`] per visitor address per source per window.
async fn limit_browser(
    state: &AppState,
    source: &SourceRecord,
    ip: Option<std::net::IpAddr>,
) -> Result<(), ApiError> {
    let Some(ip) = ip else { return Ok(()) };
    let now = state.engine.clock.wall_now();
    let (start, end) = crate::routes::auth::window(now, BROWSER_WINDOW);
    let key = crate::routes::auth::limit_key(state, "form", &format!("{}:{ip}", source.id));
    let n = state
        .engine
        .store
        .rate_limit_add(&key, start, end, 1)
        .await?;
    if n > BROWSER_SUBMISSIONS {
        count(SourceKind::Form, "rejected", "rate_limited");
        return Err(ApiError::rate_limited(
            "Too many submissions",
            "wait before sending the form again",
            end.duration_since(now),
        ));
    }
    Ok(())
}

/// Answers a browser's preflight for a form on another origin (a `fetch` with a JSON body):
/// allowed origins get `POST` with `Content-Type`; others 403.
#[utoipa::path(
    options, path = "/hooks/form/{source_id}", tag = "hooks",
    params(("source_id" = String, Path, description = "The source")),
    responses(
        (status = 204, description = "The origin may post"),
        (status = 403, description = "It may not", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live source", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn form_preflight(
    State(state): State<AppState>,
    axum::extract::Path(source_id): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let source = source(&state, SourceKind::Form, &source_id).await?;
    let settings = form_settings(&source)?;
    let origin = header_text(&headers, header::ORIGIN)
        .filter(|o| settings.mode == FormMode::Browser && settings.allows_origin(o))
        .and_then(|o| HeaderValue::from_str(o).ok())
        .ok_or_else(|| refuse(SourceKind::Form, "origin", StatusCode::FORBIDDEN))?;
    Ok((
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin),
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type"),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            ),
            (header::VARY, HeaderValue::from_static("Origin")),
        ],
    )
        .into_response())
}
