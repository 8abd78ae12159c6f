//! Decisions: may this message go now, and if not, when, or never. `decide` is the only maker
//! of `SendPermit`.

use std::fmt;

use domain::{Channel, Purpose, Timestamp};
use jiff::SignedDuration;

use crate::location::{self, Location};
use crate::quiet_hours;
use crate::rules::{self, Check};

/// How far ahead `decide` looks for an allowed instant before it calls the combination impossible.
pub const HORIZON: SignedDuration = SignedDuration::from_hours(14 * 24);

/// An answer that the rules let through at any hour because it answers the person's own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Exemption {
    /// An ordinary message: every rule applies.
    #[default]
    None,
    /// The answer to HELP/INFO: ignores quiet hours and suppression, since CTIA has HELP answered
    /// "from anyone, subscribed or not". It carries no marketing.
    HelpAnswer,
    /// The one confirmation of an opt-out: ignores quiet hours and suppression, since it goes to a
    /// person who has just been suppressed.
    OptOutConfirmation,
    /// An email about the recipient's own Leadline account (password reset, invitation): to a
    /// user, not a lead, so it ignores quiet hours and the organisation's lead suppression list.
    /// Email only, never marketing.
    AccountEmail,
}

/// Everything `decide` needs about one outbound message.
pub struct Context<'a> {
    /// Business time, from the injected clock.
    pub now: Timestamp,
    pub channel: Channel,
    pub purpose: Purpose,
    /// E.164 phone or email address; recorded in the permit.
    pub to: &'a str,
    /// The store says this address or person is on the organisation's suppression list.
    pub suppressed: bool,
    pub location: &'a Location,
    pub exemption: Exemption,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("channel", &self.channel)
            .field("purpose", &self.purpose)
            .field("to", &domain::mask::address(self.to))
            .field("suppressed", &self.suppressed)
            .field("location", &self.location)
            .field("exemption", &self.exemption)
            .finish()
    }
}

/// What `decide` says.
#[derive(Debug)]
#[must_use]
pub enum Decision {
    /// Send now; the permit is the proof.
    Send(SendPermit),
    /// Not now; `until` is the earliest instant every rule allows. `reasons` are the rules that
    /// forbid `now`.
    Defer {
        until: Timestamp,
        reasons: Vec<Reason>,
    },
    /// Not at all (or not within `HORIZON`).
    Block { reasons: Vec<Reason> },
}

/// One rule's verdict, for the record and for people.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reason {
    /// The rule's id: `suppression`, `federal.quiet_hours`, `state.TX.sunday`, ...
    pub rule: &'static str,
    /// Its legal source.
    pub source: &'static str,
    /// What was found: "21:30 (Tuesday) in America/New_York is outside 08:00-21:00".
    pub detail: String,
}

impl Reason {
    fn of(check: Check, detail: impl Into<String>) -> Self {
        Reason {
            rule: check.id,
            source: check.source,
            detail: detail.into(),
        }
    }
}

/// Proof that `decide` allowed this message. It has no public constructor and is neither `Clone`
/// nor `Deserialize`: the only way to get one is `decide` returning `Send`, so a sender that takes
/// a `SendPermit` cannot be called without the check.
///
/// It cannot be built by hand:
/// ```compile_fail
/// let forged = compliance::SendPermit {
///     to: "+12125550199".to_owned(),
///     channel: domain::Channel::Sms,
///     purpose: domain::Purpose::Marketing,
///     decided_at: jiff::Timestamp::UNIX_EPOCH,
///     reasons: Vec::new(),
/// };
/// ```
/// nor copied to send twice:
/// ```compile_fail
/// fn twice(permit: &compliance::SendPermit) -> compliance::SendPermit {
///     permit.clone()
/// }
/// ```
#[must_use]
pub struct SendPermit {
    to: String,
    channel: Channel,
    purpose: Purpose,
    decided_at: Timestamp,
    reasons: Vec<Reason>,
}

impl SendPermit {
    /// The address the permit is for; the sender must send to this one and no other.
    pub fn to(&self) -> &str {
        &self.to
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The instant the permit was decided for (the context's `now`).
    pub fn decided_at(&self) -> Timestamp {
        self.decided_at
    }

    /// The rules that were checked and passed, for the audit record.
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }
}

impl fmt::Debug for SendPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendPermit")
            .field("to", &domain::mask::address(&self.to))
            .field("channel", &self.channel)
            .field("purpose", &self.purpose)
            .field("decided_at", &self.decided_at)
            .field("reasons", &self.reasons)
            .finish()
    }
}

/// Decides whether the message described by `ctx` may go at `ctx.now`.
///
/// In order:
/// 1. Suppression: a suppressed recipient gets nothing but the opt-out confirmation and the HELP
///    answer (`Block`).
/// 2. Exemptions: the HELP answer and the opt-out confirmation go at once, whatever the hour; they
///    must not be marketing (`Block` if they claim to be).
/// 3. Quiet hours, for every purpose and both channels: the federal window and each candidate
///    state's window and day rules, in each candidate's local time. Inside all of them: `Send`.
///    Otherwise `Defer` to the earliest instant inside all of them, or `Block` with
///    `no_allowed_window` when there is none within [`HORIZON`].
pub fn decide(ctx: &Context<'_>) -> Decision {
    let mut checked = Vec::new();

    if ctx.suppressed {
        if ctx.exemption == Exemption::None {
            return Decision::Block {
                reasons: vec![Reason::of(
                    rules::SUPPRESSION,
                    "the recipient is on the organisation's suppression list",
                )],
            };
        }
        checked.push(Reason::of(
            rules::SUPPRESSION,
            "on the suppression list; only the opt-out confirmation, a HELP answer or an account email may go",
        ));
    } else {
        checked.push(Reason::of(
            rules::SUPPRESSION,
            "not on the suppression list",
        ));
    }

    if ctx.exemption == Exemption::AccountEmail && ctx.channel != Channel::Email {
        return Decision::Block {
            reasons: vec![Reason::of(
                rules::ACCOUNT_EMAIL_IS_EMAIL,
                "an account message can only be an email",
            )],
        };
    }
    let exempt = match ctx.exemption {
        Exemption::None => None,
        Exemption::HelpAnswer => Some(rules::HELP_ANSWER),
        Exemption::OptOutConfirmation => Some(rules::OPT_OUT_CONFIRMATION),
        Exemption::AccountEmail => Some(rules::ACCOUNT_EMAIL),
    };
    if let Some(check) = exempt {
        if ctx.purpose == Purpose::Marketing {
            return Decision::Block {
                reasons: vec![Reason::of(
                    rules::EXEMPT_NOT_MARKETING,
                    "an exempt answer (HELP answer, opt-out confirmation) cannot carry marketing",
                )],
            };
        }
        let why = if ctx.exemption == Exemption::AccountEmail {
            "an email about the person's own account: quiet hours do not apply"
        } else {
            "answers the person's own message: quiet hours do not apply"
        };
        checked.push(Reason::of(check, why));
        return Decision::Send(permit(ctx, checked));
    }

    // An empty location is "unknown", never "anywhere".
    let candidates = if ctx.location.candidates.is_empty() {
        location::all_us_candidates()
    } else {
        ctx.location.candidates.as_slice()
    };
    let zones = quiet_hours::binding_rules(candidates, ctx.purpose);
    let violated = quiet_hours::violations(&zones, ctx.now);
    if violated.is_empty() {
        checked.extend(quiet_hours::passed(&zones, ctx.now));
        return Decision::Send(permit(ctx, checked));
    }

    let horizon_end = ctx.now.saturating_add(HORIZON).unwrap_or(Timestamp::MAX);
    match quiet_hours::earliest_allowed(&zones, ctx.now, horizon_end) {
        Some(until) => Decision::Defer {
            until,
            reasons: violated,
        },
        None => {
            let mut reasons = violated;
            reasons.push(Reason::of(
                rules::NO_ALLOWED_WINDOW,
                format!(
                    "no instant in the {} days from {} is inside every window of every candidate location",
                    HORIZON.as_hours() / 24,
                    ctx.now
                ),
            ));
            Decision::Block { reasons }
        }
    }
}

fn permit(ctx: &Context<'_>, reasons: Vec<Reason>) -> SendPermit {
    SendPermit {
        to: ctx.to.to_owned(),
        channel: ctx.channel,
        purpose: ctx.purpose,
        decided_at: ctx.now,
        reasons,
    }
}
