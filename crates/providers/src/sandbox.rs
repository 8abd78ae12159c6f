//! The sandbox provider: records what would have been sent, so the whole product works on a
//! laptop. Production mode refuses to start with it.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use compliance::SendPermit;
use domain::{Channel, MessageId, MessageStatus, Timestamp};

use crate::{
    EmailProvider, OutboundEmail, OutboundSms, ProviderError, Receipt, SmsProvider, check_permit,
};

/// How many sent messages the sandbox remembers; older ones fall off. The message records in
/// the database keep everything; this is the provider's own view.
const CAPACITY: usize = 100_000;

/// One message as the sandbox took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxMessage {
    pub message_id: MessageId,
    pub provider_message_id: String,
    pub channel: Channel,
    pub from: String,
    pub to: String,
    pub subject: Option<String>,
    pub body: String,
    pub headers: Vec<(String, String)>,
    /// An email's attachments.
    pub attachments: Vec<crate::Attachment>,
}

/// Takes every message and reports it delivered.
#[derive(Debug, Default)]
pub struct SandboxProvider {
    sent: Mutex<VecDeque<SandboxMessage>>,
}

impl SandboxProvider {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far, oldest first.
    pub fn sent(&self) -> Vec<SandboxMessage> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<SandboxMessage>> {
        // A poisoned lock only means another thread panicked mid-push; the data is still valid.
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, message: SandboxMessage) -> Receipt {
        let receipt = Receipt {
            provider_message_id: message.provider_message_id.clone(),
            status: MessageStatus::Delivered,
        };
        let mut sent = self.lock();
        if sent.len() == CAPACITY {
            sent.pop_front();
        }
        sent.push_back(message);
        receipt
    }

    fn find(&self, message_id: MessageId) -> Option<Receipt> {
        self.lock()
            .iter()
            .rev()
            .find(|m| m.message_id == message_id)
            .map(|m| Receipt {
                provider_message_id: m.provider_message_id.clone(),
                status: MessageStatus::Delivered,
            })
    }
}

#[async_trait]
impl SmsProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn send_sms(
        &self,
        permit: &SendPermit,
        sms: &OutboundSms,
    ) -> Result<Receipt, ProviderError> {
        check_permit(permit, Channel::Sms, &sms.to)?;
        Ok(self.record(SandboxMessage {
            message_id: sms.message_id,
            provider_message_id: format!("SBX{}", sms.message_id.as_uuid().simple()),
            channel: Channel::Sms,
            from: sms.from.clone(),
            to: sms.to.clone(),
            subject: None,
            body: sms.body.clone(),
            headers: Vec::new(),
            attachments: Vec::new(),
        }))
    }

    async fn find_sent(
        &self,
        sms: &OutboundSms,
        _since: Timestamp,
    ) -> Result<Option<Receipt>, ProviderError> {
        Ok(self.find(sms.message_id))
    }
}

#[async_trait]
impl EmailProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn send_email(
        &self,
        permit: &SendPermit,
        email: &OutboundEmail,
    ) -> Result<Receipt, ProviderError> {
        check_permit(permit, Channel::Email, &email.to)?;
        Ok(self.record(SandboxMessage {
            message_id: email.message_id,
            provider_message_id: format!("SBX{}", email.message_id.as_uuid().simple()),
            channel: Channel::Email,
            from: email.from.clone(),
            to: email.to.clone(),
            subject: Some(email.subject.clone()),
            body: email.text.clone(),
            headers: email.headers.clone(),
            attachments: email.attachments.clone(),
        }))
    }

    async fn find_sent(
        &self,
        email: &OutboundEmail,
        _since: Timestamp,
    ) -> Result<Option<Receipt>, ProviderError> {
        Ok(self.find(email.message_id))
    }
}
