//! The lead list and a lead's page: timeline, compliance answer, messages, status and notes.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use compliance::Decision;
use domain::{Channel, LeadId, LeadStatus, Purpose};
use engine::dispatch::Outgoing;
use serde::Deserialize;

use super::session::{Form, Member, see_other};
use super::{Id, PageError, Shell, render, when};
use crate::AppState;
use crate::auth::{ClientIp, scope};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::compliance::verdict;
use crate::routes::conversation::NewMessage;
use crate::routes::followup::{NoteInput, TimelineEntry, TimelineQuery};
use crate::routes::leads::{ListLeads, UpdateLead};
use crate::views::LeadView;

/// Statuses a person can choose (an opt-out comes only from the lead).
fn settable() -> impl Iterator<Item = LeadStatus> {
    LeadStatus::ALL
        .into_iter()
        .filter(|s| *s != LeadStatus::OptedOut)
}

/// One row of the list.
#[derive(Debug)]
struct Row {
    id: String,
    name: String,
    status: String,
    source: String,
    contact: String,
    engagement: String,
    created: String,
}

#[derive(Template)]
#[template(path = "leads.html")]
struct LeadsPage {
    shell: Shell,
    rows: Vec<Row>,
    q: String,
    status: String,
    source: String,
    statuses: Vec<String>,
    next: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LeadsQuery {
    q: Option<String>,
    status: Option<String>,
    source: Option<String>,
    cursor: Option<String>,
}

async fn organisation(state: &AppState, tenant: domain::Tenant) -> Result<String, PageError> {
    let org = state
        .engine
        .store
        .get_tenant(tenant.id())
        .await?
        .ok_or(PageError::NotFound)?;
    Ok(org.brand().to_owned())
}

/// The search box reads a phone number, an email address, or (later) a name.
fn search(q: &str) -> (Option<String>, Option<String>) {
    if q.contains('@') {
        (None, Some(q.to_owned()))
    } else {
        (Some(q.to_owned()), None)
    }
}

pub async fn list(
    State(state): State<AppState>,
    ip: ClientIp,
    member: Member<scope::LeadsRead>,
    Query(q): Query<LeadsQuery>,
) -> Result<Response, PageError> {
    let text = q.q.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let status = q.status.clone().filter(|s| !s.is_empty());
    let source = q.source.clone().filter(|s| !s.is_empty());
    let (phone, email) = if text.is_empty() {
        (None, None)
    } else {
        search(&text)
    };
    let api = ListLeads {
        status: status.clone(),
        source: source.clone(),
        phone,
        email,
        cursor: q.cursor.clone().filter(|s| !s.is_empty()),
        limit: Some("50".to_owned()),
    };
    let organisation = organisation(&state, member.tenant).await?;
    let mut page = LeadsPage {
        shell: Shell::new(&member.seat, &organisation, "Leads", "leads"),
        rows: Vec::new(),
        q: text,
        status: status.clone().unwrap_or_default(),
        source: source.clone().unwrap_or_default(),
        statuses: LeadStatus::ALL
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        next: None,
        error: None,
    };
    match crate::routes::leads::list(State(state.clone()), ip, member.auth(), ApiQuery(api)).await {
        Ok(Json(found)) => {
            page.rows = found.data.into_iter().map(row).collect();
            page.next = found.next_cursor.map(|c| {
                let mut qs = form_urlencoded::Serializer::new(String::new());
                for (k, v) in [
                    ("q", &page.q),
                    ("status", &page.status),
                    ("source", &page.source),
                ] {
                    if !v.is_empty() {
                        qs.append_pair(k, v);
                    }
                }
                qs.append_pair("cursor", &c);
                format!("/app/leads?{}", qs.finish())
            });
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            page.error = Some(
                e.errors
                    .first()
                    .map(|f| match f.field.as_str() {
                        "phone" => format!("Not a phone number or email address: {}", f.message),
                        "email" => format!("Not an email address: {}", f.message),
                        _ => f.message.clone(),
                    })
                    .unwrap_or_else(|| e.title.to_owned()),
            );
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(render(StatusCode::OK, &page))
}

fn row(l: LeadView) -> Row {
    Row {
        id: l.id.to_string(),
        name: l.name.unwrap_or_else(|| "(no name)".to_owned()),
        status: l.status.as_str().to_owned(),
        source: l.source,
        contact: l.phone.or(l.email).unwrap_or_default(),
        engagement: format!("{:?}", l.engagement).to_lowercase(),
        created: l
            .created_at
            .parse::<domain::Timestamp>()
            .map(when)
            .unwrap_or(l.created_at),
    }
}

/// A line of the timeline, ready to show.
#[derive(Debug)]
struct Entry {
    when: String,
    kind: &'static str,
    title: String,
    body: String,
    meta: String,
}

/// What compliance would say of a message sent now, by channel and purpose.
#[derive(Debug)]
struct Answer {
    channel: &'static str,
    purpose: &'static str,
    outcome: &'static str,
    detail: String,
}

#[derive(Debug)]
struct AppointmentRow {
    title: String,
    local_start: String,
    state: String,
}

#[derive(Debug)]
struct ConsentRow {
    when: String,
    kind: String,
    source: String,
    evidence: String,
}

#[derive(Template)]
#[template(path = "lead.html")]
struct LeadPage {
    shell: Shell,
    id: String,
    name: String,
    status: String,
    source: String,
    phone: String,
    email: String,
    tags: String,
    engagement: String,
    statuses: Vec<String>,
    can_write: bool,
    channels: Vec<&'static str>,
    answers: Vec<Answer>,
    timeline: Vec<Entry>,
    appointments: Vec<AppointmentRow>,
    consent: Vec<ConsentRow>,
    /// Errors of the last submitted form, by field, and what was typed.
    errors: Vec<(String, String)>,
    draft_body: String,
    draft_subject: String,
    /// Sent back with the form: submitting it twice sends one message.
    idempotency_key: String,
}

#[derive(Debug, Deserialize)]
pub struct DetailQuery {
    done: Option<String>,
}

pub async fn detail(
    State(state): State<AppState>,
    ip: ClientIp,
    member: Member<scope::LeadsRead>,
    Id(id): Id<LeadId>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, PageError> {
    let mut page = lead_page(&state, ip, &member, id).await?;
    page.shell.notice = q.done.as_deref().and_then(notice);
    Ok(render(StatusCode::OK, &page))
}

/// Results of actions, named in the redirect (never user text in a URL).
fn notice(done: &str) -> Option<String> {
    Some(
        match done {
            "sending" => "Message accepted: it is being sent now.",
            "scheduled" => "Message accepted: the rules hold it; it goes when they allow.",
            "status" => "Status changed.",
            "note" => "Note added.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn lead_page(
    state: &AppState,
    ip: ClientIp,
    member: &Member<scope::LeadsRead>,
    id: LeadId,
) -> Result<LeadPage, PageError> {
    let Json(detail) =
        crate::routes::leads::get(State(state.clone()), ip, member.auth(), ApiPath(id)).await?;
    let Json(timeline) = crate::routes::followup::timeline(
        State(state.clone()),
        member.auth(),
        ApiPath(id),
        ApiQuery(TimelineQuery {
            before: None,
            limit: Some("100".to_owned()),
        }),
    )
    .await?;
    let Json(appointments) = crate::routes::followup::list_appointments(
        State(state.clone()),
        member.auth(),
        ApiPath(id),
    )
    .await?;
    let lead = detail.lead;
    let can_write = member.seat.can(domain::Role::Agent);
    let mut channels = Vec::new();
    if lead.phone.is_some() {
        channels.push("sms");
    }
    if lead.email.is_some() {
        channels.push("email");
    }
    let answers = if can_write {
        answers(state, member.tenant, id).await?
    } else {
        Vec::new()
    };
    let organisation = organisation(state, member.tenant).await?;
    let name = lead.name.clone().unwrap_or_else(|| "(no name)".to_owned());
    Ok(LeadPage {
        shell: Shell::new(&member.seat, &organisation, name.clone(), "leads"),
        id: lead.id.to_string(),
        name,
        status: lead.status.as_str().to_owned(),
        source: lead.source.clone(),
        phone: lead.phone.clone().unwrap_or_default(),
        email: lead.email.clone().unwrap_or_default(),
        tags: lead.tags.iter().collect::<Vec<_>>().join(", "),
        engagement: format!("{:?}", lead.engagement).to_lowercase(),
        statuses: settable().map(|s| s.as_str().to_owned()).collect(),
        can_write: can_write && lead.status != LeadStatus::OptedOut,
        channels,
        answers,
        timeline: timeline.data.into_iter().map(entry).collect(),
        appointments: appointments
            .data
            .into_iter()
            .map(|a| AppointmentRow {
                title: a.title,
                local_start: a.local_start,
                state: format!("{:?}", a.state).to_lowercase(),
            })
            .collect(),
        consent: detail
            .consent_events
            .into_iter()
            .map(|c| ConsentRow {
                when: c.recorded_at.parse().map(when).unwrap_or(c.recorded_at),
                kind: serde_json::to_value(c.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                source: c.source,
                evidence: serde_json::to_string(&c.evidence).unwrap_or_default(),
            })
            .collect(),
        errors: Vec::new(),
        draft_body: String::new(),
        draft_subject: String::new(),
        idempotency_key: uuid::Uuid::now_v7().to_string(),
    })
}

/// The check a send makes, made now for each channel the lead has and each purpose: what an
/// agent sees before writing.
async fn answers(
    state: &AppState,
    tenant: domain::Tenant,
    id: LeadId,
) -> Result<Vec<Answer>, PageError> {
    let engine = &state.engine;
    let Some(lead) = engine.store.get_lead(tenant, id).await? else {
        return Err(PageError::NotFound);
    };
    let Some(org) = engine.store.get_tenant(tenant.id()).await? else {
        return Err(PageError::NotFound);
    };
    let now = engine.clock.now();
    let mut out = Vec::new();
    for channel in [Channel::Sms, Channel::Email] {
        let Some(to) = engine::sequences::address_of(&lead, channel) else {
            continue;
        };
        for purpose in [Purpose::Transactional, Purpose::Marketing] {
            let check = Outgoing::to_lead(
                tenant,
                org.clone(),
                lead.clone(),
                to.clone(),
                purpose,
                String::new(),
            );
            let assessment = engine.assess_at(&check, now).await?;
            let (outcome, until, reasons) = verdict(&assessment.decision);
            let detail = match &assessment.decision {
                Decision::Send(_) => "goes now".to_owned(),
                Decision::Defer { .. } => format!(
                    "waits until {}: {}",
                    until.map(when).unwrap_or_default(),
                    reasons
                        .iter()
                        .map(|r| r.detail.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                Decision::Block { .. } => format!(
                    "refused: {}",
                    reasons
                        .iter()
                        .map(|r| format!("{} ({})", r.detail, r.rule))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            };
            out.push(Answer {
                channel: channel.as_str(),
                purpose: purpose.as_str(),
                outcome,
                detail,
            });
        }
    }
    Ok(out)
}

fn entry(e: TimelineEntry) -> Entry {
    let when_ = e.at.parse().map(when).unwrap_or_else(|_| e.at.clone());
    if let Some(m) = e.message {
        let direction = serde_json::to_value(m.direction)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let status = serde_json::to_value(m.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let title = format!(
            "{} {} {}",
            m.channel.as_str().to_uppercase(),
            if direction == "inbound" {
                "from the lead"
            } else {
                "to the lead"
            },
            m.subject.map(|s| format!("· {s}")).unwrap_or_default()
        );
        let mut meta = status;
        if let Some(err) = m.error {
            meta.push_str(&format!(" · {err}"));
        }
        return Entry {
            when: when_,
            kind: if direction == "inbound" {
                "inbound"
            } else {
                "outbound"
            },
            title: title.trim().to_owned(),
            body: m.body,
            meta,
        };
    }
    if let Some(c) = e.consent {
        let kind = serde_json::to_value(c.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        return Entry {
            when: when_,
            kind: "consent",
            title: format!("Consent: {kind}"),
            body: String::new(),
            meta: c.source,
        };
    }
    let event = e.event;
    let (actor, data, note) = match event {
        Some(ev) => (ev.actor, ev.data, ev.note),
        None => (String::new(), serde_json::Value::Null, None),
    };
    let field = |k: &str| {
        data.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let (title, body) = match e.kind {
        "status" => (
            format!("Status: {} → {}", field("from"), field("to")),
            String::new(),
        ),
        "note" => ("Note".to_owned(), note.unwrap_or_default()),
        "appointment" => (format!("Appointment {}", field("change")), field("title")),
        "enrolled" => (
            format!("Sequence run ({})", field("state")),
            field("exit_reason"),
        ),
        other => (other.to_owned(), String::new()),
    };
    Entry {
        when: when_,
        kind: "event",
        title,
        body,
        meta: actor,
    }
}

/// Sends a message through the API's own check and job: the answer comes back as a notice,
/// or the form again with its errors.
pub async fn send(
    State(state): State<AppState>,
    ip: ClientIp,
    member: Member<scope::LeadsWrite>,
    Id(id): Id<LeadId>,
    form: Form,
) -> Result<Response, PageError> {
    let channel = match form.get("channel") {
        Some("sms") => Some(Channel::Sms),
        Some("email") => Some(Channel::Email),
        _ => None,
    };
    let purpose = match form.get("purpose") {
        Some("marketing") => Purpose::Marketing,
        Some("informational") => Purpose::Informational,
        _ => Purpose::Transactional,
    };
    let message = NewMessage {
        channel,
        purpose,
        subject: form.get("subject").map(str::to_owned),
        body: form.raw("body").to_owned(),
    };
    // The form's token makes a double submit the same request: the API sends it once.
    let mut headers = HeaderMap::new();
    if let Some(key) = form.get("idempotency_key")
        && let Ok(v) = key.parse()
    {
        headers.insert("idempotency-key", v);
    }
    let result = crate::routes::conversation::send(
        State(state.clone()),
        ip,
        member.auth(),
        ApiPath(id),
        headers,
        ApiJson {
            value: message,
            raw: Bytes::new(),
        },
    )
    .await;
    match result {
        Ok((_, Json(accepted))) => Ok(see_other(&format!(
            "/app/leads/{id}?done={}#conversation",
            accepted.outcome
        ))),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let mut page = lead_page(&state, ip, &member.narrow(), id).await?;
            page.errors = if e.errors.is_empty() {
                vec![("body".to_owned(), e.detail.clone().unwrap_or_default())]
            } else {
                e.errors
                    .iter()
                    .map(|f| (f.field.clone(), f.message.clone()))
                    .collect()
            };
            page.draft_body = form.raw("body").to_owned();
            page.draft_subject = form.raw("subject").to_owned();
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// Moves the lead to another status.
pub async fn status(
    State(state): State<AppState>,
    ip: ClientIp,
    member: Member<scope::LeadsWrite>,
    Id(id): Id<LeadId>,
    form: Form,
) -> Result<Response, PageError> {
    let to = form
        .get("status")
        .and_then(LeadStatus::parse)
        .ok_or_else(|| PageError::BadRequest("choose a status".to_owned()))?;
    let Json(_changed) = crate::routes::leads::update(
        State(state),
        ip,
        member.auth(),
        ApiPath(id),
        ApiJson {
            value: UpdateLead {
                status: Some(to),
                tags: None,
            },
            raw: Bytes::new(),
        },
    )
    .await?;
    Ok(see_other(&format!("/app/leads/{id}?done=status")))
}

/// Adds a note (plain text: shown escaped, never as markup).
pub async fn note(
    State(state): State<AppState>,
    ip: ClientIp,
    member: Member<scope::LeadsWrite>,
    Id(id): Id<LeadId>,
    form: Form,
) -> Result<Response, PageError> {
    let (_, Json(_note)) = crate::routes::followup::add_note(
        State(state),
        ip,
        member.auth(),
        ApiPath(id),
        ApiJson {
            value: NoteInput {
                text: form.raw("text").to_owned(),
            },
            raw: Bytes::new(),
        },
    )
    .await?;
    Ok(see_other(&format!("/app/leads/{id}?done=note")))
}
