//! Follow-up sequences: the steps a lead is taken through after the first answer, until they
//! reply, book or opt out.
//!
//! A [`Definition`] is what an organisation writes (JSON through the API). It is checked whole
//! by [`Definition::problems`], which names each bad field as `steps[2].delay`; templates are
//! checked by the engine, which owns the template language. Editing a sequence makes a new
//! version; an enrolment keeps the version it started on.

use serde::{Deserialize, Serialize};

use crate::engagement::Level;
use crate::{Channel, EnrolmentId, LeadId, LeadStatus, Purpose, SequenceId, TenantId, Timestamp};

/// The most steps a sequence may have.
pub const MAX_STEPS: usize = 20;
/// The longest delay of one step.
pub const MAX_DELAY: jiff::SignedDuration = jiff::SignedDuration::from_hours(90 * 24);

/// What a sequence does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// In order; at least one.
    pub steps: Vec<Step>,
    /// What ends a lead's run early. An opt-out always does, listed or not. Default: `reply`,
    /// `booking`, `opt_out`.
    #[serde(default = "default_exits")]
    pub exit_on: Vec<ExitRule>,
    /// Which new leads are enrolled at intake.
    #[serde(default)]
    pub enrol: EnrolRules,
}

fn default_exits() -> Vec<ExitRule> {
    vec![ExitRule::Reply, ExitRule::Booking, ExitRule::OptOut]
}

/// Automatic enrolment of new leads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolRules {
    /// Lead sources (`web_form`, `facebook`, ...) whose new leads are enrolled; `*` is every
    /// source.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Tags: a new lead with any of them is enrolled too. Both empty: enrolment through the
    /// API only.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl EnrolRules {
    pub fn matches(&self, source: &str, tags: &crate::Tags) -> bool {
        self.sources.iter().any(|s| s == "*" || s == source)
            || self.tags.iter().any(|t| tags.contains(t))
    }

    /// Whether any lead at all is enrolled at intake.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.tags.is_empty()
    }
}

/// What ends a run before its last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExitRule {
    /// The lead sent a message.
    Reply,
    /// An appointment was booked.
    Booking,
    /// The lead opted out (always applies).
    OptOut,
    /// The lead's status was changed by hand.
    StatusChange,
    /// Someone ended it through the API.
    Manual,
}

impl ExitRule {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitRule::Reply => "reply",
            ExitRule::Booking => "booking",
            ExitRule::OptOut => "opt_out",
            ExitRule::StatusChange => "status_change",
            ExitRule::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ExitRule::Reply,
            ExitRule::Booking,
            ExitRule::OptOut,
            ExitRule::StatusChange,
            ExitRule::Manual,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// What a step's delay counts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DelayFrom {
    /// The previous step (or enrolment, for the first).
    #[default]
    Previous,
    /// The enrolment.
    Enrolment,
}

/// One message of a sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub channel: Channel,
    /// ISO 8601 duration: `PT5M`, `P1D`, `P2DT4H` (days are 24 hours; up to 90 days).
    pub delay: String,
    #[serde(default)]
    pub after: DelayFrom,
    /// `transactional`, `informational` or `marketing`: what compliance holds the step to.
    pub purpose: Purpose,
    /// Email only, and required there.
    #[serde(default)]
    pub subject: Option<String>,
    /// The message, with variables (`{{ first_name }}`, `{{ business_name }}`).
    pub template: String,
    /// When the step is sent; otherwise it is skipped and the run goes on.
    #[serde(default)]
    pub conditions: Conditions,
    /// Lets the organisation's AI writer draft this step's message from `template` and a
    /// brief; the template is sent whenever the writer is off, over budget, failing, or its
    /// draft fails the guard.
    #[serde(default)]
    pub ai: Option<AiWriter>,
}

/// What the AI writer is asked for one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiWriter {
    /// What the message should do, in a sentence or two (1 to 500 characters): "Ask whether
    /// they still want the quote; mention the spring discount".
    pub brief: String,
}

/// The longest brief.
pub const MAX_BRIEF: usize = 500;

/// Facts about a lead a step may require. Unset means "either way".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The lead's status is one of these.
    #[serde(default)]
    pub status_in: Option<Vec<LeadStatus>>,
    /// The lead has (or has not) sent a message since enrolling.
    #[serde(default)]
    pub has_replied: Option<bool>,
    #[serde(default)]
    pub has_email: Option<bool>,
    #[serde(default)]
    pub has_phone: Option<bool>,
    /// The lead's engagement is one of these (`hot`, `warm`, `cold`).
    #[serde(default)]
    pub engagement_in: Option<Vec<Level>>,
}

/// What a condition is checked against.
#[derive(Debug, Clone, Copy)]
pub struct LeadFacts {
    pub status: LeadStatus,
    pub has_replied: bool,
    pub has_email: bool,
    pub has_phone: bool,
    pub engagement: Level,
}

impl Conditions {
    pub fn hold(&self, facts: LeadFacts) -> bool {
        self.status_in
            .as_ref()
            .is_none_or(|s| s.contains(&facts.status))
            && self.has_replied.is_none_or(|r| r == facts.has_replied)
            && self.has_email.is_none_or(|e| e == facts.has_email)
            && self.has_phone.is_none_or(|p| p == facts.has_phone)
            && self
                .engagement_in
                .as_ref()
                .is_none_or(|e| e.contains(&facts.engagement))
    }
}

/// Reads an ISO 8601 duration into an exact one (a day is 24 hours). Calendar units (years,
/// months, weeks) are refused: their length depends on when they start.
pub fn parse_delay(text: &str) -> Result<jiff::SignedDuration, String> {
    parse_duration(text, MAX_DELAY)
}

/// [`parse_delay`] with another bound.
pub fn parse_duration(
    text: &str,
    max: jiff::SignedDuration,
) -> Result<jiff::SignedDuration, String> {
    let span: jiff::Span = text
        .trim()
        .parse()
        .map_err(|_| "is not an ISO 8601 duration (e.g. PT5M, P1D)".to_owned())?;
    if span.get_years() != 0 || span.get_months() != 0 || span.get_weeks() != 0 {
        return Err("uses years, months or weeks; give days (P14D) instead".to_owned());
    }
    let duration = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| "is out of range".to_owned())?;
    if duration.is_negative() {
        return Err("is negative".to_owned());
    }
    if duration > max {
        return Err(format!("is longer than {} days", max.as_secs() / 86_400));
    }
    Ok(duration)
}

impl Definition {
    /// Every problem of the definition except its templates, each with the field it is in.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.steps.is_empty() {
            out.push(("steps".into(), "needs at least one step".into()));
        }
        if self.steps.len() > MAX_STEPS {
            out.push(("steps".into(), format!("has more than {MAX_STEPS} steps")));
        }
        for (i, step) in self.steps.iter().enumerate() {
            let at = |field: &str| format!("steps[{i}].{field}");
            if let Err(e) = parse_delay(&step.delay) {
                out.push((at("delay"), e));
            }
            match (step.channel, &step.subject) {
                (Channel::Email, None) => out.push((at("subject"), "is required for email".into())),
                (Channel::Email, Some(s)) if s.trim().is_empty() || s.len() > 200 => {
                    out.push((at("subject"), "must be 1 to 200 characters".into()));
                }
                (Channel::Sms, Some(_)) => {
                    out.push((at("subject"), "is for email steps only".into()));
                }
                _ => {}
            }
            if step.template.trim().is_empty() {
                out.push((at("template"), "is empty".into()));
            }
            if let Some(ai) = &step.ai {
                let n = ai.brief.trim().chars().count();
                if n == 0 || n > MAX_BRIEF || ai.brief.chars().any(|c| c.is_control() && c != '\n')
                {
                    out.push((
                        at("ai.brief"),
                        format!("must be 1 to {MAX_BRIEF} characters of text"),
                    ));
                }
            }
            if step
                .conditions
                .status_in
                .as_ref()
                .is_some_and(Vec::is_empty)
            {
                out.push((at("conditions.status_in"), "names no status".into()));
            }
            if step
                .conditions
                .engagement_in
                .as_ref()
                .is_some_and(Vec::is_empty)
            {
                out.push((at("conditions.engagement_in"), "names no level".into()));
            }
        }
        for (i, tag) in self.enrol.tags.iter().enumerate() {
            match crate::Tags::normalize(tag) {
                Ok(t) if &t == tag => {}
                Ok(t) => out.push((format!("enrol.tags[{i}]"), format!("write it as {t:?}"))),
                Err(e) => out.push((format!("enrol.tags[{i}]"), e)),
            }
        }
        for (i, source) in self.enrol.sources.iter().enumerate() {
            if source.is_empty() || source.len() > 64 || source.chars().any(char::is_control) {
                out.push((
                    format!("enrol.sources[{i}]"),
                    "must be a lead source of 1 to 64 characters, or *".into(),
                ));
            }
        }
        out
    }

    /// When step `index` is due, for a run enrolled at `enrolled_at` whose previous step ran
    /// at `previous` (`None` for the first step). The definition must have been checked.
    pub fn due_at(
        &self,
        index: usize,
        enrolled_at: Timestamp,
        previous: Option<Timestamp>,
    ) -> Option<Timestamp> {
        let step = self.steps.get(index)?;
        let delay = parse_delay(&step.delay).ok()?;
        let from = match step.after {
            DelayFrom::Enrolment => enrolled_at,
            DelayFrom::Previous => previous.unwrap_or(enrolled_at),
        };
        from.checked_add(delay).ok()
    }

    /// Whether `rule` ends a run of this definition (an opt-out always does).
    pub fn exits_on(&self, rule: ExitRule) -> bool {
        rule == ExitRule::OptOut || self.exit_on.contains(&rule)
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentState {
    /// Steps are still to come.
    Active,
    /// Every step was sent or skipped.
    Completed,
    /// Ended early, by an exit rule.
    Exited,
}

impl EnrolmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrolmentState::Active => "active",
            EnrolmentState::Completed => "completed",
            EnrolmentState::Exited => "exited",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            EnrolmentState::Active,
            EnrolmentState::Completed,
            EnrolmentState::Exited,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A sequence at one of its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub id: SequenceId,
    pub tenant_id: TenantId,
    pub name: String,
    pub version: i32,
    pub definition: Definition,
    /// No new enrolments once archived; running ones finish.
    pub archived_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One lead's run through one version of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub id: EnrolmentId,
    pub tenant_id: TenantId,
    pub lead_id: LeadId,
    pub sequence_id: SequenceId,
    pub version: i32,
    pub state: EnrolmentState,
    /// The index of the next step (the number of steps done).
    pub step: i32,
    /// When the next step is due; `None` once the run is over.
    pub next_run_at: Option<Timestamp>,
    pub exit_reason: Option<String>,
    pub enrolled_at: Timestamp,
    pub updated_at: Timestamp,
    pub origin: Origin,
}

/// How a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Through the API.
    Manual,
    /// A new lead matched the sequence's enrolment rules.
    Intake,
    /// A silent-lead recovery rule: every step is sent as marketing.
    Recovery,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Manual => "manual",
            Origin::Intake => "intake",
            Origin::Recovery => "recovery",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Origin::Manual, Origin::Intake, Origin::Recovery]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(delay: &str) -> Step {
        Step {
            channel: Channel::Sms,
            delay: delay.into(),
            after: DelayFrom::Previous,
            purpose: Purpose::Informational,
            subject: None,
            template: "Hi {{ first_name }}".into(),
            conditions: Conditions::default(),
            ai: None,
        }
    }

    #[test]
    fn delays_are_exact_durations_within_ninety_days() {
        assert_eq!(parse_delay("PT5M"), Ok(jiff::SignedDuration::from_mins(5)));
        assert_eq!(
            parse_delay("P2DT4H"),
            Ok(jiff::SignedDuration::from_hours(52))
        );
        assert!(parse_delay("P1M").unwrap_err().contains("months"));
        assert!(parse_delay("P1W").unwrap_err().contains("weeks"));
        assert!(parse_delay("P91D").unwrap_err().contains("90 days"));
        assert!(parse_delay("-PT1H").unwrap_err().contains("negative"));
        assert!(parse_delay("soon").unwrap_err().contains("ISO 8601"));
    }

    #[test]
    fn problems_name_the_step_and_field() {
        let mut email = step("P1D");
        email.channel = Channel::Email;
        let mut sms = step("tomorrow");
        sms.subject = Some("Hi".into());
        sms.conditions.status_in = Some(vec![]);
        let def = Definition {
            steps: vec![step("PT1H"), email, sms],
            exit_on: default_exits(),
            enrol: EnrolRules {
                sources: vec!["".into()],
                tags: Vec::new(),
            },
        };
        let fields: Vec<String> = def.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "steps[1].subject",
                "steps[2].delay",
                "steps[2].subject",
                "steps[2].conditions.status_in",
                "enrol.sources[0]"
            ]
        );
        let empty = Definition {
            steps: vec![],
            exit_on: vec![],
            enrol: EnrolRules::default(),
        };
        assert_eq!(empty.problems()[0].0, "steps");
    }

    #[test]
    fn steps_fall_due_from_the_previous_step_or_the_enrolment() {
        let mut second = step("PT2H");
        second.after = DelayFrom::Enrolment;
        let def = Definition {
            steps: vec![step("PT1H"), second, step("P1D")],
            exit_on: vec![],
            enrol: EnrolRules::default(),
        };
        let t0: Timestamp = "2026-03-04T18:00:00Z".parse().unwrap();
        let late: Timestamp = "2026-03-04T21:00:00Z".parse().unwrap();
        assert_eq!(
            def.due_at(0, t0, None),
            Some("2026-03-04T19:00:00Z".parse().unwrap())
        );
        assert_eq!(
            def.due_at(1, t0, Some(late)),
            Some("2026-03-04T20:00:00Z".parse().unwrap())
        );
        assert_eq!(
            def.due_at(2, t0, Some(late)),
            Some("2026-03-05T21:00:00Z".parse().unwrap())
        );
        assert_eq!(def.due_at(3, t0, Some(late)), None);
        assert!(
            def.exits_on(ExitRule::OptOut),
            "an opt-out always ends a run"
        );
        assert!(!def.exits_on(ExitRule::Reply));
    }

    #[test]
    fn conditions_hold_only_when_every_set_one_does() {
        let facts = LeadFacts {
            status: LeadStatus::Contacted,
            has_replied: false,
            has_email: true,
            has_phone: true,
            engagement: Level::Warm,
        };
        assert!(Conditions::default().hold(facts));
        let c = Conditions {
            status_in: Some(vec![LeadStatus::New, LeadStatus::Contacted]),
            has_replied: Some(false),
            ..Conditions::default()
        };
        assert!(c.hold(facts));
        assert!(!c.hold(LeadFacts {
            has_replied: true,
            ..facts
        }));
        assert!(!c.hold(LeadFacts {
            status: LeadStatus::Booked,
            ..facts
        }));
        let hot = Conditions {
            engagement_in: Some(vec![Level::Hot]),
            ..Conditions::default()
        };
        assert!(!hot.hold(facts));
        assert!(hot.hold(LeadFacts {
            engagement: Level::Hot,
            ..facts
        }));
    }
}
