//! Row types of sequences and enrolments, shared by both backends.

use domain::sequence::{Definition, Enrolment, EnrolmentState, Origin, Sequence};
use domain::{EnrolmentId, LeadId, SequenceId, TenantId};
use uuid::Uuid;

use crate::codec::ts;
use crate::{DbError, DbResult};

/// The columns of [`SequenceRow`]: a sequence joined with one of its versions (`s`, `v`).
#[macro_export]
macro_rules! sequence_columns {
    () => {
        "s.id, s.tenant_id, v.name, v.version, v.definition, s.archived_at, s.created_at, \
         v.created_at AS updated_at"
    };
}

#[derive(Debug, sqlx::FromRow)]
pub struct SequenceRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub version: i32,
    pub definition: String,
    pub archived_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SequenceRow {
    pub fn into_sequence(self) -> DbResult<Sequence> {
        let definition: Definition = serde_json::from_str(&self.definition)
            .map_err(|e| DbError::corrupt(format!("sequence definition: {e}")))?;
        Ok(Sequence {
            id: SequenceId::from_uuid(self.id),
            tenant_id: TenantId::from_uuid(self.tenant_id),
            name: self.name,
            version: self.version,
            definition,
            archived_at: self.archived_at.map(ts).transpose()?,
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
        })
    }
}

/// A definition as stored.
pub fn definition_json(definition: &Definition) -> DbResult<String> {
    serde_json::to_string(definition).map_err(|e| DbError::corrupt(e.to_string()))
}

#[macro_export]
macro_rules! enrolment_columns {
    () => {
        "id, tenant_id, lead_id, sequence_id, version, state, step, next_run_at, exit_reason, \
         enrolled_at, updated_at, origin"
    };
}

#[derive(Debug, sqlx::FromRow)]
pub struct EnrolmentRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub lead_id: Uuid,
    pub sequence_id: Uuid,
    pub version: i32,
    pub state: String,
    pub step: i32,
    pub next_run_at: Option<i64>,
    pub exit_reason: Option<String>,
    pub enrolled_at: i64,
    pub updated_at: i64,
    pub origin: String,
}

impl EnrolmentRow {
    pub fn into_enrolment(self) -> DbResult<Enrolment> {
        Ok(Enrolment {
            id: EnrolmentId::from_uuid(self.id),
            tenant_id: TenantId::from_uuid(self.tenant_id),
            lead_id: LeadId::from_uuid(self.lead_id),
            sequence_id: SequenceId::from_uuid(self.sequence_id),
            version: self.version,
            state: EnrolmentState::parse(&self.state)
                .ok_or_else(|| DbError::corrupt(format!("enrolment state {:?}", self.state)))?,
            step: self.step,
            next_run_at: self.next_run_at.map(ts).transpose()?,
            exit_reason: self.exit_reason,
            enrolled_at: ts(self.enrolled_at)?,
            updated_at: ts(self.updated_at)?,
            origin: Origin::parse(&self.origin)
                .ok_or_else(|| DbError::corrupt(format!("enrolment origin {:?}", self.origin)))?,
        })
    }
}
