//! Inbound sources on PostgreSQL: each change is one statement.

use domain::{SourceId, Tenant, Timestamp};
use store::codec::us;
use store::sources::{SourceRow, seal_source_secret};
use store::{DbResult, NewSource, SourceRecord, SourceUpdate, source_columns};

use crate::{PostgresStore, db};

const SELECT: &str = concat!(
    "SELECT ",
    source_columns!(),
    " FROM sources s JOIN tenants t ON t.id = s.tenant_id"
);

/// As on SQLite: a rotation makes the current secret the previous one in the same statement.
const ROTATE_OR_CHANGE: &str = "UPDATE sources SET name = COALESCE($1, name), \
     settings = COALESCE($2, settings), \
     previous_secret_ct = CASE WHEN $3::BYTEA IS NULL THEN previous_secret_ct ELSE secret_ct END, \
     previous_until = COALESCE($4, previous_until), \
     secret_ct = COALESCE($3, secret_ct), updated_at = $5 \
     WHERE id = $6 AND tenant_id = $7 AND revoked_at IS NULL";

impl PostgresStore {
    pub(crate) async fn create_source_impl(
        &self,
        tenant: Tenant,
        source: NewSource,
    ) -> DbResult<SourceRecord> {
        let t = tenant.id();
        let secret_ct = seal_source_secret(&self.cipher, t, source.id, &source.secret);
        let record = source.into_record(t);
        sqlx::query(
            "INSERT INTO sources (id, tenant_id, kind, name, settings, secret_ct, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(record.id.as_uuid())
        .bind(t.as_uuid())
        .bind(record.kind.as_str())
        .bind(&record.name)
        .bind(record.settings.to_string())
        .bind(secret_ct)
        .bind(us(record.created_at))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(record)
    }

    pub(crate) async fn list_sources_impl(&self, tenant: Tenant) -> DbResult<Vec<SourceRecord>> {
        let sql = format!("{SELECT} WHERE s.tenant_id = $1 ORDER BY s.created_at, s.id");
        sqlx::query_as::<_, SourceRow>(sqlx::AssertSqlSafe(sql))
            .bind(tenant.id().as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .into_iter()
            .map(|row| row.into_record(&self.cipher))
            .collect()
    }

    pub(crate) async fn get_source_impl(
        &self,
        tenant: Tenant,
        id: SourceId,
    ) -> DbResult<Option<SourceRecord>> {
        let sql = format!("{SELECT} WHERE s.id = $1 AND s.tenant_id = $2");
        sqlx::query_as::<_, SourceRow>(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .bind(tenant.id().as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|row| row.into_record(&self.cipher))
            .transpose()
    }

    pub(crate) async fn find_source_impl(&self, id: SourceId) -> DbResult<Option<SourceRecord>> {
        let sql = format!("{SELECT} WHERE s.id = $1");
        sqlx::query_as::<_, SourceRow>(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|row| row.into_record(&self.cipher))
            .transpose()
    }

    pub(crate) async fn update_source_impl(
        &self,
        tenant: Tenant,
        id: SourceId,
        update: SourceUpdate,
        at: Timestamp,
    ) -> DbResult<Option<SourceRecord>> {
        let t = tenant.id();
        let (secret_ct, until) = update
            .rotate_secret
            .map(|(secret, until)| (seal_source_secret(&self.cipher, t, id, &secret), us(until)))
            .unzip();
        let done = sqlx::query(ROTATE_OR_CHANGE)
            .bind(update.name)
            .bind(update.settings.map(|s| s.to_string()))
            .bind(secret_ct)
            .bind(until)
            .bind(us(at))
            .bind(id.as_uuid())
            .bind(t.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_source_impl(tenant, id).await
    }

    pub(crate) async fn revoke_source_impl(
        &self,
        tenant: Tenant,
        id: SourceId,
        at: Timestamp,
    ) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE sources SET revoked_at = $1, updated_at = $1 \
             WHERE id = $2 AND tenant_id = $3 AND revoked_at IS NULL",
        )
        .bind(us(at))
        .bind(id.as_uuid())
        .bind(tenant.id().as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }
}
