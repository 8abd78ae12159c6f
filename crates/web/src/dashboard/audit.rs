//! The organisation's audit log, newest first, paged by chain position (owners and admins).

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::session::Member;
use super::{PageError, Shell, render, when};
use crate::AppState;
use crate::auth::scope;
use crate::extract::ApiQuery;
use crate::routes::audit::ListAudit;

#[derive(Debug)]
struct Row {
    seq: i64,
    when: String,
    actor: String,
    action: String,
    target: String,
    ip: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    shell: Shell,
    rows: Vec<Row>,
    older: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    before: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    member: Member<scope::AuditRead>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let Json(entries) = crate::routes::audit::list(
        State(state.clone()),
        member.auth(),
        ApiQuery(ListAudit {
            before: q.before.filter(|b| !b.is_empty()),
            limit: Some("50".to_owned()),
        }),
    )
    .await?;
    let org = state
        .engine
        .store
        .get_tenant(member.tenant.id())
        .await?
        .ok_or(PageError::NotFound)?;
    let page = AuditPage {
        shell: Shell::new(&member.seat, org.brand(), "Audit log", "audit"),
        rows: entries
            .data
            .into_iter()
            .map(|e| Row {
                seq: e.seq,
                when: when(e.at),
                actor: format!("{}:{}", e.actor_kind.as_str(), e.actor_id),
                action: e.action,
                target: format!("{} {}", e.target_kind, e.target_id)
                    .trim()
                    .to_owned(),
                ip: e.ip.unwrap_or_default(),
                detail: e.detail.to_string(),
            })
            .collect(),
        older: entries.next_before,
    };
    Ok(render(StatusCode::OK, &page))
}
