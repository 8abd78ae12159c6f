//! Leads: people who asked a business to contact them.

use serde::{Deserialize, Serialize};

use crate::{ConsentEvidence, Email, LeadId, Phone, TenantId, Timestamp};

/// Where a lead is in the pipeline. `OptedOut` is set only by the compliance pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    New,
    Contacted,
    Engaged,
    Booked,
    Won,
    Lost,
    OptedOut,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 7] = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Engaged,
        LeadStatus::Booked,
        LeadStatus::Won,
        LeadStatus::Lost,
        LeadStatus::OptedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Engaged => "engaged",
            LeadStatus::Booked => "booked",
            LeadStatus::Won => "won",
            LeadStatus::Lost => "lost",
            LeadStatus::OptedOut => "opted_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A lead as it arrives, already parsed at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLead {
    pub name: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    /// Where it came from: `web_form`, `facebook`, `api`, ... (free text, bounded at the edge).
    pub source: String,
    pub address: Option<String>,
    pub zip: Option<String>,
    /// An IANA time zone the caller knows the person to be in.
    pub time_zone: Option<String>,
    pub consent: Option<ConsentEvidence>,
}

/// A stored lead with its personal data opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lead {
    pub id: LeadId,
    pub tenant_id: TenantId,
    pub status: LeadStatus,
    pub source: String,
    pub name: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub address: Option<String>,
    pub zip: Option<String>,
    pub time_zone: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The latest time the person reached out (a form, a repeat submission, a reply).
    pub last_touch_at: Timestamp,
    /// How many times the person has reached out through a source, the first included.
    pub touch_count: i64,
}

impl Lead {
    /// The first word of the name, for greetings.
    pub fn first_name(&self) -> Option<&str> {
        self.name
            .as_deref()
            .and_then(|n| n.split_whitespace().next())
    }
}
