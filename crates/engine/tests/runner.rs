//! The runner and dispatch against a scripted provider: retries with backoff, dead letters,
//! reconciliation after a lost answer (never a second text), permanent refusals, wake-ups on
//! enqueue, and shutdown.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use compliance::SendPermit;
use domain::{Clock, LeadStatus, MessageId, MessageStatus, NewLead, Phone, Tenant, Timestamp};
use engine::{Engine, EngineConfig, SandboxClock};
use providers::sandbox::SandboxProvider;
use providers::{OutboundSms, ProviderError, Receipt, SmsProvider};
use store::{AuditContext, JobState, MessageQuery, Store, TenantSettings};
use tokio::sync::Notify;

/// What the scripted provider does with the next send.
#[derive(Debug, Clone)]
enum Step {
    Accept,
    Transient,
    /// Takes the message, then the answer is lost (a timeout, a crash before the record).
    TakeThenLose,
    Refuse {
        suppress: bool,
    },
    /// Waits until `release` is notified, then accepts.
    Hang,
}

#[derive(Debug, Default)]
struct Scripted {
    steps: Mutex<VecDeque<Step>>,
    taken: Mutex<Vec<MessageId>>,
    sent: Notify,
    release: Notify,
}

impl Scripted {
    fn with(steps: &[Step]) -> Arc<Self> {
        Arc::new(Self {
            steps: Mutex::new(steps.iter().cloned().collect()),
            ..Self::default()
        })
    }

    fn taken(&self) -> Vec<MessageId> {
        self.taken.lock().unwrap().clone()
    }
}

#[async_trait]
impl SmsProvider for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn send_sms(
        &self,
        permit: &SendPermit,
        sms: &OutboundSms,
    ) -> Result<Receipt, ProviderError> {
        providers::check_permit(permit, domain::Channel::Sms, &sms.to)?;
        let step = self
            .steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Step::Accept);
        let receipt = Receipt {
            provider_message_id: format!("SM{}", sms.message_id.as_uuid().simple()),
            status: MessageStatus::Sent,
        };
        match step {
            Step::Accept => {
                self.taken.lock().unwrap().push(sms.message_id);
                self.sent.notify_one();
                Ok(receipt)
            }
            Step::Hang => {
                self.release.notified().await;
                self.taken.lock().unwrap().push(sms.message_id);
                Ok(receipt)
            }
            Step::TakeThenLose => {
                self.taken.lock().unwrap().push(sms.message_id);
                Err(ProviderError::Transient {
                    code: "timeout".into(),
                    message: "no answer".into(),
                    retry_after: None,
                })
            }
            Step::Transient => Err(ProviderError::Transient {
                code: "503".into(),
                message: "busy".into(),
                retry_after: Some(Duration::from_secs(30)),
            }),
            Step::Refuse { suppress } => Err(ProviderError::Permanent {
                code: "21610".into(),
                message: "unsubscribed".into(),
                suppress,
            }),
        }
    }

    async fn find_sent(
        &self,
        sms: &OutboundSms,
        _since: Timestamp,
    ) -> Result<Option<Receipt>, ProviderError> {
        let message_id = sms.message_id;
        Ok(self.taken().contains(&message_id).then(|| Receipt {
            provider_message_id: format!("SM{}", message_id.as_uuid().simple()),
            status: MessageStatus::Sent,
        }))
    }
}

struct World {
    engine: Arc<Engine>,
    clock: Arc<SandboxClock>,
    provider: Arc<Scripted>,
    tenant: Tenant,
    _dir: tempfile::TempDir,
}

async fn world(steps: &[Step], config: EngineConfig) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("leadline.db").display());
    let store: Arc<dyn Store> = Arc::new(
        store_sqlite::SqliteStore::open(&url, crypto::Cipher::new(crypto::KeyRing::generate()))
            .await
            .unwrap(),
    );
    let clock = Arc::new(SandboxClock::new());
    clock.set("2026-03-04T18:00:00Z".parse().unwrap());
    let provider = Scripted::with(steps);
    let email = Arc::new(SandboxProvider::new());
    let engine = Engine::new(
        store.clone(),
        clock.clone(),
        provider.clone(),
        email,
        config,
    );
    let org = store
        .create_tenant("Acme", &TenantSettings::default(), clock.now())
        .await
        .unwrap();
    World {
        engine,
        clock,
        provider,
        tenant: Tenant::from_authenticated(org.id),
        _dir: dir,
    }
}

fn lead(phone: &str) -> NewLead {
    NewLead {
        name: Some("Jane".into()),
        phone: Some(Phone::parse(phone, "US").unwrap()),
        email: None,
        source: "test".into(),
        address: None,
        zip: None,
        time_zone: None,
        consent: None,
        details: domain::Details::default(),
        tags: domain::Tags::default(),
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        max_attempts: 3,
        backoff_base: Duration::from_secs(10),
        ..EngineConfig::default()
    }
}

async fn messages(w: &World) -> Vec<domain::Message> {
    w.engine
        .store
        .list_messages(
            w.tenant,
            &MessageQuery {
                limit: 50,
                ..MessageQuery::default()
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn transient_errors_are_retried_after_a_backoff() {
    let w = world(&[Step::Transient], config()).await;
    let out = w
        .engine
        .intake(
            w.tenant,
            lead("3125550142"),
            None,
            AuditContext::system("test"),
        )
        .await
        .unwrap();
    engine::runner::drain(&w.engine).await;
    let jobs = w.engine.store.list_jobs(w.tenant, None, 10).await.unwrap();
    assert_eq!(jobs[0].state, JobState::Ready);
    assert_eq!(jobs[0].attempts, 1);
    let wait = jobs[0].run_at.duration_since(w.clock.now());
    assert!(
        wait >= jiff::SignedDuration::from_secs(29),
        "the provider's Retry-After (30 s) is honoured: {wait}"
    );
    assert_eq!(
        messages(&w).await[0].status,
        MessageStatus::Sending,
        "in flight until we know"
    );
    w.clock.advance(jiff::SignedDuration::from_secs(60));
    engine::runner::drain(&w.engine).await;
    let msgs = messages(&w).await;
    assert_eq!(msgs.len(), 1, "the retry reuses the in-flight record");
    assert_eq!(msgs[0].status, MessageStatus::Sent);
    assert_eq!(w.provider.taken().len(), 1);
    let lead = w
        .engine
        .store
        .get_lead(w.tenant, out.lead.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead.status, LeadStatus::Contacted);
}

#[tokio::test]
async fn a_lost_answer_is_reconciled_never_sent_twice() {
    let w = world(&[Step::TakeThenLose], config()).await;
    w.engine
        .intake(
            w.tenant,
            lead("3125550142"),
            None,
            AuditContext::system("test"),
        )
        .await
        .unwrap();
    engine::runner::drain(&w.engine).await;
    assert_eq!(
        w.provider.taken().len(),
        1,
        "the provider has it, though we were not told"
    );
    w.clock.advance(jiff::SignedDuration::from_hours(1));
    engine::runner::drain(&w.engine).await;
    assert_eq!(
        w.provider.taken().len(),
        1,
        "reconciled with the provider instead of resending"
    );
    let msgs = messages(&w).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].status, MessageStatus::Sent);
    assert!(msgs[0].provider_message_id.is_some());
    let jobs = w.engine.store.list_jobs(w.tenant, None, 10).await.unwrap();
    assert_eq!(jobs[0].state, JobState::Done);
}

#[tokio::test]
async fn exhausted_attempts_dead_letter_and_fail_the_message() {
    let w = world(
        &[Step::Transient, Step::Transient, Step::Transient],
        config(),
    )
    .await;
    w.engine
        .intake(
            w.tenant,
            lead("3125550142"),
            None,
            AuditContext::system("test"),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        engine::runner::drain(&w.engine).await;
        w.clock.advance(jiff::SignedDuration::from_hours(2));
    }
    let dead = w
        .engine
        .store
        .list_jobs(w.tenant, Some(JobState::Dead), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    assert!(
        dead[0].last_error.as_deref().unwrap().contains("503"),
        "{:?}",
        dead[0].last_error
    );
    let msgs = messages(&w).await;
    assert_eq!(msgs[0].status, MessageStatus::Failed);
    assert_eq!(msgs[0].error.as_deref(), Some("gave_up:503"));
    assert!(w.provider.taken().is_empty());
}

#[tokio::test]
async fn a_permanent_refusal_suppresses_and_is_not_retried() {
    let w = world(&[Step::Refuse { suppress: true }], config()).await;
    w.engine
        .intake(
            w.tenant,
            lead("3125550142"),
            None,
            AuditContext::system("test"),
        )
        .await
        .unwrap();
    engine::runner::drain(&w.engine).await;
    let msgs = messages(&w).await;
    assert_eq!(msgs[0].status, MessageStatus::Failed);
    assert_eq!(msgs[0].error.as_deref(), Some("21610"));
    let phone = domain::Address::Phone(Phone::parse("3125550142", "US").unwrap());
    assert!(
        w.engine
            .store
            .is_suppressed(w.tenant, &[phone])
            .await
            .unwrap()
    );
    let jobs = w.engine.store.list_jobs(w.tenant, None, 10).await.unwrap();
    assert_eq!(jobs[0].state, JobState::Done);
}

#[tokio::test]
async fn an_unknown_job_kind_goes_straight_to_the_dead_letters() {
    let w = world(&[], config()).await;
    let job = store::NewJob {
        id: domain::JobId::new(),
        tenant_id: Some(w.tenant.id()),
        kind: "from_the_future".into(),
        payload: serde_json::json!({}),
        run_at: w.clock.now(),
        max_attempts: 8,
        dedupe_key: None,
    };
    w.engine.store.enqueue(job).await.unwrap();
    engine::runner::drain(&w.engine).await;
    let dead = w
        .engine
        .store
        .list_jobs(w.tenant, Some(JobState::Dead), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 1, "no retries for what cannot succeed");
}

#[tokio::test]
async fn the_runner_wakes_on_intake_without_polling() {
    // An idle poll of an hour: only the wake-up on commit can explain a prompt send.
    let w = world(
        &[],
        EngineConfig {
            idle_poll: Duration::from_secs(3600),
            ..config()
        },
    )
    .await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let runner = tokio::spawn(engine::runner::run(
        w.engine.clone(),
        "w1".into(),
        shutdown.clone(),
    ));
    // Let the runner reach its idle wait: it has nothing to claim yet.
    tokio::task::yield_now().await;
    let sent = w.provider.sent.notified();
    w.engine
        .intake(
            w.tenant,
            lead("3125550142"),
            None,
            AuditContext::system("test"),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), sent)
        .await
        .expect("sent promptly after intake");
    shutdown.cancel();
    runner.await.unwrap();
}

#[tokio::test]
async fn shutdown_releases_jobs_still_in_flight() {
    let w = world(
        &[Step::Hang],
        EngineConfig {
            shutdown_grace: Duration::from_millis(200),
            ..config()
        },
    )
    .await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let runner = tokio::spawn(engine::runner::run(
        w.engine.clone(),
        "w1".into(),
        shutdown.clone(),
    ));
    w.engine
        .intake(
            w.tenant,
            lead("3125550142"),
            None,
            AuditContext::system("test"),
        )
        .await
        .unwrap();
    // Wait until the job is running (the provider is hanging on it).
    loop {
        let jobs = w
            .engine
            .store
            .list_jobs(w.tenant, Some(JobState::Running), 10)
            .await
            .unwrap();
        if !jobs.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    shutdown.cancel();
    runner.await.unwrap();
    let jobs = w.engine.store.list_jobs(w.tenant, None, 10).await.unwrap();
    assert_eq!(
        jobs[0].state,
        JobState::Ready,
        "released for another worker at once"
    );
    assert_eq!(jobs[0].attempts, 0, "a release does not spend an attempt");
    // The message stays in flight, so the next worker reconciles before sending.
    assert_eq!(messages(&w).await[0].status, MessageStatus::Sending);
    w.provider.release.notify_one();
    engine::runner::drain(&w.engine).await;
    assert_eq!(w.provider.taken().len(), 1);
}
