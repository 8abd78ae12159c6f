//! Inbound sources: records, and their sealing (shared by both backends like [`crate::codec`]).
//!
//! A source belongs to one organisation. Its signing secret is sealed like every other secret,
//! bound to the organisation, the column and the source; the previous secret stays valid for a
//! while after a rotation, so senders can switch without losing a request.

use crypto::{Aad, Cipher};
use domain::{SourceId, SourceKind, TenantId, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::codec::{ts, ts_opt};
use crate::{DbError, DbResult};

/// An inbound source, its secrets opened.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    pub id: SourceId,
    pub tenant_id: TenantId,
    pub kind: SourceKind,
    pub name: String,
    /// What the kind needs and is not secret (a form's mode, origins and field mapping).
    pub settings: serde_json::Value,
    /// The signing secret.
    pub secret: SecretString,
    /// The secret before the last rotation, and until when it is still accepted.
    pub previous_secret: Option<(SecretString, Timestamp)>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// Whether the source's organisation is suspended (read with the source, to refuse it).
    pub tenant_suspended: bool,
}

impl SourceRecord {
    /// The secrets a request may be signed with at `at`: the current one, then the previous
    /// one while it lasts.
    pub fn secrets_at(&self, at: Timestamp) -> Vec<&SecretString> {
        let mut secrets = vec![&self.secret];
        if let Some((previous, until)) = &self.previous_secret
            && *until > at
        {
            secrets.push(previous);
        }
        secrets
    }
}

impl NewSource {
    /// The record of this source as created in `tenant` (instants as stored), so a backend
    /// need not read it back.
    pub fn into_record(self, tenant: TenantId) -> SourceRecord {
        let at = crate::codec::at_rest(self.created_at);
        SourceRecord {
            id: self.id,
            tenant_id: tenant,
            kind: self.kind,
            name: self.name,
            settings: self.settings,
            secret: self.secret,
            previous_secret: None,
            created_at: at,
            updated_at: at,
            revoked_at: None,
            // Only an authenticated member or key of a live organisation creates sources.
            tenant_suspended: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewSource {
    pub id: SourceId,
    pub kind: SourceKind,
    pub name: String,
    pub settings: serde_json::Value,
    pub secret: SecretString,
    pub created_at: Timestamp,
}

/// A change to a live source; `None` leaves a part as it is.
#[derive(Debug, Clone, Default)]
pub struct SourceUpdate {
    pub name: Option<String>,
    pub settings: Option<serde_json::Value>,
    /// A new secret; the current one stays accepted until the instant given.
    pub rotate_secret: Option<(SecretString, Timestamp)>,
}

/// The columns of `sources` (with the organisation's suspension), in [`SourceRow`]'s order,
/// for a query that joins `tenants` as `t` and names `sources` `s`.
#[macro_export]
macro_rules! source_columns {
    () => {
        "s.id, s.tenant_id, s.kind, s.name, s.settings, s.secret_ct, s.previous_secret_ct, \
         s.previous_until, s.created_at, s.updated_at, s.revoked_at, \
         t.suspended_at IS NOT NULL AS tenant_suspended"
    };
}

#[derive(Debug, sqlx::FromRow)]
pub struct SourceRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: String,
    pub name: String,
    pub settings: String,
    pub secret_ct: Vec<u8>,
    pub previous_secret_ct: Option<Vec<u8>>,
    pub previous_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub revoked_at: Option<i64>,
    pub tenant_suspended: bool,
}

/// The column both secrets are bound to. A rotation moves the current ciphertext to
/// `previous_secret_ct` in the same statement that writes the new one (no read, so two
/// rotations cannot interleave); both are this source's secrets, so they share their binding.
const SECRET: &str = "sources.secret";

fn aad(tenant: TenantId, column: &str, id: SourceId) -> Aad<'_> {
    Aad {
        tenant,
        column,
        row: id.as_uuid(),
    }
}

/// Seals a source's current secret.
pub fn seal_source_secret(
    cipher: &Cipher,
    tenant: TenantId,
    id: SourceId,
    secret: &SecretString,
) -> Vec<u8> {
    cipher.seal_str(secret.expose_secret(), &aad(tenant, SECRET, id))
}

impl SourceRow {
    pub fn into_record(self, cipher: &Cipher) -> DbResult<SourceRecord> {
        let id = SourceId::from_uuid(self.id);
        let tenant = TenantId::from_uuid(self.tenant_id);
        let secret = cipher.open_str(&self.secret_ct, &aad(tenant, SECRET, id))?;
        let previous_secret = match (self.previous_secret_ct, self.previous_until) {
            (Some(ct), Some(until)) => Some((
                SecretString::from(cipher.open_str(&ct, &aad(tenant, SECRET, id))?),
                ts(until)?,
            )),
            _ => None,
        };
        Ok(SourceRecord {
            id,
            tenant_id: tenant,
            kind: SourceKind::parse(&self.kind)
                .ok_or_else(|| DbError::corrupt(format!("source kind {:?}", self.kind)))?,
            name: self.name,
            settings: serde_json::from_str(&self.settings)
                .map_err(|e| DbError::corrupt(format!("source settings: {e}")))?,
            secret: SecretString::from(secret),
            previous_secret,
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
            revoked_at: ts_opt(self.revoked_at)?,
            tenant_suspended: self.tenant_suspended,
        })
    }
}
