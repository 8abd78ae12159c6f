//! `/api/v1/messages`: every message in and out, filterable.

use axum::Json;
use axum::extract::State;
use domain::{Address, Direction, LeadId, MessageId};
use serde::Deserialize;
use store::MessageQuery;

use super::leads::parse_limit;
use crate::AppState;
use crate::auth::{Auth, ClientIp, scope};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;
use crate::views::{MessageView, Page};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListMessages {
    pub lead_id: Option<String>,
    /// The recipient: a phone (any format) or email. For outbound messages the person, for
    /// inbound ones our own number.
    pub to: Option<String>,
    /// `outbound` or `inbound`.
    pub direction: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<String>,
}

/// Lists messages, newest first.
#[utoipa::path(
    get, path = "/api/v1/messages", tag = "messages", params(ListMessages),
    responses(
        (status = 200, description = "A page of messages", body = Page<MessageView>),
        (status = 400, description = "A malformed parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid filter value", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["messages:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Auth<scope::MessagesRead>,
    ApiQuery(q): ApiQuery<ListMessages>,
) -> ApiResult<Json<Page<MessageView>>> {
    let limit = parse_limit(q.limit.as_deref())?;
    let lead_id = match q.lead_id.as_deref() {
        Some(id) => Some(
            id.parse::<LeadId>()
                .map_err(|_| ApiError::malformed_id("lead_id", LeadId::KIND))?,
        ),
        None => None,
    };
    let direction = match q.direction.as_deref() {
        Some(d) => Some(
            Direction::parse(d)
                .ok_or_else(|| ApiError::field("direction", "must be outbound or inbound"))?,
        ),
        None => None,
    };
    let to = match q.to.as_deref() {
        Some(t) => {
            let region = state.settings(key.tenant).await?.default_region;
            Some(Address::parse(t, &region).ok_or_else(|| {
                ApiError::field("to", "is not a phone number or an email address")
            })?)
        }
        None => None,
    };
    let before = match q.cursor.as_deref() {
        Some(c) => Some(
            c.parse::<MessageId>()
                .map_err(|_| ApiError::malformed_id("cursor", "cursor"))?,
        ),
        None => None,
    };
    let messages = state
        .engine
        .store
        .list_messages(
            key.tenant,
            &MessageQuery {
                lead_id,
                to,
                direction,
                before,
                limit,
            },
        )
        .await?;
    let next_cursor = (messages.len() == limit as usize)
        .then(|| messages.last().map(|m| m.id.to_string()))
        .flatten();
    state
        .audit(crate::actor_event(
            key.tenant,
            &key.actor,
            "message.list",
            "message",
            lead_id.map(|l| l.to_string()).unwrap_or_default(),
            ip,
            serde_json::json!({ "count": messages.len() }),
        ))
        .await?;
    Ok(Json(Page {
        data: messages.into_iter().map(MessageView::from).collect(),
        next_cursor,
    }))
}
