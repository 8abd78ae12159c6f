//! `/api/v1/auth`: signing in, rotating sessions, signing out, changing the password.
//!
//! A sign-in returns a 15-minute access token (JWT) and an opaque 256-bit refresh token that is
//! stored only as its SHA-256. Each refresh token works once: refreshing returns a new pair, and
//! presenting a used one revokes its whole session (someone holds a copy) and is audited. Failed
//! sign-ins are limited per email and per client address in the database, so every instance
//! shares the count. An unknown email and a wrong password get the same answer after the same
//! work (a dummy Argon2 verification).

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header::USER_AGENT};
use domain::{Email, SessionId, Tenant, TenantId, Timestamp, UserId};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use store::{ActorKind, NewRefreshToken, RefreshOutcome, UserRecord};

use crate::auth::{AccessClaims, ClientIp, SignedIn};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::{AppState, AuditEvent};

/// Failed sign-ins allowed per email in [`LOGIN_WINDOW`].
pub const LOGIN_FAILURES_PER_EMAIL: i64 = 5;
/// Failed sign-ins allowed per client address in [`LOGIN_WINDOW`].
pub const LOGIN_FAILURES_PER_IP: i64 = 20;
/// The window of the sign-in limits.
pub const LOGIN_WINDOW: SignedDuration = SignedDuration::from_mins(15);
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The organisation to sign in to, for members of several; default: the first joined.
    pub organisation_id: Option<String>,
}

/// A signed-in session's tokens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Works once, at `/api/v1/auth/refresh`. Keep it secret.
    pub refresh_token: String,
    pub session_id: SessionId,
    /// The organisation signed in to; absent for a platform operator.
    pub organisation_id: Option<TenantId>,
    /// The role in that organisation; absent for a platform operator.
    pub role: Option<domain::Role>,
    /// A platform operator's session: outside every organisation (see `/api/v1/platform`).
    pub operator: bool,
    /// The password was generated: choose one at `/api/v1/auth/password` before anything else.
    pub must_change_password: bool,
}

fn invalid_credentials() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
        "Invalid email or password",
    );
    e.www_authenticate = true;
    e
}

pub(crate) fn too_many(retry_after: SignedDuration) -> ApiError {
    ApiError::rate_limited("Too many attempts", "wait before trying again", retry_after)
}

/// The start of the window `now` falls in, and its end.
pub(crate) fn window(now: Timestamp, length: SignedDuration) -> (Timestamp, Timestamp) {
    let len = length.as_secs().max(1);
    let start = now.as_second() - now.as_second().rem_euclid(len);
    let start = Timestamp::from_second(start).unwrap_or(now);
    (start, start + length)
}

/// The counter keys of a sign-in: the email's and the address's, keyed hashes (no PII in keys).
pub(crate) fn login_keys(
    state: &AppState,
    email: &Email,
    ip: Option<IpAddr>,
) -> (String, Option<String>) {
    (
        limit_key(state, "login-fail:email", email.as_str()),
        ip.map(|ip| limit_key(state, "login-fail:ip", &ip.to_string())),
    )
}

/// The counter key of `value` (an email, an address) for the limit `kind`: a keyed hash, so no
/// personal data is stored in clear.
pub(crate) fn limit_key(state: &AppState, kind: &str, value: &str) -> String {
    format!(
        "{kind}:{}",
        hex::encode(state.cipher.sign("rate-limit", value.as_bytes()))
    )
}

pub(crate) fn user_agent(headers: &HeaderMap) -> String {
    let ua = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    ua.chars().take(200).collect()
}

/// Signs a user in to one of their organisations.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Invalid email or password (the same answer for both)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed email", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts for this email or address; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    sign_in(&state, ip, &headers, body.value).await.map(Json)
}

/// Checks a sign-in (limits, password, membership) and opens its session: the API's login and
/// the dashboard's sign-in form share it, answers and audit entries included.
pub(crate) async fn sign_in(
    state: &AppState,
    ip: Option<IpAddr>,
    headers: &HeaderMap,
    req: LoginRequest,
) -> ApiResult<TokenResponse> {
    let email = Email::parse(&req.email).map_err(|e| ApiError::field("email", e.to_string()))?;
    let organisation = req
        .organisation_id
        .as_deref()
        .map(|id| {
            id.parse::<TenantId>()
                .map_err(|_| ApiError::field("organisation_id", "must be an organisation id"))
        })
        .transpose()?;
    let now = state.engine.clock.wall_now();
    let (start, end) = window(now, LOGIN_WINDOW);
    let (email_key, ip_key) = login_keys(state, &email, ip);
    let store = &state.engine.store;
    let email_failures = store.rate_limit_add(&email_key, start, end, 0).await?;
    let ip_failures = match &ip_key {
        Some(key) => store.rate_limit_add(key, start, end, 0).await?,
        None => 0,
    };
    if email_failures >= LOGIN_FAILURES_PER_EMAIL || ip_failures >= LOGIN_FAILURES_PER_IP {
        return Err(too_many(end.duration_since(now)));
    }

    let user = store.find_user_by_email(&email).await?;
    let password = req.password;
    let verified = match user.clone() {
        Some(u) => tokio::task::spawn_blocking(move || {
            crypto::verify_password(&password, &u.password_hash)
        })
        .await
        .unwrap_or(false),
        None => {
            tokio::task::spawn_blocking(move || crypto::dummy_verify(&password))
                .await
                .ok();
            false
        }
    };
    let user = match user {
        Some(u) if verified && u.disabled_at.is_none() => u,
        other => {
            store.rate_limit_add(&email_key, start, end, 1).await?;
            if let Some(key) = &ip_key {
                store.rate_limit_add(key, start, end, 1).await?;
            }
            state
                .audit(AuditEvent {
                    tenant: None,
                    actor: (ActorKind::System, String::new()),
                    action: "auth.login_failed",
                    target_kind: "user",
                    target_id: other.map(|u| u.id.to_string()).unwrap_or_default(),
                    ip,
                    detail: serde_json::json!({}),
                })
                .await?;
            return Err(invalid_credentials());
        }
    };

    if user.operator {
        // Operators belong to no organisation: their session is the platform's.
        if organisation.is_some() {
            return Err(ApiError::field(
                "organisation_id",
                "platform operators sign in outside every organisation",
            ));
        }
        let tokens = start_session(state, &user, None, headers, ip, now).await?;
        state
            .audit(AuditEvent {
                tenant: None,
                actor: (ActorKind::Operator, user.id.to_string()),
                action: "auth.login",
                target_kind: "session",
                target_id: tokens.session_id.to_string(),
                ip,
                detail: serde_json::json!({}),
            })
            .await?;
        return Ok(tokens);
    }
    let memberships = store.list_memberships(user.id).await?;
    let membership = match organisation {
        Some(org) => memberships.into_iter().find(|m| m.tenant_id == org),
        None => memberships.into_iter().next(),
    }
    .ok_or_else(invalid_credentials)?;
    let tenant = Tenant::from_authenticated(membership.tenant_id);
    if store
        .get_tenant(tenant.id())
        .await?
        .is_none_or(|org| org.suspended_at.is_some())
    {
        return Err(ApiError::suspended());
    }
    let tokens = start_session(
        state,
        &user,
        Some((tenant, membership.role)),
        headers,
        ip,
        now,
    )
    .await?;
    state
        .audit(AuditEvent {
            tenant: Some(tenant.id()),
            actor: (ActorKind::User, user.id.to_string()),
            action: "auth.login",
            target_kind: "session",
            target_id: tokens.session_id.to_string(),
            ip,
            detail: serde_json::json!({}),
        })
        .await?;
    Ok(tokens)
}

/// Opens a session for `user` as a member of an organisation with a role (`None`: a platform
/// operator's session) and issues its first tokens.
pub(crate) async fn start_session(
    state: &AppState,
    user: &UserRecord,
    seat: Option<(Tenant, domain::Role)>,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    now: Timestamp,
) -> ApiResult<TokenResponse> {
    let session = SessionId::new();
    let refresh_token = crypto::random_token();
    state
        .engine
        .store
        .create_session(NewRefreshToken {
            session_id: session,
            user_id: user.id,
            tenant_id: seat.map(|(tenant, _)| tenant.id()),
            token_hash: crypto::sha256(refresh_token.as_bytes()).to_vec(),
            created_at: now,
            expires_at: now + refresh_ttl(state),
            user_agent: user_agent(headers),
            ip: ip.map(|ip| ip.to_string()),
        })
        .await?;
    issue_tokens(state, user, seat, session, refresh_token, now)
}

fn refresh_ttl(state: &AppState) -> SignedDuration {
    SignedDuration::try_from(state.auth.refresh_ttl).unwrap_or(SignedDuration::from_hours(720))
}

pub(crate) fn issue_tokens(
    state: &AppState,
    user: &UserRecord,
    seat: Option<(Tenant, domain::Role)>,
    session: SessionId,
    refresh_token: String,
    now: Timestamp,
) -> ApiResult<TokenResponse> {
    let ttl = state.auth.access_ttl.as_secs();
    let claims = AccessClaims {
        iss: state.auth.issuer.clone(),
        aud: state.auth.audience.clone(),
        sub: user.id.to_string(),
        org: seat.map(|(tenant, _)| tenant.id().to_string()),
        sid: session.to_string(),
        iat: now.as_second(),
        exp: now.as_second() + i64::try_from(ttl).unwrap_or(900),
        pwd: user.must_change_password,
    };
    let access_token = state
        .cipher
        .sign_jwt(&claims)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token,
        session_id: session,
        organisation_id: seat.map(|(tenant, _)| tenant.id()),
        role: seat.map(|(_, role)| role),
        operator: seat.is_none(),
        must_change_password: user.must_change_password,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Trades a refresh token for a new pair. Each refresh token works once; presenting one that
/// was used before ends its session.
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new access token and refresh token", body = TokenResponse),
        (status = 401, description = "Unknown, expired, used or revoked", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let presented = body.value.refresh_token;
    let now = state.engine.clock.wall_now();
    let next_token = crypto::random_token();
    let store = &state.engine.store;
    let outcome = store
        .refresh_session(
            &crypto::sha256(presented.as_bytes()),
            NewRefreshToken {
                // The store fills in the session, user and organisation of the presented token.
                session_id: SessionId::new(),
                user_id: UserId::new(),
                tenant_id: None,
                token_hash: crypto::sha256(next_token.as_bytes()).to_vec(),
                created_at: now,
                expires_at: now + refresh_ttl(&state),
                user_agent: user_agent(&headers),
                ip: ip.map(|ip| ip.to_string()),
            },
            now,
        )
        .await?;
    match outcome {
        RefreshOutcome::Rotated(session) => {
            let user = store
                .get_user(session.user_id)
                .await?
                .filter(|u| u.disabled_at.is_none())
                .ok_or_else(ApiError::unauthorized)?;
            let seat = match session.tenant_id {
                Some(tenant_id) => {
                    let tenant = Tenant::from_authenticated(tenant_id);
                    let membership = store
                        .get_membership(tenant, user.id)
                        .await?
                        .ok_or_else(ApiError::unauthorized)?;
                    Some((tenant, membership.role))
                }
                None if user.operator => None,
                None => return Err(ApiError::unauthorized()),
            };
            issue_tokens(&state, &user, seat, session.id, next_token, now).map(Json)
        }
        RefreshOutcome::Reused {
            session_id,
            user_id,
            tenant_id,
        } => {
            tracing::warn!(session = %session_id, "a used refresh token was presented again; session revoked");
            state
                .audit(AuditEvent {
                    tenant: tenant_id,
                    actor: (ActorKind::System, String::new()),
                    action: "auth.refresh_reuse",
                    target_kind: "session",
                    target_id: session_id.to_string(),
                    ip,
                    detail: serde_json::json!({ "user_id": user_id, "revoked": true }),
                })
                .await?;
            Err(ApiError::unauthorized())
        }
        RefreshOutcome::Invalid => Err(ApiError::unauthorized()),
    }
}

/// Ends the session the access token belongs to.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: SignedIn,
) -> ApiResult<StatusCode> {
    let now = state.engine.clock.wall_now();
    state
        .engine
        .store
        .revoke_session(session.user(), session.session(), now)
        .await?;
    state
        .audit(AuditEvent {
            tenant: session.tenant().map(|t| t.id()),
            actor: session.audit_actor(),
            action: "auth.logout",
            target_kind: "session",
            target_id: session.session().to_string(),
            ip,
            detail: serde_json::json!({}),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A signed-in device.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: SessionId,
    /// Whether this is the session making the request.
    pub current: bool,
    pub user_agent: String,
    /// The client's address at sign-in or its last refresh.
    pub ip: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_used_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// The signed-in user's live sessions in this organisation, newest first.
#[utoipa::path(
    get, path = "/api/v1/auth/sessions", tag = "auth",
    responses(
        (status = 200, description = "Live sessions", body = Vec<SessionView>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    session: SignedIn,
) -> ApiResult<Json<Vec<SessionView>>> {
    let now = state.engine.clock.wall_now();
    let sessions = state
        .engine
        .store
        .list_sessions(session.user(), session.tenant(), now)
        .await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.id == session.session(),
                id: s.id,
                user_agent: s.user_agent,
                ip: s.ip,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
            })
            .collect(),
    ))
}

/// Ends one of the signed-in user's sessions (a lost phone, a shared computer).
#[utoipa::path(
    delete, path = "/api/v1/auth/sessions/{id}", tag = "auth",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such live session of this user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn revoke_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: SignedIn,
    ApiPath(id): ApiPath<SessionId>,
) -> ApiResult<StatusCode> {
    let now = state.engine.clock.wall_now();
    if !state
        .engine
        .store
        .revoke_session(session.user(), id, now)
        .await?
    {
        return Err(ApiError::not_found());
    }
    state
        .audit(AuditEvent {
            tenant: session.tenant().map(|t| t.id()),
            actor: session.audit_actor(),
            action: "auth.session_revoked",
            target_kind: "session",
            target_id: id.to_string(),
            ip,
            detail: serde_json::json!({}),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// The names of every organisation `user` belongs to (none for an operator): a password may be
/// none of them.
pub(crate) async fn organisation_names(state: &AppState, user: UserId) -> ApiResult<Vec<String>> {
    let store = &state.engine.store;
    let mut names = Vec::new();
    for m in store.list_memberships(user).await? {
        names.extend(store.get_tenant(m.tenant_id).await?.map(|o| o.name));
    }
    Ok(names)
}

/// Why a password is refused, or `None` when it is acceptable. `organisations` are the names of
/// the organisations the user belongs to (or is joining).
pub fn password_problem(password: &str, email: &Email, organisations: &[&str]) -> Option<String> {
    let folded = password.trim().to_lowercase();
    if password.chars().count() < MIN_PASSWORD_CHARS {
        Some(format!("must be at least {MIN_PASSWORD_CHARS} characters"))
    } else if folded == email.as_str().to_lowercase() {
        Some("must not be your email address".to_owned())
    } else if organisations
        .iter()
        .any(|name| folded == name.trim().to_lowercase())
    {
        Some("must not be the organisation's name".to_owned())
    } else {
        None
    }
}

/// Changes the signed-in user's password and ends every other session of theirs.
#[utoipa::path(
    post, path = "/api/v1/auth/password", tag = "auth", request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; every other session has ended"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The current password is wrong, or the new one is refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: SignedIn,
    body: ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    let ChangePassword {
        current_password,
        new_password,
    } = body.value;
    let store = &state.engine.store;
    let user = store
        .get_user(session.user())
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let organisations = organisation_names(&state, user.id).await?;
    let names: Vec<&str> = organisations.iter().map(String::as_str).collect();
    if let Some(problem) = password_problem(&new_password, &user.email, &names) {
        return Err(ApiError::field("new_password", problem));
    }
    let stored = user.password_hash.clone();
    let (verified, new_hash) = tokio::task::spawn_blocking(move || {
        let verified = crypto::verify_password(&current_password, &stored);
        let new_hash = verified.then(|| crypto::hash_password(&new_password));
        (verified, new_hash)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    if !verified {
        return Err(ApiError::field("current_password", "is not your password"));
    }
    let new_hash = new_hash
        .transpose()
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::internal(&"no hash"))?;
    let now = state.engine.clock.wall_now();
    store
        .set_password(user.id, &new_hash, false, Some(session.session()), now)
        .await?;
    state
        .audit(AuditEvent {
            tenant: session.tenant().map(|t| t.id()),
            actor: session.audit_actor(),
            action: "auth.password_changed",
            target_kind: "user",
            target_id: user.id.to_string(),
            ip,
            detail: serde_json::json!({ "other_sessions_ended": true }),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_end_after_their_length() {
        let t: Timestamp = "2026-03-04T18:07:30Z".parse().unwrap();
        let (start, end) = window(t, LOGIN_WINDOW);
        assert_eq!(start.to_string(), "2026-03-04T18:00:00Z");
        assert_eq!(end.to_string(), "2026-03-04T18:15:00Z");
    }

    #[test]
    fn weak_passwords_are_refused_with_the_reason() {
        let email = Email::parse("owner@example.com").unwrap();
        assert!(password_problem("short", &email, &["Acme"]).is_some());
        assert!(password_problem("OWNER@example.com", &email, &["Acme"]).is_some());
        assert!(
            password_problem("Acme Roofing Co", &email, &["Other", "acme roofing co"]).is_some()
        );
        assert_eq!(
            password_problem("correct horse battery", &email, &["Acme"]),
            None
        );
    }
}
