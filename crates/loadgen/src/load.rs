//! Posting leads: a closed loop of C workers, or a fixed arrival rate with at most C in flight.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// A request that starts this much later than its slot counts as late: the load generator could
/// not keep the rate.
const LATE: Duration = Duration::from_millis(10);
/// How many error answers are kept, as examples.
const ERROR_SAMPLES: usize = 5;

/// How leads arrive.
#[derive(Debug, Clone, Copy)]
pub enum Arrival {
    /// `concurrency` workers, each posting its next lead as soon as the last was answered.
    Closed { concurrency: usize },
    /// One lead every `1/rate` seconds, whatever the answers; at most `concurrency` in flight.
    Rate { per_second: f64, concurrency: usize },
}

/// Where and as whom to post.
#[derive(Clone)]
pub struct Target {
    pub client: reqwest::Client,
    pub base_url: String,
    pub api_key: String,
}

/// The lead with index `i`'s phone: `+1 415 NXX XXXX`, distinct for every `i` below
/// [`MAX_LEADS`]. Exchanges 555 and N11 are skipped (fictional and service codes).
pub fn phone(i: u64) -> String {
    let exchange = EXCHANGES[(i / 10_000) as usize % EXCHANGES.len()];
    format!("+1 415 {exchange} {:04}", i % 10_000)
}

const EXCHANGES: [u16; 791] = exchanges();

/// How many distinct phones [`phone`] gives.
pub const MAX_LEADS: u64 = EXCHANGES.len() as u64 * 10_000;

const fn exchanges() -> [u16; 791] {
    let mut out = [0u16; 791];
    let mut n = 0;
    let mut nxx = 200u16;
    while nxx < 1000 {
        if nxx % 100 != 11 && nxx != 555 {
            out[n] = nxx;
            n += 1;
        }
        nxx += 1;
    }
    out
}

/// The outcome of one POST.
enum Answer {
    Created,
    Status(u16, String),
    Transport(String),
}

/// What the posting phase saw.
#[derive(Debug, Default)]
pub struct Posting {
    pub elapsed: Duration,
    pub created: u64,
    /// Answers other than 201, by status.
    pub other_statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub error_samples: Vec<String>,
    /// Client-side time from sending the POST to its answer, in ms, for every request.
    pub answer_ms: Vec<f64>,
    /// Rate mode only: requests that started more than [`LATE`] after their slot.
    pub late_starts: u64,
}

impl Posting {
    pub fn errors(&self) -> u64 {
        self.other_statuses.values().sum::<u64>() + self.transport_errors
    }

    fn record(&mut self, answer: Answer, took: Duration) {
        self.answer_ms.push(took.as_secs_f64() * 1000.0);
        match answer {
            Answer::Created => self.created += 1,
            Answer::Status(status, body) => {
                *self.other_statuses.entry(status).or_default() += 1;
                self.sample(format!("{status}: {body}"));
            }
            Answer::Transport(e) => {
                self.transport_errors += 1;
                self.sample(e);
            }
        }
    }

    fn sample(&mut self, error: String) {
        if self.error_samples.len() < ERROR_SAMPLES {
            self.error_samples.push(error);
        }
    }

    fn merge(&mut self, other: Posting) {
        self.created += other.created;
        for (status, n) in other.other_statuses {
            *self.other_statuses.entry(status).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        for e in other.error_samples {
            self.sample(e);
        }
        self.answer_ms.extend(other.answer_ms);
        self.late_starts += other.late_starts;
    }
}

/// Posts leads `0..count` to `target`.
pub async fn post_leads(target: &Target, count: u64, arrival: Arrival) -> anyhow::Result<Posting> {
    match arrival {
        Arrival::Closed { concurrency } => closed_loop(target, count, concurrency).await,
        Arrival::Rate {
            per_second,
            concurrency,
        } => fixed_rate(target, count, per_second, concurrency).await,
    }
}

async fn closed_loop(target: &Target, count: u64, concurrency: usize) -> anyhow::Result<Posting> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let target = target.clone();
        let next = next.clone();
        workers.spawn(async move {
            let mut seen = Posting::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let sent = Instant::now();
                let answer = post_one(&target, i).await;
                seen.record(answer, sent.elapsed());
            }
            seen
        });
    }
    let mut total = Posting::default();
    while let Some(seen) = workers.join_next().await {
        total.merge(seen.context("a posting worker panicked")?);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

async fn fixed_rate(
    target: &Target,
    count: u64,
    per_second: f64,
    concurrency: usize,
) -> anyhow::Result<Posting> {
    let in_flight = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut requests = JoinSet::new();
    let mut total = Posting::default();
    for i in 0..count {
        let slot = started + Duration::from_secs_f64(i as f64 / per_second);
        tokio::time::sleep_until(slot.into()).await;
        let permit = in_flight
            .clone()
            .acquire_owned()
            .await
            .context("the in-flight limit closed")?;
        if Instant::now() > slot + LATE {
            total.late_starts += 1;
        }
        let target = target.clone();
        requests.spawn(async move {
            let sent = Instant::now();
            let answer = post_one(&target, i).await;
            drop(permit);
            (answer, sent.elapsed())
        });
        // Reap answered requests as we go so the set stays small.
        while let Some(done) = requests.try_join_next() {
            let (answer, took) = done.context("a request task panicked")?;
            total.record(answer, took);
        }
    }
    while let Some(done) = requests.join_next().await {
        let (answer, took) = done.context("a request task panicked")?;
        total.record(answer, took);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

async fn post_one(target: &Target, i: u64) -> Answer {
    let body = serde_json::json!({
        "name": format!("Bench Lead {i}"),
        "phone": phone(i),
        "source": "bench",
    });
    let response = target
        .client
        .post(format!("{}/api/v1/leads", target.base_url))
        .bearer_auth(&target.api_key)
        .json(&body)
        .send()
        .await;
    match response {
        Ok(r) if r.status().as_u16() == 201 => {
            // Read the body so the connection goes back to the pool.
            match r.bytes().await {
                Ok(_) => Answer::Created,
                Err(e) => Answer::Transport(format!("reading a 201 body: {e}")),
            }
        }
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            Answer::Status(status, body.chars().take(300).collect())
        }
        Err(e) => Answer::Transport(format!("POST /api/v1/leads: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn phones_are_distinct_and_skip_reserved_exchanges() {
        let phones: HashSet<String> = (0..50_000).map(phone).collect();
        assert_eq!(phones.len(), 50_000);
        assert_eq!(phone(0), "+1 415 200 0000");
        assert_eq!(phone(MAX_LEADS - 1), "+1 415 999 9999");
        assert!(!EXCHANGES.contains(&555));
        assert!(!EXCHANGES.iter().any(|e| e % 100 == 11));
    }
}
