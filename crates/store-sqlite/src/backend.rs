//! `Store` for SQLite: reads on the pool, writes through the writer.

use async_trait::async_trait;
use domain::{
    Address, ApiKeyId, ConsentEvent, ConsentEventId, ConsentKind, Email, JobId, Lead, LeadId,
    LeadStatus, Message, MessageId, MessageStatus, Role, SessionId, SourceId, Tenant, TenantId,
    Timestamp, UserId,
};
use sqlx::SqliteConnection;
use store::codec::{
    self, ApiKeyRow, ConsentRow, JobRow, LeadRow, MessageRow, TenantRow, address_index, us,
};
use store::{
    ApiKeyRecord, AuditChain, AuditEntry, BeginOutbound, ClaimedJob, DbError, DbResult,
    DeliveryUpdate, IntakeOutcome, IntakeRequest, JobRecord, JobState, LeadQuery, Lease,
    Membership, MessageQuery, NewApiKey, NewAuditEntry, NewConsentEvent, NewInbound, NewJob,
    NewOneTimeToken, NewOutbound, NewRefreshToken, NewUser, OneTimeKind, OneTimeToken,
    OutboundResult, RefreshOutcome, SessionRecord, Store, TenantRecord, TenantSettings, UserRecord,
    job_columns, lead_columns, message_columns,
};
use uuid::Uuid;

use crate::{SqliteStore, db};

fn clamp_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, 500))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn migrations_current(&self) -> DbResult<bool> {
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = 1")
                .fetch_all(&self.read)
                .await
                .map_err(db)?;
        let applied: Vec<i64> = applied.into_iter().map(|(v,)| v).collect();
        Ok(crate::SqliteStore::migrator()
            .iter()
            .all(|m| applied.contains(&m.version)))
    }

    async fn create_tenant(
        &self,
        name: &str,
        settings: &TenantSettings,
        at: Timestamp,
    ) -> DbResult<TenantRecord> {
        let record = TenantRecord {
            id: TenantId::new(),
            name: name.to_owned(),
            settings: settings.clone(),
            created_at: at,
            suspended_at: None,
        };
        let (id, name, json) = (
            record.id.as_uuid(),
            record.name.clone(),
            codec::settings_json(settings),
        );
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO tenants (id, name, settings, created_at) VALUES (?, ?, ?, ?)",
                    )
                    .bind(id)
                    .bind(name)
                    .bind(json)
                    .bind(us(at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            })
            .await?;
        Ok(record)
    }

    async fn get_tenant(&self, id: TenantId) -> DbResult<Option<TenantRecord>> {
        sqlx::query_as::<_, TenantRow>(
            "SELECT id, name, settings, created_at, suspended_at FROM tenants WHERE id = ?",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(TenantRow::into_record)
        .transpose()
    }

    async fn list_tenants(&self) -> DbResult<Vec<TenantRecord>> {
        sqlx::query_as::<_, TenantRow>(
            "SELECT id, name, settings, created_at, suspended_at FROM tenants ORDER BY id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(TenantRow::into_record)
        .collect()
    }

    async fn update_tenant_settings(
        &self,
        tenant: Tenant,
        settings: &TenantSettings,
    ) -> DbResult<()> {
        let (id, json) = (tenant.id().as_uuid(), codec::settings_json(settings));
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("UPDATE tenants SET settings = ? WHERE id = ?")
                        .bind(json)
                        .bind(id)
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

    async fn create_api_key(&self, tenant: Tenant, key: NewApiKey) -> DbResult<ApiKeyRecord> {
        let record = ApiKeyRecord {
            id: key.id,
            tenant_id: tenant.id(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            hash: key.hash.clone(),
            scopes: key.scopes.clone(),
            created_at: key.created_at,
            last_used_at: None,
            revoked_at: None,
            tenant_suspended: false,
        };
        let t = tenant.id().as_uuid();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO api_keys (id, tenant_id, name, prefix, hash, scopes, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(key.id.as_uuid())
                    .bind(t)
                    .bind(&key.name)
                    .bind(&key.prefix)
                    .bind(&key.hash)
                    .bind(codec::scopes_json(&key.scopes))
                    .bind(us(key.created_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            })
            .await?;
        Ok(record)
    }

    async fn find_api_key_by_prefix(&self, prefix: &str) -> DbResult<Option<ApiKeyRecord>> {
        sqlx::query_as::<_, ApiKeyRow>(
            "SELECT k.id, k.tenant_id, k.name, k.prefix, k.hash, k.scopes, k.created_at, \
             k.last_used_at, k.revoked_at, t.suspended_at IS NOT NULL AS tenant_suspended \
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = ?",
        )
        .bind(prefix)
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(ApiKeyRow::into_record)
        .transpose()
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> DbResult<()> {
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
                        .bind(us(at))
                        .bind(id.as_uuid())
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    Ok(())
                })
            })
            .await
    }

    async fn list_api_keys(&self, tenant: Tenant) -> DbResult<Vec<ApiKeyRecord>> {
        sqlx::query_as::<_, ApiKeyRow>(
            "SELECT id, tenant_id, name, prefix, hash, scopes, created_at, last_used_at, revoked_at \
             FROM api_keys WHERE tenant_id = ? ORDER BY id",
        )
        .bind(tenant.id().as_uuid())
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(ApiKeyRow::into_record)
        .collect()
    }

    async fn revoke_api_key(&self, tenant: Tenant, id: ApiKeyId, at: Timestamp) -> DbResult<()> {
        let t = tenant.id().as_uuid();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND tenant_id = ?",
                    )
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(t)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
                })
            })
            .await
    }

    async fn set_tenant_secrets(
        &self,
        tenant: Tenant,
        changes: &[(String, Option<String>)],
        at: Timestamp,
    ) -> DbResult<()> {
        self.set_tenant_secrets_impl(tenant, changes, at).await
    }

    async fn get_tenant_secrets(
        &self,
        tenant: Tenant,
    ) -> DbResult<std::collections::BTreeMap<String, String>> {
        self.get_tenant_secrets_impl(tenant).await
    }

    async fn create_one_time_token(&self, token: NewOneTimeToken) -> DbResult<()> {
        self.create_one_time_token_impl(token).await
    }

    async fn find_one_time_token(
        &self,
        hash: &[u8],
        kind: OneTimeKind,
        at: Timestamp,
    ) -> DbResult<Option<OneTimeToken>> {
        self.find_one_time_token_impl(hash, kind, at).await
    }

    async fn redeem_one_time_token(
        &self,
        hash: &[u8],
        kind: OneTimeKind,
        at: Timestamp,
    ) -> DbResult<Option<OneTimeToken>> {
        self.redeem_one_time_token_impl(hash, kind, at).await
    }

    async fn set_tenant_suspended(&self, id: TenantId, at: Option<Timestamp>) -> DbResult<()> {
        self.set_tenant_suspended_impl(id, at).await
    }

    async fn create_user(&self, user: NewUser) -> DbResult<UserRecord> {
        self.create_user_impl(user).await
    }

    async fn get_user(&self, id: UserId) -> DbResult<Option<UserRecord>> {
        self.get_user_impl(id).await
    }

    async fn find_user_by_email(&self, email: &Email) -> DbResult<Option<UserRecord>> {
        self.find_user_by_email_impl(email).await
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        must_change: bool,
        keep: Option<SessionId>,
        at: Timestamp,
    ) -> DbResult<()> {
        self.set_password_impl(id, password_hash, must_change, keep, at)
            .await
    }

    async fn add_membership(
        &self,
        tenant: Tenant,
        user: UserId,
        role: Role,
        at: Timestamp,
    ) -> DbResult<Membership> {
        self.add_membership_impl(tenant, user, role, at).await
    }

    async fn get_membership(&self, tenant: Tenant, user: UserId) -> DbResult<Option<Membership>> {
        self.get_membership_impl(tenant, user).await
    }

    async fn list_memberships(&self, user: UserId) -> DbResult<Vec<Membership>> {
        self.list_memberships_impl(user).await
    }

    async fn create_session(&self, first: NewRefreshToken) -> DbResult<SessionRecord> {
        self.create_session_impl(first).await
    }

    async fn refresh_session(
        &self,
        presented_hash: &[u8],
        next: NewRefreshToken,
        at: Timestamp,
    ) -> DbResult<RefreshOutcome> {
        self.refresh_session_impl(presented_hash, next, at).await
    }

    async fn get_live_session(
        &self,
        id: SessionId,
        at: Timestamp,
    ) -> DbResult<Option<SessionRecord>> {
        self.get_live_session_impl(id, at).await
    }

    async fn list_sessions(
        &self,
        user: UserId,
        tenant: Option<Tenant>,
        at: Timestamp,
    ) -> DbResult<Vec<SessionRecord>> {
        self.list_sessions_impl(user, tenant, at).await
    }

    async fn revoke_session(&self, user: UserId, id: SessionId, at: Timestamp) -> DbResult<bool> {
        self.revoke_session_impl(user, id, at).await
    }

    // ---- sequences and enrolments -------------------------------------------------------

    async fn create_sequence(
        &self,
        tenant: Tenant,
        sequence: store::NewSequence,
    ) -> DbResult<domain::sequence::Sequence> {
        self.create_sequence_impl(tenant, sequence).await
    }

    async fn update_sequence(
        &self,
        tenant: Tenant,
        id: domain::SequenceId,
        name: String,
        definition: domain::sequence::Definition,
        at: Timestamp,
    ) -> DbResult<Option<domain::sequence::Sequence>> {
        self.update_sequence_impl(tenant, id, name, definition, at)
            .await
    }

    async fn get_sequence(
        &self,
        tenant: Tenant,
        id: domain::SequenceId,
        version: Option<i32>,
    ) -> DbResult<Option<domain::sequence::Sequence>> {
        self.get_sequence_impl(tenant, id, version).await
    }

    async fn list_sequences(&self, tenant: Tenant) -> DbResult<Vec<domain::sequence::Sequence>> {
        self.list_sequences_impl(tenant).await
    }

    async fn archive_sequence(
        &self,
        tenant: Tenant,
        id: domain::SequenceId,
        at: Timestamp,
    ) -> DbResult<bool> {
        self.archive_sequence_impl(tenant, id, at).await
    }

    async fn enrol(
        &self,
        tenant: Tenant,
        enrolment: store::NewEnrolment,
        first_step: NewJob,
    ) -> DbResult<domain::sequence::Enrolment> {
        self.enrol_impl(tenant, enrolment, first_step).await
    }

    async fn get_enrolment(
        &self,
        tenant: Tenant,
        id: domain::EnrolmentId,
    ) -> DbResult<Option<domain::sequence::Enrolment>> {
        self.get_enrolment_impl(tenant, id).await
    }

    async fn list_enrolments(
        &self,
        tenant: Tenant,
        lead: LeadId,
    ) -> DbResult<Vec<domain::sequence::Enrolment>> {
        self.list_enrolments_impl(tenant, lead).await
    }

    async fn advance_enrolment(
        &self,
        tenant: Tenant,
        id: domain::EnrolmentId,
        from: i32,
        advance: store::Advance,
        at: Timestamp,
    ) -> DbResult<bool> {
        self.advance_enrolment_impl(tenant, id, from, advance, at)
            .await
    }

    async fn exit_enrolments(
        &self,
        tenant: Tenant,
        ids: &[domain::EnrolmentId],
        reason: &str,
        at: Timestamp,
    ) -> DbResult<u64> {
        self.exit_enrolments_impl(tenant, ids, reason, at).await
    }

    async fn create_source(
        &self,
        tenant: Tenant,
        source: store::NewSource,
    ) -> DbResult<store::SourceRecord> {
        self.create_source_impl(tenant, source).await
    }

    async fn list_sources(&self, tenant: Tenant) -> DbResult<Vec<store::SourceRecord>> {
        self.list_sources_impl(tenant).await
    }

    async fn get_source(
        &self,
        tenant: Tenant,
        id: domain::SourceId,
    ) -> DbResult<Option<store::SourceRecord>> {
        self.get_source_impl(tenant, id).await
    }

    async fn find_source(&self, id: domain::SourceId) -> DbResult<Option<store::SourceRecord>> {
        self.find_source_impl(id).await
    }

    async fn update_source(
        &self,
        tenant: Tenant,
        id: domain::SourceId,
        update: store::SourceUpdate,
        at: Timestamp,
    ) -> DbResult<Option<store::SourceRecord>> {
        self.update_source_impl(tenant, id, update, at).await
    }

    async fn revoke_source(
        &self,
        tenant: Tenant,
        id: domain::SourceId,
        at: Timestamp,
    ) -> DbResult<bool> {
        self.revoke_source_impl(tenant, id, at).await
    }

    async fn create_support_grant(
        &self,
        tenant: Tenant,
        grant: store::NewSupportGrant,
    ) -> DbResult<store::SupportGrant> {
        self.create_support_grant_impl(tenant, grant).await
    }

    async fn list_support_grants(&self, tenant: Tenant) -> DbResult<Vec<store::SupportGrant>> {
        self.list_support_grants_impl(tenant).await
    }

    async fn revoke_support_grant(
        &self,
        tenant: Tenant,
        id: domain::SupportGrantId,
        at: Timestamp,
    ) -> DbResult<bool> {
        self.revoke_support_grant_impl(tenant, id, at).await
    }

    async fn live_support_grant(
        &self,
        tenant: TenantId,
        at: Timestamp,
    ) -> DbResult<Option<store::SupportGrant>> {
        self.live_support_grant_impl(tenant, at).await
    }

    async fn stage_audit(&self, entries: Vec<store::NewAuditEntry>) -> DbResult<()> {
        self.stage_audit_impl(entries).await
    }

    // Staged entries are chained as they are staged on SQLite (`identity::stage_in`): nothing
    // waits to be chained.
    async fn chain_staged_audit(&self, _limit: u32) -> DbResult<u64> {
        Ok(0)
    }

    async fn staged_audit_count(&self) -> DbResult<i64> {
        Ok(0)
    }

    async fn rate_limit_add(
        &self,
        key: &str,
        window_start: Timestamp,
        expires_at: Timestamp,
        n: i64,
    ) -> DbResult<i64> {
        self.rate_limit_add_impl(key, window_start, expires_at, n)
            .await
    }

    async fn purge_rate_limits(&self, before: Timestamp) -> DbResult<u64> {
        self.purge_rate_limits_impl(before).await
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> DbResult<AuditEntry> {
        self.append_audit_impl(entry).await
    }

    async fn list_audit(
        &self,
        chain: AuditChain,
        before_seq: Option<i64>,
        limit: u32,
    ) -> DbResult<Vec<AuditEntry>> {
        self.list_audit_impl(chain, before_seq, limit).await
    }

    async fn audit_chain_page(
        &self,
        chain: AuditChain,
        after_seq: i64,
        limit: u32,
    ) -> DbResult<Vec<AuditEntry>> {
        self.audit_chain_page_impl(chain, after_seq, limit).await
    }

    async fn audit_chains(&self) -> DbResult<Vec<AuditChain>> {
        self.audit_chains_impl().await
    }

    async fn intake(&self, tenant: Tenant, req: IntakeRequest) -> DbResult<IntakeOutcome> {
        // Seal outside the writer: the writer's time is the whole database's time.
        let sealed = codec::seal_lead(&self.cipher, tenant.id(), req.new_lead_id, &req.lead);
        let cipher = self.cipher.clone();
        let links = self.writer.links();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    crate::intake::intake(conn, &cipher, &links, tenant.id(), req, sealed).await
                })
            })
            .await
    }

    async fn get_lead(&self, tenant: Tenant, id: LeadId) -> DbResult<Option<Lead>> {
        sqlx::query_as::<_, LeadRow>(concat!(
            "SELECT ",
            lead_columns!(),
            " FROM leads WHERE tenant_id = ? AND id = ?"
        ))
        .bind(tenant.id().as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(|row| row.open(&self.cipher))
        .transpose()
    }

    async fn find_lead_by_address(
        &self,
        tenant: Tenant,
        address: &Address,
    ) -> DbResult<Option<Lead>> {
        let bidx = address_index(&self.cipher, tenant.id(), address).to_vec();
        let sql = match address {
            Address::Phone(_) => concat!(
                "SELECT ",
                lead_columns!(),
                " FROM leads WHERE tenant_id = ? AND phone_bidx = ?"
            ),
            Address::Email(_) => concat!(
                "SELECT ",
                lead_columns!(),
                " FROM leads WHERE tenant_id = ? AND email_bidx = ?"
            ),
        };
        sqlx::query_as::<_, LeadRow>(sql)
            .bind(tenant.id().as_uuid())
            .bind(bidx)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?
            .map(|row| row.open(&self.cipher))
            .transpose()
    }

    async fn list_leads(&self, tenant: Tenant, query: &LeadQuery) -> DbResult<Vec<Lead>> {
        if let Some(address) = &query.address {
            let lead = self.find_lead_by_address(tenant, address).await?;
            return Ok(lead
                .filter(|l| query.status.is_none_or(|s| l.status == s))
                .filter(|l| query.source.as_ref().is_none_or(|s| &l.source == s))
                .filter(|l| query.before.is_none_or(|b| l.id < b))
                .into_iter()
                .collect());
        }
        sqlx::query_as::<_, LeadRow>(concat!(
            "SELECT ",
            lead_columns!(),
            " FROM leads WHERE tenant_id = ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR source = ?3) \
             AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5"
        ))
        .bind(tenant.id().as_uuid())
        .bind(query.status.map(LeadStatus::as_str))
        .bind(query.source.as_deref())
        .bind(query.before.map(|b| b.as_uuid()))
        .bind(clamp_limit(query.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(|row| row.open(&self.cipher))
        .collect()
    }

    async fn set_lead_status(
        &self,
        tenant: Tenant,
        id: LeadId,
        status: LeadStatus,
        actor: &str,
        at: Timestamp,
    ) -> DbResult<bool> {
        self.set_lead_status_impl(tenant, id, status, actor, at)
            .await
    }

    async fn advance_lead_status(
        &self,
        tenant: Tenant,
        id: LeadId,
        from: LeadStatus,
        to: LeadStatus,
        actor: &str,
        at: Timestamp,
    ) -> DbResult<bool> {
        self.advance_lead_status_impl(tenant, id, from, to, actor, at)
            .await
    }

    async fn set_lead_tags(
        &self,
        tenant: Tenant,
        id: LeadId,
        tags: &domain::Tags,
        at: Timestamp,
    ) -> DbResult<bool> {
        let json = store::codec::tags_json(tags);
        let t = tenant.id().as_uuid();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE leads SET tags = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
                    )
                    .bind(json)
                    .bind(us(at))
                    .bind(t)
                    .bind(id.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    async fn ai_cached(&self, tenant: Tenant, key: &str) -> DbResult<Option<String>> {
        self.ai_cached_impl(tenant, key).await
    }

    async fn record_ai(
        &self,
        tenant: Tenant,
        month: &str,
        generation: store::AiGeneration,
        cache: Option<(String, String)>,
    ) -> DbResult<()> {
        self.record_ai_impl(tenant, month, generation, cache).await
    }

    async fn ai_usage(&self, tenant: Tenant, month: &str) -> DbResult<store::AiUsage> {
        self.ai_usage_impl(tenant, month).await
    }

    async fn list_ai_generations(
        &self,
        tenant: Tenant,
        limit: u32,
    ) -> DbResult<Vec<store::AiGeneration>> {
        self.list_ai_generations_impl(tenant, limit).await
    }

    async fn append_lead_event(
        &self,
        tenant: Tenant,
        event: store::NewLeadEvent,
    ) -> DbResult<domain::timeline::LeadEvent> {
        self.append_lead_event_impl(tenant, event).await
    }

    async fn list_lead_events(
        &self,
        tenant: Tenant,
        lead: LeadId,
        before: Option<Timestamp>,
        limit: u32,
    ) -> DbResult<Vec<domain::timeline::LeadEvent>> {
        self.list_lead_events_impl(tenant, lead, before, limit)
            .await
    }

    async fn record_signal(
        &self,
        tenant: Tenant,
        lead: LeadId,
        signal: domain::engagement::Signal,
        at: Timestamp,
    ) -> DbResult<Option<domain::engagement::Engagement>> {
        self.record_signal_impl(tenant, lead, signal, at).await
    }

    async fn recovery_candidates(
        &self,
        tenant: Tenant,
        query: &store::RecoveryQuery,
    ) -> DbResult<Vec<store::RecoveryCandidate>> {
        self.recovery_candidates_impl(tenant, query).await
    }

    async fn start_recovery(
        &self,
        tenant: Tenant,
        batch: store::RecoveryBatch,
    ) -> DbResult<store::RecoveryDone> {
        self.start_recovery_impl(tenant, batch).await
    }

    async fn book_appointment(
        &self,
        tenant: Tenant,
        new: store::NewAppointment,
    ) -> DbResult<domain::appointment::Appointment> {
        self.book_appointment_impl(tenant, new).await
    }

    async fn change_appointment(
        &self,
        tenant: Tenant,
        id: domain::AppointmentId,
        revision: i32,
        change: store::AppointmentChange,
        actor: &str,
        at: Timestamp,
    ) -> DbResult<Option<domain::appointment::Appointment>> {
        self.change_appointment_impl(tenant, id, revision, change, actor, at)
            .await
    }

    async fn get_appointment(
        &self,
        tenant: Tenant,
        id: domain::AppointmentId,
    ) -> DbResult<Option<domain::appointment::Appointment>> {
        self.get_appointment_impl(tenant, id).await
    }

    async fn list_appointments(
        &self,
        tenant: Tenant,
        lead: LeadId,
    ) -> DbResult<Vec<domain::appointment::Appointment>> {
        self.list_appointments_impl(tenant, lead).await
    }

    async fn append_consent_event(&self, tenant: Tenant, event: NewConsentEvent) -> DbResult<()> {
        let sealed = codec::seal_evidence(&self.cipher, tenant.id(), event.id, &event.evidence);
        let t = tenant.id().as_uuid();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let exists: Option<(Uuid,)> =
                        sqlx::query_as("SELECT id FROM leads WHERE tenant_id = ? AND id = ?")
                            .bind(t)
                            .bind(event.lead_id.as_uuid())
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(db)?;
                    if exists.is_none() {
                        return Err(DbError::NotFound);
                    }
                    insert_consent(
                        conn,
                        t,
                        event.id,
                        event.lead_id,
                        event.kind,
                        &event.source,
                        sealed,
                        event.recorded_at,
                    )
                    .await
                })
            })
            .await
    }

    async fn list_consent_events(
        &self,
        tenant: Tenant,
        lead: LeadId,
    ) -> DbResult<Vec<ConsentEvent>> {
        sqlx::query_as::<_, ConsentRow>(
            "SELECT id, tenant_id, lead_id, kind, source, evidence_ct, recorded_at FROM consent_events \
             WHERE tenant_id = ? AND lead_id = ? ORDER BY recorded_at, id",
        )
        .bind(tenant.id().as_uuid())
        .bind(lead.as_uuid())
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(|row| row.open(&self.cipher))
        .collect()
    }

    async fn begin_outbound(
        &self,
        tenant: Tenant,
        message: NewOutbound,
    ) -> DbResult<BeginOutbound> {
        let sealed = codec::seal_message(
            &self.cipher,
            tenant.id(),
            message.id,
            &message.to,
            message.subject.as_deref(),
            &message.body,
        );
        let cipher = self.cipher.clone();
        let t = tenant.id().as_uuid();
        let guard = message.cap_guard.as_ref().map(|g| {
            let mut indexes: Vec<Vec<u8>> = g
                .addresses
                .iter()
                .map(|a| codec::address_index(&self.cipher, tenant.id(), a).to_vec())
                .collect();
            // Each address once, or its messages would be counted twice.
            indexes.sort();
            indexes.dedup();
            (indexes, g.caps.clone())
        });
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    if let Some(key) = &message.dedupe_key {
                        let existing = sqlx::query_as::<_, MessageRow>(concat!(
                            "SELECT ",
                            message_columns!(),
                            " FROM messages WHERE tenant_id = ? AND dedupe_key = ?"
                        ))
                        .bind(t)
                        .bind(key)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db)?;
                        if let Some(row) = existing {
                            return Ok(BeginOutbound::Existing(row.open(&cipher)?));
                        }
                    }
                    // The single writer serialises this count with every other recording, so
                    // no two messages can both take a cap's last place.
                    if let Some((indexes, caps)) = &guard {
                        for cap in caps {
                            let mut count: i64 = 0;
                            for bidx in indexes {
                                let (n,): (i64,) = sqlx::query_as(
                                    "SELECT COUNT(*) FROM messages WHERE tenant_id = ? AND party_bidx = ? \
                                     AND direction = 'outbound' AND status IN ('sending', 'sent', 'delivered') \
                                     AND created_at > ? AND (? = 0 OR purpose = 'marketing')",
                                )
                                .bind(t)
                                .bind(bidx)
                                .bind(us(cap.since))
                                .bind(cap.marketing_only)
                                .fetch_one(&mut *conn)
                                .await
                                .map_err(db)?;
                                count += n;
                            }
                            if count >= i64::from(cap.limit) {
                                return Ok(BeginOutbound::CapReached);
                            }
                        }
                    }
                    sqlx::query(
                        "INSERT INTO messages (id, tenant_id, lead_id, channel, direction, party_ct, party_bidx, \
                         our_addr, subject_ct, body_ct, purpose, status, error, job_id, dedupe_key, created_at, \
                         updated_at, intake_at) VALUES (?, ?, ?, ?, 'outbound', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(message.id.as_uuid())
                    .bind(t)
                    .bind(message.lead_id.map(|l| l.as_uuid()))
                    .bind(message.channel.as_str())
                    .bind(sealed.party_ct)
                    .bind(sealed.party_bidx)
                    .bind(&message.from)
                    .bind(sealed.subject_ct)
                    .bind(sealed.body_ct)
                    .bind(message.purpose.as_str())
                    .bind(message.status.as_str())
                    .bind(&message.error)
                    .bind(message.job_id.map(|j| j.as_uuid()))
                    .bind(&message.dedupe_key)
                    .bind(us(message.created_at))
                    .bind(us(message.created_at))
                    .bind(message.intake_at.map(us))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(BeginOutbound::Started(domain::Message {
                        id: message.id,
                        tenant_id: TenantId::from_uuid(t),
                        lead_id: message.lead_id,
                        channel: message.channel,
                        direction: domain::Direction::Outbound,
                        to: message.to,
                        from: message.from,
                        subject: message.subject,
                        body: message.body,
                        purpose: Some(message.purpose),
                        status: message.status,
                        error: message.error,
                        provider: None,
                        provider_message_id: None,
                        job_id: message.job_id,
                        created_at: message.created_at,
                        updated_at: message.created_at,
                        intake_at: message.intake_at,
                        provider_called_at: None,
                    }))
                })
            })
            .await
    }

    async fn finish_outbound(
        &self,
        tenant: Tenant,
        id: MessageId,
        result: OutboundResult,
    ) -> DbResult<()> {
        let t = tenant.id().as_uuid();
        let cipher = self.cipher.clone();
        let links = self.writer.links();
        // With an audit entry it writes twice, so it needs its own savepoint.
        let two_writes = result.audit.is_some();
        self.writer
            .write_as(two_writes, move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE messages SET status = CASE WHEN status = 'sending' THEN ?1 ELSE status END, provider = ?2, \
                         provider_message_id = COALESCE(?3, provider_message_id), \
                         error = CASE WHEN status = 'sending' THEN ?4 ELSE error END, provider_called_at = COALESCE(?5, provider_called_at), updated_at = ?6 \
                         WHERE tenant_id = ?7 AND id = ?8",
                    )
                    .bind(result.status.as_str())
                    .bind(&result.provider)
                    .bind(&result.provider_message_id)
                    .bind(&result.error)
                    .bind(result.provider_called_at.map(us))
                    .bind(us(result.at))
                    .bind(t)
                    .bind(id.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    if done.rows_affected() == 0 {
                        return Err(DbError::NotFound);
                    }
                    if let Some(entry) = &result.audit {
                        crate::identity::stage_in(conn, &cipher, &links, entry).await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn record_inbound(&self, tenant: Tenant, message: NewInbound) -> DbResult<Message> {
        let sealed = codec::seal_message(
            &self.cipher,
            tenant.id(),
            message.id,
            &message.from,
            None,
            &message.body,
        );
        let t = tenant.id().as_uuid();
        let record = Message {
            id: message.id,
            tenant_id: tenant.id(),
            lead_id: message.lead_id,
            channel: message.channel,
            direction: domain::Direction::Inbound,
            to: message.to.clone(),
            from: message.from.clone(),
            subject: None,
            body: message.body.clone(),
            purpose: None,
            status: MessageStatus::Received,
            error: None,
            provider: Some(message.provider.clone()),
            provider_message_id: message.provider_message_id.clone(),
            job_id: None,
            created_at: message.received_at,
            updated_at: message.received_at,
            intake_at: None,
            provider_called_at: None,
        };
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO messages (id, tenant_id, lead_id, channel, direction, party_ct, party_bidx, \
                         our_addr, body_ct, status, provider, provider_message_id, created_at, updated_at) \
                         VALUES (?, ?, ?, ?, 'inbound', ?, ?, ?, ?, 'received', ?, ?, ?, ?)",
                    )
                    .bind(message.id.as_uuid())
                    .bind(t)
                    .bind(message.lead_id.map(|l| l.as_uuid()))
                    .bind(message.channel.as_str())
                    .bind(sealed.party_ct)
                    .bind(sealed.party_bidx)
                    .bind(&message.to)
                    .bind(sealed.body_ct)
                    .bind(&message.provider)
                    .bind(&message.provider_message_id)
                    .bind(us(message.received_at))
                    .bind(us(message.received_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            })
            .await?;
        Ok(record)
    }

    async fn find_message_by_provider_id(
        &self,
        tenant: Tenant,
        provider: &str,
        provider_message_id: &str,
    ) -> DbResult<Option<Message>> {
        sqlx::query_as::<_, MessageRow>(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE tenant_id = ? AND provider_message_id = ? AND provider = ? \
             ORDER BY id LIMIT 1"
        ))
        .bind(tenant.id().as_uuid())
        .bind(provider_message_id)
        .bind(provider)
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(|row| row.open(&self.cipher))
        .transpose()
    }

    async fn record_delivery(
        &self,
        tenant: Tenant,
        id: MessageId,
        update: DeliveryUpdate,
    ) -> DbResult<Option<(Message, bool)>> {
        let Some(from) = update.replaces() else {
            return Err(DbError::corrupt(format!(
                "{} is not a delivery status",
                update.status.as_str()
            )));
        };
        let t = tenant.id().as_uuid();
        let sql = format!(
            "UPDATE messages SET status = ?, error = COALESCE(?, error), \
             provider_message_id = COALESCE(provider_message_id, ?), updated_at = ? \
             WHERE tenant_id = ? AND id = ? AND direction = 'outbound' AND status IN {from}"
        );
        let changed = self
            .writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(update.status.as_str())
                        .bind(&update.error)
                        .bind(&update.provider_message_id)
                        .bind(us(update.at))
                        .bind(t)
                        .bind(id.as_uuid())
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await?;
        Ok(self
            .get_message(tenant, id)
            .await?
            .filter(|m| m.direction == domain::Direction::Outbound)
            .map(|m| (m, changed)))
    }

    async fn event_seen(&self, source: SourceId, event_id: &str) -> DbResult<bool> {
        let (seen,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM webhook_events WHERE source_id = ? AND event_id = ?)",
        )
        .bind(source.as_uuid())
        .bind(event_id)
        .fetch_one(&self.read)
        .await
        .map_err(db)?;
        Ok(seen)
    }

    async fn remember_event(
        &self,
        source: SourceId,
        event_id: &str,
        at: Timestamp,
    ) -> DbResult<bool> {
        let event_id = event_id.to_owned();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "INSERT INTO webhook_events (source_id, event_id, received_at) VALUES (?, ?, ?) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(source.as_uuid())
                    .bind(&event_id)
                    .bind(us(at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(done.rows_affected() == 1)
                })
            })
            .await
    }

    async fn purge_events(&self, before: Timestamp) -> DbResult<u64> {
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM webhook_events WHERE received_at < ?")
                        .bind(us(before))
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }

    async fn get_message(&self, tenant: Tenant, id: MessageId) -> DbResult<Option<Message>> {
        sqlx::query_as::<_, MessageRow>(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE tenant_id = ? AND id = ?"
        ))
        .bind(tenant.id().as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(|row| row.open(&self.cipher))
        .transpose()
    }

    async fn list_messages(&self, tenant: Tenant, query: &MessageQuery) -> DbResult<Vec<Message>> {
        // `to` means the recipient: the person for outbound messages, our own address for
        // inbound ones.
        let (to_bidx, to_plain) = match &query.to {
            Some(a) => (
                Some(address_index(&self.cipher, tenant.id(), a).to_vec()),
                Some(a.as_str().to_owned()),
            ),
            None => (None, None),
        };
        sqlx::query_as::<_, MessageRow>(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE tenant_id = ?1 AND (?2 IS NULL OR lead_id = ?2) \
             AND (?3 IS NULL OR direction = ?3) \
             AND (?4 IS NULL OR (direction = 'outbound' AND party_bidx = ?4) OR (direction = 'inbound' AND our_addr = ?5)) \
             AND (?6 IS NULL OR id < ?6) ORDER BY id DESC LIMIT ?7"
        ))
        .bind(tenant.id().as_uuid())
        .bind(query.lead_id.map(|l| l.as_uuid()))
        .bind(query.direction.map(|d| d.as_str()))
        .bind(to_bidx)
        .bind(to_plain)
        .bind(query.before.map(|b| b.as_uuid()))
        .bind(clamp_limit(query.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(|row| row.open(&self.cipher))
        .collect()
    }

    async fn is_suppressed(&self, tenant: Tenant, addresses: &[Address]) -> DbResult<bool> {
        for address in addresses {
            let bidx = address_index(&self.cipher, tenant.id(), address).to_vec();
            let hit: Option<(i64,)> = sqlx::query_as(
                "SELECT 1 FROM suppressions WHERE tenant_id = ? AND bidx = ? AND lifted_at IS NULL",
            )
            .bind(tenant.id().as_uuid())
            .bind(bidx)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
            if hit.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn suppress(
        &self,
        tenant: Tenant,
        entries: Vec<store::NewSuppression>,
        at: Timestamp,
    ) -> DbResult<u64> {
        self.suppress_impl(tenant, entries, at).await
    }

    async fn lift_suppressions(
        &self,
        tenant: Tenant,
        addresses: &[Address],
        reasons: &[&str],
        at: Timestamp,
    ) -> DbResult<u64> {
        self.lift_suppressions_impl(tenant, addresses, reasons, at)
            .await
    }

    async fn list_suppressions(
        &self,
        tenant: Tenant,
        include_lifted: bool,
    ) -> DbResult<Vec<store::SuppressionEntry>> {
        self.list_suppressions_impl(tenant, include_lifted).await
    }

    async fn recipient_facts(
        &self,
        tenant: Tenant,
        addresses: &[Address],
        phone: Option<&domain::Phone>,
        since: Timestamp,
    ) -> DbResult<store::RecipientFacts> {
        self.recipient_facts_impl(tenant, addresses, phone, since)
            .await
    }

    async fn replace_registry(
        &self,
        tenant: Tenant,
        taken_at: Timestamp,
        numbers: Vec<domain::Phone>,
        at: Timestamp,
    ) -> DbResult<store::RegistrySnapshot> {
        self.replace_registry_impl(tenant, taken_at, numbers, at)
            .await
    }

    async fn registry_snapshot(&self, tenant: Tenant) -> DbResult<Option<store::RegistrySnapshot>> {
        self.registry_snapshot_impl(tenant).await
    }

    async fn erase_lead(
        &self,
        tenant: Tenant,
        id: LeadId,
        at: Timestamp,
    ) -> DbResult<Option<store::ErasedLead>> {
        self.erase_lead_impl(tenant, id, at).await
    }

    async fn create_review(&self, tenant: Tenant, review: store::NewReview) -> DbResult<()> {
        self.create_review_impl(tenant, review).await
    }

    async fn list_reviews(
        &self,
        tenant: Tenant,
        state: Option<store::ReviewState>,
    ) -> DbResult<Vec<store::Review>> {
        self.list_reviews_impl(tenant, state).await
    }

    async fn resolve_review(
        &self,
        tenant: Tenant,
        id: uuid::Uuid,
        state: store::ReviewState,
        by: &str,
        at: Timestamp,
    ) -> DbResult<Option<store::Review>> {
        self.resolve_review_impl(tenant, id, state, by, at).await
    }

    async fn enqueue(&self, job: NewJob) -> DbResult<JobId> {
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    if let Some(key) = &job.dedupe_key {
                        let live: Option<(Uuid,)> = sqlx::query_as(
                            "SELECT id FROM jobs WHERE dedupe_key = ? AND state IN ('ready', 'running')",
                        )
                        .bind(key)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db)?;
                        if let Some((id,)) = live {
                            return Ok(JobId::from_uuid(id));
                        }
                    }
                    insert_job(conn, &job).await?;
                    Ok(job.id)
                })
            })
            .await
    }

    async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        wall_now: Timestamp,
        lease: jiff::SignedDuration,
        limit: u32,
    ) -> DbResult<Vec<ClaimedJob>> {
        let worker = worker.to_owned();
        let lease_until = wall_now
            .saturating_add(lease)
            .map_err(|_| DbError::corrupt("lease overflow"))?;
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let rows = sqlx::query_as::<_, JobRow>(concat!(
                        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = ?1, lease_until = ?2, \
                         updated_at = ?3 WHERE id IN (SELECT id FROM (\
                           SELECT id, run_at FROM jobs WHERE state = 'ready' AND run_at <= ?4 \
                           UNION ALL SELECT id, run_at FROM jobs WHERE state = 'running' AND lease_until <= ?3\
                         ) ORDER BY run_at LIMIT ?5) RETURNING ",
                        job_columns!()
                    ))
                    .bind(&worker)
                    .bind(us(lease_until))
                    .bind(us(wall_now))
                    .bind(us(now))
                    .bind(clamp_limit(limit))
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db)?;
                    rows.into_iter()
                        .map(|row| {
                            let job = row.into_record()?;
                            Ok(ClaimedJob { lease: Lease { worker: worker.clone(), attempt: job.attempts }, job })
                        })
                        .collect()
                })
            })
            .await
    }

    async fn complete_job(&self, id: JobId, lease: &Lease, at: Timestamp) -> DbResult<()> {
        let lease = lease.clone();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE jobs SET state = 'done', lease_until = NULL, updated_at = ? \
                         WHERE id = ? AND state = 'running' AND locked_by = ? AND attempts = ?",
                    )
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(&lease.worker)
                    .bind(i64::from(lease.attempt))
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

    async fn fail_job(
        &self,
        id: JobId,
        lease: &Lease,
        error: &str,
        retry_at: Timestamp,
        at: Timestamp,
    ) -> DbResult<JobState> {
        let (lease, error) = (lease.clone(), codec::bounded_error(error));
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let state: Option<(String,)> = sqlx::query_as(
                        "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'ready' END, \
                         run_at = ?, last_error = ?, lease_until = NULL, locked_by = NULL, updated_at = ? \
                         WHERE id = ? AND state = 'running' AND locked_by = ? AND attempts = ? RETURNING state",
                    )
                    .bind(us(retry_at))
                    .bind(&error)
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(&lease.worker)
                    .bind(i64::from(lease.attempt))
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
                    let (state,) = state.ok_or(DbError::NotFound)?;
                    JobState::parse(&state).ok_or_else(|| DbError::corrupt("job state"))
                })
            })
            .await
    }

    async fn dead_letter_job(
        &self,
        id: JobId,
        lease: &Lease,
        error: &str,
        at: Timestamp,
    ) -> DbResult<()> {
        let (lease, error) = (lease.clone(), codec::bounded_error(error));
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE jobs SET state = 'dead', last_error = ?, lease_until = NULL, locked_by = NULL, updated_at = ? \
                         WHERE id = ? AND state = 'running' AND locked_by = ? AND attempts = ?",
                    )
                    .bind(&error)
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(&lease.worker)
                    .bind(i64::from(lease.attempt))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
                })
            })
            .await
    }

    async fn release_job(
        &self,
        id: JobId,
        lease: &Lease,
        run_at: Timestamp,
        at: Timestamp,
    ) -> DbResult<()> {
        let lease = lease.clone();
        self.writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE jobs SET state = 'ready', attempts = attempts - 1, run_at = ?, lease_until = NULL, \
                         locked_by = NULL, updated_at = ? WHERE id = ? AND state = 'running' AND locked_by = ? AND attempts = ?",
                    )
                    .bind(us(run_at))
                    .bind(us(at))
                    .bind(id.as_uuid())
                    .bind(&lease.worker)
                    .bind(i64::from(lease.attempt))
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
                })
            })
            .await
    }

    async fn next_job_due(&self) -> DbResult<Option<Timestamp>> {
        let next: Option<i64> =
            sqlx::query_scalar("SELECT MIN(run_at) FROM jobs WHERE state = 'ready'")
                .fetch_one(&self.read)
                .await
                .map_err(db)?;
        next.map(codec::ts).transpose()
    }

    async fn list_jobs(
        &self,
        tenant: Tenant,
        state: Option<JobState>,
        limit: u32,
    ) -> DbResult<Vec<JobRecord>> {
        sqlx::query_as::<_, JobRow>(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE tenant_id = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY id DESC LIMIT ?3"
        ))
        .bind(tenant.id().as_uuid())
        .bind(state.map(JobState::as_str))
        .bind(clamp_limit(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .into_iter()
        .map(JobRow::into_record)
        .collect()
    }

    async fn get_job(&self, id: JobId) -> DbResult<Option<JobRecord>> {
        sqlx::query_as::<_, JobRow>(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = ?"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(JobRow::into_record)
        .transpose()
    }

    async fn queue_depth(&self) -> DbResult<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE state IN ('ready', 'running')")
                .fetch_one(&self.read)
                .await
                .map_err(db)?;
        Ok(n)
    }
}

pub(crate) async fn insert_job(conn: &mut SqliteConnection, job: &NewJob) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO jobs (id, tenant_id, kind, payload, state, attempts, max_attempts, run_at, dedupe_key, \
         created_at, updated_at) VALUES (?, ?, ?, ?, 'ready', 0, ?, ?, ?, ?, ?)",
    )
    .bind(job.id.as_uuid())
    .bind(job.tenant_id.map(|t| t.as_uuid()))
    .bind(&job.kind)
    .bind(job.payload.to_string())
    .bind(i64::from(job.max_attempts))
    .bind(us(job.run_at))
    .bind(&job.dedupe_key)
    .bind(us(job.run_at))
    .bind(us(job.run_at))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_consent(
    conn: &mut SqliteConnection,
    tenant: Uuid,
    id: ConsentEventId,
    lead: LeadId,
    kind: ConsentKind,
    source: &str,
    sealed: Vec<u8>,
    at: Timestamp,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO consent_events (id, tenant_id, lead_id, kind, source, evidence_ct, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.as_uuid())
    .bind(tenant)
    .bind(lead.as_uuid())
    .bind(kind.as_str())
    .bind(source)
    .bind(sealed)
    .bind(us(at))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}
