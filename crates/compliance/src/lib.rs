//! # leadline-compliance
//!
//! The policy engine: where the recipient may be, which rules apply, may this message go now, and
//! if not, when. Pure: no I/O, no clock, no async. The caller passes `now` from the injected
//! `domain::Clock` and the facts the store knows (suppression); this crate answers with a
//! [`Decision`]. The rules come from `/shared/COMPLIANCE.md`; Leadline is not legal advice.
//!
//! ## The model
//!
//! 1. **Location** ([`locate`]). A recipient may be in several places at once, as far as Leadline
//!    knows: every zone of the phone's NANP area code (a split code such as 850 has two), the
//!    lead's explicit IANA time zone, or, when nothing is known (no phone, a toll-free or unknown
//!    area code, a non-NANP number), every US zone with every state in it. Each place is a
//!    [`Candidate`]: a time zone plus the US state whose law is presumed to apply. The area
//!    code's state always binds, also in an explicit zone, because numbers keep their area code
//!    when people move and FL and OK presume residence by area code. The area-code table
//!    (`data/nanp-area-codes.csv`, provenance in `data/PROVENANCE.md`) is embedded and parsed
//!    once.
//! 2. **Rules** ([`rules`]). A reviewable table of rows, each with an id, a legal source, where it
//!    binds (federal: every candidate; state: candidates in that state), the purposes it binds, and
//!    a limit in local wall-clock time: a window `[from, until)` on some weekdays, or "none on"
//!    some weekdays. Today: the federal 08:00-21:00 window and the state windows and Sunday rules
//!    of COMPLIANCE.md (FL, OK, MD, TX, WA, AL, LA, MS, MA, NV, KY, MI, MN, NM, CT).
//! 3. **Decision** ([`decide`]). Suppression first (only the opt-out confirmation passes it), then
//!    the exemptions (the HELP answer and the opt-out confirmation ignore quiet hours), then quiet
//!    hours for every purpose and both channels: the message goes only when `now` is inside every
//!    window of every candidate. Otherwise it is deferred to the earliest instant that is, found
//!    with the IANA time-zone database (daylight saving included; days are not assumed to be 24
//!    hours), or blocked with `no_allowed_window` when no instant within 14 days is. Every
//!    decision carries [`Reason`]s naming the rule, its source and what was found.
//! 4. **Proof** ([`SendPermit`]). `Send` carries a permit that only `decide` can make, so a
//!    provider call that takes a permit cannot happen without the check.
//! 5. **Keywords** ([`words`]). Whole-message STOP/START/HELP classification of inbound texts.
//!
//! ## Not enforced yet
//!
//! Later issues add rows and checks to this crate; none of these are enforced by it today:
//! - state frequency caps (FL, OK, MD: 3 per 24 h) and organisation caps;
//! - written consent for marketing and consent/relationship expiry (the national-DNC inquiry and
//!   transaction windows, and the state ones);
//! - the national DNC registry check and the 31-day snapshot age;
//! - the Texas registration gate for marketing texts;
//! - AL and LA state holidays (only their Sunday rule is applied);
//! - state from an address or ZIP (an explicit zone alone carries no state);
//! - an organisation's own stricter window;
//! - moving a reminder to the latest allowed instant *before* it (the engine's scheduling);
//! - "please stop texting me"-style revocations in free text;
//! - at most one opt-out confirmation within 5 minutes (the caller must track that it sends only
//!   one; `decide` trusts the `Exemption` it is given, but refuses it for marketing).

pub mod decision;
pub mod location;
mod quiet_hours;
pub mod rules;
pub mod words;

pub use decision::{
    BindingCap, Cap, ConsentFact, Context, Decision, Exemption, HORIZON, Policy, Reason, Recipient,
    Registry, SendPermit, Sent, Suppression, decide, relationship_until,
};
pub use location::{
    AreaCodeInfo, Candidate, Location, LocationBasis, Whereabouts, address_region, area_code_info,
    locate, zip_region,
};
pub use words::{Keyword, classify, revocation};
