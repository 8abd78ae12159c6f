//! The dashboard's cookie session and its CSRF tokens.
//!
//! A dashboard sign-in opens the same kind of session as the API's (`sessions`: listed with
//! the user's other sessions, revoked the same way, ended by a new password). The cookie holds
//! a signed token for that session with its own audience, so a dashboard cookie is never an API
//! bearer token and an API token is never a cookie. Each request checks that the session is
//! still live and reads the member's role now, as the API does.
//!
//! The token expires after [`IDLE`] without a request; a request made more than [`RENEW_AFTER`]
//! after the token was issued gets a fresh one, so a person at work stays signed in while an
//! abandoned browser does not. The session itself ends at its own expiry (the refresh
//! lifetime, 30 days by default) whatever the activity.
//!
//! Every form carries a CSRF token: a keyed hash of the session id, checked on every POST
//! (before sign-in, a random value doubled in a cookie). `tower_http::csrf` refuses cross-site
//! requests by `Sec-Fetch-Site` and `Origin` as well.

use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Role, SessionId, Tenant, UserId};
use jiff::SignedDuration;

use super::PageError;
use crate::AppState;
use crate::auth::{AccessClaims, Actor, Auth, Scope, SignedIn};

/// The session cookie.
pub const SESSION_COOKIE: &str = "ll_session";
/// The sign-in form's CSRF cookie (before there is a session to tie a token to).
pub const LOGIN_CSRF_COOKIE: &str = "ll_login_csrf";
/// The audience of a dashboard cookie's token: never accepted as an API bearer token.
pub const AUDIENCE: &str = "leadline-dashboard";
/// Signed out after this long without a request.
pub const IDLE: SignedDuration = SignedDuration::from_hours(12);
/// A request this long after the cookie's token was issued gets a fresh one.
pub const RENEW_AFTER: SignedDuration = SignedDuration::from_mins(5);

/// A signed-in person, as the dashboard sees them.
#[derive(Debug, Clone)]
pub struct Seat {
    pub signed_in: SignedIn,
    /// The CSRF token of this session, for forms.
    pub csrf: String,
    /// The role in the organisation (`None`: a platform operator).
    pub role: Option<Role>,
}

impl Seat {
    pub fn user(&self) -> UserId {
        self.signed_in.user()
    }

    pub fn session(&self) -> SessionId {
        self.signed_in.session()
    }

    /// Whether the member holds at least `role` (an operator holds none here).
    pub fn can(&self, role: Role) -> bool {
        self.role.is_some_and(|r| r.at_least(role))
    }

    fn must_change_password(&self) -> bool {
        match &self.signed_in {
            SignedIn::Member(s) => s.must_change_password,
            SignedIn::Operator(s) => s.must_change_password,
        }
    }
}

/// The CSRF token of a session: a keyed hash of its id, so nothing is stored and a token is
/// good only for its own session.
pub fn csrf_token(state: &AppState, session: SessionId) -> String {
    URL_SAFE_NO_PAD.encode(
        state
            .cipher
            .sign("dashboard-csrf", session.to_string().as_bytes()),
    )
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, scoped to the dashboard, Secure when the
/// public address is https. `max_age` zero clears the cookie.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/app; HttpOnly; SameSite=Lax");
    if let Some(secs) = max_age {
        c.push_str(&format!("; Max-Age={secs}"));
    }
    if secure(state) {
        c.push_str("; Secure");
    }
    // Names and values are ours (ASCII tokens): the header value is always valid.
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn secure(state: &AppState) -> bool {
    state.auth.public_base_url.starts_with("https://") || state.http.hsts
}

/// A cookie token for `session` of `user` (in `org`; `None` for an operator).
pub fn issue(
    state: &AppState,
    user: UserId,
    org: Option<domain::TenantId>,
    session: SessionId,
    must_change_password: bool,
) -> Result<String, PageError> {
    let now = state.engine.clock.wall_now();
    let claims = AccessClaims {
        iss: state.auth.issuer.clone(),
        aud: AUDIENCE.to_owned(),
        sub: user.to_string(),
        org: org.map(|o| o.to_string()),
        sid: session.to_string(),
        iat: now.as_second(),
        exp: now.as_second() + IDLE.as_secs(),
        pwd: must_change_password,
    };
    state
        .cipher
        .sign_jwt(&claims)
        .map_err(|e| PageError::Internal(e.to_string()))
}

/// Resolves the session cookie of every dashboard request into a [`Seat`] (left out when
/// there is none, or it is no longer good), and renews the cookie of an active session.
pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Assets are the same for everyone: no session read for them.
    if req.uri().path().starts_with("/app/assets/") {
        return next.run(req).await;
    }
    let mut renewed = None;
    let mut clear = false;
    if let Some(token) = cookie(req.headers(), SESSION_COOKIE).map(str::to_owned) {
        let claims: Option<AccessClaims> = state
            .cipher
            .verify_jwt(&token, &state.auth.issuer, AUDIENCE)
            .ok();
        let signed_in = match &claims {
            Some(c) => SignedIn::from_claims(c, &state).await.ok(),
            None => None,
        };
        match (claims, signed_in) {
            (Some(claims), Some(signed_in)) => {
                let now = state.engine.clock.wall_now().as_second();
                if now - claims.iat >= RENEW_AFTER.as_secs() {
                    renewed = issue(
                        &state,
                        signed_in.user(),
                        signed_in.tenant().map(|t| t.id()),
                        signed_in.session(),
                        claims.pwd,
                    )
                    .ok();
                }
                let role = match &signed_in {
                    SignedIn::Member(m) => Some(m.role),
                    SignedIn::Operator(_) => None,
                };
                let csrf = csrf_token(&state, signed_in.session());
                req.extensions_mut().insert(Seat {
                    signed_in,
                    csrf,
                    role,
                });
            }
            _ => clear = true,
        }
    }
    let mut response = next.run(req).await;
    // A handler that set the cookie itself (sign-in, sign-out) has the last word.
    if response.headers().contains_key(SET_COOKIE) {
        return response;
    }
    if let Some(token) = renewed {
        response
            .headers_mut()
            .append(SET_COOKIE, set_cookie(&state, SESSION_COOKIE, &token, None));
    } else if clear {
        response
            .headers_mut()
            .append(SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", Some(0)));
    }
    response
}

/// Whoever is signed in, if anyone (the sign-in page asks).
impl axum::extract::OptionalFromRequestParts<AppState> for Seat {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Seat>().cloned())
    }
}

/// Anyone signed in (a member of any role, or an operator).
impl FromRequestParts<AppState> for Seat {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let seat = parts
            .extensions
            .get::<Seat>()
            .cloned()
            .ok_or_else(|| PageError::SignIn(return_to(parts)))?;
        if seat.must_change_password() && parts.uri.path() != "/app/password" {
            return Err(PageError::ChoosePassword);
        }
        Ok(seat)
    }
}

/// Where to come back to after signing in: this page, when it is a dashboard page read.
fn return_to(parts: &Parts) -> Option<String> {
    (parts.method == axum::http::Method::GET)
        .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
        .flatten()
        .filter(|p| p.starts_with("/app/") && !p.starts_with("/app/login"))
}

/// A member of an organisation whose role holds permission `S`: the dashboard's counterpart of
/// [`Auth`], checked on the server for every page and action whatever the page showed.
#[derive(Debug)]
pub struct Member<S: Scope> {
    pub seat: Seat,
    pub tenant: Tenant,
    pub actor: Actor,
    _scope: PhantomData<S>,
}

impl<S: Scope> Member<S> {
    /// The API permission this member holds, to call the API's own handlers with.
    pub fn auth<T: Scope>(&self) -> Auth<T> {
        debug_assert!(self.seat.can(T::MIN_ROLE), "a narrower handle than held");
        Auth::granted(self.tenant, self.actor)
    }
}

impl<S: Scope> Member<S> {
    /// The same member with a permission their role holds too (a writer reads).
    pub fn narrow<T: Scope>(&self) -> Member<T> {
        debug_assert!(self.seat.can(T::MIN_ROLE), "a narrower handle than held");
        Member {
            seat: self.seat.clone(),
            tenant: self.tenant,
            actor: self.actor,
            _scope: PhantomData,
        }
    }
}

impl<S: Scope> FromRequestParts<AppState> for Member<S> {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let seat = Seat::from_request_parts(parts, state).await?;
        let SignedIn::Member(m) = &seat.signed_in else {
            return Err(PageError::Forbidden(
                "platform operators work in the platform pages; an organisation's pages are \
                 for its members"
                    .to_owned(),
            ));
        };
        if !m.role.at_least(S::MIN_ROLE) {
            return Err(PageError::Forbidden(format!(
                "the {} role cannot do this (it needs {} or above)",
                m.role,
                S::MIN_ROLE
            )));
        }
        let (tenant, actor) = (
            m.tenant,
            Actor::User {
                user: m.user,
                session: m.session,
                role: m.role,
            },
        );
        Ok(Self {
            seat,
            tenant,
            actor,
            _scope: PhantomData,
        })
    }
}

/// The largest form the dashboard accepts.
pub const MAX_FORM: usize = 64 * 1024;

/// A submitted form (`application/x-www-form-urlencoded`) whose CSRF token matched the
/// session's (or, for the sign-in form, the CSRF cookie's).
#[derive(Debug, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// The field's value, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The field's value as typed (untrimmed), or empty.
    pub fn raw(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of a repeated field (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl FromRequest<AppState> for Form {
    type Rejection = PageError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        // The session's token; or, on the sign-in form only (which a signed-in browser may
        // still hold open in another tab), the value doubled in the CSRF cookie. A doubled
        // cookie is weaker (a sibling host could plant one), so it never stands for a session.
        let signing_in = req.uri().path() == "/app/login";
        let expected: Vec<String> = req
            .extensions()
            .get::<Seat>()
            .map(|seat| seat.csrf.clone())
            .into_iter()
            .chain(
                cookie(req.headers(), LOGIN_CSRF_COOKIE)
                    .filter(|_| signing_in)
                    .map(str::to_owned),
            )
            .filter(|e| !e.is_empty())
            .collect();
        let body = axum::body::to_bytes(req.into_body(), MAX_FORM)
            .await
            .map_err(|_| PageError::BadRequest("the form is too large".to_owned()))?;
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let form = Form { pairs };
        let presented = form.raw("csrf");
        let matches = expected
            .iter()
            .any(|e| subtle::ConstantTimeEq::ct_eq(e.as_bytes(), presented.as_bytes()).into());
        if !matches {
            return Err(PageError::Csrf);
        }
        Ok(form)
    }
}

/// A redirect after a form (303: the browser follows with GET).
pub fn see_other(to: &str) -> Response {
    let mut res = axum::http::StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    res
}
