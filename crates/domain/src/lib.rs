//! Leadline's vocabulary: typed ids, parsed newtypes (`Phone`, `Email`) and the plain data that
//! crosses crate boundaries (`Lead`, `Message`, `ConsentEvent`, ...). Nothing here does I/O.

pub mod address;
pub mod appointment;
pub mod clock;
pub mod consent;
pub mod email;
pub mod engagement;
pub mod identity;
pub mod ids;
pub mod lead;
pub mod mask;
pub mod message;
pub mod phone;
pub mod recovery;
pub mod sequence;
pub mod source;
pub mod tenant;
pub mod timeline;

pub use address::Address;
pub use clock::{Clock, SystemClock};
pub use consent::{ConsentEvent, ConsentEvidence, ConsentKind, Purpose};
pub use email::{Email, EmailError};
pub use identity::Role;
pub use ids::{
    ApiKeyId, AppointmentId, AuditId, ConsentEventId, EnrolmentId, IdError, JobId, LeadEventId,
    LeadId, MessageId, ReviewId, SequenceId, SessionId, SourceId, SupportGrantId, TenantId, UserId,
};
pub use lead::{Details, Lead, LeadStatus, NewLead, Tags};
pub use message::{Channel, Direction, Message, MessageStatus};
pub use phone::{Phone, PhoneError};
pub use source::SourceKind;
pub use tenant::Tenant;

/// Instants are UTC timestamps everywhere; local time exists only inside `compliance`.
pub type Timestamp = jiff::Timestamp;
