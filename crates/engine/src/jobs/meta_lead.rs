//! `meta_lead`: a Meta Lead Ads submission, fetched from the Graph API and taken as a lead.
//!
//! The webhook only names the lead; this job fetches its answers and its form's consent
//! disclaimer with the organisation's page token, maps them, and hands the lead to intake
//! under an idempotency key of the source and lead id, so a delivery Meta repeats (or a retry
//! of this job) takes the lead once.

use async_trait::async_trait;
use domain::{ConsentEvidence, Details, Email, NewLead, Phone, SourceId, Tenant};
use providers::ProviderError;
use providers::meta::{Graph, LeadgenChange, MetaLead as Fetched};
use serde::{Deserialize, Serialize};
use store::{ActorKind, AuditContext, IdempotencyClaim};

use super::{Job, JobError, JobInfo, Outcome};
use crate::Engine;
use crate::integrations::{MetaIntegration, ProviderSourceSettings};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaLead {
    pub source_id: SourceId,
    pub change: LeadgenChange,
}

#[async_trait]
impl Job for MetaLead {
    const NAME: &'static str = "meta_lead";

    async fn run(self, engine: &Engine, info: &JobInfo) -> Result<Outcome, JobError> {
        let tenant = info
            .tenant
            .ok_or_else(|| JobError::permanent(anyhow::anyhow!("meta_lead without a tenant")))?;
        let Some(source) = engine
            .store
            .get_source(tenant, self.source_id)
            .await?
            .filter(|s| s.revoked_at.is_none())
        else {
            tracing::warn!(source = %self.source_id, "Meta lead for a revoked source: dropped");
            return Ok(Outcome::Done);
        };
        let Some(meta) = engine.integration::<MetaIntegration>(tenant).await? else {
            return Err(JobError::permanent(anyhow::anyhow!(
                "Meta lead without a Meta integration"
            )));
        };
        let graph = Graph::new(
            engine.http().clone(),
            &engine.config.endpoints.meta_graph_base,
            &meta.page_access_token,
        );
        let fetched = graph.lead(&self.change.leadgen_id).await.map_err(|e| {
            // The code only: Graph's text is kept as the job's last error and logged.
            let error = anyhow::anyhow!("Graph API error {}", e.code());
            match e {
                ProviderError::Transient { retry_after, .. } => JobError {
                    error,
                    permanent: false,
                    retry_after,
                },
                _ => JobError {
                    error,
                    permanent: true,
                    retry_after: None,
                },
            }
        })?;
        let settings: ProviderSourceSettings =
            serde_json::from_value(source.settings.clone()).unwrap_or_default();
        let org = engine.store.get_tenant(tenant.id()).await?;
        let region = org
            .as_ref()
            .map_or("US", |o| o.settings.default_region.as_str())
            .to_owned();
        let seller = org.as_ref().map(|o| o.brand().to_owned());
        let Some(lead) = map_lead(&fetched, &settings, &region, seller, engine.clock.now()) else {
            tracing::warn!(leadgen = %self.change.leadgen_id, "Meta lead without a usable phone or email: not taken");
            return Ok(Outcome::Done);
        };
        let claim = IdempotencyClaim {
            key: format!("hook:{}:{}", source.id, self.change.leadgen_id),
            request_hash: crypto::sha256(self.change.leadgen_id.as_bytes()),
        };
        let audit = AuditContext {
            actor_kind: ActorKind::Source,
            actor_id: source.id.to_string(),
            ip: None,
            correlation_id: format!("meta:{}", self.change.leadgen_id),
        };
        engine
            .intake(
                Tenant::from_authenticated(tenant.id()),
                lead,
                Some(claim),
                audit,
            )
            .await
            .map_err(|e| match e {
                crate::EngineError::Store(db) => JobError::from(db),
                other => JobError::permanent(other),
            })?;
        Ok(Outcome::Done)
    }
}

/// The first answer among `names`, trimmed, non-empty.
fn answer<'a>(lead: &'a Fetched, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .filter_map(|n| lead.fields.get(*n))
        .map(|v| v.trim())
        .find(|v| !v.is_empty())
}

/// A fetched lead as Leadline takes it: Meta's standard questions by their keys; consent
/// only when the form had a disclaimer and every one of its boxes was ticked.
pub fn map_lead(
    lead: &Fetched,
    settings: &ProviderSourceSettings,
    region: &str,
    seller: Option<String>,
    now: domain::Timestamp,
) -> Option<NewLead> {
    let name = answer(lead, &["full_name"]).map(str::to_owned).or_else(|| {
        let parts: Vec<&str> = [answer(lead, &["first_name"]), answer(lead, &["last_name"])]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let phone = answer(lead, &["phone_number", "phone"]).and_then(|p| Phone::parse(p, region).ok());
    let email = answer(lead, &["email", "work_email"]).and_then(|e| Email::parse(e).ok());
    if phone.is_none() && email.is_none() {
        return None;
    }
    let address = [
        answer(lead, &["street_address"]),
        answer(lead, &["city"]),
        answer(lead, &["state", "province"]),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let consent = lead
        .consent
        .as_ref()
        .filter(|d| d.agreed() && !d.text.is_empty())
        .map(|d| ConsentEvidence {
            disclosure_text: d.evidence().chars().take(4000).collect(),
            disclosure_version: Some(format!(
                "meta-form:{}",
                lead.form_name.as_deref().unwrap_or("unnamed")
            )),
            seller,
            page_url: None,
            ip: None,
            user_agent: None,
            captured_at: lead
                .created_time
                .as_deref()
                .and_then(providers::meta::parse_time)
                .filter(|t| *t <= now)
                .unwrap_or(now),
            purposes: settings.purposes(),
        });
    Some(NewLead {
        name: name.map(|n| n.chars().take(200).collect()),
        phone,
        email,
        source: settings
            .lead_source
            .clone()
            .unwrap_or_else(|| "facebook".to_owned()),
        address: (!address.is_empty()).then_some(address),
        zip: answer(lead, &["zip_code", "post_code", "zip"]).map(|z| z.chars().take(20).collect()),
        time_zone: None,
        consent,
        details: custom_answers(lead),
        tags: domain::Tags::default(),
    })
}

/// The questions of Meta's own that Leadline files in the lead's fields.
const STANDARD: [&str; 14] = [
    "full_name",
    "first_name",
    "last_name",
    "phone_number",
    "phone",
    "email",
    "work_email",
    "street_address",
    "city",
    "state",
    "province",
    "zip_code",
    "post_code",
    "zip",
];

/// The form's custom questions (and standard ones Leadline has no field for), by their keys.
fn custom_answers(lead: &Fetched) -> Details {
    let mut details = Details::default();
    for (question, answer) in &lead.fields {
        if !STANDARD.contains(&question.as_str()) {
            details.add(question, answer);
        }
    }
    details
}
