//! Timelines, engagement, silent-lead recovery and appointments on PostgreSQL.

use domain::appointment::{Appointment, AppointmentState};
use domain::engagement::{Engagement, Signal};
use domain::timeline::LeadEvent;
use domain::{AppointmentId, LeadId, LeadStatus, Tenant, TenantId, Timestamp};
use sqlx::PgConnection;
use store::codec::{ts_opt, us};
use store::followup::{
    AppointmentRow, LeadEventRow, RecoveryRow, appointment_event, booking_moves, seal_location,
};
use store::{
    AppointmentChange, DbError, DbResult, NewAppointment, NewLeadEvent, RecoveryBatch,
    RecoveryCandidate, RecoveryDone, RecoveryQuery, appointment_columns,
};
use uuid::Uuid;

use crate::backend::{insert_job, notify_jobs};
use crate::{PostgresStore, db};

const SELECT_APPOINTMENT: &str = concat!("SELECT ", appointment_columns!(), " FROM appointments");

/// Writes a timeline entry inside the caller's transaction.
pub(crate) async fn insert_lead_event(
    conn: &mut PgConnection,
    cipher: &crypto::Cipher,
    tenant: TenantId,
    event: &NewLeadEvent,
) -> DbResult<()> {
    let (data, note) = event.sealed(cipher, tenant);
    sqlx::query(
        "INSERT INTO lead_events (id, tenant_id, lead_id, kind, actor, data, note_ct, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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

/// The lead's status, locked for the rest of the transaction, when the organisation has it.
async fn lock_status(
    conn: &mut PgConnection,
    tenant: TenantId,
    lead: LeadId,
) -> DbResult<Option<LeadStatus>> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM leads WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
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
async fn move_status(
    conn: &mut PgConnection,
    cipher: &crypto::Cipher,
    tenant: TenantId,
    lead: LeadId,
    to: LeadStatus,
    actor: &str,
    at: Timestamp,
) -> DbResult<Option<bool>> {
    let Some(from) = lock_status(conn, tenant, lead).await? else {
        return Ok(None);
    };
    if from == to {
        return Ok(Some(false));
    }
    sqlx::query("UPDATE leads SET status = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
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

impl PostgresStore {
    pub(crate) async fn set_lead_status_impl(
        &self,
        tenant: Tenant,
        id: LeadId,
        status: LeadStatus,
        actor: &str,
        at: Timestamp,
    ) -> DbResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let moved = move_status(&mut tx, &self.cipher, tenant.id(), id, status, actor, at).await?;
        tx.commit().await.map_err(db)?;
        Ok(moved.is_some())
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
        // One statement: the row lock makes the check and the move atomic between processes,
        // and the timeline entry is written only when the move happened.
        let event = NewLeadEvent::status(id, from, to, actor, at);
        let (data, _) = event.sealed(&self.cipher, tenant.id());
        let done = sqlx::query(
            "WITH moved AS (UPDATE leads SET status = $1, updated_at = $2 \
             WHERE tenant_id = $3 AND id = $4 AND status = $5 RETURNING id) \
             INSERT INTO lead_events (id, tenant_id, lead_id, kind, actor, data, created_at) \
             SELECT $6, $3, moved.id, 'status', $7, $8, $2 FROM moved",
        )
        .bind(to.as_str())
        .bind(us(at))
        .bind(tenant.id().as_uuid())
        .bind(id.as_uuid())
        .bind(from.as_str())
        .bind(event.id.as_uuid())
        .bind(&event.actor)
        .bind(data)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn append_lead_event_impl(
        &self,
        tenant: Tenant,
        event: NewLeadEvent,
    ) -> DbResult<LeadEvent> {
        let (data, note) = event.sealed(&self.cipher, tenant.id());
        let done = sqlx::query(
            "INSERT INTO lead_events (id, tenant_id, lead_id, kind, actor, data, note_ct, created_at) \
             SELECT $1, $2, id, $4, $5, $6, $7, $8 FROM leads WHERE tenant_id = $2 AND id = $3",
        )
        .bind(event.id.as_uuid())
        .bind(tenant.id().as_uuid())
        .bind(event.lead_id.as_uuid())
        .bind(event.kind.as_str())
        .bind(&event.actor)
        .bind(data)
        .bind(note)
        .bind(us(event.at))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(LeadEvent {
            id: event.id,
            lead_id: event.lead_id,
            kind: event.kind,
            actor: event.actor,
            data: event.data,
            note: event.note,
            at: event.at,
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
             WHERE tenant_id = $1 AND lead_id = $2 AND ($3::BIGINT IS NULL OR created_at < $3) \
             ORDER BY created_at DESC, id DESC LIMIT $4",
        )
        .bind(tenant.id().as_uuid())
        .bind(lead.as_uuid())
        .bind(before.map(us))
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let row: Option<(f64, Option<i64>)> = sqlx::query_as(
            "SELECT engagement, engagement_at FROM leads WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        )
        .bind(t)
        .bind(lead.as_uuid())
        .fetch_optional(&mut *tx)
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
        sqlx::query(
            "UPDATE leads SET engagement = $1, engagement_at = $2, \
             quiet_since = CASE WHEN $3 THEN GREATEST(COALESCE(quiet_since, $4), $4) ELSE quiet_since END \
             WHERE tenant_id = $5 AND id = $6",
        )
        .bind(next.score)
        .bind(next.at.map(us))
        .bind(signal == Signal::Reply)
        .bind(us(at))
        .bind(t)
        .bind(lead.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Some(next))
    }

    pub(crate) async fn recovery_candidates_impl(
        &self,
        tenant: Tenant,
        query: &RecoveryQuery,
    ) -> DbResult<Vec<RecoveryCandidate>> {
        // One ordered index range per attempt count, merged: with all the counts in one
        // statement the planner, multiplying the columns' selectivities, takes the matches for
        // many and scans the table.
        let mut all = Vec::new();
        for attempts in 0..query.attempts_below.max(1) {
            let sql = if query.after.is_some() {
                "SELECT id, quiet_since, recovery_attempts, last_touch_at, engagement, engagement_at \
                 FROM leads WHERE tenant_id = $1 AND status = $2 AND recovery_attempts = $3 \
                 AND quiet_since IS NOT NULL AND quiet_since <= $4 AND (quiet_since, id) > ($6, $7) \
                 ORDER BY quiet_since, id LIMIT $5"
            } else {
                "SELECT id, quiet_since, recovery_attempts, last_touch_at, engagement, engagement_at \
                 FROM leads WHERE tenant_id = $1 AND status = $2 AND recovery_attempts = $3 \
                 AND quiet_since IS NOT NULL AND quiet_since <= $4 \
                 ORDER BY quiet_since, id LIMIT $5"
            };
            let mut q = sqlx::query_as::<_, RecoveryRow>(sql)
                .bind(tenant.id().as_uuid())
                .bind(query.status.as_str())
                .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
                .bind(us(query.quiet_before))
                .bind(i64::from(query.limit));
            if let Some((at, id)) = query.after {
                q = q.bind(us(at)).bind(id.as_uuid());
            }
            all.extend(q.fetch_all(&self.pool).await.map_err(db)?);
        }
        store::followup::first_candidates(all, query.limit)
    }

    pub(crate) async fn start_recovery_impl(
        &self,
        tenant: Tenant,
        batch: RecoveryBatch,
    ) -> DbResult<RecoveryDone> {
        let t = tenant.id().as_uuid();
        let at = us(batch.at);
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut done = RecoveryDone::default();
        if let Some(first) = batch.runs.first() {
            // Whole arrays per statement: a round trip per run would cost more than the rest
            // of the scan. The leads are then reached by their primary key (`id = ANY`), never
            // by a join the planner might answer with a scan of the table.
            let inserted: Vec<Uuid> = sqlx::query_scalar(
                "INSERT INTO enrolments (id, tenant_id, lead_id, sequence_id, version, state, step, \
                   next_run_at, enrolled_at, updated_at, origin) \
                 SELECT i.id, $4, i.lead_id, $5, $6, 'active', 0, i.due, $7, $7, 'recovery' \
                 FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS i(id, lead_id, due) \
                 ON CONFLICT (tenant_id, lead_id, sequence_id) WHERE state = 'active' DO NOTHING \
                 RETURNING id",
            )
            .bind(batch.runs.iter().map(|r| r.enrolment_id.as_uuid()).collect::<Vec<_>>())
            .bind(batch.runs.iter().map(|r| r.lead_id.as_uuid()).collect::<Vec<_>>())
            .bind(batch.runs.iter().map(|r| us(r.due)).collect::<Vec<_>>())
            .bind(t)
            .bind(batch.sequence_id.as_uuid())
            .bind(batch.version)
            .bind(at)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            let inserted: std::collections::HashSet<Uuid> = inserted.into_iter().collect();
            let (started, running): (Vec<_>, Vec<_>) = batch
                .runs
                .iter()
                .partition(|r| inserted.contains(&r.enrolment_id.as_uuid()));
            sqlx::query(
                "WITH queued AS ( \
                   INSERT INTO jobs (id, tenant_id, kind, payload, state, attempts, max_attempts, \
                     run_at, dedupe_key, created_at, updated_at) \
                   SELECT j.id, $5, $6, j.payload, 'ready', 0, $7, j.run_at, j.dedupe, j.run_at, j.run_at \
                   FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[]) AS j(id, payload, run_at, dedupe) \
                   RETURNING 1), \
                 counted AS ( \
                   UPDATE leads SET recovery_attempts = recovery_attempts + 1, quiet_since = $8 \
                   WHERE tenant_id = $5 AND id = ANY($9) RETURNING 1) \
                 UPDATE leads SET quiet_since = $8 WHERE tenant_id = $5 AND id = ANY($10)",
            )
            .bind(started.iter().map(|r| r.job.id.as_uuid()).collect::<Vec<_>>())
            .bind(started.iter().map(|r| r.job.payload.to_string()).collect::<Vec<_>>())
            .bind(started.iter().map(|r| us(r.job.run_at)).collect::<Vec<_>>())
            .bind(started.iter().map(|r| r.job.dedupe_key.clone()).collect::<Vec<_>>())
            .bind(t)
            .bind(&first.job.kind)
            .bind(i64::from(first.job.max_attempts))
            .bind(at)
            .bind(started.iter().map(|r| r.lead_id.as_uuid()).collect::<Vec<_>>())
            .bind(running.iter().map(|r| r.lead_id.as_uuid()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            done.started = u64::try_from(started.len()).unwrap_or(0);
            done.running = u64::try_from(running.len()).unwrap_or(0);
        }
        if !batch.retire.is_empty() {
            let ids: Vec<Uuid> = batch.retire.iter().map(LeadId::as_uuid).collect();
            done.retired = sqlx::query(
                "UPDATE leads SET quiet_since = NULL WHERE tenant_id = $1 AND id = ANY($2)",
            )
            .bind(t)
            .bind(ids)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        if done.started > 0 {
            notify_jobs(&mut tx).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(done)
    }

    pub(crate) async fn book_appointment_impl(
        &self,
        tenant: Tenant,
        new: NewAppointment,
    ) -> DbResult<Appointment> {
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(status) = lock_status(&mut tx, t, new.lead_id).await? else {
            return Err(DbError::NotFound);
        };
        let location = seal_location(&self.cipher, t, new.id, new.slot.location.as_deref());
        sqlx::query(
            "INSERT INTO appointments (id, tenant_id, lead_id, state, starts_at, ends_at, time_zone, \
             title, location_ct, revision, created_at, updated_at) \
             VALUES ($1, $2, $3, 'scheduled', $4, $5, $6, $7, $8, 1, $9, $9)",
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
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for job in &new.reminders {
            insert_job(&mut tx, job).await?;
        }
        let event = appointment_event(&appointment, "booked", &new.actor, new.at);
        insert_lead_event(&mut tx, &self.cipher, t, &event).await?;
        if booking_moves(status) {
            move_status(
                &mut tx,
                &self.cipher,
                t,
                new.lead_id,
                LeadStatus::Booked,
                &new.actor,
                new.at,
            )
            .await?;
        }
        if !new.reminders.is_empty() {
            notify_jobs(&mut tx).await?;
        }
        tx.commit().await.map_err(db)?;
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
        let t = tenant.id();
        let mut tx = self.pool.begin().await.map_err(db)?;
        let query = match &change {
            AppointmentChange::Reschedule { slot, .. } => sqlx::query(
                "UPDATE appointments SET starts_at = $1, ends_at = $2, time_zone = $3, title = $4, \
                 location_ct = $5, revision = revision + 1, updated_at = $6 \
                 WHERE tenant_id = $7 AND id = $8 AND revision = $9 AND state = 'scheduled'",
            )
            .bind(us(slot.starts_at))
            .bind(us(slot.ends_at))
            .bind(slot.time_zone.clone())
            .bind(slot.title.clone())
            .bind(seal_location(&self.cipher, t, id, slot.location.as_deref())),
            AppointmentChange::Cancel => sqlx::query(
                "UPDATE appointments SET state = 'cancelled', revision = revision + 1, updated_at = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND revision = $4 AND state = 'scheduled'",
            ),
        };
        let updated = query
            .bind(us(at))
            .bind(t.as_uuid())
            .bind(id.as_uuid())
            .bind(revision)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        let label = match &change {
            AppointmentChange::Reschedule { reminders, .. } => {
                for job in reminders {
                    insert_job(&mut tx, job).await?;
                }
                if !reminders.is_empty() {
                    notify_jobs(&mut tx).await?;
                }
                "rescheduled"
            }
            AppointmentChange::Cancel => "cancelled",
        };
        let appointment = sqlx::query_as::<_, AppointmentRow>(sqlx::AssertSqlSafe(format!(
            "{SELECT_APPOINTMENT} WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(t.as_uuid())
        .bind(id.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?
        .open(&self.cipher)?;
        let event = appointment_event(&appointment, label, actor, at);
        insert_lead_event(&mut tx, &self.cipher, t, &event).await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(appointment))
    }

    pub(crate) async fn get_appointment_impl(
        &self,
        tenant: Tenant,
        id: AppointmentId,
    ) -> DbResult<Option<Appointment>> {
        sqlx::query_as::<_, AppointmentRow>(sqlx::AssertSqlSafe(format!(
            "{SELECT_APPOINTMENT} WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.id().as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
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
            "{SELECT_APPOINTMENT} WHERE tenant_id = $1 AND lead_id = $2 ORDER BY starts_at, id"
        )))
        .bind(tenant.id().as_uuid())
        .bind(lead.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .into_iter()
        .map(|row| row.open(&self.cipher))
        .collect()
    }
}

impl PostgresStore {
    pub(crate) async fn ai_cached_impl(
        &self,
        tenant: Tenant,
        key: &str,
    ) -> DbResult<Option<String>> {
        sqlx::query_scalar("SELECT text FROM ai_cache WHERE tenant_id = $1 AND key = $2")
            .bind(tenant.id().as_uuid())
            .bind(key)
            .fetch_optional(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO ai_generations (id, tenant_id, message_key, model, input_tokens, \
             output_tokens, cost_micros, cached, outcome, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO ai_usage (tenant_id, month, input_tokens, output_tokens, cost_micros) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, month) DO UPDATE SET \
             input_tokens = ai_usage.input_tokens + $3, output_tokens = ai_usage.output_tokens + $4, \
             cost_micros = ai_usage.cost_micros + $5",
        )
        .bind(t)
        .bind(month)
        .bind(g.input_tokens)
        .bind(g.output_tokens)
        .bind(g.cost_micros)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if let Some((key, text)) = cache {
            sqlx::query(
                "INSERT INTO ai_cache (tenant_id, key, text, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(t)
            .bind(key)
            .bind(text)
            .bind(us(g.at))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub(crate) async fn ai_usage_impl(
        &self,
        tenant: Tenant,
        month: &str,
    ) -> DbResult<store::AiUsage> {
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT input_tokens, output_tokens, cost_micros FROM ai_usage WHERE tenant_id = $1 AND month = $2",
        )
        .bind(tenant.id().as_uuid())
        .bind(month)
        .fetch_optional(&self.pool)
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
             created_at FROM ai_generations WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(tenant.id().as_uuid())
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .into_iter()
        .map(store::followup::AiGenerationRow::into_generation)
        .collect()
    }
}
