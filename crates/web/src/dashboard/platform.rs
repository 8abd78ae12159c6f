//! The platform operator's pages: client organisations, created, suspended and resumed through
//! the API's own handlers. Operators see no organisation's data here.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use domain::TenantId;
use serde::Deserialize;

use super::session::{Form, Seat, see_other};
use super::{Id, PageError, Shell, render, when};
use crate::AppState;
use crate::auth::{ClientIp, OperatorSession, SignedIn};
use crate::extract::{ApiJson, ApiPath};
use crate::routes::platform::CreateOrganisation;

/// A signed-in platform operator.
fn operator(seat: &Seat) -> Result<OperatorSession, PageError> {
    match &seat.signed_in {
        SignedIn::Operator(o) => Ok(o.clone()),
        SignedIn::Member(_) => Err(PageError::Forbidden(
            "these pages are for platform operators".to_owned(),
        )),
    }
}

#[derive(Debug)]
struct OrgRow {
    id: String,
    name: String,
    created: String,
    suspended: bool,
    support: String,
}

#[derive(Template)]
#[template(path = "platform.html")]
struct PlatformPage {
    shell: Shell,
    organisations: Vec<OrgRow>,
    errors: Vec<(String, String)>,
    name: String,
    owner_email: String,
}

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

async fn page(
    state: &AppState,
    seat: &Seat,
    operator: OperatorSession,
) -> Result<PlatformPage, PageError> {
    let Json(orgs) =
        crate::routes::platform::list_organisations(State(state.clone()), operator).await?;
    let mut shell = Shell::bare("Organisations", seat.csrf.clone());
    shell.signed_in = true;
    shell.organisation = "Platform".to_owned();
    Ok(PlatformPage {
        shell,
        organisations: orgs
            .into_iter()
            .map(|o| OrgRow {
                id: o.id.to_string(),
                name: o.name,
                created: when(o.created_at),
                suspended: o.suspended_at.is_some(),
                support: match (o.support_role, o.support_access_until) {
                    (Some(role), Some(until)) => format!("{role} until {}", when(until)),
                    _ => "none".to_owned(),
                },
            })
            .collect(),
        errors: Vec::new(),
        name: String::new(),
        owner_email: String::new(),
    })
}

pub async fn list(
    State(state): State<AppState>,
    seat: Seat,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let op = operator(&seat)?;
    let mut page = page(&state, &seat, op).await?;
    page.shell.notice = match q.done.as_deref() {
        Some("created") => Some("Organisation created; its owner is invited by email.".to_owned()),
        Some("suspended") => Some("Organisation suspended.".to_owned()),
        Some("resumed") => Some("Organisation resumed.".to_owned()),
        _ => None,
    };
    Ok(render(StatusCode::OK, &page))
}

pub async fn create(
    State(state): State<AppState>,
    ip: ClientIp,
    seat: Seat,
    form: Form,
) -> Result<Response, PageError> {
    let op = operator(&seat)?;
    let input = CreateOrganisation {
        name: form.raw("name").to_owned(),
        owner_email: form.raw("owner_email").to_owned(),
    };
    match crate::routes::platform::create_organisation(
        State(state.clone()),
        ip,
        op.clone(),
        ApiJson {
            value: input,
            raw: Bytes::new(),
        },
    )
    .await
    {
        Ok(_) => Ok(see_other("/app/platform?done=created")),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let mut page = page(&state, &seat, op).await?;
            page.errors = e
                .errors
                .iter()
                .map(|f| (f.field.clone(), f.message.clone()))
                .collect();
            page.name = form.raw("name").to_owned();
            page.owner_email = form.raw("owner_email").to_owned();
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn suspend(
    State(state): State<AppState>,
    ip: ClientIp,
    seat: Seat,
    Id(id): Id<TenantId>,
    _form: Form,
) -> Result<Response, PageError> {
    let op = operator(&seat)?;
    let Json(_org) =
        crate::routes::platform::suspend_organisation(State(state), ip, op, ApiPath(id)).await?;
    Ok(see_other("/app/platform?done=suspended"))
}

pub async fn resume(
    State(state): State<AppState>,
    ip: ClientIp,
    seat: Seat,
    Id(id): Id<TenantId>,
    _form: Form,
) -> Result<Response, PageError> {
    let op = operator(&seat)?;
    let Json(_org) =
        crate::routes::platform::resume_organisation(State(state), ip, op, ApiPath(id)).await?;
    Ok(see_other("/app/platform?done=resumed"))
}
