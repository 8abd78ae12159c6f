//! `decide` latency, per call, as percentiles: `cargo bench -p leadline-compliance --bench decide`.
//!
//! Each scenario is timed call by call (`Instant` around one `decide`) over many calls after a
//! warm-up, and reported as p50/p99/p99.9/max in microseconds. The target (issue 4) is p99 at
//! most 10 µs. `locate` is timed separately: the engine calls it once per decision too.

// A benchmark binary: failing loudly on a broken scenario is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use compliance::{
    Cap, ConsentFact, Context, Decision, Exemption, Location, Policy, Recipient, Sent, Suppression,
    Whereabouts, decide, locate,
};
use domain::{Channel, Phone, Purpose, Timestamp};
use jiff::SignedDuration;
use jiff::civil::Time;

const WARM_UP: usize = 20_000;
const SAMPLES: usize = 200_000;

struct Scenario {
    name: &'static str,
    location: Location,
    now: Timestamp,
    purpose: Purpose,
    recipient: Recipient,
    policy: Policy,
    expect: &'static str,
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn phone(s: &str) -> Phone {
    Phone::parse(s, "US").unwrap()
}

fn consented() -> Recipient {
    Recipient {
        lead: true,
        consent: Purpose::ALL
            .into_iter()
            .map(|purpose| ConsentFact {
                purpose,
                granted: true,
                at: at("2026-01-01T00:00:00Z"),
                written: true,
            })
            .collect(),
        ..Recipient::default()
    }
}

fn busy(now: Timestamp) -> Recipient {
    Recipient {
        recent: (1..=5)
            .map(|h| Sent {
                at: now - SignedDuration::from_hours(h * 10),
                purpose: Purpose::Marketing,
            })
            .collect(),
        ..consented()
    }
}

fn strict() -> Policy {
    Policy {
        window: Some((
            Time::new(9, 0, 0, 0).unwrap(),
            Time::new(19, 0, 0, 0).unwrap(),
        )),
        caps: vec![
            Cap {
                limit: 10,
                window: SignedDuration::from_hours(24),
            },
            Cap {
                limit: 20,
                window: SignedDuration::from_hours(24 * 7),
            },
        ],
        texas_registration: true,
        postal_address: true,
    }
}

fn verdict(d: &Decision) -> &'static str {
    match d {
        Decision::Send(_) => "send",
        Decision::Defer { .. } => "defer",
        Decision::Block { .. } => "block",
    }
}

fn percentiles(mut samples: Vec<Duration>) -> [f64; 4] {
    samples.sort_unstable();
    let pick = |q: f64| {
        let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        samples[rank - 1].as_secs_f64() * 1e6
    };
    [pick(0.50), pick(0.99), pick(0.999), pick(1.0)]
}

fn main() {
    let noon_ny = at("2026-06-03T16:00:00Z");
    let night_ny = at("2026-06-04T02:30:00Z");
    let ny = phone("+1 212 555 0199");
    let split = phone("+1 850 555 0199");
    let scenarios = vec![
        Scenario {
            name: "send: one area code, consented lead",
            location: locate(&Whereabouts {
                phone: Some(&ny),
                ..Whereabouts::default()
            }),
            now: noon_ny,
            purpose: Purpose::Transactional,
            recipient: consented(),
            policy: Policy::default(),
            expect: "send",
        },
        Scenario {
            name: "send: split area code + ZIP + zone, caps, own window, marketing",
            location: locate(&Whereabouts {
                phone: Some(&split),
                time_zone: Some("America/Denver"),
                zip: Some("78701"),
                address: None,
            }),
            now: at("2026-06-03T19:00:00Z"),
            purpose: Purpose::Marketing,
            recipient: busy(at("2026-06-03T19:00:00Z")),
            policy: strict(),
            expect: "send",
        },
        Scenario {
            name: "defer: one area code at night",
            location: locate(&Whereabouts {
                phone: Some(&ny),
                ..Whereabouts::default()
            }),
            now: night_ny,
            purpose: Purpose::Transactional,
            recipient: consented(),
            policy: Policy::default(),
            expect: "defer",
        },
        Scenario {
            name: "defer: split area code + ZIP + zone at night, caps, own window",
            location: locate(&Whereabouts {
                phone: Some(&split),
                time_zone: Some("America/Denver"),
                zip: Some("78701"),
                address: None,
            }),
            now: night_ny,
            purpose: Purpose::Marketing,
            recipient: busy(night_ny),
            policy: strict(),
            expect: "defer",
        },
        Scenario {
            name: "send: unknown location (every US zone and state)",
            location: Location::unknown(),
            now: at("2026-06-03T23:00:00Z"),
            purpose: Purpose::Transactional,
            recipient: consented(),
            policy: Policy::default(),
            expect: "send",
        },
        Scenario {
            name: "defer: unknown location on a Sunday, caps (worst case search)",
            location: Location::unknown(),
            now: at("2026-06-07T16:00:00Z"),
            purpose: Purpose::Marketing,
            recipient: busy(at("2026-06-07T16:00:00Z")),
            policy: Policy {
                window: None,
                ..strict()
            },
            expect: "defer",
        },
        Scenario {
            name: "block: suppressed",
            location: locate(&Whereabouts {
                phone: Some(&ny),
                ..Whereabouts::default()
            }),
            now: noon_ny,
            purpose: Purpose::Marketing,
            recipient: Recipient {
                suppression: Some(Suppression {
                    reason: "opt_out".to_owned(),
                    since: at("2026-05-01T00:00:00Z"),
                }),
                ..consented()
            },
            policy: Policy::default(),
            expect: "block",
        },
    ];

    println!(
        "{:<68} {:>8} {:>8} {:>8} {:>8}",
        "decide (µs per call)", "p50", "p99", "p99.9", "max"
    );
    for s in &scenarios {
        let ctx = Context {
            now: s.now,
            channel: Channel::Sms,
            purpose: s.purpose,
            to: "+12125550199",
            location: &s.location,
            exemption: Exemption::None,
            recipient: &s.recipient,
            policy: &s.policy,
        };
        assert_eq!(verdict(&decide(&ctx)), s.expect, "{}", s.name);
        for _ in 0..WARM_UP {
            let _ = black_box(decide(black_box(&ctx)));
        }
        let mut samples = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let start = Instant::now();
            let d = decide(black_box(&ctx));
            samples.push(start.elapsed());
            let _ = black_box(d);
        }
        let [p50, p99, p999, max] = percentiles(samples);
        println!(
            "{:<68} {p50:>8.2} {p99:>8.2} {p999:>8.2} {max:>8.1}",
            s.name
        );
    }

    let inputs = [
        ("locate: one area code", Some(ny.clone()), None, None),
        (
            "locate: split area code + ZIP + zone",
            Some(split.clone()),
            Some("78701"),
            Some("America/Denver"),
        ),
    ];
    for (name, phone, zip, zone) in inputs {
        let w = Whereabouts {
            phone: phone.as_ref(),
            time_zone: zone,
            zip,
            address: None,
        };
        for _ in 0..WARM_UP {
            black_box(locate(black_box(&w)));
        }
        let mut samples = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let start = Instant::now();
            let l = locate(black_box(&w));
            samples.push(start.elapsed());
            black_box(l);
        }
        let [p50, p99, p999, max] = percentiles(samples);
        println!("{name:<68} {p50:>8.2} {p99:>8.2} {p999:>8.2} {max:>8.1}");
    }
}
