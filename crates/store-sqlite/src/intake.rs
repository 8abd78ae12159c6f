//! The intake transaction on SQLite (runs inside the writer's batch, in its own savepoint).

use crypto::Cipher;
use domain::{ConsentEventId, ConsentKind, Lead, LeadId, LeadStatus, TenantId};
use sqlx::SqliteConnection;
use store::codec::{self, LeadRow, SealedLead, us};
use store::{DbError, DbResult, IntakeOutcome, IntakeRequest, lead_columns};
use uuid::Uuid;

use crate::db;

pub(crate) async fn intake(
    conn: &mut SqliteConnection,
    cipher: &Cipher,
    links: &crate::ChainLinks,
    tenant: TenantId,
    req: IntakeRequest,
    sealed: SealedLead,
) -> DbResult<IntakeOutcome> {
    let t = tenant.as_uuid();
    if let Some(claim) = &req.idempotency {
        let seen: Option<(Vec<u8>, Uuid, i64)> = sqlx::query_as(
            "SELECT request_hash, lead_id, created FROM idempotency_keys WHERE tenant_id = ? AND key = ?",
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
                created: created != 0,
                replayed: true,
            });
        }
    }

    let by_phone = match &sealed.phone_bidx {
        Some(bidx) => lead_by_index(conn, t, "phone", bidx).await?,
        None => None,
    };
    let matched_by_phone = by_phone.is_some();
    let existing = match (by_phone, &sealed.email_bidx) {
        (Some(row), _) => Some(row),
        (None, Some(bidx)) => lead_by_index(conn, t, "email", bidx).await?,
        (None, None) => None,
    };

    let outcome = match existing {
        Some(row) => {
            let lead = row.open(cipher)?;
            // Matched on the phone, the email may belong to someone else; matched on the email,
            // the phone belongs to no one (or it would have matched first).
            let email_free = match (&sealed.email_bidx, matched_by_phone) {
                (Some(bidx), true) => lead_by_index(conn, t, "email", bidx).await?.is_none(),
                _ => true,
            };
            let fill = codec::lead_fill(cipher, &lead, &req.lead, true, email_free);
            let (phone_ct, phone_bidx) =
                fill.phone.map_or((None, None), |(c, b)| (Some(c), Some(b)));
            let (email_ct, email_bidx) =
                fill.email.map_or((None, None), |(c, b)| (Some(c), Some(b)));
            sqlx::query(
                "UPDATE leads SET touch_count = touch_count + 1, \
                 last_touch_at = MAX(last_touch_at, ?1), updated_at = ?1, \
                 quiet_since = MAX(COALESCE(quiet_since, ?1), ?1), \
                 name_ct = COALESCE(name_ct, ?2), phone_ct = COALESCE(phone_ct, ?3), \
                 phone_bidx = COALESCE(phone_bidx, ?4), email_ct = COALESCE(email_ct, ?5), \
                 email_bidx = COALESCE(email_bidx, ?6), address_ct = COALESCE(address_ct, ?7), \
                 zip_ct = COALESCE(zip_ct, ?8), time_zone = COALESCE(time_zone, ?9), \
                 details_ct = COALESCE(?12, details_ct), tags = COALESCE(?13, tags) \
                 WHERE id = ?10 AND tenant_id = ?11",
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
            append_consent(conn, cipher, tenant, lead.id, &req).await?;
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
                 VALUES (?, ?, 'new', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
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
            .bind(at)
            .bind(at)
            .bind(at)
            .bind(store::codec::tags_json(&req.lead.tags))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            insert_touch(conn, t, id, &req.lead.source, req.received_at).await?;
            append_consent(conn, cipher, tenant, id, &req).await?;
            for job in &req.jobs_if_created {
                crate::backend::insert_job(conn, job).await?;
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
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(t)
        .bind(&claim.key)
        .bind(claim.request_hash.to_vec())
        .bind(outcome.lead.id.as_uuid())
        .bind(i64::from(outcome.created))
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
        crate::identity::stage_in(conn, cipher, links, &entry).await?;
    }
    Ok(outcome)
}

async fn lead_by_index(
    conn: &mut SqliteConnection,
    tenant: Uuid,
    which: &str,
    bidx: &[u8],
) -> DbResult<Option<LeadRow>> {
    let sql = if which == "phone" {
        concat!(
            "SELECT ",
            lead_columns!(),
            " FROM leads WHERE tenant_id = ? AND phone_bidx = ?"
        )
    } else {
        concat!(
            "SELECT ",
            lead_columns!(),
            " FROM leads WHERE tenant_id = ? AND email_bidx = ?"
        )
    };
    sqlx::query_as::<_, LeadRow>(sql)
        .bind(tenant)
        .bind(bidx)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)
}

async fn lead_by_id(
    conn: &mut SqliteConnection,
    cipher: &Cipher,
    tenant: Uuid,
    id: Uuid,
) -> DbResult<Lead> {
    sqlx::query_as::<_, LeadRow>(concat!(
        "SELECT ",
        lead_columns!(),
        " FROM leads WHERE tenant_id = ? AND id = ?"
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
    conn: &mut SqliteConnection,
    tenant: Uuid,
    lead: LeadId,
    source: &str,
    at: domain::Timestamp,
) -> DbResult<()> {
    sqlx::query("INSERT INTO lead_touches (id, tenant_id, lead_id, source, created_at) VALUES (?, ?, ?, ?, ?)")
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
    conn: &mut SqliteConnection,
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
