//! The intake transaction on PostgreSQL, retried once when a concurrent intake wins a race.
//!
//! Two submissions of the same person may run at the same time in different connections (or
//! processes): both look for the lead by blind index, both find nothing, both insert. The
//! partial unique indexes on `(tenant_id, phone_bidx)` and `(tenant_id, email_bidx)` (and the
//! primary key of `idempotency_keys`) let only one commit; the other fails with a unique
//! violation, rolls back whole, and runs again, when it finds the winner's lead (or idempotency
//! record) and records a touch instead. One retry is enough: the second run sees every row the
//! first one collided with, as each statement reads the latest committed data.

use crypto::Cipher;
use domain::{ConsentEventId, ConsentKind, Lead, LeadId, LeadStatus, TenantId};
use sqlx::{PgConnection, PgPool};
use store::codec::{self, LeadRow, SealedLead, us};
use store::{DbError, DbResult, IntakeOutcome, IntakeRequest, lead_columns};
use uuid::Uuid;

use crate::db;

pub(crate) async fn intake(
    pool: &PgPool,
    cipher: &Cipher,
    tenant: TenantId,
    req: IntakeRequest,
    sealed: SealedLead,
) -> DbResult<IntakeOutcome> {
    let mut retried = false;
    loop {
        let mut tx = pool.begin().await.map_err(db)?;
        match intake_tx(&mut tx, cipher, tenant, &req, sealed.clone()).await {
            Ok(outcome) => {
                tx.commit().await.map_err(db)?;
                return Ok(outcome);
            }
            // A unique violation: a concurrent intake committed the same person (or the same
            // idempotency key) first. Dropping `tx` rolls this attempt back.
            Err(DbError::Conflict(what)) if !retried => {
                tracing::debug!(conflict = %what, "intake lost a race; retrying once");
                retried = true;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn intake_tx(
    conn: &mut PgConnection,
    cipher: &Cipher,
    tenant: TenantId,
    req: &IntakeRequest,
    sealed: SealedLead,
) -> DbResult<IntakeOutcome> {
    let t = tenant.as_uuid();
    if let Some(claim) = &req.idempotency {
        let seen: Option<(Vec<u8>, Uuid, bool)> = sqlx::query_as(
            "SELECT request_hash, lead_id, created FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
        )
        .bind(t)
        .bind(&claim.key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        if let Some((hash, lead_id, created)) = seen {
            if hash != claim.request_hash {
                return Err(DbError::IdempotencyMismatch);
            }
            let lead = lead_by_id(conn, cipher, t, lead_id).await?;
            return Ok(IntakeOutcome {
                lead,
                created,
                replayed: true,
            });
        }
    }

    let by_phone = match &sealed.phone_bidx {
        Some(bidx) => lead_by_index(conn, t, Index::Phone, bidx).await?,
        None => None,
    };
    let matched_by_phone = by_phone.is_some();
    let existing = match (by_phone, &sealed.email_bidx) {
        (Some(row), _) => Some(row),
        (None, Some(bidx)) => lead_by_index(conn, t, Index::Email, bidx).await?,
        (None, None) => None,
    };

    let outcome = match existing {
        Some(row) => {
            let lead = row.open(cipher)?;
            // Matched on the phone, the email may belong to someone else; matched on the email,
            // the phone belongs to no one (or it would have matched first).
            let email_free = match (&sealed.email_bidx, matched_by_phone) {
                (Some(bidx), true) => lead_by_index(conn, t, Index::Email, bidx).await?.is_none(),
                _ => true,
            };
            let fill = codec::lead_fill(cipher, &lead, &req.lead, true, email_free);
            let (phone_ct, phone_bidx) =
                fill.phone.map_or((None, None), |(c, b)| (Some(c), Some(b)));
            let (email_ct, email_bidx) =
                fill.email.map_or((None, None), |(c, b)| (Some(c), Some(b)));
            sqlx::query(
                "UPDATE leads SET touch_count = touch_count + 1, \
                 last_touch_at = GREATEST(last_touch_at, $1), updated_at = $1, \
                 quiet_since = GREATEST(COALESCE(quiet_since, $1), $1), \
                 name_ct = COALESCE(name_ct, $2), phone_ct = COALESCE(phone_ct, $3), \
                 phone_bidx = COALESCE(phone_bidx, $4), email_ct = COALESCE(email_ct, $5), \
                 email_bidx = COALESCE(email_bidx, $6), address_ct = COALESCE(address_ct, $7), \
                 zip_ct = COALESCE(zip_ct, $8), time_zone = COALESCE(time_zone, $9), \
                 details_ct = COALESCE($12, details_ct), tags = COALESCE($13, tags) \
                 WHERE id = $10 AND tenant_id = $11",
            )
            .bind(us(req.received_at))
            .bind(fill.name)
            .bind(phone_ct)
            .bind(phone_bidx)
            .bind(email_ct)
            .bind(email_bidx)
            .bind(fill.address)
            .bind(fill.zip)
            .bind(fill.time_zone)
            .bind(lead.id.as_uuid())
            .bind(t)
            .bind(fill.details)
            .bind(fill.tags)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            insert_touch(conn, t, lead.id, &req.lead.source, req.received_at).await?;
            append_consent(conn, cipher, tenant, lead.id, req).await?;
            let lead = lead_by_id(conn, cipher, t, lead.id.as_uuid()).await?;
            IntakeOutcome {
                lead,
                created: false,
                replayed: false,
            }
        }
        None => {
            let id = req.new_lead_id;
            let at = us(req.received_at);
            sqlx::query(
                "INSERT INTO leads (id, tenant_id, status, source, name_ct, phone_ct, email_ct, address_ct, \
                 zip_ct, time_zone, details_ct, phone_bidx, email_bidx, created_at, updated_at, last_touch_at, touch_count, quiet_since, tags) \
                 VALUES ($1, $2, 'new', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $13, 1, $13, $14)",
            )
            .bind(id.as_uuid())
            .bind(t)
            .bind(&req.lead.source)
            .bind(sealed.name)
            .bind(sealed.phone)
            .bind(sealed.email)
            .bind(sealed.address)
            .bind(sealed.zip)
            .bind(&req.lead.time_zone)
            .bind(sealed.details)
            .bind(sealed.phone_bidx)
            .bind(sealed.email_bidx)
            .bind(at)
            .bind(store::codec::tags_json(&req.lead.tags))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            insert_touch(conn, t, id, &req.lead.source, req.received_at).await?;
            append_consent(conn, cipher, tenant, id, req).await?;
            for job in &req.jobs_if_created {
                crate::backend::insert_job(conn, job).await?;
            }
            if !req.jobs_if_created.is_empty() {
                crate::backend::notify_jobs(conn).await?;
            }
            let lead = Lead {
                id,
                tenant_id: tenant,
                status: LeadStatus::New,
                source: req.lead.source.clone(),
                name: req.lead.name.clone(),
                phone: req.lead.phone.clone(),
                email: req.lead.email.clone(),
                address: req.lead.address.clone(),
                zip: req.lead.zip.clone(),
                time_zone: req.lead.time_zone.clone(),
                details: req.lead.details.clone(),
                created_at: req.received_at,
                updated_at: req.received_at,
                last_touch_at: req.received_at,
                touch_count: 1,
                engagement: domain::engagement::Engagement::default(),
                tags: req.lead.tags.clone(),
            };
            IntakeOutcome {
                lead,
                created: true,
                replayed: false,
            }
        }
    };

    if let Some(claim) = &req.idempotency {
        sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, lead_id, created, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t)
        .bind(&claim.key)
        .bind(claim.request_hash.to_vec())
        .bind(outcome.lead.id.as_uuid())
        .bind(outcome.created)
        .bind(us(req.received_at))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    if let Some(context) = &req.audit {
        let entry = store::codec_identity::intake_audit_entry(
            tenant,
            context,
            &outcome,
            &req.lead.source,
            req.received_at,
        );
        crate::identity::stage_in(conn, cipher, &entry).await?;
    }
    Ok(outcome)
}

/// Which blind index to look a lead up by.
#[derive(Clone, Copy)]
enum Index {
    Phone,
    Email,
}

async fn lead_by_index(
    conn: &mut PgConnection,
    tenant: Uuid,
    which: Index,
    bidx: &[u8],
) -> DbResult<Option<LeadRow>> {
    let sql = match which {
        Index::Phone => concat!(
            "SELECT ",
            lead_columns!(),
            " FROM leads WHERE tenant_id = $1 AND phone_bidx = $2"
        ),
        Index::Email => concat!(
            "SELECT ",
            lead_columns!(),
            " FROM leads WHERE tenant_id = $1 AND email_bidx = $2"
        ),
    };
    sqlx::query_as::<_, LeadRow>(sql)
        .bind(tenant)
        .bind(bidx)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)
}

async fn lead_by_id(
    conn: &mut PgConnection,
    cipher: &Cipher,
    tenant: Uuid,
    id: Uuid,
) -> DbResult<Lead> {
    sqlx::query_as::<_, LeadRow>(concat!(
        "SELECT ",
        lead_columns!(),
        " FROM leads WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .ok_or(DbError::NotFound)?
    .open(cipher)
}

async fn insert_touch(
    conn: &mut PgConnection,
    tenant: Uuid,
    lead: LeadId,
    source: &str,
    at: domain::Timestamp,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO lead_touches (id, tenant_id, lead_id, source, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(lead.as_uuid())
    .bind(source)
    .bind(us(at))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

async fn append_consent(
    conn: &mut PgConnection,
    cipher: &Cipher,
    tenant: TenantId,
    lead: LeadId,
    req: &IntakeRequest,
) -> DbResult<()> {
    let Some(evidence) = &req.lead.consent else {
        return Ok(());
    };
    let id = ConsentEventId::new();
    crate::backend::insert_consent(
        conn,
        tenant.as_uuid(),
        id,
        lead,
        ConsentKind::Granted,
        &req.lead.source,
        codec::seal_evidence(cipher, tenant, id, evidence),
        req.received_at,
    )
    .await
}
