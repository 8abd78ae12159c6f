//! `/api/v1/compliance`: explain a decision, the review queue of free-text opt-outs, the
//! internal do-not-call list (JSON and CSV) and the national registry snapshot; and
//! `/api/v1/leads/{id}/compliance`, one lead's standing.
//!
//! The dry run (`POST /api/v1/compliance/check`) goes through the same `Engine::assess` as a real
//! send, with the lead that owns the address in the caller's organisation: nothing is sent,
//! recorded or counted.

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use compliance::{Decision, Exemption, Reason};
use domain::{Address, Channel, LeadId, Purpose, ReviewId, Timestamp};
use engine::assess::Assessment;
use engine::dispatch::Outgoing;
use serde::{Deserialize, Serialize};
use store::compliance::{DNC_REASON, parse_address, registry_number};
use store::{ErasedLead, NewSuppression, RegistrySnapshot, Review, ReviewState, SuppressionEntry};

use crate::auth::{Auth, ClientIp, scope};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::views::ConsentEventView;
use crate::{AppState, actor_event};

/// The largest do-not-call CSV accepted.
pub const MAX_DNC_CSV: usize = 5 * 1024 * 1024;
/// The largest registry snapshot accepted: about five million numbers.
pub const MAX_REGISTRY: usize = 64 * 1024 * 1024;
/// Invalid lines named in a refusal, at most.
const MAX_NAMED_ERRORS: usize = 20;

/// A dry run of a message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// A phone number (E.164, or national in the organisation's region) or an email address.
    pub to: String,
    /// `sms` or `email`; must match `to`. Taken from `to` when absent.
    pub channel: Option<Channel>,
    pub purpose: Purpose,
    /// The instant to evaluate at (RFC 3339); now when absent.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<Timestamp>,
}

/// One rule's verdict.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReasonView {
    /// The rule's id: `federal.quiet_hours`, `consent.written`, `state.FL.frequency_cap`, ...
    pub rule: &'static str,
    /// Its legal source.
    pub source: &'static str,
    pub detail: String,
}

impl From<&Reason> for ReasonView {
    fn from(r: &Reason) -> Self {
        Self {
            rule: r.rule,
            source: r.source,
            detail: r.detail.clone(),
        }
    }
}

/// What a real send would get.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckResult {
    /// `send`, `defer` or `block`.
    pub decision: &'static str,
    /// For `defer`: the earliest instant every rule allows.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<Timestamp>,
    /// For `send`: every rule checked and passed; otherwise the rules that refuse.
    pub reasons: Vec<ReasonView>,
    /// The lead of the organisation that owns the address, if any.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub lead_id: Option<LeadId>,
    pub location: LocationView,
}

/// Where the recipient may be.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LocationView {
    /// How Leadline knows: `area_code`, `explicit_time_zone`, `zip`, `address`, `unknown`.
    pub basis: Vec<&'static str>,
    pub candidates: Vec<CandidateView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CandidateView {
    pub time_zone: String,
    /// The US state whose rules bind here; none for a territory or a place without one.
    pub state: Option<String>,
}

impl LocationView {
    fn of(a: &Assessment) -> Self {
        Self {
            basis: a.location.basis.iter().map(|b| b.as_str()).collect(),
            candidates: a
                .location
                .candidates
                .iter()
                .map(|c| CandidateView {
                    time_zone: c.zone_name.clone(),
                    state: c.state.clone(),
                })
                .collect(),
        }
    }
}

pub(crate) fn verdict(decision: &Decision) -> (&'static str, Option<Timestamp>, Vec<ReasonView>) {
    match decision {
        Decision::Send(permit) => (
            "send",
            None,
            permit.reasons().iter().map(Into::into).collect(),
        ),
        Decision::Defer { until, reasons } => (
            "defer",
            Some(*until),
            reasons.iter().map(Into::into).collect(),
        ),
        Decision::Block { reasons } => ("block", None, reasons.iter().map(Into::into).collect()),
    }
}

fn outgoing(
    tenant: domain::Tenant,
    organisation: store::TenantRecord,
    to: Address,
    purpose: Purpose,
) -> Outgoing {
    Outgoing {
        organisation: Some(organisation),
        attachments: Vec::new(),
        tenant,
        lead: None,
        to,
        from: String::new(),
        purpose,
        exemption: Exemption::None,
        subject: None,
        body: String::new(),
        dedupe_key: None,
        intake_at: None,
        answering: None,
        requested_at: None,
    }
}

/// Would a message to this address, for this purpose, go at that instant? A dry run of exactly
/// the check a real send makes: nothing is sent, recorded or counted.
#[utoipa::path(
    post, path = "/api/v1/compliance/check", tag = "compliance", request_body = CheckRequest,
    responses(
        (status = 200, description = "The decision and its reasons", body = CheckResult),
        (status = 422, description = "An invalid address, channel or purpose", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["leads:read"]), ("session" = []))
)]
pub async fn check(
    State(state): State<AppState>,
    key: Auth<scope::LeadsRead>,
    ApiJson { value: req, .. }: ApiJson<CheckRequest>,
) -> ApiResult<Json<CheckResult>> {
    let org = organisation(&state, key.tenant).await?;
    let Some(to) = parse_address(&req.to, &org.settings.default_region) else {
        return Err(ApiError::field(
            "to",
            "not a phone number or an email address",
        ));
    };
    if let Some(channel) = req.channel
        && channel != to.channel()
    {
        return Err(ApiError::field(
            "channel",
            format!(
                "`to` is {}, not {}",
                to.channel().as_str(),
                channel.as_str()
            ),
        ));
    }
    let at = req.at.unwrap_or_else(|| state.engine.clock.now());
    let assessment = state
        .engine
        .assess_at(&outgoing(key.tenant, org, to, req.purpose), at)
        .await?;
    let (decision, until, reasons) = verdict(&assessment.decision);
    Ok(Json(CheckResult {
        decision,
        until,
        reasons,
        lead_id: assessment.lead.as_ref().map(|l| l.id),
        location: LocationView::of(&assessment),
    }))
}

/// A lead's standing: consent, suppression, where they may be, and when each kind of message
/// could next go.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadCompliance {
    #[schema(value_type = String, format = Uuid)]
    pub lead_id: LeadId,
    /// The latest consent per purpose.
    pub consent: Vec<ConsentView>,
    pub suppression: Option<SuppressionView>,
    pub location: LocationView,
    /// The next allowed send, per channel the lead has and purpose.
    pub next_send: Vec<NextSend>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentView {
    pub purpose: Purpose,
    pub granted: bool,
    /// A grant with written evidence (needed for marketing).
    pub written: bool,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuppressionView {
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NextSend {
    pub channel: Channel,
    pub purpose: Purpose,
    /// `send` (now), `defer` (at `at`) or `block`.
    pub decision: &'static str,
    /// When it could go: now, the deferral's instant, or none when blocked.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<Timestamp>,
    pub reasons: Vec<ReasonView>,
}

/// A lead's consent, suppression, location candidates and next allowed send times.
#[utoipa::path(
    get, path = "/api/v1/leads/{id}/compliance", tag = "compliance",
    params(("id" = String, Path, description = "Lead id")),
    responses(
        (status = 200, description = "The lead's standing", body = LeadCompliance),
        (status = 404, description = "No such lead in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["leads:read"]), ("session" = []))
)]
pub async fn lead(
    State(state): State<AppState>,
    key: Auth<scope::LeadsRead>,
    ApiPath(id): ApiPath<LeadId>,
) -> ApiResult<Json<LeadCompliance>> {
    let lead = state
        .engine
        .store
        .get_lead(key.tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let addresses: Vec<Address> = lead
        .phone
        .clone()
        .map(Address::Phone)
        .into_iter()
        .chain(lead.email.clone().map(Address::Email))
        .collect();
    let org = organisation(&state, key.tenant).await?;
    let now = state.engine.clock.now();
    let mut next_send = Vec::new();
    let mut first: Option<Assessment> = None;
    for address in addresses {
        // The facts once per address; the decision for each purpose from them.
        let mut out = outgoing(
            key.tenant,
            org.clone(),
            address.clone(),
            Purpose::Transactional,
        );
        out.lead = Some(lead.clone());
        let assessment = state.engine.assess_at(&out, now).await?;
        for purpose in Purpose::ALL {
            let decided = assessment.decide(&address, purpose, Exemption::None, now);
            let (decision, until, reasons) = verdict(&decided);
            next_send.push(NextSend {
                channel: address.channel(),
                purpose,
                decision,
                at: match decision {
                    "send" => Some(now),
                    _ => until,
                },
                reasons,
            });
        }
        first.get_or_insert(assessment);
    }
    let (consent, suppression, location) = match &first {
        Some(a) => (
            a.recipient
                .consent
                .iter()
                .map(|c| ConsentView {
                    purpose: c.purpose,
                    granted: c.granted,
                    written: c.written,
                    at: c.at,
                })
                .collect(),
            a.recipient.suppression.as_ref().map(|s| SuppressionView {
                reason: s.reason.clone(),
                since: s.since,
            }),
            LocationView::of(a),
        ),
        None => (
            Vec::new(),
            None,
            LocationView {
                basis: Vec::new(),
                candidates: Vec::new(),
            },
        ),
    };
    Ok(Json(LeadCompliance {
        lead_id: id,
        consent,
        suppression,
        location,
        next_send,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    /// `open` (the default), `confirmed`, `dismissed` or `all`.
    pub state: Option<String>,
}

/// The review queue: free-text replies read as opt-outs, suppressed by default, newest first.
#[utoipa::path(
    get, path = "/api/v1/compliance/reviews", tag = "compliance", params(ReviewQuery),
    responses(
        (status = 200, description = "The reviews", body = Vec<Review>),
        (status = 400, description = "An unknown state", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["leads:read"]), ("session" = []))
)]
pub async fn reviews(
    State(state): State<AppState>,
    key: Auth<scope::LeadsRead>,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> ApiResult<Json<Vec<Review>>> {
    let filter = match q.state.as_deref().unwrap_or("open") {
        "all" => None,
        other => Some(
            ReviewState::parse(other)
                .ok_or_else(|| query_error("state", "one of open, confirmed, dismissed, all"))?,
        ),
    };
    Ok(Json(
        state.engine.store.list_reviews(key.tenant, filter).await?,
    ))
}

/// A person's verdict on a review.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveReview {
    /// `confirmed` (it is an opt-out: the suppression stays) or `dismissed` (it is not: the
    /// suppression it caused is lifted and the person's consent restored).
    pub resolution: ReviewState,
}

/// Confirms or dismisses an open review.
#[utoipa::path(
    post, path = "/api/v1/compliance/reviews/{id}", tag = "compliance", request_body = ResolveReview,
    params(("id" = String, Path, description = "The review")),
    responses(
        (status = 200, description = "Resolved", body = Review),
        (status = 404, description = "No such open review in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`resolution` is not confirmed or dismissed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["leads:write"]), ("session" = []))
)]
pub async fn resolve(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::LeadsWrite>,
    ApiPath(id): ApiPath<ReviewId>,
    ApiJson { value: req, .. }: ApiJson<ResolveReview>,
) -> ApiResult<Json<Review>> {
    if req.resolution == ReviewState::Open {
        return Err(ApiError::field("resolution", "one of confirmed, dismissed"));
    }
    let (kind, actor) = key.actor.audit_actor();
    let by = format!("{}:{actor}", kind.as_str());
    let review = state
        .engine
        .resolve_review(key.tenant, id.as_uuid(), req.resolution, &by)
        .await?
        .ok_or_else(ApiError::not_found)?;
    state
        .audit(actor_event(
            key.tenant,
            &key.actor,
            "compliance.review_resolved",
            "review",
            id.to_string(),
            ip,
            serde_json::json!({ "resolution": req.resolution.as_str(), "matched": review.matched }),
        ))
        .await?;
    Ok(Json(review))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DncQuery {
    /// `json` (the default) or `csv`.
    pub format: Option<String>,
    /// `true` to include entries that were lifted (an opt-in, a removal); they are kept.
    pub include_lifted: Option<String>,
}

/// The internal do-not-call list: every suppressed address of the organisation (opt-outs,
/// do-not-call requests, bounces, unsubscribes), oldest first, as JSON or CSV
/// (`address,channel,reason,source,created_at,lifted_at`).
#[utoipa::path(
    get, path = "/api/v1/compliance/dnc", tag = "compliance", params(DncQuery),
    responses(
        (status = 200, description = "The list", body = Vec<SuppressionEntry>),
        (status = 400, description = "An unknown format, or include_lifted not true or false", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["settings:read"]), ("session" = []))
)]
pub async fn dnc_list(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::SettingsRead>,
    ApiQuery(q): ApiQuery<DncQuery>,
) -> ApiResult<Response> {
    let csv = match q.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        _ => return Err(query_error("format", "one of json, csv")),
    };
    let include_lifted = match q.include_lifted.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(query_error("include_lifted", "true or false")),
    };
    let entries = state
        .engine
        .store
        .list_suppressions(key.tenant, include_lifted)
        .await?;
    state
        .audit(actor_event(
            key.tenant,
            &key.actor,
            "compliance.dnc_export",
            "organisation",
            key.tenant.id().to_string(),
            ip,
            serde_json::json!({ "entries": entries.len(), "format": if csv { "csv" } else { "json" } }),
        ))
        .await?;
    if !csv {
        return Ok(Json(entries).into_response());
    }
    let mut out = csv_writer();
    let header = [
        "address",
        "channel",
        "reason",
        "source",
        "created_at",
        "lifted_at",
    ];
    out.write_record(header)
        .map_err(|e| ApiError::internal(&e))?;
    for e in &entries {
        out.write_record([
            spreadsheet_safe(e.address.as_deref().unwrap_or("")).as_ref(),
            e.channel.as_str(),
            &e.reason,
            &e.source,
            &e.created_at.to_string(),
            &e.lifted_at.map(|t| t.to_string()).unwrap_or_default(),
        ])
        .map_err(|e| ApiError::internal(&e))?;
    }
    let body = out.into_inner().map_err(|e| ApiError::internal(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"do-not-call.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// A cell that a spreadsheet will not run as a formula: a value starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading `'` (OWASP, CSV injection), except an E.164
/// number (`+` and digits only), which no spreadsheet can run. The import strips the `'`.
fn spreadsheet_safe(value: &str) -> std::borrow::Cow<'_, str> {
    let phone =
        value.len() > 1 && value.starts_with('+') && value[1..].bytes().all(|b| b.is_ascii_digit());
    if !phone && value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{value}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// The caller's organisation (its region, rules and brand), read once per request.
async fn organisation(state: &AppState, tenant: domain::Tenant) -> ApiResult<store::TenantRecord> {
    state
        .engine
        .store
        .get_tenant(tenant.id())
        .await?
        .ok_or_else(ApiError::not_found)
}

/// A query parameter with a value it cannot have: 400 naming it, like the query extractor.
pub(crate) fn query_error(field: &str, message: &str) -> ApiError {
    let mut e = ApiError::bad_request(format!("query parameter {field}: {message}"));
    e.errors.push(FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    });
    e
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().from_writer(Vec::new())
}

/// An address for the do-not-call list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DncEntry {
    /// A phone number or an email address.
    pub address: String,
}

/// What an addition or an import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DncResult {
    /// Entries added (or renewed after a lift).
    pub added: u64,
    /// Entries that were on the list already (their first reason and time are kept).
    pub unchanged: u64,
}

/// Puts one address on the do-not-call list, at once.
#[utoipa::path(
    post, path = "/api/v1/compliance/dnc", tag = "compliance", request_body = DncEntry,
    responses(
        (status = 200, description = "On the list", body = DncResult),
        (status = 422, description = "Not a phone number or an email address", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["settings:write"]), ("session" = []))
)]
pub async fn dnc_add(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::SettingsWrite>,
    ApiJson { value: req, .. }: ApiJson<DncEntry>,
) -> ApiResult<Json<DncResult>> {
    let region = state.settings(key.tenant).await?.default_region;
    let address = parse_address(&req.address, &region)
        .ok_or_else(|| ApiError::field("address", "not a phone number or an email address"))?;
    add_to_dnc(&state, &key, ip, vec![address], "api").await
}

/// Imports a CSV of addresses onto the do-not-call list: the column `address` (or, without a
/// header naming it, the first column). All or nothing: a file with an unreadable line is
/// refused whole, with the lines named.
#[utoipa::path(
    post, path = "/api/v1/compliance/dnc/import", tag = "compliance",
    request_body(content = String, content_type = "text/csv", description = "One address per row"),
    responses(
        (status = 200, description = "Imported", body = DncResult),
        (status = 413, description = "Larger than 5 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Lines that are not addresses, named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["settings:write"]), ("session" = []))
)]
pub async fn dnc_import(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::SettingsWrite>,
    body: Body,
) -> ApiResult<Json<DncResult>> {
    let bytes = to_bytes(body, MAX_DNC_CSV)
        .await
        .map_err(|_| ApiError::too_large(MAX_DNC_CSV))?;
    let region = state.settings(key.tenant).await?.default_region;
    let addresses = parse_dnc_csv(&bytes, &region)?;
    add_to_dnc(&state, &key, ip, addresses, "csv").await
}

/// The addresses of a do-not-call CSV, or a 422 naming the bad lines.
fn parse_dnc_csv(bytes: &[u8], region: &str) -> ApiResult<Vec<Address>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut addresses = Vec::new();
    let mut errors = Vec::new();
    let mut column = 0;
    for (index, record) in reader.records().enumerate() {
        let line = index + 1;
        let record = match record {
            Ok(r) => r,
            Err(_) => {
                errors.push(FieldError {
                    field: format!("line {line}"),
                    message: "not readable as CSV".to_owned(),
                });
                continue;
            }
        };
        if index == 0
            && let Some(at) = record
                .iter()
                .position(|f| f.trim().eq_ignore_ascii_case("address"))
        {
            column = at;
            continue;
        }
        let value = record.get(column).unwrap_or("").trim();
        // An export's spreadsheet-safe quote.
        let value = value.strip_prefix('\'').unwrap_or(value);
        if value.is_empty() {
            continue;
        }
        match parse_address(value, region) {
            Some(address) => addresses.push(address),
            None => errors.push(FieldError {
                field: format!("line {line}"),
                message: "not a phone number or an email address".to_owned(),
            }),
        }
    }
    if !errors.is_empty() {
        errors.truncate(MAX_NAMED_ERRORS);
        return Err(ApiError::validation(errors));
    }
    if addresses.is_empty() {
        return Err(ApiError::field("body", "no addresses"));
    }
    Ok(addresses)
}

async fn add_to_dnc<S: crate::auth::Scope>(
    state: &AppState,
    key: &Auth<S>,
    ip: Option<std::net::IpAddr>,
    mut addresses: Vec<Address>,
    source: &str,
) -> ApiResult<Json<DncResult>> {
    addresses.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    addresses.dedup();
    let total = addresses.len() as u64;
    let added = state
        .engine
        .store
        .suppress(
            key.tenant,
            NewSuppression::each(&addresses, DNC_REASON, source),
            state.engine.clock.now(),
        )
        .await?;
    state
        .audit(actor_event(
            key.tenant,
            &key.actor,
            "compliance.dnc_add",
            "organisation",
            key.tenant.id().to_string(),
            ip,
            serde_json::json!({ "added": added, "entries": total, "source": source }),
        ))
        .await?;
    Ok(Json(DncResult {
        added,
        unchanged: total.saturating_sub(added),
    }))
}

/// Takes an address off the do-not-call list: only an entry the organisation put there (a
/// person's own opt-out is lifted only by the person). The entry is kept, marked lifted.
#[utoipa::path(
    post, path = "/api/v1/compliance/dnc/remove", tag = "compliance", request_body = DncEntry,
    responses(
        (status = 200, description = "Lifted"),
        (status = 404, description = "The address has no live entry of the organisation's own", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a phone number or an email address", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["settings:write"]), ("session" = []))
)]
pub async fn dnc_remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::SettingsWrite>,
    ApiJson { value: req, .. }: ApiJson<DncEntry>,
) -> ApiResult<StatusCode> {
    let region = state.settings(key.tenant).await?.default_region;
    let address = parse_address(&req.address, &region)
        .ok_or_else(|| ApiError::field("address", "not a phone number or an email address"))?;
    let lifted = state
        .engine
        .store
        .lift_suppressions(
            key.tenant,
            &[address],
            &[DNC_REASON],
            state.engine.clock.now(),
        )
        .await?;
    if lifted == 0 {
        return Err(ApiError::not_found());
    }
    state
        .audit(actor_event(
            key.tenant,
            &key.actor,
            "compliance.dnc_remove",
            "organisation",
            key.tenant.id().to_string(),
            ip,
            serde_json::json!({ "lifted": lifted }),
        ))
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RegistryQuery {
    /// When the registry data was downloaded (RFC 3339): the 31-day clock runs from here.
    #[param(value_type = String, format = DateTime)]
    pub taken_at: Timestamp,
}

/// The organisation's national registry snapshot, if any, and whether it is still fresh.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegistryView {
    pub snapshot: Option<RegistrySnapshot>,
    /// Younger than 31 days: marketing to numbers that need the check may go.
    pub fresh: bool,
}

/// Replaces the national do-not-call registry snapshot: one ten-digit number per line (the
/// registry's download format). All or nothing: a file with a bad line is refused whole.
#[utoipa::path(
    put, path = "/api/v1/compliance/dnc-registry", tag = "compliance", params(RegistryQuery),
    request_body(content = String, content_type = "text/plain", description = "Ten-digit numbers, one per line"),
    responses(
        (status = 200, description = "Imported", body = RegistryView),
        (status = 413, description = "Larger than 64 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Lines that are not ten-digit numbers, named; or a snapshot time in the future", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["settings:write"]), ("session" = []))
)]
pub async fn registry_put(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::SettingsWrite>,
    ApiQuery(q): ApiQuery<RegistryQuery>,
    body: Body,
) -> ApiResult<Json<RegistryView>> {
    let now = state.engine.clock.now();
    if q.taken_at > now {
        return Err(ApiError::field("taken_at", "is in the future"));
    }
    let bytes = to_bytes(body, MAX_REGISTRY)
        .await
        .map_err(|_| ApiError::too_large(MAX_REGISTRY))?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| ApiError::field("body", "not UTF-8 text"))?;
    let mut numbers = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_text = line.trim();
        if line_text.is_empty() {
            continue;
        }
        match registry_number(line_text) {
            Some(phone) => numbers.push(phone),
            None if errors.len() < MAX_NAMED_ERRORS => errors.push(FieldError {
                field: format!("line {}", index + 1),
                message: "not a ten-digit number".to_owned(),
            }),
            None => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let snapshot = state
        .engine
        .store
        .replace_registry(key.tenant, q.taken_at, numbers, now)
        .await?;
    state
        .audit(actor_event(
            key.tenant,
            &key.actor,
            "compliance.registry_import",
            "organisation",
            key.tenant.id().to_string(),
            ip,
            serde_json::json!({ "numbers": snapshot.numbers, "taken_at": snapshot.taken_at }),
        ))
        .await?;
    Ok(Json(view(Some(snapshot), now)))
}

/// The national registry snapshot in use.
#[utoipa::path(
    get, path = "/api/v1/compliance/dnc-registry", tag = "compliance",
    responses((status = 200, description = "The snapshot, if any", body = RegistryView)),
    security(("api_key" = ["settings:read"]), ("session" = []))
)]
pub async fn registry_get(
    State(state): State<AppState>,
    key: Auth<scope::SettingsRead>,
) -> ApiResult<Json<RegistryView>> {
    let snapshot = state.engine.store.registry_snapshot(key.tenant).await?;
    Ok(Json(view(snapshot, state.engine.clock.now())))
}

fn view(snapshot: Option<RegistrySnapshot>, now: Timestamp) -> RegistryView {
    RegistryView {
        fresh: snapshot.is_some_and(|s| {
            s.taken_at
                .checked_add(compliance::rules::SNAPSHOT_MAX_AGE)
                .is_ok_and(|until| now <= until)
        }),
        snapshot,
    }
}

/// Erases a lead at the person's request (GDPR erasure, CCPA deletion): their personal data,
/// messages and touches are deleted at once; their addresses stay on the do-not-call list as
/// blind indexes only, so they are never contacted again; their consent evidence is kept (five
/// years, 16 CFR 310.5) and stays readable at `/api/v1/compliance/consent/{id}`.
#[utoipa::path(
    delete, path = "/api/v1/leads/{id}", tag = "compliance",
    params(("id" = String, Path, description = "Lead id")),
    responses(
        (status = 200, description = "Erased", body = ErasedLead),
        (status = 404, description = "No such lead in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["settings:write"]), ("session" = []))
)]
pub async fn erase(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::SettingsWrite>,
    ApiPath(id): ApiPath<LeadId>,
) -> ApiResult<Json<ErasedLead>> {
    let erased = state
        .engine
        .store
        .erase_lead(key.tenant, id, state.engine.clock.now())
        .await?
        .ok_or_else(ApiError::not_found)?;
    // No personal data in the entry: the lead id and what was removed.
    state
        .audit(actor_event(
            key.tenant,
            &key.actor,
            "lead.erase",
            "lead",
            id.to_string(),
            ip,
            serde_json::json!({
                "messages": erased.messages,
                "suppressed_addresses": erased.suppressed_addresses,
            }),
        ))
        .await?;
    Ok(Json(erased))
}

/// A lead's consent evidence, oldest first: kept, and readable here, after the lead is erased.
#[utoipa::path(
    get, path = "/api/v1/compliance/consent/{id}", tag = "compliance",
    params(("id" = String, Path, description = "Lead id, live or erased")),
    responses(
        (status = 200, description = "The consent events", body = Vec<ConsentEventView>),
        (status = 404, description = "No consent events for that lead in this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["audit:read"]), ("session" = []))
)]
pub async fn consent(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::AuditRead>,
    ApiPath(id): ApiPath<LeadId>,
) -> ApiResult<Json<Vec<ConsentEventView>>> {
    let events = state
        .engine
        .store
        .list_consent_events(key.tenant, id)
        .await?;
    if events.is_empty() {
        return Err(ApiError::not_found());
    }
    state
        .audit(actor_event(
            key.tenant,
            &key.actor,
            "consent.read",
            "lead",
            id.to_string(),
            ip,
            serde_json::json!({ "events": events.len() }),
        ))
        .await?;
    Ok(Json(
        events.into_iter().map(ConsentEventView::from).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_cells_never_start_a_formula() {
        assert_eq!(spreadsheet_safe("+13125550100"), "+13125550100");
        assert_eq!(spreadsheet_safe("jane@example.com"), "jane@example.com");
        assert_eq!(spreadsheet_safe("=cmd@example.com"), "'=cmd@example.com");
        assert_eq!(spreadsheet_safe("-x@example.com"), "'-x@example.com");
        assert_eq!(spreadsheet_safe("@x"), "'@x");
        assert_eq!(spreadsheet_safe("+x@example.com"), "'+x@example.com");
        assert_eq!(spreadsheet_safe(""), "");
        // What the export quotes, the import reads back.
        let parsed = parse_dnc_csv(b"address\n'=cmd@example.com\n", "US").unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].as_str(), "=cmd@example.com");
    }
}
