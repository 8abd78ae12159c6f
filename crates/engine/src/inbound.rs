//! Inbound messages: replies join the lead's thread; STOP-family words suppress the person on
//! every channel at once and get one confirmation; a free-text "stop contacting me" does the
//! same and goes to the review queue; START, UNSTOP and YES from an opted-out person
//! re-subscribe them; HELP gets the help answer.

/// The suppression reason of a free-text opt-out, so that dismissing its review lifts it alone.
pub const OPT_OUT_PHRASE: &str = "opt_out_phrase";

use crate::assess::person_addresses as person;

use compliance::{Keyword, classify, revocation};
use domain::engagement::Signal;
use domain::sequence::ExitRule;
use domain::{
    Address, Channel, ConsentEventId, ConsentEvidence, ConsentKind, Lead, LeadId, LeadStatus,
    Message, MessageId, Purpose, Tenant, Timestamp,
};
use store::compliance::LIFTED_BY_OPT_IN;
use store::{
    ActorKind, NewConsentEvent, NewInbound, NewReview, NewSuppression, Review, ReviewState,
};

use crate::assess::{REPLY_SOURCE, REVIEW_SOURCE};

use crate::audit::Change;
use crate::jobs::{Job, KeywordReply, ReplyKind};
use crate::{Engine, EngineError};

/// The lead source of people who became leads by texting the business, unless the source says
/// otherwise.
pub const TEXT_LEAD_SOURCE: &str = "inbound_sms";

/// A message that came in.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: Channel,
    pub from: Address,
    /// Our number or address it was sent to.
    pub to: String,
    pub body: String,
    pub provider: String,
    pub provider_message_id: Option<String>,
    /// When set, a text from someone who is no one's lead, and is not a compliance word, makes
    /// them a lead filed under this source, answered like any other: a person who texts the
    /// business number is asking. `None` keeps unknown senders as loose messages.
    pub new_lead_source: Option<String>,
}

#[derive(Debug, Clone)]
pub struct InboundOutcome {
    pub message: Message,
    pub lead_id: Option<LeadId>,
    pub keyword: Option<Keyword>,
    /// The phrase rule, when the message read as a free-text opt-out.
    pub revocation: Option<&'static str>,
    /// The provider delivered this message before: nothing was done again.
    pub duplicate: bool,
    /// The sender became a new lead with this message.
    pub created_lead: bool,
}

impl InboundOutcome {
    /// For the webhook metrics: `replayed` for a delivery taken before, else `accepted`.
    pub fn label(&self) -> &'static str {
        if self.duplicate {
            "replayed"
        } else {
            "accepted"
        }
    }

    fn duplicate(message: Message) -> Self {
        Self {
            lead_id: message.lead_id,
            message,
            keyword: None,
            revocation: None,
            duplicate: true,
            created_lead: false,
        }
    }
}

impl Engine {
    #[tracing::instrument(skip_all, fields(tenant = %tenant.id(), from = %inbound.from.masked()))]
    pub async fn receive(
        &self,
        tenant: Tenant,
        inbound: Inbound,
    ) -> Result<InboundOutcome, EngineError> {
        let now = self.clock.now();
        // A provider that delivers a message twice (a retried webhook) gets the first outcome.
        if let Some(id) = &inbound.provider_message_id
            && let Some(known) = self
                .store
                .find_message_by_provider_id(tenant, &inbound.provider, id)
                .await?
        {
            return Ok(InboundOutcome::duplicate(known));
        }
        let keyword = match inbound.channel {
            Channel::Sms => classify(&inbound.body),
            Channel::Email => None,
        };
        let phrase = match keyword {
            None if inbound.channel == Channel::Sms => revocation(&inbound.body),
            _ => None,
        };
        let mut lead = self
            .store
            .find_lead_by_address(tenant, &inbound.from)
            .await?;
        let mut created_lead = false;
        if lead.is_none()
            && keyword.is_none()
            && phrase.is_none()
            && inbound.channel == Channel::Sms
            && let Some(source) = &inbound.new_lead_source
        {
            let outcome = self.lead_from_text(tenant, &inbound, source).await?;
            created_lead = outcome.created;
            lead = Some(outcome.lead);
        }
        let recorded = self
            .store
            .record_inbound(
                tenant,
                NewInbound {
                    id: MessageId::new(),
                    lead_id: lead.as_ref().map(|l| l.id),
                    channel: inbound.channel,
                    from: inbound.from.as_str().to_owned(),
                    to: inbound.to.clone(),
                    body: inbound.body.clone(),
                    provider: inbound.provider.clone(),
                    provider_message_id: inbound.provider_message_id.clone(),
                    received_at: now,
                },
            )
            .await;
        let message = match (recorded, &inbound.provider_message_id) {
            (Ok(m), _) => m,
            // The same delivery, recorded by another request in between.
            (Err(store::DbError::Conflict(_)), Some(id)) => {
                let known = self
                    .store
                    .find_message_by_provider_id(tenant, &inbound.provider, id)
                    .await?
                    .ok_or(EngineError::NotFound)?;
                return Ok(InboundOutcome::duplicate(known));
            }
            (Err(e), _) => return Err(e.into()),
        };
        let provider = (ActorKind::Provider, inbound.provider.as_str());
        self.record_change(
            tenant,
            Change {
                actor: provider,
                action: "message.received",
                target: ("message", message.id.to_string()),
                detail: serde_json::json!({
                    "channel": inbound.channel,
                    "lead_id": lead.as_ref().map(|l| l.id),
                    "keyword": keyword.map(Keyword::as_str),
                }),
            },
        )
        .await;
        let mut enqueued = false;
        match (keyword, phrase) {
            (Some(Keyword::OptOut), _) | (None, Some(_)) => {
                let reason = if phrase.is_some() {
                    OPT_OUT_PHRASE
                } else {
                    "opt_out"
                };
                enqueued = self
                    .opt_out(tenant, &inbound, &message, lead.as_ref(), reason, now)
                    .await?;
                if let Some(rule) = phrase {
                    self.store
                        .create_review(
                            tenant,
                            NewReview {
                                id: uuid::Uuid::now_v7(),
                                lead_id: lead.as_ref().map(|l| l.id),
                                message_id: message.id,
                                matched: rule.to_owned(),
                                created_at: now,
                            },
                        )
                        .await?;
                    metrics::counter!(crate::metrics::REVIEWS, "rule" => rule).increment(1);
                    tracing::info!(rule, "free-text opt-out: suppressed and queued for review");
                }
            }
            (Some(Keyword::Help), _) => {
                self.enqueue_reply(
                    tenant,
                    ReplyKind::Help,
                    &message,
                    lead.as_ref().map(|l| l.id),
                )
                .await?;
                enqueued = true;
            }
            (Some(Keyword::OptIn), _)
                if self
                    .opt_in(tenant, &inbound, &message, lead.as_ref(), now)
                    .await? =>
            {
                enqueued = true;
            }
            (Some(Keyword::OptIn) | None, _) => {
                // A lead made by this very text stays new until the first response answers it.
                if let Some(lead) = lead.as_ref().filter(|_| !created_lead) {
                    for from in [LeadStatus::New, LeadStatus::Contacted] {
                        self.store
                            .advance_lead_status(
                                tenant,
                                lead.id,
                                from,
                                LeadStatus::Engaged,
                                "system",
                                now,
                            )
                            .await?;
                    }
                }
            }
        }
        // Runs of sequences end: every one at an opt-out, those that exit on a reply at any
        // other message (a compliance word like HELP is not a reply).
        if let Some(lead) = &lead {
            let rule = match (keyword, phrase) {
                (Some(Keyword::OptOut), _) | (None, Some(_)) => Some(ExitRule::OptOut),
                (None, None) => Some(ExitRule::Reply),
                _ => None,
            };
            if let Some(rule) = rule {
                self.exit_runs(tenant, lead.id, &[rule]).await?;
            }
            // A reply warms the lead and restarts its quiet time (recovery waits again).
            if rule == Some(ExitRule::Reply) {
                self.store
                    .record_signal(tenant, lead.id, Signal::Reply, now)
                    .await?;
            }
        }
        if enqueued {
            self.wake();
        }
        Ok(InboundOutcome {
            message,
            lead_id: lead.map(|l| l.id),
            keyword,
            revocation: phrase,
            duplicate: false,
            created_lead,
        })
    }

    /// The sender of a text, taken as a lead (or found, when another request took them first).
    async fn lead_from_text(
        &self,
        tenant: Tenant,
        inbound: &Inbound,
        source: &str,
    ) -> Result<store::IntakeOutcome, EngineError> {
        let Address::Phone(phone) = &inbound.from else {
            return Err(EngineError::NotFound);
        };
        let lead = domain::NewLead {
            name: None,
            phone: Some(phone.clone()),
            email: None,
            source: source.to_owned(),
            address: None,
            zip: None,
            time_zone: None,
            consent: None,
            details: domain::Details::default(),
            tags: domain::Tags::default(),
        };
        let audit = store::AuditContext {
            actor_kind: ActorKind::Provider,
            actor_id: inbound.provider.clone(),
            ip: None,
            correlation_id: inbound
                .provider_message_id
                .clone()
                .unwrap_or_else(|| "inbound".to_owned()),
        };
        self.intake(tenant, lead, None, audit).await
    }

    /// Suppresses the person on every channel at once, records the revocation in the consent
    /// ledger, and queues the one confirmation unless they were suppressed already. Returns
    /// whether a reply was queued.
    async fn opt_out(
        &self,
        tenant: Tenant,
        inbound: &Inbound,
        message: &Message,
        lead: Option<&Lead>,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool, EngineError> {
        let addresses = person(&inbound.from, lead);
        let already = self
            .store
            .is_suppressed(tenant, std::slice::from_ref(&inbound.from))
            .await?;
        self.store
            .suppress(
                tenant,
                NewSuppression::each(&addresses, reason, "inbound_sms"),
                now,
            )
            .await?;
        self.record_change(
            tenant,
            Change {
                actor: (ActorKind::Provider, inbound.provider.as_str()),
                action: "address.suppressed",
                target: ("message", message.id.to_string()),
                detail: serde_json::json!({
                    "reason": reason,
                    "addresses": addresses.len(),
                    "lead_id": lead.map(|l| l.id),
                }),
            },
        )
        .await;
        if let Some(lead) = lead {
            self.store
                .set_lead_status(tenant, lead.id, LeadStatus::OptedOut, "system", now)
                .await?;
            self.append_reply_consent(
                tenant,
                lead.id,
                ConsentKind::Revoked,
                REPLY_SOURCE,
                format!("Opt-out reply: {}", inbound.body.trim()),
                now,
            )
            .await?;
        }
        tracing::info!(lead = ?lead.map(|l| l.id), reason, "opt-out: suppressed on every channel");
        // One confirmation per opt-out; a second STOP from a suppressed person gets none.
        if already {
            return Ok(false);
        }
        self.enqueue_reply(
            tenant,
            ReplyKind::OptOutConfirmation,
            message,
            lead.map(|l| l.id),
        )
        .await?;
        Ok(true)
    }

    /// START, UNSTOP or YES from a person who opted out: lifts their own opt-out (not the
    /// organisation's do-not-call entry, a bounce or a spam report), records a new grant that
    /// restores the consent they had, and queues the confirmation. Returns `false` (nothing
    /// done) when the person was not opted out: then "yes" is an ordinary reply.
    async fn opt_in(
        &self,
        tenant: Tenant,
        inbound: &Inbound,
        message: &Message,
        lead: Option<&Lead>,
        now: Timestamp,
    ) -> Result<bool, EngineError> {
        let addresses = person(&inbound.from, lead);
        let lifted = self
            .store
            .lift_suppressions(tenant, &addresses, LIFTED_BY_OPT_IN, now)
            .await?;
        if lifted == 0 {
            return Ok(false);
        }
        self.record_change(
            tenant,
            Change {
                actor: (ActorKind::Provider, inbound.provider.as_str()),
                action: "address.resubscribed",
                target: ("message", message.id.to_string()),
                detail: serde_json::json!({ "lifted": lifted, "lead_id": lead.map(|l| l.id) }),
            },
        )
        .await;
        if let Some(lead) = lead {
            self.restore_consent(
                tenant,
                lead.id,
                REPLY_SOURCE,
                format!("Opt-in reply: {}", inbound.body.trim()),
                now,
            )
            .await?;
        }
        self.enqueue_reply(
            tenant,
            ReplyKind::OptInConfirmation,
            message,
            lead.map(|l| l.id),
        )
        .await?;
        Ok(true)
    }

    /// The person is back: the lead leaves `opted_out`, and a grant from `source` restores the
    /// consent they had in writing before (see `assess::consent_facts`).
    async fn restore_consent(
        &self,
        tenant: Tenant,
        lead: LeadId,
        source: &str,
        text: String,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        self.store
            .advance_lead_status(
                tenant,
                lead,
                LeadStatus::OptedOut,
                LeadStatus::Engaged,
                "system",
                now,
            )
            .await?;
        self.append_reply_consent(tenant, lead, ConsentKind::Granted, source, text, now)
            .await
    }

    /// A consent event for every purpose, made by the person's own text or a review of it.
    async fn append_reply_consent(
        &self,
        tenant: Tenant,
        lead: LeadId,
        kind: ConsentKind,
        source: &str,
        text: String,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        self.store
            .append_consent_event(
                tenant,
                NewConsentEvent {
                    id: ConsentEventId::new(),
                    lead_id: lead,
                    kind,
                    source: source.to_owned(),
                    evidence: ConsentEvidence {
                        disclosure_text: text,
                        disclosure_version: None,
                        seller: None,
                        page_url: None,
                        ip: None,
                        user_agent: None,
                        captured_at: now,
                        purposes: Purpose::ALL.to_vec(),
                    },
                    recorded_at: now,
                },
            )
            .await?;
        Ok(())
    }

    /// Resolves a review of a free-text opt-out. Confirming keeps the suppression; dismissing
    /// lifts the suppression that the message caused (only that one: a STOP, a do-not-call
    /// entry or a bounce stays) and restores the person's consent. `None` when the
    /// organisation has no such open review.
    pub async fn resolve_review(
        &self,
        tenant: Tenant,
        id: uuid::Uuid,
        resolution: ReviewState,
        by: &str,
    ) -> Result<Option<Review>, EngineError> {
        let now = self.clock.now();
        let Some(review) = self
            .store
            .resolve_review(tenant, id, resolution, by, now)
            .await?
        else {
            return Ok(None);
        };
        if resolution != ReviewState::Dismissed {
            return Ok(Some(review));
        }
        let message = self.store.get_message(tenant, review.message_id).await?;
        let lead = match review.lead_id {
            Some(id) => self.store.get_lead(tenant, id).await?,
            None => None,
        };
        // The reviewed message is inbound: its `from` is the person.
        let from =
            message.and_then(|m| domain::Phone::parse_e164(&m.from).ok().map(Address::Phone));
        let mut addresses = Vec::new();
        if let Some(from) = &from {
            addresses = person(from, lead.as_ref());
        } else if let Some(lead) = &lead {
            addresses.extend(lead.phone.clone().map(Address::Phone));
            addresses.extend(lead.email.clone().map(Address::Email));
        }
        self.store
            .lift_suppressions(tenant, &addresses, &[OPT_OUT_PHRASE], now)
            .await?;
        if let Some(lead) = &lead {
            self.restore_consent(
                tenant,
                lead.id,
                REVIEW_SOURCE,
                format!("Review {id}: the reply was not an opt-out ({by})"),
                now,
            )
            .await?;
        }
        Ok(Some(review))
    }

    /// A provider says an address must not be written to again: an unsubscribed recipient
    /// (Twilio 21610), a bounce, a spam report, an unsubscribe through the provider. Suppresses
    /// the address at once with `reason` (`provider:21610`, `bounce`, `spam_report`,
    /// `unsubscribe`) and records who said so. For the provider webhooks; idempotent.
    pub async fn suppress_for_provider(
        &self,
        tenant: Tenant,
        address: &Address,
        reason: &str,
        provider: &str,
    ) -> Result<bool, EngineError> {
        let added = self
            .store
            .suppress(
                tenant,
                NewSuppression::each(std::slice::from_ref(address), reason, "provider"),
                self.clock.now(),
            )
            .await?;
        if added > 0 {
            self.record_change(
                tenant,
                Change {
                    actor: (ActorKind::Provider, provider),
                    action: "address.suppressed",
                    target: ("address", address.masked()),
                    detail: serde_json::json!({ "reason": reason, "channel": address.channel() }),
                },
            )
            .await;
        }
        Ok(added > 0)
    }

    async fn enqueue_reply(
        &self,
        tenant: Tenant,
        kind: ReplyKind,
        inbound: &Message,
        lead: Option<LeadId>,
    ) -> Result<(), EngineError> {
        let job = KeywordReply {
            kind,
            inbound_id: inbound.id,
            to: inbound.from.clone(),
            lead_id: lead,
        };
        self.store
            .enqueue(job.new_job(Some(tenant), self.clock.now(), self.config.max_attempts))
            .await?;
        Ok(())
    }
}
