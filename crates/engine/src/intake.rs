//! Intake: a parsed lead becomes a stored lead with its first answer queued, in one
//! transaction, and the runner is woken at once.

use domain::{LeadId, NewLead, Tenant};
use store::{AuditContext, IdempotencyClaim, IntakeOutcome, IntakeRequest};

use crate::jobs::{FirstResponse, Job};
use crate::{Engine, EngineError};

impl Engine {
    /// Takes a lead. New: stored, consent recorded, first response enqueued (201). Known by
    /// phone or email: a touch on the existing lead (200), nothing sent again. `audit` says who
    /// asks; the store stages `lead.create` or `lead.touch` in the same transaction.
    #[tracing::instrument(skip_all, fields(tenant = %tenant.id(), source = %lead.source))]
    pub async fn intake(
        &self,
        tenant: Tenant,
        lead: NewLead,
        idempotency: Option<IdempotencyClaim>,
        audit: AuditContext,
    ) -> Result<IntakeOutcome, EngineError> {
        self.take(tenant, lead, idempotency, audit, None).await
    }

    /// A call the business did not answer: the caller becomes a lead (or touches the one they
    /// are), and gets the missed-call text at once, once per call.
    #[tracing::instrument(skip_all, fields(tenant = %tenant.id()))]
    pub async fn missed_call(
        &self,
        tenant: Tenant,
        lead: NewLead,
        call_sid: &str,
        audit: AuditContext,
    ) -> Result<IntakeOutcome, EngineError> {
        let outcome = self
            .take(tenant, lead, None, audit, Some(call_sid.to_owned()))
            .await?;
        if !outcome.created {
            let job = FirstResponse {
                lead_id: outcome.lead.id,
                missed_call: Some(call_sid.to_owned()),
            };
            let mut job = job.new_job(Some(tenant), self.clock.now(), self.config.max_attempts);
            job.dedupe_key = Some(format!("missed_call:{}:{call_sid}", tenant.id()));
            match self.store.enqueue(job).await {
                Ok(_) | Err(store::DbError::Conflict(_)) => self.wake(),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(outcome)
    }

    async fn take(
        &self,
        tenant: Tenant,
        lead: NewLead,
        idempotency: Option<IdempotencyClaim>,
        audit: AuditContext,
        missed_call: Option<String>,
    ) -> Result<IntakeOutcome, EngineError> {
        let now = self.clock.now();
        let id = LeadId::new();
        let first_response = FirstResponse {
            lead_id: id,
            missed_call,
        }
        .new_job(Some(tenant), now, self.config.max_attempts);
        let outcome = self
            .store
            .intake(
                tenant,
                IntakeRequest {
                    new_lead_id: id,
                    lead,
                    received_at: now,
                    idempotency,
                    jobs_if_created: vec![first_response],
                    audit: Some(audit),
                },
            )
            .await?;
        if outcome.created && !outcome.replayed {
            self.wake();
        }
        if !outcome.replayed {
            metrics::counter!(crate::metrics::LEADS_ACCEPTED, "outcome" => if outcome.created { "new" } else { "repeat" }).increment(1);
        }
        tracing::info!(lead = %outcome.lead.id, created = outcome.created, replayed = outcome.replayed, "lead taken");
        Ok(outcome)
    }
}
