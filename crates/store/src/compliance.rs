//! Compliance records: the suppression list (the organisation's internal do-not-call list), the
//! national do-not-call registry snapshot, what a send decision needs to know about a recipient,
//! and the review queue of free-text opt-outs. Sealing shared by both backends, like
//! [`crate::codec`].

use crypto::{Aad, Cipher};
use domain::{Address, Channel, Email, LeadId, MessageId, Phone, Purpose, TenantId, Timestamp};
use serde::Serialize;
use uuid::Uuid;

use crate::codec::{ts, ts_opt};
use crate::{DbError, DbResult};

/// Suppression reasons the person's own opt-in (START) lifts: their own opt-out, by keyword or
/// phrase, and the carrier's record of it (Twilio 21610). An organisation's do-not-call entry, a
/// bounce or a spam report is not lifted by a text.
pub const LIFTED_BY_OPT_IN: &[&str] = &["opt_out", "opt_out_phrase", "provider:21610"];

/// The reason of an entry the organisation put on its do-not-call list (API or CSV).
pub const DNC_REASON: &str = "dnc";

/// A new entry of the suppression list.
#[derive(Debug, Clone)]
pub struct NewSuppression {
    pub address: Address,
    /// `opt_out`, `dnc`, `bounce`, `spam_report`, `unsubscribe`, `provider:21610`, ...
    pub reason: String,
    /// Who put it there: `inbound_sms`, `api`, `csv`, `provider`, `unsubscribe_link`, ...
    pub source: String,
}

impl NewSuppression {
    /// One entry per address, all for the same reason and from the same source.
    pub fn each(addresses: &[Address], reason: &str, source: &str) -> Vec<NewSuppression> {
        addresses
            .iter()
            .map(|address| NewSuppression {
                address: address.clone(),
                reason: reason.to_owned(),
                source: source.to_owned(),
            })
            .collect()
    }
}

/// One entry of the suppression list, its address opened (absent for an entry whose person was
/// erased: only the blind index remains, so they are still never contacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SuppressionEntry {
    #[schema(value_type = Option<String>)]
    pub address: Option<String>,
    pub channel: Channel,
    pub reason: String,
    pub source: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the person opted back in (or the organisation removed its own entry); the entry is
    /// kept.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lifted_at: Option<Timestamp>,
}

/// The organisation's latest national registry snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RegistrySnapshot {
    /// When the registry data was downloaded (the 31-day clock runs from here).
    #[schema(value_type = String, format = DateTime)]
    pub taken_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub imported_at: Timestamp,
    pub numbers: i64,
}

/// What the store knows about a recipient, for one send decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientFacts {
    /// A live suppression of any of the addresses: reason and since when.
    pub suppression: Option<(String, Timestamp)>,
    /// The latest registry snapshot, if any.
    pub snapshot: Option<RegistrySnapshot>,
    /// Whether the snapshot lists the phone asked about.
    pub listed: bool,
    /// Outbound messages to any of the addresses created after `since` and not failed, blocked
    /// or undelivered: when, and for what.
    pub recent: Vec<(Timestamp, Option<Purpose>)>,
    /// The latest outbound message to any of the addresses that went (or may have), ever.
    pub last_sent_at: Option<Timestamp>,
}

/// What an erasure removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErasedLead {
    /// Messages to and from the person deleted.
    pub messages: u64,
    /// Addresses kept on the suppression list, as blind indexes only.
    pub suppressed_addresses: u64,
}

/// A lead's blind indexes, phone then email, as an erasure reads them.
pub type LeadIndexes = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The suppression reason of an erased person's addresses.
pub const ERASED_REASON: &str = "erased";

/// A free-text message read as an opt-out, waiting for a person to confirm or dismiss it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Review {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub lead_id: Option<LeadId>,
    #[schema(value_type = String, format = Uuid)]
    pub message_id: MessageId,
    /// The phrase rule that matched (`en.stop_texting`, `es.no_mas`, ...).
    pub matched: String,
    pub state: ReviewState,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    /// Who resolved it: `user:{id}` or `api_key:{id}`.
    pub resolved_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Suppressed by default, waiting for a person.
    Open,
    /// A person agreed it is an opt-out: the suppression stays.
    Confirmed,
    /// A person found it is not an opt-out: the suppression it caused is lifted.
    Dismissed,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Open => "open",
            ReviewState::Confirmed => "confirmed",
            ReviewState::Dismissed => "dismissed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ReviewState::Open,
            ReviewState::Confirmed,
            ReviewState::Dismissed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct NewReview {
    pub id: Uuid,
    pub lead_id: Option<LeadId>,
    pub message_id: MessageId,
    pub matched: String,
    pub created_at: Timestamp,
}

/// A suppression row as both backends store it.
#[derive(Debug, sqlx::FromRow)]
pub struct SuppressionRow {
    pub tenant_id: Uuid,
    pub bidx: Vec<u8>,
    pub channel: Option<String>,
    pub reason: String,
    pub source: Option<String>,
    pub address_ct: Option<Vec<u8>>,
    pub created_at: i64,
    pub lifted_at: Option<i64>,
}

/// The columns of [`SuppressionRow`], in its order.
pub const SUPPRESSION_COLUMNS: &str =
    "tenant_id, bidx, channel, reason, source, address_ct, created_at, lifted_at";

/// The row the address's ciphertext is bound to: the first 16 bytes of its blind index (the
/// suppression list's key has no id of its own).
fn suppression_aad(tenant: TenantId, bidx: &[u8]) -> Aad<'static> {
    let mut row = [0u8; 16];
    row.copy_from_slice(&bidx[..16.min(bidx.len())]);
    Aad {
        tenant,
        column: "suppressions.address",
        row: Uuid::from_bytes(row),
    }
}

/// Seals a suppressed address, bound to the organisation and the entry.
pub fn seal_suppressed_address(
    cipher: &Cipher,
    tenant: TenantId,
    bidx: &[u8],
    address: &Address,
) -> Vec<u8> {
    cipher.seal_str(address.as_str(), &suppression_aad(tenant, bidx))
}

impl SuppressionRow {
    pub fn open(self, cipher: &Cipher) -> DbResult<SuppressionEntry> {
        let tenant = TenantId::from_uuid(self.tenant_id);
        let channel = self
            .channel
            .as_deref()
            .and_then(Channel::parse)
            .ok_or_else(|| DbError::corrupt("suppression channel"))?;
        let address = self
            .address_ct
            .map(|ct| cipher.open_str(&ct, &suppression_aad(tenant, &self.bidx)))
            .transpose()?;
        Ok(SuppressionEntry {
            address,
            channel,
            reason: self.reason,
            source: self.source.unwrap_or_else(|| "unknown".to_owned()),
            created_at: ts(self.created_at)?,
            lifted_at: ts_opt(self.lifted_at)?,
        })
    }
}

/// A review row as both backends store it.
#[derive(Debug, sqlx::FromRow)]
pub struct ReviewRow {
    pub id: Uuid,
    pub lead_id: Option<Uuid>,
    pub message_id: Uuid,
    pub matched: String,
    pub state: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
}

/// The columns of [`ReviewRow`], in its order.
pub const REVIEW_COLUMNS: &str =
    "id, lead_id, message_id, matched, state, created_at, resolved_at, resolved_by";

impl ReviewRow {
    pub fn decode(self) -> DbResult<Review> {
        Ok(Review {
            id: self.id,
            lead_id: self.lead_id.map(LeadId::from_uuid),
            message_id: MessageId::from_uuid(self.message_id),
            matched: self.matched,
            state: ReviewState::parse(&self.state)
                .ok_or_else(|| DbError::corrupt("review state"))?,
            created_at: ts(self.created_at)?,
            resolved_at: ts_opt(self.resolved_at)?,
            resolved_by: self.resolved_by,
        })
    }
}

/// A registry line (`2125550199`, `212-555-0199`, `+12125550199`) as an E.164 phone, or `None`
/// for a line that is not a ten-digit NANP number.
pub fn registry_number(line: &str) -> Option<Phone> {
    let digits: String = line.chars().filter(char::is_ascii_digit).collect();
    let ten = match digits.len() {
        10 => digits.as_str(),
        11 if digits.starts_with('1') => &digits[1..],
        _ => return None,
    };
    if line
        .chars()
        .any(|c| !(c.is_ascii_digit() || matches!(c, '-' | '.' | ' ' | '(' | ')' | '+')))
    {
        return None;
    }
    Phone::parse_e164(&format!("+1{ten}")).ok()
}

/// An address typed by a person (a phone in the organisation's region, or an email).
pub fn parse_address(text: &str, region: &str) -> Option<Address> {
    let text = text.trim();
    if text.contains('@') {
        Email::parse(text).ok().map(Address::Email)
    } else {
        Phone::parse(text, region).ok().map(Address::Phone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn registry_lines_never_panic_and_give_nanp_numbers(line in ".{0,40}") {
            if let Some(phone) = registry_number(&line) {
                proptest::prop_assert!(phone.as_str().starts_with("+1"));
                proptest::prop_assert_eq!(phone.as_str().len(), 12);
            }
        }
    }

    #[test]
    fn registry_lines() {
        for (line, expected) in [
            ("2125550199", Some("+12125550199")),
            ("212-555-0199", Some("+12125550199")),
            ("12125550199", Some("+12125550199")),
            ("+1 (212) 555-0199", Some("+12125550199")),
            ("212555019", None),
            ("22125550199", None),
            ("2125550199x", None),
            ("", None),
        ] {
            assert_eq!(
                registry_number(line)
                    .map(|p| p.as_str().to_owned())
                    .as_deref(),
                expected,
                "{line:?}"
            );
        }
    }
}
