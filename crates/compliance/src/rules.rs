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
//! Not in this table yet (later work adds rows and kinds, not a new mechanism):
//! - AL and LA state holidays (no messages on them) are not modelled; only their Sunday rule is.
//! - MS states its window in "Central Standard Time"; it is applied in the recipient's zone.
//! - Frequency caps (FL, OK, MD: 3 per 24 h), consent age, the national-DNC check and the Texas
//!   registration gate are not rows of this table and are not enforced by this crate yet.
//! - An organisation's own stricter window is not applied yet.

use std::fmt;

use domain::Purpose;
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
        let when = local.strftime("%H:%M (%A)");
        let verdict = if self.allows(local) {
            "inside"
        } else {
            "outside"
        };
        match self.limit {
            Limit::Window { days, from, until } if days == Days::EVERY_DAY => format!(
                "{when} in {zone} is {verdict} {}-{}",
                from.strftime("%H:%M"),
                until.strftime("%H:%M")
            ),
            Limit::Window { days, from, until } => {
                if days.contains(local.weekday()) {
                    format!(
                        "{when} in {zone} is {verdict} {}-{} ({days})",
                        from.strftime("%H:%M"),
                        until.strftime("%H:%M")
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
