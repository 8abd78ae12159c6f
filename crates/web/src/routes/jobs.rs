//! `/api/v1/jobs`: the organisation's jobs, dead letters included.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use store::JobState;

use super::leads::parse_limit;
use crate::AppState;
use crate::auth::{Auth, scope};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;
use crate::views::JobView;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListJobs {
    /// `ready`, `running`, `done` or `dead`.
    pub state: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<String>,
}

/// Lists the organisation's jobs, newest first; `state=dead` shows the dead letters.
#[utoipa::path(
    get, path = "/api/v1/jobs", tag = "jobs", params(ListJobs),
    responses(
        (status = 200, description = "Jobs", body = Vec<JobView>),
        (status = 422, description = "An invalid state", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["jobs:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    key: Auth<scope::JobsRead>,
    ApiQuery(q): ApiQuery<ListJobs>,
) -> ApiResult<Json<Vec<JobView>>> {
    let limit = parse_limit(q.limit.as_deref())?;
    let job_state = match q.state.as_deref() {
        Some(s) => Some(
            JobState::parse(s)
                .ok_or_else(|| ApiError::field("state", "must be ready, running, done or dead"))?,
        ),
        None => None,
    };
    let jobs = state
        .engine
        .store
        .list_jobs(key.tenant, job_state, limit)
        .await?;
    Ok(Json(jobs.into_iter().map(JobView::from).collect()))
}
