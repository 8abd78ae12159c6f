//! Dispatch: the one road from the engine to a provider.
//!
//! policy -> in-flight record -> provider -> outcome. `compliance::decide` is asked first, with
//! the recipient's suppression state and location; only a `Send` yields the permit that the
//! provider traits require. The message is recorded "sending" before the provider call; a
//! message found in that state (a crash or a timeout in between) is reconciled with the provider
//! before anything is sent again, so nobody is texted twice.

use compliance::{Decision, Exemption, Reason, SendPermit};
use domain::{
    Address, Channel, Lead, Message, MessageId, MessageStatus, Purpose, Tenant, Timestamp,
};
use providers::{OutboundEmail, OutboundSms, ProviderError, Receipt};
use store::{ActorKind, BeginOutbound, CapCount, CapGuard, NewOutbound, OutboundResult};

use crate::Engine;
use crate::audit::Change;
use crate::integrations::Route;
use crate::jobs::{JobError, JobInfo};
use crate::metrics as m;

/// Who sends, in the audit log.
const DISPATCHER: (ActorKind, &str) = (ActorKind::System, "dispatcher");

/// A message the engine wants to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub tenant: Tenant,
    /// The lead it concerns, when there is one: its other addresses count for suppression and
    /// its phone and time zone for location.
    pub lead: Option<Lead>,
    pub to: Address,
    pub from: String,
    pub purpose: Purpose,
    pub exemption: Exemption,
    pub subject: Option<String>,
    pub body: String,
    /// At most one message per tenant carries this key.
    pub dedupe_key: Option<String>,
    pub intake_at: Option<Timestamp>,
    /// For the opt-out confirmation: when the opt-out it answers arrived.
    pub answering: Option<Timestamp>,
    /// When the recipient asked for this very message (an administrator's provider test to
    /// their own number): their request is the inquiry.
    pub requested_at: Option<Timestamp>,
    /// The organisation, when the caller has read it already (its rules, brand and postal
    /// address); otherwise `assess` reads it.
    pub organisation: Option<store::TenantRecord>,
    /// Files an email carries (a calendar invitation). Not stored with the message: a retry
    /// builds them again.
    pub attachments: Vec<providers::Attachment>,
}

impl Outgoing {
    /// A message to a lead from the organisation's own sender for the channel, with no
    /// exemption, subject or dedupe key (set those on the result) and no intake or request it
    /// answers.
    pub fn to_lead(
        tenant: Tenant,
        organisation: store::TenantRecord,
        lead: Lead,
        to: Address,
        purpose: Purpose,
        body: String,
    ) -> Self {
        let from = match to.channel() {
            Channel::Sms => organisation.settings.sms_from.clone(),
            Channel::Email => organisation.settings.email_from.clone(),
        };
        Self {
            tenant,
            lead: Some(lead),
            to,
            from,
            purpose,
            exemption: Exemption::None,
            subject: None,
            body,
            dedupe_key: None,
            intake_at: None,
            answering: None,
            requested_at: None,
            organisation: Some(organisation),
            attachments: Vec::new(),
        }
    }
}

/// What became of it.
#[derive(Debug)]
pub enum Dispatched {
    Sent(Box<Message>),
    /// The message had been handled before (a retry after the provider took it, or a second job
    /// for the same key).
    AlreadyHandled(MessageId),
    Deferred {
        until: Timestamp,
        reasons: Vec<Reason>,
    },
    Blocked {
        reasons: Vec<Reason>,
    },
    Failed {
        code: String,
    },
}

impl Engine {
    /// Sends `out` if the rules allow it now.
    #[tracing::instrument(skip_all, fields(tenant = %out.tenant.id(), to = %out.to.masked(), purpose = out.purpose.as_str()))]
    pub async fn dispatch(
        &self,
        out: Outgoing,
        job: Option<&JobInfo>,
    ) -> Result<Dispatched, JobError> {
        let assessment = self.assess(&out).await?;
        let mut out = out;
        let permit = match assessment.decision {
            Decision::Send(permit) => permit,
            Decision::Defer { until, reasons } => {
                metrics::counter!(m::MESSAGES, "outcome" => "deferred").increment(1);
                tracing::info!(%until, rules = ?rule_ids(&reasons), "message deferred");
                return Ok(Dispatched::Deferred { until, reasons });
            }
            Decision::Block { reasons } => {
                metrics::counter!(m::MESSAGES, "outcome" => "blocked").increment(1);
                tracing::info!(rules = ?rule_ids(&reasons), "message blocked");
                let error = format!("compliance: {}", rule_ids(&reasons).join(", "));
                let record = self.new_record(&out, job, MessageStatus::Blocked, Some(error));
                return match self.store.begin_outbound(out.tenant, record).await? {
                    BeginOutbound::Started(m) => {
                        self.record_change(
                            out.tenant,
                            Change {
                                actor: DISPATCHER,
                                action: "message.blocked",
                                target: ("message", m.id.to_string()),
                                detail: serde_json::json!({
                                    "channel": m.channel,
                                    "rules": rule_ids(&reasons),
                                }),
                            },
                        )
                        .await;
                        Ok(Dispatched::Blocked { reasons })
                    }
                    BeginOutbound::Existing(m) => Ok(Dispatched::AlreadyHandled(m.id)),
                    BeginOutbound::CapReached => Ok(Dispatched::Blocked { reasons }),
                };
            }
        };

        let route = self.route(out.tenant).await?;
        let sender = match out.to.channel() {
            Channel::Sms => route.sms.sender(),
            Channel::Email => route.email.sender(),
        };
        if let Some(from) = sender {
            out.from = from;
        }
        let id = MessageId::new();
        let mut headers = Vec::new();
        match out.to.channel() {
            // The first text to a new subscriber names the brand and says how to stop (CTIA).
            Channel::Sms if assessment.first_message && out.exemption == Exemption::None => {
                out.body = first_text(&out.body, &assessment.brand);
            }
            // Every marketing email carries the postal address and a one-click unsubscribe
            // (CAN-SPAM; RFC 8058). `decide` blocked it if there is no postal address.
            Channel::Email if out.purpose == Purpose::Marketing => {
                let Some(links) = &self.config.links else {
                    return Err(JobError::permanent(anyhow::anyhow!(
                        "marketing email needs unsubscribe links: set public_base_url"
                    )));
                };
                let url = links.unsubscribe_url(out.tenant.id(), id);
                out.body = format!(
                    "{}\n\n--\n{}\n{}\nUnsubscribe: {url}",
                    out.body.trim_end(),
                    assessment.brand,
                    assessment.postal_address.as_deref().unwrap_or_default()
                );
                headers.push(("List-Unsubscribe".to_owned(), format!("<{url}>")));
                headers.push((
                    "List-Unsubscribe-Post".to_owned(),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
            }
            _ => {}
        }
        let mut record = self.new_record(&out, job, MessageStatus::Sending, None);
        record.id = id;
        if !permit.caps().is_empty() {
            let now = self.clock.now();
            record.cap_guard = Some(CapGuard {
                addresses: crate::assess::person_addresses(&out.to, assessment.lead.as_ref()),
                caps: permit
                    .caps()
                    .iter()
                    .map(|c| CapCount {
                        since: now.checked_sub(c.window).unwrap_or(Timestamp::MIN),
                        limit: c.limit,
                        marketing_only: c.marketing_only,
                    })
                    .collect(),
            });
        }
        let message = match self.store.begin_outbound(out.tenant, record).await? {
            BeginOutbound::Started(m) => m,
            // Another process recorded a message to this person since the decision and took
            // the cap's last place: decide again, now that it counts.
            BeginOutbound::CapReached => {
                metrics::counter!(m::MESSAGES, "outcome" => "deferred").increment(1);
                return Ok(match self.assess(&out).await?.decision {
                    Decision::Defer { until, reasons } => Dispatched::Deferred { until, reasons },
                    // The other message failed in between: try again in a moment.
                    _ => Dispatched::Deferred {
                        until: self.clock.now() + jiff::SignedDuration::from_secs(1),
                        reasons: Vec::new(),
                    },
                });
            }
            BeginOutbound::Existing(m) if m.status == MessageStatus::Sending => {
                // In flight before: a crash or a timeout came between the record and the answer.
                match find_sent(&route, &m).await {
                    Ok(Some(receipt)) => {
                        tracing::info!(message = %m.id, "in-flight message was sent before; recorded, not resent");
                        self.record_sent(
                            out.tenant,
                            provider_name(&route, m.channel),
                            &m,
                            &receipt,
                            None,
                        )
                        .await?;
                        return Ok(Dispatched::AlreadyHandled(m.id));
                    }
                    Ok(None) => m,
                    Err(e) => {
                        return Err(self.provider_failure(out.tenant, &route, &m, e, job).await);
                    }
                }
            }
            BeginOutbound::Existing(m) => return Ok(Dispatched::AlreadyHandled(m.id)),
        };

        let called_at = self.clock.now();
        let sent = call_provider(&route, &permit, &message, headers, &out.attachments).await;
        match sent {
            Ok(receipt) => {
                if let Some(intake_at) = message.intake_at {
                    let latency = called_at.duration_since(intake_at).as_secs_f64().max(0.0);
                    metrics::histogram!(m::INTAKE_TO_PROVIDER).record(latency);
                }
                metrics::counter!(m::MESSAGES, "outcome" => "sent").increment(1);
                self.record_sent(
                    out.tenant,
                    provider_name(&route, message.channel),
                    &message,
                    &receipt,
                    Some(called_at),
                )
                .await?;
                let mut message = message;
                message.status = receipt.status;
                message.provider_message_id = Some(receipt.provider_message_id);
                message.provider_called_at = Some(called_at);
                Ok(Dispatched::Sent(Box::new(message)))
            }
            // The provider's own text may quote the recipient; only its code is kept.
            Err(ProviderError::Permanent {
                code,
                message: _,
                suppress,
            }) => {
                let provider = provider_name(&route, message.channel);
                metrics::counter!(m::PROVIDER_ERRORS, "provider" => provider, "kind" => "permanent").increment(1);
                tracing::warn!(message = %message.id, %code, "provider refused the message for good");
                if suppress {
                    self.suppress_for_provider(
                        out.tenant,
                        &out.to,
                        &format!("provider:{code}"),
                        provider,
                    )
                    .await
                    .map_err(|e| match e {
                        crate::EngineError::Store(db) => JobError::from(db),
                        other => JobError::permanent(other),
                    })?;
                }
                self.record_failed(out.tenant, provider, &message, &code, Some(called_at))
                    .await?;
                Ok(Dispatched::Failed { code })
            }
            Err(ProviderError::PermitMismatch) => {
                // A bug upstream, caught by the provider's own check: never retried.
                tracing::error!(message = %message.id, "permit does not cover the message; not sent");
                let provider = provider_name(&route, message.channel);
                self.record_failed(out.tenant, provider, &message, "permit_mismatch", None)
                    .await?;
                Err(JobError::permanent(ProviderError::PermitMismatch))
            }
            Err(e) => Err(self
                .provider_failure(out.tenant, &route, &message, e, job)
                .await),
        }
    }

    fn new_record(
        &self,
        out: &Outgoing,
        job: Option<&JobInfo>,
        status: MessageStatus,
        error: Option<String>,
    ) -> NewOutbound {
        NewOutbound {
            id: MessageId::new(),
            lead_id: out.lead.as_ref().map(|l| l.id),
            channel: out.to.channel(),
            to: out.to.as_str().to_owned(),
            from: out.from.clone(),
            subject: out.subject.clone(),
            body: out.body.clone(),
            purpose: out.purpose,
            job_id: job.map(|j| j.id),
            dedupe_key: out.dedupe_key.clone(),
            intake_at: out.intake_at,
            created_at: self.clock.now(),
            status,
            error,
            cap_guard: None,
        }
    }

    async fn record_sent(
        &self,
        tenant: Tenant,
        provider: &str,
        message: &Message,
        receipt: &Receipt,
        called_at: Option<Timestamp>,
    ) -> Result<(), store::DbError> {
        self.store
            .finish_outbound(
                tenant,
                message.id,
                OutboundResult {
                    status: receipt.status,
                    provider: provider.to_owned(),
                    provider_message_id: Some(receipt.provider_message_id.clone()),
                    error: None,
                    provider_called_at: called_at,
                    at: self.clock.now(),
                    audit: Some(self.audit_entry(
                        tenant,
                        Change {
                            actor: DISPATCHER,
                            action: "message.sent",
                            target: ("message", message.id.to_string()),
                            detail: serde_json::json!({
                                "channel": message.channel,
                                "provider": provider,
                                "status": receipt.status,
                            }),
                        },
                    )),
                },
            )
            .await
    }

    async fn record_failed(
        &self,
        tenant: Tenant,
        provider: &str,
        message: &Message,
        code: &str,
        called_at: Option<Timestamp>,
    ) -> Result<(), store::DbError> {
        self.store
            .finish_outbound(
                tenant,
                message.id,
                OutboundResult {
                    status: MessageStatus::Failed,
                    provider: provider.to_owned(),
                    provider_message_id: None,
                    error: Some(code.to_owned()),
                    provider_called_at: called_at,
                    at: self.clock.now(),
                    audit: Some(self.audit_entry(
                        tenant,
                        Change {
                            actor: DISPATCHER,
                            action: "message.failed",
                            target: ("message", message.id.to_string()),
                            detail: serde_json::json!({ "channel": message.channel, "code": code }),
                        },
                    )),
                },
            )
            .await
    }

    /// A provider error that retrying may cure. The message stays "sending" so the next attempt
    /// reconciles before it sends, with the error noted on it (`retrying:{code}`); on the last
    /// attempt it is marked failed.
    async fn provider_failure(
        &self,
        tenant: Tenant,
        route: &Route,
        message: &Message,
        error: ProviderError,
        job: Option<&JobInfo>,
    ) -> JobError {
        let provider = provider_name(route, message.channel);
        metrics::counter!(m::PROVIDER_ERRORS, "provider" => provider, "kind" => "transient")
            .increment(1);
        tracing::warn!(message = %message.id, code = error.code(), "provider call failed; will retry");
        let noted = if job.is_none_or(JobInfo::is_last_attempt) {
            self.record_failed(
                tenant,
                provider,
                message,
                &format!("gave_up:{}", error.code()),
                None,
            )
            .await
        } else {
            self.store
                .finish_outbound(
                    tenant,
                    message.id,
                    OutboundResult {
                        status: MessageStatus::Sending,
                        provider: provider.to_owned(),
                        provider_message_id: None,
                        error: Some(format!("retrying:{}", error.code())),
                        provider_called_at: None,
                        at: self.clock.now(),
                        audit: None,
                    },
                )
                .await
        };
        if let Err(e) = noted {
            tracing::error!(error = %e, message = %message.id, "could not note a provider failure on its message");
        }
        let retry_after = match &error {
            ProviderError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        };
        JobError {
            // The code only: a provider's text may quote the recipient, and this is kept
            // as the job's last error and logged.
            error: anyhow::anyhow!("{} error {}", provider, error.code()),
            permanent: false,
            retry_after,
        }
    }
}

fn provider_name(route: &Route, channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => route.sms.name(),
        Channel::Email => route.email.name(),
    }
}

fn outbound_sms(message: &Message) -> OutboundSms {
    OutboundSms {
        message_id: message.id,
        from: message.from.clone(),
        to: message.to.clone(),
        body: message.body.clone(),
    }
}

fn outbound_email(
    message: &Message,
    headers: Vec<(String, String)>,
    attachments: &[providers::Attachment],
) -> OutboundEmail {
    OutboundEmail {
        message_id: message.id,
        from: message.from.clone(),
        to: message.to.clone(),
        subject: message.subject.clone().unwrap_or_default(),
        text: message.body.clone(),
        headers,
        attachments: attachments.to_vec(),
    }
}

async fn call_provider(
    route: &Route,
    permit: &SendPermit,
    message: &Message,
    headers: Vec<(String, String)>,
    attachments: &[providers::Attachment],
) -> Result<Receipt, ProviderError> {
    match message.channel {
        Channel::Sms => route.sms.send_sms(permit, &outbound_sms(message)).await,
        Channel::Email => {
            route
                .email
                .send_email(permit, &outbound_email(message, headers, attachments))
                .await
        }
    }
}

async fn find_sent(route: &Route, message: &Message) -> Result<Option<Receipt>, ProviderError> {
    match message.channel {
        Channel::Sms => {
            route
                .sms
                .find_sent(&outbound_sms(message), message.created_at)
                .await
        }
        Channel::Email => {
            route
                .email
                .find_sent(
                    &outbound_email(message, Vec::new(), &[]),
                    message.created_at,
                )
                .await
        }
    }
}

/// A first text: the brand at the front and the way to stop at the end, unless the template
/// already has them.
fn first_text(body: &str, brand: &str) -> String {
    let mut text = body.trim().to_owned();
    if !brand.is_empty() && !text.to_lowercase().contains(&brand.to_lowercase()) {
        text = format!("{brand}: {text}");
    }
    if !text.to_uppercase().contains("STOP") {
        text.push_str(" Reply STOP to opt out.");
    }
    text
}

pub(crate) fn rule_ids(reasons: &[Reason]) -> Vec<&'static str> {
    reasons.iter().map(|r| r.rule).collect()
}
