//! The durable job runner.
//!
//! One loop per process claims due jobs in batches (as many as it has free slots) and runs each
//! on its own task. It sleeps until the next job is due, or until woken: by an enqueue in this
//! process (`Engine::wake`), by another process (the store's LISTEN/NOTIFY), or by a moved
//! sandbox clock. A fallback wake every `idle_poll` picks up the expired leases of crashed
//! workers. On shutdown it stops claiming, lets jobs in flight finish for `shutdown_grace`, and
//! releases the rest so another worker takes them at once.

use std::sync::Arc;
use std::time::Duration;

use domain::JobId;
use jiff::SignedDuration;
use store::{ClaimedJob, JobState, Lease};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Engine;
use crate::jobs::{self, JobError, Outcome};
use crate::metrics as m;

/// Runs jobs until `shutdown` is cancelled.
pub async fn run(engine: Arc<Engine>, worker_id: String, shutdown: CancellationToken) {
    let wake = engine.wake_handle();
    let waker = wake.clone();
    if let Err(e) = engine
        .store
        .subscribe_job_wakeups(Arc::new(move || waker.notify_one()))
        .await
    {
        tracing::error!(error = %e, "could not subscribe to job wake-ups; relying on polling");
    }
    let slots = Arc::new(Semaphore::new(engine.config.worker_concurrency.max(1)));
    let mut running: JoinSet<()> = JoinSet::new();
    // The leases of jobs running now, to release them if shutdown cuts them short.
    let in_flight = Arc::new(std::sync::Mutex::new(Vec::<(JobId, Lease)>::new()));
    let lease =
        SignedDuration::try_from(engine.config.lease).unwrap_or(SignedDuration::from_secs(60));
    tracing::info!(worker = %worker_id, concurrency = engine.config.worker_concurrency, "job runner started");

    loop {
        // Reap finished tasks so the set does not grow.
        while running.try_join_next().is_some() {}
        if shutdown.is_cancelled() {
            break;
        }
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                _ = running.join_next() => {}
                () = shutdown.cancelled() => break,
            }
            continue;
        }
        let claimed = match engine
            .store
            .claim_jobs(
                &worker_id,
                engine.clock.now(),
                engine.clock.wall_now(),
                lease,
                u32::try_from(free).unwrap_or(u32::MAX),
            )
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::error!(error = %e, "claiming jobs failed");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
        };
        if claimed.is_empty() {
            let sleep = idle_sleep(&engine).await;
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(sleep) => {}
                () = shutdown.cancelled() => break,
            }
            continue;
        }
        for job in claimed {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let engine = engine.clone();
            let registry = in_flight.clone();
            lock(&registry).push((job.job.id, job.lease.clone()));
            running.spawn(async move {
                let id = job.job.id;
                run_one(&engine, job).await;
                lock(&registry).retain(|(j, _)| *j != id);
                drop(permit);
            });
        }
    }

    tracing::info!(worker = %worker_id, jobs = running.len(), "job runner stopping: finishing jobs in flight");
    let grace = engine.config.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        running.abort_all();
        while running.join_next().await.is_some() {}
        let cut_short: Vec<_> = lock(&in_flight).drain(..).collect();
        for (id, lease) in cut_short {
            let now = engine.clock.now();
            match engine.store.release_job(id, &lease, now, now).await {
                Ok(()) => tracing::info!(job = %id, "released a job still in flight at shutdown"),
                Err(e) => {
                    tracing::warn!(job = %id, error = %e, "could not release a job at shutdown; its lease will expire")
                }
            }
        }
    }
    tracing::info!(worker = %worker_id, "job runner stopped");
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs every job that is due now, one at a time, until none is left; returns how many ran.
/// For tests and one-shot tools: deterministic, no waiting on wake-ups.
pub async fn drain(engine: &Engine) -> usize {
    let lease =
        SignedDuration::try_from(engine.config.lease).unwrap_or(SignedDuration::from_secs(60));
    let mut ran = 0;
    loop {
        let claimed = match engine
            .store
            .claim_jobs(
                "drain",
                engine.clock.now(),
                engine.clock.wall_now(),
                lease,
                64,
            )
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::error!(error = %e, "claiming jobs to drain");
                return ran;
            }
        };
        if claimed.is_empty() {
            return ran;
        }
        for job in claimed {
            run_one(engine, job).await;
            ran += 1;
        }
    }
}

/// How long an idle runner may sleep: until the next due job, at most `idle_poll`.
async fn idle_sleep(engine: &Engine) -> Duration {
    let poll = engine.config.idle_poll;
    match engine.store.next_job_due().await {
        Ok(Some(due)) => {
            let wait = due.duration_since(engine.clock.now());
            Duration::try_from(wait).unwrap_or(Duration::ZERO).min(poll)
        }
        Ok(None) => poll,
        Err(e) => {
            tracing::warn!(error = %e, "reading the next due job failed");
            poll
        }
    }
}

/// Runs one claimed job and records its outcome.
#[tracing::instrument(skip_all, fields(job = %claimed.job.id, kind = %claimed.job.kind, attempt = claimed.job.attempts))]
pub async fn run_one(engine: &Engine, claimed: ClaimedJob) {
    let ClaimedJob { job, lease } = claimed;
    let result = jobs::run(engine, &job).await;
    let now = engine.clock.now();
    let recorded = match result {
        Ok(Outcome::Done) => {
            metrics::counter!(m::JOBS, "kind" => job.kind.clone(), "outcome" => "done")
                .increment(1);
            engine.store.complete_job(job.id, &lease, now).await
        }
        Ok(Outcome::Defer(until)) => {
            metrics::counter!(m::JOBS, "kind" => job.kind.clone(), "outcome" => "deferred")
                .increment(1);
            engine.store.release_job(job.id, &lease, until, now).await
        }
        Err(JobError {
            error,
            permanent,
            retry_after,
        }) => {
            let message = format!("{error:#}");
            if permanent {
                tracing::error!(error = %message, "job failed permanently; dead-lettered");
                metrics::counter!(m::JOBS, "kind" => job.kind.clone(), "outcome" => "dead")
                    .increment(1);
                engine
                    .store
                    .dead_letter_job(job.id, &lease, &message, now)
                    .await
            } else {
                let retry_at = now + backoff(engine, job.attempts, retry_after);
                engine
                    .store
                    .fail_job(job.id, &lease, &message, retry_at, now)
                    .await
                    .map(|state| {
                        let label = if state == JobState::Dead {
                            "dead"
                        } else {
                            "retry"
                        };
                        tracing::warn!(error = %message, %retry_at, outcome = label, "job failed");
                        metrics::counter!(m::JOBS, "kind" => job.kind.clone(), "outcome" => label)
                            .increment(1);
                    })
            }
        }
    };
    if let Err(e) = recorded {
        // Most often a lost lease: another worker reclaimed the job, and its result stands.
        tracing::warn!(error = %e, "could not record the job's outcome");
    }
}

/// Exponential backoff with jitter: base * 2^(attempt-1), capped, then a random point in its
/// upper half; never earlier than the cause's own `retry_after`.
pub fn backoff(engine: &Engine, attempt: i32, retry_after: Option<Duration>) -> SignedDuration {
    let base = engine.config.backoff_base.as_millis().max(1);
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let raw = base
        .saturating_mul(1u128 << exp)
        .min(engine.config.backoff_cap.as_millis().max(1));
    let raw = u64::try_from(raw).unwrap_or(u64::MAX);
    let jittered = raw / 2 + fastrand::u64(0..=raw / 2);
    let delay = Duration::from_millis(jittered).max(retry_after.unwrap_or(Duration::ZERO));
    SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX)
}
