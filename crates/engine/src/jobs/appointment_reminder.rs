//! `appointment_reminder`: one reminder of one revision of an appointment.
//!
//! The reminder goes by text when the lead has a number and by email, with the calendar
//! invitation, when they have an address; each is transactional and goes through compliance
//! like every message, with the lead's consent ledger read (never assumed). A reminder that
//! compliance would hold past the appointment's start is dropped: late, it is noise. A
//! rescheduled or cancelled appointment makes the job do nothing.

use async_trait::async_trait;
use domain::appointment::AppointmentState;
use domain::{AppointmentId, Channel, Purpose};
use serde::{Deserialize, Serialize};

use super::{Job, JobError, JobInfo, Outcome};
use crate::Engine;
use crate::calendar::Invitation;
use crate::dispatch::{Dispatched, Outgoing};
use crate::sequences::address_of;
use crate::templates::{self, MessageVars};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppointmentReminder {
    pub appointment_id: AppointmentId,
    pub revision: i32,
    /// Which of the organisation's reminder offsets this is.
    pub reminder: u32,
}

fn count(outcome: &'static str) {
    metrics::counter!(crate::metrics::REMINDERS, "outcome" => outcome).increment(1);
}

#[async_trait]
impl Job for AppointmentReminder {
    const NAME: &'static str = "appointment_reminder";

    async fn run(self, engine: &Engine, info: &JobInfo) -> Result<Outcome, JobError> {
        let tenant = info.tenant.ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!("appointment_reminder without a tenant"))
        })?;
        let store = &engine.store;
        let Some(appointment) = store.get_appointment(tenant, self.appointment_id).await? else {
            return Ok(Outcome::Done);
        };
        if appointment.state != AppointmentState::Scheduled || appointment.revision != self.revision
        {
            count("lapsed");
            return Ok(Outcome::Done);
        }
        let Some(lead) = store.get_lead(tenant, appointment.lead_id).await? else {
            return Ok(Outcome::Done);
        };
        let org = store.get_tenant(tenant.id()).await?.ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!("organisation of the lead is gone"))
        })?;
        let settings = org.settings.reminders.clone();
        let mut defer_until = None;
        for channel in [Channel::Sms, Channel::Email] {
            let Some(to) = address_of(&lead, channel) else {
                continue;
            };
            let vars =
                MessageVars::for_lead(&org, &lead, channel).with_appointment(&appointment, &lead);
            let rendered = match channel {
                Channel::Sms => templates::render(&settings.sms, &vars, templates::MAX_SMS_CHARS)
                    .map(|body| (None, body)),
                Channel::Email => {
                    templates::render(&settings.email_subject, &vars, 200).and_then(|subject| {
                        templates::render(&settings.email_body, &vars, templates::MAX_EMAIL_BYTES)
                            .map(|body| (Some(subject), body))
                    })
                }
            };
            let (subject, body) = match rendered {
                Ok(r) => r,
                Err(e) => {
                    count("failed");
                    tracing::warn!(appointment = %appointment.id, error = %e, "reminder did not render; skipped");
                    continue;
                }
            };
            let mut out = Outgoing::to_lead(
                tenant,
                org.clone(),
                lead.clone(),
                to.clone(),
                Purpose::Transactional,
                body,
            );
            out.subject = subject;
            out.dedupe_key = Some(format!(
                "appt:{}:{}:{}:{}",
                appointment.id,
                appointment.revision,
                self.reminder,
                channel.as_str()
            ));
            if let (Channel::Email, domain::Address::Email(email)) = (channel, &to) {
                let ics = Invitation {
                    appointment: &appointment,
                    organizer_name: org.brand(),
                    organizer_email: &org.settings.email_from,
                    attendee_email: email.as_str(),
                    stamp: engine.clock.now(),
                }
                .to_ics();
                out.attachments.push(providers::Attachment {
                    filename: "invite.ics".to_owned(),
                    content_type: "text/calendar; charset=utf-8; method=REQUEST".to_owned(),
                    content: ics.into_bytes(),
                });
            }
            match engine.dispatch(out, Some(info)).await? {
                Dispatched::Deferred { until, .. } if until >= appointment.starts_at => {
                    count("too_late");
                }
                Dispatched::Deferred { until, .. } => {
                    defer_until =
                        Some(defer_until.map_or(until, |d: domain::Timestamp| d.max(until)));
                }
                Dispatched::Sent(_) | Dispatched::AlreadyHandled(_) => count("sent"),
                Dispatched::Blocked { .. } => count("blocked"),
                Dispatched::Failed { .. } => count("failed"),
            }
        }
        // A held channel is tried again at its time; the one already sent is found by its key
        // and not sent twice.
        Ok(defer_until.map_or(Outcome::Done, Outcome::Defer))
    }
}
