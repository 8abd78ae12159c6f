//! A lead's conversation: messages an agent writes, and previews of templates.
//!
//! A manual message is checked against compliance before it is accepted, and the answer says
//! what will happen: it goes now, it waits until a time (with the rules that hold it), or it is
//! refused (with the rules and their legal sources). Accepted messages are sent by a durable job,
//! once: a retried request with the same `Idempotency-Key` sends nothing more.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use compliance::Decision;
use domain::{Channel, JobId, LeadId, Purpose};
use engine::dispatch::Outgoing;
use engine::jobs::{Job, ManualMessage};
use serde::{Deserialize, Serialize};

use crate::auth::{Auth, ClientIp, scope};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiPath, idempotency_key};
use crate::routes::compliance::{ReasonView, verdict};
use crate::views::ts;
use crate::{AppState, actor_event};

/// A message an agent writes to a lead.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// `sms` or `email`; default the lead's phone, else its email.
    pub channel: Option<Channel>,
    /// What compliance holds it to: `transactional` (about the lead's own request),
    /// `informational` or `marketing`.
    pub purpose: Purpose,
    /// Email only, and required there (up to 200 characters).
    pub subject: Option<String>,
    /// The text as written (up to 1,600 characters for SMS, 100 KiB for email).
    pub body: String,
}

/// What became of it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageAccepted {
    /// `sending` (now) or `scheduled` (held by the rules until `send_at`).
    pub outcome: &'static str,
    pub send_at: String,
    /// Why it waits, when it does (quiet hours at the lead's location, a cap's window).
    pub reasons: Vec<ReasonView>,
    pub channel: Channel,
    /// The job that sends it.
    pub job_id: JobId,
}

/// Sends a message to a lead, through compliance.
#[utoipa::path(
    post, path = "/api/v1/leads/{id}/messages", tag = "leads", request_body = NewMessage,
    params(
        ("id" = String, Path, description = "The lead"),
        ("Idempotency-Key" = Option<String>, Header, description = "A retried request with the same key sends nothing more"),
    ),
    responses(
        (status = 202, description = "Accepted: sending now, or scheduled for when the rules allow", body = MessageAccepted),
        (status = 404, description = "No such lead in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field, no address for the channel, or compliance refuses it (each rule named)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:write"]))
)]
pub async fn send(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::LeadsWrite>,
    ApiPath(id): ApiPath<LeadId>,
    headers: HeaderMap,
    body: ApiJson<NewMessage>,
) -> ApiResult<(StatusCode, Json<MessageAccepted>)> {
    let input = body.value;
    let engine = &state.engine;
    let lead = engine
        .store
        .get_lead(auth.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let idempotency = idempotency_key(&headers)?;
    let channel = input.channel.unwrap_or(if lead.phone.is_some() {
        Channel::Sms
    } else {
        Channel::Email
    });
    let mut errors = Vec::new();
    let mut fail = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    };
    let body_text = input.body.trim().to_owned();
    let limit_ok = match channel {
        Channel::Sms => body_text.chars().count() <= engine::templates::MAX_SMS_CHARS,
        Channel::Email => body_text.len() <= engine::templates::MAX_EMAIL_BYTES,
    };
    if body_text.is_empty() {
        fail("body", "is empty");
    } else if !limit_ok {
        fail("body", "is too long for the channel");
    }
    let subject = input.subject.map(|s| s.trim().to_owned());
    match (channel, &subject) {
        (Channel::Email, None) => fail("subject", "is required for email"),
        (Channel::Email, Some(s)) if s.is_empty() || s.chars().count() > 200 => {
            fail("subject", "must be 1 to 200 characters");
        }
        (Channel::Sms, Some(_)) => fail("subject", "is for email only"),
        _ => {}
    }
    let to = engine::sequences::address_of(&lead, channel);
    if to.is_none() {
        fail("channel", "the lead has no address for this channel");
    }
    let (Some(to), true) = (to, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };

    // The same check the send makes, now, so the answer can say what will happen.
    let org = engine
        .store
        .get_tenant(auth.tenant.id())
        .await?
        .ok_or_else(ApiError::not_found)?;
    let now = engine.clock.now();
    let mut check = Outgoing::to_lead(
        auth.tenant,
        org,
        lead.clone(),
        to,
        input.purpose,
        body_text.clone(),
    );
    check.subject = subject.clone();
    let decision = engine.assess_at(&check, now).await?.decision;
    let (send_at, outcome) = match &decision {
        Decision::Send(_) => (now, "sending"),
        Decision::Defer { until, .. } => (*until, "scheduled"),
        Decision::Block { reasons } => {
            let views: Vec<ReasonView> = reasons.iter().map(Into::into).collect();
            let detail = views
                .iter()
                .map(|r| format!("{}: {}", r.rule, r.detail))
                .collect::<Vec<_>>()
                .join("; ");
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "compliance-blocked",
                "Compliance refuses this message",
            )
            .detail(detail);
            e.errors = views
                .into_iter()
                .map(|r| FieldError {
                    field: "compliance".into(),
                    message: format!("{} ({}): {}", r.rule, r.source, r.detail),
                })
                .collect();
            return Err(e);
        }
    };
    let key = format!(
        "manual:{}:{}",
        lead.id,
        idempotency.unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
    );
    let mut job = ManualMessage {
        lead_id: lead.id,
        channel,
        purpose: input.purpose,
        subject,
        body: body_text,
        key: key.clone(),
    }
    .new_job(Some(auth.tenant), send_at, engine.config.max_attempts);
    job.dedupe_key = Some(key);
    // With an Idempotency-Key, a retry finds the first request's job (or, once it ran, its
    // message, by the same key): the same answer, nothing sent twice.
    let job_id = engine.store.enqueue(job).await?;
    engine.wake();
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "message.write",
            "lead",
            lead.id.to_string(),
            ip,
            serde_json::json!({ "channel": channel, "purpose": input.purpose, "outcome": outcome }),
        ))
        .await?;
    let (_, _, reasons) = verdict(&decision);
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageAccepted {
            outcome,
            send_at: ts(send_at),
            reasons: if outcome == "scheduled" {
                reasons
            } else {
                Vec::new()
            },
            channel,
            job_id,
        }),
    ))
}

/// A template to try out.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// The message template (`{{ first_name }}`, `{{ business_name }}`, `{{ source }}`,
    /// `{{ support_contact }}`).
    pub template: String,
    /// An email subject template, when there is one.
    pub subject: Option<String>,
    /// Render for this lead; default a sample lead named Jane.
    pub lead_id: Option<LeadId>,
}

/// A rendered template, with what an SMS of it costs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub body: String,
    pub subject: Option<String>,
    /// Characters of the body.
    pub characters: usize,
    /// `gsm7` or `ucs2`: the encoding an SMS of the body needs.
    pub encoding: &'static str,
    /// SMS segments the body takes (before Leadline adds the brand and opt-out line to a first
    /// text).
    pub segments: usize,
}

/// Renders a template as a lead would read it, with its SMS length and segments.
#[utoipa::path(
    post, path = "/api/v1/templates/preview", tag = "leads", request_body = PreviewInput,
    responses(
        (status = 200, description = "The rendered message", body = Preview),
        (status = 422, description = "The template (or subject) does not compile or render, or no such lead", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:read"]))
)]
pub async fn preview(
    State(state): State<AppState>,
    auth: Auth<scope::LeadsRead>,
    body: ApiJson<PreviewInput>,
) -> ApiResult<Json<Preview>> {
    let input = body.value;
    let engine = &state.engine;
    let org = engine
        .store
        .get_tenant(auth.tenant.id())
        .await?
        .ok_or_else(ApiError::not_found)?;
    let (first_name, source) = match input.lead_id {
        Some(id) => {
            let lead = engine
                .store
                .get_lead(auth.tenant, id)
                .await?
                .ok_or_else(|| ApiError::field("lead_id", "no such lead in this organisation"))?;
            (lead.first_name().map(str::to_owned), lead.source)
        }
        None => (Some("Jane".to_owned()), "web_form".to_owned()),
    };
    let vars = engine::templates::MessageVars {
        first_name,
        business_name: org.brand().to_owned(),
        source,
        support_contact: org.settings.support_contact.clone(),
        opt_out_line: engine::templates::SMS_OPT_OUT_LINE.to_owned(),
        ..engine::templates::MessageVars::default()
    };
    let mut errors = Vec::new();
    let body_text =
        engine::templates::render(&input.template, &vars, engine::templates::MAX_EMAIL_BYTES)
            .map_err(|e| {
                errors.push(FieldError {
                    field: "template".into(),
                    message: e.to_string(),
                })
            })
            .ok();
    let subject = match &input.subject {
        Some(s) => engine::templates::render(s, &vars, 200)
            .map_err(|e| {
                errors.push(FieldError {
                    field: "subject".into(),
                    message: e.to_string(),
                })
            })
            .ok(),
        None => None,
    };
    let Some(body_text) = body_text.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let (encoding, segments) = sms_segments(&body_text);
    Ok(Json(Preview {
        characters: body_text.chars().count(),
        body: body_text,
        subject,
        encoding,
        segments,
    }))
}

/// The encoding an SMS needs and how many segments it takes: GSM 03.38 (160 septets alone, 153
/// per part; the extension characters take two) or UCS-2 (70 alone, 67 per part; characters
/// beyond the BMP take two units).
fn sms_segments(text: &str) -> (&'static str, usize) {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENDED: &str = "^{}\\[~]|€\u{c}";
    let septets: Option<usize> = text
        .chars()
        .map(|c| {
            if BASIC.contains(c) {
                Some(1)
            } else if EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units, single, part) = match septets {
        Some(n) => ("gsm7", n, 160, 153),
        None => ("ucs2", text.encode_utf16().count(), 70, 67),
    };
    let segments = if units <= single {
        1
    } else {
        units.div_ceil(part)
    };
    (encoding, segments)
}

#[cfg(test)]
mod tests {
    use super::sms_segments;

    #[test]
    fn segments_follow_the_encoding() {
        assert_eq!(sms_segments("Hi Jane"), ("gsm7", 1));
        assert_eq!(sms_segments(&"a".repeat(160)), ("gsm7", 1));
        assert_eq!(sms_segments(&"a".repeat(161)), ("gsm7", 2));
        assert_eq!(
            sms_segments(&"€".repeat(80)),
            ("gsm7", 1),
            "two septets each"
        );
        assert_eq!(sms_segments(&"€".repeat(81)), ("gsm7", 2));
        assert_eq!(sms_segments("Hi 🙂"), ("ucs2", 1));
        assert_eq!(
            sms_segments(&"é".repeat(200)),
            ("gsm7", 2),
            "é is in the basic set"
        );
        assert_eq!(sms_segments(&"ê".repeat(71)), ("ucs2", 2));
    }
}
