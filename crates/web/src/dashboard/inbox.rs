//! The inbox: the latest replies from leads, and free-text replies read as opt-outs that wait
//! for a person to confirm or dismiss them.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use store::ReviewState;

use super::session::{Form, Member, see_other};
use super::{Id, PageError, Shell, render, when};
use crate::AppState;
use crate::auth::{ClientIp, scope};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::compliance::{ResolveReview, ReviewQuery};
use crate::routes::messages::ListMessages;

#[derive(Debug)]
struct Reply {
    lead: Option<String>,
    from: String,
    channel: String,
    body: String,
    when: String,
}

#[derive(Debug)]
struct ReviewRow {
    id: String,
    lead: Option<String>,
    matched: String,
    /// The reply that was read as an opt-out, when it is among the latest shown.
    text: Option<String>,
    when: String,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    shell: Shell,
    replies: Vec<Reply>,
    reviews: Vec<ReviewRow>,
    can_resolve: bool,
}

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    ip: ClientIp,
    member: Member<scope::MessagesRead>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let Json(latest) = crate::routes::messages::list(
        State(state.clone()),
        ip,
        member.auth(),
        ApiQuery(ListMessages {
            lead_id: None,
            to: None,
            direction: Some("inbound".to_owned()),
            cursor: None,
            limit: Some("50".to_owned()),
        }),
    )
    .await?;
    let Json(open) = crate::routes::compliance::reviews(
        State(state.clone()),
        member.narrow::<scope::LeadsRead>().auth(),
        ApiQuery(ReviewQuery { state: None }),
    )
    .await?;
    let reviews = open
        .into_iter()
        .map(|r| ReviewRow {
            id: r.id.to_string(),
            lead: r.lead_id.map(|l| l.to_string()),
            matched: r.matched,
            text: latest
                .data
                .iter()
                .find(|m| m.id == r.message_id)
                .map(|m| m.body.clone()),
            when: when(r.created_at),
        })
        .collect();
    let replies = latest
        .data
        .into_iter()
        .map(|m| Reply {
            lead: m.lead_id.map(|l| l.to_string()),
            from: m.from,
            channel: m.channel.as_str().to_owned(),
            body: m.body,
            when: m.created_at.parse().map(when).unwrap_or(m.created_at),
        })
        .collect();
    let org = state
        .engine
        .store
        .get_tenant(member.tenant.id())
        .await?
        .ok_or(PageError::NotFound)?;
    let mut shell = Shell::new(&member.seat, org.brand(), "Inbox", "inbox");
    shell.notice = match q.done.as_deref() {
        Some("confirmed") => Some("Confirmed: the person stays opted out.".to_owned()),
        Some("dismissed") => {
            Some("Dismissed: the opt-out it caused is lifted and consent restored.".to_owned())
        }
        _ => None,
    };
    let page = InboxPage {
        shell,
        replies,
        reviews,
        can_resolve: member.seat.can(domain::Role::Agent),
    };
    Ok(render(StatusCode::OK, &page))
}

/// Confirms or dismisses a review, through the API's handler.
pub async fn resolve(
    State(state): State<AppState>,
    ip: ClientIp,
    member: Member<scope::LeadsWrite>,
    Id(id): Id<domain::ReviewId>,
    form: Form,
) -> Result<Response, PageError> {
    let resolution = match form.get("resolution") {
        Some("confirmed") => ReviewState::Confirmed,
        Some("dismissed") => ReviewState::Dismissed,
        _ => {
            return Err(PageError::BadRequest(
                "choose confirm or dismiss".to_owned(),
            ));
        }
    };
    let Json(_review) = crate::routes::compliance::resolve(
        State(state),
        ip,
        member.auth(),
        ApiPath(id),
        ApiJson {
            value: ResolveReview { resolution },
            raw: Bytes::new(),
        },
    )
    .await?;
    Ok(see_other(&format!(
        "/app/inbox?done={}",
        resolution.as_str()
    )))
}
