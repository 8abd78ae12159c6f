//! What the API answers with: the public shape of leads, messages, consent events and jobs.

use domain::{
    Channel, ConsentEvent, ConsentEvidence, ConsentKind, Direction, JobId, Lead, LeadId,
    LeadStatus, Message, MessageId, MessageStatus, Purpose,
};
use serde::Serialize;
use store::{JobRecord, JobState};
use utoipa::ToSchema;

fn rfc3339(t: domain::Timestamp) -> String {
    t.to_string()
}

/// An instant as the API writes it (RFC 3339, UTC).
pub(crate) fn ts(t: domain::Timestamp) -> String {
    rfc3339(t)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadView {
    pub id: LeadId,
    pub status: LeadStatus,
    pub source: String,
    pub name: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub zip: Option<String>,
    pub time_zone: Option<String>,
    /// Answers to the source's own questions, by question.
    pub details: domain::Details,
    /// The business's labels, sorted.
    pub tags: domain::Tags,
    /// How many times the person has reached out (a repeat submission adds one).
    pub touch_count: i64,
    pub created_at: String,
    pub updated_at: String,
    pub last_touch_at: String,
    /// `hot`, `warm` or `cold`, from the recency and frequency of replies, clicks and opens.
    pub engagement: domain::engagement::Level,
    /// The score behind it now (a reply weighs 3, a click 1.5, an open 0.5; each halves
    /// every 7 days).
    pub engagement_score: f64,
}

impl LeadView {
    /// The lead as the API shows it at `now` (engagement cools as time passes).
    pub fn at(l: Lead, now: domain::Timestamp) -> Self {
        let score = l.engagement.score_at(now);
        Self {
            engagement: l.engagement.level_at(now),
            engagement_score: (score * 100.0).round() / 100.0,
            id: l.id,
            status: l.status,
            source: l.source,
            name: l.name,
            phone: l.phone.map(|p| p.as_str().to_owned()),
            email: l.email.map(|e| e.as_str().to_owned()),
            address: l.address,
            zip: l.zip,
            time_zone: l.time_zone,
            details: l.details,
            tags: l.tags,
            touch_count: l.touch_count,
            created_at: rfc3339(l.created_at),
            updated_at: rfc3339(l.updated_at),
            last_touch_at: rfc3339(l.last_touch_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: MessageId,
    pub lead_id: Option<LeadId>,
    pub channel: Channel,
    pub direction: Direction,
    pub to: String,
    pub from: String,
    pub subject: Option<String>,
    pub body: String,
    pub purpose: Option<Purpose>,
    pub status: MessageStatus,
    /// Why it was blocked or failed (`compliance: federal.quiet_hours`, a provider code).
    pub error: Option<String>,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// When the provider was called.
    pub sent_at: Option<String>,
    /// For an answer to a lead, when the lead arrived: `sent_at - intake_at` is the speed to lead.
    pub intake_at: Option<String>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            lead_id: m.lead_id,
            channel: m.channel,
            direction: m.direction,
            to: m.to,
            from: m.from,
            subject: m.subject,
            body: m.body,
            purpose: m.purpose,
            status: m.status,
            error: m.error,
            provider: m.provider,
            provider_message_id: m.provider_message_id,
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
            sent_at: m.provider_called_at.map(rfc3339),
            intake_at: m.intake_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentEventView {
    pub id: domain::ConsentEventId,
    pub kind: ConsentKind,
    pub source: String,
    pub evidence: ConsentEvidence,
    pub recorded_at: String,
}

impl From<ConsentEvent> for ConsentEventView {
    fn from(c: ConsentEvent) -> Self {
        Self {
            id: c.id,
            kind: c.kind,
            source: c.source,
            evidence: c.evidence,
            recorded_at: rfc3339(c.recorded_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadDetail {
    #[serde(flatten)]
    pub lead: LeadView,
    /// Newest first, at most 100.
    pub messages: Vec<MessageView>,
    pub consent_events: Vec<ConsentEventView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: JobId,
    pub kind: String,
    pub state: JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<JobRecord> for JobView {
    fn from(j: JobRecord) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            state: j.state,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: rfc3339(j.run_at),
            last_error: j.last_error,
            created_at: rfc3339(j.created_at),
            updated_at: rfc3339(j.updated_at),
            payload: j.payload,
        }
    }
}

/// A page of a list, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
