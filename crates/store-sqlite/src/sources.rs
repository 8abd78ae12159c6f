//! Inbound sources on SQLite.

use domain::{SourceId, Tenant, Timestamp};
use store::codec::us;
use store::sources::{SourceRow, seal_source_secret};
use store::{DbResult, NewSource, SourceRecord, SourceUpdate, source_columns};

use crate::{SqliteStore, db};

const SELECT: &str = concat!(
    "SELECT ",
    source_columns!(),
    " FROM sources s JOIN tenants t ON t.id = s.tenant_id"
);

/// Parameters: name, settings, new secret, previous-secret deadline (the last two both null
/// or both set), updated_at, id, tenant. On a rotation the current secret becomes the previous
/// one in the same statement.
const ROTATE_OR_CHANGE: &str = "UPDATE sources SET name = COALESCE(?1, name), \
     settings = COALESCE(?2, settings), \
     previous_secret_ct = CASE WHEN ?3 IS NULL THEN previous_secret_ct ELSE secret_ct END, \
     previous_until = COALESCE(?4, previous_until), \
     secret_ct = COALESCE(?3, secret_ct), updated_at = ?5 \
     WHERE id = ?6 AND tenant_id = ?7 AND revoked_at IS NULL";

impl SqliteStore {
    pub(crate) async fn create_source_impl(
        &self,
        tenant: Tenant,
        source: NewSource,
    ) -> DbResult<SourceRecord> {
        let t = tenant.id();
        let secret_ct = seal_source_secret(&self.cipher, t, source.id, &source.secret);
        let record = source.into_record(t);
        let (id, kind, name) = (record.id, record.kind.as_str(), record.name.clone());
        let settings = record.settings.to_string();
        let at = us(record.created_at);
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO sources (id, tenant_id, kind, name, settings, secret_ct, \
                         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                    )
                    .bind(id.as_uuid())
                    .bind(t.as_uuid())
                    .bind(kind)
                    .bind(name)
                    .bind(settings)
                    .bind(secret_ct)
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            })
            .await?;
        Ok(record)
    }

    pub(crate) async fn list_sources_impl(&self, tenant: Tenant) -> DbResult<Vec<SourceRecord>> {
        let sql = format!("{SELECT} WHERE s.tenant_id = ? ORDER BY s.created_at, s.id");
        sqlx::query_as::<_, SourceRow>(sqlx::AssertSqlSafe(sql))
            .bind(tenant.id().as_uuid())
            .fetch_all(&self.read)
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
        let sql = format!("{SELECT} WHERE s.id = ? AND s.tenant_id = ?");
        sqlx::query_as::<_, SourceRow>(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .bind(tenant.id().as_uuid())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?
            .map(|row| row.into_record(&self.cipher))
            .transpose()
    }

    pub(crate) async fn find_source_impl(&self, id: SourceId) -> DbResult<Option<SourceRecord>> {
        let sql = format!("{SELECT} WHERE s.id = ?");
        sqlx::query_as::<_, SourceRow>(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .fetch_optional(&self.read)
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
        let settings = update.settings.map(|s| s.to_string());
        let rotation = update
            .rotate_secret
            .map(|(secret, until)| (seal_source_secret(&self.cipher, t, id, &secret), us(until)));
        let name = update.name;
        let changed = self
            .writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let (secret_ct, until) = rotation.unzip();
                    let done = sqlx::query(ROTATE_OR_CHANGE)
                        .bind(name)
                        .bind(settings)
                        .bind(secret_ct)
                        .bind(until)
                        .bind(us(at))
                        .bind(id.as_uuid())
                        .bind(t.as_uuid())
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await?;
        if !changed {
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
        let t = tenant.id().as_uuid();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE sources SET revoked_at = ?, updated_at = ? \
                         WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
                    )
                    .bind(us(at))
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(t)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }
}
