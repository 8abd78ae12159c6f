//! Inbound sources: the doors leads and provider events come in through.

use serde::{Deserialize, Serialize};

/// What sends to a source, and so how its requests are authenticated and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A web form: signed by the customer's server, or posted by a browser from allowed origins.
    Form,
    /// Twilio: inbound SMS, status callbacks, calls.
    Twilio,
    /// SendGrid: the Event Webhook and Inbound Parse.
    Sendgrid,
    /// Meta Lead Ads.
    Meta,
    /// GoHighLevel.
    Ghl,
}

impl SourceKind {
    pub const ALL: [SourceKind; 5] = [
        SourceKind::Form,
        SourceKind::Twilio,
        SourceKind::Sendgrid,
        SourceKind::Meta,
        SourceKind::Ghl,
    ];

    /// The name in URLs (`/hooks/{kind}/{id}`), records and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Form => "form",
            SourceKind::Twilio => "twilio",
            SourceKind::Sendgrid => "sendgrid",
            SourceKind::Meta => "meta",
            SourceKind::Ghl => "ghl",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in SourceKind::ALL {
            assert_eq!(SourceKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(SourceKind::parse("Form"), None);
    }
}
