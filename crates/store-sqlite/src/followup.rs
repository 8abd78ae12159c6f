//! Timelines, engagement, silent-lead recovery and appointments on SQLite.

use domain::appointment::{Appointment, AppointmentState};
use domain::engagement::{Engagement, Signal};
use domain::timeline::LeadEvent;
use domain::{AppointmentId, LeadId, LeadStatus, Tenant, TenantId, Timestamp};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use store::codec::{ts_opt, us};
use store::followup::{
    AppointmentRow, LeadEventRow, RecoveryRow, appointment_event, seal_location,
};
use store::{
    AppointmentChange, DbError, DbResult, NewAppointment, NewLeadEvent, RecoveryBatch,
    RecoveryCandidate, RecoveryDone, RecoveryQuery, appointment_columns,
};

use crate::backend::insert_job;
use crate::{SqliteStore, db};

const SELECT_APPOINTMENT: &str = concat!("SELECT ", appointment_columns!(), " FROM appointments");

/// Writes a timeline entry inside the caller's transaction.
pub(crate) async fn insert_lead_event(
    conn: &mut SqliteConnection,
    cipher: &crypto::Cipher,
    tenant: TenantId,
    event: &NewLeadEvent,
) -> DbResult<()> {
    let (data, note) = event.sealed(cipher, tenant);
    sqlx::query(
        "INSERT INTO lead_events (id, tenant_id, lead_id, kind, actor, data, note_ct, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(event.id.as_uuid())
    .bind(tenant.as_uuid())
    .bind(event.lead_id.as_uuid())
    .bind(event.kind.as_str())
    .bind(&event.actor)
    .bind(data)
    .bind(note)
    .bind(us(event.at))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// The lead's status, when the organisation has the lead.
async fn lead_status(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    lead: LeadId,
) -> DbResult<Option<LeadStatus>> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM leads WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_uuid())
            .bind(lead.as_uuid())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
    status
        .map(|s| {
            LeadStatus::parse(&s).ok_or_else(|| DbError::corrupt(format!("lead status {s:?}")))
        })
        .transpose()
}

/// Moves the lead to `to` with its timeline entry, inside the caller's transaction; nothing when
/// it is there already. `None` when there is no such lead.
pub(crate) async fn move_status(
    conn: &mut SqliteConnection,
    cipher: &crypto::Cipher,
    tenant: TenantId,
    lead: LeadId,
    to: LeadStatus,
    actor: &str,
    at: Timestamp,
) -> DbResult<Option<bool>> {
    let Some(from) = lead_status(conn, tenant, lead).await? else {
        return Ok(None);
    };
    if from == to {
        return Ok(Some(false));
    }
    sqlx::query("UPDATE leads SET status = ?, updated_at = ? WHERE tenant_id = ? AND id = ?")
        .bind(to.as_str())
        .bind(us(at))
        .bind(tenant.as_uuid())
        .bind(lead.as_uuid())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    insert_lead_event(
        conn,
        cipher,
        tenant,
        &NewLeadEvent::status(lead, from, to, actor, at),
    )
    .await?;
    Ok(Some(true))
}

impl SqliteStore {
    pub(crate) async fn set_lead_status_impl(
        &self,
        tenant: Tenant,
        id: LeadId,
        status: LeadStatus,
        actor: &str,
        at: Timestamp,
    ) -> DbResult<bool> {
        let (cipher, actor) = (self.cipher.clone(), actor.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let moved =
                        move_status(conn, &cipher, tenant.id(), id, status, &actor, at).await?;
                    Ok(moved.is_some())
                })
            })
            .await
    }

    pub(crate) async fn advance_lead_status_impl(
        &self,
        tenant: Tenant,
        id: LeadId,
        from: LeadStatus,
        to: LeadStatus,
        actor: &str,
        at: Timestamp,
    ) -> DbResult<bool> {
        let (cipher, actor) = (self.cipher.clone(), actor.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE leads SET status = ?, updated_at = ? WHERE tenant_id = ? AND id = ? AND status = ?",
                    )
                    .bind(to.as_str())
                    .bind(us(at))
                    .bind(tenant.id().as_uuid())
                    .bind(id.as_uuid())
                    .bind(from.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    let event = NewLeadEvent::status(id, from, to, &actor, at);
                    insert_lead_event(conn, &cipher, tenant.id(), &event).await?;
                    Ok(true)
                })
            })
            .await
    }

    pub(crate) async fn append_lead_event_impl(
        &self,
        tenant: Tenant,
        event: NewLeadEvent,
    ) -> DbResult<LeadEvent> {
        let cipher = self.cipher.clone();
        let t = tenant.id();
        let written = event.clone();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    if lead_status(conn, t, event.lead_id).await?.is_none() {
                        return Err(DbError::NotFound);
                    }
                    insert_lead_event(conn, &cipher, t, &event).await
                })
            })
            .await?;
        Ok(LeadEvent {
            id: written.id,
            lead_id: written.lead_id,
            kind: written.kind,
            actor: written.actor,
            data: written.data,
            note: written.note,
            at: written.at,
        })
    }

    pub(crate) async fn list_lead_events_impl(
        &self,
        tenant: Tenant,
        lead: LeadId,
        before: Option<Timestamp>,
        limit: u32,
    ) -> DbResult<Vec<LeadEvent>> {
        sqlx::query_as::<_, LeadEventRow>(
            "SELECT id, lead_id, kind, actor, data, note_ct, created_at FROM lead_events \
             WHERE tenant_id = ?1 AND lead_id = ?2 AND (?3 IS NULL OR created_at < ?3) \
             ORDER BY created_at DESC, id DESC LIMIT ?4",
        )
        .bind(tenant.id().as_uuid())
        .bind(lead.as_uuid())
        .bind(before.map(us))
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(|row| row.open(&self.cipher, tenant.id()))
        .collect()
    }

    pub(crate) async fn record_signal_impl(
        &self,
        tenant: Tenant,
        lead: LeadId,
        signal: Signal,
        at: Timestamp,
    ) -> DbResult<Option<Engagement>> {
        let t = tenant.id().as_uuid();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let row: Option<(f64, Option<i64>)> = sqlx::query_as(
                        "SELECT engagement, engagement_at FROM leads WHERE tenant_id = ? AND id = ?",
                    )
                    .bind(t)
                    .bind(lead.as_uuid())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
                    let Some((score, stored_at)) = row else {
                        return Ok(None);
                    };
                    let next = Engagement {
                        score,
                        at: ts_opt(stored_at)?,
                    }
                    .with(signal, at);
                    // The writer is the only writer: nothing changes the row between the read
                    // and this update.
                    sqlx::query(
                        "UPDATE leads SET engagement = ?1, engagement_at = ?2, \
                         quiet_since = CASE WHEN ?3 THEN MAX(COALESCE(quiet_since, ?4), ?4) ELSE quiet_since END \
                         WHERE tenant_id = ?5 AND id = ?6",
                    )
                    .bind(next.score)
                    .bind(next.at.map(us))
                    .bind(signal == Signal::Reply)
                    .bind(us(at))
                    .bind(t)
                    .bind(lead.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(Some(next))
                })
            })
            .await
    }

    pub(crate) async fn recovery_candidates_impl(
        &self,
        tenant: Tenant,
        query: &RecoveryQuery,
    ) -> DbResult<Vec<RecoveryCandidate>> {
        // One ordered index range per attempt count, merged: a single statement over all the
        // counts would have to sort every match before its limit.
        let mut all = Vec::new();
        for attempts in 0..query.attempts_below.max(1) {
            let sql = if query.after.is_some() {
                "SELECT id, quiet_since, recovery_attempts, last_touch_at, engagement, engagement_at \
                 FROM leads INDEXED BY leads_recovery WHERE tenant_id = ?1 AND status = ?2 \
                 AND recovery_attempts = ?3 AND quiet_since IS NOT NULL AND quiet_since <= ?4 \
                 AND (quiet_since, id) > (?6, ?7) ORDER BY quiet_since, id LIMIT ?5"
            } else {
                "SELECT id, quiet_since, recovery_attempts, last_touch_at, engagement, engagement_at \
                 FROM leads INDEXED BY leads_recovery WHERE tenant_id = ?1 AND status = ?2 \
                 AND recovery_attempts = ?3 AND quiet_since IS NOT NULL AND quiet_since <= ?4 \
                 ORDER BY quiet_since, id LIMIT ?5"
            };
            let mut q = sqlx::query_as::<_, RecoveryRow>(sql)
                .bind(tenant.id().as_uuid())
                .bind(query.status.as_str())
                .bind(i64::from(attempts))
                .bind(us(query.quiet_before))
                .bind(i64::from(query.limit));
            if let Some((at, id)) = query.after {
                q = q.bind(us(at)).bind(id.as_uuid());
            }
            all.extend(q.fetch_all(&self.read).await.map_err(db)?);
        }
        store::followup::first_candidates(all, query.limit)
    }

    pub(crate) async fn start_recovery_impl(
        &self,
        tenant: Tenant,
        batch: RecoveryBatch,
    ) -> DbResult<RecoveryDone> {
        let t = tenant.id().as_uuid();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut done = RecoveryDone::default();
                    // Many rows per statement: a statement's round trip costs more than its rows.
                    for chunk in batch.runs.chunks(RECOVERY_CHUNK) {
                        done.add(start_chunk(conn, t, &batch, chunk).await?);
                    }
                    for chunk in batch.retire.chunks(RECOVERY_CHUNK) {
                        let mut q = QueryBuilder::<Sqlite>::new(
                            "UPDATE leads SET quiet_since = NULL WHERE tenant_id = ",
                        );
                        q.push_bind(t).push(" AND id IN (");
                        let mut ids = q.separated(", ");
                        for lead in chunk {
                            ids.push_bind(lead.as_uuid());
                        }
                        q.push(")");
                        done.retired += q
                            .build()
                            .execute(&mut *conn)
                            .await
                            .map_err(db)?
                            .rows_affected();
                    }
                    Ok(done)
                })
            })
            .await
    }

    pub(crate) async fn book_appointment_impl(
        &self,
        tenant: Tenant,
        new: NewAppointment,
    ) -> DbResult<Appointment> {
        let cipher = self.cipher.clone();
        let t = tenant.id();
        let appointment = Appointment {
            id: new.id,
            tenant_id: t,
            lead_id: new.lead_id,
            state: AppointmentState::Scheduled,
            starts_at: new.slot.starts_at,
            ends_at: new.slot.ends_at,
            time_zone: new.slot.time_zone.clone(),
            title: new.slot.title.clone(),
            location: new.slot.location.clone(),
            revision: 1,
            created_at: new.at,
            updated_at: new.at,
        };
        let booked = appointment.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let Some(status) = lead_status(conn, t, new.lead_id).await? else {
                        return Err(DbError::NotFound);
                    };
                    let location =
                        seal_location(&cipher, t, new.id, new.slot.location.as_deref());
                    sqlx::query(
                        "INSERT INTO appointments (id, tenant_id, lead_id, state, starts_at, ends_at, time_zone, \
                         title, location_ct, revision, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, 'scheduled', ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)",
                    )
                    .bind(new.id.as_uuid())
                    .bind(t.as_uuid())
                    .bind(new.lead_id.as_uuid())
                    .bind(us(new.slot.starts_at))
                    .bind(us(new.slot.ends_at))
                    .bind(&new.slot.time_zone)
                    .bind(&new.slot.title)
                    .bind(location)
                    .bind(us(new.at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    for job in &new.reminders {
                        insert_job(conn, job).await?;
                    }
                    let event = appointment_event(&booked, "booked", &new.actor, new.at);
                    insert_lead_event(conn, &cipher, t, &event).await?;
                    if store::followup::booking_moves(status) {
                        move_status(
                            conn,
                            &cipher,
                            t,
                            new.lead_id,
                            LeadStatus::Booked,
                            &new.actor,
                            new.at,
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(appointment)
    }

    pub(crate) async fn change_appointment_impl(
        &self,
        tenant: Tenant,
        id: AppointmentId,
        revision: i32,
        change: AppointmentChange,
        actor: &str,
        at: Timestamp,
    ) -> DbResult<Option<Appointment>> {
        let cipher = self.cipher.clone();
        let t = tenant.id();
        let actor = actor.to_owned();
        let changed = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let query = match &change {
                        AppointmentChange::Reschedule { slot, .. } => sqlx::query(
                            "UPDATE appointments SET starts_at = ?, ends_at = ?, time_zone = ?, title = ?, \
                             location_ct = ?, revision = revision + 1, updated_at = ? \
                             WHERE tenant_id = ? AND id = ? AND revision = ? AND state = 'scheduled'",
                        )
                        .bind(us(slot.starts_at))
                        .bind(us(slot.ends_at))
                        .bind(slot.time_zone.clone())
                        .bind(slot.title.clone())
                        .bind(seal_location(&cipher, t, id, slot.location.as_deref())),
                        AppointmentChange::Cancel => sqlx::query(
                            "UPDATE appointments SET state = 'cancelled', revision = revision + 1, updated_at = ? \
                             WHERE tenant_id = ? AND id = ? AND revision = ? AND state = 'scheduled'",
                        ),
                    };
                    let updated = query
                        .bind(us(at))
                        .bind(t.as_uuid())
                        .bind(id.as_uuid())
                        .bind(revision)
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?
                        .rows_affected();
                    if updated == 0 {
                        return Ok(None);
                    }
                    if let AppointmentChange::Reschedule { reminders, .. } = &change {
                        for job in reminders {
                            insert_job(conn, job).await?;
                        }
                    }
                    let row = sqlx::query_as::<_, AppointmentRow>(sqlx::AssertSqlSafe(format!(
                        "{SELECT_APPOINTMENT} WHERE tenant_id = ? AND id = ?"
                    )))
                    .bind(t.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db)?;
                    let appointment = row.open(&cipher)?;
                    let label = match &change {
                        AppointmentChange::Reschedule { .. } => "rescheduled",
                        AppointmentChange::Cancel => "cancelled",
                    };
                    let event = appointment_event(&appointment, label, &actor, at);
                    insert_lead_event(conn, &cipher, t, &event).await?;
                    Ok(Some(appointment))
                })
            })
            .await?;
        Ok(changed)
    }

    pub(crate) async fn get_appointment_impl(
        &self,
        tenant: Tenant,
        id: AppointmentId,
    ) -> DbResult<Option<Appointment>> {
        sqlx::query_as::<_, AppointmentRow>(sqlx::AssertSqlSafe(format!(
            "{SELECT_APPOINTMENT} WHERE tenant_id = ? AND id = ?"
        )))
        .bind(tenant.id().as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(|row| row.open(&self.cipher))
        .transpose()
    }

    pub(crate) async fn list_appointments_impl(
        &self,
        tenant: Tenant,
        lead: LeadId,
    ) -> DbResult<Vec<Appointment>> {
        sqlx::query_as::<_, AppointmentRow>(sqlx::AssertSqlSafe(format!(
            "{SELECT_APPOINTMENT} WHERE tenant_id = ? AND lead_id = ? ORDER BY starts_at, id"
        )))
        .bind(tenant.id().as_uuid())
        .bind(lead.as_uuid())
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(|row| row.open(&self.cipher))
        .collect()
    }
}

/// Rows per statement of a recovery batch (each run binds at most 11 values: well under
/// SQLite's limit of 32,766).
const RECOVERY_CHUNK: usize = 500;

/// Starts one chunk of a recovery batch: the runs (those not running already), their jobs,
/// their leads' attempts and quiet time.
async fn start_chunk(
    conn: &mut SqliteConnection,
    t: uuid::Uuid,
    batch: &RecoveryBatch,
    runs: &[store::RecoveryRun],
) -> DbResult<RecoveryDone> {
    let at = us(batch.at);
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT OR IGNORE INTO enrolments (id, tenant_id, lead_id, sequence_id, version, state, \
         step, next_run_at, enrolled_at, updated_at, origin) ",
    );
    q.push_values(runs, |mut row, run| {
        row.push_bind(run.enrolment_id.as_uuid())
            .push_bind(t)
            .push_bind(run.lead_id.as_uuid())
            .push_bind(batch.sequence_id.as_uuid())
            .push_bind(batch.version)
            .push("'active'")
            .push("0")
            .push_bind(us(run.due))
            .push_bind(at)
            .push_bind(at)
            .push("'recovery'");
    });
    q.push(" RETURNING id");
    let inserted: std::collections::HashSet<uuid::Uuid> = q
        .build_query_scalar::<uuid::Uuid>()
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?
        .into_iter()
        .collect();
    let (started, running): (Vec<&store::RecoveryRun>, Vec<&store::RecoveryRun>) = runs
        .iter()
        .partition(|r| inserted.contains(&r.enrolment_id.as_uuid()));
    if !started.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO jobs (id, tenant_id, kind, payload, state, attempts, max_attempts, run_at, \
             dedupe_key, created_at, updated_at) ",
        );
        q.push_values(&started, |mut row, run| {
            let job = &run.job;
            row.push_bind(job.id.as_uuid())
                .push_bind(job.tenant_id.map(|t| t.as_uuid()))
                .push_bind(job.kind.clone())
                .push_bind(job.payload.to_string())
                .push("'ready'")
                .push("0")
                .push_bind(i64::from(job.max_attempts))
                .push_bind(us(job.run_at))
                .push_bind(job.dedupe_key.clone())
                .push_bind(us(job.run_at))
                .push_bind(us(job.run_at));
        });
        q.build().execute(&mut *conn).await.map_err(db)?;
    }
    // Started leads spend an attempt; both kinds restart their quiet time (a running lead is
    // being followed: the next scans pass it by).
    for (leads, counted) in [(&started, true), (&running, false)] {
        if leads.is_empty() {
            continue;
        }
        let mut q = QueryBuilder::<Sqlite>::new("UPDATE leads SET quiet_since = ");
        q.push_bind(at);
        if counted {
            q.push(", recovery_attempts = recovery_attempts + 1");
        }
        q.push(" WHERE tenant_id = ")
            .push_bind(t)
            .push(" AND id IN (");
        let mut ids = q.separated(", ");
        for run in leads.iter() {
            ids.push_bind(run.lead_id.as_uuid());
        }
        q.push(")");
        q.build().execute(&mut *conn).await.map_err(db)?;
    }
    Ok(RecoveryDone {
        started: u64::try_from(started.len()).unwrap_or(0),
        running: u64::try_from(running.len()).unwrap_or(0),
        retired: 0,
    })
}

impl SqliteStore {
    pub(crate) async fn ai_cached_impl(
        &self,
        tenant: Tenant,
        key: &str,
    ) -> DbResult<Option<String>> {
        sqlx::query_scalar("SELECT text FROM ai_cache WHERE tenant_id = ? AND key = ?")
            .bind(tenant.id().as_uuid())
            .bind(key)
            .fetch_optional(&self.read)
            .await
            .map_err(db)
    }

    pub(crate) async fn record_ai_impl(
        &self,
        tenant: Tenant,
        month: &str,
        g: store::AiGeneration,
        cache: Option<(String, String)>,
    ) -> DbResult<()> {
        let t = tenant.id().as_uuid();
        let month = month.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO ai_generations (id, tenant_id, message_key, model, input_tokens, \
                         output_tokens, cost_micros, cached, outcome, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(g.id)
                    .bind(t)
                    .bind(&g.message_key)
                    .bind(&g.model)
                    .bind(g.input_tokens)
                    .bind(g.output_tokens)
                    .bind(g.cost_micros)
                    .bind(g.cached)
                    .bind(&g.outcome)
                    .bind(us(g.at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    sqlx::query(
                        "INSERT INTO ai_usage (tenant_id, month, input_tokens, output_tokens, cost_micros) \
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant_id, month) DO UPDATE SET \
                         input_tokens = input_tokens + ?3, output_tokens = output_tokens + ?4, \
                         cost_micros = cost_micros + ?5",
                    )
                    .bind(t)
                    .bind(&month)
                    .bind(g.input_tokens)
                    .bind(g.output_tokens)
                    .bind(g.cost_micros)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    if let Some((key, text)) = cache {
                        sqlx::query(
                            "INSERT OR IGNORE INTO ai_cache (tenant_id, key, text, created_at) VALUES (?, ?, ?, ?)",
                        )
                        .bind(t)
                        .bind(key)
                        .bind(text)
                        .bind(us(g.at))
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    }
                    Ok(())
                })
            })
            .await
    }

    pub(crate) async fn ai_usage_impl(
        &self,
        tenant: Tenant,
        month: &str,
    ) -> DbResult<store::AiUsage> {
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT input_tokens, output_tokens, cost_micros FROM ai_usage WHERE tenant_id = ? AND month = ?",
        )
        .bind(tenant.id().as_uuid())
        .bind(month)
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        Ok(
            row.map_or_else(store::AiUsage::default, |(i, o, c)| store::AiUsage {
                input_tokens: i,
                output_tokens: o,
                cost_micros: c,
            }),
        )
    }

    pub(crate) async fn list_ai_generations_impl(
        &self,
        tenant: Tenant,
        limit: u32,
    ) -> DbResult<Vec<store::AiGeneration>> {
        sqlx::query_as::<_, store::followup::AiGenerationRow>(
            "SELECT id, message_key, model, input_tokens, output_tokens, cost_micros, cached, outcome, \
             created_at FROM ai_generations WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
        )
        .bind(tenant.id().as_uuid())
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(store::followup::AiGenerationRow::into_generation)
        .collect()
    }
}
