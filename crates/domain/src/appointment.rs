//! Appointments booked with a lead, and the reminders before them.

use serde::{Deserialize, Serialize};

use crate::{AppointmentId, LeadId, TenantId, Timestamp};

/// The longest an appointment may last.
pub const MAX_LENGTH: jiff::SignedDuration = jiff::SignedDuration::from_hours(14 * 24);
pub const MAX_TITLE: usize = 200;
pub const MAX_LOCATION: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentState {
    Scheduled,
    Cancelled,
}

impl AppointmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentState::Scheduled => "scheduled",
            AppointmentState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scheduled" => Some(AppointmentState::Scheduled),
            "cancelled" => Some(AppointmentState::Cancelled),
            _ => None,
        }
    }
}

/// When and where, as a business books it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// The IANA zone the appointment is held in (the business's, or the lead's).
    pub time_zone: String,
    pub title: String,
    /// Sealed at rest: often the lead's home address.
    pub location: Option<String>,
}

impl Slot {
    /// Every problem, each named by its field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.ends_at <= self.starts_at {
            out.push(("ends_at", "must be after starts_at".to_owned()));
        } else if self.ends_at.duration_since(self.starts_at) > MAX_LENGTH {
            out.push(("ends_at", "an appointment lasts at most 14 days".to_owned()));
        }
        if jiff::tz::TimeZone::get(&self.time_zone).is_err() {
            out.push((
                "time_zone",
                format!("{:?} is not an IANA time zone", self.time_zone),
            ));
        }
        if self.title.trim().is_empty() || self.title.chars().count() > MAX_TITLE {
            out.push(("title", format!("1 to {MAX_TITLE} characters")));
        }
        if self
            .location
            .as_ref()
            .is_some_and(|l| l.chars().count() > MAX_LOCATION)
        {
            out.push(("location", format!("at most {MAX_LOCATION} characters")));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appointment {
    pub id: AppointmentId,
    pub tenant_id: TenantId,
    pub lead_id: LeadId,
    pub state: AppointmentState,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub time_zone: String,
    pub title: String,
    pub location: Option<String>,
    /// Goes up with every reschedule; a reminder queued for an earlier revision does nothing.
    pub revision: i32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_each_field() {
        let t = Timestamp::UNIX_EPOCH;
        let slot = Slot {
            starts_at: t,
            ends_at: t,
            time_zone: "Mars/Olympus".to_owned(),
            title: " ".to_owned(),
            location: Some("x".repeat(MAX_LOCATION + 1)),
        };
        let fields: Vec<&str> = slot.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["ends_at", "time_zone", "title", "location"]);
        let good = Slot {
            ends_at: t + jiff::SignedDuration::from_hours(1),
            time_zone: "America/Chicago".to_owned(),
            title: "Estimate".to_owned(),
            location: None,
            ..slot
        };
        assert!(good.problems().is_empty());
    }
}
