//! `/u/{token}`: the one-click unsubscribe of marketing emails (RFC 8058).
//!
//! The token in the URL names the organisation and the message and is signed with the key
//! ring's token key, so the request needs no cookie and no credentials. A `POST` (what mail
//! clients send for `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, and what the page's
//! button sends) suppresses the address at once and answers 200, never a redirect. A `GET` (a
//! person who clicked the link, or a mail scanner prefetching it) shows a page with the button
//! and suppresses no one. Links keep working as long as the message is kept.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::Tenant;

use crate::AppState;
use crate::error::{ApiResult, Problem};

const PAGE_STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1rem}";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title><style>{PAGE_STYLE}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

fn invalid() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "This link is not valid",
        "<p>The unsubscribe link is incomplete or was changed. Use the link from the email itself, or reply to the email to ask to be removed.</p>",
    )
}

/// The unsubscribe page: a button, and nobody unsubscribed by looking.
#[utoipa::path(
    get, path = "/u/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "The signed token from the email")),
    responses(
        (status = 200, description = "The page with the unsubscribe button", content_type = "text/html"),
        (status = 404, description = "A token that is not valid", content_type = "text/html"),
    )
)]
pub async fn page_get(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    if engine::assess::verify_unsubscribe(&state.cipher, &token).is_none() {
        return invalid();
    }
    page(
        StatusCode::OK,
        "Unsubscribe",
        "<p>Stop receiving marketing emails at this address?</p>\
         <form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>",
    )
}

/// One-click unsubscribe: suppresses the address at once.
#[utoipa::path(
    post, path = "/u/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "The signed token from the email")),
    responses(
        (status = 200, description = "Unsubscribed", content_type = "text/html"),
        (status = 404, description = "A token that is not valid", content_type = "text/html"),
        (status = 503, description = "The database is unavailable; try again", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn one_click(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    let Some((tenant, message)) = engine::assess::verify_unsubscribe(&state.cipher, &token) else {
        return Ok(invalid());
    };
    // The signature is the authentication: only Leadline could have made this token.
    let tenant = Tenant::from_authenticated(tenant);
    state.engine.unsubscribe(tenant, message).await?;
    Ok(page(
        StatusCode::OK,
        "You are unsubscribed",
        "<p>This address will receive no more marketing emails from this sender.</p>",
    ))
}
