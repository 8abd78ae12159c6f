//! Outside systems. Each provider module owns one system's wire format, both directions; this
//! file holds the traits the engine sends through.
//!
//! Every send takes a [`compliance::SendPermit`]: there is no way to text or mail a person
//! without a decision of the policy engine, and a permit for one address does not send to
//! another.

pub mod anthropic;
pub mod form;
pub mod ghl;
pub mod http;
pub mod meta;
pub mod sandbox;
pub mod sendgrid;
pub mod twilio;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use compliance::SendPermit;
use domain::{Channel, MessageId, MessageStatus, Timestamp};

/// Why an inbound request's signature was refused. The sender only ever hears 401; the reason
/// is for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature header")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

impl SignatureError {
    /// A label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing_signature",
            SignatureError::Malformed => "malformed_signature",
            SignatureError::Stale => "stale_timestamp",
            SignatureError::Mismatch => "bad_signature",
        }
    }
}

/// An SMS ready to go.
#[derive(Debug, Clone)]
pub struct OutboundSms {
    /// Our id of the message; providers that can carry it do, so a send can be found again.
    pub message_id: MessageId,
    pub from: String,
    pub to: String,
    pub body: String,
}

/// An email ready to go.
#[derive(Debug, Clone)]
pub struct OutboundEmail {
    pub message_id: MessageId,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    /// Extra headers (`List-Unsubscribe`, ...).
    pub headers: Vec<(String, String)>,
    pub attachments: Vec<Attachment>,
}

/// A file an email carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// `text/calendar; method=REQUEST`
    pub content_type: String,
    pub content: Vec<u8>,
}

/// What the provider said when it took a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub provider_message_id: String,
    /// `Sent` when accepted for delivery, `Delivered` when the provider already knows.
    pub status: MessageStatus,
}

/// Why a send did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth retrying: a timeout, a 5xx, a 429. `retry_after` is the provider's own hint.
    #[error("transient provider error {code}: {message}")]
    Transient {
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help: an invalid number, an unsubscribed recipient, bad credentials.
    /// `suppress` is set when the provider says the recipient must not be contacted again.
    #[error("permanent provider error {code}: {message}")]
    Permanent {
        code: String,
        message: String,
        suppress: bool,
    },
    /// The permit was for another address or channel: a bug upstream, never sent.
    #[error("the send permit does not cover this message")]
    PermitMismatch,
}

impl ProviderError {
    /// A short code for message records and metrics.
    pub fn code(&self) -> &str {
        match self {
            ProviderError::Transient { code, .. } | ProviderError::Permanent { code, .. } => code,
            ProviderError::PermitMismatch => "permit_mismatch",
        }
    }
}

/// Checks that `permit` covers a message on `channel` to `to`.
pub fn check_permit(permit: &SendPermit, channel: Channel, to: &str) -> Result<(), ProviderError> {
    if permit.channel() == channel && permit.to() == to {
        Ok(())
    } else {
        Err(ProviderError::PermitMismatch)
    }
}

#[async_trait]
pub trait SmsProvider: Send + Sync + fmt::Debug {
    /// A short name for records and metrics: `sandbox`, `twilio`.
    fn name(&self) -> &'static str;

    async fn send_sms(
        &self,
        permit: &SendPermit,
        sms: &OutboundSms,
    ) -> Result<Receipt, ProviderError>;

    /// The number (or Messaging Service) this account sends from, when the account decides it
    /// rather than the organisation's settings.
    fn sender(&self) -> Option<String> {
        None
    }

    /// After a crash between "in flight" and "sent": did this message, recorded in flight at
    /// `since`, reach the provider? Answers `None` only when the provider is sure it did not;
    /// an error when it cannot tell.
    async fn find_sent(
        &self,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<Option<Receipt>, ProviderError>;
}

#[async_trait]
pub trait EmailProvider: Send + Sync + fmt::Debug {
    fn name(&self) -> &'static str;

    async fn send_email(
        &self,
        permit: &SendPermit,
        email: &OutboundEmail,
    ) -> Result<Receipt, ProviderError>;

    /// The address this account sends from, when the account decides it.
    fn sender(&self) -> Option<String> {
        None
    }

    async fn find_sent(
        &self,
        email: &OutboundEmail,
        since: Timestamp,
    ) -> Result<Option<Receipt>, ProviderError>;
}

/// The SMS provider of an organisation with none: in production, when the platform has no
/// Twilio account of its own and the organisation has not set its Twilio integration. Every
/// text fails at once, permanently, saying what to set; nothing is sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSmsProvider;

/// The code a text gets when there is no provider to carry it.
pub const NO_SMS_PROVIDER: &str = "no_sms_provider";

#[async_trait]
impl SmsProvider for NoSmsProvider {
    fn name(&self) -> &'static str {
        "none"
    }

    async fn send_sms(
        &self,
        permit: &SendPermit,
        sms: &OutboundSms,
    ) -> Result<Receipt, ProviderError> {
        check_permit(permit, Channel::Sms, &sms.to)?;
        Err(ProviderError::Permanent {
            code: NO_SMS_PROVIDER.to_owned(),
            message: "no SMS provider: set the organisation's Twilio integration".to_owned(),
            suppress: false,
        })
    }

    async fn find_sent(
        &self,
        _sms: &OutboundSms,
        _since: Timestamp,
    ) -> Result<Option<Receipt>, ProviderError> {
        // It never sends.
        Ok(None)
    }
}
