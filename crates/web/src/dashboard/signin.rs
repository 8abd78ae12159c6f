//! Signing in and out of the dashboard, with the API's own checks and limits.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::session::{self, Form, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Seat};
use super::{PageError, Shell, render};
use crate::AppState;
use crate::auth::{AccessClaims, ClientIp};
use crate::extract::ApiJson;
use crate::routes::auth::{ChangePassword, LoginRequest, sign_in};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    shell: Shell,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only a dashboard path of this site is a place to return to (never `//host` or a URL).
fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| {
        n.starts_with("/app/")
            && !n.starts_with("//")
            && !n.contains("\\")
            && !n.starts_with("/app/login")
            && n.chars().all(|c| !c.is_control())
    })
    .unwrap_or("/app/leads")
    .to_owned()
}

/// The sign-in form's CSRF value: the cookie's when there is one, else a new one to set.
fn login_csrf(headers: &HeaderMap) -> (String, bool) {
    match session::cookie(headers, LOGIN_CSRF_COOKIE).filter(|v| v.len() >= 32) {
        Some(v) => (v.to_owned(), false),
        None => (crypto::random_token(), true),
    }
}

pub async fn page(
    State(state): State<AppState>,
    seat: Option<Seat>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if seat.is_some() {
        return session::see_other(&safe_next(q.next.as_deref()));
    }
    let (csrf, fresh) = login_csrf(&headers);
    let page = LoginPage {
        shell: Shell::bare("Sign in", csrf.clone()),
        email: String::new(),
        next: safe_next(q.next.as_deref()),
        error: None,
    };
    let mut res = render(StatusCode::OK, &page);
    if fresh {
        res.headers_mut().append(
            SET_COOKIE,
            session::set_cookie(&state, LOGIN_CSRF_COOKIE, &csrf, Some(3600)),
        );
    }
    res
}

pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    let email = form.get("email").unwrap_or_default().to_owned();
    let next = safe_next(form.get("next"));
    let request = LoginRequest {
        email: email.clone(),
        password: form.raw("password").to_owned(),
        organisation_id: None,
    };
    let tokens = match sign_in(&state, ip, &headers, request).await {
        Ok(tokens) => tokens,
        Err(e) => {
            let message = match e.status {
                StatusCode::TOO_MANY_REQUESTS => {
                    let minutes = e.retry_after.unwrap_or(60).div_ceil(60);
                    format!(
                        "Too many failed attempts. Try again in {minutes} minute{}.",
                        if minutes == 1 { "" } else { "s" }
                    )
                }
                StatusCode::UNPROCESSABLE_ENTITY => "Enter a valid email address.".to_owned(),
                StatusCode::FORBIDDEN => {
                    "This organisation is suspended. Contact the platform's support.".to_owned()
                }
                StatusCode::UNAUTHORIZED => "Invalid email or password.".to_owned(),
                _ => return Err(e.into()),
            };
            let page = LoginPage {
                shell: Shell::bare("Sign in", form.raw("csrf").to_owned()),
                email,
                next,
                error: Some(message),
            };
            let mut res = render(e.status, &page);
            if let Some(secs) = e.retry_after {
                res.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, secs.into());
            }
            return Ok(res);
        }
    };
    let claims: AccessClaims = state
        .cipher
        .verify_jwt(
            &tokens.access_token,
            &state.auth.issuer,
            &state.auth.audience,
        )
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let user = claims
        .sub
        .parse()
        .map_err(|_| PageError::Internal("the new session names no user".to_owned()))?;
    let cookie = session::issue(
        &state,
        user,
        tokens.organisation_id,
        tokens.session_id,
        tokens.must_change_password,
    )?;
    let mut res = session::see_other(if tokens.operator {
        "/app/platform"
    } else {
        &next
    });
    res.headers_mut().append(
        SET_COOKIE,
        session::set_cookie(&state, SESSION_COOKIE, &cookie, None),
    );
    res.headers_mut().append(
        SET_COOKIE,
        session::set_cookie(&state, LOGIN_CSRF_COOKIE, "", Some(0)),
    );
    Ok(res)
}

/// Ends the session (as the API's logout does: revoked and audited) and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    ip: ClientIp,
    seat: Seat,
    _form: Form,
) -> Result<Response, PageError> {
    crate::routes::auth::logout(State(state.clone()), ip, seat.signed_in).await?;
    let mut res = session::see_other("/app/login");
    res.headers_mut().append(
        SET_COOKIE,
        session::set_cookie(&state, SESSION_COOKIE, "", Some(0)),
    );
    Ok(res.into_response())
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    shell: Shell,
    required: bool,
    errors: Vec<(String, String)>,
}

fn password_shell(seat: &Seat) -> Shell {
    let mut shell = Shell::bare("Choose a password", seat.csrf.clone());
    shell.signed_in = true;
    shell
}

fn must_change(seat: &Seat) -> bool {
    match &seat.signed_in {
        crate::auth::SignedIn::Member(m) => m.must_change_password,
        crate::auth::SignedIn::Operator(o) => o.must_change_password,
    }
}

/// Choosing a new password: required after a generated one (the first owner's, an invited
/// operator's), open to anyone signed in.
pub async fn password_page(seat: Seat) -> Response {
    let page = PasswordPage {
        shell: password_shell(&seat),
        required: must_change(&seat),
        errors: Vec::new(),
    };
    render(StatusCode::OK, &page)
}

pub async fn password_submit(
    State(state): State<AppState>,
    ip: ClientIp,
    seat: Seat,
    form: Form,
) -> Result<Response, PageError> {
    let mut errors = Vec::new();
    if form.raw("new_password") != form.raw("confirm_password") {
        errors.push((
            "confirm_password".to_owned(),
            "does not match the new password".to_owned(),
        ));
    }
    if errors.is_empty() {
        let change = ChangePassword {
            current_password: form.raw("current_password").to_owned(),
            new_password: form.raw("new_password").to_owned(),
        };
        match crate::routes::auth::change_password(
            State(state.clone()),
            ip,
            seat.signed_in.clone(),
            ApiJson {
                value: change,
                raw: bytes::Bytes::new(),
            },
        )
        .await
        {
            Ok(_) => {
                // The same session goes on, no longer bound to choosing a password.
                let cookie = session::issue(
                    &state,
                    seat.user(),
                    seat.signed_in.tenant().map(|t| t.id()),
                    seat.session(),
                    false,
                )?;
                let to = if seat.role.is_some() {
                    "/app/leads"
                } else {
                    "/app/platform"
                };
                let mut res = session::see_other(to);
                res.headers_mut().append(
                    SET_COOKIE,
                    session::set_cookie(&state, SESSION_COOKIE, &cookie, None),
                );
                return Ok(res);
            }
            Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
                errors = e
                    .errors
                    .iter()
                    .map(|f| (f.field.clone(), f.message.clone()))
                    .collect();
            }
            Err(e) => return Err(e.into()),
        }
    }
    let page = PasswordPage {
        shell: password_shell(&seat),
        required: must_change(&seat),
        errors,
    };
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
