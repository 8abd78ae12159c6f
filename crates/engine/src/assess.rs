//! What the engine tells `compliance::decide`: the recipient's facts from the store (one read),
//! the lead's consent ledger, where they may be, and the organisation's own rules. Every send
//! and every dry run (`POST /api/v1/compliance/check`) goes through [`Engine::assess`], so the
//! answer a person is shown is the answer a real send would get.
//!
//! Also the one-click unsubscribe links of marketing emails (RFC 8058): a token that names the
//! organisation and the message, signed with the key ring's token key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use compliance::{
    Cap, ConsentFact, Context, Decision, Location, Policy, Recipient, Registry, Sent, Suppression,
    Whereabouts, decide, locate,
};
use crypto::Cipher;
use domain::{
    Address, Channel, ConsentEvent, ConsentKind, Lead, LeadStatus, MessageId, Purpose, TenantId,
    Timestamp,
};
use jiff::SignedDuration;
use jiff::civil::Time;
use store::{ComplianceSettings, DbError};

use crate::Engine;
use crate::dispatch::Outgoing;

/// The consent event source of the person's own text: an opt-out, or a re-subscription (START,
/// UNSTOP, YES).
pub const REPLY_SOURCE: &str = "inbound_sms";

/// The consent event source of a dismissed review: the free text was not an opt-out after all.
pub const REVIEW_SOURCE: &str = "compliance_review";

/// Grants that restore what the person had before, rather than bring new written evidence.
const RESTORING: &[&str] = &[REPLY_SOURCE, REVIEW_SOURCE];

/// The longest window facts are read over: the state caps' 24 hours, or an organisation cap's.
const STATE_CAP_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// Everything a decision was made from, for the dry run and the lead's compliance view.
#[derive(Debug)]
pub struct Assessment {
    pub decision: Decision,
    pub location: Location,
    pub recipient: Recipient,
    pub policy: Policy,
    /// The lead that owns the address, if any.
    pub lead: Option<Lead>,
    /// Whether the message would be the first to this person since they subscribed (it must
    /// name the brand and say how to stop).
    pub first_message: bool,
    /// The name messages sign with.
    pub brand: String,
    /// The organisation's postal address, for marketing emails.
    pub postal_address: Option<String>,
}

/// Where unsubscribe links point and what signs them.
#[derive(Clone)]
pub struct Links {
    /// `https://leads.example.com`, no trailing slash.
    pub base_url: String,
    pub cipher: Cipher,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

const UNSUBSCRIBE: &str = "unsubscribe";

impl Links {
    /// The one-click unsubscribe URL of one message.
    pub fn unsubscribe_url(&self, tenant: TenantId, message: MessageId) -> String {
        let mut body = Vec::with_capacity(64);
        body.extend_from_slice(tenant.as_uuid().as_bytes());
        body.extend_from_slice(message.as_uuid().as_bytes());
        let tag = self.cipher.sign(UNSUBSCRIBE, &body);
        body.extend_from_slice(&tag);
        format!("{}/u/{}", self.base_url, URL_SAFE_NO_PAD.encode(body))
    }
}

/// The organisation and message an unsubscribe token names, if its signature holds. Tokens do
/// not expire: CAN-SPAM wants the link to work for at least 30 days, and a person may find an
/// old email.
pub fn verify_unsubscribe(cipher: &Cipher, token: &str) -> Option<(TenantId, MessageId)> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    if bytes.len() != 64 {
        return None;
    }
    let (body, tag) = bytes.split_at(32);
    if !cipher.verify_signature(UNSUBSCRIBE, body, tag) {
        return None;
    }
    let tenant = uuid::Uuid::from_slice(&body[..16]).ok()?;
    let message = uuid::Uuid::from_slice(&body[16..]).ok()?;
    Some((TenantId::from_uuid(tenant), MessageId::from_uuid(message)))
}

/// The organisation's rules as `decide` takes them. A malformed window is ignored here; the
/// settings API refuses to store one.
pub fn policy(settings: &ComplianceSettings) -> Policy {
    let window = settings.quiet_hours.as_ref().and_then(|q| {
        let from: Time = q.from.parse().ok()?;
        let until: Time = q.until.parse().ok()?;
        (from < until).then_some((from, until))
    });
    Policy {
        window,
        caps: settings
            .caps
            .iter()
            .filter(|c| c.limit > 0 && c.hours > 0)
            .map(|c| Cap {
                limit: c.limit,
                window: SignedDuration::from_hours(i64::from(c.hours)),
            })
            .collect(),
        texas_registration: settings
            .texas_registration
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty()),
        postal_address: settings
            .postal_address
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty()),
    }
}

/// The latest consent event per purpose, from the ledger (oldest first). A grant by text
/// (START) restores what the person had before their opt-out: it is written consent for a
/// purpose only if the grant before it was.
pub fn consent_facts(events: &[ConsentEvent]) -> Vec<ConsentFact> {
    let mut facts: Vec<ConsentFact> = Vec::new();
    let mut written_before = [false; 3];
    let mut ordered: Vec<&ConsentEvent> = events.iter().collect();
    ordered.sort_by_key(|e| (e.recorded_at, e.id));
    for event in ordered {
        for purpose in &event.evidence.purposes {
            let slot = Purpose::ALL.iter().position(|p| p == purpose).unwrap_or(0);
            let granted = event.kind == ConsentKind::Granted;
            let written = granted
                && if RESTORING.contains(&event.source.as_str()) {
                    written_before[slot]
                } else {
                    !event.evidence.disclosure_text.trim().is_empty()
                };
            if granted {
                written_before[slot] = written;
            }
            let fact = ConsentFact {
                purpose: *purpose,
                granted,
                at: event.recorded_at,
                written,
            };
            match facts.iter_mut().find(|f| f.purpose == *purpose) {
                Some(known) => *known = fact,
                None => facts.push(fact),
            }
        }
    }
    facts
}

impl Engine {
    /// Gathers the facts about `out`'s recipient and asks `decide`, without sending or
    /// recording anything. The lead is `out.lead`, or the organisation's lead with this
    /// address.
    pub async fn assess(&self, out: &Outgoing) -> Result<Assessment, DbError> {
        self.assess_at(out, self.clock.now()).await
    }

    /// [`Engine::assess`] as if it were `now`: the dry run's `at`. The store's facts are today's.
    pub async fn assess_at(&self, out: &Outgoing, now: Timestamp) -> Result<Assessment, DbError> {
        let lead = match &out.lead {
            Some(lead) => Some(lead.clone()),
            None => self.store.find_lead_by_address(out.tenant, &out.to).await?,
        };
        let org = match &out.organisation {
            Some(org) => Some(org.clone()),
            None => self.store.get_tenant(out.tenant.id()).await?,
        };
        let policy = org
            .as_ref()
            .map(|o| policy(&o.settings.compliance))
            .unwrap_or_default();

        let addresses = person_addresses(&out.to, lead.as_ref());
        let phone = match &out.to {
            Address::Phone(p) => Some(p.clone()),
            Address::Email(_) => lead.as_ref().and_then(|l| l.phone.clone()),
        };
        let window = policy
            .caps
            .iter()
            .map(|c| c.window)
            .fold(STATE_CAP_WINDOW, SignedDuration::max);
        let since = now.checked_sub(window).unwrap_or(Timestamp::MIN);
        let registry_phone = match &out.to {
            Address::Phone(p) => Some(p),
            Address::Email(_) => None,
        };
        let facts = self
            .store
            .recipient_facts(out.tenant, &addresses, registry_phone, since)
            .await?;
        let consent = match &lead {
            Some(lead) => {
                consent_facts(&self.store.list_consent_events(out.tenant, lead.id).await?)
            }
            None => Vec::new(),
        };
        let latest_grant = consent.iter().filter(|c| c.granted).map(|c| c.at).max();
        let first_message = match (facts.last_sent_at, latest_grant) {
            (None, _) => true,
            (Some(sent), Some(granted)) => granted > sent,
            (Some(_), None) => false,
        };
        let registry = match (out.to.channel(), facts.snapshot) {
            (Channel::Email, _) => Registry::NotApplicable,
            (Channel::Sms, None) => Registry::NoSnapshot,
            (Channel::Sms, Some(s)) => Registry::Snapshot {
                taken_at: s.taken_at,
                listed: facts.listed,
            },
        };
        let recipient = Recipient {
            suppression: facts
                .suppression
                .map(|(reason, since)| Suppression { reason, since }),
            // The person gave this address themselves: in their inquiry, or in the request
            // for this very message.
            lead: out.requested_at.is_some() || lead.as_ref().is_some_and(|l| owns(l, &out.to)),
            consent,
            inquiry_at: out
                .requested_at
                .or_else(|| lead.as_ref().map(|l| l.last_touch_at)),
            // A won lead bought something: the transaction clock runs from that change.
            transaction_at: lead
                .as_ref()
                .filter(|l| l.status == LeadStatus::Won)
                .map(|l| l.updated_at),
            registry,
            recent: facts
                .recent
                .into_iter()
                .map(|(at, purpose)| Sent {
                    at,
                    purpose: purpose.unwrap_or(Purpose::Transactional),
                })
                .collect(),
            answering: out.answering,
        };
        let location = locate(&Whereabouts {
            phone: phone.as_ref(),
            time_zone: lead.as_ref().and_then(|l| l.time_zone.as_deref()),
            zip: lead.as_ref().and_then(|l| l.zip.as_deref()),
            address: lead.as_ref().and_then(|l| l.address.as_deref()),
        });
        let mut assessment = Assessment {
            decision: Decision::Block {
                reasons: Vec::new(),
            },
            location,
            recipient,
            policy,
            lead,
            first_message,
            brand: org
                .as_ref()
                .map(|o| o.brand().to_owned())
                .unwrap_or_default(),
            postal_address: org
                .as_ref()
                .and_then(|o| o.settings.compliance.postal_address.clone())
                .filter(|a| !a.trim().is_empty()),
        };
        assessment.decision = assessment.decide(&out.to, out.purpose, out.exemption, now);
        Ok(assessment)
    }
}

impl Assessment {
    /// `decide` again on the same facts: the same recipient (`to` is the address the facts were
    /// read for), another purpose, exemption or instant. The lead view asks this for each
    /// purpose rather than reading the store three times.
    pub fn decide(
        &self,
        to: &Address,
        purpose: Purpose,
        exemption: compliance::Exemption,
        now: Timestamp,
    ) -> Decision {
        decide(&Context {
            now,
            channel: to.channel(),
            purpose,
            to: to.as_str(),
            location: &self.location,
            exemption,
            recipient: &self.recipient,
            policy: &self.policy,
        })
    }
}

impl Engine {
    /// The one-click unsubscribe of a marketing email: suppresses the address the message went
    /// to, at once. `false` when the organisation has no such outbound email (the person may
    /// have been erased since; they stay suppressed by their blind index).
    pub async fn unsubscribe(
        &self,
        tenant: domain::Tenant,
        message: MessageId,
    ) -> Result<bool, crate::EngineError> {
        let Some(message) = self.store.get_message(tenant, message).await? else {
            return Ok(false);
        };
        let Ok(email) = domain::Email::parse(&message.to) else {
            return Ok(false);
        };
        let address = Address::Email(email);
        let added = self
            .store
            .suppress(
                tenant,
                store::NewSuppression::each(
                    std::slice::from_ref(&address),
                    "unsubscribe",
                    "unsubscribe_link",
                ),
                self.clock.now(),
            )
            .await?;
        if added > 0 {
            self.record_change(
                tenant,
                crate::audit::Change {
                    actor: (store::ActorKind::System, "unsubscribe_link"),
                    action: "address.suppressed",
                    target: ("message", message.id.to_string()),
                    detail: serde_json::json!({ "reason": "unsubscribe", "channel": "email" }),
                },
            )
            .await;
        }
        Ok(true)
    }
}

/// Every address of the person: `address`, and their lead's phone and email, each once.
pub fn person_addresses(address: &Address, lead: Option<&Lead>) -> Vec<Address> {
    let mut addresses = vec![address.clone()];
    if let Some(lead) = lead {
        let theirs = [
            lead.phone.clone().map(Address::Phone),
            lead.email.clone().map(Address::Email),
        ];
        for other in theirs.into_iter().flatten() {
            if !addresses.contains(&other) {
                addresses.push(other);
            }
        }
    }
    addresses
}

/// Whether the lead gave this address itself.
fn owns(lead: &Lead, address: &Address) -> bool {
    match address {
        Address::Phone(p) => lead.phone.as_ref() == Some(p),
        Address::Email(e) => lead.email.as_ref() == Some(e),
    }
}

#[cfg(test)]
mod tests {
    use domain::{ConsentEventId, ConsentEvidence, LeadId};

    use super::*;

    fn event(
        kind: ConsentKind,
        source: &str,
        text: &str,
        purposes: &[Purpose],
        at: i64,
    ) -> ConsentEvent {
        ConsentEvent {
            id: ConsentEventId::new(),
            lead_id: LeadId::new(),
            kind,
            source: source.to_owned(),
            evidence: ConsentEvidence {
                disclosure_text: text.to_owned(),
                disclosure_version: None,
                seller: None,
                page_url: None,
                ip: None,
                user_agent: None,
                captured_at: Timestamp::from_second(at).unwrap(),
                purposes: purposes.to_vec(),
            },
            recorded_at: Timestamp::from_second(at).unwrap(),
        }
    }

    #[test]
    fn the_latest_event_per_purpose_wins_and_start_restores_what_was_written() {
        let form = event(
            ConsentKind::Granted,
            "web_form",
            "I agree to receive marketing texts from Acme.",
            &[Purpose::Marketing, Purpose::Transactional],
            100,
        );
        let stop = event(
            ConsentKind::Revoked,
            "inbound_sms",
            "Opt-out reply: STOP",
            &Purpose::ALL,
            200,
        );
        let start = event(
            ConsentKind::Granted,
            REPLY_SOURCE,
            "Opt-in reply: START",
            &Purpose::ALL,
            300,
        );
        let facts = consent_facts(&[start.clone(), form.clone(), stop.clone()]);
        let marketing = facts
            .iter()
            .find(|f| f.purpose == Purpose::Marketing)
            .unwrap();
        assert!(marketing.granted && marketing.written);
        // Informational was never granted in writing; START grants it, but not in writing.
        let info = facts
            .iter()
            .find(|f| f.purpose == Purpose::Informational)
            .unwrap();
        assert!(info.granted && !info.written);
        // Before the START, the STOP is the latest word.
        let facts = consent_facts(&[form, stop]);
        assert!(facts.iter().all(|f| !f.granted));
    }

    proptest::proptest! {
        #[test]
        fn random_unsubscribe_tokens_never_verify(token in "[A-Za-z0-9_-]{0,100}") {
            let cipher = Cipher::new(crypto::KeyRing::generate());
            proptest::prop_assert_eq!(verify_unsubscribe(&cipher, &token), None);
        }
    }

    #[test]
    fn unsubscribe_tokens_verify_and_refuse_tampering() {
        let cipher = Cipher::new(crypto::KeyRing::generate());
        let links = Links {
            base_url: "https://leads.example.com".to_owned(),
            cipher: cipher.clone(),
        };
        let (tenant, message) = (TenantId::new(), MessageId::new());
        let url = links.unsubscribe_url(tenant, message);
        let token = url.strip_prefix("https://leads.example.com/u/").unwrap();
        assert_eq!(verify_unsubscribe(&cipher, token), Some((tenant, message)));
        let mut forged = token.to_owned().into_bytes();
        forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            verify_unsubscribe(&cipher, std::str::from_utf8(&forged).unwrap()),
            None
        );
        assert_eq!(verify_unsubscribe(&cipher, "short"), None);
        let other = Cipher::new(crypto::KeyRing::generate());
        assert_eq!(verify_unsubscribe(&other, token), None);
    }
}
