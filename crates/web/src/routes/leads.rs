//! `/api/v1/leads`: intake, lists and lookups.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::sequence::ExitRule;
use domain::{
    Address, ConsentEvidence, Email, LeadId, LeadStatus, NewLead, Phone, Purpose, Timestamp,
};
use serde::Deserialize;
use store::{IdempotencyClaim, LeadQuery, MessageQuery};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Auth, ClientIp, scope};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, idempotency_key};
use crate::views::{ConsentEventView, LeadDetail, LeadView, MessageView, Page};

/// A lead as a form, an integration or a person's own code sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLead {
    pub name: Option<String>,
    /// Any common format; numbers without a country code are read in the organisation's
    /// default region (US unless configured).
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Where the lead came from (`web_form`, `facebook`, ...). Default `api`.
    pub source: Option<String>,
    pub address: Option<String>,
    pub zip: Option<String>,
    /// IANA time zone, if known (`America/Chicago`).
    pub time_zone: Option<String>,
    pub consent: Option<ConsentInput>,
    /// Answers to the source's own questions, by question: `{"What service?": "Roof repair"}`
    /// (up to 30; questions up to 64 characters, answers up to 1000).
    pub details: Option<std::collections::BTreeMap<String, String>>,
    /// The business's labels (`roofing`, `spring-promo`): up to 20, each up to 40 letters,
    /// digits, `-`, `_`, `:` or `.`; lowercased, spaces become `-`. Sequences can enrol new
    /// leads by tag; a repeat submission adds its tags.
    pub tags: Option<Vec<String>>,
}

/// The evidence of consent shown with the form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// The exact disclosure text the person saw.
    pub disclosure_text: String,
    pub disclosure_version: Option<String>,
    pub seller: Option<String>,
    pub page_url: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// When the person agreed (RFC 3339). Default: now.
    pub timestamp: Option<String>,
    /// `transactional`, `informational`, `marketing`.
    pub purposes: Vec<String>,
}

struct Check(Vec<FieldError>);

impl Check {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Trims `value`, drops it when empty, and checks its length and characters.
    fn text(&mut self, field: &str, value: Option<String>, max: usize) -> Option<String> {
        let value = value
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())?;
        if value.chars().count() > max {
            self.fail(field, format!("is longer than {max} characters"));
            return None;
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.fail(field, "contains control characters");
            return None;
        }
        Some(value)
    }
}

/// Turns the request into a `NewLead`, or a 422 naming every bad field.
pub fn validate(
    input: CreateLead,
    default_region: &str,
    now: Timestamp,
) -> Result<NewLead, ApiError> {
    let mut c = Check(Vec::new());
    let name = c.text("name", input.name, 200);
    let phone = match c.text("phone", input.phone, 64) {
        Some(p) => match Phone::parse(&p, default_region) {
            Ok(p) => Some(p),
            Err(e) => {
                c.fail("phone", e.to_string());
                None
            }
        },
        None => None,
    };
    let email = match c.text("email", input.email, 254) {
        Some(e) => match Email::parse(&e) {
            Ok(e) => Some(e),
            Err(err) => {
                c.fail("email", err.to_string());
                None
            }
        },
        None => None,
    };
    let had_contact_errors = c.0.iter().any(|f| f.field == "phone" || f.field == "email");
    if phone.is_none() && email.is_none() && !had_contact_errors {
        c.fail("phone", "a lead needs a phone or an email");
    }
    let source = c
        .text("source", input.source, 64)
        .unwrap_or_else(|| "api".to_owned());
    let address = c.text("address", input.address, 500);
    let zip = c.text("zip", input.zip, 16);
    let time_zone = c.text("time_zone", input.time_zone, 64);
    if let Some(tz) = &time_zone
        && jiff::tz::TimeZone::get(tz).is_err()
    {
        c.fail("time_zone", "is not an IANA time zone");
    }
    let consent = input.consent.and_then(|consent| {
        let text = c.text(
            "consent.disclosure_text",
            Some(consent.disclosure_text),
            5000,
        );
        if text.is_none() && !c.0.iter().any(|f| f.field == "consent.disclosure_text") {
            c.fail("consent.disclosure_text", "is required");
        }
        let captured_at = match consent.timestamp {
            Some(ts) => match ts.parse::<Timestamp>() {
                Ok(t) if t > now + jiff::SignedDuration::from_mins(5) => {
                    c.fail("consent.timestamp", "is in the future");
                    None
                }
                Ok(t) => Some(t),
                Err(_) => {
                    c.fail("consent.timestamp", "is not an RFC 3339 instant");
                    None
                }
            },
            None => Some(now),
        };
        let mut purposes = Vec::new();
        for (i, p) in consent.purposes.iter().enumerate() {
            match Purpose::parse(p) {
                Some(p) if !purposes.contains(&p) => purposes.push(p),
                Some(_) => {}
                None => c.fail(
                    &format!("consent.purposes[{i}]"),
                    "is not transactional, informational or marketing",
                ),
            }
        }
        if consent.purposes.is_empty() {
            c.fail("consent.purposes", "names no purpose");
        }
        let ip = c.text("consent.ip", consent.ip, 64);
        if let Some(ip) = &ip
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            c.fail("consent.ip", "is not an IP address");
        }
        let evidence = ConsentEvidence {
            disclosure_text: text?,
            disclosure_version: c.text(
                "consent.disclosure_version",
                consent.disclosure_version,
                64,
            ),
            seller: c.text("consent.seller", consent.seller, 200),
            page_url: c.text("consent.page_url", consent.page_url, 2048),
            ip,
            user_agent: c.text("consent.user_agent", consent.user_agent, 1024),
            captured_at: captured_at?,
            purposes,
        };
        Some(evidence)
    });
    let details = input.details.unwrap_or_default();
    if let Some(problem) = domain::Details::problem(&details) {
        c.fail("details", problem);
    }
    let tags = domain::Tags::parse(&input.tags.unwrap_or_default()).unwrap_or_else(|e| {
        c.fail("tags", e);
        domain::Tags::default()
    });
    if !c.0.is_empty() {
        return Err(ApiError::validation(c.0));
    }
    Ok(NewLead {
        name,
        phone,
        email,
        source,
        address,
        zip,
        time_zone,
        consent,
        details: domain::Details::from_checked(details),
        tags,
    })
}

/// Takes a lead and answers it within a second.
///
/// A new person: 201 with the lead; the first answer is queued in the same transaction. A phone
/// or email already known in the organisation: 200 with the existing lead, one more touch, and
/// nothing sent again. With `Idempotency-Key`, a retried request gets the same answer; the same
/// key with another body is 422.
#[utoipa::path(
    post, path = "/api/v1/leads", tag = "leads",
    request_body = CreateLead,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: same key and body, same answer")),
    responses(
        (status = 201, description = "A new lead", body = LeadView),
        (status = 200, description = "A known person: the existing lead, touched", body = LeadView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["leads:write"]))
)]
pub async fn create(
    State(state): State<AppState>,
    key: Auth<scope::LeadsWrite>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: ApiJson<CreateLead>,
) -> ApiResult<Response> {
    let idempotency = idempotency_key(&headers)?.map(|key| IdempotencyClaim {
        key,
        request_hash: crypto::sha256(&body.raw),
    });
    let region = state.settings(key.tenant).await?.default_region;
    let lead = validate(body.value, &region, state.engine.clock.now())?;
    let outcome = state
        .engine
        .intake(key.tenant, lead, idempotency, key.actor.audit_context(ip))
        .await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/api/v1/leads/{}", outcome.lead.id);
    let mut res = (
        status,
        Json(LeadView::at(outcome.lead, state.engine.clock.now())),
    )
        .into_response();
    if outcome.created
        && let Ok(v) = HeaderValue::from_str(&location)
    {
        res.headers_mut().insert(header::LOCATION, v);
    }
    if outcome.replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(res)
}

/// Filters of the lead list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListLeads {
    /// `new`, `contacted`, `engaged`, `booked`, `won`, `lost`, `opted_out`.
    pub status: Option<String>,
    pub source: Option<String>,
    /// Find the lead with this phone number (any format).
    pub phone: Option<String>,
    /// Find the lead with this email address.
    pub email: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<String>,
}

pub(crate) fn parse_limit(limit: Option<&str>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(50),
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=200).contains(&n) => Ok(n),
            _ => Err(ApiError::field(
                "limit",
                "must be a whole number from 1 to 200",
            )),
        },
    }
}

/// Lists leads, newest first, with keyset pagination.
#[utoipa::path(
    get, path = "/api/v1/leads", tag = "leads", params(ListLeads),
    responses(
        (status = 200, description = "A page of leads", body = Page<LeadView>),
        (status = 400, description = "A malformed parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid filter value", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["leads:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::LeadsRead>,
    ApiQuery(q): ApiQuery<ListLeads>,
) -> ApiResult<Json<Page<LeadView>>> {
    let limit = parse_limit(q.limit.as_deref())?;
    let status = match q.status.as_deref() {
        Some(s) => Some(
            LeadStatus::parse(s)
                .ok_or_else(|| ApiError::field("status", "is not a lead status"))?,
        ),
        None => None,
    };
    let address = match (q.phone.as_deref(), q.email.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field("phone", "give phone or email, not both"));
        }
        (Some(p), None) => {
            let region = state.settings(key.tenant).await?.default_region;
            Some(Address::Phone(
                Phone::parse(p, &region).map_err(|e| ApiError::field("phone", e.to_string()))?,
            ))
        }
        (None, Some(e)) => Some(Address::Email(
            Email::parse(e).map_err(|err| ApiError::field("email", err.to_string()))?,
        )),
        (None, None) => None,
    };
    let before = match q.cursor.as_deref() {
        Some(c) => Some(
            c.parse::<LeadId>()
                .map_err(|_| ApiError::malformed_id("cursor", "cursor"))?,
        ),
        None => None,
    };
    let source = q.source.filter(|s| !s.is_empty());
    let leads = state
        .engine
        .store
        .list_leads(
            key.tenant,
            &LeadQuery {
                status,
                source,
                address,
                before,
                limit,
            },
        )
        .await?;
    let next_cursor = (leads.len() == limit as usize)
        .then(|| leads.last().map(|l| l.id.to_string()))
        .flatten();
    state
        .audit(crate::actor_event(
            key.tenant,
            &key.actor,
            "lead.list",
            "lead",
            String::new(),
            ip,
            serde_json::json!({ "count": leads.len() }),
        ))
        .await?;
    Ok(Json(Page {
        data: leads
            .into_iter()
            .map(|l| LeadView::at(l, state.engine.clock.now()))
            .collect(),
        next_cursor,
    }))
}

/// One lead with its messages (newest first) and consent events.
#[utoipa::path(
    get, path = "/api/v1/leads/{id}", tag = "leads",
    params(("id" = String, Path, description = "Lead id")),
    responses(
        (status = 200, description = "The lead", body = LeadDetail),
        (status = 400, description = "A malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lead in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["leads:read"]))
)]
pub async fn get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::LeadsRead>,
    ApiPath(id): ApiPath<LeadId>,
) -> ApiResult<Json<LeadDetail>> {
    let store = &state.engine.store;
    let lead = store
        .get_lead(key.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let messages = store
        .list_messages(
            key.tenant,
            &MessageQuery {
                lead_id: Some(id),
                limit: 100,
                ..MessageQuery::default()
            },
        )
        .await?;
    let consent = store.list_consent_events(key.tenant, id).await?;
    state
        .audit(crate::actor_event(
            key.tenant,
            &key.actor,
            "lead.read",
            "lead",
            id.to_string(),
            ip,
            serde_json::json!({ "messages": messages.len() }),
        ))
        .await?;
    Ok(Json(LeadDetail {
        lead: LeadView::at(lead, state.engine.clock.now()),
        messages: messages.into_iter().map(MessageView::from).collect(),
        consent_events: consent.into_iter().map(ConsentEventView::from).collect(),
    }))
}

/// A change to a lead made by a person.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLead {
    /// `new`, `contacted`, `engaged`, `booked`, `won` or `lost`. `opted_out` is set only by the
    /// compliance pipeline (an opt-out), and only the person's own opt-in lifts it.
    pub status: Option<LeadStatus>,
    /// Replaces the lead's tags (see `tags` on intake).
    pub tags: Option<Vec<String>>,
}

/// Moves a lead along the pipeline, or replaces its tags. Marking it `booked` ends its runs
/// that exit on a booking; any status change ends those that exit on a status change.
#[utoipa::path(
    patch, path = "/api/v1/leads/{id}", tag = "leads", request_body = UpdateLead,
    params(("id" = String, Path, description = "Lead id")),
    responses(
        (status = 200, description = "Changed", body = LeadView),
        (status = 404, description = "No such lead in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The lead opted out", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A status a person cannot set", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:write"]))
)]
pub async fn update(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::LeadsWrite>,
    ApiPath(id): ApiPath<LeadId>,
    body: ApiJson<UpdateLead>,
) -> ApiResult<Json<LeadView>> {
    let update = body.value;
    if update.status == Some(LeadStatus::OptedOut) {
        return Err(ApiError::field(
            "status",
            "opted_out is set only by an opt-out from the person",
        ));
    }
    let tags = match &update.tags {
        Some(tags) => Some(domain::Tags::parse(tags).map_err(|e| ApiError::field("tags", e))?),
        None => None,
    };
    if update.status.is_none() && tags.is_none() {
        return Err(ApiError::field("status", "give a status, tags, or both"));
    }
    let engine = &state.engine;
    let lead = engine
        .store
        .get_lead(key.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if let Some(tags) = &tags
        && tags != &lead.tags
    {
        engine
            .store
            .set_lead_tags(key.tenant, id, tags, engine.clock.now())
            .await?;
        state
            .audit(crate::actor_event(
                key.tenant,
                &key.actor,
                "lead.tags",
                "lead",
                id.to_string(),
                ip,
                serde_json::json!({ "tags": tags }),
            ))
            .await?;
    }
    let Some(to) = update.status else {
        let lead = engine
            .store
            .get_lead(key.tenant, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        return Ok(Json(LeadView::at(lead, engine.clock.now())));
    };
    if lead.status == LeadStatus::OptedOut {
        return Err(
            ApiError::new(StatusCode::CONFLICT, "opted-out", "The lead opted out")
                .detail("only the person's own opt-in (START) lifts an opt-out"),
        );
    }
    let from = lead.status;
    if from != to {
        // Moved only from the status read, so a concurrent opt-out is never overwritten.
        if !engine
            .store
            .advance_lead_status(
                key.tenant,
                id,
                from,
                to,
                &key.actor.label(),
                engine.clock.now(),
            )
            .await?
        {
            return Err(
                ApiError::new(StatusCode::CONFLICT, "status-changed", "The lead changed")
                    .detail("the lead's status changed meanwhile; read it and try again"),
            );
        }
        // A booking is also a status change: a run that exits on either ends as booked.
        let rules: &[ExitRule] = if to == LeadStatus::Booked {
            &[ExitRule::Booking, ExitRule::StatusChange]
        } else {
            &[ExitRule::StatusChange]
        };
        engine.exit_runs(key.tenant, id, rules).await?;
        state
            .audit(crate::actor_event(
                key.tenant,
                &key.actor,
                "lead.status",
                "lead",
                id.to_string(),
                ip,
                serde_json::json!({ "from": from, "to": to }),
            ))
            .await?;
    }
    let lead = engine
        .store
        .get_lead(key.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(LeadView::at(lead, engine.clock.now())))
}
