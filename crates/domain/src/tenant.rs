//! `Tenant`: the scope every tenant-owned read and write runs in.

use crate::TenantId;

/// The organisation an operation acts for. Store methods take it first. It is made only where a
/// principal has been authenticated (an API key, a session, a webhook source bound to one
/// organisation) or by an operator command, through a constructor whose name says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tenant(TenantId);

impl Tenant {
    /// Scope work to `id`. Call this only after authenticating a principal of that organisation,
    /// or from an operator's own command line: everything downstream trusts it.
    pub const fn from_authenticated(id: TenantId) -> Self {
        Self(id)
    }

    pub const fn id(&self) -> TenantId {
        self.0
    }
}
