//! Inbound messages: replies join the lead's thread; STOP-family words suppress the person on
//! every channel at once and get one confirmation; HELP gets the help answer.

use compliance::{Keyword, classify};
use domain::{
    Address, Channel, ConsentEventId, ConsentEvidence, ConsentKind, LeadId, LeadStatus, Message,
    MessageId, Purpose, Tenant,
};
use store::{ActorKind, NewConsentEvent, NewInbound};

use crate::audit::Change;
use crate::jobs::{Job, KeywordReply, ReplyKind};
use crate::{Engine, EngineError};

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
}

#[derive(Debug, Clone)]
pub struct InboundOutcome {
    pub message: Message,
    pub lead_id: Option<LeadId>,
    pub keyword: Option<Keyword>,
}

impl Engine {
    #[tracing::instrument(skip_all, fields(tenant = %tenant.id(), from = %inbound.from.masked()))]
    pub async fn receive(
        &self,
        tenant: Tenant,
        inbound: Inbound,
    ) -> Result<InboundOutcome, EngineError> {
        let now = self.clock.now();
        let lead = self
            .store
            .find_lead_by_address(tenant, &inbound.from)
            .await?;
        let message = self
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
            .await?;
        let keyword = match inbound.channel {
            Channel::Sms => classify(&inbound.body),
            Channel::Email => None,
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
        match keyword {
            Some(Keyword::OptOut) => {
                let mut addresses = vec![inbound.from.clone()];
                if let Some(lead) = &lead {
                    addresses.extend(lead.phone.clone().map(Address::Phone));
                    addresses.extend(lead.email.clone().map(Address::Email));
                }
                let already = self
                    .store
                    .is_suppressed(tenant, std::slice::from_ref(&inbound.from))
                    .await?;
                self.store
                    .suppress(tenant, &addresses, "opt_out", now)
                    .await?;
                self.record_change(
                    tenant,
                    Change {
                        actor: provider,
                        action: "address.suppressed",
                        target: ("message", message.id.to_string()),
                        detail: serde_json::json!({
                            "reason": "opt_out",
                            "addresses": addresses.len(),
                            "lead_id": lead.as_ref().map(|l| l.id),
                        }),
                    },
                )
                .await;
                if let Some(lead) = &lead {
                    self.store
                        .set_lead_status(tenant, lead.id, LeadStatus::OptedOut, now)
                        .await?;
                    self.store
                        .append_consent_event(
                            tenant,
                            NewConsentEvent {
                                id: ConsentEventId::new(),
                                lead_id: lead.id,
                                kind: ConsentKind::Revoked,
                                source: "inbound_sms".to_owned(),
                                evidence: ConsentEvidence {
                                    disclosure_text: format!(
                                        "Opt-out reply: {}",
                                        inbound.body.trim()
                                    ),
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
                }
                // One confirmation per opt-out; a second STOP from a suppressed person gets none.
                if !already {
                    self.enqueue_reply(
                        tenant,
                        ReplyKind::OptOutConfirmation,
                        &message,
                        lead.as_ref().map(|l| l.id),
                    )
                    .await?;
                    enqueued = true;
                }
                tracing::info!(lead = ?lead.as_ref().map(|l| l.id), "opt-out: suppressed on every channel");
            }
            Some(Keyword::Help) => {
                self.enqueue_reply(
                    tenant,
                    ReplyKind::Help,
                    &message,
                    lead.as_ref().map(|l| l.id),
                )
                .await?;
                enqueued = true;
            }
            Some(Keyword::OptIn) | None => {
                if let Some(lead) = &lead {
                    for from in [LeadStatus::New, LeadStatus::Contacted] {
                        self.store
                            .advance_lead_status(tenant, lead.id, from, LeadStatus::Engaged, now)
                            .await?;
                    }
                }
            }
        }
        if enqueued {
            self.wake();
        }
        Ok(InboundOutcome {
            message,
            lead_id: lead.map(|l| l.id),
            keyword,
        })
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
