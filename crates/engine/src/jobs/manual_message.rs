//! `manual_message`: a message an agent wrote to a lead, sent through compliance.
//!
//! The API checks compliance first and answers with the decision (sent now, held until a time,
//! or refused with the rules); the job carries the message out, durably and once (its dedupe key
//! names the message). A message held by the rules waits for its time without spending an
//! attempt.

use async_trait::async_trait;
use domain::{Channel, LeadId, Purpose};
use serde::{Deserialize, Serialize};

use super::{Job, JobError, JobInfo, Outcome};
use crate::Engine;
use crate::dispatch::{Dispatched, Outgoing};
use crate::sequences::address_of;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManualMessage {
    pub lead_id: LeadId,
    pub channel: Channel,
    pub purpose: Purpose,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub body: String,
    /// The message's dedupe key: one message however often the job runs.
    pub key: String,
}

#[async_trait]
impl Job for ManualMessage {
    const NAME: &'static str = "manual_message";

    async fn run(self, engine: &Engine, info: &JobInfo) -> Result<Outcome, JobError> {
        let tenant = info.tenant.ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!("manual_message without a tenant"))
        })?;
        let Some(lead) = engine.store.get_lead(tenant, self.lead_id).await? else {
            return Ok(Outcome::Done);
        };
        let Some(to) = address_of(&lead, self.channel) else {
            return Ok(Outcome::Done);
        };
        let org = engine.store.get_tenant(tenant.id()).await?.ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!("organisation of the lead is gone"))
        })?;
        let mut out = Outgoing::to_lead(tenant, org, lead, to, self.purpose, self.body);
        out.subject = self.subject;
        out.dedupe_key = Some(self.key);
        Ok(match engine.dispatch(out, Some(info)).await? {
            Dispatched::Deferred { until, .. } => Outcome::Defer(until),
            _ => Outcome::Done,
        })
    }
}
