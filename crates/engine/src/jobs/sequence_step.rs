//! `sequence_step`: one step of a lead's run through a sequence.
//!
//! The job finds the run where it left it (`step`), checks the exit rules once more (a reply
//! that arrived while it waited ends the run here too), then sends the step's message through
//! compliance, or skips it when its conditions do not hold or the lead has no address for its
//! channel. A step and the next one go out together (two dispatches at once) when the next
//! falls due at the same instant on the other channel. A deferred send waits for its time
//! without moving the run; anything else moves the
//! run on, queueing the next step in the same transaction. A run that was exited, or moved on
//! by another worker, is left alone.

use async_trait::async_trait;
use domain::sequence::{EnrolmentState, ExitRule, LeadFacts, Origin};
use domain::{Direction, EnrolmentId, LeadStatus, Purpose};
use serde::{Deserialize, Serialize};
use store::{Advance, MessageQuery};

use super::{Job, JobError, JobInfo, Outcome};
use crate::Engine;
use crate::dispatch::{Dispatched, Outgoing};
use crate::sequences::{address_of, compose, step_job};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SequenceStep {
    pub enrolment_id: EnrolmentId,
    /// The index of the step this job runs.
    pub step: i32,
}

fn count(outcome: &'static str) {
    metrics::counter!(crate::metrics::SEQUENCE_STEPS, "outcome" => outcome).increment(1);
}

#[async_trait]
impl Job for SequenceStep {
    const NAME: &'static str = "sequence_step";

    async fn run(self, engine: &Engine, info: &JobInfo) -> Result<Outcome, JobError> {
        let tenant = info.tenant.ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!("sequence_step without a tenant"))
        })?;
        let store = &engine.store;
        let Some(run) = store.get_enrolment(tenant, self.enrolment_id).await? else {
            return Ok(Outcome::Done);
        };
        if run.state != EnrolmentState::Active || run.step != self.step {
            return Ok(Outcome::Done);
        }
        let sequence = store
            .get_sequence(tenant, run.sequence_id, Some(run.version))
            .await?
            .ok_or_else(|| JobError::permanent(anyhow::anyhow!("the run's sequence is gone")))?;
        let definition = &sequence.definition;
        let Some(lead) = store.get_lead(tenant, run.lead_id).await? else {
            return Ok(Outcome::Done);
        };
        let replied = store
            .list_messages(
                tenant,
                &MessageQuery {
                    lead_id: Some(lead.id),
                    to: None,
                    direction: Some(Direction::Inbound),
                    before: None,
                    limit: 1,
                },
            )
            .await?
            .first()
            .is_some_and(|m| m.created_at >= run.enrolled_at);
        let exit = if lead.status == LeadStatus::OptedOut {
            Some(ExitRule::OptOut)
        } else if replied && definition.exits_on(ExitRule::Reply) {
            Some(ExitRule::Reply)
        } else if lead.status == LeadStatus::Booked && definition.exits_on(ExitRule::Booking) {
            Some(ExitRule::Booking)
        } else {
            None
        };
        if let Some(rule) = exit {
            engine
                .exit_runs(tenant, lead.id, &[rule])
                .await
                .map_err(|e| JobError::transient(anyhow::anyhow!("ending the lead's runs: {e}")))?;
            return Ok(Outcome::Done);
        }
        let index = usize::try_from(self.step).unwrap_or(usize::MAX);
        let Some(step) = definition.steps.get(index) else {
            // A run past its last step: finish it.
            store
                .advance_enrolment(
                    tenant,
                    run.id,
                    run.step,
                    Advance::Complete { step: run.step },
                    engine.clock.now(),
                )
                .await?;
            return Ok(Outcome::Done);
        };
        let facts = LeadFacts {
            status: lead.status,
            has_replied: replied,
            has_email: lead.email.is_some(),
            has_phone: lead.phone.is_some(),
            engagement: lead.engagement.level_at(engine.clock.now()),
        };
        // This step and the one right after it when that one falls due at the same instant on
        // the other channel: they go out together, not one after the other.
        let due = run.next_run_at.unwrap_or_else(|| engine.clock.now());
        let mut group = vec![index];
        if let Some(next) = definition.steps.get(index + 1)
            && next.channel != step.channel
            && definition.due_at(index + 1, run.enrolled_at, Some(due)) == Some(due)
        {
            group.push(index + 1);
        }
        let org = store.get_tenant(tenant.id()).await?.ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!("organisation of the lead is gone"))
        })?;
        let at = |i: usize| Sending {
            engine,
            info,
            tenant,
            org: &org,
            lead: &lead,
            run: &run,
            facts,
            index: i,
            step: &definition.steps[i],
        };
        let results = match group.as_slice() {
            [a, b] => {
                let (x, y) = tokio::join!(at(*a).send(), at(*b).send());
                vec![x, y]
            }
            _ => vec![at(index).send().await],
        };
        let mut defer = None;
        for sent in results {
            if let Some(until) = sent? {
                defer = Some(defer.map_or(until, |d: domain::Timestamp| d.max(until)));
            }
        }
        // A held step waits for its time; one of the group already sent is found by its key
        // when the job runs again, and not sent twice.
        if let Some(until) = defer {
            return Ok(Outcome::Defer(until));
        }
        let index = group.last().copied().unwrap_or(index);
        let now = engine.clock.now();
        let next = i32::try_from(index + 1).unwrap_or(i32::MAX);
        let advance = match definition.due_at(index + 1, run.enrolled_at, Some(now)) {
            Some(due) => Advance::Next {
                step: next,
                due,
                job: step_job(engine, tenant, run.id, next, due),
            },
            None => Advance::Complete { step: next },
        };
        let completed = matches!(advance, Advance::Complete { .. });
        if store
            .advance_enrolment(tenant, run.id, run.step, advance, now)
            .await?
        {
            if completed {
                metrics::counter!(crate::metrics::ENROLMENTS, "how" => "completed").increment(1);
            } else {
                engine.wake();
            }
        }
        Ok(Outcome::Done)
    }
}

/// One step of a run to send.
struct Sending<'a> {
    engine: &'a Engine,
    info: &'a JobInfo,
    tenant: domain::Tenant,
    org: &'a store::TenantRecord,
    lead: &'a domain::Lead,
    run: &'a domain::sequence::Enrolment,
    facts: LeadFacts,
    index: usize,
    step: &'a domain::sequence::Step,
}

impl Sending<'_> {
    /// Sends the step, or skips it (its conditions do not hold, the lead has no address for its
    /// channel, its template does not render). `Some(until)` when compliance holds it until then.
    async fn send(self) -> Result<Option<domain::Timestamp>, JobError> {
        let Sending {
            engine,
            info,
            tenant,
            org,
            lead,
            run,
            facts,
            index,
            step,
        } = self;
        // A recovery run writes to someone who went quiet: marketing, whatever the step says.
        let purpose = match run.origin {
            Origin::Recovery => Purpose::Marketing,
            Origin::Manual | Origin::Intake => step.purpose,
        };
        let Some(to) = address_of(lead, step.channel).filter(|_| step.conditions.hold(facts))
        else {
            count("skipped");
            return Ok(None);
        };
        // The AI writer's draft, when the step asks for one and the writer gives one.
        let message_key = format!("seq:{}:{index}", run.id);
        let drafted = match engine
            .ai_draft(tenant, org, lead, step, run.origin, &message_key)
            .await
        {
            Some(mut draft) => {
                if step.channel == domain::Channel::Sms && !draft.to_uppercase().contains("STOP") {
                    draft.push_str(" {{ opt_out_line }}");
                }
                Some(domain::sequence::Step {
                    template: draft,
                    ..step.clone()
                })
            }
            None => None,
        };
        match compose(org, lead, drafted.as_ref().unwrap_or(step)) {
            Ok(composed) => {
                let mut out = Outgoing::to_lead(
                    tenant,
                    org.clone(),
                    lead.clone(),
                    to,
                    purpose,
                    composed.body,
                );
                out.subject = composed.subject;
                out.dedupe_key = Some(message_key);
                match engine.dispatch(out, Some(info)).await? {
                    Dispatched::Deferred { until, .. } => {
                        count("deferred");
                        return Ok(Some(until));
                    }
                    Dispatched::Sent(_) | Dispatched::AlreadyHandled(_) => count("sent"),
                    Dispatched::Blocked { .. } => count("blocked"),
                    Dispatched::Failed { .. } => count("failed"),
                }
            }
            // A template that compiled but does not render for this lead (its output too long,
            // its fuel spent): the step is lost, not the run.
            Err(e) => {
                count("failed");
                tracing::warn!(enrolment = %run.id, step = index, error = %e, "sequence step did not render; skipped");
            }
        }
        Ok(None)
    }
}
