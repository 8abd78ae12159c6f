//! Messages: one SMS or email, in either direction.

use serde::{Deserialize, Serialize};

use crate::{JobId, LeadId, MessageId, Purpose, TenantId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "outbound" => Some(Direction::Outbound),
            "inbound" => Some(Direction::Inbound),
            _ => None,
        }
    }
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Recorded before the provider call: "in flight". A message left here by a crash is
    /// reconciled with the provider before anything is sent again.
    Sending,
    /// The provider accepted it.
    Sent,
    Delivered,
    Undelivered,
    Failed,
    /// Compliance refused it; `error` says why.
    Blocked,
    /// An inbound message.
    Received,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 7] = [
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Undelivered,
        MessageStatus::Failed,
        MessageStatus::Blocked,
        MessageStatus::Received,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Undelivered => "undelivered",
            MessageStatus::Failed => "failed",
            MessageStatus::Blocked => "blocked",
            MessageStatus::Received => "received",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A stored message with its body and addresses opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub id: MessageId,
    pub tenant_id: TenantId,
    pub lead_id: Option<LeadId>,
    pub channel: Channel,
    pub direction: Direction,
    /// E.164 phone or email address of the recipient.
    pub to: String,
    pub from: String,
    pub subject: Option<String>,
    pub body: String,
    pub purpose: Option<Purpose>,
    pub status: MessageStatus,
    /// A short machine-readable reason when blocked or failed (`compliance.suppressed`, a provider
    /// error code, ...).
    pub error: Option<String>,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    /// The job that produced it, if any.
    pub job_id: Option<JobId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the lead that caused this message arrived: the start of speed-to-lead.
    pub intake_at: Option<Timestamp>,
    /// When the provider was called (wall clock).
    pub provider_called_at: Option<Timestamp>,
}
