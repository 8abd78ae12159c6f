//! Compliance on SQLite: the suppression list, recipient facts, the registry snapshot and the
//! review queue. Writes ride the single writer; reads use the read pool.

use domain::{Address, Phone, Purpose, Tenant, Timestamp};
use store::codec::{address_index, ts, us};
use store::compliance::{
    REVIEW_COLUMNS, ReviewRow, SUPPRESSION_COLUMNS, SuppressionRow, seal_suppressed_address,
};
use store::{
    DbResult, NewReview, NewSuppression, RecipientFacts, RegistrySnapshot, Review, ReviewState,
    SuppressionEntry,
};
use uuid::Uuid;

use crate::{SqliteStore, db};

/// Statuses of an outbound message that count towards frequency caps: it went, or may have.
const COUNTED: &str = "('sending', 'sent', 'delivered')";

impl SqliteStore {
    pub(crate) async fn suppress_impl(
        &self,
        tenant: Tenant,
        entries: Vec<NewSuppression>,
        at: Timestamp,
    ) -> DbResult<u64> {
        let t = tenant.id();
        let rows: Vec<_> = entries
            .into_iter()
            .map(|e| {
                let bidx = address_index(&self.cipher, t, &e.address).to_vec();
                let sealed = seal_suppressed_address(&self.cipher, t, &bidx, &e.address);
                (
                    bidx,
                    e.address.channel().as_str(),
                    e.reason,
                    e.source,
                    sealed,
                )
            })
            .collect();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut changed = 0;
                    for (bidx, channel, reason, source, sealed) in rows {
                        // A live entry keeps its first reason and time; a lifted one is renewed.
                        let done = sqlx::query(
                            "INSERT INTO suppressions (tenant_id, bidx, channel, reason, source, address_ct, \
                             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
                             ON CONFLICT (tenant_id, bidx) DO UPDATE SET reason = excluded.reason, \
                             source = excluded.source, address_ct = excluded.address_ct, \
                             created_at = excluded.created_at, updated_at = excluded.updated_at, \
                             lifted_at = NULL WHERE suppressions.lifted_at IS NOT NULL",
                        )
                        .bind(t.as_uuid())
                        .bind(bidx)
                        .bind(channel)
                        .bind(reason)
                        .bind(source)
                        .bind(sealed)
                        .bind(us(at))
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                        changed += done.rows_affected();
                    }
                    Ok(changed)
                })
            })
            .await
    }

    pub(crate) async fn lift_suppressions_impl(
        &self,
        tenant: Tenant,
        addresses: &[Address],
        reasons: &[&str],
        at: Timestamp,
    ) -> DbResult<u64> {
        let t = tenant.id();
        let indexes: Vec<Vec<u8>> = addresses
            .iter()
            .map(|a| address_index(&self.cipher, t, a).to_vec())
            .collect();
        let reasons: Vec<String> = reasons.iter().map(|r| (*r).to_owned()).collect();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut lifted = 0;
                    for bidx in &indexes {
                        for reason in &reasons {
                            let done = sqlx::query(
                                "UPDATE suppressions SET lifted_at = ?1, updated_at = ?1 \
                                 WHERE tenant_id = ?2 AND bidx = ?3 AND reason = ?4 AND lifted_at IS NULL",
                            )
                            .bind(us(at))
                            .bind(t.as_uuid())
                            .bind(bidx)
                            .bind(reason)
                            .execute(&mut *conn)
                            .await
                            .map_err(db)?;
                            lifted += done.rows_affected();
                        }
                    }
                    Ok(lifted)
                })
            })
            .await
    }

    pub(crate) async fn list_suppressions_impl(
        &self,
        tenant: Tenant,
        include_lifted: bool,
    ) -> DbResult<Vec<SuppressionEntry>> {
        let sql = format!(
            "SELECT {SUPPRESSION_COLUMNS} FROM suppressions WHERE tenant_id = ? \
             AND (? OR lifted_at IS NULL) ORDER BY created_at, bidx"
        );
        sqlx::query_as::<_, SuppressionRow>(sqlx::AssertSqlSafe(sql))
            .bind(tenant.id().as_uuid())
            .bind(include_lifted)
            .fetch_all(&self.read)
            .await
            .map_err(db)?
            .into_iter()
            .map(|row| row.open(&self.cipher))
            .collect()
    }

    pub(crate) async fn recipient_facts_impl(
        &self,
        tenant: Tenant,
        addresses: &[Address],
        phone: Option<&Phone>,
        since: Timestamp,
    ) -> DbResult<RecipientFacts> {
        let t = tenant.id();
        let mut facts = RecipientFacts::default();
        let mut indexes: Vec<Vec<u8>> = addresses
            .iter()
            .map(|a| address_index(&self.cipher, t, a).to_vec())
            .collect();
        // Each address once, or its messages would be counted twice.
        indexes.sort();
        indexes.dedup();
        let mut conn = self.read.acquire().await.map_err(db)?;
        for bidx in indexes {
            let hit: Option<(String, i64)> = sqlx::query_as(
                "SELECT reason, created_at FROM suppressions \
                 WHERE tenant_id = ? AND bidx = ? AND lifted_at IS NULL",
            )
            .bind(t.as_uuid())
            .bind(&bidx)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
            if let Some((reason, created)) = hit {
                let created = ts(created)?;
                if facts.suppression.as_ref().is_none_or(|(_, s)| created < *s) {
                    facts.suppression = Some((reason, created));
                }
            }
            let sql = format!(
                "SELECT created_at, purpose FROM messages WHERE tenant_id = ? AND party_bidx = ? \
                 AND direction = 'outbound' AND status IN {COUNTED} AND created_at > ?"
            );
            let sent: Vec<(i64, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(t.as_uuid())
                .bind(&bidx)
                .bind(us(since))
                .fetch_all(&mut *conn)
                .await
                .map_err(db)?;
            for (at, purpose) in sent {
                facts
                    .recent
                    .push((ts(at)?, purpose.as_deref().and_then(Purpose::parse)));
            }
            let sql = format!(
                "SELECT MAX(created_at) FROM messages WHERE tenant_id = ? AND party_bidx = ? \
                 AND direction = 'outbound' AND status IN {COUNTED}"
            );
            let (last,): (Option<i64>,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(t.as_uuid())
                .bind(&bidx)
                .fetch_one(&mut *conn)
                .await
                .map_err(db)?;
            if let Some(last) = last.map(ts).transpose()? {
                facts.last_sent_at = facts.last_sent_at.max(Some(last));
            }
        }
        facts.snapshot = snapshot(&mut conn, tenant).await?;
        if let (Some(_), Some(phone)) = (facts.snapshot, phone) {
            let bidx = address_index(&self.cipher, t, &Address::Phone(phone.clone())).to_vec();
            let hit: Option<(i64,)> =
                sqlx::query_as("SELECT 1 FROM dnc_registry WHERE tenant_id = ? AND bidx = ?")
                    .bind(t.as_uuid())
                    .bind(bidx)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
            facts.listed = hit.is_some();
        }
        Ok(facts)
    }

    pub(crate) async fn replace_registry_impl(
        &self,
        tenant: Tenant,
        taken_at: Timestamp,
        numbers: Vec<Phone>,
        at: Timestamp,
    ) -> DbResult<RegistrySnapshot> {
        let t = tenant.id();
        let indexes: Vec<Vec<u8>> = numbers
            .into_iter()
            .map(|p| address_index(&self.cipher, t, &Address::Phone(p)).to_vec())
            .collect();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM dnc_registry WHERE tenant_id = ?")
                        .bind(t.as_uuid())
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    let mut count: i64 = 0;
                    for bidx in indexes {
                        let done = sqlx::query(
                            "INSERT INTO dnc_registry (tenant_id, bidx) VALUES (?, ?) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(t.as_uuid())
                        .bind(bidx)
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                        count += i64::try_from(done.rows_affected()).unwrap_or(0);
                    }
                    sqlx::query(
                        "INSERT INTO dnc_registry_snapshots (tenant_id, taken_at, imported_at, numbers) \
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tenant_id) DO UPDATE SET \
                         taken_at = excluded.taken_at, imported_at = excluded.imported_at, \
                         numbers = excluded.numbers",
                    )
                    .bind(t.as_uuid())
                    .bind(us(taken_at))
                    .bind(us(at))
                    .bind(count)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(RegistrySnapshot {
                        taken_at: store::codec::at_rest(taken_at),
                        imported_at: store::codec::at_rest(at),
                        numbers: count,
                    })
                })
            })
            .await
    }

    pub(crate) async fn registry_snapshot_impl(
        &self,
        tenant: Tenant,
    ) -> DbResult<Option<RegistrySnapshot>> {
        let mut conn = self.read.acquire().await.map_err(db)?;
        snapshot(&mut conn, tenant).await
    }

    pub(crate) async fn create_review_impl(
        &self,
        tenant: Tenant,
        review: NewReview,
    ) -> DbResult<()> {
        let t = tenant.id();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO compliance_reviews (id, tenant_id, lead_id, message_id, matched, \
                         state, created_at) VALUES (?, ?, ?, ?, ?, 'open', ?)",
                    )
                    .bind(review.id)
                    .bind(t.as_uuid())
                    .bind(review.lead_id.map(|l| l.as_uuid()))
                    .bind(review.message_id.as_uuid())
                    .bind(review.matched)
                    .bind(us(review.created_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            })
            .await
    }

    pub(crate) async fn list_reviews_impl(
        &self,
        tenant: Tenant,
        state: Option<ReviewState>,
    ) -> DbResult<Vec<Review>> {
        let sql = format!(
            "SELECT {REVIEW_COLUMNS} FROM compliance_reviews WHERE tenant_id = ? \
             AND (? IS NULL OR state = ?) ORDER BY id DESC"
        );
        let state = state.map(ReviewState::as_str);
        sqlx::query_as::<_, ReviewRow>(sqlx::AssertSqlSafe(sql))
            .bind(tenant.id().as_uuid())
            .bind(state)
            .bind(state)
            .fetch_all(&self.read)
            .await
            .map_err(db)?
            .into_iter()
            .map(ReviewRow::decode)
            .collect()
    }

    pub(crate) async fn resolve_review_impl(
        &self,
        tenant: Tenant,
        id: Uuid,
        state: ReviewState,
        by: &str,
        at: Timestamp,
    ) -> DbResult<Option<Review>> {
        let t = tenant.id();
        let by = by.to_owned();
        let sql = format!(
            "UPDATE compliance_reviews SET state = ?, resolved_at = ?, resolved_by = ? \
             WHERE id = ? AND tenant_id = ? AND state = 'open' RETURNING {REVIEW_COLUMNS}"
        );
        let row = self
            .writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query_as::<_, ReviewRow>(sqlx::AssertSqlSafe(sql))
                        .bind(state.as_str())
                        .bind(us(at))
                        .bind(by)
                        .bind(id)
                        .bind(t.as_uuid())
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db)
                })
            })
            .await?;
        row.map(ReviewRow::decode).transpose()
    }
}

async fn snapshot(
    conn: &mut sqlx::SqliteConnection,
    tenant: Tenant,
) -> DbResult<Option<RegistrySnapshot>> {
    let row: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT taken_at, imported_at, numbers FROM dnc_registry_snapshots WHERE tenant_id = ?",
    )
    .bind(tenant.id().as_uuid())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    row.map(|(taken, imported, numbers)| {
        Ok(RegistrySnapshot {
            taken_at: ts(taken)?,
            imported_at: ts(imported)?,
            numbers,
        })
    })
    .transpose()
}

impl SqliteStore {
    pub(crate) async fn erase_lead_impl(
        &self,
        tenant: Tenant,
        id: domain::LeadId,
        at: Timestamp,
    ) -> DbResult<Option<store::ErasedLead>> {
        let t = tenant.id().as_uuid();
        let lead = id.as_uuid();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row: Option<store::compliance::LeadIndexes> = sqlx::query_as(
                        "SELECT phone_bidx, email_bidx FROM leads WHERE tenant_id = ? AND id = ?",
                    )
                    .bind(t)
                    .bind(lead)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
                    let Some((phone, email)) = row else {
                        return Ok(None);
                    };
                    let addresses = [(phone, "sms"), (email, "email")];
                    let mut suppressed = 0;
                    let mut messages = 0;
                    for (bidx, channel) in addresses {
                        let Some(bidx) = bidx else { continue };
                        // A live entry keeps its reason and loses its sealed address; a lifted
                        // one, or none, becomes `erased`.
                        sqlx::query(
                            "INSERT INTO suppressions (tenant_id, bidx, channel, reason, source, address_ct, \
                             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'privacy_request', NULL, ?5, ?5) \
                             ON CONFLICT (tenant_id, bidx) DO UPDATE SET address_ct = NULL, updated_at = ?5, \
                             reason = CASE WHEN suppressions.lifted_at IS NULL THEN suppressions.reason ELSE ?4 END, \
                             source = CASE WHEN suppressions.lifted_at IS NULL THEN suppressions.source ELSE 'privacy_request' END, \
                             lifted_at = NULL",
                        )
                        .bind(t)
                        .bind(&bidx)
                        .bind(channel)
                        .bind(store::compliance::ERASED_REASON)
                        .bind(us(at))
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                        suppressed += 1;
                        messages += sqlx::query(
                            "DELETE FROM messages WHERE tenant_id = ? AND party_bidx = ?",
                        )
                        .bind(t)
                        .bind(&bidx)
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?
                        .rows_affected();
                    }
                    messages += sqlx::query("DELETE FROM messages WHERE tenant_id = ? AND lead_id = ?")
                        .bind(t)
                        .bind(lead)
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?
                        .rows_affected();
                    for sql in [
                        "DELETE FROM lead_touches WHERE tenant_id = ? AND lead_id = ?",
                        "DELETE FROM enrolments WHERE tenant_id = ? AND lead_id = ?",
                        "DELETE FROM lead_events WHERE tenant_id = ? AND lead_id = ?",
                        "DELETE FROM appointments WHERE tenant_id = ? AND lead_id = ?",
                        "DELETE FROM idempotency_keys WHERE tenant_id = ? AND lead_id = ?",
                        "DELETE FROM leads WHERE tenant_id = ? AND id = ?",
                    ] {
                        sqlx::query(sql)
                            .bind(t)
                            .bind(lead)
                            .execute(&mut *conn)
                            .await
                            .map_err(db)?;
                    }
                    Ok(Some(store::ErasedLead {
                        messages,
                        suppressed_addresses: suppressed,
                    }))
                })
            })
            .await
    }
}
