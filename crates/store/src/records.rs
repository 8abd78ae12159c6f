//! What goes into and comes out of a `Store`: inputs, records and queries.

use domain::{
    Address, ApiKeyId, Channel, ConsentEvidence, Direction, JobId, Lead, LeadId, LeadStatus,
    MessageId, MessageStatus, NewLead, Purpose, TenantId, Timestamp,
};
use serde::{Deserialize, Serialize};

/// An organisation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantRecord {
    pub id: TenantId,
    pub name: String,
    pub settings: TenantSettings,
    pub created_at: Timestamp,
    /// A suspended organisation's keys and members are refused; its data is kept.
    pub suspended_at: Option<Timestamp>,
}

impl TenantRecord {
    /// The name messages sign with: the business name, else the organisation's own.
    pub fn brand(&self) -> &str {
        if self.settings.business_name.is_empty() {
            &self.name
        } else {
            &self.settings.business_name
        }
    }
}

/// An organisation's settings that the foundation uses. Unknown keys are kept by serde's
/// defaults so later versions can add fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TenantSettings {
    /// The name leads know the business by; used in messages.
    pub business_name: String,
    /// ISO 3166 region for numbers typed without a country code.
    pub default_region: String,
    /// minijinja template of the first SMS answer.
    pub first_response_sms: String,
    pub first_response_email_subject: String,
    pub first_response_email_body: String,
    /// minijinja template of the text sent at once to a caller the business missed.
    pub missed_call_sms: String,
    /// The number or sender the organisation's texts come from.
    pub sms_from: String,
    pub email_from: String,
    /// How people reach a human: named in HELP answers.
    pub support_contact: String,
    /// The organisation's own compliance rules (stricter than the law, never looser).
    pub compliance: ComplianceSettings,
    /// Silent-lead recovery: which quiet leads are started on which sequence. Checked in order;
    /// a lead is taken by the first rule it matches.
    pub recovery: Vec<domain::recovery::RecoveryRule>,
    /// Appointment reminders: when, and what they say.
    pub reminders: ReminderSettings,
}

/// Reminders before each appointment, each sent by text (when the lead has a number) and by
/// email with a calendar invitation (when they have an address), as transactional messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ReminderSettings {
    /// ISO 8601 durations before the start (`PT24H`, `PT2H`); at most 5, each up to 30 days.
    /// Empty: no reminders.
    pub before: Vec<String>,
    /// minijinja templates; `{{ appointment_time }}` is the start in the lead's time zone.
    pub sms: String,
    pub email_subject: String,
    pub email_body: String,
}

impl Default for ReminderSettings {
    fn default() -> Self {
        Self {
            before: vec!["PT24H".to_owned(), "PT2H".to_owned()],
            sms: "Hi {{ first_name | default('there') }}, a reminder from {{ business_name }}: \
                {{ appointment_title }} on {{ appointment_time }}. Reply STOP to opt out."
                .to_owned(),
            email_subject: "Reminder: {{ appointment_title }} on {{ appointment_time }}".to_owned(),
            email_body: "Hi {{ first_name | default('there') }},\n\nA reminder of your \
                {{ appointment_title }} with {{ business_name }} on {{ appointment_time }}\
                {% if appointment_location %} at {{ appointment_location }}{% endif %}.\n\n\
                The invitation is attached for your calendar.\n\n{{ business_name }}"
                .to_owned(),
        }
    }
}

/// An organisation's own compliance rules and the facts the law asks it to have on file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ComplianceSettings {
    /// A daily window in the recipient's local time (`"09:00"` to `"19:00"`) for every message
    /// quiet hours bind, applied on top of the legal windows.
    pub quiet_hours: Option<QuietHours>,
    /// Caps on automated messages to one person, each over its own rolling window.
    pub caps: Vec<FrequencyCap>,
    /// The organisation's Texas telephone-solicitation registration number, or the exemption
    /// it relies on. Without it, marketing texts to recipients who may be in Texas are blocked.
    pub texas_registration: Option<String>,
    /// The physical postal address printed in every marketing email (CAN-SPAM). Without it,
    /// marketing emails are blocked.
    pub postal_address: Option<String>,
    /// How often people hear from the organisation, for the HELP answer ("Msg frequency varies"
    /// when empty).
    pub message_frequency: Option<String>,
}

/// `[from, until)` in local wall-clock time, `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuietHours {
    pub from: String,
    pub until: String,
}

/// At most `limit` automated messages to one person per `hours`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FrequencyCap {
    pub limit: u32,
    pub hours: u32,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            business_name: String::new(),
            default_region: "US".to_owned(),
            first_response_sms:
                "Hi {{ first_name | default('there') }}, thanks for reaching out to \
                {{ business_name }}! We got your request and will be in touch shortly. \
                Reply STOP to opt out."
                    .to_owned(),
            first_response_email_subject: "Thanks for contacting {{ business_name }}".to_owned(),
            first_response_email_body: "Hi {{ first_name | default('there') }},\n\nThanks for \
                reaching out to {{ business_name }}. We got your request and will be in touch \
                shortly.\n\n{{ business_name }}"
                .to_owned(),
            missed_call_sms: "Hi, this is {{ business_name }}. Sorry we missed your call! \
                How can we help? Reply here and we'll get right back to you. Reply STOP to opt out."
                .to_owned(),
            sms_from: "+15005550006".to_owned(),
            email_from: "hello@leadline.invalid".to_owned(),
            support_contact: String::new(),
            compliance: ComplianceSettings::default(),
            recovery: Vec::new(),
            reminders: ReminderSettings::default(),
        }
    }
}

/// A scope an API key can carry.
pub const API_SCOPES: &[&str] = &[
    "leads:read",
    "leads:write",
    "messages:read",
    "messages:send",
    "jobs:read",
    "settings:read",
    "settings:write",
    "audit:read",
    "sandbox",
];

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    pub prefix: String,
    #[serde(skip)]
    pub hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// Whether the key's organisation is suspended (read with the key, to refuse it at once).
    #[serde(skip)]
    pub tenant_suspended: bool,
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    pub tenant_id: Option<TenantId>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_at: Timestamp,
    pub max_attempts: i32,
    /// At most one job with this key exists at a time (recurring work, "once per lead").
    pub dedupe_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Ready,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Ready => "ready",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ready" => Some(JobState::Ready),
            "running" => Some(JobState::Running),
            "done" => Some(JobState::Done),
            "dead" => Some(JobState::Dead),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub id: JobId,
    pub tenant_id: Option<TenantId>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub state: JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Proof of a claim: completing, retrying or releasing a job needs the lease it was claimed with,
/// so a worker whose lease expired (and whose job was reclaimed) cannot overwrite the new owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub worker: String,
    pub attempt: i32,
}

#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub job: JobRecord,
    pub lease: Lease,
}

/// A claim on an `Idempotency-Key` made inside the intake transaction.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub key: String,
    pub request_hash: [u8; 32],
}

/// One lead submission, as the intake transaction receives it.
#[derive(Debug, Clone)]
pub struct IntakeRequest {
    /// The id the lead gets if it is new.
    pub new_lead_id: LeadId,
    pub lead: NewLead,
    pub received_at: Timestamp,
    pub idempotency: Option<IdempotencyClaim>,
    /// Jobs to enqueue in the same transaction if, and only if, the lead is new.
    pub jobs_if_created: Vec<NewJob>,
    /// Who is asking: unless the request is a replay, a `lead.create` or `lead.touch` entry is
    /// staged for the audit log in the same transaction.
    pub audit: Option<crate::AuditContext>,
}

#[derive(Debug, Clone)]
pub struct IntakeOutcome {
    pub lead: Lead,
    /// A new lead (201) or a new touch on an existing one (200).
    pub created: bool,
    /// The answer to an `Idempotency-Key` seen before with the same request; nothing was written.
    pub replayed: bool,
}

/// Filters of `list_leads`. Results are newest first; `before` is the keyset cursor.
#[derive(Debug, Clone, Default)]
pub struct LeadQuery {
    pub status: Option<LeadStatus>,
    pub source: Option<String>,
    pub address: Option<domain::Address>,
    pub before: Option<LeadId>,
    pub limit: u32,
}

/// An outbound message about to be handed to a provider.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    pub id: MessageId,
    pub lead_id: Option<LeadId>,
    pub channel: Channel,
    pub to: String,
    pub from: String,
    pub subject: Option<String>,
    pub body: String,
    pub purpose: Purpose,
    pub job_id: Option<JobId>,
    /// At most one message per tenant with this key: "first_response:{lead}" makes a second
    /// first answer to the same lead impossible, whatever crashes in between.
    pub dedupe_key: Option<String>,
    pub intake_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// `Sending` (in flight) or `Blocked`.
    pub status: MessageStatus,
    pub error: Option<String>,
    /// Frequency caps to hold again as the message is recorded: several processes deciding
    /// messages to one person at once must not together pass a cap.
    pub cap_guard: Option<CapGuard>,
}

/// The caps a message must fit under when it is recorded, counted over the person's addresses.
#[derive(Debug, Clone, Default)]
pub struct CapGuard {
    /// Every address of the person (the one written to, and their lead's).
    pub addresses: Vec<Address>,
    pub caps: Vec<CapCount>,
}

/// At most `limit - 1` messages already created after `since` (only marketing ones when
/// `marketing_only`), so that this one is at most the `limit`-th.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapCount {
    pub since: Timestamp,
    pub limit: u32,
    pub marketing_only: bool,
}

#[derive(Debug, Clone)]
pub enum BeginOutbound {
    /// The message is recorded in flight; the caller may now call the provider.
    Started(domain::Message),
    /// A message with the same dedupe key exists: reconcile it, never send again blindly.
    Existing(domain::Message),
    /// A cap of the guard is full: nothing was recorded; decide again.
    CapReached,
}

/// What happened at the provider.
#[derive(Debug, Clone)]
pub struct OutboundResult {
    pub status: MessageStatus,
    pub provider: String,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub provider_called_at: Option<Timestamp>,
    pub at: Timestamp,
    /// Staged for the audit log in the same transaction (see `Store::stage_audit`).
    pub audit: Option<crate::NewAuditEntry>,
}

/// A delivery receipt: what the provider says became of a message.
#[derive(Debug, Clone)]
pub struct DeliveryUpdate {
    /// `Sent`, `Delivered`, `Undelivered` or `Failed`.
    pub status: MessageStatus,
    /// The provider's error code, for the last two.
    pub error: Option<String>,
    /// Kept when the message has none yet (a receipt that beat the send's own answer).
    pub provider_message_id: Option<String>,
    pub at: Timestamp,
}

impl DeliveryUpdate {
    /// The statuses this update may replace, as an SQL list: a receipt moves a message
    /// forward only. `None` for a status that is not a delivery status.
    pub fn replaces(&self) -> Option<&'static str> {
        match self.status {
            MessageStatus::Sent => Some("('sending')"),
            MessageStatus::Delivered | MessageStatus::Undelivered | MessageStatus::Failed => {
                Some("('sending', 'sent')")
            }
            MessageStatus::Sending | MessageStatus::Blocked | MessageStatus::Received => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewInbound {
    pub id: MessageId,
    pub lead_id: Option<LeadId>,
    pub channel: Channel,
    pub from: String,
    pub to: String,
    pub body: String,
    pub provider: String,
    pub provider_message_id: Option<String>,
    pub received_at: Timestamp,
}

/// Filters of `list_messages`, newest first.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    pub lead_id: Option<LeadId>,
    pub to: Option<domain::Address>,
    pub direction: Option<Direction>,
    pub before: Option<MessageId>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct NewConsentEvent {
    pub id: domain::ConsentEventId,
    pub lead_id: LeadId,
    pub kind: domain::ConsentKind,
    pub source: String,
    pub evidence: ConsentEvidence,
    pub recorded_at: Timestamp,
}

/// A sequence to create (its version 1).
#[derive(Debug, Clone)]
pub struct NewSequence {
    pub id: domain::SequenceId,
    pub name: String,
    pub definition: domain::sequence::Definition,
    pub created_at: Timestamp,
}

/// A lead's run to start, at step 0 due at `next_run_at`.
#[derive(Debug, Clone)]
pub struct NewEnrolment {
    pub id: domain::EnrolmentId,
    pub lead_id: LeadId,
    pub sequence_id: domain::SequenceId,
    pub version: i32,
    pub enrolled_at: Timestamp,
    pub next_run_at: Timestamp,
    pub origin: domain::sequence::Origin,
}

/// Where an active run goes from the step it is at.
#[derive(Debug, Clone)]
pub enum Advance {
    /// To step `step` (the steps done so far), due then, with the job that runs it.
    Next {
        step: i32,
        due: Timestamp,
        job: NewJob,
    },
    /// No step is left; `step` steps were done.
    Complete { step: i32 },
}
