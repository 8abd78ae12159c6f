//! Records of keeping leads moving, shared by both backends: timeline entries, silent-lead
//! recovery batches, appointments.

use domain::appointment::{Appointment, AppointmentState, Slot};
use domain::engagement::Engagement;
use domain::timeline::{LeadEvent, LeadEventKind};
use domain::{AppointmentId, EnrolmentId, LeadEventId, LeadId, LeadStatus, SequenceId};
use domain::{TenantId, Timestamp};
use uuid::Uuid;

use crate::codec::{open_opt, seal_opt, ts, ts_opt};
use crate::{DbError, DbResult, NewJob};
use crypto::Cipher;

/// A timeline entry to write. Only a note carries text (sealed); `data` holds no personal data.
#[derive(Debug, Clone)]
pub struct NewLeadEvent {
    pub id: LeadEventId,
    pub lead_id: LeadId,
    pub kind: LeadEventKind,
    pub actor: String,
    pub data: serde_json::Value,
    pub note: Option<String>,
    pub at: Timestamp,
}

impl NewLeadEvent {
    pub fn new(
        lead_id: LeadId,
        kind: LeadEventKind,
        actor: &str,
        data: serde_json::Value,
        at: Timestamp,
    ) -> Self {
        Self {
            id: LeadEventId::new(),
            lead_id,
            kind,
            actor: actor.to_owned(),
            data,
            note: None,
            at,
        }
    }

    /// A status change's entry.
    pub fn status(
        lead_id: LeadId,
        from: LeadStatus,
        to: LeadStatus,
        actor: &str,
        at: Timestamp,
    ) -> Self {
        Self::new(
            lead_id,
            LeadEventKind::Status,
            actor,
            serde_json::json!({ "from": from.as_str(), "to": to.as_str() }),
            at,
        )
    }

    /// The columns as stored: data as JSON text, the note sealed to this row.
    pub fn sealed(&self, cipher: &Cipher, tenant: TenantId) -> (String, Option<Vec<u8>>) {
        (
            self.data.to_string(),
            seal_opt(
                cipher,
                tenant,
                "lead_events.note",
                self.id.as_uuid(),
                self.note.as_deref(),
            ),
        )
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct LeadEventRow {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub kind: String,
    pub actor: String,
    pub data: String,
    pub note_ct: Option<Vec<u8>>,
    pub created_at: i64,
}

impl LeadEventRow {
    pub fn open(self, cipher: &Cipher, tenant: TenantId) -> DbResult<LeadEvent> {
        Ok(LeadEvent {
            id: LeadEventId::from_uuid(self.id),
            lead_id: LeadId::from_uuid(self.lead_id),
            kind: LeadEventKind::parse(&self.kind)
                .ok_or_else(|| DbError::corrupt(format!("lead event kind {:?}", self.kind)))?,
            actor: self.actor,
            data: serde_json::from_str(&self.data)
                .map_err(|e| DbError::corrupt(format!("lead event data: {e}")))?,
            note: open_opt(
                cipher,
                tenant,
                "lead_events.note",
                self.id,
                self.note_ct.as_deref(),
            )?,
            at: ts(self.created_at)?,
        })
    }
}

/// Which leads recovery rules are after: in `status`, fewer than `attempts_below` recovery
/// runs, quiet since at or before `quiet_before`, in order of (quiet since, id) after `after`.
/// Read through the recovery index.
#[derive(Debug, Clone)]
pub struct RecoveryQuery {
    pub status: LeadStatus,
    pub attempts_below: u32,
    pub quiet_before: Timestamp,
    pub after: Option<(Timestamp, LeadId)>,
    pub limit: u32,
}

/// A lead a recovery rule matched by its index.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryCandidate {
    pub lead_id: LeadId,
    pub quiet_since: Timestamp,
    /// Recovery runs started for the lead so far.
    pub attempts: u32,
    /// Their last inquiry: where the relationship window counts from.
    pub last_touch_at: Timestamp,
    pub engagement: Engagement,
}

#[derive(Debug, sqlx::FromRow)]
pub struct RecoveryRow {
    pub id: Uuid,
    pub quiet_since: i64,
    pub recovery_attempts: i32,
    pub last_touch_at: i64,
    pub engagement: f64,
    pub engagement_at: Option<i64>,
}

impl RecoveryRow {
    pub fn into_candidate(self) -> DbResult<RecoveryCandidate> {
        Ok(RecoveryCandidate {
            lead_id: LeadId::from_uuid(self.id),
            quiet_since: ts(self.quiet_since)?,
            attempts: u32::try_from(self.recovery_attempts).unwrap_or(0),
            last_touch_at: ts(self.last_touch_at)?,
            engagement: Engagement {
                score: self.engagement,
                at: ts_opt(self.engagement_at)?,
            },
        })
    }
}

/// The first `limit` of rows read per attempt count, in (quiet since, id) order.
pub fn first_candidates(rows: Vec<RecoveryRow>, limit: u32) -> DbResult<Vec<RecoveryCandidate>> {
    let mut all = rows
        .into_iter()
        .map(RecoveryRow::into_candidate)
        .collect::<DbResult<Vec<_>>>()?;
    all.sort_by_key(|c| (c.quiet_since, c.lead_id));
    all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(all)
}

/// One recovery run to start.
#[derive(Debug, Clone)]
pub struct RecoveryRun {
    pub enrolment_id: EnrolmentId,
    pub lead_id: LeadId,
    /// The run's first step, due at `due`.
    pub due: Timestamp,
    pub job: NewJob,
}

/// What one pass of a recovery rule writes, in one transaction: runs started (each counting an
/// attempt and restarting the lead's quiet time), and leads whose
/// relationship window has passed, taken out of the recovery index.
#[derive(Debug, Clone)]
pub struct RecoveryBatch {
    pub sequence_id: SequenceId,
    pub version: i32,
    pub at: Timestamp,
    pub runs: Vec<RecoveryRun>,
    pub retire: Vec<LeadId>,
}

/// What a recovery batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryDone {
    /// Runs started.
    pub started: u64,
    /// Leads skipped because they were running the sequence already.
    pub running: u64,
    pub retired: u64,
}

impl RecoveryDone {
    pub fn add(&mut self, other: RecoveryDone) {
        self.started += other.started;
        self.running += other.running;
        self.retired += other.retired;
    }
}

/// An appointment to book, with its reminders' jobs.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    pub id: AppointmentId,
    pub lead_id: LeadId,
    pub slot: Slot,
    pub actor: String,
    pub at: Timestamp,
    /// The reminders of revision 1.
    pub reminders: Vec<NewJob>,
}

/// How an appointment changes.
#[derive(Debug, Clone)]
pub enum AppointmentChange {
    /// A new slot: the revision goes up (reminders of the old one do nothing) and `reminders`
    /// (built for the next revision) are queued.
    Reschedule {
        slot: Slot,
        reminders: Vec<NewJob>,
    },
    Cancel,
}

#[macro_export]
macro_rules! appointment_columns {
    () => {
        "id, tenant_id, lead_id, state, starts_at, ends_at, time_zone, title, location_ct, \
         revision, created_at, updated_at"
    };
}

#[derive(Debug, sqlx::FromRow)]
pub struct AppointmentRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub lead_id: Uuid,
    pub state: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub time_zone: String,
    pub title: String,
    pub location_ct: Option<Vec<u8>>,
    pub revision: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An appointment's location, sealed to its row.
pub fn seal_location(
    cipher: &Cipher,
    tenant: TenantId,
    id: AppointmentId,
    location: Option<&str>,
) -> Option<Vec<u8>> {
    seal_opt(
        cipher,
        tenant,
        "appointments.location",
        id.as_uuid(),
        location,
    )
}

impl AppointmentRow {
    pub fn open(self, cipher: &Cipher) -> DbResult<Appointment> {
        let tenant = TenantId::from_uuid(self.tenant_id);
        Ok(Appointment {
            id: AppointmentId::from_uuid(self.id),
            tenant_id: tenant,
            lead_id: LeadId::from_uuid(self.lead_id),
            state: AppointmentState::parse(&self.state)
                .ok_or_else(|| DbError::corrupt(format!("appointment state {:?}", self.state)))?,
            starts_at: ts(self.starts_at)?,
            ends_at: ts(self.ends_at)?,
            time_zone: self.time_zone,
            title: self.title,
            location: open_opt(
                cipher,
                tenant,
                "appointments.location",
                self.id,
                self.location_ct.as_deref(),
            )?,
            revision: self.revision,
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
        })
    }
}

/// The timeline entry of an appointment's change.
pub fn appointment_event(
    appointment: &Appointment,
    change: &str,
    actor: &str,
    at: Timestamp,
) -> NewLeadEvent {
    NewLeadEvent::new(
        appointment.lead_id,
        LeadEventKind::Appointment,
        actor,
        serde_json::json!({
            "appointment": appointment.id,
            "change": change,
            "starts_at": appointment.starts_at,
            "ends_at": appointment.ends_at,
            "time_zone": appointment.time_zone,
        }),
        at,
    )
}

/// Whether booking moves a lead in `status` to `booked`: not a customer already (won), and
/// never out of opted-out, which only the compliance pipeline changes.
pub fn booking_moves(status: LeadStatus) -> bool {
    !matches!(
        status,
        LeadStatus::Booked | LeadStatus::Won | LeadStatus::OptedOut
    )
}

/// One call (or cache hit) of the AI writer, for the organisation's usage and the message's
/// cost.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AiGeneration {
    pub id: Uuid,
    /// The dedupe key of the message it was for (`seq:{run}:{step}`).
    pub message_key: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// In millionths of a US dollar.
    pub cost_micros: i64,
    /// Taken from the cache: no call, no cost.
    pub cached: bool,
    /// `used`, `budget` (over the month's budget: template sent), `error:{code}`,
    /// `guard:{rule}` (the draft was refused: template sent).
    pub outcome: String,
    #[schema(value_type = String)]
    pub at: Timestamp,
}

/// An organisation's AI writer use in one month (`2026-11`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AiUsage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

impl AiUsage {
    pub fn tokens(&self) -> i64 {
        self.input_tokens + self.output_tokens
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct AiGenerationRow {
    pub id: Uuid,
    pub message_key: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub cached: bool,
    pub outcome: String,
    pub created_at: i64,
}

impl AiGenerationRow {
    pub fn into_generation(self) -> DbResult<AiGeneration> {
        Ok(AiGeneration {
            id: self.id,
            message_key: self.message_key,
            model: self.model,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost_micros: self.cost_micros,
            cached: self.cached,
            outcome: self.outcome,
            at: ts(self.created_at)?,
        })
    }
}
