//! Property tests for `decide`: no `Send` ever goes to a suppressed recipient or past a gate;
//! every `Send` instant is inside every binding window (federal, state, the organisation's) with
//! room under every cap; every `Defer.until` is allowed and is the earliest allowed instant,
//! checked against a brute-force minute-by-minute scan over eight days (the instants are biased
//! towards the March and November daylight-saving weekends). The scan is exhaustive because every
//! window opening, day start, cap release and daylight-saving transition falls on a whole minute.

// Test helpers outside `#[test]` functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used)]

use std::sync::LazyLock;

use compliance::rules::{CAPS, Jurisdiction, Limit, RULES};
use compliance::{
    Cap, ConsentFact, Context, Decision, Exemption, Location, Policy, Recipient, Registry, Sent,
    Suppression, Whereabouts, decide, locate,
};
use domain::{Channel, Phone, Purpose, Timestamp};
use jiff::SignedDuration;
use jiff::civil::Time;
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

const ZIPS: &[Option<&str>] = &[
    None,
    None,
    None,
    Some("78701"),
    Some("33101"),
    Some("73101"),
    Some("21201"),
    Some("10001"),
    Some("96910"),
    Some("00901"),
    Some("99501"),
];

/// A lead with written consent to every purpose: only the time rules can stop a message to them.
static CONSENTED: LazyLock<Recipient> = LazyLock::new(|| Recipient {
    lead: true,
    consent: Purpose::ALL
        .into_iter()
        .map(|purpose| ConsentFact {
            purpose,
            granted: true,
            at: Timestamp::UNIX_EPOCH,
            written: true,
        })
        .collect(),
    ..Recipient::default()
});

static PERMISSIVE: LazyLock<Policy> = LazyLock::new(|| Policy {
    texas_registration: true,
    postal_address: true,
    ..Policy::default()
});

/// Whether `t` is inside every binding window of every candidate, straight from the rule table
/// and the organisation's window.
fn windows_allow(location: &Location, purpose: Purpose, policy: &Policy, t: Timestamp) -> bool {
    location.candidates.iter().all(|candidate| {
        let local = t.to_zoned(candidate.time_zone.clone()).datetime();
        let own = policy
            .window
            .is_none_or(|(from, until)| from <= local.time() && local.time() < until);
        own && RULES
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

/// Whether every cap has room at `t` (no sends after `now` are assumed).
fn caps_allow(case: &Case, t: Timestamp) -> bool {
    let count = |window: SignedDuration, counted: &dyn Fn(Purpose) -> bool| {
        case.recipient
            .recent
            .iter()
            .filter(|s| s.at > t - window && s.at <= t && counted(s.purpose))
            .count()
    };
    let states = case.location.states();
    let state_caps = CAPS.iter().all(|cap| {
        case.purpose != Purpose::Marketing
            || !states.contains(&cap.state)
            || count(cap.window, &|p| cap.applies_to.contains(&p)) < cap.limit as usize
    });
    state_caps
        && case
            .policy
            .caps
            .iter()
            .all(|cap| count(cap.window, &|_| true) < cap.limit as usize)
}

fn allowed(case: &Case, t: Timestamp) -> bool {
    windows_allow(&case.location, case.purpose, &case.policy, t) && caps_allow(case, t)
}

/// Whether a gate (suppression, consent, Texas, postal address, registry) must block, computed
/// from the rules as `COMPLIANCE.md` states them rather than from `decide`'s code.
fn gated(case: &Case) -> bool {
    let r = &case.recipient;
    let fact = r.consent.iter().find(|c| c.purpose == case.purpose);
    let marketing = case.purpose == Purpose::Marketing;
    let written = fact.is_some_and(|f| f.granted && f.written);
    let consent_ok = match fact {
        Some(f) if !f.granted => false,
        _ if marketing => written,
        Some(_) => true,
        None => r.lead,
    };
    let sms_marketing = marketing && case.channel == Channel::Sms;
    let texas =
        sms_marketing && !case.policy.texas_registration && case.location.states().contains(&"TX");
    let postal = marketing && case.channel == Channel::Email && !case.policy.postal_address;
    // With written consent required for marketing, the registry can only add a reason; it never
    // decides alone, so it is left to the table tests.
    r.suppression.is_some() || !consent_ok || texas || postal
}

#[derive(Debug, Clone)]
struct Case {
    location: Location,
    channel: Channel,
    purpose: Purpose,
    now: Timestamp,
    recipient: Recipient,
    policy: Policy,
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

fn check(case: &Case) -> Result<(), TestCaseError> {
    let now = case.now;
    let decision = decide(&Context {
        now,
        channel: case.channel,
        purpose: case.purpose,
        to: "+12125550199",
        location: &case.location,
        exemption: Exemption::None,
        recipient: &case.recipient,
        policy: &case.policy,
    });
    let gated = gated(case);
    match decision {
        Decision::Send(permit) => {
            prop_assert!(
                case.recipient.suppression.is_none(),
                "sent to a suppressed person"
            );
            prop_assert!(!gated, "sent past a gate");
            prop_assert_eq!(permit.decided_at(), now);
            prop_assert!(
                allowed(case, now),
                "sent at {} outside a window or over a cap",
                now
            );
        }
        Decision::Defer { until, reasons } => {
            prop_assert!(!gated, "deferred what a gate blocks: {:?}", reasons);
            prop_assert!(until > now);
            prop_assert!(!reasons.is_empty());
            prop_assert!(
                allowed(case, until),
                "deferred to {} which is not allowed",
                until
            );
            let end = until.min(now + SCAN);
            if let Some(t) = minutes(now, end).find(|t| allowed(case, *t)) {
                return Err(TestCaseError::fail(format!(
                    "deferred from {now} to {until}, but {t} is allowed"
                )));
            }
        }
        Decision::Block { reasons } => {
            if gated {
                prop_assert!(reasons.iter().all(|r| r.rule != "no_allowed_window"));
            } else {
                prop_assert_eq!(reasons.last().map(|r| r.rule), Some("no_allowed_window"));
                if let Some(t) = minutes(now, now + SCAN).find(|t| allowed(case, *t)) {
                    return Err(TestCaseError::fail(format!(
                        "blocked at {now}, but {t} is allowed"
                    )));
                }
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

fn consent_fact(purpose: Purpose) -> impl Strategy<Value = Option<ConsentFact>> {
    prop_oneof![
        2 => Just(None),
        3 => any::<bool>().prop_map(move |written| Some(ConsentFact {
            purpose,
            granted: true,
            at: Timestamp::UNIX_EPOCH,
            written,
        })),
        1 => Just(Some(ConsentFact {
            purpose,
            granted: false,
            at: Timestamp::UNIX_EPOCH,
            written: false,
        })),
    ]
}

/// Sends within the two days before `now`, on the minute.
fn recent(now: Timestamp) -> impl Strategy<Value = Vec<Sent>> {
    prop::collection::vec(
        (1..48 * 60i64, purpose()).prop_map(move |(mins, purpose)| Sent {
            at: (now - SignedDuration::from_mins(mins))
                .round(jiff::Unit::Minute)
                .unwrap(),
            purpose,
        }),
        0..7,
    )
}

fn recipient(now: Timestamp) -> impl Strategy<Value = Recipient> {
    (
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.8),
        consent_fact(Purpose::Transactional),
        consent_fact(Purpose::Informational),
        consent_fact(Purpose::Marketing),
        recent(now),
    )
        .prop_map(move |(suppressed, lead, t, i, m, recent)| Recipient {
            suppression: suppressed.then(|| Suppression {
                reason: "opt_out".to_owned(),
                since: Timestamp::UNIX_EPOCH,
            }),
            lead,
            consent: [t, i, m].into_iter().flatten().collect(),
            registry: Registry::NotApplicable,
            recent,
            ..Recipient::default()
        })
}

fn policy() -> impl Strategy<Value = Policy> {
    let window = prop::option::weighted(
        0.3,
        (6..12i8, 15..23i8).prop_map(|(from, until)| {
            (
                Time::new(from, 0, 0, 0).unwrap(),
                Time::new(until, 30, 0, 0).unwrap(),
            )
        }),
    );
    let caps = prop::collection::vec(
        (1..5u32, 1..72i64).prop_map(|(limit, hours)| Cap {
            limit,
            window: SignedDuration::from_hours(hours),
        }),
        0..3,
    );
    (
        window,
        caps,
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.8),
    )
        .prop_map(
            |(window, caps, texas_registration, postal_address)| Policy {
                window,
                caps,
                texas_registration,
                postal_address,
            },
        )
}

fn whereabouts() -> impl Strategy<Value = Location> {
    (
        (0..PHONES.len()).prop_map(|i| &PHONES[i]),
        prop::sample::select(ZONES),
        prop::sample::select(ZIPS),
    )
        .prop_map(|(phone, time_zone, zip)| {
            locate(&Whereabouts {
                phone: Some(phone),
                time_zone,
                zip,
                address: None,
            })
        })
}

fn case() -> impl Strategy<Value = Case> {
    (whereabouts(), purpose(), any::<bool>(), instant_2026()).prop_flat_map(
        |(location, purpose, sms, now)| {
            let channel = if sms { Channel::Sms } else { Channel::Email };
            (recipient(now), policy()).prop_map(move |(recipient, policy)| Case {
                location: location.clone(),
                channel,
                purpose,
                now,
                recipient,
                policy,
            })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Quiet hours alone: a consented lead, a permissive organisation.
    #[test]
    fn quiet_hours_for_any_area_code_zone_and_zip(
        location in whereabouts(),
        purpose in purpose(),
        now in instant_2026(),
    ) {
        check(&Case {
            location,
            channel: Channel::Sms,
            purpose,
            now,
            recipient: CONSENTED.clone(),
            policy: PERMISSIVE.clone(),
        })?;
    }

    /// Everything at once: suppression, consent, caps (state and organisation), the
    /// organisation's window, the Texas gate and the postal address.
    #[test]
    fn every_rule_together(case in case()) {
        check(&case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn all_of_the_us(purpose in purpose(), now in instant_2026()) {
        check(&Case {
            location: Location::unknown(),
            channel: Channel::Sms,
            purpose,
            now,
            recipient: CONSENTED.clone(),
            policy: PERMISSIVE.clone(),
        })?;
    }
}
