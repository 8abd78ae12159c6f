//! The providers' webhooks: Twilio (`/hooks/twilio/{id}`, `.../status`, `.../voice`,
//! `.../voice/done`), SendGrid (`/hooks/sendgrid/{id}/events`, `.../inbound`), Meta
//! (`/hooks/meta/{id}`) and GoHighLevel (`/hooks/ghl/{id}`).
//!
//! Each request names a source, and through it an organisation whose integration holds the
//! key the request must be signed with. The signature is checked on the raw bytes before
//! anything is parsed; a failure is 401 (or 403 for Meta's handshake) with nothing said, counted
//! in `leadline_webhooks_total` and logged without the body. Event ids are remembered so a
//! replayed delivery does nothing twice. The answer is fast: what needs a provider call (a reply,
//! fetching a Meta lead) is queued as a job.

use axum::extract::{OriginalUri, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use domain::{Address, Channel, Email, MessageId, NewLead, Phone, SourceKind, Tenant};
use engine::inbound::Inbound;
use engine::integrations::{
    GhlIntegration, Integration, MetaIntegration, ProviderSourceSettings, SendgridIntegration,
    TwilioIntegration,
};
use engine::jobs::Job;
use engine::receipts::Receipt;
use providers::sendgrid::{self, InboundEmail};
use providers::{ghl, meta, twilio};
use secrecy::ExposeSecret;
use store::{ActorKind, AuditContext, SourceRecord};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::routes::hooks::{count, header_text, refuse, source};

/// How old a SendGrid delivery's signed timestamp may be: SendGrid retries for 72 hours.
const SENDGRID_TOLERANCE: i64 = 72 * 3600;

fn xml(body: String) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

fn tenant(source: &SourceRecord) -> Tenant {
    Tenant::from_authenticated(source.tenant_id)
}

fn settings(source: &SourceRecord) -> ProviderSourceSettings {
    serde_json::from_value(source.settings.clone()).unwrap_or_default()
}

fn audit(source: &SourceRecord) -> AuditContext {
    AuditContext {
        actor_kind: ActorKind::Source,
        actor_id: source.id.to_string(),
        ip: None,
        correlation_id: crate::error::request_id().unwrap_or_default(),
    }
}

/// The source's organisation's integration of kind `T`, or a refusal with `status` (401; 403
/// for Meta's handshake) when it has none.
async fn integration<T: Integration>(
    state: &AppState,
    source: &SourceRecord,
    status: StatusCode,
) -> Result<T, ApiError> {
    state
        .engine
        .integration::<T>(tenant(source))
        .await?
        .ok_or_else(|| refuse(T::KIND, "not_configured", status))
}

/// Where Leadline's own hooks are, as the outside world sees them: `public_base_url`, or
/// without one configured, `http://` and the `Host` header.
fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    let base = state.auth.public_base_url.trim_end_matches('/');
    if base.is_empty() {
        format!(
            "http://{}",
            header_text(headers, header::HOST).unwrap_or_default()
        )
    } else {
        base.to_owned()
    }
}

/// The URL a request was sent to, as the sender saw it.
fn public_url(state: &AppState, uri: &OriginalUri, headers: &HeaderMap) -> String {
    let path = uri.0.path_and_query().map_or("/", |p| p.as_str());
    format!("{}{path}", public_base(state, headers))
}

/// The source, its organisation's Twilio integration, and the form's pairs, once the
/// signature over the URL Twilio requested (rebuilt from `public_base_url`) holds.
async fn twilio_request(
    state: &AppState,
    source_id: &str,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(SourceRecord, TwilioIntegration, Vec<(String, String)>), ApiError> {
    let kind = SourceKind::Twilio;
    let source = source(state, kind, source_id).await?;
    let integration =
        integration::<TwilioIntegration>(state, &source, StatusCode::UNAUTHORIZED).await?;
    let url = public_url(state, uri, headers);
    let params: Vec<(String, String)> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    twilio::verify(
        &integration.auth_token,
        header_text(headers, twilio::SIGNATURE_HEADER),
        &url,
        &params,
        None,
    )
    .map_err(|e| refuse(kind, e.reason(), StatusCode::UNAUTHORIZED))?;
    Ok((source, integration, params))
}

/// An SMS to the business number: joins the sender's thread and goes through the compliance
/// words (STOP, HELP, START, free-text opt-outs). Answered with empty TwiML: replies go out
/// through the API as jobs. A message Twilio delivers twice is taken once.
#[utoipa::path(
    post, path = "/hooks/twilio/{source_id}", tag = "hooks",
    params(
        ("source_id" = String, Path, description = "The Twilio source"),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature"),
    ),
    request_body(content = Object, description = "Twilio's incoming-message form", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Taken (TwiML)", content_type = "text/xml"),
        (status = 401, description = "Signature missing or wrong, or no Twilio integration", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live source", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn twilio_sms(
    State(state): State<AppState>,
    axum::extract::Path(source_id): axum::extract::Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let kind = SourceKind::Twilio;
    let (source, _, params) = twilio_request(&state, &source_id, &uri, &headers, &body).await?;
    let Some(sms) = twilio::InboundSms::parse(&params) else {
        count(kind, "ignored", "not_a_message");
        return Ok(xml(twilio::TWIML_EMPTY.to_owned()));
    };
    let Ok(from) = Phone::parse_e164(&sms.from) else {
        count(kind, "ignored", "sender");
        return Ok(xml(twilio::TWIML_EMPTY.to_owned()));
    };
    let outcome = state
        .engine
        .receive(
            tenant(&source),
            Inbound {
                channel: Channel::Sms,
                from: Address::Phone(from),
                to: sms.to,
                body: sms.body,
                provider: "twilio".into(),
                provider_message_id: Some(sms.message_sid),
                new_lead_source: Some(
                    settings(&source)
                        .lead_source
                        .unwrap_or_else(|| engine::inbound::TEXT_LEAD_SOURCE.to_owned()),
                ),
            },
        )
        .await?;
    count(kind, outcome.label(), "");
    Ok(xml(twilio::TWIML_EMPTY.to_owned()))
}

#[derive(Debug, serde::Deserialize)]
pub struct StatusQuery {
    /// Our message id, added to the callback URL when the message was sent.
    m: Option<String>,
}

/// A status callback: moves the message (sent, delivered, undelivered, failed, with Twilio's
/// error code); error 21610 (the recipient texted STOP to Twilio) suppresses them.
#[utoipa::path(
    post, path = "/hooks/twilio/{source_id}/status", tag = "hooks",
    params(
        ("source_id" = String, Path, description = "The Twilio source"),
        ("m" = Option<String>, Query, description = "Our message id, as Leadline set it"),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature"),
    ),
    request_body(content = Object, description = "Twilio's status form", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Recorded (or not ours)"),
        (status = 401, description = "Signature missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live source", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn twilio_status(
    State(state): State<AppState>,
    axum::extract::Path(source_id): axum::extract::Path<String>,
    Query(query): Query<StatusQuery>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let kind = SourceKind::Twilio;
    let (source, _, params) = twilio_request(&state, &source_id, &uri, &headers, &body).await?;
    let Some(callback) = twilio::StatusCallback::parse(&params) else {
        count(kind, "ignored", "interim_status");
        return Ok(StatusCode::NO_CONTENT);
    };
    let suppress = (callback.error_code.as_deref() == Some(twilio::UNSUBSCRIBED))
        .then(|| format!("provider:{}", twilio::UNSUBSCRIBED));
    state
        .engine
        .receipt(
            tenant(&source),
            Receipt {
                provider: "twilio",
                message_id: query.m.as_deref().and_then(|m| m.parse::<MessageId>().ok()),
                provider_message_id: Some(callback.message_sid),
                status: Some(callback.status),
                error: callback.error_code,
                suppress,
                signal: None,
            },
        )
        .await?;
    count(kind, "accepted", "status");
    Ok(StatusCode::NO_CONTENT)
}

/// A call to the business number: forwarded to the business line (`forward_calls_to`) for
/// `ring_seconds`; the outcome comes back to `.../voice/done`.
#[utoipa::path(
    post, path = "/hooks/twilio/{source_id}/voice", tag = "hooks",
    params(
        ("source_id" = String, Path, description = "The Twilio source"),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature"),
    ),
    request_body(content = Object, description = "Twilio's voice form", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML: dial the business line", content_type = "text/xml"),
        (status = 401, description = "Signature missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live source", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn twilio_voice(
    State(state): State<AppState>,
    axum::extract::Path(source_id): axum::extract::Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (source, integration, params) =
        twilio_request(&state, &source_id, &uri, &headers, &body).await?;
    let caller = twilio::VoiceCall::parse(&params)
        .map(|c| c.from)
        .unwrap_or_default();
    let action = format!(
        "{}/hooks/twilio/{}/voice/done",
        public_base(&state, &headers),
        source.id
    );
    count(SourceKind::Twilio, "accepted", "call");
    Ok(xml(twilio::twiml_dial(
        integration.forward_calls_to.as_deref(),
        integration.ring_seconds.unwrap_or(20),
        &action,
        &caller,
    )))
}

/// The outcome of a forwarded call. Unanswered (busy, no answer, failed): the caller becomes a
/// lead, or touches the lead they are, and gets the missed-call text at once.
#[utoipa::path(
    post, path = "/hooks/twilio/{source_id}/voice/done", tag = "hooks",
    params(
        ("source_id" = String, Path, description = "The Twilio source"),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature"),
    ),
    request_body(content = Object, description = "Twilio's Dial action form", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML: hang up", content_type = "text/xml"),
        (status = 401, description = "Signature missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live source", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn twilio_voice_done(
    State(state): State<AppState>,
    axum::extract::Path(source_id): axum::extract::Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let kind = SourceKind::Twilio;
    let (source, _, params) = twilio_request(&state, &source_id, &uri, &headers, &body).await?;
    let hang_up = || xml(twilio::twiml_goodbye(None));
    let Some(call) = twilio::VoiceCall::parse(&params) else {
        count(kind, "ignored", "not_a_call");
        return Ok(hang_up());
    };
    if !call.missed() {
        count(kind, "accepted", "call_answered");
        return Ok(hang_up());
    }
    // A caller id that is not a number (withheld, "anonymous") cannot be texted back.
    let Ok(phone) = Phone::parse_e164(&call.from) else {
        count(kind, "ignored", "caller_withheld");
        return Ok(hang_up());
    };
    // Remembered once the work is done: a retry after a failure is taken again (the text
    // itself goes once, by its dedupe key).
    let event = format!("call:{}", call.call_sid);
    let store = &state.engine.store;
    if store.event_seen(source.id, &event).await? {
        count(kind, "replayed", "missed_call");
        return Ok(hang_up());
    }
    let lead = NewLead {
        name: None,
        phone: Some(phone),
        email: None,
        source: settings(&source)
            .lead_source
            .unwrap_or_else(|| "missed_call".to_owned()),
        address: None,
        zip: None,
        time_zone: None,
        consent: None,
        details: domain::Details::default(),
        tags: domain::Tags::default(),
    };
    state
        .engine
        .missed_call(tenant(&source), lead, &call.call_sid, audit(&source))
        .await?;
    store
        .remember_event(source.id, &event, state.engine.clock.wall_now())
        .await?;
    count(kind, "accepted", "missed_call");
    Ok(hang_up())
}

fn verify_sendgrid(
    state: &AppState,
    key: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let kind = SourceKind::Sendgrid;
    let key = sendgrid::EventKey::parse(key)
        .map_err(|_| refuse(kind, "bad_key", StatusCode::UNAUTHORIZED))?;
    let timestamp = header_text(headers, sendgrid::TIMESTAMP_HEADER);
    key.verify(
        header_text(headers, sendgrid::SIGNATURE_HEADER),
        timestamp,
        body,
    )
    .map_err(|e| refuse(kind, e.reason(), StatusCode::UNAUTHORIZED))?;
    let signed_at = timestamp.and_then(|t| t.trim().parse::<i64>().ok());
    let now = state.engine.clock.wall_now().as_second();
    match signed_at {
        Some(t) if (now - t).abs() <= SENDGRID_TOLERANCE => Ok(()),
        _ => Err(refuse(kind, "stale_timestamp", StatusCode::UNAUTHORIZED)),
    }
}

/// SendGrid's signed Event Webhook: each event once (by `sg_event_id`). Delivered, bounce,
/// dropped move the message; bounces, spam reports and unsubscribes suppress the address.
#[utoipa::path(
    post, path = "/hooks/sendgrid/{source_id}/events", tag = "hooks",
    params(
        ("source_id" = String, Path, description = "The SendGrid source"),
        ("X-Twilio-Email-Event-Webhook-Signature" = String, Header, description = "ECDSA signature"),
        ("X-Twilio-Email-Event-Webhook-Timestamp" = String, Header, description = "Signed timestamp"),
    ),
    request_body(content = Object, description = "A JSON array of events"),
    responses(
        (status = 204, description = "Taken"),
        (status = 400, description = "Not a JSON array", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Signature missing, stale or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live source", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sendgrid_events(
    State(state): State<AppState>,
    axum::extract::Path(source_id): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let kind = SourceKind::Sendgrid;
    let source = source(&state, kind, &source_id).await?;
    let integration =
        integration::<SendgridIntegration>(&state, &source, StatusCode::UNAUTHORIZED).await?;
    verify_sendgrid(
        &state,
        &integration.event_webhook_public_key,
        &headers,
        &body,
    )?;
    let events = sendgrid::Event::parse_batch(&body)
        .map_err(|_| ApiError::field("body", "must be a JSON array of events"))?;
    let store = &state.engine.store;
    for event in events {
        // Remembered once applied: an event whose work failed is applied when SendGrid retries.
        let id = event.sg_event_id.as_deref().filter(|id| id.len() <= 100);
        if let Some(id) = id
            && store.event_seen(source.id, id).await?
        {
            count(kind, "replayed", "event");
            continue;
        }
        let effect = event.effect();
        if effect.is_none() {
            count(kind, "ignored", "event");
            continue;
        }
        state
            .engine
            .receipt(
                tenant(&source),
                Receipt {
                    provider: "sendgrid",
                    message_id: event.message_id.as_deref().and_then(|m| m.parse().ok()),
                    provider_message_id: event.provider_message_id().map(str::to_owned),
                    status: effect.status,
                    error: effect.error.map(str::to_owned),
                    suppress: effect.suppress.map(str::to_owned),
                    signal: effect.signal.map(|s| {
                        let at = event
                            .timestamp
                            .and_then(|t| domain::Timestamp::from_second(t).ok())
                            .unwrap_or_else(|| state.engine.clock.now());
                        (s, at)
                    }),
                },
            )
            .await?;
        if let Some(id) = id {
            store
                .remember_event(source.id, id, state.engine.clock.wall_now())
                .await?;
        }
        count(kind, "accepted", "event");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, serde::Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// SendGrid's Inbound Parse: a reply by email joins the sender's thread. Signed by the parse
/// security policy when its key is set in the integration; otherwise the URL's `token` (the
/// source's secret) authenticates it.
#[utoipa::path(
    post, path = "/hooks/sendgrid/{source_id}/inbound", tag = "hooks",
    params(
        ("source_id" = String, Path, description = "The SendGrid source"),
        ("token" = Option<String>, Query, description = "The source's secret, for an unsigned parse webhook"),
    ),
    request_body(content = Object, description = "Inbound Parse's multipart form", content_type = "multipart/form-data"),
    responses(
        (status = 204, description = "Taken"),
        (status = 401, description = "Signature or token missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live source", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a parse form, or no sender", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sendgrid_inbound(
    State(state): State<AppState>,
    axum::extract::Path(source_id): axum::extract::Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    let kind = SourceKind::Sendgrid;
    let source = source(&state, kind, &source_id).await?;
    let integration =
        integration::<SendgridIntegration>(&state, &source, StatusCode::UNAUTHORIZED).await?;
    let body = axum::body::to_bytes(body, sendgrid::MAX_INBOUND)
        .await
        .map_err(|_| ApiError::too_large(sendgrid::MAX_INBOUND))?;
    match &integration.inbound_parse_public_key {
        Some(key) => verify_sendgrid(&state, key, &headers, &body)?,
        None => {
            let now = state.engine.clock.wall_now();
            let presented = query.token.unwrap_or_default();
            let ok = source
                .secrets_at(now)
                .iter()
                .any(|s| bool::from(s.expose_secret().as_bytes().ct_eq(presented.as_bytes())));
            if !ok {
                return Err(refuse(kind, "bad_token", StatusCode::UNAUTHORIZED));
            }
        }
    }
    let email = InboundEmail::parse(header_text(&headers, header::CONTENT_TYPE), body)
        .await
        .map_err(|e| ApiError::field("body", e.to_string()))?;
    let Ok(from) = Email::parse(&email.from) else {
        count(kind, "ignored", "sender");
        return Ok(StatusCode::NO_CONTENT);
    };
    let text = if email.subject.is_empty() {
        email.text
    } else {
        format!("{}\n\n{}", email.subject, email.text)
    };
    let outcome = state
        .engine
        .receive(
            tenant(&source),
            Inbound {
                channel: Channel::Email,
                from: Address::Email(from),
                to: email.to,
                body: text,
                provider: "sendgrid".into(),
                provider_message_id: email.message_id,
                // An email from a stranger stays a loose message: mail is mostly not inquiries.
                new_lead_source: None,
            },
        )
        .await?;
    count(kind, outcome.label(), "inbound");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, serde::Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's subscription handshake: the challenge back, for our verify token only.
#[utoipa::path(
    get, path = "/hooks/meta/{source_id}", tag = "hooks",
    params(
        ("source_id" = String, Path, description = "The Meta source"),
        ("hub.mode" = String, Query, description = "subscribe"),
        ("hub.verify_token" = String, Query, description = "The integration's verify token"),
        ("hub.challenge" = String, Query, description = "Echoed back"),
    ),
    responses(
        (status = 200, description = "The challenge", content_type = "text/plain"),
        (status = 403, description = "Not our token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live source", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn meta_handshake(
    State(state): State<AppState>,
    axum::extract::Path(source_id): axum::extract::Path<String>,
    Query(query): Query<Handshake>,
) -> Result<Response, ApiError> {
    let kind = SourceKind::Meta;
    let source = source(&state, kind, &source_id).await?;
    let meta = integration::<MetaIntegration>(&state, &source, StatusCode::FORBIDDEN).await?;
    let challenge = meta::subscription_challenge(
        query.mode.as_deref(),
        query.verify_token.as_deref(),
        query.challenge.as_deref(),
        &meta.verify_token,
    )
    .ok_or_else(|| refuse(kind, "verify_token", StatusCode::FORBIDDEN))?;
    count(kind, "accepted", "handshake");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
        challenge,
    )
        .into_response())
}

/// A Lead Ads delivery: every `leadgen` change of every entry is queued to be fetched from
/// the Graph API (once per lead id) and taken as a lead with its consent.
#[utoipa::path(
    post, path = "/hooks/meta/{source_id}", tag = "hooks",
    params(
        ("source_id" = String, Path, description = "The Meta source"),
        ("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC of the body>"),
    ),
    request_body(content = Object, description = "Meta's webhook delivery"),
    responses(
        (status = 200, description = "Queued"),
        (status = 400, description = "Not a delivery", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Signature missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live source", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn meta_delivery(
    State(state): State<AppState>,
    axum::extract::Path(source_id): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let kind = SourceKind::Meta;
    let source = source(&state, kind, &source_id).await?;
    let integration =
        integration::<MetaIntegration>(&state, &source, StatusCode::UNAUTHORIZED).await?;
    meta::verify(
        integration.app_secret.as_bytes(),
        header_text(&headers, meta::SIGNATURE_HEADER),
        &body,
    )
    .map_err(|e| refuse(kind, e.reason(), StatusCode::UNAUTHORIZED))?;
    let changes = meta::changes(&body)
        .map_err(|_| ApiError::field("body", "must be a Meta webhook delivery"))?;
    let engine = &state.engine;
    let now = engine.clock.now();
    let mut queued = false;
    for change in changes {
        // Remembered once queued: a delivery whose queueing failed is queued when Meta retries.
        let event = format!("leadgen:{}", change.leadgen_id);
        if engine.store.event_seen(source.id, &event).await? {
            count(kind, "replayed", "leadgen");
            continue;
        }
        let job = engine::jobs::MetaLead {
            source_id: source.id,
            change,
        };
        let mut job = job.new_job(Some(tenant(&source)), now, engine.config.max_attempts);
        job.dedupe_key = Some(format!("{}:{}", source.id, event));
        match engine.store.enqueue(job).await {
            Ok(_) | Err(store::DbError::Conflict(_)) => queued = true,
            Err(e) => return Err(e.into()),
        }
        engine
            .store
            .remember_event(source.id, &event, engine.clock.wall_now())
            .await?;
        count(kind, "accepted", "leadgen");
    }
    if queued {
        engine.wake();
    }
    Ok(StatusCode::OK)
}

/// A GoHighLevel contact as a lead: its name, phone (read in the organisation's region), email,
/// address and time zone. No consent is claimed: GoHighLevel's event carries no evidence of it.
fn ghl_lead(
    contact: &ghl::Contact,
    settings: &ProviderSourceSettings,
    region: &str,
) -> Option<NewLead> {
    fn text(s: &Option<String>) -> Option<&str> {
        s.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let phone = text(&contact.phone).and_then(|p| Phone::parse(p, region).ok());
    let email = text(&contact.email).and_then(|e| Email::parse(e).ok());
    if phone.is_none() && email.is_none() {
        return None;
    }
    let address = [
        text(&contact.address1),
        text(&contact.city),
        text(&contact.state),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    Some(NewLead {
        name: contact.full_name().map(|n| n.chars().take(200).collect()),
        phone,
        email,
        source: settings
            .lead_source
            .clone()
            .unwrap_or_else(|| "gohighlevel".to_owned()),
        address: (!address.is_empty()).then(|| address.chars().take(500).collect()),
        zip: text(&contact.postal_code).map(|z| z.chars().take(20).collect()),
        time_zone: text(&contact.timezone)
            .filter(|tz| jiff::tz::db().get(tz).is_ok())
            .map(str::to_owned),
        consent: None,
        details: {
            let mut details = domain::Details::default();
            if let Some(from) = text(&contact.source) {
                details.add("GoHighLevel source", from);
            }
            details
        },
        tags: domain::Tags::lenient(&contact.tags),
    })
}

/// The address in `Name <address>`, or the whole text.
fn bare_address(from: &str) -> &str {
    match (from.rfind('<'), from.rfind('>')) {
        (Some(open), Some(close)) if open < close => &from[open + 1..close],
        _ => from.trim(),
    }
}

/// A GoHighLevel webhook: `ContactCreate` becomes a lead (answered like any other; a contact
/// marked Do Not Disturb is suppressed first, so nothing is sent), `InboundMessage` (SMS or
/// email) joins the sender's thread and goes through the compliance words. Signed with
/// Ed25519 (`x-ghl-signature`) or the legacy RSA (`x-wh-signature`) over the raw body; the
/// body's `timestamp` must be within five minutes and its `webhookId` is taken once. Events
/// of another location than the integration's are acknowledged and ignored.
#[utoipa::path(
    post, path = "/hooks/ghl/{source_id}", tag = "hooks",
    params(
        ("source_id" = String, Path, description = "The GoHighLevel source"),
        ("x-ghl-signature" = Option<String>, Header, description = "Ed25519 signature of the body, base64"),
        ("x-wh-signature" = Option<String>, Header, description = "Legacy RSA-SHA256 signature of the body, base64"),
    ),
    request_body(content = Object, description = "A GoHighLevel webhook event"),
    responses(
        (status = 200, description = "Taken, a replay, or not an event Leadline takes"),
        (status = 400, description = "Not a GoHighLevel event", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Signature missing or wrong, timestamp stale, or no integration", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live source", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ghl_event(
    State(state): State<AppState>,
    axum::extract::Path(source_id): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let kind = SourceKind::Ghl;
    let source = source(&state, kind, &source_id).await?;
    let engine = &state.engine;
    let integration =
        integration::<GhlIntegration>(&state, &source, StatusCode::UNAUTHORIZED).await?;
    let keys = integration.keys(&engine.config.endpoints);
    if keys.ed25519.is_none() && keys.rsa.is_none() {
        return Err(refuse(kind, "no_key", StatusCode::UNAUTHORIZED));
    }
    keys.verify(
        header_text(&headers, ghl::ED25519_HEADER),
        header_text(&headers, ghl::RSA_HEADER),
        &body,
    )
    .map_err(|e| refuse(kind, e.reason(), StatusCode::UNAUTHORIZED))?;
    let delivery = ghl::Delivery::parse(&body)
        .map_err(|_| ApiError::field("body", "must be a GoHighLevel webhook event"))?;
    let now = engine.clock.wall_now();
    match delivery.timestamp {
        Some(t) if (now.as_second() - t.as_second()).abs() <= ghl::TOLERANCE_SECONDS => {}
        _ => return Err(refuse(kind, "stale_timestamp", StatusCode::UNAUTHORIZED)),
    }
    if delivery.location_id.as_deref() != Some(integration.location_id.as_str()) {
        count(kind, "ignored", "location");
        return Ok(StatusCode::OK);
    }
    let event_id = delivery
        .webhook_id
        .as_deref()
        .filter(|id| id.len() <= 100)
        .map(|id| format!("webhook:{id}"));
    if let Some(id) = &event_id
        && engine.store.event_seen(source.id, id).await?
    {
        count(kind, "replayed", "event");
        return Ok(StatusCode::OK);
    }
    let t = tenant(&source);
    let taken = match delivery.event {
        ghl::Event::ContactCreate(contact) => ghl_contact(&state, &source, contact).await?,
        ghl::Event::InboundMessage(message) => ghl_message(&state, &source, message).await?,
        ghl::Event::Other(_) => "ignored",
    };
    // Remembered once done: an event whose work failed is done when GoHighLevel retries.
    if let Some(id) = &event_id {
        engine.store.remember_event(source.id, id, now).await?;
    }
    count(kind, taken, "event");
    tracing::debug!(tenant = %t.id(), outcome = taken, "GoHighLevel event");
    Ok(StatusCode::OK)
}

async fn ghl_contact(
    state: &AppState,
    source: &SourceRecord,
    contact: ghl::Contact,
) -> Result<&'static str, ApiError> {
    let t = tenant(source);
    let region = state.settings(t).await?.default_region;
    let Some(lead) = ghl_lead(&contact, &settings(source), &region) else {
        return Ok("ignored");
    };
    if contact.dnd {
        // Marked Do Not Disturb in the business's CRM: kept as a lead, never messaged.
        let addresses = [
            lead.phone.clone().map(Address::Phone),
            lead.email.clone().map(Address::Email),
        ];
        for address in addresses.iter().flatten() {
            state
                .engine
                .suppress_for_provider(t, address, "ghl_dnd", "ghl")
                .await?;
        }
    }
    let claim = store::IdempotencyClaim {
        key: format!("hook:{}:contact:{}", source.id, contact.id),
        request_hash: crypto::sha256(contact.id.as_bytes()),
    };
    state
        .engine
        .intake(t, lead, Some(claim), audit(source))
        .await?;
    Ok("accepted")
}

async fn ghl_message(
    state: &AppState,
    source: &SourceRecord,
    message: ghl::InboundMessage,
) -> Result<&'static str, ApiError> {
    if message
        .direction
        .as_deref()
        .is_some_and(|d| !d.eq_ignore_ascii_case("inbound"))
    {
        return Ok("ignored");
    }
    let t = tenant(source);
    let from = message.from.as_deref().unwrap_or_default();
    let (channel, from) = match message.message_type.to_ascii_uppercase().as_str() {
        "SMS" | "TYPE_SMS" => {
            let region = state.settings(t).await?.default_region;
            match Phone::parse(from, &region) {
                Ok(p) => (Channel::Sms, Address::Phone(p)),
                Err(_) => return Ok("ignored"),
            }
        }
        "EMAIL" | "TYPE_EMAIL" => match Email::parse(bare_address(from)) {
            Ok(e) => (Channel::Email, Address::Email(e)),
            Err(_) => return Ok("ignored"),
        },
        // Calls, voicemails, chat, social messages: not Leadline's channels.
        _ => return Ok("ignored"),
    };
    let outcome = state
        .engine
        .receive(
            t,
            Inbound {
                channel,
                from,
                to: message.to.unwrap_or_default(),
                body: message.body,
                provider: "ghl".into(),
                provider_message_id: message.message_id.filter(|m| m.len() <= 100),
                new_lead_source: Some(
                    settings(source)
                        .lead_source
                        .unwrap_or_else(|| "gohighlevel".to_owned()),
                ),
            },
        )
        .await?;
    Ok(outcome.label())
}
