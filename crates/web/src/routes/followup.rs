//! A lead's timeline and notes, appointments, and running silent-lead recovery on demand.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::appointment::{Appointment, AppointmentState, Slot};
use domain::timeline::{LeadEventKind, MAX_NOTE};
use domain::{AppointmentId, LeadId, Timestamp};
use engine::appointments::AppointmentError;
use serde::{Deserialize, Serialize};
use store::{MessageQuery, NewLeadEvent};

use crate::auth::{Auth, ClientIp, scope};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::views::{ConsentEventView, MessageView, ts};
use crate::{AppState, actor_event};

/// The most messages a timeline reads.
const TIMELINE_MESSAGES: u32 = 500;

/// One entry of a lead's timeline: a message, a consent event, or a change (status, note,
/// appointment, run started). Exactly one of `message`, `consent` and `event` is set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: String,
    /// `message`, `consent`, `status`, `note`, `appointment` or `enrolled`.
    pub kind: &'static str,
    pub message: Option<MessageView>,
    pub consent: Option<ConsentEventView>,
    pub event: Option<EventView>,
}

/// A change on a lead's timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// The entry's id (none for a run, whose id is in `data.enrolment`).
    pub id: Option<domain::LeadEventId>,
    /// `user:{id}`, `key:{id}`, `operator:{id}` or `system`.
    pub actor: String,
    /// `{"from","to"}` for a status; `{"appointment","change","starts_at",...}` for an
    /// appointment; `{"enrolment","sequence","version","origin","state","exit_reason"}` for a
    /// run.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// A note's text.
    pub note: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Timeline {
    /// Newest first.
    pub data: Vec<TimelineEntry>,
    /// Pass as `before` for older entries; absent on the last page.
    pub next_before: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TimelineQuery {
    /// Only entries before this instant (RFC 3339).
    pub before: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<String>,
}

/// The lead's timeline: messages in and out, consent events, status changes, notes,
/// appointments and runs started, newest first.
#[utoipa::path(
    get, path = "/api/v1/leads/{id}/timeline", tag = "leads",
    params(("id" = String, Path, description = "The lead"), TimelineQuery),
    responses(
        (status = 200, description = "The timeline", body = Timeline),
        (status = 404, description = "No such lead in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:read"]))
)]
pub async fn timeline(
    State(state): State<AppState>,
    auth: Auth<scope::LeadsRead>,
    ApiPath(id): ApiPath<LeadId>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> ApiResult<Json<Timeline>> {
    let before = match q.before.as_deref() {
        Some(b) => Some(
            b.parse::<Timestamp>()
                .map_err(|_| ApiError::field("before", "must be an RFC 3339 instant"))?,
        ),
        None => None,
    };
    let limit = match q.limit.as_deref() {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| ApiError::field("limit", "must be 1 to 200"))?,
        None => 50,
    };
    let store = &state.engine.store;
    store
        .get_lead(auth.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let messages = store
        .list_messages(
            auth.tenant,
            &MessageQuery {
                lead_id: Some(id),
                limit: TIMELINE_MESSAGES,
                ..MessageQuery::default()
            },
        )
        .await?;
    let consent = store.list_consent_events(auth.tenant, id).await?;
    let events = store
        .list_lead_events(
            auth.tenant,
            id,
            before,
            u32::try_from(limit + 1).unwrap_or(201),
        )
        .await?;
    let mut all: Vec<(Timestamp, TimelineEntry)> = Vec::new();
    for m in messages {
        all.push((
            m.created_at,
            TimelineEntry {
                at: ts(m.created_at),
                kind: "message",
                message: Some(m.into()),
                consent: None,
                event: None,
            },
        ));
    }
    for c in consent {
        all.push((
            c.recorded_at,
            TimelineEntry {
                at: ts(c.recorded_at),
                kind: "consent",
                message: None,
                consent: Some(c.into()),
                event: None,
            },
        ));
    }
    for e in events {
        all.push((
            e.at,
            TimelineEntry {
                at: ts(e.at),
                kind: e.kind.as_str(),
                message: None,
                consent: None,
                event: Some(EventView {
                    id: Some(e.id),
                    actor: e.actor,
                    data: e.data,
                    note: e.note,
                }),
            },
        ));
    }
    // Runs are read from themselves: when each started, on what, and how it stands.
    for run in store.list_enrolments(auth.tenant, id).await? {
        all.push((
            run.enrolled_at,
            TimelineEntry {
                at: ts(run.enrolled_at),
                kind: LeadEventKind::Enrolled.as_str(),
                message: None,
                consent: None,
                event: Some(EventView {
                    id: None,
                    actor: "system".to_owned(),
                    data: serde_json::json!({
                        "enrolment": run.id,
                        "sequence": run.sequence_id,
                        "version": run.version,
                        "origin": run.origin,
                        "state": run.state,
                        "exit_reason": run.exit_reason,
                    }),
                    note: None,
                }),
            },
        ));
    }
    all.retain(|(at, _)| before.is_none_or(|b| *at < b));
    all.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let more = all.len() > limit;
    all.truncate(limit);
    let next_before = if more {
        all.last().map(|(at, _)| ts(*at))
    } else {
        None
    };
    Ok(Json(Timeline {
        data: all.into_iter().map(|(_, e)| e).collect(),
        next_before,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// 1 to 4,000 characters of plain text (no control characters but line breaks and tabs).
    pub text: String,
}

/// Adds a note to the lead's timeline. Notes are sealed at rest and erased with the lead.
#[utoipa::path(
    post, path = "/api/v1/leads/{id}/notes", tag = "leads", request_body = NoteInput,
    params(("id" = String, Path, description = "The lead")),
    responses(
        (status = 201, description = "Added", body = TimelineEntry),
        (status = 404, description = "No such lead in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An empty, too long or malformed note", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:write"]))
)]
pub async fn add_note(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::LeadsWrite>,
    ApiPath(id): ApiPath<LeadId>,
    body: ApiJson<NoteInput>,
) -> ApiResult<(StatusCode, Json<TimelineEntry>)> {
    let text = body.value.text.trim().replace("\r\n", "\n");
    let n = text.chars().count();
    if n == 0 || n > MAX_NOTE {
        return Err(ApiError::field(
            "text",
            format!("must be 1 to {MAX_NOTE} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::field(
            "text",
            "must not hold control characters other than line breaks and tabs",
        ));
    }
    let mut event = NewLeadEvent::new(
        id,
        LeadEventKind::Note,
        &auth.actor.label(),
        serde_json::json!({}),
        state.engine.clock.now(),
    );
    event.note = Some(text);
    let written = match state
        .engine
        .store
        .append_lead_event(auth.tenant, event)
        .await
    {
        Ok(e) => e,
        Err(store::DbError::NotFound) => return Err(ApiError::not_found()),
        Err(e) => return Err(e.into()),
    };
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "lead.note",
            "lead",
            id.to_string(),
            ip,
            // Never the text: it may hold anything.
            serde_json::json!({ "event_id": written.id }),
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TimelineEntry {
            at: ts(written.at),
            kind: "note",
            message: None,
            consent: None,
            event: Some(EventView {
                id: Some(written.id),
                actor: written.actor,
                data: written.data,
                note: written.note,
            }),
        }),
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppointmentView {
    pub id: AppointmentId,
    pub lead_id: LeadId,
    pub state: AppointmentState,
    pub starts_at: String,
    pub ends_at: String,
    pub time_zone: String,
    /// The start in the lead's time zone (else the appointment's), as reminders write it.
    pub local_start: String,
    pub title: String,
    pub location: Option<String>,
    /// Goes up with each change.
    pub revision: i32,
    pub created_at: String,
    pub updated_at: String,
}

fn appointment_view(a: Appointment, lead_zone: Option<&str>) -> AppointmentView {
    let zone = lead_zone.unwrap_or(&a.time_zone).to_owned();
    AppointmentView {
        id: a.id,
        lead_id: a.lead_id,
        state: a.state,
        starts_at: ts(a.starts_at),
        ends_at: ts(a.ends_at),
        local_start: engine::templates::local_time(a.starts_at, &zone),
        time_zone: a.time_zone,
        title: a.title,
        location: a.location,
        revision: a.revision,
        created_at: ts(a.created_at),
        updated_at: ts(a.updated_at),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentInput {
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339; after `starts_at`, at most 14 days later.
    pub ends_at: String,
    /// IANA zone; default the lead's, else required.
    pub time_zone: Option<String>,
    /// Default "Appointment".
    pub title: Option<String>,
    /// Sealed at rest.
    pub location: Option<String>,
}

/// Reads a slot, naming each bad field. `current` fills what a reschedule leaves out.
fn slot(
    input: AppointmentInput,
    default_zone: Option<&str>,
    current: Option<&Appointment>,
) -> ApiResult<Slot> {
    let mut errors = Vec::new();
    let mut instant = |field: &str, value: &str| match value.parse::<Timestamp>() {
        Ok(t) => Some(t),
        Err(_) => {
            errors.push(FieldError {
                field: field.to_owned(),
                message: "must be an RFC 3339 instant such as 2026-11-24T15:00:00-06:00".to_owned(),
            });
            None
        }
    };
    let starts_at = instant("starts_at", &input.starts_at);
    let ends_at = instant("ends_at", &input.ends_at);
    let time_zone = input
        .time_zone
        .or_else(|| current.map(|c| c.time_zone.clone()))
        .or_else(|| default_zone.map(str::to_owned));
    let Some(time_zone) = time_zone else {
        errors.push(FieldError {
            field: "time_zone".to_owned(),
            message: "is required when the lead's time zone is unknown".to_owned(),
        });
        return Err(ApiError::validation(errors));
    };
    let (Some(starts_at), Some(ends_at)) = (starts_at, ends_at) else {
        return Err(ApiError::validation(errors));
    };
    let slot = Slot {
        starts_at,
        ends_at,
        time_zone,
        title: input
            .title
            .map(|t| t.trim().to_owned())
            .or_else(|| current.map(|c| c.title.clone()))
            .unwrap_or_else(|| "Appointment".to_owned()),
        location: input
            .location
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .or_else(|| current.and_then(|c| c.location.clone())),
    };
    errors.extend(
        slot.problems()
            .into_iter()
            .map(|(field, message)| FieldError {
                field: field.to_owned(),
                message,
            }),
    );
    if errors.is_empty() {
        Ok(slot)
    } else {
        Err(ApiError::validation(errors))
    }
}

/// Books an appointment with the lead: the lead moves to `booked` (unless won or opted out),
/// its runs that exit on a booking end, and reminders are queued at the organisation's offsets.
#[utoipa::path(
    post, path = "/api/v1/leads/{id}/appointments", tag = "leads", request_body = AppointmentInput,
    params(("id" = String, Path, description = "The lead")),
    responses(
        (status = 201, description = "Booked", body = AppointmentView),
        (status = 404, description = "No such lead in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field, named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:write"]))
)]
pub async fn book(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::LeadsWrite>,
    ApiPath(id): ApiPath<LeadId>,
    body: ApiJson<AppointmentInput>,
) -> ApiResult<(StatusCode, Json<AppointmentView>)> {
    let engine = &state.engine;
    let lead = engine
        .store
        .get_lead(auth.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let slot = slot(body.value, lead.time_zone.as_deref(), None)?;
    let booked = engine
        .book(auth.tenant, &lead, slot, &auth.actor.label())
        .await?;
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "appointment.book",
            "appointment",
            booked.id.to_string(),
            ip,
            serde_json::json!({ "lead_id": id, "starts_at": booked.starts_at }),
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(appointment_view(booked, lead.time_zone.as_deref())),
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppointmentList {
    /// Soonest first, cancelled ones included.
    pub data: Vec<AppointmentView>,
}

/// The lead's appointments.
#[utoipa::path(
    get, path = "/api/v1/leads/{id}/appointments", tag = "leads",
    params(("id" = String, Path, description = "The lead")),
    responses(
        (status = 200, description = "The lead's appointments", body = AppointmentList),
        (status = 404, description = "No such lead in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:read"]))
)]
pub async fn list_appointments(
    State(state): State<AppState>,
    auth: Auth<scope::LeadsRead>,
    ApiPath(id): ApiPath<LeadId>,
) -> ApiResult<Json<AppointmentList>> {
    let store = &state.engine.store;
    let lead = store
        .get_lead(auth.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let list = store.list_appointments(auth.tenant, id).await?;
    Ok(Json(AppointmentList {
        data: list
            .into_iter()
            .map(|a| appointment_view(a, lead.time_zone.as_deref()))
            .collect(),
    }))
}

fn appointment_error(e: AppointmentError) -> ApiError {
    match e {
        AppointmentError::NotFound => ApiError::not_found(),
        AppointmentError::Cancelled => ApiError::new(
            StatusCode::CONFLICT,
            "appointment-cancelled",
            "The appointment is cancelled",
        )
        .detail("book a new one instead"),
        AppointmentError::Changed => ApiError::new(
            StatusCode::CONFLICT,
            "appointment-changed",
            "The appointment changed",
        )
        .detail("it was changed meanwhile; read it and try again"),
        AppointmentError::Engine(e) => e.into(),
    }
}

/// Moves an appointment: its earlier reminders lapse, new ones are queued. Fields left out
/// keep their value (`starts_at` and `ends_at` are required).
#[utoipa::path(
    put, path = "/api/v1/appointments/{id}", tag = "leads", request_body = AppointmentInput,
    params(("id" = String, Path, description = "The appointment")),
    responses(
        (status = 200, description = "Rescheduled", body = AppointmentView),
        (status = 404, description = "No such appointment in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cancelled, or changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field, named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:write"]))
)]
pub async fn reschedule(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::LeadsWrite>,
    ApiPath(id): ApiPath<AppointmentId>,
    body: ApiJson<AppointmentInput>,
) -> ApiResult<Json<AppointmentView>> {
    let engine = &state.engine;
    let current = engine
        .store
        .get_appointment(auth.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let lead_zone = engine
        .store
        .get_lead(auth.tenant, current.lead_id)
        .await?
        .and_then(|l| l.time_zone);
    let slot = slot(body.value, lead_zone.as_deref(), Some(&current))?;
    let moved = engine
        .reschedule(auth.tenant, id, slot, &auth.actor.label())
        .await
        .map_err(appointment_error)?;
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "appointment.reschedule",
            "appointment",
            id.to_string(),
            ip,
            serde_json::json!({ "starts_at": moved.starts_at, "revision": moved.revision }),
        ))
        .await?;
    Ok(Json(appointment_view(moved, lead_zone.as_deref())))
}

/// Cancels an appointment: no reminder goes out. The lead keeps its status.
#[utoipa::path(
    post, path = "/api/v1/appointments/{id}/cancel", tag = "leads",
    params(("id" = String, Path, description = "The appointment")),
    responses(
        (status = 200, description = "Cancelled", body = AppointmentView),
        (status = 404, description = "No such appointment in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cancelled already, or changed meanwhile", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:write"]))
)]
pub async fn cancel(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::LeadsWrite>,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<Json<AppointmentView>> {
    let cancelled = state
        .engine
        .cancel(auth.tenant, id, &auth.actor.label())
        .await
        .map_err(appointment_error)?;
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "appointment.cancel",
            "appointment",
            id.to_string(),
            ip,
            serde_json::json!({ "lead_id": cancelled.lead_id }),
        ))
        .await?;
    Ok(Json(appointment_view(cancelled, None)))
}

/// What a recovery pass did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryReport {
    /// Runs started.
    pub started: u64,
    /// Leads skipped because they run the rule's sequence already.
    pub running: u64,
    /// Leads whose inquiry is older than every rule's window: out of recovery until they
    /// speak again.
    pub retired: u64,
    /// Leads read that no rule took (engagement, attempts, a longer silence).
    pub passed: u64,
}

/// Runs the organisation's recovery rules now, instead of waiting for the next scan (every 5
/// minutes).
#[utoipa::path(
    post, path = "/api/v1/recovery/run", tag = "sequences",
    responses(
        (status = 200, description = "What the pass did", body = RecoveryReport),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn run_recovery(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
) -> ApiResult<Json<RecoveryReport>> {
    let engine = &state.engine;
    let org = engine
        .store
        .get_tenant(auth.tenant.id())
        .await?
        .ok_or_else(ApiError::not_found)?;
    let report = engine
        .recover_one(auth.tenant, &org.settings.recovery, engine.clock.now())
        .await?;
    engine.wake();
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "recovery.run",
            "organisation",
            auth.tenant.id().to_string(),
            ip,
            serde_json::json!({ "started": report.started, "retired": report.retired }),
        ))
        .await?;
    Ok(Json(RecoveryReport {
        started: report.started,
        running: report.running,
        retired: report.retired,
        passed: report.passed,
    }))
}
