//! Follow-up sequences: enrolling leads, ending runs by the exit rules, and the checks of a
//! definition that need the template language.
//!
//! A run's state is its enrolment row (step, next run time); each step is a `sequence_step`
//! job, queued with the enrolment or with the step before it, in the same transaction. A step
//! goes through `Engine::dispatch` like every message, so compliance defers a step due at night
//! to the recipient's morning and holds a capped one until the window opens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::sequence::{Definition, Enrolment, EnrolmentState, ExitRule, Origin, Sequence};
use domain::{Channel, EnrolmentId, Lead, LeadId, SequenceId, Tenant};
use store::{DbError, NewEnrolment};

use crate::jobs::{Job, SequenceStep};
use crate::templates;
use crate::{Engine, EngineError};

/// How long an organisation's enrolling sequences are used before they are read again. A change
/// made on this instance applies at once; one made on another, within this time.
pub const ENROL_RULES_TTL: Duration = Duration::from_secs(10);

/// Per organisation, its live sequences that enrol new leads at intake, so that the first answer
/// of an organisation without any costs no read.
#[derive(Debug, Default)]
pub(crate) struct EnrolRulesCache(Mutex<HashMap<domain::TenantId, Enrolling>>);

/// When an organisation's enrolling sequences were read, and them.
type Enrolling = (Instant, Arc<Vec<Sequence>>);

impl EnrolRulesCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<domain::TenantId, Enrolling>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Every problem of a definition, each named by its field: the shape's (from `domain`) and
/// each template's and subject's.
pub fn check(definition: &Definition) -> Vec<(String, String)> {
    let mut out = definition.problems();
    for (i, step) in definition.steps.iter().enumerate() {
        if let Err(e) = templates::validate(&step.template) {
            out.push((format!("steps[{i}].template"), e.to_string()));
        }
        if let Some(subject) = &step.subject
            && let Err(e) = templates::validate(subject)
        {
            out.push((format!("steps[{i}].subject"), e.to_string()));
        }
    }
    out
}

/// Why a lead could not be enrolled.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("the sequence is archived")]
    Archived,
    #[error("the lead is running this sequence already")]
    AlreadyRunning,
    #[error("the lead has opted out")]
    OptedOut,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<DbError> for EnrolError {
    fn from(e: DbError) -> Self {
        EnrolError::Engine(e.into())
    }
}

/// The job of a run's step, keyed so that it is queued once.
pub(crate) fn step_job(
    engine: &Engine,
    tenant: Tenant,
    id: EnrolmentId,
    step: i32,
    due: domain::Timestamp,
) -> store::NewJob {
    let mut job = SequenceStep {
        enrolment_id: id,
        step,
    }
    .new_job(Some(tenant), due, engine.config.max_attempts);
    job.dedupe_key = Some(format!("seq:{id}:{step}"));
    job
}

impl Engine {
    /// Starts `lead` on the latest version of `sequence`; its first step is due after the
    /// step's delay from now.
    pub async fn enrol(
        &self,
        tenant: Tenant,
        lead: &Lead,
        sequence: &Sequence,
        origin: Origin,
    ) -> Result<Enrolment, EnrolError> {
        if sequence.archived_at.is_some() {
            return Err(EnrolError::Archived);
        }
        if lead.status == domain::LeadStatus::OptedOut {
            return Err(EnrolError::OptedOut);
        }
        let now = self.clock.now();
        let due = sequence
            .definition
            .due_at(0, now, None)
            .ok_or_else(|| EngineError::Store(DbError::corrupt("a sequence without steps")))?;
        let id = EnrolmentId::new();
        let enrolment = NewEnrolment {
            id,
            lead_id: lead.id,
            sequence_id: sequence.id,
            version: sequence.version,
            enrolled_at: now,
            next_run_at: due,
            origin,
        };
        let job = step_job(self, tenant, id, 0, due);
        let enrolled = match self.store.enrol(tenant, enrolment, job).await {
            Ok(e) => e,
            Err(DbError::Conflict(_)) => return Err(EnrolError::AlreadyRunning),
            Err(e) => return Err(e.into()),
        };
        metrics::counter!(crate::metrics::ENROLMENTS, "how" => "started").increment(1);
        tracing::info!(lead = %lead.id, sequence = %sequence.id, version = sequence.version, "enrolled");
        self.wake();
        Ok(enrolled)
    }

    /// Enrols a new lead in every live sequence whose rules take its source, once: a sequence
    /// the lead has run before is not started again.
    pub async fn auto_enrol(&self, tenant: Tenant, lead: &Lead) -> Result<usize, EngineError> {
        let sequences = self.enrolling_sequences(tenant).await?;
        let candidates: Vec<&Sequence> = sequences
            .iter()
            .filter(|s| s.definition.enrol.matches(&lead.source, &lead.tags))
            .collect();
        if candidates.is_empty() {
            return Ok(0);
        }
        let runs = self.store.list_enrolments(tenant, lead.id).await?;
        let mut started = 0;
        for sequence in candidates {
            if runs.iter().any(|r| r.sequence_id == sequence.id) {
                continue;
            }
            match self.enrol(tenant, lead, sequence, Origin::Intake).await {
                Ok(_) => started += 1,
                Err(EnrolError::Engine(e)) => return Err(e),
                // Another worker enrolled it, or it was archived or the lead opted out since.
                Err(_) => {}
            }
        }
        Ok(started)
    }

    /// The organisation's live sequences with enrolment rules, from the cache when fresh.
    async fn enrolling_sequences(&self, tenant: Tenant) -> Result<Arc<Vec<Sequence>>, EngineError> {
        if let Some((read_at, list)) = self.enrolling.lock().get(&tenant.id())
            && read_at.elapsed() < ENROL_RULES_TTL
        {
            return Ok(list.clone());
        }
        let list: Vec<Sequence> = self
            .store
            .list_sequences(tenant)
            .await?
            .into_iter()
            .filter(|s| s.archived_at.is_none() && !s.definition.enrol.is_empty())
            .collect();
        let list = Arc::new(list);
        self.enrolling
            .lock()
            .insert(tenant.id(), (Instant::now(), list.clone()));
        Ok(list)
    }

    /// Forgets the organisation's enrolling sequences here, after one was created, changed or
    /// archived, so the next new lead reads them again.
    pub fn forget_sequences(&self, tenant: Tenant) {
        self.enrolling.lock().remove(&tenant.id());
    }

    /// Ends the lead's active runs whose sequence exits on one of `rules` (every run, for an
    /// opt-out), each with the first of `rules` it exits on. The lead's runs are read once.
    /// Returns how many ended.
    pub async fn exit_runs(
        &self,
        tenant: Tenant,
        lead: LeadId,
        rules: &[ExitRule],
    ) -> Result<u64, EngineError> {
        let runs = self.store.list_enrolments(tenant, lead).await?;
        let mut definitions: HashMap<(SequenceId, i32), Option<Definition>> = HashMap::new();
        let mut ending: Vec<(ExitRule, Vec<EnrolmentId>)> =
            rules.iter().map(|r| (*r, Vec::new())).collect();
        for run in runs.iter().filter(|r| r.state == EnrolmentState::Active) {
            let key = (run.sequence_id, run.version);
            if let std::collections::hash_map::Entry::Vacant(slot) = definitions.entry(key) {
                let def = self
                    .store
                    .get_sequence(tenant, run.sequence_id, Some(run.version))
                    .await?
                    .map(|s| s.definition);
                slot.insert(def);
            }
            // A run whose version cannot be read ends with the others: never a stuck run.
            let definition = definitions.get(&key).and_then(Option::as_ref);
            if let Some((_, ids)) = ending
                .iter_mut()
                .find(|(rule, _)| definition.is_none_or(|d| d.exits_on(*rule)))
            {
                ids.push(run.id);
            }
        }
        let mut total = 0;
        for (rule, ids) in ending.iter().filter(|(_, ids)| !ids.is_empty()) {
            let ended = self
                .store
                .exit_enrolments(tenant, ids, rule.as_str(), self.clock.now())
                .await?;
            if ended > 0 {
                metrics::counter!(crate::metrics::ENROLMENTS, "how" => rule.as_str())
                    .increment(ended);
                tracing::info!(%lead, rule = rule.as_str(), ended, "runs ended");
            }
            total += ended;
        }
        Ok(total)
    }

    /// Ends one run by hand. False when it is not active (or not the organisation's).
    pub async fn exit_run(&self, tenant: Tenant, id: EnrolmentId) -> Result<bool, EngineError> {
        let ended = self
            .store
            .exit_enrolments(tenant, &[id], ExitRule::Manual.as_str(), self.clock.now())
            .await?;
        if ended > 0 {
            metrics::counter!(crate::metrics::ENROLMENTS, "how" => "manual").increment(1);
        }
        Ok(ended > 0)
    }
}

/// The address a step goes to, when the lead has one for its channel.
pub fn address_of(lead: &Lead, channel: Channel) -> Option<domain::Address> {
    match channel {
        Channel::Sms => lead.phone.clone().map(domain::Address::Phone),
        Channel::Email => lead.email.clone().map(domain::Address::Email),
    }
}

/// A step's message for a lead: subject (email) and body, rendered.
pub(crate) struct Composed {
    pub subject: Option<String>,
    pub body: String,
}

pub(crate) fn compose(
    org: &store::TenantRecord,
    lead: &Lead,
    step: &domain::sequence::Step,
) -> Result<Composed, templates::TemplateError> {
    let vars = templates::MessageVars::for_lead(org, lead, step.channel);
    Ok(match step.channel {
        Channel::Sms => Composed {
            subject: None,
            body: templates::render(&step.template, &vars, templates::MAX_SMS_CHARS)?,
        },
        Channel::Email => Composed {
            subject: Some(templates::render(
                step.subject.as_deref().unwrap_or_default(),
                &vars,
                200,
            )?),
            body: templates::render(&step.template, &vars, templates::MAX_EMAIL_BYTES)?,
        },
    })
}

/// One step of a simulated run.
#[derive(Debug)]
pub struct Planned {
    pub step: usize,
    pub channel: Channel,
    pub purpose: domain::Purpose,
    /// When the step falls due by its delay.
    pub due_at: domain::Timestamp,
    /// What compliance would say at that instant; `None` when the step would be skipped (its
    /// conditions do not hold, the lead has no address for its channel, or its template does
    /// not render for this lead).
    pub decision: Option<compliance::Decision>,
    pub skipped: Option<&'static str>,
    /// The message as it would read.
    pub subject: Option<String>,
    pub body: Option<String>,
}

impl Engine {
    /// The run `lead` would have through `sequence` if enrolled at `start`: each step's due
    /// time and what compliance would decide then (a deferral moves the step, and every step
    /// after it, to the allowed time). Nothing is sent or recorded. Assumes no reply comes,
    /// and counts frequency caps from the messages already sent, not the simulated ones.
    pub async fn simulate(
        &self,
        tenant: Tenant,
        lead: &Lead,
        sequence: &Sequence,
        start: domain::Timestamp,
    ) -> Result<Vec<Planned>, EngineError> {
        let org = self
            .store
            .get_tenant(tenant.id())
            .await?
            .ok_or(EngineError::NotFound)?;
        let definition = &sequence.definition;
        let facts = domain::sequence::LeadFacts {
            status: lead.status,
            has_replied: false,
            has_email: lead.email.is_some(),
            has_phone: lead.phone.is_some(),
            engagement: lead.engagement.level_at(start),
        };
        let mut plan = Vec::new();
        let mut previous = None;
        for (i, step) in definition.steps.iter().enumerate() {
            let Some(due) = definition.due_at(i, start, previous) else {
                break;
            };
            let address = address_of(lead, step.channel);
            let skipped = match &address {
                None => Some("no_address"),
                Some(_) if !step.conditions.hold(facts) => Some("conditions"),
                Some(_) => None,
            };
            let mut planned = Planned {
                step: i,
                channel: step.channel,
                purpose: step.purpose,
                due_at: due,
                decision: None,
                skipped,
                subject: None,
                body: None,
            };
            let (Some(to), None) = (address, skipped) else {
                previous = Some(due);
                plan.push(planned);
                continue;
            };
            let composed = match compose(&org, lead, step) {
                Ok(c) => c,
                Err(_) => {
                    // As the run itself would: the step is skipped.
                    planned.skipped = Some("template_error");
                    previous = Some(due);
                    plan.push(planned);
                    continue;
                }
            };
            let mut out = crate::dispatch::Outgoing::to_lead(
                tenant,
                org.clone(),
                lead.clone(),
                to,
                step.purpose,
                composed.body.clone(),
            );
            out.subject = composed.subject.clone();
            let assessment = self.assess_at(&out, due).await?;
            let decision =
                assessment.decide(&out.to, step.purpose, compliance::Exemption::None, due);
            previous = Some(match &decision {
                compliance::Decision::Defer { until, .. } => *until,
                _ => due,
            });
            planned.subject = composed.subject;
            planned.body = Some(composed.body);
            planned.decision = Some(decision);
            plan.push(planned);
        }
        Ok(plan)
    }
}
