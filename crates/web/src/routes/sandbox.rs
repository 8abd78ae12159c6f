//! `/api/v1/sandbox`: simulate inbound messages and move the clock. Refused in production.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::{Address, Channel};
use engine::inbound::Inbound;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Auth, ClientIp, scope};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::views::MessageView;

fn sandbox(state: &AppState) -> ApiResult<&crate::Sandbox> {
    state
        .sandbox
        .as_ref()
        .ok_or_else(|| ApiError::forbidden("the sandbox is off in production mode"))
}

/// A message as if a person had sent it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedInbound {
    /// The person: a phone (any format) or an email.
    pub from: String,
    /// Our number or address. Default: the organisation's SMS number.
    pub to: Option<String>,
    pub body: String,
    /// `sms` (default) or `email`.
    pub channel: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboundResult {
    pub message: MessageView,
    /// `opt_out`, `opt_in`, `help` when the body was one of those keywords.
    pub keyword: Option<String>,
    /// The phrase rule (`en.stop_contacting`, `es.dejen_de`, ...) when the body read as a
    /// free-text opt-out: the person is suppressed and a review is open.
    pub revocation: Option<String>,
}

/// Simulates an inbound message: it joins the lead's thread, and STOP or HELP are handled as
/// they would be from a carrier.
#[utoipa::path(
    post, path = "/api/v1/sandbox/inbound", tag = "sandbox", request_body = SimulatedInbound,
    responses(
        (status = 201, description = "Recorded and handled", body = InboundResult),
        (status = 403, description = "Production mode", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["sandbox"]))
)]
pub async fn inbound(
    State(state): State<AppState>,
    key: Auth<scope::Sandbox>,
    body: ApiJson<SimulatedInbound>,
) -> ApiResult<(StatusCode, Json<InboundResult>)> {
    sandbox(&state)?;
    let input = body.value;
    let mut errors = Vec::new();
    let channel = Channel::parse(input.channel.as_deref().unwrap_or("sms")).unwrap_or_else(|| {
        errors.push(FieldError {
            field: "channel".into(),
            message: "must be sms or email".into(),
        });
        Channel::Sms
    });
    let settings = state.settings(key.tenant).await?;
    let from = match (
        channel,
        Address::parse(&input.from, &settings.default_region),
    ) {
        (Channel::Sms, Some(a @ Address::Phone(_)))
        | (Channel::Email, Some(a @ Address::Email(_))) => Some(a),
        _ => {
            errors.push(FieldError {
                field: "from".into(),
                message: format!("is not a valid {} address", channel.as_str()),
            });
            None
        }
    };
    if input.body.chars().count() > 10_000 {
        errors.push(FieldError {
            field: "body".into(),
            message: "is longer than 10000 characters".into(),
        });
    }
    let (Some(from), true) = (from, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let to = input.to.unwrap_or(match channel {
        Channel::Sms => settings.sms_from,
        Channel::Email => settings.email_from,
    });
    let outcome = state
        .engine
        .receive(
            key.tenant,
            Inbound {
                channel,
                from,
                to,
                body: input.body,
                provider: "sandbox".into(),
                provider_message_id: None,
                // As on a real business number: a stranger's text is a lead.
                new_lead_source: Some(engine::inbound::TEXT_LEAD_SOURCE.to_owned()),
            },
        )
        .await?;
    let keyword = outcome.keyword.map(|k| k.as_str().to_owned());
    Ok((
        StatusCode::CREATED,
        Json(InboundResult {
            message: outcome.message.into(),
            keyword,
            revocation: outcome.revocation.map(str::to_owned),
        }),
    ))
}

/// Moves the sandbox clock: `{"set": "2026-03-02T08:00:00-05:00"}` or `{"advance": "PT12H"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockChange {
    /// An RFC 3339 instant.
    pub set: Option<String>,
    /// An ISO 8601 duration (`P1D`, `PT30M`).
    pub advance: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClockState {
    /// Business time now (RFC 3339).
    pub now: String,
}

/// Moves the sandbox clock; jobs that become due run at once.
#[utoipa::path(
    post, path = "/api/v1/sandbox/clock", tag = "sandbox", request_body = ClockChange,
    responses(
        (status = 200, description = "The clock after the change", body = ClockState),
        (status = 403, description = "Production mode", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither or both of set and advance, or a malformed value", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["sandbox"]))
)]
pub async fn clock(
    State(state): State<AppState>,
    _key: Auth<scope::Sandbox>,
    body: ApiJson<ClockChange>,
) -> ApiResult<Json<ClockState>> {
    let sandbox = sandbox(&state)?;
    match (body.value.set, body.value.advance) {
        (Some(set), None) => {
            let at = set
                .parse::<jiff::Timestamp>()
                .map_err(|_| ApiError::field("set", "is not an RFC 3339 instant"))?;
            sandbox.clock.set(at);
        }
        (None, Some(advance)) => {
            let span = advance
                .parse::<jiff::Span>()
                .map_err(|_| ApiError::field("advance", "is not an ISO 8601 duration"))?;
            // Calendar units (P1D, P1M) count from now in UTC.
            let now = state.engine.clock.now();
            let then = now
                .to_zoned(jiff::tz::TimeZone::UTC)
                .checked_add(span)
                .map_err(|_| ApiError::field("advance", "is out of range"))?;
            sandbox.clock.advance(then.timestamp().duration_since(now));
        }
        _ => {
            return Err(ApiError::field(
                "set",
                "give exactly one of set and advance",
            ));
        }
    }
    state.engine.wake();
    Ok(Json(ClockState {
        now: state.engine.clock.now().to_string(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccountEmailQuery {
    /// Only emails to this address.
    pub to: Option<String>,
}

/// An account email as the sandbox took it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountEmailView {
    pub to: String,
    pub subject: Option<String>,
    pub body: String,
}

/// The account emails (password resets, invitations) the sandbox has taken, newest first: how a
/// newcomer on a laptop reads a reset code or an invitation. Served only in sandbox mode and
/// only to requests from this machine (a loopback address), because they hold single-use
/// tokens.
#[utoipa::path(
    get, path = "/api/v1/sandbox/account-emails", tag = "sandbox", params(AccountEmailQuery),
    responses(
        (status = 200, description = "Account emails, newest first", body = Vec<AccountEmailView>),
        (status = 403, description = "Production mode, or not from this machine", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn account_emails(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiQuery(q): ApiQuery<AccountEmailQuery>,
) -> ApiResult<Json<Vec<AccountEmailView>>> {
    let sandbox = sandbox(&state)?;
    if !ip.is_some_and(|ip| ip.is_loopback()) {
        return Err(ApiError::forbidden(
            "account emails are shown only to requests from this machine",
        ));
    }
    let (name, value) = engine::account::ACCOUNT_EMAIL_HEADER;
    let wanted = q.to.map(|t| t.trim().to_lowercase());
    let emails = sandbox
        .provider
        .sent()
        .into_iter()
        .rev()
        .filter(|m| m.channel == Channel::Email)
        .filter(|m| m.headers.iter().any(|(n, v)| n == name && v == value))
        .filter(|m| wanted.as_ref().is_none_or(|w| m.to.to_lowercase() == *w))
        .take(100)
        .map(|m| AccountEmailView {
            to: m.to,
            subject: m.subject,
            body: m.body,
        })
        .collect();
    Ok(Json(emails))
}
