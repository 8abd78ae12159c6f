//! Joining and recovering: password resets, invitations, and open signup.
//!
//! Resets and invitations are single-use, expiring tokens sent by email; only their SHA-256 is
//! stored. Asking for a reset answers the same whether or not the email has an account.
//! Signup is off unless `signup = "open"`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use domain::{Email, Role, Tenant, Timestamp, UserId};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use store::{ActorKind, NewOneTimeToken, OneTimeKind};

use super::auth::{
    LOGIN_FAILURES_PER_EMAIL, LOGIN_FAILURES_PER_IP, LOGIN_WINDOW, TokenResponse, limit_key,
    login_keys, organisation_names, password_problem, start_session, too_many, window,
};
use crate::auth::{ClientIp, UserSession};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::{AppState, AuditEvent};

/// A reset link works this long.
pub const RESET_TTL: SignedDuration = SignedDuration::from_hours(1);
/// An invitation works this long.
pub const INVITATION_TTL: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Reset requests per email per hour (more are accepted and ignored, to reveal nothing).
const RESETS_PER_EMAIL_PER_HOUR: i64 = 3;
/// Signups per client address per hour.
const SIGNUPS_PER_IP_PER_HOUR: i64 = 3;

/// Adds one to a counter of the hour and returns it.
async fn count_hourly(state: &AppState, key: &str) -> ApiResult<(i64, SignedDuration)> {
    let now = state.engine.clock.wall_now();
    let (start, end) = window(now, SignedDuration::from_hours(1));
    let n = state
        .engine
        .store
        .rate_limit_add(key, start, end, 1)
        .await?;
    Ok((n, end.duration_since(now)))
}

fn link(state: &AppState, path: &str, token: &str) -> String {
    if state.auth.public_base_url.is_empty() {
        String::new()
    } else {
        format!(
            "\n\nOr open: {}{path}?token={token}\n",
            state.auth.public_base_url.trim_end_matches('/')
        )
    }
}

fn invalid_token() -> ApiError {
    ApiError::field("token", "is invalid, used or expired")
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPassword {
    pub email: String,
}

/// Sends a single-use reset token (valid one hour) to the email, if it has an account. The
/// answer is the same either way.
#[utoipa::path(
    post, path = "/api/v1/auth/password/forgot", tag = "auth", request_body = ForgotPassword,
    responses(
        (status = 202, description = "If the email has an account, a reset token is on its way"),
        (status = 422, description = "A malformed email", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn forgot_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: ApiJson<ForgotPassword>,
) -> ApiResult<StatusCode> {
    let email =
        Email::parse(&body.value.email).map_err(|e| ApiError::field("email", e.to_string()))?;
    let (per_email, _) =
        count_hourly(&state, &limit_key(&state, "reset:email", email.as_str())).await?;
    if per_email > RESETS_PER_EMAIL_PER_HOUR {
        // Accepted and ignored: a flood of resets must not flood the inbox.
        return Ok(StatusCode::ACCEPTED);
    }
    let store = &state.engine.store;
    let Some(user) = store
        .find_user_by_email(&email)
        .await?
        .filter(|u| u.disabled_at.is_none())
    else {
        return Ok(StatusCode::ACCEPTED);
    };
    let token = crypto::random_token();
    let now = state.engine.clock.wall_now();
    store
        .create_one_time_token(NewOneTimeToken {
            id: uuid::Uuid::now_v7(),
            kind: OneTimeKind::PasswordReset,
            token_hash: crypto::sha256(token.as_bytes()).to_vec(),
            user_id: Some(user.id),
            tenant_id: None,
            email: user.email.clone(),
            role: None,
            created_by: None,
            created_at: now,
            expires_at: now + RESET_TTL,
        })
        .await?;
    let text = format!(
        "Someone asked to reset the password of your Leadline account. If it was you, use this \
         code within an hour:\n\n{token}\n\n(POST /api/v1/auth/password/reset with the code and \
         your new password.){}\nIf it was not you, ignore this email: nothing changes.",
        link(&state, "/reset-password", &token)
    );
    if let Err(e) = state
        .engine
        .send_account_email(
            &state.auth.email_from,
            &user.email,
            "Reset your Leadline password",
            &text,
        )
        .await
    {
        tracing::error!(error = %e, "could not send a password reset email");
    }
    state
        .audit(AuditEvent {
            tenant: None,
            actor: (ActorKind::System, String::new()),
            action: "auth.password_reset_requested",
            target_kind: "user",
            target_id: user.id.to_string(),
            ip,
            detail: serde_json::json!({}),
        })
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    pub token: String,
    pub new_password: String,
}

/// Sets a new password with a reset token, and ends every session of the user.
#[utoipa::path(
    post, path = "/api/v1/auth/password/reset", tag = "auth", request_body = ResetPassword,
    responses(
        (status = 204, description = "Changed; every session has ended"),
        (status = 422, description = "An invalid, used or expired token, or a refused password", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn reset_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: ApiJson<ResetPassword>,
) -> ApiResult<StatusCode> {
    let ResetPassword {
        token,
        new_password,
    } = body.value;
    let store = &state.engine.store;
    let now = state.engine.clock.wall_now();
    let hash = crypto::sha256(token.as_bytes());
    let found = store
        .find_one_time_token(&hash, OneTimeKind::PasswordReset, now)
        .await?
        .ok_or_else(invalid_token)?;
    let user_id = found.user_id.ok_or_else(invalid_token)?;
    let user = store.get_user(user_id).await?.ok_or_else(invalid_token)?;
    let organisations = organisation_names(&state, user.id).await?;
    let names: Vec<&str> = organisations.iter().map(String::as_str).collect();
    if let Some(problem) = password_problem(&new_password, &user.email, &names) {
        return Err(ApiError::field("new_password", problem));
    }
    let new_hash = tokio::task::spawn_blocking(move || crypto::hash_password(&new_password))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    // Used up only now that everything else is in order; a concurrent use loses here.
    store
        .redeem_one_time_token(&hash, OneTimeKind::PasswordReset, now)
        .await?
        .ok_or_else(invalid_token)?;
    store
        .set_password(user.id, &new_hash, false, None, now)
        .await?;
    state
        .audit(AuditEvent {
            tenant: None,
            actor: (ActorKind::User, user.id.to_string()),
            action: "auth.password_reset",
            target_kind: "user",
            target_id: user.id.to_string(),
            ip,
            detail: serde_json::json!({ "sessions_ended": true }),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    pub email: String,
    /// owner (by owners only), admin, manager, agent or viewer.
    pub role: Role,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    pub id: uuid::Uuid,
    pub email: String,
    pub role: Role,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// Invites someone to the organisation: a single-use token (valid 7 days) goes to their email.
#[utoipa::path(
    post, path = "/api/v1/invitations", tag = "auth", request_body = CreateInvitation,
    responses(
        (status = 201, description = "Invited", body = InvitationView),
        (status = 403, description = "Not an owner or admin, or an admin inviting an owner", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed email or role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []))
)]
pub async fn invite(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: UserSession,
    body: ApiJson<CreateInvitation>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    if session.must_change_password || !session.role.at_least(Role::Admin) {
        return Err(ApiError::forbidden(
            "only owners and admins invite (after choosing their own password)",
        ));
    }
    let CreateInvitation { email, role } = body.value;
    if role == Role::Owner && session.role != Role::Owner {
        return Err(ApiError::forbidden(
            "only an owner can invite another owner",
        ));
    }
    let email = Email::parse(&email).map_err(|e| ApiError::field("email", e.to_string()))?;
    let store = &state.engine.store;
    let org = store
        .get_tenant(session.tenant.id())
        .await?
        .ok_or_else(ApiError::not_found)?;
    let (id, expires_at) = send_invitation(
        &state,
        session.tenant,
        &org.name,
        &email,
        role,
        Some(session.user),
    )
    .await?;
    state
        .audit(AuditEvent {
            tenant: Some(session.tenant.id()),
            actor: (ActorKind::User, session.user.to_string()),
            action: "invitation.create",
            target_kind: "invitation",
            target_id: id.to_string(),
            ip,
            detail: serde_json::json!({ "role": role }),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationView {
            id,
            email: email.as_str().to_owned(),
            role,
            expires_at,
        }),
    ))
}

/// Creates an invitation to `tenant` with `role` and emails its single-use token to `email`:
/// (the invitation's id, when it expires).
pub(crate) async fn send_invitation(
    state: &AppState,
    tenant: Tenant,
    org_name: &str,
    email: &Email,
    role: Role,
    created_by: Option<UserId>,
) -> ApiResult<(uuid::Uuid, Timestamp)> {
    let token = crypto::random_token();
    let now = state.engine.clock.wall_now();
    let id = uuid::Uuid::now_v7();
    state
        .engine
        .store
        .create_one_time_token(NewOneTimeToken {
            id,
            kind: OneTimeKind::Invitation,
            token_hash: crypto::sha256(token.as_bytes()).to_vec(),
            user_id: None,
            tenant_id: Some(tenant.id()),
            email: email.clone(),
            role: Some(role),
            created_by,
            created_at: now,
            expires_at: now + INVITATION_TTL,
        })
        .await?;
    let text = format!(
        "You are invited to join {org_name} on Leadline as {role}. Use this code within 7 days:\n\n{token}\n\n\
         (POST /api/v1/auth/invitations/accept with the code and a password.){}",
        link(state, "/accept-invitation", &token)
    );
    state
        .engine
        .send_account_email(
            &state.auth.email_from,
            email,
            &format!("Join {org_name} on Leadline"),
            &text,
        )
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    Ok((id, now + INVITATION_TTL))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
    /// A new password for a new account; the current one for an existing account.
    pub password: String,
}

/// Accepts an invitation and signs in. A new email gets an account with this password; an
/// existing account proves itself with its current password and gains the membership.
#[utoipa::path(
    post, path = "/api/v1/auth/invitations/accept", tag = "auth", request_body = AcceptInvitation,
    responses(
        (status = 201, description = "A member now, and signed in", body = TokenResponse),
        (status = 401, description = "An existing account's password is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid, used or expired token, or a refused password", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn accept_invitation(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: ApiJson<AcceptInvitation>,
) -> ApiResult<(StatusCode, Json<TokenResponse>)> {
    let AcceptInvitation { token, password } = body.value;
    let store = &state.engine.store;
    let now = state.engine.clock.wall_now();
    let hash = crypto::sha256(token.as_bytes());
    let invitation = store
        .find_one_time_token(&hash, OneTimeKind::Invitation, now)
        .await?
        .ok_or_else(invalid_token)?;
    let (Some(tenant_id), Some(role)) = (invitation.tenant_id, invitation.role) else {
        return Err(invalid_token());
    };
    let tenant = Tenant::from_authenticated(tenant_id);
    let org = store
        .get_tenant(tenant_id)
        .await?
        .ok_or_else(invalid_token)?;
    let existing = store.find_user_by_email(&invitation.email).await?;
    let user = match existing {
        Some(user) => {
            // The account's password is being tried: the sign-in limits apply.
            let (start, end) = window(now, LOGIN_WINDOW);
            let (email_key, ip_key) = login_keys(&state, &user.email, ip);
            let failures = store.rate_limit_add(&email_key, start, end, 0).await?;
            let ip_failures = match &ip_key {
                Some(key) => store.rate_limit_add(key, start, end, 0).await?,
                None => 0,
            };
            if failures >= LOGIN_FAILURES_PER_EMAIL || ip_failures >= LOGIN_FAILURES_PER_IP {
                return Err(too_many(end.duration_since(now)));
            }
            let stored = user.password_hash.clone();
            let given = password.clone();
            let ok = tokio::task::spawn_blocking(move || crypto::verify_password(&given, &stored))
                .await
                .unwrap_or(false);
            if !ok || user.disabled_at.is_some() {
                store.rate_limit_add(&email_key, start, end, 1).await?;
                if let Some(key) = &ip_key {
                    store.rate_limit_add(key, start, end, 1).await?;
                }
                let mut e = ApiError::unauthorized();
                e.detail = Some("sign in with the existing account's password".to_owned());
                return Err(e);
            }
            user
        }
        None => {
            if let Some(problem) = password_problem(&password, &invitation.email, &[&org.name]) {
                return Err(ApiError::field("password", problem));
            }
            let hash = tokio::task::spawn_blocking(move || crypto::hash_password(&password))
                .await
                .map_err(|e| ApiError::internal(&e))?
                .map_err(|e| ApiError::internal(&e))?;
            store
                .create_user(store::NewUser {
                    id: UserId::new(),
                    email: invitation.email.clone(),
                    password_hash: hash,
                    must_change_password: false,
                    operator: false,
                    created_at: now,
                })
                .await?
        }
    };
    store
        .redeem_one_time_token(
            &crypto::sha256(token.as_bytes()),
            OneTimeKind::Invitation,
            now,
        )
        .await?
        .ok_or_else(invalid_token)?;
    match store.add_membership(tenant, user.id, role, now).await {
        Ok(_) => {}
        Err(store::DbError::Conflict(_)) => {
            return Err(ApiError::field(
                "token",
                "this account is a member of the organisation already",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state
        .audit(AuditEvent {
            tenant: Some(tenant_id),
            actor: (ActorKind::User, user.id.to_string()),
            action: "invitation.accept",
            target_kind: "user",
            target_id: user.id.to_string(),
            ip,
            detail: serde_json::json!({ "role": role, "invitation": invitation.id }),
        })
        .await?;
    let response = start_session(&state, &user, Some((tenant, role)), &headers, ip, now).await?;
    Ok((StatusCode::CREATED, Json(response)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signup {
    pub organisation_name: String,
    pub email: String,
    pub password: String,
}

/// Creates an organisation and its owner, and signs the owner in. Off unless
/// `signup = "open"`; at most 3 per client address per hour.
#[utoipa::path(
    post, path = "/api/v1/auth/signup", tag = "auth", request_body = Signup,
    responses(
        (status = 201, description = "Created and signed in", body = TokenResponse),
        (status = 403, description = "Signup is closed: users join by invitation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or the email has an account", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many signups from this address", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: ApiJson<Signup>,
) -> ApiResult<(StatusCode, Json<TokenResponse>)> {
    if !state.auth.signup_open {
        return Err(ApiError::forbidden(
            "signup is closed on this server: ask an organisation's admin for an invitation",
        ));
    }
    let address = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let (count, retry) = count_hourly(&state, &limit_key(&state, "signup:ip", &address)).await?;
    if count > SIGNUPS_PER_IP_PER_HOUR {
        return Err(too_many(retry));
    }
    let Signup {
        organisation_name,
        email,
        password,
    } = body.value;
    let name = organisation_name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::field(
            "organisation_name",
            "must be 1 to 200 characters",
        ));
    }
    let email = Email::parse(&email).map_err(|e| ApiError::field("email", e.to_string()))?;
    if let Some(problem) = password_problem(&password, &email, &[&name]) {
        return Err(ApiError::field("password", problem));
    }
    let store = &state.engine.store;
    if store.find_user_by_email(&email).await?.is_some() {
        // Says no more than a sign-in would: this address cannot sign up.
        return Err(ApiError::field(
            "email",
            "cannot sign up with this address; sign in or reset its password",
        ));
    }
    let hash = tokio::task::spawn_blocking(move || crypto::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    let now = state.engine.clock.wall_now();
    let settings = store::TenantSettings {
        business_name: name.clone(),
        ..store::TenantSettings::default()
    };
    let org = store.create_tenant(&name, &settings, now).await?;
    let user = match store
        .create_user(store::NewUser {
            id: UserId::new(),
            email,
            password_hash: hash,
            must_change_password: false,
            operator: false,
            created_at: now,
        })
        .await
    {
        Ok(user) => user,
        Err(store::DbError::Conflict(_)) => {
            return Err(ApiError::field(
                "email",
                "cannot sign up with this address; sign in or reset its password",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let tenant = Tenant::from_authenticated(org.id);
    store
        .add_membership(tenant, user.id, Role::Owner, now)
        .await?;
    state
        .audit(AuditEvent {
            tenant: Some(org.id),
            actor: (ActorKind::User, user.id.to_string()),
            action: "organisation.signup",
            target_kind: "organisation",
            target_id: org.id.to_string(),
            ip,
            detail: serde_json::json!({}),
        })
        .await?;
    let response = start_session(
        &state,
        &user,
        Some((tenant, Role::Owner)),
        &headers,
        ip,
        now,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(response)))
}
