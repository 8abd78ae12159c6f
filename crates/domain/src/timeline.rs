//! A lead's timeline entries that are neither messages nor consent events.

use serde::Serialize;

use crate::{LeadEventId, LeadId, Timestamp};

/// The longest note.
pub const MAX_NOTE: usize = 4000;

/// What happened. Each kind's `data` holds no personal data (a note's text is sealed apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadEventKind {
    /// `{"from": "new", "to": "contacted"}`
    Status,
    /// Someone wrote a note; its text is in `note`.
    Note,
    /// `{"appointment": id, "change": "booked"|"rescheduled"|"cancelled", "starts_at": ...}`
    Appointment,
    /// `{"sequence": id, "version": n, "origin": "recovery"|..., "state", "exit_reason"}`: a
    /// run started (read from the run itself, never written as an entry).
    Enrolled,
}

impl LeadEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadEventKind::Status => "status",
            LeadEventKind::Note => "note",
            LeadEventKind::Appointment => "appointment",
            LeadEventKind::Enrolled => "enrolled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            LeadEventKind::Status,
            LeadEventKind::Note,
            LeadEventKind::Appointment,
            LeadEventKind::Enrolled,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadEvent {
    pub id: LeadEventId,
    pub lead_id: LeadId,
    pub kind: LeadEventKind,
    /// Who did it: `user:{id}`, `key:{id}`, or `system`.
    pub actor: String,
    pub data: serde_json::Value,
    /// A note's text.
    pub note: Option<String>,
    pub at: Timestamp,
}
