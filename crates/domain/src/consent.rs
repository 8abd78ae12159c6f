//! Consent: why a message may go to a person, with the evidence to prove it.

use serde::{Deserialize, Serialize};

use crate::{ConsentEventId, LeadId, Timestamp};

/// What a message is for. Decides which consent it needs and which rules apply (see
/// `COMPLIANCE.md`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// The answer to the person's own inquiry; confirmations and reminders they asked for.
    Transactional,
    Informational,
    /// Anything promotional, including follow-ups and re-engagement.
    Marketing,
}

impl Purpose {
    pub const ALL: [Purpose; 3] = [
        Purpose::Transactional,
        Purpose::Informational,
        Purpose::Marketing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Transactional => "transactional",
            Purpose::Informational => "informational",
            Purpose::Marketing => "marketing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The evidence that a person agreed to be contacted: what they saw, where and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsentEvidence {
    /// The exact disclosure text shown next to the form.
    pub disclosure_text: String,
    pub disclosure_version: Option<String>,
    /// The seller(s) the consent names.
    pub seller: Option<String>,
    pub page_url: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// When the person agreed (from the form), as opposed to when Leadline recorded it.
    #[schema(value_type = String, format = DateTime)]
    pub captured_at: Timestamp,
    pub purposes: Vec<Purpose>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    Granted,
    Revoked,
}

impl ConsentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentKind::Granted => "granted",
            ConsentKind::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "granted" => Some(ConsentKind::Granted),
            "revoked" => Some(ConsentKind::Revoked),
            _ => None,
        }
    }
}

/// One entry of the append-only consent ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConsentEvent {
    pub id: ConsentEventId,
    pub lead_id: LeadId,
    pub kind: ConsentKind,
    /// Where the event came from: the lead's source, `inbound_sms`, `api`, ...
    pub source: String,
    pub evidence: ConsentEvidence,
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: Timestamp,
}
