//! Speed to lead, from the server's own records: `sent_at - intake_at` of every outbound message.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::load::Target;

/// The page size of the message list (its maximum).
const PAGE: u32 = 200;
/// Pause between two scans of the message list while answers are still going out.
const RESCAN: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
struct Page {
    data: Vec<MessageRecord>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct MessageRecord {
    lead_id: Option<String>,
    status: String,
    sent_at: Option<String>,
    intake_at: Option<String>,
}

/// The answers to the leads, once every lead has one or the wait ran out.
#[derive(Debug, Default)]
pub struct Answers {
    /// Outbound messages to leads that reached an end: the provider was called, or compliance
    /// blocked them, or they failed.
    pub settled: u64,
    pub by_status: BTreeMap<String, u64>,
    /// `sent_at - intake_at` in ms, one per message the provider was called for.
    pub speed_to_lead_ms: Vec<f64>,
    /// `(intake_at, speed to lead in ms)` of the same messages, for a time line.
    pub timeline: Vec<(Timestamp, f64)>,
    /// From the first intake to the last provider call, as the server recorded them.
    pub span: Option<Duration>,
    /// From the end of posting until every lead was answered (or the wait ran out).
    pub waited: Duration,
    /// Whether every lead was answered before the wait ran out.
    pub complete: bool,
}

/// Scans the outbound messages until `expected` of them are settled, for at most `timeout`.
pub async fn wait_for_answers(
    target: &Target,
    expected: u64,
    timeout: Duration,
) -> anyhow::Result<Answers> {
    let started = Instant::now();
    loop {
        let mut answers = scan(target).await?;
        answers.waited = started.elapsed();
        answers.complete = answers.settled >= expected;
        if answers.complete || started.elapsed() >= timeout {
            return Ok(answers);
        }
        tokio::time::sleep(RESCAN).await;
    }
}

async fn scan(target: &Target) -> anyhow::Result<Answers> {
    let mut answers = Answers::default();
    let mut first_intake: Option<Timestamp> = None;
    let mut last_sent: Option<Timestamp> = None;
    let mut cursor: Option<String> = None;
    loop {
        // Cursors are message ids (UUIDs): nothing to escape.
        let after = cursor
            .take()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let response = target
            .client
            .get(format!(
                "{}/api/v1/messages?direction=outbound&limit={PAGE}{after}",
                target.base_url
            ))
            .bearer_auth(&target.api_key)
            .send()
            .await
            .context("Failed to list messages")?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("GET /api/v1/messages answered {status}: {body}");
        }
        let page: Page = response
            .json()
            .await
            .context("Failed to read a page of messages")?;
        for m in page.data {
            if m.lead_id.is_none() {
                continue;
            }
            let sent = parse(m.sent_at.as_deref())?;
            let intake = parse(m.intake_at.as_deref())?;
            let settled = sent.is_some() || matches!(m.status.as_str(), "blocked" | "failed");
            if !settled {
                continue;
            }
            answers.settled += 1;
            *answers.by_status.entry(m.status).or_default() += 1;
            if let (Some(sent), Some(intake)) = (sent, intake) {
                let took = sent.duration_since(intake);
                let ms = took.as_secs_f64() * 1000.0;
                answers.speed_to_lead_ms.push(ms);
                answers.timeline.push((intake, ms));
                first_intake = Some(first_intake.map_or(intake, |t| t.min(intake)));
                last_sent = Some(last_sent.map_or(sent, |t| t.max(sent)));
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if let (Some(first), Some(last)) = (first_intake, last_sent) {
        answers.span = Duration::try_from(last.duration_since(first)).ok();
    }
    Ok(answers)
}

fn parse(t: Option<&str>) -> anyhow::Result<Option<Timestamp>> {
    t.map(|t| {
        t.parse::<Timestamp>()
            .with_context(|| format!("a message time {t:?} is not RFC 3339"))
    })
    .transpose()
}

/// Nearest-rank percentiles of a sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// `None` for an empty sample.
    pub fn of(sample: &[f64]) -> Option<Percentiles> {
        let mut sorted = sample.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |p: f64| -> Option<f64> {
            let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted.get(rank.saturating_sub(1)).copied()
        };
        Some(Percentiles {
            p50: at(50.0)?,
            p90: at(90.0)?,
            p99: at(99.0)?,
            max: *sorted.last()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sample: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let p = Percentiles::of(&sample).unwrap();
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        let one = Percentiles::of(&[7.0]).unwrap();
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        assert!(Percentiles::of(&[]).is_none());
    }
}
