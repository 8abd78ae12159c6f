//! Decisions: may this message go now, and if not, when, or never. `decide` is the only maker
//! of `SendPermit`.

use std::fmt;

use domain::{Channel, Purpose, Timestamp};
use jiff::SignedDuration;
use jiff::civil::Time;

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
    pub location: &'a Location,
    pub exemption: Exemption,
    /// What the organisation's records say about the person.
    pub recipient: &'a Recipient,
    /// The organisation's own rules.
    pub policy: &'a Policy,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("channel", &self.channel)
            .field("purpose", &self.purpose)
            .field("to", &domain::mask::address(self.to))
            .field("location", &self.location)
            .field("exemption", &self.exemption)
            .field("recipient", &self.recipient)
            .field("policy", &self.policy)
            .finish()
    }
}

/// What the organisation's records say about the recipient, gathered by the caller before
/// `decide` (one store read). `Recipient::default()` is a stranger: no lead, no consent, no
/// registry check needed or possible.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    /// The address, or another address of the same person, is suppressed (an opt-out, the
    /// internal do-not-call list, a bounce, ...).
    pub suppression: Option<Suppression>,
    /// The address belongs to a lead of the organisation: the person gave it in an inquiry,
    /// which is prior express consent for transactional and informational messages.
    pub lead: bool,
    /// The latest consent event for each purpose that has one.
    pub consent: Vec<ConsentFact>,
    /// The person's latest inquiry (a form, an API intake, a reply).
    pub inquiry_at: Option<Timestamp>,
    /// The person's latest transaction (a purchase, a kept appointment).
    pub transaction_at: Option<Timestamp>,
    /// The national do-not-call registry, for a phone number.
    pub registry: Registry,
    /// Automated messages to this person (on any of the organisation's numbers and addresses)
    /// sent or in flight within the longest cap window before `now`.
    pub recent: Vec<Sent>,
    /// For the opt-out confirmation: when the opt-out it answers arrived.
    pub answering: Option<Timestamp>,
}

/// Why and since when a person is suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// `opt_out`, `dnc`, `bounce`, `provider:21610`, ...
    pub reason: String,
    pub since: Timestamp,
}

/// The latest consent event for one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentFact {
    pub purpose: Purpose,
    pub granted: bool,
    pub at: Timestamp,
    /// A grant with written evidence (the disclosure text shown, who, when, where).
    pub written: bool,
}

/// What the national do-not-call registry says about a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Registry {
    /// Not a phone number: the registry does not apply.
    #[default]
    NotApplicable,
    /// The organisation has imported no snapshot.
    NoSnapshot,
    /// The latest snapshot (taken at `taken_at`) lists the number, or not.
    Snapshot { taken_at: Timestamp, listed: bool },
}

/// One message already sent (or in flight) to the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub at: Timestamp,
    pub purpose: Purpose,
}

/// The organisation's own rules: stricter than the law, never looser (they only add
/// restrictions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// A daily window `[from, until)` in the recipient's local time, for every message quiet
    /// hours bind.
    pub window: Option<(Time, Time)>,
    /// Caps on automated messages to one person, each in its own rolling window.
    pub caps: Vec<Cap>,
    /// The organisation holds a Texas telephone-solicitation registration (or an exemption).
    pub texas_registration: bool,
    /// The organisation has a physical postal address for its marketing emails.
    pub postal_address: bool,
}

/// At most `limit` automated messages to one person per rolling `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub limit: u32,
    pub window: SignedDuration,
}

impl Recipient {
    fn consent_for(&self, purpose: Purpose) -> Option<&ConsentFact> {
        self.consent.iter().find(|c| c.purpose == purpose)
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
    caps: Vec<BindingCap>,
}

impl SendPermit {
    /// The frequency caps that bound this message, for the store to hold again when it records
    /// the message.
    pub fn caps(&self) -> &[BindingCap] {
        &self.caps
    }

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
/// 1. Exemptions: the HELP answer, the opt-out confirmation (within five minutes of the opt-out)
///    and account emails go at once, whatever the hour and even to a suppressed person; they
///    must not be marketing.
/// 2. Gates, each of which blocks for good (every failing one is named): suppression; consent
///    (a revocation of the purpose; written consent for marketing; prior express consent for
///    the rest); for marketing, the Texas registration (texts to a Texas candidate), the postal
///    address (emails) and the national do-not-call registry (texts to a number no written
///    consent or live relationship exempts, with a snapshot no older than 31 days).
/// 3. Time: the federal window, each candidate state's windows and day rules, and the
///    organisation's window, in each candidate's local time; the state caps (marketing) and the
///    organisation's caps (every automated message). Inside all of them: `Send`. Otherwise
///    `Defer` to the earliest instant at which every cap has room again and every window is
///    open, or `Block` with `no_allowed_window` when there is none within [`HORIZON`].
pub fn decide(ctx: &Context<'_>) -> Decision {
    let mut checked = Vec::new();
    if ctx.exemption != Exemption::None {
        return exempt(ctx, checked);
    }

    let mut blocks = Vec::new();
    match &ctx.recipient.suppression {
        Some(s) => blocks.push(Reason::of(
            rules::SUPPRESSION,
            format!(
                "on the organisation's suppression list since {} ({})",
                s.since, s.reason
            ),
        )),
        None => checked.push(Reason::of(
            rules::SUPPRESSION,
            "not on the suppression list",
        )),
    }
    consent(ctx, &mut checked, &mut blocks);

    // An empty location is "unknown", never "anywhere"; "unknown" is always the whole US.
    let unknown = ctx.location.candidates.is_empty()
        || ctx.location.basis == [location::LocationBasis::Unknown];
    let candidates = if unknown {
        location::all_us_candidates()
    } else {
        ctx.location.candidates.as_slice()
    };
    let marketing = ctx.purpose == Purpose::Marketing;
    if marketing && ctx.channel == Channel::Sms {
        let texas = candidates.iter().any(|c| c.state.as_deref() == Some("TX"));
        match (texas, ctx.policy.texas_registration) {
            (false, _) => {}
            (true, true) => checked.push(Reason::of(
                rules::TX_REGISTRATION,
                "the recipient may be in Texas; the organisation holds a registration or exemption",
            )),
            (true, false) => blocks.push(Reason::of(
                rules::TX_REGISTRATION,
                "the recipient may be in Texas and the organisation has no Texas registration or exemption on file",
            )),
        }
        registry(ctx, candidates, &mut checked, &mut blocks);
    }
    if marketing && ctx.channel == Channel::Email {
        if ctx.policy.postal_address {
            checked.push(Reason::of(
                rules::POSTAL_ADDRESS,
                "the organisation's postal address goes in the email",
            ));
        } else {
            blocks.push(Reason::of(
                rules::POSTAL_ADDRESS,
                "the organisation has no postal address for its marketing emails",
            ));
        }
    }
    if !blocks.is_empty() {
        return Decision::Block { reasons: blocks };
    }

    let zones = quiet_hours::binding_rules(candidates, unknown, ctx.purpose, ctx.policy.window);
    let locals = quiet_hours::local_times(&zones, ctx.now);
    let mut violated = quiet_hours::violations(&zones, &locals);
    let (cap_release, cap_reasons, binding_caps) = caps(ctx, candidates);
    let capped = !cap_reasons.is_empty();
    violated.extend(cap_reasons);
    if violated.is_empty() {
        checked.extend(quiet_hours::passed(&zones, &locals));
        let mut permit = permit(ctx, checked);
        permit.caps = binding_caps;
        return Decision::Send(permit);
    }

    let from = cap_release.max(ctx.now);
    let horizon_end = ctx.now.saturating_add(HORIZON).unwrap_or(Timestamp::MAX);
    let until = if from > horizon_end {
        None
    } else {
        quiet_hours::earliest_allowed(&zones, from, horizon_end)
    };
    match until {
        Some(until) => Decision::Defer {
            until,
            reasons: violated,
        },
        None => {
            let mut reasons = violated;
            reasons.push(Reason::of(
                rules::NO_ALLOWED_WINDOW,
                format!(
                    "no instant in the {} days from {} is inside every window of every candidate location{}",
                    HORIZON.as_hours() / 24,
                    ctx.now,
                    if capped { " with room under every cap" } else { "" }
                ),
            ));
            Decision::Block { reasons }
        }
    }
}

/// The exempt answers: at once, to anyone, never marketing.
fn exempt(ctx: &Context<'_>, mut checked: Vec<Reason>) -> Decision {
    if let Some(s) = &ctx.recipient.suppression {
        checked.push(Reason::of(
            rules::SUPPRESSION,
            format!(
                "on the suppression list ({}); only the opt-out confirmation, a HELP answer or an account email may go",
                s.reason
            ),
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
    if ctx.purpose == Purpose::Marketing {
        return Decision::Block {
            reasons: vec![Reason::of(
                rules::EXEMPT_NOT_MARKETING,
                "an exempt answer (HELP answer, opt-out confirmation) cannot carry marketing",
            )],
        };
    }
    let (check, why) = match ctx.exemption {
        Exemption::HelpAnswer => (
            rules::HELP_ANSWER,
            "answers the person's own message: quiet hours do not apply",
        ),
        Exemption::OptOutConfirmation => {
            let deadline = ctx
                .recipient
                .answering
                .and_then(|at| at.checked_add(rules::CONFIRMATION_WINDOW).ok());
            match deadline {
                Some(deadline) if ctx.now <= deadline => {}
                Some(deadline) => {
                    return Decision::Block {
                        reasons: vec![Reason::of(
                            rules::OPT_OUT_CONFIRMATION_WINDOW,
                            format!(
                                "the confirmation was due by {deadline}; it is now {}",
                                ctx.now
                            ),
                        )],
                    };
                }
                None => {
                    return Decision::Block {
                        reasons: vec![Reason::of(
                            rules::OPT_OUT_CONFIRMATION_WINDOW,
                            "a confirmation must answer an opt-out, and none is given",
                        )],
                    };
                }
            }
            (
                rules::OPT_OUT_CONFIRMATION,
                "answers the person's own opt-out within five minutes: quiet hours do not apply",
            )
        }
        // `None` never reaches here (`decide` checks the exemption first).
        Exemption::AccountEmail | Exemption::None => (
            rules::ACCOUNT_EMAIL,
            "an email about the person's own account: quiet hours do not apply",
        ),
    };
    checked.push(Reason::of(check, why));
    Decision::Send(permit(ctx, checked))
}

/// Consent for the purpose: a revocation blocks; marketing needs written consent; the rest need
/// prior express consent (a lead's own address, or a grant).
fn consent(ctx: &Context<'_>, checked: &mut Vec<Reason>, blocks: &mut Vec<Reason>) {
    let fact = ctx.recipient.consent_for(ctx.purpose);
    let purpose = ctx.purpose.as_str();
    if let Some(f) = fact.filter(|f| !f.granted) {
        blocks.push(Reason::of(
            rules::CONSENT_REVOKED,
            format!("consent to {purpose} messages was revoked at {}", f.at),
        ));
        return;
    }
    if ctx.purpose == Purpose::Marketing {
        match fact {
            Some(f) if f.written => checked.push(Reason::of(
                rules::CONSENT_WRITTEN,
                format!("written consent to marketing given at {}", f.at),
            )),
            _ if !ctx.recipient.lead => blocks.push(Reason::of(
                rules::CONSENT_WRITTEN,
                "no lead of the organisation has this address, so there is no written consent to marketing",
            )),
            _ => blocks.push(Reason::of(
                rules::CONSENT_WRITTEN,
                "the lead has no written consent to marketing on record",
            )),
        }
        return;
    }
    match fact {
        Some(f) => checked.push(Reason::of(
            rules::CONSENT_PRIOR_EXPRESS,
            format!("consent to {purpose} messages given at {}", f.at),
        )),
        None if ctx.recipient.lead => checked.push(Reason::of(
            rules::CONSENT_PRIOR_EXPRESS,
            "the person gave this address in their own inquiry",
        )),
        None => blocks.push(Reason::of(
            rules::CONSENT_PRIOR_EXPRESS,
            "no lead of the organisation has this address and no consent is on record",
        )),
    }
}

/// The national registry, for a marketing text: written consent or a live relationship exempts
/// the number; otherwise it must be absent from a snapshot no older than 31 days.
fn registry(
    ctx: &Context<'_>,
    candidates: &[location::Candidate],
    checked: &mut Vec<Reason>,
    blocks: &mut Vec<Reason>,
) {
    let written = ctx
        .recipient
        .consent_for(Purpose::Marketing)
        .is_some_and(|f| f.granted && f.written);
    if written {
        checked.push(Reason::of(
            rules::NATIONAL_DNC,
            "written consent exempts the number from the registry",
        ));
        return;
    }
    if let Some(until) = relationship_until(ctx.recipient, candidates)
        && ctx.now <= until
    {
        checked.push(Reason::of(
            rules::NATIONAL_DNC,
            format!("an established business relationship exempts the number until {until}"),
        ));
        return;
    }
    match ctx.recipient.registry {
        Registry::NotApplicable => {}
        Registry::NoSnapshot => blocks.push(Reason::of(
            rules::NATIONAL_DNC_SNAPSHOT,
            "no national registry snapshot has been imported, and nothing exempts the number",
        )),
        Registry::Snapshot { taken_at, listed } => {
            let stale = taken_at
                .checked_add(rules::SNAPSHOT_MAX_AGE)
                .is_ok_and(|fresh_until| ctx.now > fresh_until);
            if stale {
                blocks.push(Reason::of(
                    rules::NATIONAL_DNC_SNAPSHOT,
                    format!("the registry snapshot of {taken_at} is older than 31 days, and nothing exempts the number"),
                ));
            } else if listed {
                blocks.push(Reason::of(
                    rules::NATIONAL_DNC,
                    format!("the number is on the national registry (snapshot of {taken_at}) and nothing exempts it"),
                ));
            } else {
                checked.push(Reason::of(
                    rules::NATIONAL_DNC,
                    format!("the number is not on the national registry (snapshot of {taken_at})"),
                ));
            }
        }
    }
}

/// Until when the person's inquiry or transaction exempts the number from the registry: the
/// shortest term of the federal row and of every candidate state's row.
pub fn relationship_until(
    recipient: &Recipient,
    candidates: &[location::Candidate],
) -> Option<Timestamp> {
    let binding = rules::RELATIONSHIPS
        .iter()
        .filter(|row| match row.jurisdiction {
            rules::Jurisdiction::Federal => true,
            rules::Jurisdiction::State(code) => {
                candidates.iter().any(|c| c.state.as_deref() == Some(code))
            }
        });
    let mut inquiry_end = recipient.inquiry_at.map(|_| Timestamp::MAX);
    let mut transaction_end = recipient.transaction_at.map(|_| Timestamp::MAX);
    for row in binding {
        if let Some(at) = recipient.inquiry_at {
            let end = row.inquiry.end(at);
            inquiry_end = inquiry_end.and_then(|e| end.map(|x| x.min(e)));
        }
        if let (Some(at), Some(term)) = (recipient.transaction_at, row.transaction) {
            let end = term.end(at);
            transaction_end = transaction_end.and_then(|e| end.map(|x| x.min(e)));
        }
    }
    inquiry_end.max(transaction_end)
}

/// The caps that are full at `now`, and the instant at which all of them have room again.
/// A cap that binds a message: at most `limit` messages to the person in the `window` before it,
/// counting only marketing ones when `marketing_only`. The permit carries them, so that the store
/// can hold them again at the moment the message is recorded (instants deciding at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingCap {
    pub limit: u32,
    pub window: SignedDuration,
    pub marketing_only: bool,
}

fn caps(
    ctx: &Context<'_>,
    candidates: &[location::Candidate],
) -> (Timestamp, Vec<Reason>, Vec<BindingCap>) {
    let mut release = ctx.now;
    let mut reasons = Vec::new();
    let mut binding = Vec::new();
    let mut apply = |check: Check,
                     limit: u32,
                     window: SignedDuration,
                     counted: &dyn Fn(Purpose) -> bool,
                     what: &str,
                     marketing_only: bool| {
        binding.push(BindingCap {
            limit,
            window,
            marketing_only,
        });
        let Ok(since) = ctx.now.checked_sub(window) else {
            return;
        };
        let mut inside: Vec<Timestamp> = ctx
            .recipient
            .recent
            .iter()
            .filter(|s| s.at > since && s.at <= ctx.now && counted(s.purpose))
            .map(|s| s.at)
            .collect();
        if inside.len() < limit as usize {
            return;
        }
        inside.sort_unstable();
        // Room again once all but `limit - 1` of them have left the window.
        let oldest_to_leave = inside[inside.len() - limit as usize];
        if let Ok(free) = oldest_to_leave.checked_add(window) {
            release = release.max(free);
        }
        reasons.push(Reason::of(
            check,
            format!(
                "{} {what} in the {} hours before {}; the limit is {limit}",
                inside.len(),
                window.as_hours(),
                ctx.now
            ),
        ));
    };
    if ctx.purpose == Purpose::Marketing {
        for cap in rules::CAPS {
            if candidates
                .iter()
                .any(|c| c.state.as_deref() == Some(cap.state))
            {
                apply(
                    Check {
                        id: cap.id,
                        source: cap.source,
                    },
                    cap.limit,
                    cap.window,
                    &|p| cap.applies_to.contains(&p),
                    "marketing messages",
                    cap.applies_to == [Purpose::Marketing],
                );
            }
        }
    }
    for cap in &ctx.policy.caps {
        apply(
            rules::ORGANISATION_CAP,
            cap.limit,
            cap.window,
            &|_| true,
            "automated messages",
            false,
        );
    }
    (release, reasons, binding)
}

fn permit(ctx: &Context<'_>, reasons: Vec<Reason>) -> SendPermit {
    SendPermit {
        caps: Vec::new(),
        to: ctx.to.to_owned(),
        channel: ctx.channel,
        purpose: ctx.purpose,
        decided_at: ctx.now,
        reasons,
    }
}
