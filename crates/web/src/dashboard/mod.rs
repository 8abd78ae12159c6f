//! The dashboard: the web application a business and its agents work in, served as HTML from
//! `/app`.
//!
//! Pages are rendered on the server from compiled, autoescaped templates (`templates/`), and
//! every read works without JavaScript; `assets/app.js` only enhances. Pages and actions call
//! the API's own handlers with the member's permission ([`session::Member::auth`]), so a page
//! shows exactly what the API would answer, validates the same way and writes the same audit
//! entries. A role check happens on the server for each page and action, whatever the page
//! showed.
//!
//! Security: a cookie session ([`session`]), a CSRF token on every form plus
//! `tower_http::csrf`'s cross-origin refusal, and a Content-Security-Policy that allows only
//! this origin's own script and style, with no inline code.

pub mod assets;
mod audit;
mod inbox;
mod leads;
mod platform;
pub mod session;
mod signin;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use domain::Role;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::AppState;
use crate::error::ApiError;
use session::Seat;

/// The dashboard's Content-Security-Policy: its own script and style only, nothing inline,
/// nothing from another host, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes, with their session, CSRF and header layers.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/app", get(home))
        .route("/app/", get(home))
        .route("/app/login", get(signin::page).post(signin::submit))
        .route("/app/logout", post(signin::logout))
        .route(
            "/app/password",
            get(signin::password_page).post(signin::password_submit),
        )
        .route("/app/audit", get(audit::page))
        .route("/app/inbox", get(inbox::page))
        .route("/app/inbox/reviews/{id}", post(inbox::resolve))
        .route("/app/leads", get(leads::list))
        .route("/app/leads/{id}", get(leads::detail))
        .route("/app/leads/{id}/messages", post(leads::send))
        .route("/app/leads/{id}/status", post(leads::status))
        .route("/app/leads/{id}/notes", post(leads::note))
        .route("/app/platform", get(platform::list))
        .route("/app/platform/organisations", post(platform::create))
        .route(
            "/app/platform/organisations/{id}/suspend",
            post(platform::suspend),
        )
        .route(
            "/app/platform/organisations/{id}/resume",
            post(platform::resume),
        )
        .route("/app/assets/{name}", get(assets::serve))
        .route("/app/{*rest}", get(not_found).post(not_found))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::resolve,
        ))
        .layer(tower_http::csrf::CsrfLayer::new())
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
}

async fn home(seat: Option<Seat>) -> Response {
    match seat {
        Some(seat) if seat.role.is_none() => session::see_other("/app/platform"),
        Some(_) => session::see_other("/app/leads"),
        None => session::see_other("/app/login"),
    }
}

async fn not_found() -> PageError {
    PageError::NotFound
}

/// What every page shows around its content: who is signed in, where, and what they may open.
#[derive(Debug, Clone)]
pub struct Shell {
    pub title: String,
    /// The nav entry to mark as current.
    pub section: &'static str,
    pub organisation: String,
    /// The member's role, shown beside the organisation (empty for an operator).
    pub role: String,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    /// A one-line result of the last action (`?done=` after a redirect).
    pub notice: Option<String>,
    pub css: &'static str,
    pub js: &'static str,
    /// Whether to offer signing out.
    pub signed_in: bool,
}

#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub key: &'static str,
}

/// The sections, and the least role that opens each.
const SECTIONS: &[(&str, &str, &str, Role)] = &[
    ("leads", "/app/leads", "Leads", Role::Viewer),
    ("inbox", "/app/inbox", "Inbox", Role::Viewer),
    ("audit", "/app/audit", "Audit log", Role::Admin),
];

impl Shell {
    /// The shell of a page in the member's organisation.
    pub fn new(
        seat: &Seat,
        organisation: &str,
        title: impl Into<String>,
        section: &'static str,
    ) -> Self {
        let nav = SECTIONS
            .iter()
            .filter(|(_, _, _, role)| seat.can(*role))
            .map(|(key, href, label, _)| NavItem { href, label, key })
            .collect();
        Self {
            title: title.into(),
            section,
            organisation: organisation.to_owned(),
            role: seat.role.map(|r| r.to_string()).unwrap_or_default(),
            csrf: seat.csrf.clone(),
            nav,
            notice: None,
            css: assets::css_path(),
            js: assets::js_path(),
            signed_in: true,
        }
    }

    /// The shell of a page before sign-in (no navigation).
    pub fn bare(title: impl Into<String>, csrf: String) -> Self {
        Self {
            title: title.into(),
            section: "",
            organisation: String::new(),
            role: String::new(),
            csrf,
            nav: Vec::new(),
            notice: None,
            css: assets::css_path(),
            js: assets::js_path(),
            signed_in: false,
        }
    }
}

/// Renders a page with `status`.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => PageError::Internal(e.to_string()).into_response(),
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: to the sign-in page, then back here.
    SignIn(Option<String>),
    /// The password was generated: choose one first.
    ChoosePassword,
    Forbidden(String),
    NotFound,
    /// The form's CSRF token is missing or not this session's.
    Csrf,
    BadRequest(String),
    /// An error answer of the API, shown as a page with its status, title and detail.
    Api(ApiError),
    /// A fault: logged, shown only as its correlation id.
    Internal(String),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e.status {
            StatusCode::UNAUTHORIZED => PageError::SignIn(None),
            StatusCode::NOT_FOUND => PageError::NotFound,
            _ => PageError::Api(e),
        }
    }
}

impl From<store::DbError> for PageError {
    fn from(e: store::DbError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<engine::EngineError> for PageError {
    fn from(e: engine::EngineError) -> Self {
        ApiError::from(e).into()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    shell: Shell,
    heading: String,
    detail: String,
    correlation_id: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, detail) = match self {
            PageError::SignIn(back) => {
                let to = match back {
                    Some(path) => format!(
                        "/app/login?next={}",
                        form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
                    ),
                    None => "/app/login".to_owned(),
                };
                return session::see_other(&to);
            }
            PageError::ChoosePassword => return session::see_other("/app/password"),
            PageError::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", why),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "there is nothing here, or it belongs to another organisation".to_owned(),
            ),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "The form could not be accepted",
                "it expired or did not come from this page: go back, reload it and try again"
                    .to_owned(),
            ),
            PageError::BadRequest(why) => (StatusCode::BAD_REQUEST, "Bad request", why),
            PageError::Api(e) => {
                let detail = e.detail.clone().unwrap_or_default();
                (e.status, e.title, detail)
            }
            PageError::Internal(cause) => {
                tracing::error!(error = %cause, "a dashboard page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "the error was logged; quote the reference below when you report it".to_owned(),
                )
            }
        };
        (status, heading, detail).into_page()
    }
}

trait IntoPage {
    fn into_page(self) -> Response;
}

impl IntoPage for (StatusCode, &'static str, String) {
    fn into_page(self) -> Response {
        let (status, heading, detail) = self;
        let page = ErrorPage {
            shell: Shell::bare(heading, String::new()),
            heading: heading.to_owned(),
            detail,
            correlation_id: crate::error::request_id().unwrap_or_default(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, heading).into_response(),
        }
    }
}

/// An id in the path: one that does not parse is a page not found (not an API problem).
#[derive(Debug)]
pub struct Id<T>(pub T);

impl<T: std::str::FromStr + Send> axum::extract::FromRequestParts<AppState> for Id<T> {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| PageError::NotFound)?;
        raw.parse().map(Id).map_err(|_| PageError::NotFound)
    }
}

/// An instant as pages show it: `2026-11-23 14:05 UTC`.
pub fn when(t: domain::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}
