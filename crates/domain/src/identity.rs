//! Who may do what inside an organisation.

use serde::{Deserialize, Serialize};

/// A member's role in one organisation, from most to least powerful. What each may do is the
/// permission matrix in `docs/security.md`, enforced by the web layer's capability extractors.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including deleting the organisation and handing over ownership.
    Owner,
    /// Everything about the organisation's setup: settings, members, keys, integrations.
    Admin,
    /// Runs the pipeline: leads, conversations, sequences; sees reports.
    Manager,
    /// Works leads and conversations.
    Agent,
    /// Reads.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Manager,
        Role::Agent,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role is at least as powerful as `other`.
    pub fn at_least(self, other: Role) -> bool {
        // Declared from most to least powerful, so a smaller value is a stronger role.
        self <= other
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_rank() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(Role::Owner.at_least(Role::Admin));
        assert!(Role::Admin.at_least(Role::Admin));
        assert!(!Role::Agent.at_least(Role::Manager));
        assert!(!Role::Viewer.at_least(Role::Agent));
        assert_eq!(Role::parse("root"), None);
    }
}
