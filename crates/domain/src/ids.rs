//! Typed ids. Every id is a UUIDv7 (time-ordered, so keyset pagination by id is pagination by
//! creation time) wrapped in its own type: a function that takes a `LeadId` cannot be handed a
//! `TenantId`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct IdError {
    pub kind: &'static str,
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// What the id calls itself in error messages.
            pub const KIND: &'static str = $kind;
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self).map_err(|_| IdError { kind: $kind })
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Uuid,
                    )))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// An organisation: the unit of tenancy.
    TenantId, "organisation"
);
id_type!(
    /// A person who asked to be contacted.
    LeadId, "lead"
);
id_type!(
    /// One SMS or email, in either direction.
    MessageId, "message"
);
id_type!(
    /// An API key of an organisation.
    ApiKeyId, "API key"
);
id_type!(
    /// A durable job.
    JobId, "job"
);
id_type!(
    /// One entry of the append-only consent ledger.
    ConsentEventId, "consent event"
);
id_type!(
    /// A person who signs in: a member of organisations, or a platform operator.
    UserId, "user"
);
id_type!(
    /// A signed-in device: one family of rotating refresh tokens.
    SessionId, "session"
);
id_type!(
    /// One entry of the audit log.
    AuditId, "audit entry"
);
id_type!(
    /// An organisation's time-limited permission for platform operators to act inside it.
    SupportGrantId, "support grant"
);
id_type!(
    /// An inbound source (`/hooks/{kind}/{id}`), bound to one organisation.
    SourceId, "source"
);
id_type!(
    /// A free-text opt-out waiting in the compliance review queue.
    ReviewId, "review"
);
id_type!(
    /// A follow-up sequence (all its versions).
    SequenceId, "sequence"
);
id_type!(
    /// One lead's run through one version of a sequence.
    EnrolmentId, "enrolment"
);
id_type!(
    /// An appointment booked with a lead.
    AppointmentId, "appointment"
);
id_type!(
    /// One entry of a lead's timeline that is neither a message nor a consent event: a status
    /// change, a note, an appointment's change.
    LeadEventId, "lead event"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = LeadId::new();
        assert_eq!(id.to_string().parse::<LeadId>(), Ok(id));
    }

    #[test]
    fn malformed_id_names_its_kind() {
        let err = "not-a-uuid".parse::<LeadId>().unwrap_err();
        assert_eq!(err.to_string(), "not a valid lead id");
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = MessageId::new();
        let b = MessageId::new();
        assert!(a < b);
    }
}
