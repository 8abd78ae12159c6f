//! `first_response`: the answer to a new lead, within a second of its arrival.

use async_trait::async_trait;
use compliance::Exemption;
use domain::{Address, LeadId, LeadStatus, Purpose};
use serde::{Deserialize, Serialize};

use super::{Job, JobError, JobInfo, Outcome};
use crate::Engine;
use crate::dispatch::{Dispatched, Outgoing};
use crate::templates::{self, MessageVars};

/// Answers a new lead by SMS, or by email when it has no phone. For a missed call, texts the
/// caller the missed-call template (once per call).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FirstResponse {
    pub lead_id: LeadId,
    /// The call the business missed, when that is what brought the lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_call: Option<String>,
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
        let channel = if lead.phone.is_some() {
            domain::Channel::Sms
        } else {
            domain::Channel::Email
        };
        let vars = MessageVars::for_lead(&org, &lead, channel);
        let render =
            |source: &str, max| templates::render(source, &vars, max).map_err(JobError::permanent);
        let (to, from, subject, body) = match (&lead.phone, &lead.email, &self.missed_call) {
            (Some(phone), _, Some(_)) => (
                Address::Phone(phone.clone()),
                settings.sms_from.clone(),
                None,
                render(&settings.missed_call_sms, templates::MAX_SMS_CHARS)?,
            ),
            (None, _, Some(_)) => return Ok(Outcome::Done),
            (Some(phone), _, None) => (
                Address::Phone(phone.clone()),
                settings.sms_from.clone(),
                None,
                render(&settings.first_response_sms, templates::MAX_SMS_CHARS)?,
            ),
            (None, Some(email), None) => (
                Address::Email(email.clone()),
                settings.email_from.clone(),
                Some(render(&settings.first_response_email_subject, 200)?),
                render(
                    &settings.first_response_email_body,
                    templates::MAX_EMAIL_BYTES,
                )?,
            ),
            (None, None, None) => return Ok(Outcome::Done),
        };
        // A new lead joins the sequences that take its source once it has been answered.
        let new_lead = (lead.touch_count <= 1).then(|| lead.clone());
        let out = Outgoing {
            tenant,
            to,
            from,
            purpose: Purpose::Transactional,
            exemption: Exemption::None,
            subject,
            body,
            dedupe_key: Some(match &self.missed_call {
                Some(call) => format!("missed_call:{call}"),
                None => format!("first_response:{}", lead.id),
            }),
            // A missed call may touch an old lead: its arrival is not this answer's start.
            intake_at: self.missed_call.is_none().then_some(lead.created_at),
            answering: None,
            requested_at: None,
            organisation: Some(org),
            attachments: Vec::new(),
            lead: Some(lead),
        };
        let dispatched = engine.dispatch(out, Some(info)).await?;
        if !matches!(dispatched, Dispatched::Deferred { .. })
            && let Some(lead) = &new_lead
        {
            engine
                .auto_enrol(tenant, lead)
                .await
                .map_err(|e| JobError::transient(anyhow::anyhow!("enrolling the lead: {e}")))?;
        }
        match dispatched {
            Dispatched::Sent(_) | Dispatched::AlreadyHandled(_) => {
                engine
                    .store
                    .advance_lead_status(
                        tenant,
                        self.lead_id,
                        LeadStatus::New,
                        LeadStatus::Contacted,
                        "system",
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
