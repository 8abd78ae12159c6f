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
        let now = self.clock.now();
        let id = LeadId::new();
        let first_response =
            FirstResponse { lead_id: id }.new_job(Some(tenant), now, self.config.max_attempts);
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
