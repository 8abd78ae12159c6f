//! `first_response`: the answer to a new lead, within a second of its arrival.

use async_trait::async_trait;
use compliance::Exemption;
use domain::{Address, LeadId, LeadStatus, Purpose};
use serde::{Deserialize, Serialize};

use super::{Job, JobError, JobInfo, Outcome};
use crate::Engine;
use crate::dispatch::{Dispatched, Outgoing};
use crate::templates::{self, MessageVars};

/// Answers a new lead by SMS, or by email when it has no phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FirstResponse {
    pub lead_id: LeadId,
}

#[async_trait]
impl Job for FirstResponse {
    const NAME: &'static str = "first_response";

    async fn run(self, engine: &Engine, info: &JobInfo) -> Result<Outcome, JobError> {
        let tenant = info.tenant.ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!("first_response without a tenant"))
        })?;
        let Some(lead) = engine.store.get_lead(tenant, self.lead_id).await? else {
            // Erased since it arrived: nothing to answer.
            return Ok(Outcome::Done);
        };
        let org = engine.store.get_tenant(tenant.id()).await?.ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!("organisation of the lead is gone"))
        })?;
        let settings = &org.settings;
        let vars = MessageVars {
            first_name: lead.first_name().map(str::to_owned),
            business_name: org.brand().to_owned(),
            source: lead.source.clone(),
            support_contact: settings.support_contact.clone(),
        };
        let render =
            |source: &str, max| templates::render(source, &vars, max).map_err(JobError::permanent);
        let (to, from, subject, body) = match (&lead.phone, &lead.email) {
            (Some(phone), _) => (
                Address::Phone(phone.clone()),
                settings.sms_from.clone(),
                None,
                render(&settings.first_response_sms, templates::MAX_SMS_CHARS)?,
            ),
            (None, Some(email)) => (
                Address::Email(email.clone()),
                settings.email_from.clone(),
                Some(render(&settings.first_response_email_subject, 200)?),
                render(
                    &settings.first_response_email_body,
                    templates::MAX_EMAIL_BYTES,
                )?,
            ),
            (None, None) => return Ok(Outcome::Done),
        };
        let out = Outgoing {
            tenant,
            to,
            from,
            purpose: Purpose::Transactional,
            exemption: Exemption::None,
            subject,
            body,
            dedupe_key: Some(format!("first_response:{}", lead.id)),
            intake_at: Some(lead.created_at),
            answering: None,
            organisation: Some(org),
            lead: Some(lead),
        };
        match engine.dispatch(out, Some(info)).await? {
            Dispatched::Sent(_) | Dispatched::AlreadyHandled(_) => {
                engine
                    .store
                    .advance_lead_status(
                        tenant,
                        self.lead_id,
                        LeadStatus::New,
                        LeadStatus::Contacted,
                        engine.clock.now(),
                    )
                    .await?;
                Ok(Outcome::Done)
            }
            Dispatched::Deferred { until, .. } => Ok(Outcome::Defer(until)),
            Dispatched::Blocked { .. } | Dispatched::Failed { .. } => Ok(Outcome::Done),
        }
    }
}
