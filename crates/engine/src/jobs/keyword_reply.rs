//! `keyword_reply`: the automatic answers to HELP and to an opt-out.

use async_trait::async_trait;
use compliance::Exemption;
use domain::{Address, LeadId, MessageId, Phone, Purpose};
use serde::{Deserialize, Serialize};

use super::{Job, JobError, JobInfo, Outcome};
use crate::Engine;
use crate::dispatch::{Dispatched, Outgoing};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    /// Brand, support contact, frequency, rates, how to stop (CTIA), to anyone.
    Help,
    /// The one confirmation of an opt-out: no marketing, no links (47 CFR 64.1200(a)(12)).
    OptOutConfirmation,
    /// The answer to START/UNSTOP/YES from an opted-out person: brand and how to stop (CTIA).
    /// An ordinary transactional message: quiet hours apply.
    OptInConfirmation,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeywordReply {
    pub kind: ReplyKind,
    /// The inbound message being answered: one answer per inbound message.
    pub inbound_id: MessageId,
    /// The person's number (E.164).
    pub to: String,
    pub lead_id: Option<LeadId>,
}

#[async_trait]
impl Job for KeywordReply {
    const NAME: &'static str = "keyword_reply";

    async fn run(self, engine: &Engine, info: &JobInfo) -> Result<Outcome, JobError> {
        let tenant = info.tenant.ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!("keyword_reply without a tenant"))
        })?;
        let org = engine
            .store
            .get_tenant(tenant.id())
            .await?
            .ok_or_else(|| JobError::permanent(anyhow::anyhow!("organisation is gone")))?;
        let brand = org.brand().to_owned();
        let to = Phone::parse_e164(&self.to)
            .map_err(|e| JobError::permanent(anyhow::anyhow!("reply address: {e}")))?;
        let frequency = org
            .settings
            .compliance
            .message_frequency
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map_or_else(
                || "Msg frequency varies.".to_owned(),
                |f| format!("{}.", f.trim_end_matches('.')),
            );
        let (body, exemption, key) = match self.kind {
            ReplyKind::Help => {
                let support = if org.settings.support_contact.is_empty() {
                    String::new()
                } else {
                    format!(" Help: {}.", org.settings.support_contact)
                };
                (
                    format!(
                        "{brand}:{support} {frequency} Msg&data rates may apply. Reply STOP to opt out."
                    ),
                    Exemption::HelpAnswer,
                    "help_reply",
                )
            }
            ReplyKind::OptOutConfirmation => (
                format!("{brand}: You are unsubscribed and will receive no more messages."),
                Exemption::OptOutConfirmation,
                "opt_out_confirmation",
            ),
            ReplyKind::OptInConfirmation => (
                format!(
                    "{brand}: You are subscribed again. {frequency} Msg&data rates may apply. Reply HELP for help, STOP to opt out."
                ),
                Exemption::None,
                "opt_in_confirmation",
            ),
        };
        // The confirmation's five minutes run from the opt-out it answers.
        let answering = match self.kind {
            ReplyKind::OptOutConfirmation => engine
                .store
                .get_message(tenant, self.inbound_id)
                .await?
                .map(|m| m.created_at),
            _ => None,
        };
        let lead = match self.lead_id {
            Some(id) => engine.store.get_lead(tenant, id).await?,
            None => None,
        };
        let out = Outgoing {
            tenant,
            lead,
            to: Address::Phone(to),
            from: org.settings.sms_from.clone(),
            purpose: Purpose::Transactional,
            exemption,
            subject: None,
            body,
            dedupe_key: Some(format!("{key}:{}", self.inbound_id)),
            intake_at: None,
            answering,
            requested_at: None,
            organisation: Some(org),
            attachments: Vec::new(),
        };
        match engine.dispatch(out, Some(info)).await? {
            Dispatched::Deferred { until, .. } => Ok(Outcome::Defer(until)),
            _ => Ok(Outcome::Done),
        }
    }
}
