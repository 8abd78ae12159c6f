//! The rule table: every time-of-day and day-of-week rule Leadline enforces, as data, each row with
//! its legal source, so that a lawyer can review this one file against `COMPLIANCE.md`.
//!
//! How to read a row: `jurisdiction` says where it binds (the federal rows bind every candidate
//! location of the recipient, the state rows the candidates presumed to be in that state),
//! `applies_to` says for which message purposes, and `limit` says what it allows, in the
//! recipient's local wall-clock time:
//! - `Window { days, from, until }`: on those days a message may go only at a local time in
//!   `[from, until)` (08:00 is allowed, 21:00 is not). On other days the row says nothing.
//! - `NoneOn { days }`: on those days no message may go at all.
//!
//! A message goes only when every row that applies to every candidate allows it, so stacking rows
//! is how "the stricter wins" is expressed: Texas is two rows, a Monday-Saturday window and a
//! Sunday window; Alabama is a window plus "none on Sundays".
//!
//! The state rows restate the table in `COMPLIANCE.md`, which was compiled from law-firm and
//! vendor summaries of the state statutes. Where a section number is given it is the one those
//! summaries cite; "section to be confirmed" marks rows whose exact citation counsel still has to
//! check. Leadline is not legal advice.
//!
//! Beside the time rows, this file holds the other reviewed data `decide` applies: the
//! [`CAPS`] (state frequency caps), the [`RELATIONSHIPS`] (how long an inquiry or a transaction
//! exempts a number from the national do-not-call registry, federally and per state), and one
//! [`Check`] per other test (suppression, consent, the Texas registration gate, CAN-SPAM's postal
//! address, the registry and its snapshot age, the opt-out confirmation's five minutes, the
//! organisation's own window and caps), each with its source.
//!
//! Not in this file (see `docs/compliance.md` for why):
//! - AL and LA state holidays (no messages on them) are not modelled; only their Sunday rule is.
//! - MS states its window in "Central Standard Time"; it is applied in the recipient's zone.
//! - State do-not-call registries; only the national registry is checked.

use std::fmt;

use domain::Purpose;
use jiff::SignedDuration;
use jiff::civil::{self, Time, Weekday};

/// One reviewed rule about when a message may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, recorded in every decision: `federal.quiet_hours`, `state.TX.sunday`, ...
    pub id: &'static str,
    /// The legal source, as a reader would look it up.
    pub source: &'static str,
    pub jurisdiction: Jurisdiction,
    /// The purposes the row binds. Leadline's policy applies quiet hours to every purpose.
    pub applies_to: &'static [Purpose],
    pub limit: Limit,
}

/// Where a rule binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jurisdiction {
    /// Every candidate location, inside the US or not: Leadline uses the federal window as the
    /// floor everywhere.
    Federal,
    /// Candidates presumed to be in this state (USPS code).
    State(&'static str),
}

/// What a rule allows, in the recipient's local wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// On `days`, only at local times in `[from, until)`.
    Window { days: Days, from: Time, until: Time },
    /// On `days`, never.
    NoneOn { days: Days },
}

/// A set of weekdays.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

impl Days {
    pub const EVERY_DAY: Days = Days(0b111_1111);
    pub const MONDAY_TO_SATURDAY: Days = Days(0b011_1111);
    pub const SUNDAY: Days = Days(0b100_0000);

    pub const fn contains(self, day: Weekday) -> bool {
        self.0 & (1u8 << day.to_monday_zero_offset()) != 0
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Days::EVERY_DAY => f.write_str("every day"),
            Days::MONDAY_TO_SATURDAY => f.write_str("Monday to Saturday"),
            Days::SUNDAY => f.write_str("Sundays"),
            Days(bits) => write!(f, "days {bits:07b} (Monday = lowest bit)"),
        }
    }
}

impl fmt::Debug for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Days({self})")
    }
}

/// A check of `decide` that is not a time window (suppression, exemptions, the search for a
/// window), with its source, so that every reason `decide` gives has a reviewed citation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub id: &'static str,
    pub source: &'static str,
}

/// The person or address is on the organisation's suppression list (an opt-out, internal DNC,
/// bounce, ...): nothing goes except the one opt-out confirmation.
pub const SUPPRESSION: Check = Check {
    id: "suppression",
    source: "47 CFR 64.1200(a)(10); CTIA",
};

/// The HELP answer goes at once, whatever the hour: it answers the person's own message.
pub const HELP_ANSWER: Check = Check {
    id: "exemption.help_answer",
    source: "CTIA Messaging Principles and Best Practices (HELP keyword)",
};

/// The one opt-out confirmation goes at once, whatever the hour, to a just-suppressed person.
pub const OPT_OUT_CONFIRMATION: Check = Check {
    id: "exemption.opt_out_confirmation",
    source: "47 CFR 64.1200(a)(12)",
};

/// An email about the recipient's own account (a password reset they asked for, an invitation
/// to join an organisation) goes at once: it is not a message to a lead, carries no marketing,
/// and a reset that waits for morning locks the person out.
pub const ACCOUNT_EMAIL: Check = Check {
    id: "exemption.account_email",
    source: "15 U.S.C. 7702(17) (transactional or relationship message; CAN-SPAM)",
};

/// An account message must be an email.
pub const ACCOUNT_EMAIL_IS_EMAIL: Check = Check {
    id: "exemption.account_email_channel",
    source: "COMPLIANCE.md: texts follow the quiet-hour and consent rules without exception",
};

/// An exempt answer (HELP answer, opt-out confirmation) must carry no marketing.
pub const EXEMPT_NOT_MARKETING: Check = Check {
    id: "exemption.not_marketing",
    source: "47 CFR 64.1200(a)(12); CTIA",
};

/// Marketing needs prior express written consent on record, not revoked.
pub const CONSENT_WRITTEN: Check = Check {
    id: "consent.written",
    source: "47 CFR 64.1200(a)(2) and (f)(9) (prior express written consent)",
};

/// Transactional and informational messages need prior express consent: the person gave this
/// address in an inquiry, or a consent event grants the purpose.
pub const CONSENT_PRIOR_EXPRESS: Check = Check {
    id: "consent.prior_express",
    source: "47 U.S.C. 227(b)(1)(A); 47 CFR 64.1200(a)(1) (prior express consent)",
};

/// The person withdrew consent for this purpose.
pub const CONSENT_REVOKED: Check = Check {
    id: "consent.revoked",
    source: "47 CFR 64.1200(a)(10) (revocation by any reasonable means)",
};

/// Marketing texts to Texas need the seller's Texas registration or an exemption from it.
pub const TX_REGISTRATION: Check = Check {
    id: "state.TX.registration",
    source: "Tex. Bus. & Com. Code 302.101 (as amended by SB 140, 2025), per law-firm summary (COMPLIANCE.md)",
};

/// A marketing email must carry the sender's valid physical postal address.
pub const POSTAL_ADDRESS: Check = Check {
    id: "email.postal_address",
    source: "15 U.S.C. 7704(a)(5)(A)(iii); 16 CFR 316 (CAN-SPAM)",
};

/// The number is on the national do-not-call registry and no exemption covers it.
pub const NATIONAL_DNC: Check = Check {
    id: "dnc.national",
    source: "47 CFR 64.1200(c)(2)",
};

/// The registry snapshot is missing or older than 31 days: the safe harbour is lost, so
/// marketing to numbers that need the check waits for a fresh snapshot.
pub const NATIONAL_DNC_SNAPSHOT: Check = Check {
    id: "dnc.national.snapshot_age",
    source: "47 CFR 64.1200(c)(2)(i)(D) (registry data no more than 31 days old)",
};

/// The one opt-out confirmation goes within five minutes of the opt-out or not at all.
pub const OPT_OUT_CONFIRMATION_WINDOW: Check = Check {
    id: "opt_out.confirmation_window",
    source: "47 CFR 64.1200(a)(12) (one confirmation, within five minutes)",
};

/// The organisation's own window, never looser than the law's.
pub const ORGANISATION_WINDOW: Check = Check {
    id: "organisation.quiet_hours",
    source: "organisation settings (a stricter window of its own; COMPLIANCE.md)",
};

/// The organisation's own frequency caps, for every automated message.
pub const ORGANISATION_CAP: Check = Check {
    id: "organisation.frequency_cap",
    source: "organisation settings (caps on automated messages; COMPLIANCE.md)",
};

/// The national registry's age limit: a snapshot older than this gives no safe harbour.
pub const SNAPSHOT_MAX_AGE: SignedDuration = SignedDuration::from_hours(31 * 24);

/// The opt-out confirmation's deadline after the opt-out arrives.
pub const CONFIRMATION_WINDOW: SignedDuration = SignedDuration::from_mins(5);

/// No instant within the search horizon satisfies every window of every candidate.
pub const NO_ALLOWED_WINDOW: Check = Check {
    id: "no_allowed_window",
    source: "47 CFR 64.1200(c)(1) and state rules: send only inside the intersection of all candidate windows (COMPLIANCE.md)",
};

const fn at(hour: i8) -> Time {
    civil::time(hour, 0, 0, 0)
}

const ALL: &[Purpose] = &Purpose::ALL;

/// A `Window` row that binds every day and every purpose: `daily(id, state, from hour, until hour,
/// source)`.
const fn daily(
    id: &'static str,
    state: &'static str,
    from: i8,
    until: i8,
    source: &'static str,
) -> Rule {
    Rule {
        id,
        source,
        jurisdiction: Jurisdiction::State(state),
        applies_to: ALL,
        limit: Limit::Window {
            days: Days::EVERY_DAY,
            from: at(from),
            until: at(until),
        },
    }
}

/// A `NoneOn { Sunday }` row for every purpose.
const fn no_sundays(id: &'static str, state: &'static str, source: &'static str) -> Rule {
    Rule {
        id,
        source,
        jurisdiction: Jurisdiction::State(state),
        applies_to: ALL,
        limit: Limit::NoneOn { days: Days::SUNDAY },
    }
}

/// Every time-of-day and day rule, federal first, then the states in alphabetical order.
pub static RULES: &[Rule] = &[
    Rule {
        id: "federal.quiet_hours",
        source: "47 CFR 64.1200(c)(1)",
        jurisdiction: Jurisdiction::Federal,
        applies_to: ALL,
        limit: Limit::Window {
            days: Days::EVERY_DAY,
            from: at(8),
            until: at(21),
        },
    },
    daily(
        "state.AL.quiet_hours",
        "AL",
        8,
        20,
        "Alabama telephone-solicitation statute, per law-firm summary (COMPLIANCE.md); section to be confirmed",
    ),
    no_sundays(
        "state.AL.sunday",
        "AL",
        "Alabama telephone-solicitation statute, per law-firm summary (COMPLIANCE.md); section to be confirmed",
    ),
    daily(
        "state.CT.quiet_hours",
        "CT",
        9,
        20,
        "Conn. Gen. Stat. 42-288a, per law-firm summary (COMPLIANCE.md)",
    ),
    daily(
        "state.FL.quiet_hours",
        "FL",
        8,
        20,
        "Fla. Stat. 501.616(6)(a) (Florida Telemarketing Act, as amended by SB 1120), per law-firm summary (COMPLIANCE.md)",
    ),
    daily(
        "state.KY.quiet_hours",
        "KY",
        10,
        21,
        "Kentucky telephone-solicitation statute (KRS ch. 367), per law-firm summary (COMPLIANCE.md); section to be confirmed",
    ),
    daily(
        "state.LA.quiet_hours",
        "LA",
        8,
        20,
        "Louisiana telephone-solicitation statute (La. R.S. Title 45), per law-firm summary (COMPLIANCE.md); section to be confirmed",
    ),
    no_sundays(
        "state.LA.sunday",
        "LA",
        "Louisiana telephone-solicitation statute (La. R.S. Title 45), per law-firm summary (COMPLIANCE.md); section to be confirmed",
    ),
    daily(
        "state.MA.quiet_hours",
        "MA",
        8,
        20,
        "Massachusetts telephone-solicitation law (M.G.L. c. 159C), per law-firm summary (COMPLIANCE.md); section to be confirmed",
    ),
    daily(
        "state.MD.quiet_hours",
        "MD",
        8,
        20,
        "Maryland Stop the Spam Calls Act (Md. Code, Com. Law 14-4501 et seq.), per law-firm summary (COMPLIANCE.md)",
    ),
    daily(
        "state.MI.quiet_hours",
        "MI",
        9,
        21,
        "Michigan home-solicitation sales act (MCL 445.111 et seq.), per law-firm summary (COMPLIANCE.md); section to be confirmed",
    ),
    daily(
        "state.MN.quiet_hours",
        "MN",
        9,
        21,
        "Minn. Stat. 325E.27, per law-firm summary (COMPLIANCE.md)",
    ),
    daily(
        "state.MS.quiet_hours",
        "MS",
        8,
        20,
        "Miss. Code Ann. 77-3-723, per law-firm summary (COMPLIANCE.md)",
    ),
    no_sundays(
        "state.MS.sunday",
        "MS",
        "Miss. Code Ann. 77-3-723, per law-firm summary (COMPLIANCE.md)",
    ),
    daily(
        "state.NM.quiet_hours",
        "NM",
        9,
        21,
        "New Mexico telephone-solicitation statute (NMSA 57-12-22), per law-firm summary (COMPLIANCE.md); section to be confirmed",
    ),
    daily(
        "state.NV.quiet_hours",
        "NV",
        9,
        20,
        "Nevada telephone-solicitation statute (NRS), per law-firm summary (COMPLIANCE.md); section to be confirmed",
    ),
    daily(
        "state.OK.quiet_hours",
        "OK",
        8,
        20,
        "Okla. Stat. tit. 15, 775C.4 (Oklahoma Telephone Solicitation Act of 2022), per law-firm summary (COMPLIANCE.md)",
    ),
    Rule {
        id: "state.TX.quiet_hours",
        source: "Tex. Bus. & Com. Code 301.051, per law-firm summary (COMPLIANCE.md)",
        jurisdiction: Jurisdiction::State("TX"),
        applies_to: ALL,
        limit: Limit::Window {
            days: Days::MONDAY_TO_SATURDAY,
            from: at(9),
            until: at(21),
        },
    },
    Rule {
        id: "state.TX.sunday",
        source: "Tex. Bus. & Com. Code 301.051, per law-firm summary (COMPLIANCE.md)",
        jurisdiction: Jurisdiction::State("TX"),
        applies_to: ALL,
        limit: Limit::Window {
            days: Days::SUNDAY,
            from: at(12),
            until: at(21),
        },
    },
    // "No later than 20:00": the row states only the evening bound; the federal row supplies 08:00.
    daily(
        "state.WA.quiet_hours",
        "WA",
        0,
        20,
        "RCW 80.36.390, per law-firm summary (COMPLIANCE.md)",
    ),
];

/// A state's cap on marketing messages to one person in a rolling window, counted across all of
/// the organisation's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateCap {
    pub id: &'static str,
    pub source: &'static str,
    pub state: &'static str,
    pub limit: u32,
    pub window: SignedDuration,
    /// The purposes counted and capped.
    pub applies_to: &'static [Purpose],
}

const DAY: SignedDuration = SignedDuration::from_hours(24);

/// The state caps: 3 marketing messages per rolling 24 hours in FL, OK and MD.
pub static CAPS: &[StateCap] = &[
    StateCap {
        id: "state.FL.frequency_cap",
        source: "Fla. Stat. 501.616(7)(b) (3 per 24 h on the same subject, all numbers), per law-firm summary (COMPLIANCE.md)",
        state: "FL",
        limit: 3,
        window: DAY,
        applies_to: &[Purpose::Marketing],
    },
    StateCap {
        id: "state.MD.frequency_cap",
        source: "Md. Code, Com. Law 14-4503 (Stop the Spam Calls Act), per law-firm summary (COMPLIANCE.md)",
        state: "MD",
        limit: 3,
        window: DAY,
        applies_to: &[Purpose::Marketing],
    },
    StateCap {
        id: "state.OK.frequency_cap",
        source: "Okla. Stat. tit. 15, 775C.4 (Oklahoma Telephone Solicitation Act of 2022), per law-firm summary (COMPLIANCE.md)",
        state: "OK",
        limit: 3,
        window: DAY,
        applies_to: &[Purpose::Marketing],
    },
];

/// How long a relationship lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// The jurisdiction recognises no such exemption.
    None,
    Days(i64),
    /// Monday to Friday, counted from the day after the event (state holidays are not skipped,
    /// which makes the term shorter, never longer).
    BusinessDays(i64),
    Months(i64),
}

/// How long an inquiry (and a transaction) exempts a number from the national do-not-call
/// registry: the federal row binds everyone; a state row binds candidates in that state, and the
/// shortest applicable term wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relationship {
    pub id: &'static str,
    pub source: &'static str,
    pub jurisdiction: Jurisdiction,
    /// After the person's inquiry (a form, an API intake, a reply).
    pub inquiry: Term,
    /// After a transaction (a purchase, a kept appointment); `None` in a state row: the federal
    /// term applies.
    pub transaction: Option<Term>,
}

const fn state_inquiry(id: &'static str, state: &'static str, inquiry: Term) -> Relationship {
    Relationship {
        id,
        source: "state telemarketing statute, per the state summaries in COMPLIANCE.md; section to be confirmed",
        jurisdiction: Jurisdiction::State(state),
        inquiry,
        transaction: None,
    }
}

/// The federal terms and the state inquiry terms of COMPLIANCE.md.
pub static RELATIONSHIPS: &[Relationship] = &[
    Relationship {
        id: "federal.relationship",
        source: "47 CFR 64.1200(f)(5) (established business relationship: 3 months after an inquiry, 18 after a transaction)",
        jurisdiction: Jurisdiction::Federal,
        inquiry: Term::Months(3),
        transaction: Some(Term::Months(18)),
    },
    state_inquiry("state.CA.relationship", "CA", Term::BusinessDays(30)),
    state_inquiry("state.CO.relationship", "CO", Term::Days(30)),
    state_inquiry("state.CT.relationship", "CT", Term::Months(12)),
    state_inquiry("state.LA.relationship", "LA", Term::Months(6)),
    state_inquiry("state.MO.relationship", "MO", Term::Months(6)),
    state_inquiry("state.MS.relationship", "MS", Term::Months(6)),
    state_inquiry("state.MT.relationship", "MT", Term::Months(6)),
    state_inquiry("state.NJ.relationship", "NJ", Term::None),
    state_inquiry("state.NM.relationship", "NM", Term::Months(12)),
    state_inquiry("state.PA.relationship", "PA", Term::Months(12)),
    state_inquiry("state.TN.relationship", "TN", Term::Months(12)),
    state_inquiry("state.TX.relationship", "TX", Term::Months(12)),
    state_inquiry("state.WA.relationship", "WA", Term::Months(12)),
    state_inquiry("state.WI.relationship", "WI", Term::None),
];

impl Term {
    /// The last instant the term covers after `start`, or `None` when it covers nothing.
    pub fn end(self, start: jiff::Timestamp) -> Option<jiff::Timestamp> {
        let utc = start.to_zoned(jiff::tz::TimeZone::UTC);
        let end = match self {
            Term::None => return None,
            Term::Days(n) => utc.checked_add(jiff::Span::new().days(n)).ok()?,
            Term::Months(n) => utc.checked_add(jiff::Span::new().months(n)).ok()?,
            Term::BusinessDays(n) => {
                let mut day = utc;
                let mut left = n;
                while left > 0 {
                    day = day.tomorrow().ok()?;
                    if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
                        left -= 1;
                    }
                }
                day
            }
        };
        Some(end.timestamp())
    }
}

impl Rule {
    /// Whether this rule binds a recipient presumed to be in `state`, for a message of `purpose`.
    pub fn binds(&self, state: Option<&str>, purpose: Purpose) -> bool {
        let place = match self.jurisdiction {
            Jurisdiction::Federal => true,
            Jurisdiction::State(code) => state == Some(code),
        };
        place && self.applies_to.contains(&purpose)
    }

    /// Whether the rule allows a message at this local wall-clock reading.
    pub fn allows(&self, local: civil::DateTime) -> bool {
        match self.limit {
            Limit::Window { days, from, until } => {
                !days.contains(local.weekday()) || (from <= local.time() && local.time() < until)
            }
            Limit::NoneOn { days } => !days.contains(local.weekday()),
        }
    }

    /// The local wall-clock times on `date` from which this rule may start to allow again: the
    /// window's opening, if the window binds that day. (The start of each day is added by the
    /// caller for every rule.)
    pub(crate) fn opening_on(&self, date: civil::Date) -> Option<Time> {
        match self.limit {
            Limit::Window { days, from, .. } if days.contains(date.weekday()) => Some(from),
            _ => None,
        }
    }

    /// A sentence saying how `local` (in `zone`) stands against this rule, for reasons.
    pub(crate) fn describe(&self, local: civil::DateTime, zone: &str) -> String {
        let when = When(local);
        let verdict = if self.allows(local) {
            "inside"
        } else {
            "outside"
        };
        match self.limit {
            Limit::Window { days, from, until } if days == Days::EVERY_DAY => {
                format!("{when} in {zone} is {verdict} {}-{}", Hm(from), Hm(until))
            }
            Limit::Window { days, from, until } => {
                if days.contains(local.weekday()) {
                    format!(
                        "{when} in {zone} is {verdict} {}-{} ({days})",
                        Hm(from),
                        Hm(until)
                    )
                } else {
                    format!("{when} in {zone}: the {days} window does not bind this day")
                }
            }
            Limit::NoneOn { days } => {
                if days.contains(local.weekday()) {
                    format!("{when} in {zone}: no messages on {days}")
                } else {
                    format!("{when} in {zone}: not {days}")
                }
            }
        }
    }
}

/// `08:00`: a wall-clock time to the minute, written straight into the reason (no `strftime`,
/// no intermediate string: reasons are made on every decision).
struct Hm(Time);

impl fmt::Display for Hm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}

/// `21:30 (Tuesday)`.
struct When(civil::DateTime);

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", Hm(self.0.time()), weekday(self.0.weekday()))
    }
}

fn weekday(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use jiff::civil::date;

    use super::*;

    #[test]
    fn ids_are_unique_and_named_for_their_jurisdiction() {
        let mut seen = HashSet::new();
        for rule in RULES {
            assert!(seen.insert(rule.id), "duplicate rule id {}", rule.id);
            match rule.jurisdiction {
                Jurisdiction::Federal => assert!(rule.id.starts_with("federal."), "{}", rule.id),
                Jurisdiction::State(code) => {
                    assert!(
                        rule.id.starts_with(&format!("state.{code}.")),
                        "{}",
                        rule.id
                    )
                }
            }
            assert!(!rule.source.is_empty(), "{} has no source", rule.id);
        }
    }

    #[test]
    fn windows_are_well_formed() {
        for rule in RULES {
            if let Limit::Window { from, until, .. } = rule.limit {
                assert!(from < until, "{}: empty or overnight window", rule.id);
            }
        }
    }

    #[test]
    fn every_row_binds_every_purpose_for_now() {
        for rule in RULES {
            for purpose in Purpose::ALL {
                assert!(
                    rule.applies_to.contains(&purpose),
                    "{} / {purpose:?}",
                    rule.id
                );
            }
        }
    }

    #[test]
    fn the_states_of_compliance_md_are_all_here() {
        let states: HashSet<&str> = RULES
            .iter()
            .filter_map(|r| match r.jurisdiction {
                Jurisdiction::State(code) => Some(code),
                Jurisdiction::Federal => None,
            })
            .collect();
        for code in [
            "FL", "OK", "MD", "TX", "WA", "AL", "LA", "MS", "MA", "NV", "KY", "MI", "MN", "NM",
            "CT",
        ] {
            assert!(states.contains(code), "{code} missing");
        }
    }

    #[test]
    fn caps_and_relationships_are_the_ones_of_compliance_md() {
        let capped: Vec<&str> = CAPS.iter().map(|c| c.state).collect();
        assert_eq!(capped, ["FL", "MD", "OK"]);
        for cap in CAPS {
            assert_eq!((cap.limit, cap.window), (3, DAY), "{}", cap.id);
            assert!(cap.id.starts_with(&format!("state.{}.", cap.state)));
        }
        let mut seen = HashSet::new();
        for row in RELATIONSHIPS {
            assert!(seen.insert(row.id), "{}", row.id);
            assert!(!row.source.is_empty());
        }
        let start: jiff::Timestamp = "2026-01-15T12:00:00Z".parse().unwrap();
        let end = |t: Term| t.end(start).map(|e| e.to_string());
        assert_eq!(
            end(Term::Months(3)).as_deref(),
            Some("2026-04-15T12:00:00Z")
        );
        assert_eq!(end(Term::Days(30)).as_deref(), Some("2026-02-14T12:00:00Z"));
        // Thursday 15 January + 30 business days = Thursday 26 February.
        assert_eq!(
            end(Term::BusinessDays(30)).as_deref(),
            Some("2026-02-26T12:00:00Z")
        );
        assert_eq!(end(Term::None), None);
    }

    #[test]
    fn days_know_their_members() {
        assert!(Days::SUNDAY.contains(Weekday::Sunday));
        assert!(!Days::SUNDAY.contains(Weekday::Saturday));
        assert!(!Days::MONDAY_TO_SATURDAY.contains(Weekday::Sunday));
        assert!(Days::MONDAY_TO_SATURDAY.contains(Weekday::Monday));
        // 2026-03-08 is a Sunday.
        assert_eq!(date(2026, 3, 8).weekday(), Weekday::Sunday);
    }

    #[test]
    fn a_window_is_half_open() {
        let federal = &RULES[0];
        let day = date(2026, 6, 3);
        assert!(!federal.allows(day.at(7, 59, 59, 999_999_999)));
        assert!(federal.allows(day.at(8, 0, 0, 0)));
        assert!(federal.allows(day.at(20, 59, 59, 999_999_999)));
        assert!(!federal.allows(day.at(21, 0, 0, 0)));
    }
}
