//! Rows as both backends store them, and the sealing and opening of their personal data.
//!
//! Both backends use the same column names and types (UUIDs, `BIGINT` microseconds since the
//! Unix epoch for instants, bytes for sealed values and blind indexes, text for JSON), so a row
//! type here decodes from either. Sealed columns are bound to their tenant, column and row through
//! the AEAD's associated data: a ciphertext copied into another row or tenant does not open.

use crypto::{Aad, BlindIndex, BlindKind, Cipher};
use domain::{
    Address, ApiKeyId, Channel, ConsentEvent, ConsentEventId, ConsentEvidence, ConsentKind,
    Direction, Email, JobId, Lead, LeadId, LeadStatus, Message, MessageId, MessageStatus, Phone,
    Purpose, TenantId, Timestamp,
};
use uuid::Uuid;

use crate::{ApiKeyRecord, DbError, DbResult, JobRecord, JobState, TenantRecord, TenantSettings};

// ---- instants ---------------------------------------------------------------------------------

pub fn us(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub fn ts(us: i64) -> DbResult<Timestamp> {
    Timestamp::from_microsecond(us)
        .map_err(|_| DbError::corrupt(format!("instant {us} out of range")))
}

/// `t` as it reads back from storage (microseconds), so what a write returns equals what a later
/// read returns.
pub fn at_rest(t: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t)
}

pub fn ts_opt(us: Option<i64>) -> DbResult<Option<Timestamp>> {
    us.map(ts).transpose()
}

// ---- blind indexes ----------------------------------------------------------------------------

/// The blind index of an address: what dedupe, lookups and suppression compare.
pub fn address_index(cipher: &Cipher, tenant: TenantId, address: &Address) -> BlindIndex {
    match address {
        Address::Phone(p) => cipher.blind_index(tenant, BlindKind::Phone, p.as_str()),
        Address::Email(e) => cipher.blind_index(tenant, BlindKind::Email, e.as_str()),
    }
}

fn aad(tenant: TenantId, column: &str, row: Uuid) -> Aad<'_> {
    Aad {
        tenant,
        column,
        row,
    }
}

pub fn seal_opt(
    cipher: &Cipher,
    tenant: TenantId,
    column: &str,
    row: Uuid,
    value: Option<&str>,
) -> Option<Vec<u8>> {
    value.map(|v| cipher.seal_str(v, &aad(tenant, column, row)))
}

pub fn open_opt(
    cipher: &Cipher,
    tenant: TenantId,
    column: &str,
    row: Uuid,
    value: Option<&[u8]>,
) -> DbResult<Option<String>> {
    value
        .map(|v| {
            cipher
                .open_str(v, &aad(tenant, column, row))
                .map_err(DbError::from)
        })
        .transpose()
}

// ---- organisations ----------------------------------------------------------------------------

#[derive(Debug, sqlx::FromRow)]
pub struct TenantRow {
    pub id: Uuid,
    pub name: String,
    pub settings: String,
    pub created_at: i64,
    pub suspended_at: Option<i64>,
}

impl TenantRow {
    pub fn into_record(self) -> DbResult<TenantRecord> {
        Ok(TenantRecord {
            id: TenantId::from_uuid(self.id),
            name: self.name,
            settings: serde_json::from_str::<TenantSettings>(&self.settings)
                .map_err(|e| DbError::corrupt(format!("tenant settings: {e}")))?,
            created_at: ts(self.created_at)?,
            suspended_at: ts_opt(self.suspended_at)?,
        })
    }
}

pub fn settings_json(settings: &TenantSettings) -> String {
    // Serialising a struct of strings cannot fail.
    serde_json::to_string(settings).unwrap_or_else(|_| "{}".to_owned())
}

// ---- API keys ---------------------------------------------------------------------------------

#[derive(Debug, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub hash: Vec<u8>,
    pub scopes: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    #[sqlx(default)]
    pub tenant_suspended: bool,
}

impl ApiKeyRow {
    pub fn into_record(self) -> DbResult<ApiKeyRecord> {
        Ok(ApiKeyRecord {
            id: ApiKeyId::from_uuid(self.id),
            tenant_id: TenantId::from_uuid(self.tenant_id),
            name: self.name,
            prefix: self.prefix,
            hash: self.hash,
            scopes: serde_json::from_str(&self.scopes)
                .map_err(|e| DbError::corrupt(format!("api key scopes: {e}")))?,
            created_at: ts(self.created_at)?,
            last_used_at: ts_opt(self.last_used_at)?,
            revoked_at: ts_opt(self.revoked_at)?,
            tenant_suspended: self.tenant_suspended,
        })
    }
}

pub fn scopes_json(scopes: &[String]) -> String {
    serde_json::to_string(scopes).unwrap_or_else(|_| "[]".to_owned())
}

// ---- leads ------------------------------------------------------------------------------------

/// The columns of [`LeadRow`], as a literal for `concat!` (queries stay `&'static str`).
#[macro_export]
macro_rules! lead_columns {
    () => {
        "id, tenant_id, status, source, name_ct, phone_ct, email_ct, address_ct, zip_ct, time_zone, \
         details_ct, created_at, updated_at, last_touch_at, touch_count, engagement, engagement_at, tags"
    };
}

#[derive(Debug, sqlx::FromRow)]
pub struct LeadRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub status: String,
    pub source: String,
    pub name_ct: Option<Vec<u8>>,
    pub phone_ct: Option<Vec<u8>>,
    pub email_ct: Option<Vec<u8>>,
    pub address_ct: Option<Vec<u8>>,
    pub zip_ct: Option<Vec<u8>>,
    pub time_zone: Option<String>,
    pub details_ct: Option<Vec<u8>>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_touch_at: i64,
    pub touch_count: i64,
    pub engagement: f64,
    pub engagement_at: Option<i64>,
    pub tags: String,
}

/// A lead's personal data sealed for one row, with its blind indexes.
#[derive(Debug, Clone)]
pub struct SealedLead {
    pub name: Option<Vec<u8>>,
    pub phone: Option<Vec<u8>>,
    pub email: Option<Vec<u8>>,
    pub address: Option<Vec<u8>>,
    pub zip: Option<Vec<u8>>,
    /// `None` when there are no answers.
    pub details: Option<Vec<u8>>,
    pub phone_bidx: Option<Vec<u8>>,
    pub email_bidx: Option<Vec<u8>>,
}

/// Answers sealed as one JSON object; none is `None`.
fn seal_details(
    cipher: &Cipher,
    tenant: TenantId,
    row: Uuid,
    details: &domain::Details,
) -> Option<Vec<u8>> {
    if details.is_empty() {
        return None;
    }
    let json = serde_json::to_string(details).unwrap_or_default();
    seal_opt(cipher, tenant, "leads.details", row, Some(&json))
}

pub fn seal_lead(
    cipher: &Cipher,
    tenant: TenantId,
    id: LeadId,
    lead: &domain::NewLead,
) -> SealedLead {
    let row = id.as_uuid();
    SealedLead {
        name: seal_opt(cipher, tenant, "leads.name", row, lead.name.as_deref()),
        phone: seal_opt(
            cipher,
            tenant,
            "leads.phone",
            row,
            lead.phone.as_ref().map(Phone::as_str),
        ),
        email: seal_opt(
            cipher,
            tenant,
            "leads.email",
            row,
            lead.email.as_ref().map(Email::as_str),
        ),
        address: seal_opt(
            cipher,
            tenant,
            "leads.address",
            row,
            lead.address.as_deref(),
        ),
        zip: seal_opt(cipher, tenant, "leads.zip", row, lead.zip.as_deref()),
        details: seal_details(cipher, tenant, row, &lead.details),
        phone_bidx: lead
            .phone
            .as_ref()
            .map(|p| address_index(cipher, tenant, &Address::Phone(p.clone())).to_vec()),
        email_bidx: lead
            .email
            .as_ref()
            .map(|e| address_index(cipher, tenant, &Address::Email(e.clone())).to_vec()),
    }
}

impl LeadRow {
    pub fn open(self, cipher: &Cipher) -> DbResult<Lead> {
        let tenant = TenantId::from_uuid(self.tenant_id);
        let row = self.id;
        let phone = open_opt(cipher, tenant, "leads.phone", row, self.phone_ct.as_deref())?
            .map(|p| Phone::parse_e164(&p).map_err(|e| DbError::corrupt(format!("lead phone {e}"))))
            .transpose()?;
        let email = open_opt(cipher, tenant, "leads.email", row, self.email_ct.as_deref())?
            .map(|e| Email::parse(&e).map_err(|e| DbError::corrupt(format!("lead email {e}"))))
            .transpose()?;
        Ok(Lead {
            id: LeadId::from_uuid(self.id),
            tenant_id: tenant,
            status: LeadStatus::parse(&self.status)
                .ok_or_else(|| DbError::corrupt(format!("lead status {:?}", self.status)))?,
            source: self.source,
            name: open_opt(cipher, tenant, "leads.name", row, self.name_ct.as_deref())?,
            phone,
            email,
            address: open_opt(
                cipher,
                tenant,
                "leads.address",
                row,
                self.address_ct.as_deref(),
            )?,
            zip: open_opt(cipher, tenant, "leads.zip", row, self.zip_ct.as_deref())?,
            time_zone: self.time_zone,
            details: open_opt(
                cipher,
                tenant,
                "leads.details",
                row,
                self.details_ct.as_deref(),
            )?
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| DbError::corrupt(format!("lead details: {e}")))
            })
            .transpose()?
            .unwrap_or_default(),
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
            last_touch_at: ts(self.last_touch_at)?,
            touch_count: self.touch_count,
            engagement: domain::engagement::Engagement {
                score: self.engagement,
                at: ts_opt(self.engagement_at)?,
            },
            tags: serde_json::from_str(&self.tags)
                .map_err(|e| DbError::corrupt(format!("lead tags: {e}")))?,
        })
    }
}

/// The fields of `incoming` that `existing` lacks, to fill in on a repeat submission. An email
/// or phone is only taken when no other lead of the tenant holds it (the caller checks), so a
/// touch never merges two people.
#[derive(Debug, Default)]
pub struct LeadFill {
    pub name: Option<Vec<u8>>,
    pub phone: Option<(Vec<u8>, Vec<u8>)>,
    pub email: Option<(Vec<u8>, Vec<u8>)>,
    pub address: Option<Vec<u8>>,
    pub zip: Option<Vec<u8>>,
    pub time_zone: Option<String>,
    /// All the answers, when the new submission added some.
    pub details: Option<Vec<u8>>,
    /// All the tags (JSON), when the new submission added some.
    pub tags: Option<String>,
}

pub fn lead_fill(
    cipher: &Cipher,
    existing: &Lead,
    incoming: &domain::NewLead,
    phone_free: bool,
    email_free: bool,
) -> LeadFill {
    let tenant = existing.tenant_id;
    let sealed = seal_lead(cipher, tenant, existing.id, incoming);
    LeadFill {
        name: if existing.name.is_none() {
            sealed.name
        } else {
            None
        },
        phone: match (&existing.phone, sealed.phone, sealed.phone_bidx) {
            (None, Some(ct), Some(bidx)) if phone_free => Some((ct, bidx)),
            _ => None,
        },
        email: match (&existing.email, sealed.email, sealed.email_bidx) {
            (None, Some(ct), Some(bidx)) if email_free => Some((ct, bidx)),
            _ => None,
        },
        address: if existing.address.is_none() {
            sealed.address
        } else {
            None
        },
        zip: if existing.zip.is_none() {
            sealed.zip
        } else {
            None
        },
        time_zone: if existing.time_zone.is_none() {
            incoming.time_zone.clone()
        } else {
            None
        },
        details: {
            let merged = existing.details.merged(&incoming.details);
            if merged == existing.details {
                None
            } else {
                seal_details(cipher, tenant, existing.id.as_uuid(), &merged)
            }
        },
        tags: {
            let merged = existing.tags.merged(&incoming.tags);
            (merged != existing.tags).then(|| tags_json(&merged))
        },
    }
}

/// Tags as stored: a JSON array.
pub fn tags_json(tags: &domain::Tags) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned())
}

impl LeadFill {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.phone.is_none()
            && self.email.is_none()
            && self.address.is_none()
            && self.zip.is_none()
            && self.time_zone.is_none()
            && self.details.is_none()
            && self.tags.is_none()
    }
}

// ---- consent ----------------------------------------------------------------------------------

#[derive(Debug, sqlx::FromRow)]
pub struct ConsentRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub lead_id: Uuid,
    pub kind: String,
    pub source: String,
    pub evidence_ct: Vec<u8>,
    pub recorded_at: i64,
}

/// The whole evidence is sealed as one JSON document: the IP, user agent and page URL are
/// personal data, and the disclosure must stay exactly as it was shown.
pub fn seal_evidence(
    cipher: &Cipher,
    tenant: TenantId,
    id: ConsentEventId,
    evidence: &ConsentEvidence,
) -> Vec<u8> {
    let json = serde_json::to_string(evidence).unwrap_or_default();
    cipher.seal_str(&json, &aad(tenant, "consent_events.evidence", id.as_uuid()))
}

impl ConsentRow {
    pub fn open(self, cipher: &Cipher) -> DbResult<ConsentEvent> {
        let tenant = TenantId::from_uuid(self.tenant_id);
        let json = cipher.open_str(
            &self.evidence_ct,
            &aad(tenant, "consent_events.evidence", self.id),
        )?;
        Ok(ConsentEvent {
            id: ConsentEventId::from_uuid(self.id),
            lead_id: LeadId::from_uuid(self.lead_id),
            kind: ConsentKind::parse(&self.kind).ok_or_else(|| DbError::corrupt("consent kind"))?,
            source: self.source,
            evidence: serde_json::from_str(&json)
                .map_err(|e| DbError::corrupt(format!("consent evidence: {e}")))?,
            recorded_at: ts(self.recorded_at)?,
        })
    }
}

// ---- messages ---------------------------------------------------------------------------------

/// The columns of [`MessageRow`], as a literal for `concat!`.
#[macro_export]
macro_rules! message_columns {
    () => {
        "id, tenant_id, lead_id, channel, direction, party_ct, our_addr, subject_ct, body_ct, purpose, \
         status, error, provider, provider_message_id, job_id, created_at, updated_at, intake_at, \
         provider_called_at"
    };
}

#[derive(Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub lead_id: Option<Uuid>,
    pub channel: String,
    pub direction: String,
    pub party_ct: Vec<u8>,
    pub our_addr: String,
    pub subject_ct: Option<Vec<u8>>,
    pub body_ct: Vec<u8>,
    pub purpose: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub job_id: Option<Uuid>,
    pub created_at: i64,
    pub updated_at: i64,
    pub intake_at: Option<i64>,
    pub provider_called_at: Option<i64>,
}

/// A message's sealed columns. `party` is always the person's address (the recipient of an
/// outbound message, the sender of an inbound one) and is sealed; `our_addr` is the business's
/// own number or sender address and is not personal data.
#[derive(Debug)]
pub struct SealedMessage {
    pub party_ct: Vec<u8>,
    pub party_bidx: Option<Vec<u8>>,
    pub subject_ct: Option<Vec<u8>>,
    pub body_ct: Vec<u8>,
}

pub fn seal_message(
    cipher: &Cipher,
    tenant: TenantId,
    id: MessageId,
    party: &str,
    subject: Option<&str>,
    body: &str,
) -> SealedMessage {
    let row = id.as_uuid();
    SealedMessage {
        party_ct: cipher.seal_str(party, &aad(tenant, "messages.party", row)),
        party_bidx: Address::parse(party, "US").map(|a| address_index(cipher, tenant, &a).to_vec()),
        subject_ct: seal_opt(cipher, tenant, "messages.subject", row, subject),
        body_ct: cipher.seal_str(body, &aad(tenant, "messages.body", row)),
    }
}

impl MessageRow {
    pub fn open(self, cipher: &Cipher) -> DbResult<Message> {
        let tenant = TenantId::from_uuid(self.tenant_id);
        let row = self.id;
        let direction = Direction::parse(&self.direction)
            .ok_or_else(|| DbError::corrupt("message direction"))?;
        let party = cipher.open_str(&self.party_ct, &aad(tenant, "messages.party", row))?;
        let (to, from) = match direction {
            Direction::Outbound => (party, self.our_addr),
            Direction::Inbound => (self.our_addr, party),
        };
        Ok(Message {
            id: MessageId::from_uuid(self.id),
            tenant_id: tenant,
            lead_id: self.lead_id.map(LeadId::from_uuid),
            channel: Channel::parse(&self.channel)
                .ok_or_else(|| DbError::corrupt("message channel"))?,
            direction,
            to,
            from,
            subject: open_opt(
                cipher,
                tenant,
                "messages.subject",
                row,
                self.subject_ct.as_deref(),
            )?,
            body: cipher.open_str(&self.body_ct, &aad(tenant, "messages.body", row))?,
            purpose: self
                .purpose
                .as_deref()
                .map(|p| Purpose::parse(p).ok_or_else(|| DbError::corrupt("message purpose")))
                .transpose()?,
            status: MessageStatus::parse(&self.status)
                .ok_or_else(|| DbError::corrupt("message status"))?,
            error: self.error,
            provider: self.provider,
            provider_message_id: self.provider_message_id,
            job_id: self.job_id.map(JobId::from_uuid),
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
            intake_at: ts_opt(self.intake_at)?,
            provider_called_at: ts_opt(self.provider_called_at)?,
        })
    }
}

// ---- jobs -------------------------------------------------------------------------------------

/// The columns of [`JobRow`], as a literal for `concat!`.
#[macro_export]
macro_rules! job_columns {
    () => {
        "id, tenant_id, kind, payload, state, attempts, max_attempts, run_at, last_error, created_at, updated_at"
    };
}

#[derive(Debug, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub kind: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl JobRow {
    pub fn into_record(self) -> DbResult<JobRecord> {
        Ok(JobRecord {
            id: JobId::from_uuid(self.id),
            tenant_id: self.tenant_id.map(TenantId::from_uuid),
            kind: self.kind,
            payload: serde_json::from_str(&self.payload)
                .map_err(|e| DbError::corrupt(format!("job payload: {e}")))?,
            state: JobState::parse(&self.state).ok_or_else(|| DbError::corrupt("job state"))?,
            attempts: i32::try_from(self.attempts).unwrap_or(i32::MAX),
            max_attempts: i32::try_from(self.max_attempts).unwrap_or(i32::MAX),
            run_at: ts(self.run_at)?,
            last_error: self.last_error,
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
        })
    }
}

/// Job errors are stored for operators; keep them bounded.
pub fn bounded_error(error: &str) -> String {
    const MAX: usize = 2000;
    if error.len() <= MAX {
        return error.to_owned();
    }
    let mut end = MAX;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &error[..end])
}
