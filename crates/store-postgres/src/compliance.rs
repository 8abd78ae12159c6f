//! Compliance on PostgreSQL: the suppression list, recipient facts, the registry snapshot and
//! the review queue. Batches go as arrays (`UNNEST`, `ANY`), one round trip each.

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

use crate::{PostgresStore, db};

/// The one-row answer of the facts query.
#[derive(sqlx::FromRow)]
struct FactsRow {
    reason: Option<String>,
    created: Option<i64>,
    taken: Option<i64>,
    imported: Option<i64>,
    numbers: Option<i64>,
    listed: bool,
    last: Option<i64>,
}

/// Rows per `INSERT ... UNNEST` of a registry import.
const REGISTRY_BATCH: usize = 10_000;

impl PostgresStore {
    pub(crate) async fn suppress_impl(
        &self,
        tenant: Tenant,
        entries: Vec<NewSuppression>,
        at: Timestamp,
    ) -> DbResult<u64> {
        let t = tenant.id();
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut changed = 0;
        for e in entries {
            let bidx = address_index(&self.cipher, t, &e.address).to_vec();
            let sealed = seal_suppressed_address(&self.cipher, t, &bidx, &e.address);
            // A live entry keeps its first reason and time (also against a concurrent
            // suppress); a lifted one is renewed.
            let done = sqlx::query(
                "INSERT INTO suppressions (tenant_id, bidx, channel, reason, source, address_ct, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                 ON CONFLICT (tenant_id, bidx) DO UPDATE SET reason = excluded.reason, \
                 source = excluded.source, address_ct = excluded.address_ct, \
                 created_at = excluded.created_at, updated_at = excluded.updated_at, \
                 lifted_at = NULL WHERE suppressions.lifted_at IS NOT NULL",
            )
            .bind(t.as_uuid())
            .bind(bidx)
            .bind(e.address.channel().as_str())
            .bind(e.reason)
            .bind(e.source)
            .bind(sealed)
            .bind(us(at))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            changed += done.rows_affected();
        }
        tx.commit().await.map_err(db)?;
        Ok(changed)
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
        let done = sqlx::query(
            "UPDATE suppressions SET lifted_at = $1, updated_at = $1 WHERE tenant_id = $2 \
             AND bidx = ANY($3) AND reason = ANY($4) AND lifted_at IS NULL",
        )
        .bind(us(at))
        .bind(t.as_uuid())
        .bind(indexes)
        .bind(reasons)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn list_suppressions_impl(
        &self,
        tenant: Tenant,
        include_lifted: bool,
    ) -> DbResult<Vec<SuppressionEntry>> {
        let sql = format!(
            "SELECT {SUPPRESSION_COLUMNS} FROM suppressions WHERE tenant_id = $1 \
             AND ($2 OR lifted_at IS NULL) ORDER BY created_at, bidx"
        );
        sqlx::query_as::<_, SuppressionRow>(sqlx::AssertSqlSafe(sql))
            .bind(tenant.id().as_uuid())
            .bind(include_lifted)
            .fetch_all(&self.pool)
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
        let indexes: Vec<Vec<u8>> = addresses
            .iter()
            .map(|a| address_index(&self.cipher, t, a).to_vec())
            .collect();
        // `= ANY` counts each message once however often its address is listed.
        let phone_bidx =
            phone.map(|p| address_index(&self.cipher, t, &Address::Phone(p.clone())).to_vec());
        let mut conn = self.pool.acquire().await.map_err(db)?;
        // The suppression, the snapshot and the listing in one round trip.
        let FactsRow {
            reason,
            created,
            taken,
            imported,
            numbers,
            listed,
            last,
        } = sqlx::query_as(
            "SELECT s.reason, s.created_at AS created, r.taken_at AS taken, \
             r.imported_at AS imported, r.numbers, \
             EXISTS (SELECT 1 FROM dnc_registry d WHERE d.tenant_id = $1 AND d.bidx = $3) AS listed, \
             (SELECT MAX(created_at) FROM messages m WHERE m.tenant_id = $1 \
               AND m.party_bidx = ANY($2) AND m.direction = 'outbound' \
               AND m.status IN ('sending', 'sent', 'delivered')) AS last \
             FROM (SELECT 1) one \
             LEFT JOIN LATERAL (SELECT reason, created_at FROM suppressions WHERE tenant_id = $1 \
               AND bidx = ANY($2) AND lifted_at IS NULL ORDER BY created_at LIMIT 1) s ON TRUE \
             LEFT JOIN dnc_registry_snapshots r ON r.tenant_id = $1",
        )
        .bind(t.as_uuid())
        .bind(&indexes)
        .bind(phone_bidx)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        let sent: Vec<(i64, Option<String>)> = sqlx::query_as(
            "SELECT created_at, purpose FROM messages WHERE tenant_id = $1 \
             AND party_bidx = ANY($2) AND direction = 'outbound' \
             AND status IN ('sending', 'sent', 'delivered') AND created_at > $3",
        )
        .bind(t.as_uuid())
        .bind(&indexes)
        .bind(us(since))
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        let snapshot = match (taken, imported, numbers) {
            (Some(taken), Some(imported), Some(numbers)) => Some(RegistrySnapshot {
                taken_at: ts(taken)?,
                imported_at: ts(imported)?,
                numbers,
            }),
            _ => None,
        };
        Ok(RecipientFacts {
            suppression: match (reason, created) {
                (Some(reason), Some(created)) => Some((reason, ts(created)?)),
                _ => None,
            },
            listed: listed && snapshot.is_some(),
            snapshot,
            recent: sent
                .into_iter()
                .map(|(at, purpose)| Ok((ts(at)?, purpose.as_deref().and_then(Purpose::parse))))
                .collect::<DbResult<_>>()?,
            last_sent_at: last.map(ts).transpose()?,
        })
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM dnc_registry WHERE tenant_id = $1")
            .bind(t.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let mut count: i64 = 0;
        for batch in indexes.chunks(REGISTRY_BATCH) {
            let done = sqlx::query(
                "INSERT INTO dnc_registry (tenant_id, bidx) SELECT $1, b FROM UNNEST($2::BYTEA[]) b \
                 ON CONFLICT DO NOTHING",
            )
            .bind(t.as_uuid())
            .bind(batch)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            count += i64::try_from(done.rows_affected()).unwrap_or(0);
        }
        sqlx::query(
            "INSERT INTO dnc_registry_snapshots (tenant_id, taken_at, imported_at, numbers) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET \
             taken_at = excluded.taken_at, imported_at = excluded.imported_at, \
             numbers = excluded.numbers",
        )
        .bind(t.as_uuid())
        .bind(us(taken_at))
        .bind(us(at))
        .bind(count)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(RegistrySnapshot {
            taken_at: store::codec::at_rest(taken_at),
            imported_at: store::codec::at_rest(at),
            numbers: count,
        })
    }

    pub(crate) async fn registry_snapshot_impl(
        &self,
        tenant: Tenant,
    ) -> DbResult<Option<RegistrySnapshot>> {
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT taken_at, imported_at, numbers FROM dnc_registry_snapshots WHERE tenant_id = $1",
        )
        .bind(tenant.id().as_uuid())
        .fetch_optional(&self.pool)
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

    pub(crate) async fn create_review_impl(
        &self,
        tenant: Tenant,
        review: NewReview,
    ) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO compliance_reviews (id, tenant_id, lead_id, message_id, matched, state, \
             created_at) VALUES ($1, $2, $3, $4, $5, 'open', $6)",
        )
        .bind(review.id)
        .bind(tenant.id().as_uuid())
        .bind(review.lead_id.map(|l| l.as_uuid()))
        .bind(review.message_id.as_uuid())
        .bind(review.matched)
        .bind(us(review.created_at))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub(crate) async fn list_reviews_impl(
        &self,
        tenant: Tenant,
        state: Option<ReviewState>,
    ) -> DbResult<Vec<Review>> {
        let sql = format!(
            "SELECT {REVIEW_COLUMNS} FROM compliance_reviews WHERE tenant_id = $1 \
             AND ($2::TEXT IS NULL OR state = $2) ORDER BY id DESC"
        );
        sqlx::query_as::<_, ReviewRow>(sqlx::AssertSqlSafe(sql))
            .bind(tenant.id().as_uuid())
            .bind(state.map(ReviewState::as_str))
            .fetch_all(&self.pool)
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
        let sql = format!(
            "UPDATE compliance_reviews SET state = $1, resolved_at = $2, resolved_by = $3 \
             WHERE id = $4 AND tenant_id = $5 AND state = 'open' RETURNING {REVIEW_COLUMNS}"
        );
        sqlx::query_as::<_, ReviewRow>(sqlx::AssertSqlSafe(sql))
            .bind(state.as_str())
            .bind(us(at))
            .bind(by)
            .bind(id)
            .bind(tenant.id().as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(ReviewRow::decode)
            .transpose()
    }
}

impl PostgresStore {
    pub(crate) async fn erase_lead_impl(
        &self,
        tenant: Tenant,
        id: domain::LeadId,
        at: Timestamp,
    ) -> DbResult<Option<store::ErasedLead>> {
        let t = tenant.id().as_uuid();
        let lead = id.as_uuid();
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The row lock keeps a concurrent intake's touch from landing on a lead being erased.
        let row: Option<store::compliance::LeadIndexes> = sqlx::query_as(
            "SELECT phone_bidx, email_bidx FROM leads WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        )
        .bind(t)
        .bind(lead)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((phone, email)) = row else {
            return Ok(None);
        };
        let mut suppressed = 0;
        let mut messages = 0;
        for (bidx, channel) in [(phone, "sms"), (email, "email")] {
            let Some(bidx) = bidx else { continue };
            // A live entry keeps its reason and loses its sealed address; a lifted one, or none,
            // becomes `erased`.
            sqlx::query(
                "INSERT INTO suppressions (tenant_id, bidx, channel, reason, source, address_ct, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, 'privacy_request', NULL, $5, $5) \
                 ON CONFLICT (tenant_id, bidx) DO UPDATE SET address_ct = NULL, updated_at = $5, \
                 reason = CASE WHEN suppressions.lifted_at IS NULL THEN suppressions.reason ELSE $4 END, \
                 source = CASE WHEN suppressions.lifted_at IS NULL THEN suppressions.source ELSE 'privacy_request' END, \
                 lifted_at = NULL",
            )
            .bind(t)
            .bind(&bidx)
            .bind(channel)
            .bind(store::compliance::ERASED_REASON)
            .bind(us(at))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            suppressed += 1;
            messages +=
                sqlx::query("DELETE FROM messages WHERE tenant_id = $1 AND party_bidx = $2")
                    .bind(t)
                    .bind(&bidx)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?
                    .rows_affected();
        }
        messages += sqlx::query("DELETE FROM messages WHERE tenant_id = $1 AND lead_id = $2")
            .bind(t)
            .bind(lead)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        for sql in [
            "DELETE FROM lead_touches WHERE tenant_id = $1 AND lead_id = $2",
            "DELETE FROM enrolments WHERE tenant_id = $1 AND lead_id = $2",
            "DELETE FROM lead_events WHERE tenant_id = $1 AND lead_id = $2",
            "DELETE FROM appointments WHERE tenant_id = $1 AND lead_id = $2",
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND lead_id = $2",
            "DELETE FROM leads WHERE tenant_id = $1 AND id = $2",
        ] {
            sqlx::query(sql)
                .bind(t)
                .bind(lead)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(Some(store::ErasedLead {
            messages,
            suppressed_addresses: suppressed,
        }))
    }
}
