//! Rows of the identity tables, their sealing, and the audit log's hash chain. Shared by both
//! backends like [`crate::codec`].
//!
//! Users belong to no single tenant, so their email is sealed and blind-indexed under the
//! platform scope ([`PLATFORM`], the nil UUID), which no organisation can have.

use crypto::{Aad, BlindKind, Cipher};
use domain::{AuditId, Email, Role, SessionId, SupportGrantId, TenantId, UserId};
use serde::Serialize;
use uuid::Uuid;

use crate::codec::{ts, ts_opt, us};
use crate::{
    ActorKind, AuditEntry, DbError, DbResult, Membership, NewAuditEntry, NewUser, SessionRecord,
    SupportGrant, UserRecord,
};

/// The scope of rows outside every tenant (users, the platform's audit chain).
pub const PLATFORM: TenantId = TenantId::from_uuid(Uuid::nil());

/// The hash a chain starts from.
pub const GENESIS: [u8; 32] = [0; 32];

/// The blind index of a user's email.
pub fn user_email_index(cipher: &Cipher, email: &Email) -> Vec<u8> {
    cipher
        .blind_index(PLATFORM, BlindKind::Email, email.as_str())
        .to_vec()
}

/// A user's columns as written.
pub struct SealedUser {
    pub email_ct: Vec<u8>,
    pub email_bidx: Vec<u8>,
}

pub fn seal_user(cipher: &Cipher, user: &NewUser) -> SealedUser {
    SealedUser {
        email_ct: cipher.seal_str(
            user.email.as_str(),
            &Aad {
                tenant: PLATFORM,
                column: "users.email",
                row: user.id.as_uuid(),
            },
        ),
        email_bidx: user_email_index(cipher, &user.email),
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email_ct: Vec<u8>,
    pub password_hash: String,
    pub must_change_password: bool,
    pub operator: bool,
    pub created_at: i64,
    pub password_changed_at: i64,
    pub disabled_at: Option<i64>,
}

#[macro_export]
macro_rules! user_columns {
    () => {
        "id, email_ct, password_hash, must_change_password, operator, created_at, \
         password_changed_at, disabled_at"
    };
}

impl UserRow {
    pub fn open(self, cipher: &Cipher) -> DbResult<UserRecord> {
        let email = cipher.open_str(
            &self.email_ct,
            &Aad {
                tenant: PLATFORM,
                column: "users.email",
                row: self.id,
            },
        )?;
        Ok(UserRecord {
            id: UserId::from_uuid(self.id),
            email: Email::parse(&email)
                .map_err(|e| DbError::corrupt(format!("user email: {e}")))?,
            password_hash: self.password_hash,
            must_change_password: self.must_change_password,
            operator: self.operator,
            created_at: ts(self.created_at)?,
            password_changed_at: ts(self.password_changed_at)?,
            disabled_at: ts_opt(self.disabled_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct MembershipRow {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: String,
    pub created_at: i64,
}

impl MembershipRow {
    pub fn into_record(self) -> DbResult<Membership> {
        Ok(Membership {
            tenant_id: TenantId::from_uuid(self.tenant_id),
            user_id: UserId::from_uuid(self.user_id),
            role: Role::parse(&self.role)
                .ok_or_else(|| DbError::corrupt(format!("role {:?}", self.role)))?,
            created_at: ts(self.created_at)?,
        })
    }
}

/// The columns of `support_grants`, in [`SupportGrantRow`]'s order.
#[macro_export]
macro_rules! support_grant_columns {
    () => {
        "id, tenant_id, role, reason, granted_by, created_at, expires_at, revoked_at"
    };
}

#[derive(Debug, sqlx::FromRow)]
pub struct SupportGrantRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub role: String,
    pub reason: String,
    pub granted_by: Uuid,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl SupportGrantRow {
    pub fn into_record(self) -> DbResult<SupportGrant> {
        Ok(SupportGrant {
            id: SupportGrantId::from_uuid(self.id),
            tenant_id: TenantId::from_uuid(self.tenant_id),
            role: Role::parse(&self.role)
                .ok_or_else(|| DbError::corrupt(format!("role {:?}", self.role)))?,
            reason: self.reason,
            granted_by: UserId::from_uuid(self.granted_by),
            created_at: ts(self.created_at)?,
            expires_at: ts(self.expires_at)?,
            revoked_at: ts_opt(self.revoked_at)?,
        })
    }
}

/// Of an organisation's live grants, the one giving the strongest role (the newest among
/// equals).
pub fn strongest_grant(rows: Vec<SupportGrantRow>) -> DbResult<Option<SupportGrant>> {
    let mut best: Option<SupportGrant> = None;
    for row in rows {
        let grant = row.into_record()?;
        let better = best.as_ref().is_none_or(|b| {
            (grant.role < b.role) || (grant.role == b.role && grant.created_at > b.created_at)
        });
        if better {
            best = Some(grant);
        }
    }
    Ok(best)
}

fn session_ip_aad(tenant: Uuid, session: Uuid) -> Aad<'static> {
    Aad {
        tenant: TenantId::from_uuid(tenant),
        column: "sessions.ip",
        row: session,
    }
}

/// Seals a session's client address under its organisation (operators' sessions, which have
/// none, under [`PLATFORM`]).
pub fn seal_session_ip(
    cipher: &Cipher,
    tenant: Option<TenantId>,
    session: SessionId,
    ip: Option<&str>,
) -> Option<Vec<u8>> {
    let tenant = tenant.unwrap_or(PLATFORM);
    ip.map(|ip| cipher.seal_str(ip, &session_ip_aad(tenant.as_uuid(), session.as_uuid())))
}

#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub user_agent: String,
    pub ip_ct: Option<Vec<u8>>,
}

#[macro_export]
macro_rules! session_columns {
    () => {
        "id, user_id, tenant_id, created_at, last_used_at, expires_at, user_agent, ip_ct"
    };
}

impl SessionRow {
    pub fn open(self, cipher: &Cipher) -> DbResult<SessionRecord> {
        let ip = self
            .ip_ct
            .as_deref()
            .map(|ct| {
                let scope = self.tenant_id.unwrap_or(PLATFORM.as_uuid());
                cipher.open_str(ct, &session_ip_aad(scope, self.id))
            })
            .transpose()?;
        Ok(SessionRecord {
            id: SessionId::from_uuid(self.id),
            user_id: UserId::from_uuid(self.user_id),
            tenant_id: self.tenant_id.map(TenantId::from_uuid),
            created_at: ts(self.created_at)?,
            last_used_at: ts(self.last_used_at)?,
            expires_at: ts(self.expires_at)?,
            user_agent: self.user_agent,
            ip,
        })
    }
}

// ---- one-time tokens --------------------------------------------------------------------------

fn token_email_aad(tenant: Option<Uuid>, id: Uuid) -> Aad<'static> {
    Aad {
        tenant: tenant.map_or(PLATFORM, TenantId::from_uuid),
        column: "one_time_tokens.email",
        row: id,
    }
}

pub fn seal_token_email(cipher: &Cipher, token: &crate::NewOneTimeToken) -> Vec<u8> {
    cipher.seal_str(
        token.email.as_str(),
        &token_email_aad(token.tenant_id.map(|t| t.as_uuid()), token.id),
    )
}

#[derive(Debug, sqlx::FromRow)]
pub struct OneTimeRow {
    pub id: Uuid,
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub email_ct: Vec<u8>,
    pub role: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[macro_export]
macro_rules! one_time_columns {
    () => {
        "id, kind, user_id, tenant_id, email_ct, role, created_by, created_at, expires_at, used_at"
    };
}

impl OneTimeRow {
    pub fn open(self, cipher: &Cipher) -> DbResult<crate::OneTimeToken> {
        let email = cipher.open_str(&self.email_ct, &token_email_aad(self.tenant_id, self.id))?;
        Ok(crate::OneTimeToken {
            id: self.id,
            kind: crate::OneTimeKind::parse(&self.kind)
                .ok_or_else(|| DbError::corrupt(format!("token kind {:?}", self.kind)))?,
            user_id: self.user_id.map(UserId::from_uuid),
            tenant_id: self.tenant_id.map(TenantId::from_uuid),
            email: Email::parse(&email)
                .map_err(|e| DbError::corrupt(format!("token email: {e}")))?,
            role: self
                .role
                .map(|r| Role::parse(&r).ok_or_else(|| DbError::corrupt(format!("role {r:?}"))))
                .transpose()?,
            created_by: self.created_by.map(UserId::from_uuid),
            created_at: ts(self.created_at)?,
            expires_at: ts(self.expires_at)?,
            used_at: ts_opt(self.used_at)?,
        })
    }
}

// ---- organisation secrets -------------------------------------------------------------------

fn secret_column(name: &str) -> String {
    format!("tenant_secrets.{name}")
}

pub fn seal_secret(cipher: &Cipher, tenant: TenantId, name: &str, value: &str) -> Vec<u8> {
    cipher.seal_str(
        value,
        &Aad {
            tenant,
            column: &secret_column(name),
            row: tenant.as_uuid(),
        },
    )
}

pub fn open_secret(
    cipher: &Cipher,
    tenant: TenantId,
    name: &str,
    sealed: &[u8],
) -> DbResult<String> {
    Ok(cipher.open_str(
        sealed,
        &Aad {
            tenant,
            column: &secret_column(name),
            row: tenant.as_uuid(),
        },
    )?)
}

// ---- audit log --------------------------------------------------------------------------------

/// An entry's address, sealed bound to its chain and id (the same in `audit_log` and staged).
fn seal_audit_ip(cipher: &Cipher, chain: &str, entry: &NewAuditEntry) -> Option<Vec<u8>> {
    entry
        .ip
        .as_deref()
        .map(|ip| cipher.seal_str(ip, &audit_ip_aad(chain, entry.id.as_uuid())))
}

fn audit_ip_aad(chain: &str, id: Uuid) -> Aad<'static> {
    // The chain key is a tenant id or "platform"; the tenant in the associated data is the
    // entry's tenant, or the platform scope.
    let tenant = chain
        .parse::<Uuid>()
        .map(TenantId::from_uuid)
        .unwrap_or(PLATFORM);
    Aad {
        tenant,
        column: "audit_log.ip",
        row: id,
    }
}

/// The canonical form an entry is hashed in: fixed field order, instants as microseconds.
#[derive(Serialize)]
struct Canonical<'a> {
    chain: &'a str,
    seq: i64,
    id: Uuid,
    at: i64,
    actor_kind: &'a str,
    actor_id: &'a str,
    action: &'a str,
    target_kind: &'a str,
    target_id: &'a str,
    ip: Option<&'a str>,
    correlation_id: &'a str,
    detail: &'a serde_json::Value,
}

/// `SHA-256(prev_hash || canonical JSON of the entry at seq in chain)`.
pub fn audit_hash(chain: &str, seq: i64, prev_hash: &[u8], entry: &NewAuditEntry) -> [u8; 32] {
    let canonical = Canonical {
        chain,
        seq,
        id: entry.id.as_uuid(),
        at: us(entry.at),
        actor_kind: entry.actor_kind.as_str(),
        actor_id: &entry.actor_id,
        action: &entry.action,
        target_kind: &entry.target_kind,
        target_id: &entry.target_id,
        ip: entry.ip.as_deref(),
        correlation_id: &entry.correlation_id,
        detail: &entry.detail,
    };
    // Serialising plain strings, numbers and a JSON value cannot fail.
    let json = serde_json::to_vec(&canonical).unwrap_or_default();
    let mut bytes = Vec::with_capacity(prev_hash.len() + json.len());
    bytes.extend_from_slice(prev_hash);
    bytes.extend_from_slice(&json);
    crypto::sha256(&bytes)
}

/// An entry's columns as written.
pub struct SealedAudit {
    pub chain: String,
    pub seq: i64,
    pub ip_ct: Option<Vec<u8>>,
    pub detail: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Seals an entry that follows `prev` (the chain's last `(seq, hash)`, or `None` for the first).
pub fn seal_audit(
    cipher: &Cipher,
    entry: &NewAuditEntry,
    prev: Option<(i64, Vec<u8>)>,
) -> SealedAudit {
    let chain = crate::AuditChain::of(entry.tenant_id).key();
    let (seq, prev_hash) = match prev {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_vec()),
    };
    let hash = audit_hash(&chain, seq, &prev_hash, entry).to_vec();
    SealedAudit {
        ip_ct: seal_audit_ip(cipher, &chain, entry),
        detail: entry.detail.to_string(),
        chain,
        seq,
        prev_hash,
        hash,
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub chain: String,
    pub seq: i64,
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub ip_ct: Option<Vec<u8>>,
    pub correlation_id: String,
    pub detail: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

#[macro_export]
macro_rules! audit_columns {
    () => {
        "chain, seq, id, tenant_id, at, actor_kind, actor_id, action, target_kind, target_id, \
         ip_ct, correlation_id, detail, prev_hash, hash"
    };
}

impl AuditRow {
    pub fn open(self, cipher: &Cipher) -> DbResult<AuditEntry> {
        let entry = StagedAuditRow {
            position: self.seq,
            id: self.id,
            tenant_id: self.tenant_id,
            at: self.at,
            actor_kind: self.actor_kind,
            actor_id: self.actor_id,
            action: self.action,
            target_kind: self.target_kind,
            target_id: self.target_id,
            ip_ct: self.ip_ct,
            correlation_id: self.correlation_id,
            detail: self.detail,
        }
        .open_in(&self.chain, cipher)?;
        Ok(AuditEntry {
            seq: self.seq,
            entry,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Where a chain does not hold together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub id: AuditId,
    pub reason: &'static str,
}

/// Checks entries of one chain, in order, continuing from `prev` (`(seq, hash)` of the entry
/// before the first, or `None` from the start). Returns the last `(seq, hash)` to continue from,
/// or the first entry that breaks the chain.
pub fn verify_chain_segment(
    chain: &str,
    entries: &[AuditEntry],
    prev: Option<(i64, Vec<u8>)>,
) -> Result<Option<(i64, Vec<u8>)>, ChainBreak> {
    let mut prev = prev;
    for e in entries {
        let (expected_seq, expected_prev) = match &prev {
            Some((seq, hash)) => (seq + 1, hash.clone()),
            None => (1, GENESIS.to_vec()),
        };
        let broken = |reason| ChainBreak {
            seq: e.seq,
            id: e.entry.id,
            reason,
        };
        if e.seq != expected_seq {
            return Err(broken("an entry is missing before this one"));
        }
        if e.prev_hash != expected_prev {
            return Err(broken("its link to the entry before does not match"));
        }
        if audit_hash(chain, e.seq, &e.prev_hash, &e.entry).as_slice() != e.hash.as_slice() {
            return Err(broken("its content does not match its hash"));
        }
        prev = Some((e.seq, e.hash.clone()));
    }
    Ok(prev)
}

#[cfg(test)]
mod tests {
    use domain::Timestamp;

    use super::*;

    fn entry(action: &str) -> NewAuditEntry {
        NewAuditEntry {
            id: AuditId::new(),
            tenant_id: None,
            at: Timestamp::from_second(1_772_463_600).unwrap(),
            actor_kind: ActorKind::System,
            actor_id: String::new(),
            action: action.into(),
            target_kind: "user".into(),
            target_id: "u1".into(),
            ip: Some("203.0.113.9".into()),
            correlation_id: "c1".into(),
            detail: serde_json::json!({"b": 1, "a": [1, 2]}),
        }
    }

    fn chain_of(cipher: &Cipher, actions: &[&str]) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for a in actions {
            let e = entry(a);
            let prev = out.last().map(|l| (l.seq, l.hash.clone()));
            let sealed = seal_audit(cipher, &e, prev);
            out.push(AuditEntry {
                seq: sealed.seq,
                entry: e,
                prev_hash: sealed.prev_hash,
                hash: sealed.hash,
            });
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies_and_any_edit_is_found() {
        let cipher = Cipher::new(crypto::KeyRing::generate());
        let chain = chain_of(&cipher, &["a", "b", "c", "d"]);
        assert!(verify_chain_segment("platform", &chain, None).is_ok());

        let mut edited = chain.clone();
        edited[2].entry.action = "nothing.to.see".into();
        let err = verify_chain_segment("platform", &edited, None).unwrap_err();
        assert_eq!(
            (err.seq, err.reason),
            (3, "its content does not match its hash")
        );

        let mut removed = chain.clone();
        removed.remove(1);
        assert_eq!(
            verify_chain_segment("platform", &removed, None)
                .unwrap_err()
                .seq,
            3
        );

        // Rewriting an entry and its own hash still breaks the next link.
        let mut rehashed = chain.clone();
        rehashed[1].entry.actor_id = "someone-else".into();
        rehashed[1].hash =
            audit_hash("platform", 2, &rehashed[1].prev_hash, &rehashed[1].entry).to_vec();
        let err = verify_chain_segment("platform", &rehashed, None).unwrap_err();
        assert_eq!(
            (err.seq, err.reason),
            (3, "its link to the entry before does not match")
        );
    }

    #[test]
    fn a_chain_verifies_in_segments() {
        let cipher = Cipher::new(crypto::KeyRing::generate());
        let chain = chain_of(&cipher, &["a", "b", "c"]);
        let mid = verify_chain_segment("platform", &chain[..1], None).unwrap();
        assert!(verify_chain_segment("platform", &chain[1..], mid).is_ok());
    }
}

// ---- staged audit entries ---------------------------------------------------------------------

/// The columns of `audit_outbox`, in [`StagedAuditRow`]'s order (after its position).
#[macro_export]
macro_rules! staged_audit_columns {
    () => {
        "id, tenant_id, at, actor_kind, actor_id, action, target_kind, target_id, ip_ct, \
         correlation_id, detail"
    };
}

/// A staged entry's sealed columns: its address sealed exactly as in `audit_log`, so chaining
/// opens it only to hash it.
pub struct SealedStaged {
    pub ip_ct: Option<Vec<u8>>,
    pub detail: String,
}

pub fn seal_staged(cipher: &Cipher, entry: &NewAuditEntry) -> SealedStaged {
    let chain = crate::AuditChain::of(entry.tenant_id).key();
    SealedStaged {
        ip_ct: seal_audit_ip(cipher, &chain, entry),
        detail: entry.detail.to_string(),
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct StagedAuditRow {
    pub position: i64,
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub ip_ct: Option<Vec<u8>>,
    pub correlation_id: String,
    pub detail: String,
}

impl StagedAuditRow {
    pub fn open(self, cipher: &Cipher) -> DbResult<NewAuditEntry> {
        let chain = crate::AuditChain::of(self.tenant_id.map(TenantId::from_uuid)).key();
        self.open_in(&chain, cipher)
    }

    /// Opens the entry of chain `chain` (its address is sealed bound to the chain).
    fn open_in(self, chain: &str, cipher: &Cipher) -> DbResult<NewAuditEntry> {
        let ip = self
            .ip_ct
            .as_deref()
            .map(|ct| cipher.open_str(ct, &audit_ip_aad(chain, self.id)))
            .transpose()?;
        Ok(NewAuditEntry {
            id: AuditId::from_uuid(self.id),
            tenant_id: self.tenant_id.map(TenantId::from_uuid),
            at: ts(self.at)?,
            actor_kind: ActorKind::parse(&self.actor_kind)
                .ok_or_else(|| DbError::corrupt(format!("actor {:?}", self.actor_kind)))?,
            actor_id: self.actor_id,
            action: self.action,
            target_kind: self.target_kind,
            target_id: self.target_id,
            ip,
            correlation_id: self.correlation_id,
            detail: serde_json::from_str(&self.detail)
                .map_err(|e| DbError::corrupt(format!("audit detail: {e}")))?,
        })
    }
}

/// The audit entry of an intake: `lead.create` for a new lead, `lead.touch` for a known one.
pub fn intake_audit_entry(
    tenant: TenantId,
    context: &crate::AuditContext,
    outcome: &crate::IntakeOutcome,
    source: &str,
    at: domain::Timestamp,
) -> NewAuditEntry {
    NewAuditEntry {
        id: AuditId::new(),
        tenant_id: Some(tenant),
        at,
        actor_kind: context.actor_kind,
        actor_id: context.actor_id.clone(),
        action: if outcome.created {
            "lead.create"
        } else {
            "lead.touch"
        }
        .to_owned(),
        target_kind: "lead".to_owned(),
        target_id: outcome.lead.id.to_string(),
        ip: context.ip.clone(),
        correlation_id: context.correlation_id.clone(),
        detail: serde_json::json!({ "source": source }),
    }
}
