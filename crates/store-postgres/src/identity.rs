//! Identity on PostgreSQL: users, memberships, sessions, rate limits and the audit log. Every
//! write is one transaction on the pool. Concurrent refreshes of one token are decided by a
//! row lock on it; concurrent appends to one audit chain by a transaction-scoped advisory lock
//! on the chain, so its next `seq` is always its last plus one.

use std::collections::HashMap;

use domain::{Email, Role, SessionId, SupportGrantId, Tenant, TenantId, Timestamp, UserId};
use futures::future::BoxFuture;
use sqlx::PgConnection;
use store::codec::us;
use store::codec_identity::{
    self, AuditRow, MembershipRow, SessionRow, StagedAuditRow, SupportGrantRow, UserRow,
    seal_audit, seal_session_ip, seal_user, strongest_grant as strongest,
};
use store::{
    AuditChain, AuditEntry, DbError, DbResult, Membership, NewAuditEntry, NewOneTimeToken,
    NewRefreshToken, NewSupportGrant, NewUser, OneTimeKind, OneTimeToken, RefreshOutcome,
    SessionRecord, SupportGrant, UserRecord, audit_columns, session_columns, staged_audit_columns,
    support_grant_columns, user_columns,
};
use uuid::Uuid;

use crate::{PostgresStore, db};

impl PostgresStore {
    /// Runs `op` in a transaction of its own, committed when it returns `Ok`.
    async fn in_tx<R, F>(&self, op: F) -> DbResult<R>
    where
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, DbResult<R>>,
    {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let result = op(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(result)
    }

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
        self.in_tx(move |conn| {
                Box::pin(async move {
                    for (name, ct) in sealed {
                        match ct {
                            Some(ct) => {
                                sqlx::query(
                                    "INSERT INTO tenant_secrets (tenant_id, name, value_ct, updated_at) \
                                     VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, name) \
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
                                    "DELETE FROM tenant_secrets WHERE tenant_id = $1 AND name = $2",
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
            sqlx::query_as("SELECT name, value_ct FROM tenant_secrets WHERE tenant_id = $1")
                .bind(tenant.id().as_uuid())
                .fetch_all(&self.pool)
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                sqlx::query(concat!(
                    "INSERT INTO one_time_tokens (token_hash, ",
                    store::one_time_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)"
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
            " FROM one_time_tokens WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL \
              AND expires_at > $3"
        ))
        .bind(hash)
        .bind(kind.as_str())
        .bind(us(at))
        .fetch_optional(&self.pool)
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
            .in_tx(move |conn| {
                Box::pin(async move {
                    sqlx::query_as::<_, store::codec_identity::OneTimeRow>(concat!(
                        "UPDATE one_time_tokens SET used_at = $1 WHERE token_hash = $2 \
                         AND kind = $3 AND used_at IS NULL AND expires_at > $4 RETURNING ",
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM rate_limits WHERE expires_at < $1")
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                let done = sqlx::query("UPDATE tenants SET suspended_at = $1 WHERE id = $2")
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO users (id, email_ct, email_bidx, password_hash, \
                         must_change_password, operator, created_at, password_changed_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
            " FROM users WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
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
            " FROM users WHERE email_bidx = $1"
        ))
        .bind(codec_identity::user_email_index(&self.cipher, email))
        .fetch_optional(&self.pool)
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE users SET password_hash = $1, must_change_password = $2, \
                         password_changed_at = $3 WHERE id = $4",
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
                    "UPDATE sessions SET revoked_at = $1 \
                         WHERE user_id = $2 AND revoked_at IS NULL AND id IS DISTINCT FROM $3",
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO memberships (tenant_id, user_id, role, created_at) \
                         VALUES ($1, $2, $3, $4)",
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
             WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.id().as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(MembershipRow::into_record)
        .transpose()
    }

    pub(crate) async fn list_memberships_impl(&self, user: UserId) -> DbResult<Vec<Membership>> {
        sqlx::query_as::<_, MembershipRow>(
            "SELECT tenant_id, user_id, role, created_at FROM memberships \
             WHERE user_id = $1 ORDER BY created_at, tenant_id",
        )
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, tenant_id, created_at, last_used_at, \
                         expires_at, user_agent, ip_ct) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                let Some((session, expires_at, used_at)) =
                    sqlx::query_as::<_, (Uuid, i64, Option<i64>)>(
                        "SELECT session_id, expires_at, used_at FROM refresh_tokens \
                             WHERE token_hash = $1 FOR UPDATE",
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
                         WHERE id = $1 FOR UPDATE",
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
                        "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
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
                sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2")
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
                let ip_ct =
                    seal_session_ip(&cipher, next.tenant_id, next.session_id, next.ip.as_deref());
                sqlx::query(
                    "UPDATE sessions SET last_used_at = $1, expires_at = $2, user_agent = $3, \
                         ip_ct = COALESCE($4, ip_ct) WHERE id = $5",
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
                    " FROM sessions WHERE id = $1"
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
            " FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2"
        ))
        .bind(id.as_uuid())
        .bind(us(at))
        .fetch_optional(&self.pool)
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
            " FROM sessions WHERE user_id = $1 AND tenant_id IS NOT DISTINCT FROM $2 \
              AND revoked_at IS NULL \
              AND expires_at > $3 ORDER BY created_at DESC, id DESC"
        ))
        .bind(user.as_uuid())
        .bind(tenant.map(|t| t.id().as_uuid()))
        .bind(us(at))
        .fetch_all(&self.pool)
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 \
                         WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
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
        self.in_tx(move |conn| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM rate_limits WHERE key = $1 AND expires_at <= $2")
                        .bind(&key)
                        .bind(us(window_start))
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    let (count,): (i64,) = sqlx::query_as(
                        "INSERT INTO rate_limits (key, window_start, count, expires_at) \
                         VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + excluded.count \
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                let chain = AuditChain::of(entry.tenant_id).key();
                lock_chain(conn, &chain).await?;
                let prev = last_link(conn, &chain).await?;
                append_after(conn, &cipher, entry, prev).await
            })
        })
        .await
    }

    pub(crate) async fn stage_audit_impl(&self, entries: Vec<NewAuditEntry>) -> DbResult<()> {
        let cipher = self.cipher.clone();
        self.in_tx(move |conn| {
            Box::pin(async move {
                for entry in &entries {
                    stage_in(conn, &cipher, entry).await?;
                }
                Ok(())
            })
        })
        .await
    }

    pub(crate) async fn chain_staged_audit_impl(&self, limit: u32) -> DbResult<u64> {
        let cipher = self.cipher.clone();
        self.in_tx(move |conn| {
            Box::pin(async move {
                // One chainer at a time across processes; the others have nothing to do.
                let ours: bool = sqlx::query_scalar(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended('leadline-audit-chainer', 0))",
                )
                .fetch_one(&mut *conn)
                .await
                .map_err(db)?;
                if !ours {
                    return Ok(0);
                }
                let rows = sqlx::query_as::<_, StagedAuditRow>(concat!(
                    "SELECT position, ",
                    staged_audit_columns!(),
                    " FROM audit_outbox ORDER BY position LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await
                .map_err(db)?;
                // Lock every chain touched, in one order, as direct appends do.
                let mut chains: Vec<String> = rows
                    .iter()
                    .map(|r| AuditChain::of(r.tenant_id.map(domain::TenantId::from_uuid)).key())
                    .collect();
                chains.sort();
                chains.dedup();
                for chain in &chains {
                    lock_chain(conn, chain).await?;
                }
                let mut links: HashMap<String, Option<(i64, Vec<u8>)>> = HashMap::new();
                let mut positions = Vec::with_capacity(rows.len());
                let mut batch = AuditBatch::default();
                for row in rows {
                    positions.push(row.position);
                    let entry = row.open(&cipher)?;
                    let chain = AuditChain::of(entry.tenant_id).key();
                    let prev = match links.remove(&chain) {
                        Some(prev) => prev,
                        None => last_link(conn, &chain).await?,
                    };
                    let sealed = seal_audit(&cipher, &entry, prev);
                    links.insert(chain, Some((sealed.seq, sealed.hash.clone())));
                    batch.push(&entry, sealed);
                }
                batch.insert(conn).await?;
                // By position, not "up to the last": a row with a lower position may commit
                // after this one started.
                sqlx::query("DELETE FROM audit_outbox WHERE position = ANY($1)")
                    .bind(&positions)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                Ok(positions.len() as u64)
            })
        })
        .await
    }

    pub(crate) async fn staged_audit_count_impl(&self) -> DbResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_outbox")
            .fetch_one(&self.pool)
            .await
            .map_err(db)
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
            " FROM audit_log WHERE chain = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        ))
        .bind(chain.key())
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
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
            " FROM audit_log WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(chain.key())
        .bind(after_seq)
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .into_iter()
        .map(|row| row.open(&self.cipher))
        .collect()
    }

    pub(crate) async fn audit_chains_impl(&self) -> DbResult<Vec<AuditChain>> {
        let keys: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT chain FROM audit_log ORDER BY chain")
                .fetch_all(&self.pool)
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO support_grants (id, tenant_id, role, reason, granted_by, \
                         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
            " FROM support_grants WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(tenant.id().as_uuid())
        .fetch_all(&self.pool)
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
        self.in_tx(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE support_grants SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 \
                         AND revoked_at IS NULL AND expires_at > $4",
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
            " FROM support_grants WHERE tenant_id = $1 AND revoked_at IS NULL AND expires_at > $2"
        ))
        .bind(tenant.as_uuid())
        .bind(us(at))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        strongest(rows)
    }
}

fn parse_chain(key: &str) -> DbResult<AuditChain> {
    AuditChain::parse(key).ok_or_else(|| DbError::corrupt(format!("audit chain {key:?}")))
}

async fn insert_token(conn: &mut PgConnection, token: &NewRefreshToken) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
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

/// Holds the chain's append lock until the transaction ends: one appender per chain at a time,
/// in every process, so its next `seq` is always its last plus one.
async fn lock_chain(conn: &mut PgConnection, chain: &str) -> DbResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("leadline-audit:{chain}"))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// The last `(seq, hash)` of a chain, or `None` when it is empty.
async fn last_link(conn: &mut PgConnection, chain: &str) -> DbResult<Option<(i64, Vec<u8>)>> {
    sqlx::query_as::<_, (i64, Vec<u8>)>(
        "SELECT seq, hash FROM audit_log WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(chain)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)
}

/// Appends `entry` after `prev` (its chain's last link, read under the chain's lock).
async fn append_after(
    conn: &mut PgConnection,
    cipher: &crypto::Cipher,
    entry: NewAuditEntry,
    prev: Option<(i64, Vec<u8>)>,
) -> DbResult<AuditEntry> {
    let sealed = seal_audit(cipher, &entry, prev);
    let (seq, prev_hash, hash) = (sealed.seq, sealed.prev_hash.clone(), sealed.hash.clone());
    let mut one = AuditBatch::default();
    one.push(&entry, sealed);
    one.insert(conn).await?;
    Ok(AuditEntry {
        seq,
        entry,
        prev_hash,
        hash,
    })
}

/// Stages an audit entry in the current transaction (see `Store::stage_audit`).
pub(crate) async fn stage_in(
    conn: &mut PgConnection,
    cipher: &crypto::Cipher,
    entry: &NewAuditEntry,
) -> DbResult<()> {
    let query = sqlx::query(concat!(
        "INSERT INTO audit_outbox (",
        staged_audit_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ));
    bind_staged(query, cipher, entry)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// Binds a staged entry's columns ([`staged_audit_columns!`], sealed) as the query's next
/// parameters.
pub(crate) fn bind_staged<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    cipher: &crypto::Cipher,
    entry: &NewAuditEntry,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let sealed = codec_identity::seal_staged(cipher, entry);
    query
        .bind(entry.id.as_uuid())
        .bind(entry.tenant_id.map(|t| t.as_uuid()))
        .bind(us(entry.at))
        .bind(entry.actor_kind.as_str())
        .bind(entry.actor_id.clone())
        .bind(entry.action.clone())
        .bind(entry.target_kind.clone())
        .bind(entry.target_id.clone())
        .bind(sealed.ip_ct)
        .bind(entry.correlation_id.clone())
        .bind(sealed.detail)
}

/// Chained entries as columns, inserted in one statement (`UNNEST`): one round trip for a whole
/// pass of the chainer, not one per entry.
#[derive(Default)]
struct AuditBatch {
    chain: Vec<String>,
    seq: Vec<i64>,
    id: Vec<Uuid>,
    tenant_id: Vec<Option<Uuid>>,
    at: Vec<i64>,
    actor_kind: Vec<String>,
    actor_id: Vec<String>,
    action: Vec<String>,
    target_kind: Vec<String>,
    target_id: Vec<String>,
    ip_ct: Vec<Option<Vec<u8>>>,
    correlation_id: Vec<String>,
    detail: Vec<String>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl AuditBatch {
    fn push(&mut self, entry: &NewAuditEntry, sealed: codec_identity::SealedAudit) {
        self.chain.push(sealed.chain);
        self.seq.push(sealed.seq);
        self.id.push(entry.id.as_uuid());
        self.tenant_id.push(entry.tenant_id.map(|t| t.as_uuid()));
        self.at.push(us(entry.at));
        self.actor_kind.push(entry.actor_kind.as_str().to_owned());
        self.actor_id.push(entry.actor_id.clone());
        self.action.push(entry.action.clone());
        self.target_kind.push(entry.target_kind.clone());
        self.target_id.push(entry.target_id.clone());
        self.ip_ct.push(sealed.ip_ct);
        self.correlation_id.push(entry.correlation_id.clone());
        self.detail.push(sealed.detail);
        self.prev_hash.push(sealed.prev_hash);
        self.hash.push(sealed.hash);
    }

    async fn insert(self, conn: &mut PgConnection) -> DbResult<()> {
        if self.id.is_empty() {
            return Ok(());
        }
        sqlx::query(concat!(
            "INSERT INTO audit_log (",
            audit_columns!(),
            ") SELECT * FROM UNNEST($1::text[], $2::int8[], $3::uuid[], $4::uuid[], $5::int8[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bytea[], \
             $12::text[], $13::text[], $14::bytea[], $15::bytea[])"
        ))
        .bind(self.chain)
        .bind(self.seq)
        .bind(self.id)
        .bind(self.tenant_id)
        .bind(self.at)
        .bind(self.actor_kind)
        .bind(self.actor_id)
        .bind(self.action)
        .bind(self.target_kind)
        .bind(self.target_id)
        .bind(self.ip_ct)
        .bind(self.correlation_id)
        .bind(self.detail)
        .bind(self.prev_hash)
        .bind(self.hash)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        Ok(())
    }
}
