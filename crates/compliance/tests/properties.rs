//! Property tests for quiet hours: every `Send` instant is inside every binding window, and every
//! `Defer.until` is allowed and is the earliest allowed instant, checked against a brute-force
//! minute-by-minute scan. The scan is exhaustive because every window opening, day start and
//! daylight-saving transition falls on a whole minute.

// Test helpers outside `#[test]` functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used)]

use std::sync::LazyLock;

use compliance::rules::{Jurisdiction, Limit, RULES};
use compliance::{Context, Decision, Exemption, Location, decide, locate};
use domain::{Channel, Phone, Purpose, Timestamp};
use jiff::SignedDuration;
use proptest::prelude::*;

/// A phone number for (almost) every area code of the table.
static PHONES: LazyLock<Vec<Phone>> = LazyLock::new(|| {
    let csv = include_str!("../data/nanp-area-codes.csv");
    let codes: Vec<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').next())
        .collect();
    let phones: Vec<Phone> = codes
        .iter()
        .filter_map(|code| {
            ["2345678", "5550199", "7654321", "3215555"]
                .iter()
                .find_map(|rest| Phone::parse(&format!("+1{code}{rest}"), "US").ok())
        })
        .collect();
    assert!(
        phones.len() * 10 >= codes.len() * 9,
        "only {} of {} area codes give a valid number",
        phones.len(),
        codes.len()
    );
    phones
});

const ZONES: &[Option<&str>] = &[
    None,
    None,
    None,
    Some("America/Los_Angeles"),
    Some("Pacific/Honolulu"),
    Some("America/Chicago"),
    Some("Europe/London"),
    // Half-hour daylight saving and a quarter-hour offset.
    Some("Australia/Lord_Howe"),
    Some("Asia/Kathmandu"),
];

/// Whether `t` is inside every binding rule of every candidate, straight from the rule table.
fn oracle(location: &Location, purpose: Purpose, t: Timestamp) -> bool {
    location.candidates.iter().all(|candidate| {
        let local = t.to_zoned(candidate.time_zone.clone()).datetime();
        RULES
            .iter()
            .filter(|rule| rule.applies_to.contains(&purpose))
            .filter(|rule| match rule.jurisdiction {
                Jurisdiction::Federal => true,
                Jurisdiction::State(code) => candidate.state.as_deref() == Some(code),
            })
            .all(|rule| match rule.limit {
                Limit::Window { days, from, until } => {
                    !days.contains(local.weekday())
                        || (from <= local.time() && local.time() < until)
                }
                Limit::NoneOn { days } => !days.contains(local.weekday()),
            })
    })
}

/// `now`, then every whole minute after it, before `end`.
fn minutes(now: Timestamp, end: Timestamp) -> impl Iterator<Item = Timestamp> {
    let first_minute = now
        .round(
            jiff::TimestampRound::new()
                .smallest(jiff::Unit::Minute)
                .mode(jiff::RoundMode::Ceil),
        )
        .unwrap();
    std::iter::once(now).chain(
        (0..)
            .map(move |i| first_minute + SignedDuration::from_mins(i))
            .take_while(move |t| *t < end),
    )
}

const SCAN: SignedDuration = SignedDuration::from_hours(8 * 24);

fn check(location: &Location, purpose: Purpose, now: Timestamp) -> Result<(), TestCaseError> {
    let decision = decide(&Context {
        now,
        channel: Channel::Sms,
        purpose,
        to: "+12125550199",
        suppressed: false,
        location,
        exemption: Exemption::None,
    });
    match decision {
        Decision::Send(permit) => {
            prop_assert_eq!(permit.decided_at(), now);
            prop_assert!(
                oracle(location, purpose, now),
                "sent at {} outside a window",
                now
            );
        }
        Decision::Defer { until, reasons } => {
            prop_assert!(until > now);
            prop_assert!(!reasons.is_empty());
            prop_assert!(
                oracle(location, purpose, until),
                "deferred to {} which is not allowed",
                until
            );
            let end = until.min(now + SCAN);
            if let Some(t) = minutes(now, end).find(|t| oracle(location, purpose, *t)) {
                return Err(TestCaseError::fail(format!(
                    "deferred from {now} to {until}, but {t} is allowed"
                )));
            }
        }
        Decision::Block { reasons } => {
            prop_assert_eq!(reasons.last().map(|r| r.rule), Some("no_allowed_window"));
            if let Some(t) = minutes(now, now + SCAN).find(|t| oracle(location, purpose, *t)) {
                return Err(TestCaseError::fail(format!(
                    "blocked at {now}, but {t} is allowed"
                )));
            }
        }
    }
    Ok(())
}

fn second(utc: &str) -> i64 {
    utc.parse::<Timestamp>().unwrap().as_second()
}

/// Any instant of 2026, to the second, with a bias towards the two US daylight-saving weekends.
fn instant_2026() -> impl Strategy<Value = Timestamp> {
    let year = second("2026-01-01T00:00:00Z")..second("2027-01-01T00:00:00Z");
    let spring = second("2026-03-07T00:00:00Z")..second("2026-03-10T00:00:00Z");
    let autumn = second("2026-10-31T00:00:00Z")..second("2026-11-03T00:00:00Z");
    prop_oneof![6 => year, 1 => spring, 1 => autumn]
        .prop_map(|secs| Timestamp::from_second(secs).unwrap())
}

fn purpose() -> impl Strategy<Value = Purpose> {
    prop::sample::select(Purpose::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn area_codes_with_or_without_an_explicit_zone(
        phone in (0..PHONES.len()).prop_map(|i| &PHONES[i]),
        zone in prop::sample::select(ZONES),
        purpose in purpose(),
        now in instant_2026(),
    ) {
        let location = locate(Some(phone), zone);
        check(&location, purpose, now)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn all_of_the_us(purpose in purpose(), now in instant_2026()) {
        check(&Location::unknown(), purpose, now)?;
    }
}
