//! The engine: everything Leadline does between a lead arriving and a message leaving.
//!
//! - [`intake`]: one transaction per lead (dedupe, seal, consent, enqueue the first response),
//!   then an immediate wake-up of the job runner.
//! - [`runner`]: the durable job runner (leases, retries with backoff and jitter, dead letters,
//!   graceful shutdown).
//! - [`dispatch`]: the only road to a provider: compliance decision, rendering, the in-flight
//!   record, the provider call, the outcome.
//! - [`jobs`]: one file per job kind.
//! - [`inbound`]: replies and keywords (STOP, HELP) coming back in.
//! - [`audit`]: the audit entries of what the engine changes, staged and chained.
//!
//! Error policy: job bodies return [`jobs::JobError`] (an `anyhow` error plus whether retrying
//! can help); everything the web layer calls returns [`EngineError`], whose variants map to
//! HTTP statuses there.

pub mod account;
pub mod appointments;
pub mod assess;
pub mod audit;
pub mod calendar;
pub mod clock;
pub mod dispatch;
pub mod inbound;
pub mod intake;
pub mod integrations;
pub mod jobs;
pub mod metrics;
pub mod receipts;
pub mod recovery;
pub mod runner;
pub mod sequences;
pub mod templates;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use domain::Clock;
use providers::{EmailProvider, SmsProvider};
use store::Store;
use tokio::sync::Notify;

pub use clock::SandboxClock;

/// Tunables of the engine, from configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Jobs run at once by one process.
    pub worker_concurrency: usize,
    /// How long a claimed job stays leased to its worker.
    pub lease: Duration,
    /// Attempts before a job is dead-lettered.
    pub max_attempts: i32,
    /// First retry delay; doubles each attempt up to `backoff_cap`, with jitter.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// The longest an idle runner waits without a wake-up, to pick up leases of crashed workers.
    pub idle_poll: Duration,
    /// How long a stopping runner lets jobs in flight finish before releasing them.
    pub shutdown_grace: Duration,
    /// Where unsubscribe links point and what signs them; without it, marketing emails fail.
    pub links: Option<assess::Links>,
    /// Where the providers' APIs are.
    pub endpoints: integrations::Endpoints,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            worker_concurrency: 128,
            lease: Duration::from_secs(60),
            max_attempts: 8,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(3600),
            idle_poll: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(20),
            links: None,
            endpoints: integrations::Endpoints::default(),
        }
    }
}

/// The engine's parts, shared by the web layer, the runner and the jobs.
#[derive(Debug)]
pub struct Engine {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub sms: Arc<dyn SmsProvider>,
    pub email: Arc<dyn EmailProvider>,
    pub config: EngineConfig,
    wake: Arc<Notify>,
    routes: integrations::Routes,
    enrolling: sequences::EnrolRulesCache,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        sms: Arc<dyn SmsProvider>,
        email: Arc<dyn EmailProvider>,
        config: EngineConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            clock,
            sms,
            email,
            config,
            wake: Arc::new(Notify::new()),
            routes: integrations::Routes::new(),
            enrolling: sequences::EnrolRulesCache::default(),
        })
    }

    /// Tells the runner that work may be due now (a commit that enqueued a job, a moved clock).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

/// Errors of the engine's public operations.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("not found")]
    NotFound,
    #[error("idempotency key was used with a different request")]
    IdempotencyMismatch,
    #[error(transparent)]
    Store(store::DbError),
}

impl From<store::DbError> for EngineError {
    fn from(e: store::DbError) -> Self {
        match e {
            store::DbError::NotFound => EngineError::NotFound,
            store::DbError::IdempotencyMismatch => EngineError::IdempotencyMismatch,
            other => EngineError::Store(other),
        }
    }
}
