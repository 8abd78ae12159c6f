//! Quiet hours: which rows of the rule table bind which zones, whether an instant is inside all of
//! them, and the earliest instant that is.
//!
//! The search does not step through time. Whether a rule allows an instant depends only on the
//! local wall-clock reading in its zone, and that can turn from "no" to "yes" only where the reading
//! crosses a window's opening or the start of a day (a day rule ends), or where the zone's offset
//! jumps (a daylight-saving transition). So the candidates are `now`, every such crossing in every
//! zone over the horizon (both instants of a wall time repeated by a fall-back fold), and every
//! transition; the first candidate that every rule allows is the earliest allowed instant. The
//! property tests check this against a minute-by-minute scan.
//!
//! A rule is judged by the wall-clock reading at an instant. So a window that opens at a wall time
//! skipped by a spring-forward gap opens at the end of the gap (the first instant whose reading is
//! past the opening), slightly earlier than jiff's "compatible" resolution of that wall time; a
//! wall time repeated by a fall-back fold opens the window at its first occurrence. No row of the
//! table opens at a time that US zones skip or repeat (they change at 02:00), so this only matters
//! for foreign candidate zones.

use std::collections::BTreeMap;

use domain::{Purpose, Timestamp};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

use crate::decision::Reason;
use crate::location::Candidate;
use crate::rules::{self, Days, Jurisdiction, Limit, RULES, Rule};

/// The rules that bind one zone, deduplicated across candidates.
#[derive(Debug)]
pub(crate) struct ZoneRules<'a> {
    zone: &'a TimeZone,
    zone_name: &'a str,
    rules: Vec<Rule>,
}

/// Groups the binding rows by zone: a (zone, rule) pair is checked once however many candidates
/// bring it (the all-US fallback brings New York with a dozen states). The organisation's own
/// window, if any, binds every zone.
pub(crate) fn binding_rules(
    candidates: &[Candidate],
    purpose: Purpose,
    organisation: Option<(Time, Time)>,
) -> Vec<ZoneRules<'_>> {
    let own = organisation.map(|(from, until)| Rule {
        id: rules::ORGANISATION_WINDOW.id,
        source: rules::ORGANISATION_WINDOW.source,
        jurisdiction: Jurisdiction::Federal,
        applies_to: &Purpose::ALL,
        limit: Limit::Window {
            days: Days::EVERY_DAY,
            from,
            until,
        },
    });
    let mut by_zone: BTreeMap<&str, ZoneRules<'_>> = BTreeMap::new();
    for candidate in candidates {
        let entry = by_zone
            .entry(candidate.zone_name.as_str())
            .or_insert_with(|| ZoneRules {
                zone: &candidate.time_zone,
                zone_name: &candidate.zone_name,
                rules: Vec::new(),
            });
        for rule in RULES
            .iter()
            .chain(own.as_ref())
            .filter(|rule| rule.binds(candidate.state.as_deref(), purpose))
        {
            if !entry.rules.iter().any(|known| known.id == rule.id) {
                entry.rules.push(*rule);
            }
        }
    }
    by_zone.into_values().collect()
}

/// Whether every rule of every zone allows `at`.
pub(crate) fn allowed(zones: &[ZoneRules<'_>], at: Timestamp) -> bool {
    zones.iter().all(|z| {
        let local = z.zone.to_datetime(at);
        z.rules.iter().all(|rule| rule.allows(local))
    })
}

/// One reason per (zone, rule) whose verdict at `at` is `allowed`.
fn reasons(zones: &[ZoneRules<'_>], at: Timestamp, allowed: bool) -> Vec<Reason> {
    let mut out = Vec::new();
    for z in zones {
        let local = z.zone.to_datetime(at);
        for rule in &z.rules {
            if rule.allows(local) == allowed {
                out.push(Reason {
                    rule: rule.id,
                    source: rule.source,
                    detail: rule.describe(local, z.zone_name),
                });
            }
        }
    }
    out
}

/// The rules that forbid a message at `at`.
pub(crate) fn violations(zones: &[ZoneRules<'_>], at: Timestamp) -> Vec<Reason> {
    reasons(zones, at, false)
}

/// The rules that were checked and allow a message at `at`, for the permit.
pub(crate) fn passed(zones: &[ZoneRules<'_>], at: Timestamp) -> Vec<Reason> {
    reasons(zones, at, true)
}

/// The earliest instant in `[now, until]` that every rule allows, if any.
pub(crate) fn earliest_allowed(
    zones: &[ZoneRules<'_>],
    now: Timestamp,
    until: Timestamp,
) -> Option<Timestamp> {
    let mut candidates = vec![now];
    for z in zones {
        candidates.extend(
            z.zone
                .following(now)
                .map(|transition| transition.timestamp())
                .take_while(|t| *t <= until),
        );
        // One local day either side, so that the zone's first and last partial days are covered
        // whatever its offset.
        let (Ok(first), Ok(last)) = (
            z.zone.to_datetime(now).date().yesterday(),
            z.zone.to_datetime(until).date().tomorrow(),
        ) else {
            continue;
        };
        let mut day = first;
        while day <= last {
            openings(z, day, &mut candidates);
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
    }
    candidates.retain(|t| now <= *t && *t <= until);
    candidates.sort_unstable();
    candidates.dedup();
    candidates.into_iter().find(|t| allowed(zones, *t))
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
