//! Table tests for `decide`: the federal window, split area codes, state windows and day rules,
//! explicit zones, unknown locations, suppression, exemptions and daylight-saving changes.

// Test helpers outside `#[test]` functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used)]

use std::sync::LazyLock;

use compliance::{
    Candidate, ConsentFact, Context, Decision, Exemption, Location, LocationBasis, Policy, Reason,
    Recipient, Suppression, Whereabouts, decide, locate,
};
use domain::{Channel, Phone, Purpose, Timestamp};
use jiff::tz::TimeZone;

/// An instant written as local time in a zone: `"2026-06-03 07:59[America/New_York]"`.
fn local(s: &str) -> Timestamp {
    s.parse::<jiff::Zoned>().unwrap().timestamp()
}

fn utc(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn phone(s: &str) -> Phone {
    Phone::parse(s, "US").unwrap()
}

fn of(number: &str) -> Location {
    locate(&Whereabouts {
        phone: Some(&phone(number)),
        ..Whereabouts::default()
    })
}

/// A lead with written consent to every purpose: only the time rules can stop a message to them.
static CONSENTED: LazyLock<Recipient> = LazyLock::new(|| Recipient {
    lead: true,
    consent: Purpose::ALL
        .into_iter()
        .map(|purpose| ConsentFact {
            purpose,
            granted: true,
            at: utc("2026-01-01T00:00:00Z"),
            written: true,
        })
        .collect(),
    ..Recipient::default()
});

/// The same lead, suppressed.
static SUPPRESSED: LazyLock<Recipient> = LazyLock::new(|| Recipient {
    suppression: Some(Suppression {
        reason: "opt_out".to_owned(),
        since: utc("2026-01-02T00:00:00Z"),
    }),
    ..CONSENTED.clone()
});

/// An organisation that has every registration and address on file, and no rules of its own.
static PERMISSIVE: LazyLock<Policy> = LazyLock::new(|| Policy {
    texas_registration: true,
    postal_address: true,
    ..Policy::default()
});

/// A recipient who opted out at `at`, for the confirmation.
fn opted_out_at(at: Timestamp) -> &'static Recipient {
    Box::leak(Box::new(Recipient {
        answering: Some(at),
        ..SUPPRESSED.clone()
    }))
}

fn ctx<'a>(location: &'a Location, now: Timestamp) -> Context<'a> {
    Context {
        now,
        channel: Channel::Sms,
        purpose: Purpose::Marketing,
        to: "+12125550199",
        location,
        exemption: Exemption::None,
        recipient: &CONSENTED,
        policy: &PERMISSIVE,
    }
}

/// What a decision amounts to, for comparing with a table.
#[derive(Debug, PartialEq)]
enum Verdict {
    Send,
    Defer(Timestamp),
    Block,
}

fn verdict(decision: &Decision) -> Verdict {
    match decision {
        Decision::Send(_) => Verdict::Send,
        Decision::Defer { until, .. } => Verdict::Defer(*until),
        Decision::Block { .. } => Verdict::Block,
    }
}

fn reasons(decision: &Decision) -> Vec<&'static str> {
    let list: &[Reason] = match decision {
        Decision::Send(permit) => permit.reasons(),
        Decision::Defer { reasons, .. } | Decision::Block { reasons } => reasons,
    };
    let mut ids: Vec<_> = list.iter().map(|r| r.rule).collect();
    ids.dedup();
    ids
}

/// Runs a table of (now, expected) for one location, for every purpose and both channels.
fn check(location: &Location, table: &[(&str, Option<&str>)]) {
    for (now, expected) in table {
        let expected = match expected {
            None => Verdict::Send,
            Some(until) => Verdict::Defer(local(until)),
        };
        for purpose in Purpose::ALL {
            for channel in [Channel::Sms, Channel::Email] {
                let context = Context {
                    purpose,
                    channel,
                    ..ctx(location, local(now))
                };
                assert_eq!(
                    verdict(&decide(&context)),
                    expected,
                    "{now} ({purpose:?}, {channel:?}) for {:?}",
                    location.candidates
                );
            }
        }
    }
}

#[test]
fn federal_window_in_several_zones() {
    // 2026-06-03 is a Wednesday. None of these states has a rule of its own.
    check(
        &of("+1 212 555 0199"),
        &[
            (
                "2026-06-03 07:59[America/New_York]",
                Some("2026-06-03 08:00[America/New_York]"),
            ),
            ("2026-06-03 08:00[America/New_York]", None),
            ("2026-06-03 20:59[America/New_York]", None),
            (
                "2026-06-03 21:00[America/New_York]",
                Some("2026-06-04 08:00[America/New_York]"),
            ),
            (
                "2026-06-03 23:59:59[America/New_York]",
                Some("2026-06-04 08:00[America/New_York]"),
            ),
            (
                "2026-06-04 00:00[America/New_York]",
                Some("2026-06-04 08:00[America/New_York]"),
            ),
        ],
    );
    check(
        &of("+1 312 555 0199"),
        &[
            (
                "2026-06-03 07:59[America/Chicago]",
                Some("2026-06-03 08:00[America/Chicago]"),
            ),
            ("2026-06-03 08:00[America/Chicago]", None),
            (
                "2026-06-03 21:00[America/Chicago]",
                Some("2026-06-04 08:00[America/Chicago]"),
            ),
        ],
    );
    check(
        &of("+1 415 555 0199"),
        &[
            (
                "2026-06-03 07:00[America/Los_Angeles]",
                Some("2026-06-03 08:00[America/Los_Angeles]"),
            ),
            ("2026-06-03 20:59[America/Los_Angeles]", None),
        ],
    );
    check(
        &of("+1 602 555 0199"),
        &[
            (
                "2026-06-03 07:30[America/Phoenix]",
                Some("2026-06-03 08:00[America/Phoenix]"),
            ),
            ("2026-06-03 12:00[America/Phoenix]", None),
        ],
    );
}

#[test]
fn the_reason_names_rule_source_and_local_time() {
    let location = of("+1 212 555 0199");
    let decision = decide(&ctx(&location, local("2026-06-02 21:30[America/New_York]")));
    let Decision::Defer { until, reasons } = decision else {
        panic!("expected a deferral");
    };
    assert_eq!(until, local("2026-06-03 08:00[America/New_York]"));
    assert_eq!(
        reasons,
        [Reason {
            rule: "federal.quiet_hours",
            source: "47 CFR 64.1200(c)(1)",
            detail: "21:30 (Tuesday) in America/New_York is outside 08:00-21:00".to_owned(),
        }]
    );
}

#[test]
fn a_split_area_code_sends_only_inside_both_zones() {
    // 850: Florida, Central and Eastern. Federal in Chicago and FL 08:00-20:00 in New York leave
    // 09:00-20:00 Eastern.
    let location = of("+1 850 555 0199");
    check(
        &location,
        &[
            (
                "2026-06-03 08:30[America/New_York]",
                Some("2026-06-03 09:00[America/New_York]"),
            ),
            ("2026-06-03 09:00[America/New_York]", None),
            ("2026-06-03 19:59[America/New_York]", None),
            (
                "2026-06-03 20:00[America/New_York]",
                Some("2026-06-04 09:00[America/New_York]"),
            ),
        ],
    );
    let decision = decide(&ctx(&location, local("2026-06-03 08:30[America/New_York]")));
    assert_eq!(
        reasons(&decision),
        ["federal.quiet_hours", "state.FL.quiet_hours"]
    );
    let Decision::Defer { reasons, .. } = decision else {
        panic!()
    };
    assert!(reasons.iter().all(|r| r.detail.contains("America/Chicago")));
}

#[test]
fn state_windows() {
    // Florida closes at 20:00.
    check(
        &of("+1 305 555 0199"),
        &[
            ("2026-06-03 19:59[America/New_York]", None),
            (
                "2026-06-03 20:30[America/New_York]",
                Some("2026-06-04 08:00[America/New_York]"),
            ),
        ],
    );
    let decision = decide(&ctx(
        &of("+1 305 555 0199"),
        local("2026-06-03 20:30[America/New_York]"),
    ));
    assert_eq!(reasons(&decision), ["state.FL.quiet_hours"]);

    // Kentucky opens at 10:00 (502 Louisville, Eastern).
    check(
        &of("+1 502 555 0199"),
        &[(
            "2026-06-03 09:00[America/New_York]",
            Some("2026-06-03 10:00[America/New_York]"),
        )],
    );
    // Washington: no later than 20:00; the federal row keeps 08:00.
    check(
        &of("+1 206 555 0199"),
        &[
            (
                "2026-06-03 07:00[America/Los_Angeles]",
                Some("2026-06-03 08:00[America/Los_Angeles]"),
            ),
            (
                "2026-06-03 20:00[America/Los_Angeles]",
                Some("2026-06-04 08:00[America/Los_Angeles]"),
            ),
        ],
    );
    // Connecticut 09:00-20:00.
    check(
        &of("+1 203 555 0199"),
        &[
            (
                "2026-06-03 08:30[America/New_York]",
                Some("2026-06-03 09:00[America/New_York]"),
            ),
            (
                "2026-06-03 20:00[America/New_York]",
                Some("2026-06-04 09:00[America/New_York]"),
            ),
        ],
    );
}

#[test]
fn texas_sunday_opens_at_noon() {
    // 2026-03-14 is a Saturday, 2026-03-15 a Sunday.
    let dallas = of("+1 214 555 0199");
    check(
        &dallas,
        &[
            (
                "2026-03-14 08:30[America/Chicago]",
                Some("2026-03-14 09:00[America/Chicago]"),
            ),
            ("2026-03-14 20:59[America/Chicago]", None),
            (
                "2026-03-14 21:30[America/Chicago]",
                Some("2026-03-15 12:00[America/Chicago]"),
            ),
            (
                "2026-03-15 10:00[America/Chicago]",
                Some("2026-03-15 12:00[America/Chicago]"),
            ),
            ("2026-03-15 12:00[America/Chicago]", None),
            (
                "2026-03-15 21:00[America/Chicago]",
                Some("2026-03-16 09:00[America/Chicago]"),
            ),
        ],
    );
    let decision = decide(&ctx(&dallas, local("2026-03-15 10:00[America/Chicago]")));
    assert_eq!(reasons(&decision), ["state.TX.sunday"]);
    let decision = decide(&ctx(&dallas, local("2026-03-14 08:30[America/Chicago]")));
    assert_eq!(reasons(&decision), ["state.TX.quiet_hours"]);
}

#[test]
fn no_sundays_in_alabama_louisiana_mississippi() {
    for number in ["+1 205 555 0199", "+1 504 555 0199", "+1 601 555 0199"] {
        check(
            &of(number),
            &[
                ("2026-03-14 19:59[America/Chicago]", None),
                (
                    "2026-03-14 20:30[America/Chicago]",
                    Some("2026-03-16 08:00[America/Chicago]"),
                ),
                (
                    "2026-03-15 10:00[America/Chicago]",
                    Some("2026-03-16 08:00[America/Chicago]"),
                ),
            ],
        );
    }
    let decision = decide(&ctx(
        &of("+1 205 555 0199"),
        local("2026-03-15 10:00[America/Chicago]"),
    ));
    assert_eq!(reasons(&decision), ["state.AL.sunday"]);
}

#[test]
fn hawaii_keeps_its_own_clock() {
    // Honolulu has no daylight saving: the window is 18:00-07:00 UTC all year.
    check(
        &of("+1 808 555 0199"),
        &[
            (
                "2026-03-08 07:30[Pacific/Honolulu]",
                Some("2026-03-08 08:00[Pacific/Honolulu]"),
            ),
            (
                "2026-07-08 07:30[Pacific/Honolulu]",
                Some("2026-07-08 08:00[Pacific/Honolulu]"),
            ),
            ("2026-07-08 20:30[Pacific/Honolulu]", None),
        ],
    );
    let decision = decide(&ctx(&of("+1 808 555 0199"), utc("2026-07-08T17:30:00Z")));
    assert_eq!(
        verdict(&decision),
        Verdict::Defer(utc("2026-07-08T18:00:00Z"))
    );
}

#[test]
fn an_explicit_zone_adds_a_candidate_and_keeps_the_state() {
    // A Miami number living in Los Angeles: Florida's 08:00-20:00 binds in both zones, so
    // 11:00-20:00 Eastern.
    let location = locate(&Whereabouts {
        phone: Some(&phone("+1 305 555 0199")),
        time_zone: Some("America/Los_Angeles"),
        ..Whereabouts::default()
    });
    assert_eq!(
        location.basis,
        [LocationBasis::ExplicitTimeZone, LocationBasis::AreaCode]
    );
    check(
        &location,
        &[
            (
                "2026-06-03 10:00[America/New_York]",
                Some("2026-06-03 11:00[America/New_York]"),
            ),
            ("2026-06-03 11:00[America/New_York]", None),
            ("2026-06-03 19:59[America/New_York]", None),
            (
                "2026-06-03 20:00[America/New_York]",
                Some("2026-06-04 11:00[America/New_York]"),
            ),
        ],
    );
    let decision = decide(&ctx(&location, local("2026-06-03 10:00[America/New_York]")));
    assert_eq!(
        reasons(&decision),
        ["federal.quiet_hours", "state.FL.quiet_hours"]
    );

    // An explicit zone alone carries no state: federal only.
    let location = locate(&Whereabouts {
        time_zone: Some("America/Chicago"),
        ..Whereabouts::default()
    });
    check(
        &location,
        &[
            ("2026-03-15 08:00[America/Chicago]", None),
            (
                "2026-03-15 07:00[America/Chicago]",
                Some("2026-03-15 08:00[America/Chicago]"),
            ),
        ],
    );
}

#[test]
fn an_unknown_location_uses_the_intersection_over_all_of_the_us() {
    let toll_free = Phone::parse("+1 800 225 5288", "US").unwrap();
    let foreign = phone("+44 20 7946 0958");
    let empty = Location {
        candidates: Vec::new(),
        basis: vec![LocationBasis::Unknown],
    };
    for location in [
        locate(&Whereabouts {
            phone: Some(&toll_free),
            ..Whereabouts::default()
        }),
        locate(&Whereabouts {
            phone: Some(&foreign),
            ..Whereabouts::default()
        }),
        locate(&Whereabouts::default()),
        empty,
    ] {
        // Summer: Guam (a territory: US jurisdiction, UTC+10) opens at 22:00Z; the Eastern
        // states close at 20:00 Eastern (24:00Z). 2026-07-15 is a Wednesday.
        let table = [
            (
                "2026-07-15T17:00:00Z",
                Verdict::Defer(utc("2026-07-15T22:00:00Z")),
            ),
            // Honolulu is open from 18:00Z, Guam not yet.
            (
                "2026-07-15T18:00:00Z",
                Verdict::Defer(utc("2026-07-15T22:00:00Z")),
            ),
            ("2026-07-15T22:00:00Z", Verdict::Send),
            ("2026-07-15T23:59:00Z", Verdict::Send),
            (
                "2026-07-16T00:00:00Z",
                Verdict::Defer(utc("2026-07-16T22:00:00Z")),
            ),
            // Sundays are closed somewhere (AL, LA, MS), and Guam's Monday morning is still
            // Sunday there, so nowhere.
            (
                "2026-07-19T19:00:00Z",
                Verdict::Defer(utc("2026-07-20T22:00:00Z")),
            ),
            // Winter: Eastern closes at 01:00Z. 2026-01-14 is a Wednesday.
            (
                "2026-01-14T17:00:00Z",
                Verdict::Defer(utc("2026-01-14T22:00:00Z")),
            ),
            ("2026-01-15T00:30:00Z", Verdict::Send),
            (
                "2026-01-15T01:00:00Z",
                Verdict::Defer(utc("2026-01-15T22:00:00Z")),
            ),
        ];
        for (now, expected) in table {
            assert_eq!(
                verdict(&decide(&ctx(&location, utc(now)))),
                expected,
                "{now} {:?}",
                location.basis
            );
        }
    }
}

#[test]
fn suppression_blocks_all_but_the_opt_out_confirmation_and_help() {
    let location = of("+1 212 555 0199");
    let noon = local("2026-06-03 12:00[America/New_York]");
    let decision = decide(&Context {
        recipient: &SUPPRESSED,
        exemption: Exemption::None,
        purpose: Purpose::Transactional,
        ..ctx(&location, noon)
    });
    let Decision::Block { reasons: why } = decision else {
        panic!("an ordinary message to a suppressed person must be blocked");
    };
    assert_eq!(why.len(), 1);
    assert_eq!(why[0].rule, "suppression");
    assert_eq!(why[0].source, "47 CFR 64.1200(a)(10); CTIA");
    // HELP is answered "from anyone, subscribed or not" (CTIA); the opt-out confirmation goes to
    // the person who has just opted out. Both at any hour.
    for (exemption, rule) in [
        (
            Exemption::OptOutConfirmation,
            "exemption.opt_out_confirmation",
        ),
        (Exemption::HelpAnswer, "exemption.help_answer"),
    ] {
        let decision = decide(&Context {
            recipient: opted_out_at(local("2026-06-03 02:58[America/New_York]")),
            exemption,
            purpose: Purpose::Transactional,
            ..ctx(&location, local("2026-06-03 03:00[America/New_York]"))
        });
        assert_eq!(verdict(&decision), Verdict::Send, "{exemption:?}");
        assert_eq!(reasons(&decision), ["suppression", rule]);
    }
}

#[test]
fn exempt_answers_ignore_quiet_hours_but_never_carry_marketing() {
    let location = of("+1 214 555 0199");
    let sunday_night = local("2026-03-15 03:00[America/Chicago]");
    for exemption in [Exemption::HelpAnswer, Exemption::OptOutConfirmation] {
        for purpose in [Purpose::Transactional, Purpose::Informational] {
            let decision = decide(&Context {
                exemption,
                purpose,
                recipient: opted_out_at(sunday_night),
                ..ctx(&location, sunday_night)
            });
            assert_eq!(
                verdict(&decision),
                Verdict::Send,
                "{exemption:?} {purpose:?}"
            );
        }
        let decision = decide(&Context {
            exemption,
            purpose: Purpose::Marketing,
            ..ctx(&location, local("2026-03-16 12:00[America/Chicago]"))
        });
        assert_eq!(reasons(&decision), ["exemption.not_marketing"]);
        assert_eq!(verdict(&decision), Verdict::Block);
    }
}

#[test]
fn the_permit_records_what_was_decided() {
    let location = of("+1 212 555 0199");
    let now = local("2026-06-03 12:00[America/New_York]");
    let Decision::Send(permit) = decide(&Context {
        channel: Channel::Email,
        purpose: Purpose::Informational,
        to: "jane@example.com",
        ..ctx(&location, now)
    }) else {
        panic!("noon in New York is allowed");
    };
    assert_eq!(permit.to(), "jane@example.com");
    assert_eq!(permit.channel(), Channel::Email);
    assert_eq!(permit.purpose(), Purpose::Informational);
    assert_eq!(permit.decided_at(), now);
    let ids: Vec<_> = permit.reasons().iter().map(|r| r.rule).collect();
    assert_eq!(
        ids,
        [
            "suppression",
            "consent.prior_express",
            "federal.quiet_hours"
        ]
    );
    assert_eq!(
        permit.reasons()[2].detail,
        "12:00 (Wednesday) in America/New_York is inside 08:00-21:00"
    );
    // Debug output never shows the address.
    assert!(!format!("{permit:?}").contains("jane@"));
}

#[test]
fn deferral_across_the_spring_change() {
    // 2026-03-08 02:00 EST becomes 03:00 EDT. From Saturday 22:00 EST the next opening is
    // Sunday 08:00 EDT, which is 12:00Z (not 13:00Z, as "add a day" in EST would say).
    let location = of("+1 212 555 0199");
    for now in [
        "2026-03-07 22:00[America/New_York]",
        "2026-03-08 01:59[America/New_York]",
        "2026-03-08 03:00[America/New_York]",
    ] {
        assert_eq!(
            verdict(&decide(&ctx(&location, local(now)))),
            Verdict::Defer(utc("2026-03-08T12:00:00Z")),
            "{now}"
        );
    }
    // Split 850 on the change: 09:00 EDT (= 08:00 CDT) is 13:00Z.
    assert_eq!(
        verdict(&decide(&ctx(
            &of("+1 850 555 0199"),
            utc("2026-03-08T05:00:00Z")
        ))),
        Verdict::Defer(utc("2026-03-08T13:00:00Z"))
    );
    // Texas on the change day is a Sunday: noon CDT is 17:00Z.
    assert_eq!(
        verdict(&decide(&ctx(
            &of("+1 214 555 0199"),
            utc("2026-03-08T04:00:00Z")
        ))),
        Verdict::Defer(utc("2026-03-08T17:00:00Z"))
    );
}

#[test]
fn deferral_across_the_autumn_change() {
    // 2026-11-01 02:00 EDT becomes 01:00 EST: that night is 25 hours long. From Saturday 21:30
    // EDT (01:30Z) the next opening is Sunday 08:00 EST, 13:00Z.
    let location = of("+1 212 555 0199");
    for now in [
        "2026-10-31 21:30[America/New_York]",
        "2026-11-01 01:30-04:00[America/New_York]",
        "2026-11-01 01:30-05:00[America/New_York]",
    ] {
        assert_eq!(
            verdict(&decide(&ctx(&location, local(now)))),
            Verdict::Defer(utc("2026-11-01T13:00:00Z")),
            "{now}"
        );
    }
    // Guam does not change, New York does: the all-US window on Monday 2026-11-02 is
    // 08:00 ChST (22:00Z) to 20:00 EST (01:00Z).
    let unknown = Location::unknown();
    assert_eq!(
        verdict(&decide(&ctx(&unknown, utc("2026-11-02T00:30:00Z")))),
        Verdict::Defer(utc("2026-11-02T22:00:00Z"))
    );
    assert_eq!(
        verdict(&decide(&ctx(&unknown, utc("2026-11-03T00:30:00Z")))),
        Verdict::Send
    );
}

#[test]
fn an_impossible_combination_is_blocked() {
    // Kentucky's 10:00-21:00 in UTC and Nevada's 09:00-20:00 at UTC-12 never overlap.
    let candidate = |zone: &str, state: &str| Candidate {
        time_zone: TimeZone::get(zone).unwrap(),
        zone_name: zone.to_owned(),
        state: Some(state.to_owned()),
        country: Some("US".to_owned()),
    };
    let location = Location {
        candidates: vec![candidate("Etc/UTC", "KY"), candidate("Etc/GMT+12", "NV")],
        basis: vec![LocationBasis::AreaCode],
    };
    let decision = decide(&ctx(&location, utc("2026-06-03T12:00:00Z")));
    assert_eq!(verdict(&decision), Verdict::Block);
    assert_eq!(reasons(&decision).last(), Some(&"no_allowed_window"));
}

#[test]
fn account_emails_go_at_night_but_only_as_email_and_never_as_marketing() {
    let location = of("+1 214 555 0199");
    let sunday_night = local("2026-03-15 03:00[America/Chicago]");
    let email = decide(&Context {
        exemption: Exemption::AccountEmail,
        channel: Channel::Email,
        to: "olga@example.com",
        recipient: &SUPPRESSED,
        purpose: Purpose::Transactional,
        ..ctx(&location, sunday_night)
    });
    assert_eq!(verdict(&email), Verdict::Send);
    assert_eq!(reasons(&email), ["suppression", "exemption.account_email"]);
    let text = decide(&Context {
        exemption: Exemption::AccountEmail,
        channel: Channel::Sms,
        purpose: Purpose::Transactional,
        ..ctx(&location, local("2026-03-16 12:00[America/Chicago]"))
    });
    assert_eq!(verdict(&text), Verdict::Block);
    assert_eq!(reasons(&text), ["exemption.account_email_channel"]);
    let marketing = decide(&Context {
        exemption: Exemption::AccountEmail,
        channel: Channel::Email,
        to: "olga@example.com",
        purpose: Purpose::Marketing,
        ..ctx(&location, local("2026-03-16 12:00[America/Chicago]"))
    });
    assert_eq!(verdict(&marketing), Verdict::Block);
    // Without the exemption, the same email at night waits for the morning.
    let ordinary = decide(&Context {
        channel: Channel::Email,
        to: "olga@example.com",
        purpose: Purpose::Transactional,
        ..ctx(&location, sunday_night)
    });
    assert!(matches!(verdict(&ordinary), Verdict::Defer(_)));
}

/// Every state window of COMPLIANCE.md, restated here (not read from `rules.rs`, so that the
/// table in code is checked against the document): on a Wednesday, a minute before the window
/// waits for its opening, the opening and the last minute send, the closing waits for the next
/// morning.
#[test]
fn every_state_window_of_compliance_md() {
    let rows: &[(&str, &str, &str, u8, u8)] = &[
        ("FL", "+1 305 555 0199", "America/New_York", 8, 20),
        ("OK", "+1 405 555 0199", "America/Chicago", 8, 20),
        ("MD", "+1 410 555 0199", "America/New_York", 8, 20),
        ("TX", "+1 214 555 0199", "America/Chicago", 9, 21),
        ("WA", "+1 206 555 0199", "America/Los_Angeles", 8, 20),
        ("AL", "+1 205 555 0199", "America/Chicago", 8, 20),
        ("LA", "+1 504 555 0199", "America/Chicago", 8, 20),
        ("MS", "+1 601 555 0199", "America/Chicago", 8, 20),
        ("MA", "+1 617 555 0199", "America/New_York", 8, 20),
        ("NV", "+1 702 555 0199", "America/Los_Angeles", 9, 20),
        ("KY", "+1 502 555 0199", "America/New_York", 10, 21),
        ("MI", "+1 313 555 0199", "America/New_York", 9, 21),
        ("MN", "+1 612 555 0199", "America/Chicago", 9, 21),
        ("NM", "+1 505 555 0199", "America/Denver", 9, 21),
        ("CT", "+1 203 555 0199", "America/New_York", 9, 20),
    ];
    for (state, number, zone, from, until) in rows {
        let location = of(number);
        assert_eq!(location.states(), [*state], "{number}");
        let at = |day: u8, h: u8, m: u8| format!("2026-06-{day:02} {h:02}:{m:02}[{zone}]");
        let (open_now, open_next) = (at(3, *from, 0), at(4, *from, 0));
        check(
            &location,
            &[
                (&at(3, from - 1, 59), Some(&open_now)),
                (&open_now, None),
                (&at(3, until - 1, 59), None),
                (&at(3, *until, 0), Some(&open_next)),
            ],
        );
        let closed = decide(&ctx(&location, local(&at(3, *until, 0))));
        assert!(
            reasons(&closed).contains(&format!("state.{state}.quiet_hours").as_str())
                || *until == 21,
            "{state}: {:?}",
            reasons(&closed)
        );
    }
}
