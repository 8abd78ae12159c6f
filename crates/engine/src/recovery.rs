//! Silent-lead recovery: the recurring scan that starts quiet leads on their organisation's
//! recovery sequences.
//!
//! The scan is a `recovery_scan` job, one per time slot ([`SCAN_EVERY`]): each run queues the
//! next slot's, and every instance seeds the current one at start, so a fleet runs one scan per
//! slot (the job's dedupe key) and a stopped fleet resumes where it was. For each organisation
//! with rules, leads are read per status through the recovery index, in pages ordered by how
//! long they have been quiet; each lead goes to the first rule it matches (its silence, its
//! attempts, its engagement) and each batch of runs is started in one transaction. A lead whose
//! last inquiry is older than every rule's window is retired from the index.
//!
//! What it costs: the due leads, plus leads a rule's engagement filter turns away (read again
//! at each scan until they match, age out or speak). Never every lead.

use std::collections::BTreeMap;

use domain::recovery::RecoveryRule;
use domain::sequence::Sequence;
use domain::{EnrolmentId, LeadStatus, Tenant, Timestamp};
use jiff::SignedDuration;
use store::{RecoveryBatch, RecoveryCandidate, RecoveryQuery, RecoveryRun};

use crate::jobs::{Job, RecoveryScan};
use crate::sequences::step_job;
use crate::{Engine, EngineError};

/// How often the scan runs.
pub const SCAN_EVERY: SignedDuration = SignedDuration::from_mins(5);
/// Leads read per page, and runs started per transaction.
pub const PAGE: u32 = 2_000;
/// The most runs one scan starts per organisation: a backlog is worked off over a few scans
/// rather than in one long transaction series.
pub const MAX_PER_SCAN: usize = 50_000;

/// What one scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub started: u64,
    /// Leads running the rule's sequence already.
    pub running: u64,
    pub retired: u64,
    /// Leads read that no rule took (engagement, attempts, a longer silence).
    pub passed: u64,
}

impl ScanReport {
    fn add(&mut self, other: ScanReport) {
        self.started += other.started;
        self.running += other.running;
        self.retired += other.retired;
        self.passed += other.passed;
    }
}

/// The scan job of the slot that `at` falls in.
pub fn scan_job(engine: &Engine, at: Timestamp) -> store::NewJob {
    let every = SCAN_EVERY.as_secs();
    let slot = at.as_second().div_euclid(every);
    let run_at = Timestamp::from_second(slot * every).unwrap_or(at);
    let mut job = RecoveryScan {}.new_job(None, run_at, engine.config.max_attempts);
    job.dedupe_key = Some(format!("recovery_scan:{slot}"));
    job
}

/// A rule with its sequence at its latest version.
struct LiveRule<'a> {
    rule: &'a RecoveryRule,
    sequence: Sequence,
}

impl Engine {
    /// Queues the scan of the current slot (an instance starting; a duplicate is a no-op).
    pub async fn seed_recovery(&self) -> Result<(), EngineError> {
        self.store.enqueue(scan_job(self, self.clock.now())).await?;
        Ok(())
    }

    /// Runs every organisation's recovery rules once, at `now`.
    pub async fn recover(&self, now: Timestamp) -> Result<ScanReport, EngineError> {
        let mut report = ScanReport::default();
        for org in self.store.list_tenants().await? {
            if org.suspended_at.is_some() || org.settings.recovery.is_empty() {
                continue;
            }
            let tenant = Tenant::from_authenticated(org.id);
            report.add(
                self.recover_one(tenant, &org.settings.recovery, now)
                    .await?,
            );
        }
        for (outcome, n) in [
            ("started", report.started),
            ("running", report.running),
            ("retired", report.retired),
        ] {
            metrics::counter!(crate::metrics::RECOVERY, "outcome" => outcome).increment(n);
        }
        if report.started > 0 {
            tracing::info!(
                started = report.started,
                retired = report.retired,
                "recovery scan"
            );
            self.wake();
        }
        Ok(report)
    }

    /// One organisation's rules at `now`.
    pub async fn recover_one(
        &self,
        tenant: Tenant,
        rules: &[RecoveryRule],
        now: Timestamp,
    ) -> Result<ScanReport, EngineError> {
        let mut live = Vec::new();
        for rule in rules {
            match self
                .store
                .get_sequence(tenant, rule.sequence_id, None)
                .await?
            {
                Some(sequence) if sequence.archived_at.is_none() => {
                    live.push(LiveRule { rule, sequence });
                }
                _ => {
                    metrics::counter!(crate::metrics::RECOVERY, "outcome" => "no_sequence")
                        .increment(1);
                    tracing::warn!(tenant = %tenant.id(), sequence = %rule.sequence_id, "recovery rule names no live sequence; skipped");
                }
            }
        }
        let mut by_status: BTreeMap<&'static str, (LeadStatus, Vec<&LiveRule<'_>>)> =
            BTreeMap::new();
        for rule in &live {
            by_status
                .entry(rule.rule.status.as_str())
                .or_insert_with(|| (rule.rule.status, Vec::new()))
                .1
                .push(rule);
        }
        let mut report = ScanReport::default();
        for (status, rules) in by_status.values() {
            report.add(self.recover_status(tenant, *status, rules, now).await?);
        }
        Ok(report)
    }

    async fn recover_status(
        &self,
        tenant: Tenant,
        status: LeadStatus,
        rules: &[&LiveRule<'_>],
        now: Timestamp,
    ) -> Result<ScanReport, EngineError> {
        let shortest = rules
            .iter()
            .map(|r| r.rule.silence())
            .min()
            .unwrap_or(SignedDuration::MAX);
        let most_attempts = rules.iter().map(|r| r.rule.max_attempts).max().unwrap_or(0);
        let widest = rules
            .iter()
            .map(|r| r.rule.window())
            .max()
            .unwrap_or(SignedDuration::ZERO);
        let Ok(quiet_before) = now.checked_sub(shortest) else {
            return Ok(ScanReport::default());
        };
        let mut report = ScanReport::default();
        let mut after = None;
        loop {
            let page = self
                .store
                .recovery_candidates(
                    tenant,
                    &RecoveryQuery {
                        status,
                        attempts_below: most_attempts,
                        quiet_before,
                        after,
                        limit: PAGE,
                    },
                )
                .await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some((last.quiet_since, last.lead_id));
            let full = page.len() == usize::try_from(PAGE).unwrap_or(usize::MAX);
            // Runs by the index of the rule that took them.
            let mut runs: Vec<Vec<RecoveryRun>> = rules.iter().map(|_| Vec::new()).collect();
            let mut retire = Vec::new();
            for lead in &page {
                if now.duration_since(lead.last_touch_at) > widest {
                    retire.push(lead.lead_id);
                    continue;
                }
                match rules.iter().position(|r| takes(r.rule, lead, now)) {
                    Some(i) => {
                        runs[i].push(self.recovery_run(tenant, &rules[i].sequence, lead, now))
                    }
                    None => report.passed += 1,
                }
            }
            for (rule, batch) in rules.iter().zip(runs) {
                if batch.is_empty() {
                    continue;
                }
                let done = self
                    .store
                    .start_recovery(
                        tenant,
                        RecoveryBatch {
                            sequence_id: rule.sequence.id,
                            version: rule.sequence.version,
                            at: now,
                            runs: batch,
                            retire: Vec::new(),
                        },
                    )
                    .await?;
                report.started += done.started;
                report.running += done.running;
            }
            if !retire.is_empty() {
                let done = self
                    .store
                    .start_recovery(
                        tenant,
                        RecoveryBatch {
                            sequence_id: rules[0].sequence.id,
                            version: rules[0].sequence.version,
                            at: now,
                            runs: Vec::new(),
                            retire,
                        },
                    )
                    .await?;
                report.retired += done.retired;
            }
            if !full || usize::try_from(report.started).unwrap_or(usize::MAX) >= MAX_PER_SCAN {
                break;
            }
        }
        Ok(report)
    }

    fn recovery_run(
        &self,
        tenant: Tenant,
        sequence: &Sequence,
        lead: &RecoveryCandidate,
        now: Timestamp,
    ) -> RecoveryRun {
        let id = EnrolmentId::new();
        let due = sequence.definition.due_at(0, now, None).unwrap_or(now);
        RecoveryRun {
            enrolment_id: id,
            lead_id: lead.lead_id,
            due,
            job: step_job(self, tenant, id, 0, due),
        }
    }
}

/// Whether `rule` takes `lead` at `now`: quiet long enough, attempts left, inquiry inside the
/// rule's window, engagement one the rule wants.
fn takes(rule: &RecoveryRule, lead: &RecoveryCandidate, now: Timestamp) -> bool {
    now.duration_since(lead.quiet_since) >= rule.silence()
        && lead.attempts < rule.max_attempts
        && now.duration_since(lead.last_touch_at) <= rule.window()
        && rule
            .engagement_in
            .as_ref()
            .is_none_or(|levels| levels.contains(&lead.engagement.level_at(now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::engagement::{Engagement, Level, Signal};

    fn rule(json: serde_json::Value) -> RecoveryRule {
        serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
    }

    fn lead(quiet_days: i64, touch_days: i64, attempts: u32, now: Timestamp) -> RecoveryCandidate {
        RecoveryCandidate {
            lead_id: domain::LeadId::new(),
            quiet_since: now - SignedDuration::from_hours(24 * quiet_days),
            attempts,
            last_touch_at: now - SignedDuration::from_hours(24 * touch_days),
            engagement: Engagement::default(),
        }
    }

    #[test]
    fn a_rule_takes_quiet_leads_with_attempts_left_inside_its_window() {
        let now: Timestamp = "2026-11-23T15:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let r = rule(serde_json::json!({
            "status": "contacted", "silent_for": "P3D", "sequence_id": domain::SequenceId::new(),
            "max_attempts": 2, "within": "P30D"
        }));
        assert!(takes(&r, &lead(3, 3, 0, now), now));
        assert!(
            !takes(&r, &lead(2, 3, 0, now), now),
            "not quiet long enough"
        );
        assert!(!takes(&r, &lead(3, 3, 2, now), now), "attempts spent");
        assert!(
            !takes(&r, &lead(3, 31, 1, now), now),
            "inquiry out of the window"
        );
        let hot_only = RecoveryRule {
            engagement_in: Some(vec![Level::Hot]),
            ..r
        };
        let mut warm = lead(3, 3, 0, now);
        assert!(!takes(&hot_only, &warm, now));
        warm.engagement =
            Engagement::default().with(Signal::Reply, now - SignedDuration::from_hours(24));
        warm.engagement = warm
            .engagement
            .with(Signal::Click, now - SignedDuration::from_hours(24));
        assert!(takes(&hot_only, &warm, now));
    }
}
