//! The storage contract of Leadline.
//!
//! `Store` is what the engine and the web layer use; `store-sqlite` and `store-postgres` implement
//! it. Methods are coarse (one method, one transaction) so that each backend can make a whole
//! operation atomic in its own way, and so that the trait stays object-safe (`Arc<dyn Store>`).
//! Every method on tenant-owned data takes the [`Tenant`] scope first: a row of another tenant is
//! simply not found.
//!
//! Personal data never reaches a backend in clear: both backends seal and open rows through
//! [`codec`], so they share the exact format, and [`conformance`] runs the same scenarios
//! against each of them.

pub mod codec;
pub mod codec_identity;
pub mod compliance;
pub mod conformance;
pub mod error;
pub mod followup;
pub mod identity;
pub mod records;
pub mod sequences;
pub mod sources;

use async_trait::async_trait;
use domain::appointment::Appointment;
use domain::engagement::{Engagement, Signal};
use domain::sequence::{Definition, Enrolment, Sequence};
use domain::timeline::LeadEvent;
use domain::{
    Address, ApiKeyId, AppointmentId, ConsentEvent, Email, EnrolmentId, JobId, Lead, LeadId,
    LeadStatus, Message, MessageId, Phone, Role, SequenceId, SessionId, SourceId, SupportGrantId,
    Tenant, TenantId, Timestamp, UserId,
};

pub use compliance::{
    ErasedLead, NewReview, NewSuppression, RecipientFacts, RegistrySnapshot, Review, ReviewState,
    SuppressionEntry,
};
pub use error::{DbError, DbResult};
pub use followup::{
    AiGeneration, AiUsage, AppointmentChange, NewAppointment, NewLeadEvent, RecoveryBatch,
    RecoveryCandidate, RecoveryDone, RecoveryQuery, RecoveryRun,
};
pub use identity::*;
pub use records::*;
pub use sources::{NewSource, SourceRecord, SourceUpdate};

/// Everything Leadline persists.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Is the database reachable?
    async fn ping(&self) -> DbResult<()>;
    /// Ends the store's connections cleanly, for a process that is stopping. The default does
    /// nothing (connections close with the process).
    async fn close(&self) {}
    /// Have all migrations this binary knows been applied?
    async fn migrations_current(&self) -> DbResult<bool>;

    // ---- organisations -------------------------------------------------------------------

    async fn create_tenant(
        &self,
        name: &str,
        settings: &TenantSettings,
        at: Timestamp,
    ) -> DbResult<TenantRecord>;
    async fn get_tenant(&self, id: TenantId) -> DbResult<Option<TenantRecord>>;
    async fn list_tenants(&self) -> DbResult<Vec<TenantRecord>>;
    async fn update_tenant_settings(
        &self,
        tenant: Tenant,
        settings: &TenantSettings,
    ) -> DbResult<()>;

    // ---- API keys ------------------------------------------------------------------------

    async fn create_api_key(&self, tenant: Tenant, key: NewApiKey) -> DbResult<ApiKeyRecord>;
    /// The pre-authentication lookup: finds a key by its public prefix, whatever its tenant.
    async fn find_api_key_by_prefix(&self, prefix: &str) -> DbResult<Option<ApiKeyRecord>>;
    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> DbResult<()>;
    async fn list_api_keys(&self, tenant: Tenant) -> DbResult<Vec<ApiKeyRecord>>;
    async fn revoke_api_key(&self, tenant: Tenant, id: ApiKeyId, at: Timestamp) -> DbResult<()>;

    /// Suspends (`Some(at)`) or resumes (`None`) an organisation. `NotFound` for an unknown id.
    /// An operator's act: it takes the id, not a tenant scope.
    async fn set_tenant_suspended(&self, id: TenantId, at: Option<Timestamp>) -> DbResult<()>;
    /// Sets (`Some`) or removes (`None`) secrets of the organisation, in one transaction. Each
    /// is sealed on its own, bound to the organisation and its name.
    async fn set_tenant_secrets(
        &self,
        tenant: Tenant,
        changes: &[(String, Option<String>)],
        at: Timestamp,
    ) -> DbResult<()>;
    /// The organisation's secrets, opened, by name.
    async fn get_tenant_secrets(
        &self,
        tenant: Tenant,
    ) -> DbResult<std::collections::BTreeMap<String, String>>;

    // ---- inbound sources -----------------------------------------------------------------

    async fn create_source(&self, tenant: Tenant, source: NewSource) -> DbResult<SourceRecord>;
    /// The organisation's sources, revoked ones included, oldest first.
    async fn list_sources(&self, tenant: Tenant) -> DbResult<Vec<SourceRecord>>;
    async fn get_source(&self, tenant: Tenant, id: SourceId) -> DbResult<Option<SourceRecord>>;
    /// The pre-authentication lookup of a webhook: the source of that id, whatever its
    /// organisation (the request is then checked with the source's secret or rules).
    async fn find_source(&self, id: SourceId) -> DbResult<Option<SourceRecord>>;
    /// Changes a live source; `None` when the organisation has no such live source.
    async fn update_source(
        &self,
        tenant: Tenant,
        id: SourceId,
        update: SourceUpdate,
        at: Timestamp,
    ) -> DbResult<Option<SourceRecord>>;
    /// Revokes a source at once; `false` when the organisation has no such live source.
    async fn revoke_source(&self, tenant: Tenant, id: SourceId, at: Timestamp) -> DbResult<bool>;

    // ---- users and memberships -----------------------------------------------------------

    /// Creates a user. `Conflict` when a user has that email already.
    async fn create_user(&self, user: NewUser) -> DbResult<UserRecord>;
    async fn get_user(&self, id: UserId) -> DbResult<Option<UserRecord>>;
    /// Looks a user up by email (through its blind index).
    async fn find_user_by_email(&self, email: &Email) -> DbResult<Option<UserRecord>>;
    /// Replaces a user's password and ends every session of theirs except `keep`, in one
    /// transaction. `NotFound` for an unknown user.
    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        must_change: bool,
        keep: Option<SessionId>,
        at: Timestamp,
    ) -> DbResult<()>;
    /// Makes `user` a member of the organisation. `Conflict` when they are one already.
    async fn add_membership(
        &self,
        tenant: Tenant,
        user: UserId,
        role: Role,
        at: Timestamp,
    ) -> DbResult<Membership>;
    async fn get_membership(&self, tenant: Tenant, user: UserId) -> DbResult<Option<Membership>>;
    /// Every organisation the user belongs to, oldest membership first.
    async fn list_memberships(&self, user: UserId) -> DbResult<Vec<Membership>>;

    // ---- sessions ------------------------------------------------------------------------

    /// Starts a session with its first refresh token.
    async fn create_session(&self, first: NewRefreshToken) -> DbResult<SessionRecord>;
    /// Presents a refresh token (by hash): if it is the session's live one, it is used up and
    /// `next` (same session) replaces it; if it was used before or its session revoked, the
    /// session is revoked as a whole. One transaction: of two concurrent presentations of one
    /// token, exactly one rotates.
    async fn refresh_session(
        &self,
        presented_hash: &[u8],
        next: NewRefreshToken,
        at: Timestamp,
    ) -> DbResult<RefreshOutcome>;
    /// The session, if it is live (not revoked, not expired) at `at`.
    async fn get_live_session(
        &self,
        id: SessionId,
        at: Timestamp,
    ) -> DbResult<Option<SessionRecord>>;
    /// The user's live sessions in one organisation (`None`: an operator's platform sessions),
    /// newest first.
    async fn list_sessions(
        &self,
        user: UserId,
        tenant: Option<Tenant>,
        at: Timestamp,
    ) -> DbResult<Vec<SessionRecord>>;
    /// Revokes one session of `user`; `false` when they have no such live session.
    async fn revoke_session(&self, user: UserId, id: SessionId, at: Timestamp) -> DbResult<bool>;

    // ---- support grants ------------------------------------------------------------------

    /// Lets platform operators into the organisation until `grant.expires_at`.
    async fn create_support_grant(
        &self,
        tenant: Tenant,
        grant: NewSupportGrant,
    ) -> DbResult<SupportGrant>;
    /// The organisation's grants, live and past, newest first.
    async fn list_support_grants(&self, tenant: Tenant) -> DbResult<Vec<SupportGrant>>;
    /// Ends a grant now; `false` when the organisation has no such live grant.
    async fn revoke_support_grant(
        &self,
        tenant: Tenant,
        id: SupportGrantId,
        at: Timestamp,
    ) -> DbResult<bool>;
    /// The organisation's live grant giving the strongest role at `at` (the platform side's
    /// question: may an operator act in this organisation now, and as what?).
    async fn live_support_grant(
        &self,
        tenant: TenantId,
        at: Timestamp,
    ) -> DbResult<Option<SupportGrant>>;

    // ---- one-time tokens -----------------------------------------------------------------

    async fn create_one_time_token(&self, token: NewOneTimeToken) -> DbResult<()>;
    /// The token of that hash and kind if it is unused and unexpired at `at`, without using it.
    async fn find_one_time_token(
        &self,
        hash: &[u8],
        kind: OneTimeKind,
        at: Timestamp,
    ) -> DbResult<Option<OneTimeToken>>;
    /// Uses the token up, if it is unused and unexpired at `at`: one statement, so of two
    /// concurrent redemptions exactly one gets it.
    async fn redeem_one_time_token(
        &self,
        hash: &[u8],
        kind: OneTimeKind,
        at: Timestamp,
    ) -> DbResult<Option<OneTimeToken>>;

    // ---- rate limits ---------------------------------------------------------------------

    /// Adds `n` (0 to only read) to the counter `key` of the window starting at `window_start`
    /// and returns its new value. Windows expire at `expires_at`; expired windows of the same
    /// key are removed on the way. Shared by every process on the database.
    async fn rate_limit_add(
        &self,
        key: &str,
        window_start: Timestamp,
        expires_at: Timestamp,
        n: i64,
    ) -> DbResult<i64>;

    /// Removes rate-limit windows that ended before `before`; returns how many.
    async fn purge_rate_limits(&self, before: Timestamp) -> DbResult<u64>;

    // ---- audit log -----------------------------------------------------------------------

    /// Appends an entry to its chain (the organisation's, or the platform's), linking it to the
    /// chain's last entry by hash. Entries cannot be changed or removed afterwards.
    async fn append_audit(&self, entry: NewAuditEntry) -> DbResult<AuditEntry>;
    /// Stages entries for the audit log without waiting for their chain: they are appended, in
    /// order, by the next [`Store::chain_staged_audit`] at the latest. For changes made at a rate
    /// that must not queue on one chain (intake, messages, replies, opt-outs). A backend whose
    /// writes are serialised anyway (SQLite's one writer) appends them at once.
    async fn stage_audit(&self, entries: Vec<NewAuditEntry>) -> DbResult<()>;
    /// Appends up to `limit` staged entries, oldest first, to their chains, and returns how many.
    /// Safe to run in several processes at once (one chains while the others find nothing to
    /// do).
    async fn chain_staged_audit(&self, limit: u32) -> DbResult<u64>;
    /// How many entries are staged and not yet chained.
    async fn staged_audit_count(&self) -> DbResult<i64>;
    /// Entries of one chain, newest first, before `before_seq` when given.
    async fn list_audit(
        &self,
        chain: AuditChain,
        before_seq: Option<i64>,
        limit: u32,
    ) -> DbResult<Vec<AuditEntry>>;
    /// Entries of one chain, oldest first, after `after_seq` (0 for the start): for
    /// verification.
    async fn audit_chain_page(
        &self,
        chain: AuditChain,
        after_seq: i64,
        limit: u32,
    ) -> DbResult<Vec<AuditEntry>>;
    /// Every chain that has entries.
    async fn audit_chains(&self) -> DbResult<Vec<AuditChain>>;

    // ---- leads ---------------------------------------------------------------------------

    /// The intake transaction: honour the idempotency claim, dedupe by blind index (a match on
    /// phone or email records a touch and fills in fields the lead lacked), insert a new lead
    /// with its PII sealed, append the consent evidence, enqueue `jobs_if_created` for a new
    /// lead. All or nothing, durable before it returns.
    async fn intake(&self, tenant: Tenant, req: IntakeRequest) -> DbResult<IntakeOutcome>;
    async fn get_lead(&self, tenant: Tenant, id: LeadId) -> DbResult<Option<Lead>>;
    async fn find_lead_by_address(
        &self,
        tenant: Tenant,
        address: &Address,
    ) -> DbResult<Option<Lead>>;
    async fn list_leads(&self, tenant: Tenant, query: &LeadQuery) -> DbResult<Vec<Lead>>;
    /// Moves a lead's status, with its timeline entry when it changes (by `actor`); returns
    /// false when the lead does not exist in this tenant.
    async fn set_lead_status(
        &self,
        tenant: Tenant,
        id: LeadId,
        status: LeadStatus,
        actor: &str,
        at: Timestamp,
    ) -> DbResult<bool>;
    /// Moves the status only when the lead is currently in `from` (e.g. new -> contacted), with
    /// its timeline entry, in one statement.
    async fn advance_lead_status(
        &self,
        tenant: Tenant,
        id: LeadId,
        from: LeadStatus,
        to: LeadStatus,
        actor: &str,
        at: Timestamp,
    ) -> DbResult<bool>;
    /// Replaces a lead's tags; false when the organisation has no such lead.
    async fn set_lead_tags(
        &self,
        tenant: Tenant,
        id: LeadId,
        tags: &domain::Tags,
        at: Timestamp,
    ) -> DbResult<bool>;
    /// Erases a lead (a privacy request), in one transaction: every address of theirs goes on the
    /// suppression list as a blind index only (reason `erased`, or the entry's own reason kept,
    /// its sealed address dropped), so they are never contacted again; their messages, touches
    /// and idempotency keys are deleted, then the lead itself. Their consent events stay: the
    /// evidence is kept five years (16 CFR 310.5). `None` when the organisation has no such lead.
    async fn erase_lead(
        &self,
        tenant: Tenant,
        id: LeadId,
        at: Timestamp,
    ) -> DbResult<Option<ErasedLead>>;
    async fn append_consent_event(&self, tenant: Tenant, event: NewConsentEvent) -> DbResult<()>;
    async fn list_consent_events(
        &self,
        tenant: Tenant,
        lead: LeadId,
    ) -> DbResult<Vec<ConsentEvent>>;

    // ---- messages ------------------------------------------------------------------------

    /// Records an outbound message before the provider is called ("in flight"), or a message
    /// that compliance blocked. A message with the same dedupe key is returned instead.
    async fn begin_outbound(&self, tenant: Tenant, message: NewOutbound)
    -> DbResult<BeginOutbound>;
    /// Records what the provider said about an in-flight message. The provider's id and call
    /// time are always kept; the status only replaces `sending` (a delivery receipt that came
    /// first is not overwritten).
    async fn finish_outbound(
        &self,
        tenant: Tenant,
        id: MessageId,
        result: OutboundResult,
    ) -> DbResult<()>;
    /// Records an inbound message. One the provider delivered before (same provider and
    /// provider message id) is not recorded again: `Conflict`.
    async fn record_inbound(&self, tenant: Tenant, message: NewInbound) -> DbResult<Message>;
    /// A message by the provider's id of it.
    async fn find_message_by_provider_id(
        &self,
        tenant: Tenant,
        provider: &str,
        provider_message_id: &str,
    ) -> DbResult<Option<Message>>;
    /// Moves an outbound message's delivery status forward (`sending` -> `sent` -> a final
    /// status; a final status is never replaced, a late `sent` never moves it back). Returns the
    /// message as it now is, and whether this update changed it; `None` if there is no such
    /// outbound message.
    async fn record_delivery(
        &self,
        tenant: Tenant,
        id: MessageId,
        update: DeliveryUpdate,
    ) -> DbResult<Option<(Message, bool)>>;
    async fn get_message(&self, tenant: Tenant, id: MessageId) -> DbResult<Option<Message>>;
    async fn list_messages(&self, tenant: Tenant, query: &MessageQuery) -> DbResult<Vec<Message>>;

    // ---- webhook replay defence ----------------------------------------------------------

    /// Has a source's event id been remembered? Hooks ask before the work and remember after
    /// it, so a delivery whose work failed is taken again when the provider retries it.
    async fn event_seen(&self, source: SourceId, event_id: &str) -> DbResult<bool>;
    /// Remembers that a source delivered an event id; `false` if it was remembered before.
    async fn remember_event(
        &self,
        source: SourceId,
        event_id: &str,
        at: Timestamp,
    ) -> DbResult<bool>;
    /// Forgets event ids received before `before`; returns how many.
    async fn purge_events(&self, before: Timestamp) -> DbResult<u64>;

    // ---- suppression ---------------------------------------------------------------------

    /// Is any of these addresses on the organisation's suppression list (and not lifted)?
    async fn is_suppressed(&self, tenant: Tenant, addresses: &[Address]) -> DbResult<bool>;
    /// Adds entries to the suppression list, their addresses sealed, in one transaction. A live
    /// entry keeps its first reason and time; a lifted one is suppressed again with the new
    /// reason. Entries are never deleted. Returns how many were added or renewed.
    async fn suppress(
        &self,
        tenant: Tenant,
        entries: Vec<NewSuppression>,
        at: Timestamp,
    ) -> DbResult<u64>;
    /// Lifts the live entries of these addresses whose reason is one of `reasons` (the entries
    /// are kept, marked lifted). Returns how many.
    async fn lift_suppressions(
        &self,
        tenant: Tenant,
        addresses: &[Address],
        reasons: &[&str],
        at: Timestamp,
    ) -> DbResult<u64>;
    /// The suppression list, oldest first; lifted entries too when `include_lifted`.
    async fn list_suppressions(
        &self,
        tenant: Tenant,
        include_lifted: bool,
    ) -> DbResult<Vec<SuppressionEntry>>;
    /// Everything a send decision needs from the store about a person reachable at `addresses`
    /// (one read): a live suppression, the registry snapshot and whether it lists `phone`, and
    /// the outbound messages to them created after `since`.
    async fn recipient_facts(
        &self,
        tenant: Tenant,
        addresses: &[Address],
        phone: Option<&Phone>,
        since: Timestamp,
    ) -> DbResult<RecipientFacts>;

    // ---- national do-not-call registry ---------------------------------------------------

    /// Replaces the organisation's registry snapshot with these numbers, in one transaction.
    async fn replace_registry(
        &self,
        tenant: Tenant,
        taken_at: Timestamp,
        numbers: Vec<Phone>,
        at: Timestamp,
    ) -> DbResult<RegistrySnapshot>;
    async fn registry_snapshot(&self, tenant: Tenant) -> DbResult<Option<RegistrySnapshot>>;

    // ---- review queue --------------------------------------------------------------------

    async fn create_review(&self, tenant: Tenant, review: NewReview) -> DbResult<()>;
    /// The organisation's reviews, newest first, in one state or all.
    async fn list_reviews(
        &self,
        tenant: Tenant,
        state: Option<ReviewState>,
    ) -> DbResult<Vec<Review>>;
    /// Resolves an open review; `None` when the organisation has no such open review.
    async fn resolve_review(
        &self,
        tenant: Tenant,
        id: uuid::Uuid,
        state: ReviewState,
        by: &str,
        at: Timestamp,
    ) -> DbResult<Option<Review>>;

    // ---- sequences -----------------------------------------------------------------------

    /// Creates a sequence at version 1.
    async fn create_sequence(&self, tenant: Tenant, sequence: NewSequence) -> DbResult<Sequence>;
    /// Saves a new version (name and definition); runs already started keep theirs. `None`
    /// when the organisation has no such sequence, or it is archived.
    async fn update_sequence(
        &self,
        tenant: Tenant,
        id: SequenceId,
        name: String,
        definition: Definition,
        at: Timestamp,
    ) -> DbResult<Option<Sequence>>;
    /// A sequence at `version`, or at its latest.
    async fn get_sequence(
        &self,
        tenant: Tenant,
        id: SequenceId,
        version: Option<i32>,
    ) -> DbResult<Option<Sequence>>;
    /// The organisation's sequences at their latest versions, archived ones included.
    async fn list_sequences(&self, tenant: Tenant) -> DbResult<Vec<Sequence>>;
    /// No new runs from now on; running ones finish. False when there is no such live one.
    async fn archive_sequence(
        &self,
        tenant: Tenant,
        id: SequenceId,
        at: Timestamp,
    ) -> DbResult<bool>;

    // ---- enrolments ----------------------------------------------------------------------

    /// Starts a lead's run with the job of its first step, in one transaction. `Conflict` when
    /// the lead is running this sequence already.
    async fn enrol(
        &self,
        tenant: Tenant,
        enrolment: NewEnrolment,
        first_step: NewJob,
    ) -> DbResult<Enrolment>;
    async fn get_enrolment(&self, tenant: Tenant, id: EnrolmentId) -> DbResult<Option<Enrolment>>;
    /// A lead's runs, newest first.
    async fn list_enrolments(&self, tenant: Tenant, lead: LeadId) -> DbResult<Vec<Enrolment>>;
    /// Moves an active run on from step `from`: to the next step with its job, or to its end,
    /// in one transaction. False when the run is not active at `from` (it was exited, or moved
    /// on by another worker): then nothing is written.
    async fn advance_enrolment(
        &self,
        tenant: Tenant,
        id: EnrolmentId,
        from: i32,
        advance: Advance,
        at: Timestamp,
    ) -> DbResult<bool>;
    /// Ends those of these runs that are still active, with `reason`. Returns how many.
    async fn exit_enrolments(
        &self,
        tenant: Tenant,
        ids: &[EnrolmentId],
        reason: &str,
        at: Timestamp,
    ) -> DbResult<u64>;

    // ---- timeline ------------------------------------------------------------------------

    /// Appends an entry to a lead's timeline (a note, an appointment's change, a run started).
    /// `NotFound` when the organisation has no such lead.
    async fn append_lead_event(&self, tenant: Tenant, event: NewLeadEvent) -> DbResult<LeadEvent>;
    /// A lead's timeline entries, newest first, before `before` when given.
    async fn list_lead_events(
        &self,
        tenant: Tenant,
        lead: LeadId,
        before: Option<Timestamp>,
        limit: u32,
    ) -> DbResult<Vec<LeadEvent>>;

    // ---- engagement and recovery ---------------------------------------------------------

    /// Adds `signal` to the lead's engagement, in one row update; a reply also restarts the
    /// lead's quiet time (bringing a retired lead back into recovery). `None` when the
    /// organisation has no such lead.
    async fn record_signal(
        &self,
        tenant: Tenant,
        lead: LeadId,
        signal: Signal,
        at: Timestamp,
    ) -> DbResult<Option<Engagement>>;
    /// The leads a recovery rule is after, longest quiet first, read through the recovery
    /// index (never every lead of the organisation).
    async fn recovery_candidates(
        &self,
        tenant: Tenant,
        query: &RecoveryQuery,
    ) -> DbResult<Vec<RecoveryCandidate>>;
    /// Starts a batch of recovery runs and retires leads out of the window, in one
    /// transaction. A lead running the sequence already is skipped: it keeps its attempts, and
    /// its quiet time restarts so that the next scans pass it by while it runs.
    async fn start_recovery(&self, tenant: Tenant, batch: RecoveryBatch) -> DbResult<RecoveryDone>;

    // ---- appointments --------------------------------------------------------------------

    /// Books an appointment with its reminders, in one transaction: the lead moves to `booked`
    /// (unless won or opted out) and both changes go on its timeline. `NotFound` when the
    /// organisation has no such lead.
    async fn book_appointment(&self, tenant: Tenant, new: NewAppointment) -> DbResult<Appointment>;
    /// Reschedules or cancels a scheduled appointment at `revision`, with its timeline entry.
    /// `None` when the organisation has no such scheduled appointment at that revision (it was
    /// changed meanwhile, or cancelled).
    async fn change_appointment(
        &self,
        tenant: Tenant,
        id: AppointmentId,
        revision: i32,
        change: AppointmentChange,
        actor: &str,
        at: Timestamp,
    ) -> DbResult<Option<Appointment>>;
    async fn get_appointment(
        &self,
        tenant: Tenant,
        id: AppointmentId,
    ) -> DbResult<Option<Appointment>>;
    /// A lead's appointments, soonest first.
    async fn list_appointments(&self, tenant: Tenant, lead: LeadId) -> DbResult<Vec<Appointment>>;

    // ---- AI writer -----------------------------------------------------------------------

    /// A draft the AI writer made before for this context key.
    async fn ai_cached(&self, tenant: Tenant, key: &str) -> DbResult<Option<String>>;
    /// Records a generation, adds its tokens and cost to its month (`2026-11`), and caches
    /// `cache` (key, draft) when given, in one transaction.
    async fn record_ai(
        &self,
        tenant: Tenant,
        month: &str,
        generation: AiGeneration,
        cache: Option<(String, String)>,
    ) -> DbResult<()>;
    async fn ai_usage(&self, tenant: Tenant, month: &str) -> DbResult<AiUsage>;
    /// The latest generations, newest first.
    async fn list_ai_generations(&self, tenant: Tenant, limit: u32) -> DbResult<Vec<AiGeneration>>;

    // ---- jobs ----------------------------------------------------------------------------

    /// Enqueues a job; with a dedupe key that a live job already holds, returns that job's id.
    async fn enqueue(&self, job: NewJob) -> DbResult<JobId>;
    /// Claims up to `limit` jobs that are due (`run_at <= now`) or whose lease expired
    /// (`lease_until <= wall_now`), leasing them until `wall_now + lease`.
    async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        wall_now: Timestamp,
        lease: jiff::SignedDuration,
        limit: u32,
    ) -> DbResult<Vec<ClaimedJob>>;
    async fn complete_job(&self, id: JobId, lease: &Lease, at: Timestamp) -> DbResult<()>;
    /// A failed attempt: retried at `retry_at`, or dead-lettered when attempts are spent.
    /// Returns the new state.
    async fn fail_job(
        &self,
        id: JobId,
        lease: &Lease,
        error: &str,
        retry_at: Timestamp,
        at: Timestamp,
    ) -> DbResult<JobState>;
    /// Dead-letters a job at once: its error is one that retrying cannot cure.
    async fn dead_letter_job(
        &self,
        id: JobId,
        lease: &Lease,
        error: &str,
        at: Timestamp,
    ) -> DbResult<()>;
    /// Puts a job back to wait until `run_at` without spending an attempt (a compliance defer,
    /// or a worker shutting down).
    async fn release_job(
        &self,
        id: JobId,
        lease: &Lease,
        run_at: Timestamp,
        at: Timestamp,
    ) -> DbResult<()>;
    /// The earliest `run_at` of a ready job, for the scheduler's sleep.
    async fn next_job_due(&self) -> DbResult<Option<Timestamp>>;
    async fn list_jobs(
        &self,
        tenant: Tenant,
        state: Option<JobState>,
        limit: u32,
    ) -> DbResult<Vec<JobRecord>>;
    async fn get_job(&self, id: JobId) -> DbResult<Option<JobRecord>>;
    /// Jobs ready or running, for the queue-depth gauge.
    async fn queue_depth(&self) -> DbResult<i64>;

    /// Calls `wake` whenever any process commits a new job, so that idle workers everywhere
    /// start at once (PostgreSQL: LISTEN/NOTIFY). Wake-ups within one process are the engine's
    /// own; a backend that serves a single process keeps this default.
    async fn subscribe_job_wakeups(&self, wake: JobWaker) -> DbResult<()> {
        let _unused = wake;
        Ok(())
    }
}

/// A callback for [`Store::subscribe_job_wakeups`].
pub type JobWaker = std::sync::Arc<dyn Fn() + Send + Sync>;
