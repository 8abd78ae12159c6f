//! `/api/v1/sequences`: follow-up sequences, their versions, the runs of leads through them,
//! and a dry run of a lead's run.
//!
//! A sequence is written as JSON: its steps (channel, delay, purpose, template, conditions), its
//! exit rules and which new leads it takes. Every problem is named by its field
//! (`steps[2].delay`). Saving a sequence makes a new version; runs already started keep theirs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::sequence::{
    Definition, EnrolRules, Enrolment, EnrolmentState, ExitRule, Sequence, Step,
};
use domain::{Channel, EnrolmentId, LeadId, Purpose, SequenceId, Timestamp};
use engine::sequences::EnrolError;
use serde::{Deserialize, Serialize};
use store::NewSequence;

use crate::auth::{Auth, ClientIp, scope};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::compliance::{ReasonView, query_error, verdict};
use crate::views::ts;
use crate::{AppState, actor_event};

/// A sequence as it is written.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SequenceInput {
    pub name: String,
    /// In order; 1 to 20.
    pub steps: Vec<Step>,
    /// What ends a run early: `reply`, `booking`, `opt_out` (always applies), `status_change`,
    /// `manual`. Default: reply, booking, opt_out.
    #[serde(default)]
    pub exit_on: Option<Vec<ExitRule>>,
    /// Which new leads join at intake: `{"sources": ["web_form", "facebook"]}` (`*` for all).
    #[serde(default)]
    pub enrol: Option<EnrolRules>,
}

impl SequenceInput {
    /// The name and definition, or every problem named by its field.
    fn check(self) -> Result<(String, Definition), ApiError> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            errors.push(FieldError {
                field: "name".into(),
                message: "must be 1 to 100 characters".into(),
            });
        }
        let definition = Definition {
            steps: self.steps,
            exit_on: self
                .exit_on
                .unwrap_or_else(|| vec![ExitRule::Reply, ExitRule::Booking, ExitRule::OptOut]),
            enrol: self.enrol.unwrap_or_default(),
        };
        errors.extend(
            engine::sequences::check(&definition)
                .into_iter()
                .map(|(field, message)| FieldError { field, message }),
        );
        if errors.is_empty() {
            Ok((name, definition))
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// A sequence at one version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SequenceView {
    pub id: SequenceId,
    pub name: String,
    /// 1 for a new sequence; each save adds one.
    pub version: i32,
    pub steps: Vec<Step>,
    pub exit_on: Vec<ExitRule>,
    pub enrol: EnrolRules,
    /// Set once archived: no new runs.
    pub archived_at: Option<String>,
    pub created_at: String,
    /// When this version was saved.
    pub updated_at: String,
}

impl From<Sequence> for SequenceView {
    fn from(s: Sequence) -> Self {
        Self {
            id: s.id,
            name: s.name,
            version: s.version,
            steps: s.definition.steps,
            exit_on: s.definition.exit_on,
            enrol: s.definition.enrol,
            archived_at: s.archived_at.map(ts),
            created_at: ts(s.created_at),
            updated_at: ts(s.updated_at),
        }
    }
}

/// A lead's run through a sequence.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnrolmentView {
    pub id: EnrolmentId,
    pub lead_id: LeadId,
    pub sequence_id: SequenceId,
    /// The sequence's version the run follows.
    pub version: i32,
    pub state: EnrolmentState,
    /// The next step's index (the steps done so far).
    pub step: i32,
    /// When the next step is due (compliance may move it later); none once over.
    pub next_run_at: Option<String>,
    /// Why it ended early: `reply`, `booking`, `opt_out`, `status_change`, `manual`.
    pub exit_reason: Option<String>,
    pub enrolled_at: String,
    pub updated_at: String,
    /// `manual` (the API), `intake` (a source rule) or `recovery` (a silent-lead rule: every
    /// step goes as marketing).
    pub origin: domain::sequence::Origin,
}

impl From<Enrolment> for EnrolmentView {
    fn from(e: Enrolment) -> Self {
        Self {
            id: e.id,
            lead_id: e.lead_id,
            sequence_id: e.sequence_id,
            version: e.version,
            state: e.state,
            step: e.step,
            next_run_at: e.next_run_at.map(ts),
            exit_reason: e.exit_reason,
            enrolled_at: ts(e.enrolled_at),
            updated_at: ts(e.updated_at),
            origin: e.origin,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SequenceList {
    pub data: Vec<SequenceView>,
}

/// The organisation's sequences at their latest versions.
#[utoipa::path(
    get, path = "/api/v1/sequences", tag = "sequences",
    responses((status = 200, description = "Every sequence, archived ones included", body = SequenceList)),
    security(("session" = []), ("api_key" = ["leads:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth<scope::LeadsRead>,
) -> ApiResult<Json<SequenceList>> {
    let data = state.engine.store.list_sequences(auth.tenant).await?;
    Ok(Json(SequenceList {
        data: data.into_iter().map(Into::into).collect(),
    }))
}

/// Creates a sequence (version 1).
#[utoipa::path(
    post, path = "/api/v1/sequences", tag = "sequences", request_body = SequenceInput,
    responses(
        (status = 201, description = "Created", body = SequenceView),
        (status = 422, description = "Every problem, named by its field (`steps[2].delay`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
    body: ApiJson<SequenceInput>,
) -> ApiResult<(StatusCode, Json<SequenceView>)> {
    let (name, definition) = body.value.check()?;
    let sequence = state
        .engine
        .store
        .create_sequence(
            auth.tenant,
            NewSequence {
                id: SequenceId::new(),
                name,
                definition,
                created_at: state.engine.clock.now(),
            },
        )
        .await?;
    state.engine.forget_sequences(auth.tenant);
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "sequence.create",
            "sequence",
            sequence.id.to_string(),
            ip,
            serde_json::json!({ "name": sequence.name, "steps": sequence.definition.steps.len() }),
        ))
        .await?;
    Ok((StatusCode::CREATED, Json(sequence.into())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// A past version (1, 2, ...); default the latest.
    pub version: Option<String>,
}

/// A sequence, at its latest version or the one asked for.
#[utoipa::path(
    get, path = "/api/v1/sequences/{id}", tag = "sequences",
    params(("id" = String, Path, description = "The sequence"), VersionQuery),
    responses(
        (status = 200, description = "The sequence", body = SequenceView),
        (status = 404, description = "No such sequence (or version) in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:read"]))
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth<scope::LeadsRead>,
    ApiPath(id): ApiPath<SequenceId>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> ApiResult<Json<SequenceView>> {
    let version = match query.version.as_deref() {
        None => None,
        Some(v) => Some(
            v.parse::<i32>()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| query_error("version", "must be a version number (1, 2, ...)"))?,
        ),
    };
    let sequence = state
        .engine
        .store
        .get_sequence(auth.tenant, id, version)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(sequence.into()))
}

/// Saves a new version. Runs already started finish on the version they started with; new
/// runs take this one.
#[utoipa::path(
    put, path = "/api/v1/sequences/{id}", tag = "sequences", request_body = SequenceInput,
    params(("id" = String, Path, description = "The sequence")),
    responses(
        (status = 200, description = "The new version", body = SequenceView),
        (status = 404, description = "No such live sequence in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every problem, named by its field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn update(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
    ApiPath(id): ApiPath<SequenceId>,
    body: ApiJson<SequenceInput>,
) -> ApiResult<Json<SequenceView>> {
    let (name, definition) = body.value.check()?;
    let sequence = state
        .engine
        .store
        .update_sequence(auth.tenant, id, name, definition, state.engine.clock.now())
        .await?
        .ok_or_else(ApiError::not_found)?;
    state.engine.forget_sequences(auth.tenant);
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "sequence.update",
            "sequence",
            id.to_string(),
            ip,
            serde_json::json!({ "version": sequence.version }),
        ))
        .await?;
    Ok(Json(sequence.into()))
}

/// Archives a sequence: no new runs; running ones finish.
#[utoipa::path(
    delete, path = "/api/v1/sequences/{id}", tag = "sequences",
    params(("id" = String, Path, description = "The sequence")),
    responses(
        (status = 204, description = "Archived"),
        (status = 404, description = "No such live sequence in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["settings:write"]))
)]
pub async fn archive(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
    ApiPath(id): ApiPath<SequenceId>,
) -> ApiResult<StatusCode> {
    if !state
        .engine
        .store
        .archive_sequence(auth.tenant, id, state.engine.clock.now())
        .await?
    {
        return Err(ApiError::not_found());
    }
    state.engine.forget_sequences(auth.tenant);
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "sequence.archive",
            "sequence",
            id.to_string(),
            ip,
            serde_json::json!({}),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolInput {
    pub lead_id: LeadId,
}

async fn lead_and_sequence(
    state: &AppState,
    tenant: domain::Tenant,
    sequence: SequenceId,
    lead: LeadId,
) -> ApiResult<(domain::Lead, Sequence)> {
    let store = &state.engine.store;
    let sequence = store
        .get_sequence(tenant, sequence, None)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let lead = store
        .get_lead(tenant, lead)
        .await?
        .ok_or_else(|| ApiError::field("lead_id", "no such lead in this organisation"))?;
    Ok((lead, sequence))
}

/// Starts a lead on the sequence's latest version; its first step is due after its delay.
#[utoipa::path(
    post, path = "/api/v1/sequences/{id}/enrolments", tag = "sequences", request_body = EnrolInput,
    params(("id" = String, Path, description = "The sequence")),
    responses(
        (status = 201, description = "Enrolled", body = EnrolmentView),
        (status = 404, description = "No such sequence in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The lead runs it already, the sequence is archived, or the lead opted out", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such lead", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:write"]))
)]
pub async fn enrol(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::LeadsWrite>,
    ApiPath(id): ApiPath<SequenceId>,
    body: ApiJson<EnrolInput>,
) -> ApiResult<(StatusCode, Json<EnrolmentView>)> {
    let (lead, sequence) = lead_and_sequence(&state, auth.tenant, id, body.value.lead_id).await?;
    let conflict = |kind: &'static str, detail: &str| {
        Err(ApiError::new(StatusCode::CONFLICT, kind, "Cannot enrol").detail(detail))
    };
    let enrolment = match state
        .engine
        .enrol(
            auth.tenant,
            &lead,
            &sequence,
            domain::sequence::Origin::Manual,
        )
        .await
    {
        Ok(e) => e,
        Err(EnrolError::AlreadyRunning) => {
            return conflict(
                "already-enrolled",
                "the lead is running this sequence already",
            );
        }
        Err(EnrolError::Archived) => {
            return conflict("sequence-archived", "the sequence is archived");
        }
        Err(EnrolError::OptedOut) => return conflict("opted-out", "the lead has opted out"),
        Err(EnrolError::Engine(e)) => return Err(e.into()),
    };
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "enrolment.start",
            "enrolment",
            enrolment.id.to_string(),
            ip,
            serde_json::json!({ "lead_id": lead.id, "sequence_id": sequence.id, "version": sequence.version }),
        ))
        .await?;
    Ok((StatusCode::CREATED, Json(enrolment.into())))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnrolmentList {
    pub data: Vec<EnrolmentView>,
}

/// A lead's runs, newest first.
#[utoipa::path(
    get, path = "/api/v1/leads/{id}/enrolments", tag = "sequences",
    params(("id" = String, Path, description = "The lead")),
    responses(
        (status = 200, description = "The lead's runs", body = EnrolmentList),
        (status = 404, description = "No such lead in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:read"]))
)]
pub async fn lead_enrolments(
    State(state): State<AppState>,
    auth: Auth<scope::LeadsRead>,
    ApiPath(id): ApiPath<LeadId>,
) -> ApiResult<Json<EnrolmentList>> {
    let store = &state.engine.store;
    store
        .get_lead(auth.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let data = store.list_enrolments(auth.tenant, id).await?;
    Ok(Json(EnrolmentList {
        data: data.into_iter().map(Into::into).collect(),
    }))
}

/// Ends a run by hand (exit reason `manual`).
#[utoipa::path(
    post, path = "/api/v1/enrolments/{id}/exit", tag = "sequences",
    params(("id" = String, Path, description = "The run")),
    responses(
        (status = 200, description = "Ended", body = EnrolmentView),
        (status = 404, description = "No such run in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run is over already", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:write"]))
)]
pub async fn exit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::LeadsWrite>,
    ApiPath(id): ApiPath<EnrolmentId>,
) -> ApiResult<Json<EnrolmentView>> {
    let store = &state.engine.store;
    store
        .get_enrolment(auth.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !state.engine.exit_run(auth.tenant, id).await? {
        return Err(
            ApiError::new(StatusCode::CONFLICT, "run-over", "The run is over")
                .detail("the run has completed or ended already"),
        );
    }
    state
        .audit(actor_event(
            auth.tenant,
            &auth.actor,
            "enrolment.exit",
            "enrolment",
            id.to_string(),
            ip,
            serde_json::json!({ "reason": "manual" }),
        ))
        .await?;
    let run = store
        .get_enrolment(auth.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(run.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateInput {
    pub lead_id: LeadId,
    /// When the run would start (RFC 3339); default now.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start: Option<Timestamp>,
}

/// One step of a simulated run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlannedStep {
    pub step: usize,
    pub channel: Channel,
    pub purpose: Purpose,
    /// When the step falls due by its delay.
    pub due_at: String,
    /// `send` (at `due_at`), `defer` (at `send_at`), `block`, or `skip` (see `skipped`:
    /// `conditions`, `no_address`, or `template_error` when the template does not render for
    /// this lead).
    pub decision: &'static str,
    /// When it would go.
    pub send_at: Option<String>,
    pub skipped: Option<&'static str>,
    pub reasons: Vec<ReasonView>,
    pub subject: Option<String>,
    /// The message as the lead would read it.
    pub body: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Simulation {
    pub sequence_id: SequenceId,
    pub version: i32,
    pub lead_id: LeadId,
    pub start: String,
    pub steps: Vec<PlannedStep>,
}

/// The run a lead would have, step by step: when each step falls due, and what compliance
/// would decide then (quiet hours at the lead's location, consent, caps). A deferral moves the
/// step and those after it. Nothing is sent or recorded. It assumes the lead does not reply,
/// and counts caps from messages already sent, not the simulated ones.
#[utoipa::path(
    post, path = "/api/v1/sequences/{id}/simulate", tag = "sequences", request_body = SimulateInput,
    params(("id" = String, Path, description = "The sequence")),
    responses(
        (status = 200, description = "The planned run", body = Simulation),
        (status = 404, description = "No such sequence in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such lead", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("api_key" = ["leads:read"]))
)]
pub async fn simulate(
    State(state): State<AppState>,
    auth: Auth<scope::LeadsRead>,
    ApiPath(id): ApiPath<SequenceId>,
    body: ApiJson<SimulateInput>,
) -> ApiResult<Json<Simulation>> {
    let input = body.value;
    let (lead, sequence) = lead_and_sequence(&state, auth.tenant, id, input.lead_id).await?;
    let start = input.start.unwrap_or_else(|| state.engine.clock.now());
    let plan = state
        .engine
        .simulate(auth.tenant, &lead, &sequence, start)
        .await?;
    let steps = plan
        .into_iter()
        .map(|p| {
            let (decision, send_at, reasons) = match &p.decision {
                Some(d) => {
                    let (decision, until, reasons) = verdict(d);
                    let at = match decision {
                        "send" => Some(p.due_at),
                        _ => until,
                    };
                    (decision, at, reasons)
                }
                None => ("skip", None, Vec::new()),
            };
            PlannedStep {
                step: p.step,
                channel: p.channel,
                purpose: p.purpose,
                due_at: ts(p.due_at),
                decision,
                send_at: send_at.map(ts),
                skipped: p.skipped,
                reasons,
                subject: p.subject,
                body: p.body,
            }
        })
        .collect();
    Ok(Json(Simulation {
        sequence_id: sequence.id,
        version: sequence.version,
        lead_id: lead.id,
        start: ts(start),
        steps,
    }))
}
