//! The figures of one run, as text for a person or JSON for a script.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::latency::Percentiles;
use crate::server::LogSummary;

#[derive(Debug, Serialize)]
pub struct Report {
    pub backend: &'static str,
    pub count: u64,
    pub concurrency: usize,
    /// Leads per second offered; `None` for the closed loop.
    pub rate: Option<f64>,
    pub posting: PostingFigures,
    pub answers: AnswerFigures,
    pub peak_rss_mb: f64,
    /// Average cores busy during the posting phase.
    pub cpu: CpuFigures,
    pub server_log: LogSummary,
    pub server_exit: String,
}

#[derive(Debug, Serialize)]
pub struct PostingFigures {
    pub seconds: f64,
    /// 201 answers.
    pub accepted: u64,
    /// 201 answers per second of the posting phase.
    pub accepted_per_second: f64,
    pub errors: u64,
    pub other_statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub error_samples: Vec<String>,
    /// Rate mode: requests that started more than 10 ms after their slot.
    pub late_starts: u64,
    /// Client-side POST round trip, ms.
    pub answer_ms: Option<Percentiles>,
}

#[derive(Debug, Serialize)]
pub struct AnswerFigures {
    pub settled: u64,
    pub complete: bool,
    pub by_status: BTreeMap<String, u64>,
    /// `sent_at - intake_at`, ms.
    pub speed_to_lead_ms: Option<Percentiles>,
    /// Seconds from the first intake to the last provider call.
    pub span_seconds: Option<f64>,
    /// Seconds from the end of posting until every lead was answered.
    pub waited_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct CpuFigures {
    pub server_cores: f64,
    pub loadgen_cores: f64,
    pub machine_busy_cores: f64,
    pub machine_cores: f64,
}

fn percentiles(f: &mut fmt::Formatter<'_>, label: &str, p: Option<&Percentiles>) -> fmt::Result {
    match p {
        Some(p) => writeln!(
            f,
            "  {label:<14} p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            p.p50, p.p90, p.p99, p.max
        ),
        None => writeln!(f, "  {label:<14} (no sample)"),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrival = match self.rate {
            Some(rate) => format!(
                "fixed rate {rate} leads/s (at most {} in flight)",
                self.concurrency
            ),
            None => format!("closed loop at concurrency {}", self.concurrency),
        };
        writeln!(
            f,
            "{} backend, {} leads, {arrival}",
            self.backend, self.count
        )?;
        let p = &self.posting;
        writeln!(
            f,
            "  {:<14} {:.2} s, {:.0} leads/s accepted (201), {} errors",
            "posting", p.seconds, p.accepted_per_second, p.errors
        )?;
        if p.errors > 0 {
            writeln!(
                f,
                "  {:<14} statuses {:?}, transport {}",
                "errors", p.other_statuses, p.transport_errors
            )?;
            for e in &p.error_samples {
                writeln!(f, "  {:<14} {e}", "")?;
            }
        }
        if self.rate.is_some() {
            writeln!(
                f,
                "  {:<14} {} requests started >10 ms after their slot",
                "late starts", p.late_starts
            )?;
        }
        percentiles(f, "POST answer", p.answer_ms.as_ref())?;
        let a = &self.answers;
        percentiles(f, "speed to lead", a.speed_to_lead_ms.as_ref())?;
        writeln!(
            f,
            "  {:<14} {} of {} leads answered{} (by status {:?}); waited {:.1} s after posting",
            "answers",
            a.settled,
            p.accepted,
            if a.complete { "" } else { " (INCOMPLETE)" },
            a.by_status,
            a.waited_seconds
        )?;
        if let Some(span) = a.span_seconds {
            writeln!(
                f,
                "  {:<14} first intake to last provider call {span:.2} s ({:.0} answers/s)",
                "",
                a.settled as f64 / span.max(f64::EPSILON)
            )?;
        }
        writeln!(f, "  {:<14} {:.1} MB (VmHWM)", "peak RSS", self.peak_rss_mb)?;
        let c = &self.cpu;
        writeln!(
            f,
            "  {:<14} server {:.2} cores, loadgen {:.2} cores, machine {:.2} of {} busy (while posting)",
            "CPU", c.server_cores, c.loadgen_cores, c.machine_busy_cores, c.machine_cores
        )?;
        let log = &self.server_log;
        writeln!(
            f,
            "  {:<14} {} errors, {} warnings; {}",
            "server log", log.errors, log.warnings, self.server_exit
        )?;
        for line in &log.samples {
            writeln!(f, "  {:<14} {line}", "")?;
        }
        Ok(())
    }
}
