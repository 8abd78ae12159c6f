//! Records of identity: users, memberships, sign-in sessions, rate-limit windows and the audit
//! log.

use domain::{AuditId, Email, Role, SessionId, SupportGrantId, TenantId, Timestamp, UserId};
use serde::Serialize;

/// A person who signs in. Emails are unique across the installation; one user can belong to
/// several organisations (an agency's staff), with a role in each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub email: Email,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Set for generated passwords: the user must choose one at first sign-in.
    pub must_change_password: bool,
    /// A platform operator: outside every tenant.
    pub operator: bool,
    pub created_at: Timestamp,
    pub password_changed_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub password_hash: String,
    pub must_change_password: bool,
    pub operator: bool,
    pub created_at: Timestamp,
}

/// A user's role in one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub role: Role,
    pub created_at: Timestamp,
}

/// One refresh token of a session. A session is a family of them: each refresh uses one up and
/// adds the next; only the newest, unused one is live.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// The family: the session's id for its whole life.
    pub session_id: SessionId,
    pub user_id: UserId,
    /// The organisation signed in to; `None` for a platform operator's session.
    pub tenant_id: Option<TenantId>,
    /// SHA-256 of the token; the token itself is never stored.
    pub token_hash: Vec<u8>,
    pub created_at: Timestamp,
    /// When this token stops working if unused.
    pub expires_at: Timestamp,
    /// What the client called itself (`User-Agent`), shortened.
    pub user_agent: String,
    /// The client's address, sealed at rest.
    pub ip: Option<String>,
}

/// A live session, as the owner of it sees it in a list of devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    /// `None` for a platform operator's session.
    pub tenant_id: Option<TenantId>,
    /// When the session began (its first token).
    pub created_at: Timestamp,
    /// When it was last refreshed.
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    pub user_agent: String,
    pub ip: Option<String>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was live: it is used up and the new one replaces it.
    Rotated(SessionRecord),
    /// The token had been used before (or its session revoked): someone holds a copy. The whole
    /// session is revoked now.
    Reused {
        session_id: SessionId,
        user_id: UserId,
        tenant_id: Option<TenantId>,
    },
    /// Unknown or expired.
    Invalid,
}

/// Who did something, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ApiKey,
    System,
    Provider,
    Operator,
    /// An inbound source (a web form, a provider's webhook), by its id.
    Source,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiKey => "api_key",
            ActorKind::System => "system",
            ActorKind::Provider => "provider",
            ActorKind::Operator => "operator",
            ActorKind::Source => "source",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ActorKind::User,
            ActorKind::ApiKey,
            ActorKind::System,
            ActorKind::Provider,
            ActorKind::Operator,
            ActorKind::Source,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// An entry to append to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub id: AuditId,
    /// The organisation whose chain it joins; `None` for the platform's own chain.
    pub tenant_id: Option<TenantId>,
    pub at: Timestamp,
    pub actor_kind: ActorKind,
    /// The user's or key's id, the provider's name, or empty for the system.
    pub actor_id: String,
    /// `auth.login`, `lead.read`, `settings.update`, ...
    pub action: String,
    /// `lead`, `user`, `session`, ...
    pub target_kind: String,
    pub target_id: String,
    /// The client's address, sealed at rest.
    pub ip: Option<String>,
    pub correlation_id: String,
    /// More about it, never personal data in clear: JSON object.
    pub detail: serde_json::Value,
}

/// A stored audit entry: its place in its chain and the hashes that link it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in its chain, from 1.
    pub seq: i64,
    pub entry: NewAuditEntry,
    /// The hash of the entry before it in the chain (32 zero bytes for the first).
    pub prev_hash: Vec<u8>,
    /// SHA-256 over `prev_hash` and the entry's canonical form: see [`crate::codec::audit_hash`].
    pub hash: Vec<u8>,
}

/// Which chain to read: one organisation's or the platform's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditChain {
    Tenant(TenantId),
    Platform,
}

impl AuditChain {
    pub fn of(tenant: Option<TenantId>) -> Self {
        tenant.map_or(AuditChain::Platform, AuditChain::Tenant)
    }

    /// The chain of a key from [`AuditChain::key`].
    pub fn parse(key: &str) -> Option<Self> {
        if key == "platform" {
            return Some(AuditChain::Platform);
        }
        key.parse::<TenantId>().ok().map(AuditChain::Tenant)
    }

    /// The chain's key in the database.
    pub fn key(self) -> String {
        match self {
            AuditChain::Tenant(id) => id.to_string(),
            AuditChain::Platform => "platform".to_owned(),
        }
    }
}

/// What a one-time token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneTimeKind {
    PasswordReset,
    Invitation,
}

impl OneTimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OneTimeKind::PasswordReset => "password_reset",
            OneTimeKind::Invitation => "invitation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [OneTimeKind::PasswordReset, OneTimeKind::Invitation]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A single-use, expiring token sent by email: a password reset or an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOneTimeToken {
    pub id: uuid::Uuid,
    pub kind: OneTimeKind,
    /// SHA-256 of the token; the token itself is only in the email.
    pub token_hash: Vec<u8>,
    /// The user a reset is for.
    pub user_id: Option<UserId>,
    /// The organisation an invitation is to.
    pub tenant_id: Option<TenantId>,
    /// Where it was sent (sealed at rest).
    pub email: Email,
    /// The role an invitation grants.
    pub role: Option<Role>,
    /// Who asked for it (the inviting admin), if anyone.
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A stored one-time token (without its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    pub id: uuid::Uuid,
    pub kind: OneTimeKind,
    pub user_id: Option<UserId>,
    pub tenant_id: Option<TenantId>,
    pub email: Email,
    pub role: Option<Role>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// An organisation's permission for platform operators to act inside it, given by an owner or
/// admin: until it expires or is revoked, an operator may use the organisation's API with at
/// most `role`, and every request they make is in the organisation's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportGrant {
    pub id: SupportGrantId,
    pub tenant_id: TenantId,
    /// The most an operator may do (never `owner`).
    pub role: Role,
    /// Why: shown to the operator and kept in the audit log.
    pub reason: String,
    /// The member who gave it.
    pub granted_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl SupportGrant {
    /// Whether operators may use it at `at`.
    pub fn is_live(&self, at: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at > at
    }
}

#[derive(Debug, Clone)]
pub struct NewSupportGrant {
    pub id: SupportGrantId,
    pub role: Role,
    pub reason: String,
    pub granted_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Who asked for a change that the store enters in the audit log in the change's own
/// transaction (intake): the entry is staged with the change and chained moments later
/// (`Store::chain_staged_audit`), so a busy organisation's writes never queue on its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub ip: Option<String>,
    pub correlation_id: String,
}

impl AuditContext {
    /// Leadline itself (a job, the command line): `actor_id` names which.
    pub fn system(actor_id: &str) -> Self {
        Self {
            actor_kind: ActorKind::System,
            actor_id: actor_id.to_owned(),
            ip: None,
            correlation_id: String::new(),
        }
    }
}
