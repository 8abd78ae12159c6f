//! Table tests for the rules beyond quiet hours: consent, the Texas registration gate, CAN-SPAM's
//! postal address, the national do-not-call registry and its relationship exemptions, the state
//! and organisation frequency caps, the organisation's window, and the opt-out confirmation's five
//! minutes. Each test names the rule id it covers, as `docs/compliance.md` lists them.

// Test helpers outside `#[test]` functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used)]

use compliance::{
    Cap, ConsentFact, Context, Decision, Exemption, Location, Policy, Recipient, Registry, Sent,
    Whereabouts, decide, locate,
};
use domain::{Channel, Phone, Purpose, Timestamp};
use jiff::SignedDuration;
use jiff::civil::Time;

fn local(s: &str) -> Timestamp {
    s.parse::<jiff::Zoned>().unwrap().timestamp()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn of(number: &str) -> Location {
    locate(&Whereabouts {
        phone: Some(&Phone::parse(number, "US").unwrap()),
        ..Whereabouts::default()
    })
}

/// Noon on a Wednesday in New York.
fn noon() -> Timestamp {
    local("2026-06-03 12:00[America/New_York]")
}

fn grant(purpose: Purpose, written: bool) -> ConsentFact {
    ConsentFact {
        purpose,
        granted: true,
        at: at("2026-05-01T12:00:00Z"),
        written,
    }
}

fn revoke(purpose: Purpose) -> ConsentFact {
    ConsentFact {
        purpose,
        granted: false,
        at: at("2026-05-02T12:00:00Z"),
        written: false,
    }
}

/// A lead with written consent to marketing.
fn consented() -> Recipient {
    Recipient {
        lead: true,
        consent: vec![grant(Purpose::Marketing, true)],
        ..Recipient::default()
    }
}

fn permissive() -> Policy {
    Policy {
        texas_registration: true,
        postal_address: true,
        ..Policy::default()
    }
}

struct Ask<'a> {
    location: &'a Location,
    now: Timestamp,
    channel: Channel,
    purpose: Purpose,
    recipient: Recipient,
    policy: Policy,
    exemption: Exemption,
}

impl Ask<'_> {
    fn new(location: &Location) -> Ask<'_> {
        Ask {
            location,
            now: noon(),
            channel: Channel::Sms,
            purpose: Purpose::Marketing,
            recipient: consented(),
            policy: permissive(),
            exemption: Exemption::None,
        }
    }

    fn decide(&self) -> Decision {
        decide(&Context {
            now: self.now,
            channel: self.channel,
            purpose: self.purpose,
            to: "+12125550199",
            location: self.location,
            exemption: self.exemption,
            recipient: &self.recipient,
            policy: &self.policy,
        })
    }
}

/// `send`, `defer <instant>` or `block`, with the rule ids that said so.
fn outcome(decision: &Decision) -> (String, Vec<&'static str>) {
    match decision {
        Decision::Send(permit) => (
            "send".to_owned(),
            permit.reasons().iter().map(|r| r.rule).collect(),
        ),
        Decision::Defer { until, reasons } => (
            format!("defer {until}"),
            reasons.iter().map(|r| r.rule).collect(),
        ),
        Decision::Block { reasons } => {
            ("block".to_owned(), reasons.iter().map(|r| r.rule).collect())
        }
    }
}

fn blocked_by(decision: &Decision) -> Vec<&'static str> {
    match decision {
        Decision::Block { reasons } => reasons.iter().map(|r| r.rule).collect(),
        other => panic!("expected a block, got {:?}", outcome(other)),
    }
}

#[test]
fn consent_written_is_needed_for_marketing_on_both_channels() {
    let ny = of("+1 212 555 0199");
    for channel in [Channel::Sms, Channel::Email] {
        // A lead whose form had no marketing checkbox.
        let mut ask = Ask::new(&ny);
        ask.channel = channel;
        ask.recipient.consent = vec![grant(Purpose::Transactional, true)];
        assert!(blocked_by(&ask.decide()).contains(&"consent.written"));
        // Consent without written evidence is not enough.
        ask.recipient.consent = vec![grant(Purpose::Marketing, false)];
        assert!(blocked_by(&ask.decide()).contains(&"consent.written"));
        // Written consent is.
        ask.recipient.consent = vec![grant(Purpose::Marketing, true)];
        let (verdict, rules) = outcome(&ask.decide());
        assert_eq!(verdict, "send", "{channel:?}");
        assert!(rules.contains(&"consent.written"));
    }
}

#[test]
fn consent_prior_express_comes_from_the_inquiry_or_a_grant() {
    let ny = of("+1 212 555 0199");
    for purpose in [Purpose::Transactional, Purpose::Informational] {
        let mut ask = Ask::new(&ny);
        ask.purpose = purpose;
        // A lead gave the address in their own inquiry.
        ask.recipient = Recipient {
            lead: true,
            ..Recipient::default()
        };
        assert_eq!(outcome(&ask.decide()).0, "send");
        // A stranger: no lead has the address, and no consent is on record.
        ask.recipient = Recipient::default();
        let decision = ask.decide();
        assert_eq!(blocked_by(&decision), ["consent.prior_express"]);
        let Decision::Block { reasons } = decision else {
            unreachable!()
        };
        assert!(
            reasons[0].detail.contains("no lead"),
            "{}",
            reasons[0].detail
        );
        // A stranger with a recorded grant for the purpose.
        ask.recipient.consent = vec![grant(purpose, false)];
        assert_eq!(outcome(&ask.decide()).0, "send");
    }
}

#[test]
fn consent_revoked_for_a_purpose_blocks_that_purpose_only() {
    let ny = of("+1 212 555 0199");
    let mut ask = Ask::new(&ny);
    ask.recipient.consent = vec![revoke(Purpose::Marketing)];
    assert_eq!(blocked_by(&ask.decide()), ["consent.revoked"]);
    ask.purpose = Purpose::Transactional;
    assert_eq!(outcome(&ask.decide()).0, "send");
}

#[test]
fn suppression_blocks_every_purpose_and_names_its_reason() {
    let ny = of("+1 212 555 0199");
    for purpose in Purpose::ALL {
        let mut ask = Ask::new(&ny);
        ask.purpose = purpose;
        ask.recipient.suppression = Some(compliance::Suppression {
            reason: "dnc".to_owned(),
            since: at("2026-05-03T00:00:00Z"),
        });
        let decision = ask.decide();
        assert!(blocked_by(&decision).contains(&"suppression"));
        let Decision::Block { reasons } = decision else {
            unreachable!()
        };
        assert!(reasons[0].detail.contains("dnc"));
    }
}

#[test]
fn state_tx_registration_gates_marketing_texts_to_texas() {
    let dallas = of("+1 214 555 0199");
    let noon_in_texas = local("2026-06-03 12:00[America/Chicago]");
    let mut ask = Ask::new(&dallas);
    ask.now = noon_in_texas;
    ask.policy.texas_registration = false;
    assert_eq!(blocked_by(&ask.decide()), ["state.TX.registration"]);
    // Not a marketing text: the gate does not apply.
    ask.purpose = Purpose::Transactional;
    assert_eq!(outcome(&ask.decide()).0, "send");
    ask.purpose = Purpose::Marketing;
    ask.channel = Channel::Email;
    assert_eq!(outcome(&ask.decide()).0, "send");
    // A New York number with a Texas ZIP is presumed in Texas too.
    let moved = locate(&Whereabouts {
        phone: Some(&Phone::parse("+1 212 555 0199", "US").unwrap()),
        zip: Some("78701"),
        ..Whereabouts::default()
    });
    let mut ask = Ask::new(&moved);
    ask.now = noon_in_texas;
    ask.policy.texas_registration = false;
    assert_eq!(blocked_by(&ask.decide()), ["state.TX.registration"]);
    ask.policy.texas_registration = true;
    assert_eq!(outcome(&ask.decide()).0, "send");
}

#[test]
fn email_postal_address_is_needed_for_marketing_email() {
    let ny = of("+1 212 555 0199");
    let mut ask = Ask::new(&ny);
    ask.channel = Channel::Email;
    ask.policy.postal_address = false;
    assert_eq!(blocked_by(&ask.decide()), ["email.postal_address"]);
    ask.purpose = Purpose::Transactional;
    assert_eq!(outcome(&ask.decide()).0, "send");
}

#[test]
fn dnc_national_registry_and_its_exemptions() {
    let ny = of("+1 212 555 0199");
    let fresh = Registry::Snapshot {
        taken_at: at("2026-05-20T00:00:00Z"),
        listed: true,
    };
    // Without written consent, a listed number is blocked by the registry as well as by consent.
    let mut ask = Ask::new(&ny);
    ask.recipient.consent.clear();
    ask.recipient.registry = fresh;
    assert_eq!(
        blocked_by(&ask.decide()),
        ["consent.written", "dnc.national"]
    );
    // A stale snapshot (older than 31 days) blocks numbers that need the check, listed or not.
    ask.recipient.registry = Registry::Snapshot {
        taken_at: at("2026-05-01T00:00:00Z"),
        listed: false,
    };
    assert_eq!(
        blocked_by(&ask.decide()),
        ["consent.written", "dnc.national.snapshot_age"]
    );
    ask.recipient.registry = Registry::NoSnapshot;
    assert_eq!(
        blocked_by(&ask.decide()),
        ["consent.written", "dnc.national.snapshot_age"]
    );
    // Written consent exempts the number from the registry, fresh snapshot or not.
    let mut ask = Ask::new(&ny);
    ask.recipient.registry = Registry::NoSnapshot;
    let (verdict, rules) = outcome(&ask.decide());
    assert_eq!(verdict, "send");
    assert!(rules.contains(&"dnc.national"));
}

#[test]
fn relationships_exempt_for_the_shortest_applicable_term() {
    // Federal: 3 months after an inquiry. An inquiry on 2026-03-10 exempts until 2026-06-10.
    let ny = of("+1 212 555 0199");
    let base = Recipient {
        lead: true,
        inquiry_at: Some(at("2026-03-10T12:00:00Z")),
        registry: Registry::Snapshot {
            taken_at: at("2026-05-20T00:00:00Z"),
            listed: true,
        },
        ..Recipient::default()
    };
    let candidates = ny.candidates.clone();
    assert_eq!(
        compliance::relationship_until(&base, &candidates),
        Some(at("2026-06-10T12:00:00Z"))
    );
    let mut ask = Ask::new(&ny);
    ask.recipient = base.clone();
    // The consent gate still blocks (no written consent), but the registry is satisfied.
    assert_eq!(blocked_by(&ask.decide()), ["consent.written"]);

    // California: 30 business days. Colorado: 30 days. New Jersey: none at all.
    let la = of("+1 213 555 0199");
    assert_eq!(
        compliance::relationship_until(&base, &la.candidates),
        Some(at("2026-04-21T12:00:00Z"))
    );
    let denver = of("+1 303 555 0199");
    assert_eq!(
        compliance::relationship_until(&base, &denver.candidates),
        Some(at("2026-04-09T12:00:00Z"))
    );
    let newark = of("+1 973 555 0199");
    assert_eq!(
        compliance::relationship_until(&base, &newark.candidates),
        None
    );
    // A transaction lasts 18 months federally; the later of the two relationships counts.
    let bought = Recipient {
        transaction_at: Some(at("2025-06-01T00:00:00Z")),
        ..base.clone()
    };
    assert_eq!(
        compliance::relationship_until(&bought, &candidates),
        Some(at("2026-12-01T00:00:00Z"))
    );
    // Texas keeps 12 months for an inquiry, but the federal 3 months is shorter and wins.
    let dallas = of("+1 214 555 0199");
    assert_eq!(
        compliance::relationship_until(&base, &dallas.candidates),
        Some(at("2026-06-10T12:00:00Z"))
    );
}

fn sends(times: &[&str], purpose: Purpose) -> Vec<Sent> {
    times.iter().map(|t| Sent { at: at(t), purpose }).collect()
}

#[test]
fn state_fl_ok_md_frequency_caps_defer_the_fourth_marketing_message() {
    for (number, zone, rule) in [
        (
            "+1 305 555 0199",
            "America/New_York",
            "state.FL.frequency_cap",
        ),
        (
            "+1 405 555 0199",
            "America/Chicago",
            "state.OK.frequency_cap",
        ),
        (
            "+1 410 555 0199",
            "America/New_York",
            "state.MD.frequency_cap",
        ),
    ] {
        let location = of(number);
        let mut ask = Ask::new(&location);
        ask.now = local(&format!("2026-06-03 12:00[{zone}]"));
        let noon_utc = ask.now;
        let hours_before = |h: i64| (noon_utc - SignedDuration::from_hours(h)).to_string();
        let (h20, h10, h2) = (hours_before(20), hours_before(10), hours_before(2));
        ask.recipient.recent = sends(&[&h20, &h10, &h2], Purpose::Marketing);
        // Three marketing messages in the last 24 hours: the fourth waits until the oldest
        // leaves the window, 20 hours before + 24 = 4 hours from now (16:00 local, inside
        // every window).
        let (verdict, rules) = outcome(&ask.decide());
        let until = noon_utc + SignedDuration::from_hours(4);
        assert_eq!(verdict, format!("defer {until}"), "{rule}");
        assert_eq!(rules, [rule]);
        // Transactional messages are not capped by the state rule, nor counted by it.
        ask.purpose = Purpose::Transactional;
        assert_eq!(outcome(&ask.decide()).0, "send", "{rule}");
        ask.purpose = Purpose::Marketing;
        ask.recipient.recent = sends(&[&h20, &h10, &h2], Purpose::Transactional);
        assert_eq!(outcome(&ask.decide()).0, "send", "{rule}");
    }
    // New York has no cap.
    let ny = of("+1 212 555 0199");
    let mut ask = Ask::new(&ny);
    ask.recipient.recent = sends(
        &[
            "2026-06-03T10:00:00Z",
            "2026-06-03T11:00:00Z",
            "2026-06-03T12:00:00Z",
            "2026-06-03T13:00:00Z",
        ],
        Purpose::Marketing,
    );
    assert_eq!(outcome(&ask.decide()).0, "send");
}

#[test]
fn a_cap_release_in_quiet_hours_waits_for_the_morning() {
    // Florida at 19:00: three marketing texts at 19:30, 19:40 and 19:50 the evening before. The
    // cap frees at 19:30 tonight, but Florida closes at 20:00... and 19:30 is inside, so it goes
    // at 19:30. Had the first been at 20:30, the cap would free after closing: next morning.
    let miami = of("+1 305 555 0199");
    let mut ask = Ask::new(&miami);
    ask.now = local("2026-06-03 19:00[America/New_York]");
    let before = |t: &str| local(&format!("2026-06-02 {t}[America/New_York]")).to_string();
    ask.recipient.recent = sends(
        &[&before("19:30"), &before("19:40"), &before("19:50")],
        Purpose::Marketing,
    );
    assert_eq!(
        outcome(&ask.decide()).0,
        format!("defer {}", local("2026-06-03 19:30[America/New_York]"))
    );
    ask.recipient.recent = sends(
        &[&before("20:30"), &before("19:40"), &before("19:50")],
        Purpose::Marketing,
    );
    ask.now = local("2026-06-03 19:45[America/New_York]");
    // 19:40 leaves at 19:40 tonight (already past), so only two of the last 24 h remain.
    assert_eq!(outcome(&ask.decide()).0, "send");
    ask.recipient.recent = sends(
        &[&before("20:30"), &before("20:40"), &before("20:50")],
        Purpose::Marketing,
    );
    assert_eq!(
        outcome(&ask.decide()).0,
        format!("defer {}", local("2026-06-04 08:00[America/New_York]"))
    );
}

#[test]
fn organisation_frequency_cap_counts_every_automated_message() {
    let ny = of("+1 212 555 0199");
    let mut ask = Ask::new(&ny);
    ask.purpose = Purpose::Transactional;
    ask.policy.caps = vec![Cap {
        limit: 2,
        window: SignedDuration::from_hours(1),
    }];
    let now = ask.now;
    let minutes_before = |m: i64| (now - SignedDuration::from_mins(m)).to_string();
    ask.recipient.recent = [(50, Purpose::Marketing), (10, Purpose::Informational)]
        .iter()
        .map(|(m, purpose)| Sent {
            at: at(&minutes_before(*m)),
            purpose: *purpose,
        })
        .collect();
    let (verdict, rules) = outcome(&ask.decide());
    assert_eq!(
        verdict,
        format!("defer {}", now + SignedDuration::from_mins(10))
    );
    assert_eq!(rules, ["organisation.frequency_cap"]);
}

#[test]
fn organisation_quiet_hours_narrow_the_legal_window_and_never_widen_it() {
    let ny = of("+1 212 555 0199");
    let mut ask = Ask::new(&ny);
    ask.policy.window = Some((
        Time::new(10, 0, 0, 0).unwrap(),
        Time::new(18, 0, 0, 0).unwrap(),
    ));
    ask.now = local("2026-06-03 09:00[America/New_York]");
    let (verdict, rules) = outcome(&ask.decide());
    assert_eq!(
        verdict,
        format!("defer {}", local("2026-06-03 10:00[America/New_York]"))
    );
    assert_eq!(rules, ["organisation.quiet_hours"]);
    // A window wider than the law's does not let a message out at 22:00.
    ask.policy.window = Some((
        Time::new(6, 0, 0, 0).unwrap(),
        Time::new(23, 0, 0, 0).unwrap(),
    ));
    ask.now = local("2026-06-03 22:00[America/New_York]");
    let (verdict, rules) = outcome(&ask.decide());
    assert_eq!(
        verdict,
        format!("defer {}", local("2026-06-04 08:00[America/New_York]"))
    );
    assert_eq!(rules, ["federal.quiet_hours"]);
}

#[test]
fn opt_out_confirmation_window_is_five_minutes() {
    let ny = of("+1 212 555 0199");
    let mut ask = Ask::new(&ny);
    ask.purpose = Purpose::Transactional;
    ask.exemption = Exemption::OptOutConfirmation;
    ask.now = local("2026-06-03 23:00[America/New_York]");
    ask.recipient.answering = Some(ask.now - SignedDuration::from_mins(5));
    assert_eq!(outcome(&ask.decide()).0, "send");
    ask.recipient.answering = Some(ask.now - SignedDuration::from_secs(301));
    assert_eq!(blocked_by(&ask.decide()), ["opt_out.confirmation_window"]);
    ask.recipient.answering = None;
    assert_eq!(blocked_by(&ask.decide()), ["opt_out.confirmation_window"]);
}

#[test]
fn gates_report_every_failure_at_once() {
    let dallas = of("+1 214 555 0199");
    let mut ask = Ask::new(&dallas);
    ask.recipient = Recipient {
        suppression: Some(compliance::Suppression {
            reason: "opt_out".to_owned(),
            since: at("2026-05-03T00:00:00Z"),
        }),
        registry: Registry::NoSnapshot,
        ..Recipient::default()
    };
    ask.policy = Policy::default();
    assert_eq!(
        blocked_by(&ask.decide()),
        [
            "suppression",
            "consent.written",
            "state.TX.registration",
            "dnc.national.snapshot_age"
        ]
    );
}

#[test]
fn the_permit_carries_the_caps_the_store_must_hold_again() {
    let miami = of("+1 305 555 0199");
    let mut ask = Ask::new(&miami);
    ask.policy.caps = vec![Cap {
        limit: 5,
        window: SignedDuration::from_hours(72),
    }];
    let Decision::Send(permit) = ask.decide() else {
        panic!("noon in Miami, consented, no sends yet");
    };
    let caps: Vec<(u32, i64, bool)> = permit
        .caps()
        .iter()
        .map(|c| (c.limit, c.window.as_hours(), c.marketing_only))
        .collect();
    assert_eq!(caps, [(3, 24, true), (5, 72, false)]);
    // A transactional message is held to the organisation's cap only.
    ask.purpose = Purpose::Transactional;
    let Decision::Send(permit) = ask.decide() else {
        panic!("transactional at noon");
    };
    assert_eq!(permit.caps().len(), 1);
}
