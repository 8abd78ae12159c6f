//! Identity on SQLite: users, memberships, sessions, rate limits and the audit log. Reads on the
//! pool, writes through the writer (whose batches serialise every audit append, so a chain's
//! next `seq` is always its last plus one).

use domain::{Email, Role, SessionId, SupportGrantId, Tenant, TenantId, Timestamp, UserId};
use sqlx::SqliteConnection;
use store::codec::us;
use store::codec_identity::{
    self, AuditRow, MembershipRow, SessionRow, SupportGrantRow, UserRow, seal_audit,
    seal_session_ip, seal_user, strongest_grant as strongest,
};
use store::{
    AuditChain, AuditEntry, DbError, DbResult, Membership, NewAuditEntry, NewOneTimeToken,
    NewRefreshToken, NewSupportGrant, NewUser, OneTimeKind, OneTimeToken, RefreshOutcome,
    SessionRecord, SupportGrant, UserRecord, audit_columns, session_columns, support_grant_columns,
    user_columns,
};
use uuid::Uuid;

use crate::{ChainLinks, SqliteStore, db};

impl SqliteStore {
    pub(crate) async fn set_tenant_secrets_impl(
        &self,
        tenant: Tenant,
        changes: &[(String, Option<String>)],
        at: Timestamp,
    ) -> DbResult<()> {
        let sealed: Vec<(String, Option<Vec<u8>>)> = changes
            .iter()
            .map(|(name, value)| {
                let ct = value.as_deref().map(|v| {
                    store::codec_identity::seal_secret(&self.cipher, tenant.id(), name, v)
                });
                (name.clone(), ct)
            })
            .collect();
        let t = tenant.id().as_uuid();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    for (name, ct) in sealed {
                        match ct {
                            Some(ct) => {
                                sqlx::query(
                                    "INSERT INTO tenant_secrets (tenant_id, name, value_ct, updated_at) \
                                     VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, name) \
                                     DO UPDATE SET value_ct = excluded.value_ct, updated_at = excluded.updated_at",
                                )
                                .bind(t)
                                .bind(&name)
                                .bind(ct)
                                .bind(us(at))
                                .execute(&mut *conn)
                                .await
                                .map_err(db)?;
                            }
                            None => {
                                sqlx::query(
                                    "DELETE FROM tenant_secrets WHERE tenant_id = ? AND name = ?",
                                )
                                .bind(t)
                                .bind(&name)
                                .execute(&mut *conn)
                                .await
                                .map_err(db)?;
                            }
                        }
                    }
                    Ok(())
                })
            })
            .await
    }

    pub(crate) async fn get_tenant_secrets_impl(
        &self,
        tenant: Tenant,
    ) -> DbResult<std::collections::BTreeMap<String, String>> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT name, value_ct FROM tenant_secrets WHERE tenant_id = ?")
                .bind(tenant.id().as_uuid())
                .fetch_all(&self.read)
                .await
                .map_err(db)?;
        rows.into_iter()
            .map(|(name, ct)| {
                let value =
                    store::codec_identity::open_secret(&self.cipher, tenant.id(), &name, &ct)?;
                Ok((name, value))
            })
            .collect()
    }

    pub(crate) async fn create_one_time_token_impl(&self, token: NewOneTimeToken) -> DbResult<()> {
        let email_ct = store::codec_identity::seal_token_email(&self.cipher, &token);
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query(concat!(
                        "INSERT INTO one_time_tokens (token_hash, ",
                        store::one_time_columns!(),
                        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
                    ))
                    .bind(&token.token_hash)
                    .bind(token.id)
                    .bind(token.kind.as_str())
                    .bind(token.user_id.map(|u| u.as_uuid()))
                    .bind(token.tenant_id.map(|t| t.as_uuid()))
                    .bind(email_ct)
                    .bind(token.role.map(|r| r.as_str()))
                    .bind(token.created_by.map(|u| u.as_uuid()))
                    .bind(us(token.created_at))
                    .bind(us(token.expires_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            })
            .await
    }

    pub(crate) async fn find_one_time_token_impl(
        &self,
        hash: &[u8],
        kind: OneTimeKind,
        at: Timestamp,
    ) -> DbResult<Option<OneTimeToken>> {
        sqlx::query_as::<_, store::codec_identity::OneTimeRow>(concat!(
            "SELECT ",
            store::one_time_columns!(),
            " FROM one_time_tokens WHERE token_hash = ? AND kind = ? AND used_at IS NULL \
              AND expires_at > ?"
        ))
        .bind(hash)
        .bind(kind.as_str())
        .bind(us(at))
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(|row| row.open(&self.cipher))
        .transpose()
    }

    pub(crate) async fn redeem_one_time_token_impl(
        &self,
        hash: &[u8],
        kind: OneTimeKind,
        at: Timestamp,
    ) -> DbResult<Option<OneTimeToken>> {
        let hash = hash.to_vec();
        let row = self
            .writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query_as::<_, store::codec_identity::OneTimeRow>(concat!(
                        "UPDATE one_time_tokens SET used_at = ? WHERE token_hash = ? \
                         AND kind = ? AND used_at IS NULL AND expires_at > ? RETURNING ",
                        store::one_time_columns!()
                    ))
                    .bind(us(at))
                    .bind(&hash)
                    .bind(kind.as_str())
                    .bind(us(at))
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)
                })
            })
            .await?;
        row.map(|row| row.open(&self.cipher)).transpose()
    }

    pub(crate) async fn purge_rate_limits_impl(&self, before: Timestamp) -> DbResult<u64> {
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM rate_limits WHERE expires_at < ?")
                        .bind(us(before))
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }

    pub(crate) async fn set_tenant_suspended_impl(
        &self,
        id: domain::TenantId,
        at: Option<Timestamp>,
    ) -> DbResult<()> {
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("UPDATE tenants SET suspended_at = ? WHERE id = ?")
                        .bind(at.map(us))
                        .bind(id.as_uuid())
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    if done.rows_affected() == 0 {
                        Err(DbError::NotFound)
                    } else {
                        Ok(())
                    }
                })
            })
            .await
    }

    pub(crate) async fn create_user_impl(&self, user: NewUser) -> DbResult<UserRecord> {
        let sealed = seal_user(&self.cipher, &user);
        let record = UserRecord {
            id: user.id,
            email: user.email.clone(),
            password_hash: user.password_hash.clone(),
            must_change_password: user.must_change_password,
            operator: user.operator,
            created_at: user.created_at,
            password_changed_at: user.created_at,
            disabled_at: None,
        };
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO users (id, email_ct, email_bidx, password_hash, \
                         must_change_password, operator, created_at, password_changed_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(user.id.as_uuid())
                    .bind(sealed.email_ct)
                    .bind(sealed.email_bidx)
                    .bind(&user.password_hash)
                    .bind(user.must_change_password)
                    .bind(user.operator)
                    .bind(us(user.created_at))
                    .bind(us(user.created_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            })
            .await?;
        Ok(record)
    }

    pub(crate) async fn get_user_impl(&self, id: UserId) -> DbResult<Option<UserRecord>> {
        sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = ?"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(|row| row.open(&self.cipher))
        .transpose()
    }

    pub(crate) async fn find_user_by_email_impl(
        &self,
        email: &Email,
    ) -> DbResult<Option<UserRecord>> {
        sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email_bidx = ?"
        ))
        .bind(codec_identity::user_email_index(&self.cipher, email))
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(|row| row.open(&self.cipher))
        .transpose()
    }

    pub(crate) async fn set_password_impl(
        &self,
        id: UserId,
        password_hash: &str,
        must_change: bool,
        keep: Option<SessionId>,
        at: Timestamp,
    ) -> DbResult<()> {
        let hash = password_hash.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE users SET password_hash = ?, must_change_password = ?, \
                         password_changed_at = ? WHERE id = ?",
                    )
                    .bind(&hash)
                    .bind(must_change)
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    if done.rows_affected() == 0 {
                        return Err(DbError::NotFound);
                    }
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = ? \
                         WHERE user_id = ? AND revoked_at IS NULL AND id IS NOT ?",
                    )
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(keep.map(|k| k.as_uuid()))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            })
            .await
    }

    pub(crate) async fn add_membership_impl(
        &self,
        tenant: Tenant,
        user: UserId,
        role: Role,
        at: Timestamp,
    ) -> DbResult<Membership> {
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO memberships (tenant_id, user_id, role, created_at) \
                         VALUES (?, ?, ?, ?)",
                    )
                    .bind(tenant.id().as_uuid())
                    .bind(user.as_uuid())
                    .bind(role.as_str())
                    .bind(us(at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            })
            .await?;
        Ok(Membership {
            tenant_id: tenant.id(),
            user_id: user,
            role,
            created_at: at,
        })
    }

    pub(crate) async fn get_membership_impl(
        &self,
        tenant: Tenant,
        user: UserId,
    ) -> DbResult<Option<Membership>> {
        sqlx::query_as::<_, MembershipRow>(
            "SELECT tenant_id, user_id, role, created_at FROM memberships \
             WHERE tenant_id = ? AND user_id = ?",
        )
        .bind(tenant.id().as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(MembershipRow::into_record)
        .transpose()
    }

    pub(crate) async fn list_memberships_impl(&self, user: UserId) -> DbResult<Vec<Membership>> {
        sqlx::query_as::<_, MembershipRow>(
            "SELECT tenant_id, user_id, role, created_at FROM memberships \
             WHERE user_id = ? ORDER BY created_at, tenant_id",
        )
        .bind(user.as_uuid())
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(MembershipRow::into_record)
        .collect()
    }

    pub(crate) async fn create_session_impl(
        &self,
        first: NewRefreshToken,
    ) -> DbResult<SessionRecord> {
        let ip_ct = seal_session_ip(
            &self.cipher,
            first.tenant_id,
            first.session_id,
            first.ip.as_deref(),
        );
        let record = SessionRecord {
            id: first.session_id,
            user_id: first.user_id,
            tenant_id: first.tenant_id,
            created_at: first.created_at,
            last_used_at: first.created_at,
            expires_at: first.expires_at,
            user_agent: first.user_agent.clone(),
            ip: first.ip.clone(),
        };
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO sessions (id, user_id, tenant_id, created_at, last_used_at, \
                         expires_at, user_agent, ip_ct) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(first.session_id.as_uuid())
                    .bind(first.user_id.as_uuid())
                    .bind(first.tenant_id.map(|t| t.as_uuid()))
                    .bind(us(first.created_at))
                    .bind(us(first.created_at))
                    .bind(us(first.expires_at))
                    .bind(&first.user_agent)
                    .bind(ip_ct)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    insert_token(conn, &first).await
                })
            })
            .await?;
        Ok(record)
    }

    pub(crate) async fn refresh_session_impl(
        &self,
        presented_hash: &[u8],
        next: NewRefreshToken,
        at: Timestamp,
    ) -> DbResult<RefreshOutcome> {
        let presented = presented_hash.to_vec();
        let cipher = self.cipher.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let Some((session, expires_at, used_at)) =
                        sqlx::query_as::<_, (Uuid, i64, Option<i64>)>(
                            "SELECT session_id, expires_at, used_at FROM refresh_tokens \
                             WHERE token_hash = ?",
                        )
                        .bind(&presented)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db)?
                    else {
                        return Ok(RefreshOutcome::Invalid);
                    };
                    let Some(row) = sqlx::query_as::<_, (Uuid, Option<Uuid>, Option<i64>, i64)>(
                        "SELECT user_id, tenant_id, revoked_at, expires_at FROM sessions \
                         WHERE id = ?",
                    )
                    .bind(session)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?
                    else {
                        return Ok(RefreshOutcome::Invalid);
                    };
                    let (user_id, tenant_id, revoked_at, session_expires) = row;
                    if used_at.is_some() || revoked_at.is_some() {
                        sqlx::query(
                            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                        )
                        .bind(us(at))
                        .bind(session)
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                        return Ok(RefreshOutcome::Reused {
                            session_id: SessionId::from_uuid(session),
                            user_id: UserId::from_uuid(user_id),
                            tenant_id: tenant_id.map(domain::TenantId::from_uuid),
                        });
                    }
                    if expires_at <= us(at) || session_expires <= us(at) {
                        return Ok(RefreshOutcome::Invalid);
                    }
                    sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?")
                        .bind(us(at))
                        .bind(&presented)
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    let next = NewRefreshToken {
                        session_id: SessionId::from_uuid(session),
                        user_id: UserId::from_uuid(user_id),
                        tenant_id: tenant_id.map(domain::TenantId::from_uuid),
                        ..next
                    };
                    insert_token(conn, &next).await?;
                    let ip_ct = seal_session_ip(
                        &cipher,
                        next.tenant_id,
                        next.session_id,
                        next.ip.as_deref(),
                    );
                    sqlx::query(
                        "UPDATE sessions SET last_used_at = ?, expires_at = ?, user_agent = ?, \
                         ip_ct = COALESCE(?, ip_ct) WHERE id = ?",
                    )
                    .bind(us(at))
                    .bind(us(next.expires_at))
                    .bind(&next.user_agent)
                    .bind(ip_ct)
                    .bind(session)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    let row = sqlx::query_as::<_, SessionRow>(concat!(
                        "SELECT ",
                        session_columns!(),
                        " FROM sessions WHERE id = ?"
                    ))
                    .bind(session)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(RefreshOutcome::Rotated(row.open(&cipher)?))
                })
            })
            .await
    }

    pub(crate) async fn get_live_session_impl(
        &self,
        id: SessionId,
        at: Timestamp,
    ) -> DbResult<Option<SessionRecord>> {
        sqlx::query_as::<_, SessionRow>(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id = ? AND revoked_at IS NULL AND expires_at > ?"
        ))
        .bind(id.as_uuid())
        .bind(us(at))
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(|row| row.open(&self.cipher))
        .transpose()
    }

    pub(crate) async fn list_sessions_impl(
        &self,
        user: UserId,
        tenant: Option<Tenant>,
        at: Timestamp,
    ) -> DbResult<Vec<SessionRecord>> {
        sqlx::query_as::<_, SessionRow>(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = ? AND tenant_id IS ? AND revoked_at IS NULL \
              AND expires_at > ? ORDER BY created_at DESC, id DESC"
        ))
        .bind(user.as_uuid())
        .bind(tenant.map(|t| t.id().as_uuid()))
        .bind(us(at))
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(|row| row.open(&self.cipher))
        .collect()
    }

    pub(crate) async fn revoke_session_impl(
        &self,
        user: UserId,
        id: SessionId,
        at: Timestamp,
    ) -> DbResult<bool> {
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE sessions SET revoked_at = ? \
                         WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                    )
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(user.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    pub(crate) async fn rate_limit_add_impl(
        &self,
        key: &str,
        window_start: Timestamp,
        expires_at: Timestamp,
        n: i64,
    ) -> DbResult<i64> {
        let key = key.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM rate_limits WHERE key = ? AND expires_at <= ?")
                        .bind(&key)
                        .bind(us(window_start))
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    let (count,): (i64,) = sqlx::query_as(
                        "INSERT INTO rate_limits (key, window_start, count, expires_at) \
                         VALUES (?, ?, ?, ?) \
                         ON CONFLICT (key, window_start) DO UPDATE SET count = count + excluded.count \
                         RETURNING count",
                    )
                    .bind(&key)
                    .bind(us(window_start))
                    .bind(n)
                    .bind(us(expires_at))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(count)
                })
            })
            .await
    }

    pub(crate) async fn append_audit_impl(&self, entry: NewAuditEntry) -> DbResult<AuditEntry> {
        let cipher = self.cipher.clone();
        let links = self.writer.links();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move { append_linked(conn, &cipher, &links, entry).await })
            })
            .await
    }

    pub(crate) async fn stage_audit_impl(&self, entries: Vec<NewAuditEntry>) -> DbResult<()> {
        let cipher = self.cipher.clone();
        let links = self.writer.links();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    for entry in &entries {
                        stage_in(conn, &cipher, &links, entry).await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    pub(crate) async fn list_audit_impl(
        &self,
        chain: AuditChain,
        before_seq: Option<i64>,
        limit: u32,
    ) -> DbResult<Vec<AuditEntry>> {
        sqlx::query_as::<_, AuditRow>(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_log WHERE chain = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        ))
        .bind(chain.key())
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(|row| row.open(&self.cipher))
        .collect()
    }

    pub(crate) async fn audit_chain_page_impl(
        &self,
        chain: AuditChain,
        after_seq: i64,
        limit: u32,
    ) -> DbResult<Vec<AuditEntry>> {
        sqlx::query_as::<_, AuditRow>(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_log WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(chain.key())
        .bind(after_seq)
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(|row| row.open(&self.cipher))
        .collect()
    }

    pub(crate) async fn audit_chains_impl(&self) -> DbResult<Vec<AuditChain>> {
        let keys: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT chain FROM audit_log ORDER BY chain")
                .fetch_all(&self.read)
                .await
                .map_err(db)?;
        keys.into_iter().map(|(key,)| parse_chain(&key)).collect()
    }

    pub(crate) async fn create_support_grant_impl(
        &self,
        tenant: Tenant,
        grant: NewSupportGrant,
    ) -> DbResult<SupportGrant> {
        let record = SupportGrant {
            id: grant.id,
            tenant_id: tenant.id(),
            role: grant.role,
            reason: grant.reason,
            granted_by: grant.granted_by,
            created_at: store::codec::at_rest(grant.created_at),
            expires_at: store::codec::at_rest(grant.expires_at),
            revoked_at: None,
        };
        let row = record.clone();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO support_grants (id, tenant_id, role, reason, granted_by, \
                         created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(row.id.as_uuid())
                    .bind(row.tenant_id.as_uuid())
                    .bind(row.role.as_str())
                    .bind(&row.reason)
                    .bind(row.granted_by.as_uuid())
                    .bind(us(row.created_at))
                    .bind(us(row.expires_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            })
            .await?;
        Ok(record)
    }

    pub(crate) async fn list_support_grants_impl(
        &self,
        tenant: Tenant,
    ) -> DbResult<Vec<SupportGrant>> {
        sqlx::query_as::<_, SupportGrantRow>(concat!(
            "SELECT ",
            support_grant_columns!(),
            " FROM support_grants WHERE tenant_id = ? ORDER BY created_at DESC, id DESC"
        ))
        .bind(tenant.id().as_uuid())
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(SupportGrantRow::into_record)
        .collect()
    }

    pub(crate) async fn revoke_support_grant_impl(
        &self,
        tenant: Tenant,
        id: SupportGrantId,
        at: Timestamp,
    ) -> DbResult<bool> {
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE support_grants SET revoked_at = ? WHERE id = ? AND tenant_id = ? \
                         AND revoked_at IS NULL AND expires_at > ?",
                    )
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(tenant.id().as_uuid())
                    .bind(us(at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    pub(crate) async fn live_support_grant_impl(
        &self,
        tenant: TenantId,
        at: Timestamp,
    ) -> DbResult<Option<SupportGrant>> {
        let rows = sqlx::query_as::<_, SupportGrantRow>(concat!(
            "SELECT ",
            support_grant_columns!(),
            " FROM support_grants WHERE tenant_id = ? AND revoked_at IS NULL AND expires_at > ?"
        ))
        .bind(tenant.as_uuid())
        .bind(us(at))
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        strongest(rows)
    }
}

fn parse_chain(key: &str) -> DbResult<AuditChain> {
    AuditChain::parse(key).ok_or_else(|| DbError::corrupt(format!("audit chain {key:?}")))
}

async fn insert_token(conn: &mut SqliteConnection, token: &NewRefreshToken) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) \
         VALUES (?, ?, ?, ?)",
    )
    .bind(&token.token_hash)
    .bind(token.session_id.as_uuid())
    .bind(us(token.created_at))
    .bind(us(token.expires_at))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// The last `(seq, hash)` of a chain, or `None` when it is empty.
async fn last_link(conn: &mut SqliteConnection, chain: &str) -> DbResult<Option<(i64, Vec<u8>)>> {
    sqlx::query_as::<_, (i64, Vec<u8>)>(
        "SELECT seq, hash FROM audit_log WHERE chain = ? ORDER BY seq DESC LIMIT 1",
    )
    .bind(chain)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)
}

/// Appends `entry` after `prev` (its chain's last link, read in this same write).
async fn append_after(
    conn: &mut SqliteConnection,
    cipher: &crypto::Cipher,
    entry: NewAuditEntry,
    prev: Option<(i64, Vec<u8>)>,
) -> DbResult<AuditEntry> {
    let sealed = seal_audit(cipher, &entry, prev);
    sqlx::query(concat!(
        "INSERT INTO audit_log (",
        audit_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&sealed.chain)
    .bind(sealed.seq)
    .bind(entry.id.as_uuid())
    .bind(entry.tenant_id.map(|t| t.as_uuid()))
    .bind(us(entry.at))
    .bind(entry.actor_kind.as_str())
    .bind(&entry.actor_id)
    .bind(&entry.action)
    .bind(&entry.target_kind)
    .bind(&entry.target_id)
    .bind(&sealed.ip_ct)
    .bind(&entry.correlation_id)
    .bind(&sealed.detail)
    .bind(&sealed.prev_hash)
    .bind(&sealed.hash)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(AuditEntry {
        seq: sealed.seq,
        entry,
        prev_hash: sealed.prev_hash,
        hash: sealed.hash,
    })
}

/// Stages an audit entry in the current write (see `Store::stage_audit`). On SQLite that is
/// appending it to its chain at once: the one writer already serialises every write, so there is
/// no chain lock to wait for, and an outbox would only add an insert and a delete.
pub(crate) async fn stage_in(
    conn: &mut SqliteConnection,
    cipher: &crypto::Cipher,
    links: &ChainLinks,
    entry: &NewAuditEntry,
) -> DbResult<()> {
    append_linked(conn, cipher, links, entry.clone()).await?;
    Ok(())
}

/// Appends `entry` to its chain after the chain's last link, known to the writer or read here.
async fn append_linked(
    conn: &mut SqliteConnection,
    cipher: &crypto::Cipher,
    links: &ChainLinks,
    entry: NewAuditEntry,
) -> DbResult<AuditEntry> {
    let chain = AuditChain::of(entry.tenant_id).key();
    let prev = match links.get(&chain) {
        Some(link) => Some(link),
        None => last_link(conn, &chain).await?,
    };
    let appended = append_after(conn, cipher, entry, prev).await?;
    links.set(chain, (appended.seq, appended.hash.clone()));
    Ok(appended)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry(tenant: Option<domain::TenantId>, action: &str) -> NewAuditEntry {
        NewAuditEntry {
            id: domain::AuditId::new(),
            tenant_id: tenant,
            at: domain::clock::wall_clock_now(),
            actor_kind: store::ActorKind::System,
            actor_id: "test".into(),
            action: action.into(),
            target_kind: "lead".into(),
            target_id: "l".into(),
            ip: None,
            correlation_id: String::new(),
            detail: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn a_rolled_back_append_leaves_no_stale_link_behind() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("leadline.db").display());
        let store = SqliteStore::open(&url, crypto::Cipher::new(crypto::KeyRing::generate()))
            .await
            .unwrap();
        store.append_audit_impl(entry(None, "first")).await.unwrap();
        // An operation that appends and then fails: its savepoint undoes the append.
        let (cipher, links) = (store.cipher.clone(), store.writer.links());
        let failed: DbResult<()> = store
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    stage_in(conn, &cipher, &links, &entry(None, "undone")).await?;
                    Err(DbError::Conflict(
                        "the operation fails after appending".into(),
                    ))
                })
            })
            .await;
        assert!(failed.is_err());
        store
            .append_audit_impl(entry(None, "second"))
            .await
            .unwrap();
        let chain = store
            .audit_chain_page_impl(AuditChain::Platform, 0, 10)
            .await
            .unwrap();
        let actions: Vec<_> = chain.iter().map(|e| e.entry.action.as_str()).collect();
        assert_eq!(actions, ["first", "second"]);
        codec_identity::verify_chain_segment("platform", &chain, None)
            .expect("the chain holds: the second entry follows the first");
    }
}
