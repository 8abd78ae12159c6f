//! Silent-lead recovery: an organisation's rules for bringing back leads that went quiet.
//!
//! "Contacted, nothing heard for 3 days: start sequence X, at most twice per lead, while the
//! inquiry is under 90 days old." A recurring scan finds the leads each rule matches through an
//! index on (organisation, status, attempts, quiet since), so it reads the due leads and never
//! every lead. Recovery messages are marketing whatever their steps say.

use serde::{Deserialize, Serialize};

use crate::engagement::Level;
use crate::sequence::{parse_delay, parse_duration};
use crate::{LeadStatus, SequenceId};

/// The most attempts a rule may allow per lead.
pub const MAX_ATTEMPTS: u32 = 10;
/// The shortest silence a rule may wait for.
pub const MIN_SILENCE: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);
/// The longest relationship window: the 18 months a transaction exempts a number for.
pub const MAX_WITHIN: jiff::SignedDuration = jiff::SignedDuration::from_hours(540 * 24);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRule {
    /// Leads in this status: `new`, `contacted`, `engaged` or `lost`.
    pub status: LeadStatus,
    /// ISO 8601 duration with nothing heard from the lead (no reply, no new inquiry), and no
    /// recovery attempt: `P3D`.
    pub silent_for: String,
    /// The sequence a matching lead is started on.
    pub sequence_id: SequenceId,
    /// At most this many recovery runs per lead, ever (default 2).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Only leads whose last inquiry is at most this old (ISO 8601; default `P90D`, the
    /// three months an inquiry exempts a number from the do-not-call registry).
    #[serde(default = "default_within")]
    pub within: String,
    /// Only leads at these engagement levels; unset: any.
    #[serde(default)]
    pub engagement_in: Option<Vec<Level>>,
}

fn default_attempts() -> u32 {
    2
}

fn default_within() -> String {
    "P90D".to_owned()
}

/// The statuses a recovery rule may take.
pub const RECOVERABLE: [LeadStatus; 4] = [
    LeadStatus::New,
    LeadStatus::Contacted,
    LeadStatus::Engaged,
    LeadStatus::Lost,
];

impl RecoveryRule {
    /// Every problem, each named by its field under `prefix` (`recovery[0]`).
    pub fn problems(&self, prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !RECOVERABLE.contains(&self.status) {
            out.push((
                format!("{prefix}.status"),
                "one of new, contacted, engaged, lost".to_owned(),
            ));
        }
        match parse_delay(&self.silent_for) {
            Ok(d) if d < MIN_SILENCE => out.push((
                format!("{prefix}.silent_for"),
                "at least one hour".to_owned(),
            )),
            Ok(_) => {}
            Err(e) => out.push((format!("{prefix}.silent_for"), e)),
        }
        match parse_within(&self.within) {
            Ok(w) if parse_delay(&self.silent_for).is_ok_and(|s| s >= w) => out.push((
                format!("{prefix}.within"),
                "must be longer than silent_for".to_owned(),
            )),
            Ok(_) => {}
            Err(e) => out.push((format!("{prefix}.within"), e)),
        }
        if self.max_attempts == 0 || self.max_attempts > MAX_ATTEMPTS {
            out.push((
                format!("{prefix}.max_attempts"),
                format!("1 to {MAX_ATTEMPTS}"),
            ));
        }
        if self.engagement_in.as_ref().is_some_and(Vec::is_empty) {
            out.push((
                format!("{prefix}.engagement_in"),
                "leave it out for any level".to_owned(),
            ));
        }
        out
    }

    /// The silence, once the rule is known valid.
    pub fn silence(&self) -> jiff::SignedDuration {
        parse_delay(&self.silent_for).unwrap_or(jiff::SignedDuration::MAX)
    }

    /// The relationship window, once the rule is known valid.
    pub fn window(&self) -> jiff::SignedDuration {
        parse_within(&self.within).unwrap_or(jiff::SignedDuration::ZERO)
    }
}

fn parse_within(text: &str) -> Result<jiff::SignedDuration, String> {
    match parse_duration(text, MAX_WITHIN)? {
        d if d.is_zero() => Err("is zero".to_owned()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> RecoveryRule {
        serde_json::from_value(serde_json::json!({
            "status": "contacted",
            "silent_for": "P3D",
            "sequence_id": SequenceId::new(),
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults_are_two_attempts_within_ninety_days() {
        let r = rule();
        assert_eq!(r.max_attempts, 2);
        assert_eq!(r.window(), jiff::SignedDuration::from_hours(90 * 24));
        assert_eq!(r.silence(), jiff::SignedDuration::from_hours(72));
        assert!(r.problems("recovery[0]").is_empty());
    }

    #[test]
    fn problems_name_the_rule_and_field() {
        let r = RecoveryRule {
            status: LeadStatus::Booked,
            silent_for: "PT5M".to_owned(),
            max_attempts: 0,
            within: "P2Y".to_owned(),
            engagement_in: Some(vec![]),
            ..rule()
        };
        let fields: Vec<String> = r.problems("recovery[1]").into_iter().map(|p| p.0).collect();
        assert_eq!(
            fields,
            [
                "recovery[1].status",
                "recovery[1].silent_for",
                "recovery[1].within",
                "recovery[1].max_attempts",
                "recovery[1].engagement_in"
            ]
        );
        let r = RecoveryRule {
            silent_for: "P100D".to_owned(),
            ..rule()
        };
        let fields: Vec<String> = r.problems("r").into_iter().map(|p| p.0).collect();
        assert_eq!(fields, ["r.silent_for"]);
    }
}
