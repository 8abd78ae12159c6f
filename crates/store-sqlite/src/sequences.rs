//! Sequences and enrolments on SQLite.

use domain::sequence::{Definition, Enrolment, EnrolmentState, Sequence};
use domain::{EnrolmentId, LeadId, SequenceId, Tenant, Timestamp};
use store::codec::us;
use store::sequences::{EnrolmentRow, SequenceRow, definition_json};
use store::{
    Advance, DbResult, NewEnrolment, NewJob, NewSequence, enrolment_columns, sequence_columns,
};

use crate::backend::insert_job;
use crate::{SqliteStore, db};

const SELECT: &str = concat!(
    "SELECT ",
    sequence_columns!(),
    " FROM sequences s JOIN sequence_versions v ON v.sequence_id = s.id"
);

const SELECT_ENROLMENT: &str = concat!("SELECT ", enrolment_columns!(), " FROM enrolments");

impl SqliteStore {
    pub(crate) async fn create_sequence_impl(
        &self,
        tenant: Tenant,
        new: NewSequence,
    ) -> DbResult<Sequence> {
        let t = tenant.id();
        let json = definition_json(&new.definition)?;
        let sequence = Sequence {
            id: new.id,
            tenant_id: t,
            name: new.name,
            version: 1,
            definition: new.definition,
            archived_at: None,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        let (id, name, at) = (sequence.id, sequence.name.clone(), us(new.created_at));
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO sequences (id, tenant_id, name, version, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, 1, ?4, ?4)",
                    )
                    .bind(id.as_uuid())
                    .bind(t.as_uuid())
                    .bind(&name)
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    sqlx::query(
                        "INSERT INTO sequence_versions (sequence_id, version, tenant_id, name, definition, created_at) \
                         VALUES (?1, 1, ?2, ?3, ?4, ?5)",
                    )
                    .bind(id.as_uuid())
                    .bind(t.as_uuid())
                    .bind(&name)
                    .bind(json)
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            })
            .await?;
        Ok(sequence)
    }

    pub(crate) async fn update_sequence_impl(
        &self,
        tenant: Tenant,
        id: SequenceId,
        name: String,
        definition: Definition,
        at: Timestamp,
    ) -> DbResult<Option<Sequence>> {
        let t = tenant.id();
        let json = definition_json(&definition)?;
        let version = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let version: Option<i32> = sqlx::query_scalar(
                        "UPDATE sequences SET version = version + 1, name = ?1, updated_at = ?2 \
                         WHERE id = ?3 AND tenant_id = ?4 AND archived_at IS NULL RETURNING version",
                    )
                    .bind(&name)
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(t.as_uuid())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
                    let Some(version) = version else {
                        return Ok(None);
                    };
                    sqlx::query(
                        "INSERT INTO sequence_versions (sequence_id, version, tenant_id, name, definition, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .bind(id.as_uuid())
                    .bind(version)
                    .bind(t.as_uuid())
                    .bind(&name)
                    .bind(json)
                    .bind(us(at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(Some(version))
                })
            })
            .await?;
        match version {
            Some(v) => self.get_sequence_impl(tenant, id, Some(v)).await,
            None => Ok(None),
        }
    }

    pub(crate) async fn get_sequence_impl(
        &self,
        tenant: Tenant,
        id: SequenceId,
        version: Option<i32>,
    ) -> DbResult<Option<Sequence>> {
        let sql = format!(
            "{SELECT} WHERE s.id = ?1 AND s.tenant_id = ?2 AND v.version = COALESCE(?3, s.version)"
        );
        sqlx::query_as::<_, SequenceRow>(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .bind(tenant.id().as_uuid())
            .bind(version)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?
            .map(SequenceRow::into_sequence)
            .transpose()
    }

    pub(crate) async fn list_sequences_impl(&self, tenant: Tenant) -> DbResult<Vec<Sequence>> {
        let sql = format!(
            "{SELECT} WHERE s.tenant_id = ?1 AND v.version = s.version ORDER BY s.created_at, s.id"
        );
        sqlx::query_as::<_, SequenceRow>(sqlx::AssertSqlSafe(sql))
            .bind(tenant.id().as_uuid())
            .fetch_all(&self.read)
            .await
            .map_err(db)?
            .into_iter()
            .map(SequenceRow::into_sequence)
            .collect()
    }

    pub(crate) async fn archive_sequence_impl(
        &self,
        tenant: Tenant,
        id: SequenceId,
        at: Timestamp,
    ) -> DbResult<bool> {
        let t = tenant.id();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE sequences SET archived_at = ?1, updated_at = ?1 \
                         WHERE id = ?2 AND tenant_id = ?3 AND archived_at IS NULL",
                    )
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(t.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    pub(crate) async fn enrol_impl(
        &self,
        tenant: Tenant,
        new: NewEnrolment,
        first_step: NewJob,
    ) -> DbResult<Enrolment> {
        let t = tenant.id();
        let enrolment = Enrolment {
            id: new.id,
            tenant_id: t,
            lead_id: new.lead_id,
            sequence_id: new.sequence_id,
            version: new.version,
            state: EnrolmentState::Active,
            step: 0,
            next_run_at: Some(new.next_run_at),
            exit_reason: None,
            enrolled_at: new.enrolled_at,
            updated_at: new.enrolled_at,
            origin: new.origin,
        };
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO enrolments (id, tenant_id, lead_id, sequence_id, version, state, step, \
                         next_run_at, enrolled_at, updated_at, origin) \
                         VALUES (?1, ?2, ?3, ?4, ?5, 'active', 0, ?6, ?7, ?7, ?8)",
                    )
                    .bind(new.id.as_uuid())
                    .bind(t.as_uuid())
                    .bind(new.lead_id.as_uuid())
                    .bind(new.sequence_id.as_uuid())
                    .bind(new.version)
                    .bind(us(new.next_run_at))
                    .bind(us(new.enrolled_at))
                    .bind(new.origin.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    insert_job(conn, &first_step).await
                })
            })
            .await?;
        Ok(enrolment)
    }

    pub(crate) async fn get_enrolment_impl(
        &self,
        tenant: Tenant,
        id: EnrolmentId,
    ) -> DbResult<Option<Enrolment>> {
        let sql = format!("{SELECT_ENROLMENT} WHERE id = ?1 AND tenant_id = ?2");
        sqlx::query_as::<_, EnrolmentRow>(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .bind(tenant.id().as_uuid())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?
            .map(EnrolmentRow::into_enrolment)
            .transpose()
    }

    pub(crate) async fn list_enrolments_impl(
        &self,
        tenant: Tenant,
        lead: LeadId,
    ) -> DbResult<Vec<Enrolment>> {
        let sql = format!(
            "{SELECT_ENROLMENT} WHERE tenant_id = ?1 AND lead_id = ?2 ORDER BY enrolled_at DESC, id DESC"
        );
        sqlx::query_as::<_, EnrolmentRow>(sqlx::AssertSqlSafe(sql))
            .bind(tenant.id().as_uuid())
            .bind(lead.as_uuid())
            .fetch_all(&self.read)
            .await
            .map_err(db)?
            .into_iter()
            .map(EnrolmentRow::into_enrolment)
            .collect()
    }

    pub(crate) async fn advance_enrolment_impl(
        &self,
        tenant: Tenant,
        id: EnrolmentId,
        from: i32,
        advance: Advance,
        at: Timestamp,
    ) -> DbResult<bool> {
        let t = tenant.id();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let (state, to, next_run_at, job) = match &advance {
                        Advance::Next { step, due, job } => ("active", *step, Some(us(*due)), Some(job)),
                        Advance::Complete { step } => ("completed", *step, None, None),
                    };
                    let done = sqlx::query(
                        "UPDATE enrolments SET step = ?7, state = ?1, next_run_at = ?2, updated_at = ?3 \
                         WHERE id = ?4 AND tenant_id = ?5 AND state = 'active' AND step = ?6",
                    )
                    .bind(state)
                    .bind(next_run_at)
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(t.as_uuid())
                    .bind(from)
                    .bind(to)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    if let Some(job) = job {
                        insert_job(conn, job).await?;
                    }
                    Ok(true)
                })
            })
            .await
    }

    pub(crate) async fn exit_enrolments_impl(
        &self,
        tenant: Tenant,
        ids: &[EnrolmentId],
        reason: &str,
        at: Timestamp,
    ) -> DbResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let t = tenant.id();
        let ids: Vec<uuid::Uuid> = ids.iter().map(EnrolmentId::as_uuid).collect();
        let reason = reason.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut exited = 0;
                    for id in ids {
                        exited += sqlx::query(
                            "UPDATE enrolments SET state = 'exited', exit_reason = ?1, next_run_at = NULL, \
                             updated_at = ?2 WHERE id = ?3 AND tenant_id = ?4 AND state = 'active'",
                        )
                        .bind(&reason)
                        .bind(us(at))
                        .bind(id)
                        .bind(t.as_uuid())
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?
                        .rows_affected();
                    }
                    Ok(exited)
                })
            })
            .await
    }
}
