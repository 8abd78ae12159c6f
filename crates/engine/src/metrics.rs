//! Metric names and their descriptions. Labels never carry tenant names, ids or personal data.

/// Leads accepted through intake (new or repeat).
pub const LEADS_ACCEPTED: &str = "leadline_leads_accepted_total";
/// Seconds from a lead's arrival to the provider call of its first answer.
pub const INTAKE_TO_PROVIDER: &str = "leadline_intake_to_provider_seconds";
/// Jobs ready or running.
pub const QUEUE_DEPTH: &str = "leadline_queue_depth";
/// Provider calls that failed, by provider and kind (transient, permanent).
pub const PROVIDER_ERRORS: &str = "leadline_provider_errors_total";
/// Messages by outcome (sent, deferred, blocked, failed).
pub const MESSAGES: &str = "leadline_messages_total";
/// Jobs finished, by kind and outcome (done, retry, dead).
pub const JOBS: &str = "leadline_jobs_total";
/// Audit entries that could not be staged (the change is made; its entry is missing).
pub const AUDIT_STAGE_FAILURES: &str = "leadline_audit_stage_failures_total";
/// Audit entries staged and not yet chained.
pub const AUDIT_STAGED: &str = "leadline_audit_staged";

/// Inbound webhook requests, by source kind and outcome (`accepted`, `replayed`, `honeypot`,
/// `rejected`), with the reason of a rejection (`bad_signature`, `origin`, ...).
pub const WEBHOOKS: &str = "leadline_webhooks_total";

/// Free-text opt-outs suppressed and queued for review, by the phrase rule that matched.
pub const REVIEWS: &str = "leadline_compliance_reviews_total";

/// Provider reports about sent messages, by provider and outcome (`moved`, `unchanged`,
/// `unknown`).
pub const RECEIPTS: &str = "leadline_provider_receipts_total";
/// Sequence runs started and ended, by how (`started`, `completed`, an exit rule).
pub const ENROLMENTS: &str = "leadline_enrolments_total";
/// Sequence steps run, by outcome (`sent`, `skipped`, `blocked`, `deferred`, `failed`).
pub const SEQUENCE_STEPS: &str = "leadline_sequence_steps_total";
/// Appointments booked, rescheduled and cancelled (`change`).
pub const APPOINTMENTS: &str = "leadline_appointments_total";
/// Appointment reminders by `outcome` (sent, blocked, too_late, lapsed, failed).
pub const REMINDERS: &str = "leadline_reminders_total";
/// Silent-lead recovery: runs started, leads retired, rules skipped (`outcome`).
pub const RECOVERY: &str = "leadline_recovery_total";
/// The AI writer's drafts by `outcome` (used, cached, budget, guard, error).
pub const AI_WRITER: &str = "leadline_ai_writer_total";

/// Registers descriptions with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(LEADS_ACCEPTED, "Leads accepted through intake");
    metrics::describe_histogram!(
        INTAKE_TO_PROVIDER,
        metrics::Unit::Seconds,
        "From a lead's arrival to the provider call of its first answer"
    );
    metrics::describe_gauge!(QUEUE_DEPTH, "Jobs ready or running");
    metrics::describe_counter!(PROVIDER_ERRORS, "Failed provider calls");
    metrics::describe_counter!(MESSAGES, "Outbound messages by outcome");
    metrics::describe_counter!(JOBS, "Jobs finished by kind and outcome");
    metrics::describe_counter!(
        AUDIT_STAGE_FAILURES,
        "Audit entries that could not be staged"
    );
    metrics::describe_counter!(WEBHOOKS, "Inbound webhook requests by kind and outcome");
    metrics::describe_counter!(REVIEWS, "Free-text opt-outs queued for review");
    metrics::describe_counter!(RECEIPTS, "Provider reports about sent messages");
    metrics::describe_counter!(ENROLMENTS, "Sequence runs started and ended, by how");
    metrics::describe_counter!(SEQUENCE_STEPS, "Sequence steps run, by outcome");
    metrics::describe_counter!(APPOINTMENTS, "Appointment changes, by change");
    metrics::describe_counter!(REMINDERS, "Appointment reminders, by outcome");
    metrics::describe_counter!(RECOVERY, "Silent-lead recovery, by outcome");
    metrics::describe_counter!(AI_WRITER, "AI writer drafts, by outcome");
    metrics::describe_counter!(
        providers::http::CALLS,
        "Provider API calls by provider and outcome"
    );
    metrics::describe_gauge!(
        providers::http::CIRCUIT_OPEN,
        "1 while a provider account's circuit breaker is open"
    );
    metrics::describe_gauge!(AUDIT_STAGED, "Audit entries staged and not yet chained");
}
