//! Appointments: booking, rescheduling and cancelling, and the reminders before each.
//!
//! Booking writes the appointment, its reminders' jobs, the lead's move to `booked` and the
//! timeline entries in one transaction, then ends the lead's runs that exit on a booking. Each
//! reminder is an `appointment_reminder` job for one revision of the appointment: a reschedule
//! raises the revision (the old reminders find it changed and do nothing) and queues new ones; a
//! cancellation leaves nothing to remind.

use domain::appointment::{Appointment, Slot};
use domain::sequence::{ExitRule, parse_duration};
use domain::{AppointmentId, Lead, Tenant, Timestamp};
use store::{AppointmentChange, NewAppointment, NewJob, ReminderSettings};

use crate::jobs::{AppointmentReminder, Job};
use crate::{Engine, EngineError};

/// The most reminders an appointment has.
pub const MAX_REMINDERS: usize = 5;
/// The earliest a reminder may go before its appointment.
pub const MAX_REMINDER_LEAD: jiff::SignedDuration = jiff::SignedDuration::from_hours(30 * 24);

/// What is wrong with reminder settings, by field.
pub fn reminder_problems(r: &ReminderSettings) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if r.before.len() > MAX_REMINDERS {
        out.push((
            "before".to_owned(),
            format!("at most {MAX_REMINDERS} reminders"),
        ));
    }
    for (i, before) in r.before.iter().enumerate() {
        match parse_duration(before, MAX_REMINDER_LEAD) {
            Ok(d) if d.is_zero() => out.push((format!("before[{i}]"), "is zero".to_owned())),
            Ok(_) => {}
            Err(e) => out.push((format!("before[{i}]"), e)),
        }
    }
    for (field, source) in [
        ("sms", &r.sms),
        ("email_subject", &r.email_subject),
        ("email_body", &r.email_body),
    ] {
        if let Err(e) = crate::templates::validate(source) {
            out.push((field.to_owned(), e.to_string()));
        }
    }
    out
}

/// Why an appointment could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum AppointmentError {
    #[error("no such appointment")]
    NotFound,
    #[error("the appointment is cancelled")]
    Cancelled,
    #[error("the appointment changed meanwhile")]
    Changed,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<store::DbError> for AppointmentError {
    fn from(e: store::DbError) -> Self {
        AppointmentError::Engine(e.into())
    }
}

impl Engine {
    /// The reminder jobs of one revision of an appointment starting at `starts_at`: one per
    /// offset still ahead of `now`.
    fn reminder_jobs(
        &self,
        tenant: Tenant,
        id: AppointmentId,
        revision: i32,
        starts_at: Timestamp,
        settings: &ReminderSettings,
    ) -> Vec<NewJob> {
        let now = self.clock.now();
        settings
            .before
            .iter()
            .enumerate()
            .filter_map(|(i, before)| {
                let lead = parse_duration(before, MAX_REMINDER_LEAD).ok()?;
                let due = starts_at.checked_sub(lead).ok()?;
                if due <= now {
                    return None;
                }
                let mut job = AppointmentReminder {
                    appointment_id: id,
                    revision,
                    reminder: u32::try_from(i).unwrap_or(u32::MAX),
                }
                .new_job(Some(tenant), due, self.config.max_attempts);
                job.dedupe_key = Some(format!("appt:{id}:{revision}:{i}"));
                Some(job)
            })
            .collect()
    }

    async fn reminder_settings(&self, tenant: Tenant) -> Result<ReminderSettings, EngineError> {
        Ok(self
            .store
            .get_tenant(tenant.id())
            .await?
            .ok_or(EngineError::NotFound)?
            .settings
            .reminders)
    }

    /// Books `slot` with `lead`: the lead moves to booked, its runs that exit on a booking end,
    /// and reminders are queued.
    pub async fn book(
        &self,
        tenant: Tenant,
        lead: &Lead,
        slot: Slot,
        actor: &str,
    ) -> Result<Appointment, EngineError> {
        let settings = self.reminder_settings(tenant).await?;
        let id = AppointmentId::new();
        let reminders = self.reminder_jobs(tenant, id, 1, slot.starts_at, &settings);
        let booked = self
            .store
            .book_appointment(
                tenant,
                NewAppointment {
                    id,
                    lead_id: lead.id,
                    slot,
                    actor: actor.to_owned(),
                    at: self.clock.now(),
                    reminders,
                },
            )
            .await?;
        metrics::counter!(crate::metrics::APPOINTMENTS, "change" => "booked").increment(1);
        let mut rules = vec![ExitRule::Booking];
        if store::followup::booking_moves(lead.status) {
            rules.push(ExitRule::StatusChange);
        }
        self.exit_runs(tenant, lead.id, &rules).await?;
        self.wake();
        Ok(booked)
    }

    /// Moves an appointment to `slot`: earlier reminders lapse, new ones are queued.
    pub async fn reschedule(
        &self,
        tenant: Tenant,
        id: AppointmentId,
        slot: Slot,
        actor: &str,
    ) -> Result<Appointment, AppointmentError> {
        let current = self.current(tenant, id).await?;
        let settings = self.reminder_settings(tenant).await?;
        let reminders =
            self.reminder_jobs(tenant, id, current.revision + 1, slot.starts_at, &settings);
        let changed = self
            .store
            .change_appointment(
                tenant,
                id,
                current.revision,
                AppointmentChange::Reschedule { slot, reminders },
                actor,
                self.clock.now(),
            )
            .await?
            .ok_or(AppointmentError::Changed)?;
        metrics::counter!(crate::metrics::APPOINTMENTS, "change" => "rescheduled").increment(1);
        self.wake();
        Ok(changed)
    }

    /// Cancels an appointment: its reminders lapse. The lead keeps its status.
    pub async fn cancel(
        &self,
        tenant: Tenant,
        id: AppointmentId,
        actor: &str,
    ) -> Result<Appointment, AppointmentError> {
        let current = self.current(tenant, id).await?;
        let changed = self
            .store
            .change_appointment(
                tenant,
                id,
                current.revision,
                AppointmentChange::Cancel,
                actor,
                self.clock.now(),
            )
            .await?
            .ok_or(AppointmentError::Changed)?;
        metrics::counter!(crate::metrics::APPOINTMENTS, "change" => "cancelled").increment(1);
        Ok(changed)
    }

    async fn current(
        &self,
        tenant: Tenant,
        id: AppointmentId,
    ) -> Result<Appointment, AppointmentError> {
        let current = self
            .store
            .get_appointment(tenant, id)
            .await?
            .ok_or(AppointmentError::NotFound)?;
        if current.state != domain::appointment::AppointmentState::Scheduled {
            return Err(AppointmentError::Cancelled);
        }
        Ok(current)
    }
}
