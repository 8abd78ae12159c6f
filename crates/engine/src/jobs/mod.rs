//! Job kinds. One file per kind; each is a serde payload with a `NAME` and a `run`.

mod appointment_reminder;
mod first_response;
mod keyword_reply;
mod manual_message;
mod meta_lead;
mod recovery_scan;
mod sequence_step;

use std::time::Duration;

use async_trait::async_trait;
use domain::{JobId, Tenant, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::{JobRecord, NewJob};

use crate::Engine;

pub use appointment_reminder::AppointmentReminder;
pub use first_response::FirstResponse;
pub use keyword_reply::{KeywordReply, ReplyKind};
pub use manual_message::ManualMessage;
pub use meta_lead::{MetaLead, map_lead};
pub use recovery_scan::RecoveryScan;
pub use sequence_step::SequenceStep;

/// What a job's run asks of the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Not now: run again at this instant without spending an attempt (a compliance defer).
    Defer(Timestamp),
}

/// A failed run.
#[derive(Debug)]
pub struct JobError {
    pub error: anyhow::Error,
    /// Retrying cannot help: dead-letter now.
    pub permanent: bool,
    /// The earliest retry the cause asked for (a provider's `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl JobError {
    pub fn transient(error: impl Into<anyhow::Error>) -> Self {
        Self {
            error: error.into(),
            permanent: false,
            retry_after: None,
        }
    }

    pub fn permanent(error: impl Into<anyhow::Error>) -> Self {
        Self {
            error: error.into(),
            permanent: true,
            retry_after: None,
        }
    }
}

impl From<store::DbError> for JobError {
    fn from(e: store::DbError) -> Self {
        let permanent = matches!(e, store::DbError::Corrupt(_) | store::DbError::Crypto(_));
        Self {
            error: anyhow::Error::new(e).context("store"),
            permanent,
            retry_after: None,
        }
    }
}

/// What a running job knows about itself.
#[derive(Debug, Clone)]
pub struct JobInfo {
    pub id: JobId,
    pub tenant: Option<Tenant>,
    pub attempt: i32,
    pub max_attempts: i32,
}

impl JobInfo {
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// A kind of job.
#[async_trait]
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    const NAME: &'static str;

    async fn run(self, engine: &Engine, info: &JobInfo) -> Result<Outcome, JobError>;

    /// This payload as a job to enqueue.
    fn new_job(&self, tenant: Option<Tenant>, run_at: Timestamp, max_attempts: i32) -> NewJob {
        NewJob {
            id: JobId::new(),
            tenant_id: tenant.map(|t| t.id()),
            kind: Self::NAME.to_owned(),
            payload: serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
            run_at,
            max_attempts,
            dedupe_key: None,
        }
    }
}

/// Runs a claimed job of any known kind.
pub(crate) async fn run(engine: &Engine, job: &JobRecord) -> Result<Outcome, JobError> {
    let info = JobInfo {
        id: job.id,
        tenant: job.tenant_id.map(Tenant::from_authenticated),
        attempt: job.attempts,
        max_attempts: job.max_attempts,
    };
    match job.kind.as_str() {
        FirstResponse::NAME => run_kind::<FirstResponse>(engine, job, &info).await,
        KeywordReply::NAME => run_kind::<KeywordReply>(engine, job, &info).await,
        MetaLead::NAME => run_kind::<MetaLead>(engine, job, &info).await,
        SequenceStep::NAME => run_kind::<SequenceStep>(engine, job, &info).await,
        RecoveryScan::NAME => run_kind::<RecoveryScan>(engine, job, &info).await,
        AppointmentReminder::NAME => run_kind::<AppointmentReminder>(engine, job, &info).await,
        ManualMessage::NAME => run_kind::<ManualMessage>(engine, job, &info).await,
        other => Err(JobError::permanent(anyhow::anyhow!(
            "unknown job kind {other:?}"
        ))),
    }
}

async fn run_kind<J: Job>(
    engine: &Engine,
    job: &JobRecord,
    info: &JobInfo,
) -> Result<Outcome, JobError> {
    let payload: J = serde_json::from_value(job.payload.clone()).map_err(|e| {
        JobError::permanent(anyhow::Error::new(e).context(format!("payload of {}", J::NAME)))
    })?;
    payload.run(engine, info).await
}
