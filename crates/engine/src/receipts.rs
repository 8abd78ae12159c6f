//! What providers report back about messages Leadline sent: delivery receipts, and the
//! reports that oblige Leadline to stop (Twilio 21610, email bounces, spam reports,
//! unsubscribes), which suppress the address as the compliance rules say.

use domain::{Address, Email, Message, MessageId, MessageStatus, Phone, Tenant};
use store::DeliveryUpdate;

use crate::{Engine, EngineError};

/// A report about one message.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// `twilio`, `sendgrid`.
    pub provider: &'static str,
    /// Our id, when the provider carried it back (Twilio's callback URL, SendGrid's custom
    /// argument).
    pub message_id: Option<MessageId>,
    pub provider_message_id: Option<String>,
    /// The status it moves to, if any.
    pub status: Option<MessageStatus>,
    pub error: Option<String>,
    /// Set when the report obliges Leadline to stop contacting the recipient
    /// (`provider:21610`, `provider:bounce`, ...).
    pub suppress: Option<String>,
    /// The recipient opened or clicked, at that time: the lead's engagement rises.
    pub signal: Option<(domain::engagement::Signal, domain::Timestamp)>,
}

/// What a receipt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// No message of the organisation matches (a message of another system on the same
    /// account, or one erased since).
    Unknown,
    Recorded {
        message: MessageId,
        moved: bool,
        suppressed: bool,
    },
}

impl Engine {
    /// Applies a provider's report about a message of `tenant`.
    #[tracing::instrument(skip_all, fields(tenant = %tenant.id(), provider = receipt.provider))]
    pub async fn receipt(
        &self,
        tenant: Tenant,
        receipt: Receipt,
    ) -> Result<ReceiptOutcome, EngineError> {
        let message = self.find_reported(tenant, &receipt).await?;
        let Some(message) = message else {
            metrics::counter!(crate::metrics::RECEIPTS, "provider" => receipt.provider, "outcome" => "unknown").increment(1);
            return Ok(ReceiptOutcome::Unknown);
        };
        let mut moved = false;
        if let Some(status) = receipt.status {
            let update = DeliveryUpdate {
                status,
                error: receipt.error.clone(),
                provider_message_id: receipt.provider_message_id.clone(),
                at: self.clock.now(),
            };
            if let Some((_, changed)) = self
                .store
                .record_delivery(tenant, message.id, update)
                .await?
            {
                moved = changed;
            }
        }
        let mut suppressed = false;
        if let Some(reason) = &receipt.suppress
            && let Some(address) = address_of(&message)
        {
            suppressed = self
                .suppress_for_provider(tenant, &address, reason, receipt.provider)
                .await?;
        }
        if let (Some((signal, at)), Some(lead)) = (receipt.signal, message.lead_id)
            && message.direction == domain::Direction::Outbound
        {
            self.store.record_signal(tenant, lead, signal, at).await?;
        }
        metrics::counter!(crate::metrics::RECEIPTS, "provider" => receipt.provider, "outcome" => if moved { "moved" } else { "unchanged" }).increment(1);
        Ok(ReceiptOutcome::Recorded {
            message: message.id,
            moved,
            suppressed,
        })
    }

    async fn find_reported(
        &self,
        tenant: Tenant,
        receipt: &Receipt,
    ) -> Result<Option<Message>, EngineError> {
        if let Some(id) = receipt.message_id
            && let Some(m) = self.store.get_message(tenant, id).await?
        {
            return Ok(Some(m));
        }
        match &receipt.provider_message_id {
            Some(pid) => Ok(self
                .store
                .find_message_by_provider_id(tenant, receipt.provider, pid)
                .await?),
            None => Ok(None),
        }
    }
}

/// The recipient of an outbound message, as an address.
fn address_of(message: &Message) -> Option<Address> {
    if message.direction != domain::Direction::Outbound {
        return None;
    }
    match message.channel {
        domain::Channel::Sms => Phone::parse_e164(&message.to).ok().map(Address::Phone),
        domain::Channel::Email => Email::parse(&message.to).ok().map(Address::Email),
    }
}
