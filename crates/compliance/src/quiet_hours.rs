//! Quiet hours: which rows of the rule table bind which zones, whether an instant is inside all of
//! them, and the earliest instant that is.
//!
//! The search does not step through time. Whether a rule allows an instant depends only on the
//! local wall-clock reading in its zone, and that can turn from "no" to "yes" only where the
//! reading crosses a window's opening or the start of a day (a day rule ends), or where the zone's
//! offset jumps (a daylight-saving transition): the zone's *events*. So from `now`, while some
//! zone refuses, the search jumps to that zone's next event (both instants of a wall time
//! repeated by a fall-back fold count); the first instant no zone refuses is the earliest allowed
//! instant. The property tests check this against a minute-by-minute scan.
//!
//! A rule is judged by the wall-clock reading at an instant. So a window that opens at a wall time
//! skipped by a spring-forward gap opens at the end of the gap (the first instant whose reading is
//! past the opening), slightly earlier than jiff's "compatible" resolution of that wall time; a
//! wall time repeated by a fall-back fold opens the window at its first occurrence. No row of the
//! table opens at a time that US zones skip or repeat (they change at 02:00), so this only matters
//! for foreign candidate zones.
//!
//! Speed (`benches/decide.rs`, `docs/performance.md`): the rows are indexed by jurisdiction once,
//! the all-US fallback's grouping is made once, each zone's local time is read once per decision,
//! and reasons are written without intermediate strings.

use std::borrow::Cow;
use std::sync::LazyLock;

use domain::{Purpose, Timestamp};
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

use crate::decision::Reason;
use crate::location::Candidate;
use crate::rules::{self, Days, Jurisdiction, Limit, RULES, Rule};

/// The rules that bind one zone, deduplicated across candidates.
#[derive(Debug)]
pub(crate) struct ZoneRules<'a> {
    zone: &'a TimeZone,
    zone_name: &'a str,
    rules: Cow<'a, [Rule]>,
}

/// The rows of the table by jurisdiction, sorted once: the federal rows, and each state's.
struct RuleIndex {
    federal: Vec<&'static Rule>,
    by_state: Vec<(&'static str, Vec<&'static Rule>)>,
}

static INDEX: LazyLock<RuleIndex> = LazyLock::new(|| {
    let mut index = RuleIndex {
        federal: Vec::new(),
        by_state: Vec::new(),
    };
    for rule in RULES {
        match rule.jurisdiction {
            Jurisdiction::Federal => index.federal.push(rule),
            Jurisdiction::State(code) => {
                match index.by_state.iter_mut().find(|(known, _)| *known == code) {
                    Some((_, rules)) => rules.push(rule),
                    None => index.by_state.push((code, vec![rule])),
                }
            }
        }
    }
    index
});

/// The all-US fallback's zones and rules, grouped once for every purpose (purposes only ever
/// remove rows, which [`binding_rules`] does per call when a row does not bind).
static ALL_US: LazyLock<Vec<ZoneRules<'static>>> =
    LazyLock::new(|| group(crate::location::all_us_candidates(), None, None));

/// The rows that bind each candidate zone for `purpose`, with the organisation's own window;
/// the all-US fallback (`unknown`) comes from a grouping made once.
pub(crate) fn binding_rules<'a>(
    candidates: &'a [Candidate],
    unknown: bool,
    purpose: Purpose,
    organisation: Option<(Time, Time)>,
) -> Vec<ZoneRules<'a>> {
    if !unknown {
        return group(candidates, Some(purpose), organisation);
    }
    let own = organisation.map(own_window);
    ALL_US
        .iter()
        .map(|z| ZoneRules {
            zone: z.zone,
            zone_name: z.zone_name,
            rules: if own.is_none() && z.rules.iter().all(|r| r.applies_to.contains(&purpose)) {
                Cow::Borrowed(&z.rules[..])
            } else {
                Cow::Owned(
                    z.rules
                        .iter()
                        .copied()
                        .filter(|r| r.applies_to.contains(&purpose))
                        .chain(own)
                        .collect(),
                )
            },
        })
        .collect()
}

/// The organisation's window as a row that binds every zone.
fn own_window((from, until): (Time, Time)) -> Rule {
    Rule {
        id: rules::ORGANISATION_WINDOW.id,
        source: rules::ORGANISATION_WINDOW.source,
        jurisdiction: Jurisdiction::Federal,
        applies_to: &Purpose::ALL,
        limit: Limit::Window {
            days: Days::EVERY_DAY,
            from,
            until,
        },
    }
}

/// Groups the binding rows by zone: a (zone, rule) pair is checked once however many candidates
/// bring it (the all-US fallback brings New York with a dozen states). `purpose: None` keeps
/// the rows of every purpose.
fn group(
    candidates: &[Candidate],
    purpose: Option<Purpose>,
    organisation: Option<(Time, Time)>,
) -> Vec<ZoneRules<'_>> {
    let binds = |rule: &Rule| purpose.is_none_or(|p| rule.applies_to.contains(&p));
    let own = organisation.map(own_window);
    let index = &*INDEX;
    let mut zones: Vec<ZoneRules<'_>> = Vec::new();
    for candidate in candidates {
        let at = match zones
            .iter()
            .position(|z| z.zone_name == candidate.zone_name)
        {
            Some(at) => at,
            None => {
                let mut rules: Vec<Rule> = index
                    .federal
                    .iter()
                    .filter(|r| binds(r))
                    .map(|r| **r)
                    .collect();
                rules.extend(own);
                zones.push(ZoneRules {
                    zone: &candidate.time_zone,
                    zone_name: &candidate.zone_name,
                    rules: Cow::Owned(rules),
                });
                zones.len() - 1
            }
        };
        let Some(state) = candidate.state.as_deref() else {
            continue;
        };
        let Some((_, state_rules)) = index.by_state.iter().find(|(code, _)| *code == state) else {
            continue;
        };
        let entry = zones[at].rules.to_mut();
        for rule in state_rules {
            if binds(rule) && !entry.iter().any(|k| k.id == rule.id) {
                entry.push(**rule);
            }
        }
    }
    zones
}

/// The local wall-clock reading of `at` in each zone, in order: read once per decision.
pub(crate) fn local_times(zones: &[ZoneRules<'_>], at: Timestamp) -> Vec<DateTime> {
    zones.iter().map(|z| z.zone.to_datetime(at)).collect()
}

/// One reason per rule whose verdict at the readings `locals` is `allowed`: the first zone it
/// was found in described, and how many more zones gave the same verdict.
fn reasons(zones: &[ZoneRules<'_>], locals: &[DateTime], allowed: bool) -> Vec<Reason> {
    let mut out: Vec<(Reason, usize)> = Vec::with_capacity(8);
    for (z, local) in zones.iter().zip(locals) {
        let local = *local;
        for rule in z.rules.iter() {
            if rule.allows(local) != allowed {
                continue;
            }
            // Ids are distinct static strings: comparing where they live is enough.
            match out
                .iter_mut()
                .find(|(r, _)| std::ptr::eq(r.rule, rule.id) || r.rule == rule.id)
            {
                Some((_, more)) => *more += 1,
                None => out.push((
                    Reason {
                        rule: rule.id,
                        source: rule.source,
                        detail: rule.describe(local, z.zone_name),
                    },
                    0,
                )),
            }
        }
    }
    out.into_iter()
        .map(|(mut reason, more)| {
            if more > 0 {
                let s = if more == 1 { "" } else { "s" };
                reason.detail = format!("{}; the same in {more} more zone{s}", reason.detail);
            }
            reason
        })
        .collect()
}

/// The rules that forbid a message at the readings `locals`.
pub(crate) fn violations(zones: &[ZoneRules<'_>], locals: &[DateTime]) -> Vec<Reason> {
    reasons(zones, locals, false)
}

/// The rules that were checked and allow a message at the readings `locals`, for the permit.
pub(crate) fn passed(zones: &[ZoneRules<'_>], locals: &[DateTime]) -> Vec<Reason> {
    reasons(zones, locals, true)
}

/// The earliest instant in `[now, until]` that every rule allows, if any: while some zone
/// refuses, jump to that zone's next event (no instant before it can be allowed while this zone
/// still refuses).
pub(crate) fn earliest_allowed(
    zones: &[ZoneRules<'_>],
    now: Timestamp,
    until: Timestamp,
) -> Option<Timestamp> {
    let mut t = now;
    let mut scratch = Vec::new();
    while t <= until {
        let Some(refusing) = zones.iter().find(|z| {
            let local = z.zone.to_datetime(t);
            !z.rules.iter().all(|rule| rule.allows(local))
        }) else {
            return Some(t);
        };
        t = next_event(refusing, t, &mut scratch)?;
    }
    None
}

/// The first of zone `z`'s events after `t`: its next transition, or the next day start or
/// window opening. Every local day starts with one, so the next event is at most a day or two
/// away.
fn next_event(z: &ZoneRules<'_>, t: Timestamp, scratch: &mut Vec<Timestamp>) -> Option<Timestamp> {
    let transition = z.zone.following(t).next().map(|tr| tr.timestamp());
    let mut day = z.zone.to_datetime(t).date().yesterday().ok()?;
    for _ in 0..4 {
        scratch.clear();
        openings(z, day, scratch);
        if let Some(first) = scratch.iter().copied().filter(|e| *e > t).min() {
            return Some(transition.map_or(first, |tr| tr.min(first)));
        }
        day = day.tomorrow().ok()?;
    }
    transition
}

/// The instants on local `day` at which one of the zone's rules may begin to allow: the start of
/// the day and each window's opening, both instants of a repeated (fold) wall time, and for a
/// skipped (gap) wall time both ends (the transition itself is added separately).
fn openings(z: &ZoneRules<'_>, day: Date, out: &mut Vec<Timestamp>) {
    let starts = std::iter::once(jiff::civil::Time::midnight())
        .chain(z.rules.iter().filter_map(|rule| rule.opening_on(day)));
    for time in starts {
        let ambiguous = z.zone.to_ambiguous_timestamp(day.to_datetime(time));
        out.extend(ambiguous.earlier().ok());
        out.extend(ambiguous.later().ok());
    }
}
