//! Authentication, and permissions as types.
//!
//! A handler asks for `Auth<scope::LeadsWrite>`. The extractor accepts either an organisation's
//! API key (`Authorization: Bearer ll_...`), which must carry the scope, or a signed-in user's
//! access token (a JWT from `/api/v1/auth/login`), whose role in the organisation must be at
//! least the scope's minimum role (the matrix in `docs/security.md`). It hands out the
//! organisation's [`Tenant`] scope and who is acting: a handler cannot reach tenant data
//! without one, and the tenant never comes from the path or the body.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use domain::{ApiKeyId, Role, SessionId, Tenant, TenantId, Timestamp, UserId};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;

/// A permission: the API-key scope that grants it, and the least role that has it.
pub trait Scope: Send + Sync + 'static {
    const NAME: &'static str;
    const MIN_ROLE: Role;
}

/// The permissions, as types.
pub mod scope {
    use domain::Role;

    macro_rules! scopes {
        ($($ty:ident => $name:literal, $role:ident),* $(,)?) => {
            $(
                #[derive(Debug)]
                pub struct $ty;
                impl super::Scope for $ty {
                    const NAME: &'static str = $name;
                    const MIN_ROLE: Role = Role::$role;
                }
            )*
            /// Every permission: (scope, least role).
            pub const ALL: &[(&str, Role)] = &[$(($name, Role::$role)),*];
        };
    }
    scopes! {
        LeadsRead => "leads:read", Viewer,
        LeadsWrite => "leads:write", Agent,
        MessagesRead => "messages:read", Viewer,
        JobsRead => "jobs:read", Manager,
        SettingsRead => "settings:read", Manager,
        SettingsWrite => "settings:write", Admin,
        AuditRead => "audit:read", Admin,
        Sandbox => "sandbox", Admin,
    }
}

/// Who is acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    ApiKey(ApiKeyId),
    User {
        user: UserId,
        session: SessionId,
        role: Role,
    },
    /// A platform operator under the organisation's support grant, with the grant's role.
    Operator {
        user: UserId,
        session: SessionId,
        role: Role,
    },
}

impl Actor {
    /// Who asks, for changes the store enters in the audit log itself (intake).
    pub fn audit_context(&self, ip: Option<IpAddr>) -> store::AuditContext {
        let (actor_kind, actor_id) = self.audit_actor();
        store::AuditContext {
            actor_kind,
            actor_id,
            ip: ip.map(|ip| ip.to_string()),
            correlation_id: crate::error::request_id().unwrap_or_default(),
        }
    }

    /// Who did it, as a lead's timeline names them: `user:{id}`, `key:{id}`, `operator:{id}`.
    pub fn label(&self) -> String {
        match self {
            Actor::ApiKey(id) => format!("key:{id}"),
            Actor::User { user, .. } => format!("user:{user}"),
            Actor::Operator { user, .. } => format!("operator:{user}"),
        }
    }

    /// For the audit log: (kind, id).
    pub fn audit_actor(&self) -> (store::ActorKind, String) {
        match self {
            Actor::ApiKey(id) => (store::ActorKind::ApiKey, id.to_string()),
            Actor::User { user, .. } => (store::ActorKind::User, user.to_string()),
            Actor::Operator { user, .. } => (store::ActorKind::Operator, user.to_string()),
        }
    }
}

/// An authenticated principal of one organisation holding permission `S`.
#[derive(Debug)]
pub struct Auth<S: Scope> {
    pub tenant: Tenant,
    pub actor: Actor,
    _scope: PhantomData<S>,
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user.
    pub sub: String,
    /// The organisation the session is for; absent for a platform operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The session (refresh-token family).
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    /// The password was generated: the token is good only for choosing a new one (and
    /// signing out).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pwd: bool,
}

pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// A signed-in person's live session, from its access token: the JWT must verify, and its
/// session must still be live (logout, a new password and refresh-token reuse end it at once,
/// not when the token expires). A member's role is read from the membership now, not from the
/// token; an operator's flag from the user now.
#[derive(Debug, Clone)]
pub enum SignedIn {
    Member(UserSession),
    Operator(OperatorSession),
}

/// A member's session in one organisation.
#[derive(Debug, Clone)]
pub struct UserSession {
    pub tenant: Tenant,
    pub user: UserId,
    pub session: SessionId,
    pub role: Role,
    /// The user must choose a new password before doing anything else.
    pub must_change_password: bool,
}

impl UserSession {
    /// Refuses unless the member is an owner or admin who has chosen their own password.
    /// `what` names the task in the refusal (`manage API keys`).
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.must_change_password {
            return Err(choose_password_first());
        }
        if !self.role.at_least(Role::Admin) {
            return Err(ApiError::forbidden(format!(
                "the {} role cannot {what} (it needs admin or above)",
                self.role
            )));
        }
        Ok(())
    }
}

/// A platform operator's session: outside every organisation. It reaches an organisation's data
/// only through that organisation's live support grant (see [`Auth`]).
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub user: UserId,
    pub session: SessionId,
    pub must_change_password: bool,
}

impl SignedIn {
    pub fn user(&self) -> UserId {
        match self {
            SignedIn::Member(s) => s.user,
            SignedIn::Operator(s) => s.user,
        }
    }

    pub fn session(&self) -> SessionId {
        match self {
            SignedIn::Member(s) => s.session,
            SignedIn::Operator(s) => s.session,
        }
    }

    /// The organisation signed in to; `None` for an operator.
    pub fn tenant(&self) -> Option<Tenant> {
        match self {
            SignedIn::Member(s) => Some(s.tenant),
            SignedIn::Operator(_) => None,
        }
    }

    /// Who acts, for the audit log.
    pub fn audit_actor(&self) -> (store::ActorKind, String) {
        match self {
            SignedIn::Member(s) => (store::ActorKind::User, s.user.to_string()),
            SignedIn::Operator(s) => (store::ActorKind::Operator, s.user.to_string()),
        }
    }

    pub(crate) async fn from_token(token: &str, state: &AppState) -> Result<Self, ApiError> {
        let claims: AccessClaims = state
            .cipher
            .verify_jwt(token, &state.auth.issuer, &state.auth.audience)
            .map_err(|_| ApiError::unauthorized())?;
        Self::from_claims(&claims, state).await
    }

    /// The live session verified claims point to (an API access token's or a dashboard
    /// cookie's: both name the same kind of session).
    pub(crate) async fn from_claims(
        claims: &AccessClaims,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let user: UserId = claims.sub.parse().map_err(|_| ApiError::unauthorized())?;
        let org: Option<TenantId> = claims
            .org
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| ApiError::unauthorized())?;
        let session: SessionId = claims.sid.parse().map_err(|_| ApiError::unauthorized())?;
        let store = &state.engine.store;
        let live = store
            .get_live_session(session, state.engine.clock.wall_now())
            .await?
            .filter(|s| s.user_id == user && s.tenant_id == org)
            .ok_or_else(ApiError::unauthorized)?;
        let Some(tenant_id) = live.tenant_id else {
            // An operator's session: the user must still be an operator.
            store
                .get_user(user)
                .await?
                .filter(|u| u.operator && u.disabled_at.is_none())
                .ok_or_else(ApiError::unauthorized)?;
            return Ok(SignedIn::Operator(OperatorSession {
                user,
                session,
                must_change_password: claims.pwd,
            }));
        };
        let tenant = Tenant::from_authenticated(tenant_id);
        let membership = store
            .get_membership(tenant, user)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        let org = store
            .get_tenant(tenant.id())
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if org.suspended_at.is_some() {
            return Err(ApiError::suspended());
        }
        Ok(SignedIn::Member(UserSession {
            tenant,
            user,
            session,
            role: membership.role,
            must_change_password: claims.pwd,
        }))
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        if crypto::parse_api_key(token).is_some() {
            return Err(ApiError::forbidden(
                "this endpoint is for signed-in users, not API keys",
            ));
        }
        Self::from_token(token, state).await
    }
}

impl FromRequestParts<AppState> for UserSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match SignedIn::from_request_parts(parts, state).await? {
            SignedIn::Member(session) => Ok(session),
            SignedIn::Operator(_) => Err(ApiError::forbidden(
                "this endpoint is for members of an organisation",
            )),
        }
    }
}

impl FromRequestParts<AppState> for OperatorSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match SignedIn::from_request_parts(parts, state).await? {
            SignedIn::Operator(session) if session.must_change_password => {
                Err(choose_password_first())
            }
            SignedIn::Operator(session) => Ok(session),
            SignedIn::Member(_) => Err(ApiError::forbidden(
                "this endpoint is for platform operators",
            )),
        }
    }
}

/// The refusal of a session whose password was generated: it may only choose a new one (and
/// sign out, and manage its sessions).
pub(crate) fn choose_password_first() -> ApiError {
    ApiError::forbidden("choose a new password first (POST /api/v1/auth/password), then refresh")
}

/// The header naming the organisation an operator acts in, under its support grant.
pub const ORGANISATION_HEADER: &str = "x-leadline-organisation";

impl<S: Scope> FromRequestParts<AppState> for Auth<S> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let Some((prefix, whole)) = crypto::parse_api_key(presented) else {
            let session = match SignedIn::from_token(presented, state).await? {
                SignedIn::Member(session) => session,
                SignedIn::Operator(operator) => {
                    return Self::through_support_grant(parts, state, operator).await;
                }
            };
            if session.must_change_password {
                return Err(choose_password_first());
            }
            if !session.role.at_least(S::MIN_ROLE) {
                return Err(ApiError::forbidden(format!(
                    "the {} role cannot do this (it needs {} or above)",
                    session.role,
                    S::MIN_ROLE
                )));
            }
            spend(state, None, session.tenant)?;
            return Ok(Self {
                tenant: session.tenant,
                actor: Actor::User {
                    user: session.user,
                    session: session.session,
                    role: session.role,
                },
                _scope: PhantomData,
            });
        };
        let record = state.engine.store.find_api_key_by_prefix(prefix).await?;
        // Verify even when the prefix is unknown, so timing does not reveal which prefixes exist.
        let (hash, record) = match record {
            Some(r) => (r.hash.clone(), Some(r)),
            None => (vec![0u8; 32], None),
        };
        let valid = crypto::verify_token(whole, &hash);
        let record = match record {
            Some(r) if valid && r.revoked_at.is_none() => r,
            _ => return Err(ApiError::unauthorized()),
        };
        if record.tenant_suspended {
            return Err(ApiError::suspended());
        }
        if !record.scopes.iter().any(|s| s == S::NAME) {
            return Err(ApiError::forbidden(format!(
                "this API key lacks the `{}` scope",
                S::NAME
            )));
        }
        state.key_usage.touch(state, record.id);
        let tenant = Tenant::from_authenticated(record.tenant_id);
        spend(state, Some(record.id), tenant)?;
        Ok(Self {
            tenant,
            actor: Actor::ApiKey(record.id),
            _scope: PhantomData,
        })
    }
}

impl<S: Scope> Auth<S> {
    /// The permission, for a principal the dashboard has already authenticated and checked
    /// against `S` (its cookie session's role, see `dashboard::session`).
    pub(crate) fn granted(tenant: Tenant, actor: Actor) -> Self {
        Self {
            tenant,
            actor,
            _scope: PhantomData,
        }
    }

    /// An operator acting in the organisation named by [`ORGANISATION_HEADER`]: allowed only
    /// while that organisation has a live support grant whose role reaches `S`, and recorded in
    /// the organisation's audit log, request by request (refusals under a grant included).
    /// Without a grant the organisation is not found, as if it did not exist.
    async fn through_support_grant(
        parts: &Parts,
        state: &AppState,
        operator: OperatorSession,
    ) -> Result<Self, ApiError> {
        if operator.must_change_password {
            return Err(choose_password_first());
        }
        let org: TenantId = parts
            .headers
            .get(ORGANISATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::forbidden(
                    "operators act in an organisation by naming it in X-Leadline-Organisation, \
                     under its support grant",
                )
            })?
            .trim()
            .parse()
            .map_err(|_| ApiError::malformed_id("X-Leadline-Organisation", "organisation"))?;
        let now = state.engine.clock.wall_now();
        let grant = state
            .engine
            .store
            .live_support_grant(org, now)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let allowed = grant.role.at_least(S::MIN_ROLE);
        let tenant = Tenant::from_authenticated(org);
        let actor = Actor::Operator {
            user: operator.user,
            session: operator.session,
            role: grant.role,
        };
        state
            .audit(crate::AuditEvent {
                tenant: Some(org),
                actor: actor.audit_actor(),
                action: "support.access",
                target_kind: "request",
                target_id: format!("{} {}", parts.method, parts.uri.path()),
                ip: client_ip(parts, &state.auth.trusted_proxies),
                detail: serde_json::json!({
                    "grant_id": grant.id,
                    "role": grant.role,
                    "allowed": allowed,
                }),
            })
            .await?;
        if !allowed {
            return Err(ApiError::forbidden(format!(
                "the organisation's support grant gives {}; this needs {} or above",
                grant.role,
                S::MIN_ROLE
            )));
        }
        spend(state, None, tenant)?;
        Ok(Self {
            tenant,
            actor,
            _scope: PhantomData,
        })
    }
}

/// Counts a request against the key's and the organisation's budgets: 429 with `Retry-After`
/// past either.
fn spend(state: &AppState, key: Option<ApiKeyId>, tenant: Tenant) -> Result<(), ApiError> {
    let limits = state.budgets;
    if limits == crate::budget::Budgets::default() {
        // Budgets off: nothing to count on the request path.
        return Ok(());
    }
    let now = state.engine.clock.wall_now();
    let counters = &state.budget_counters;
    let refused = key
        .map(|k| counters.take(&format!("budget:key:{k}"), limits.per_api_key, now))
        .transpose()
        .and_then(|_| {
            counters.take(
                &format!("budget:org:{}", tenant.id()),
                limits.per_organisation,
                now,
            )
        });
    refused.map_err(|retry| {
        ApiError::rate_limited(
            "Request budget spent",
            "this key or organisation has used its requests for this minute",
            retry,
        )
    })
}

/// The client's address: the peer's, or, when the peer is a configured trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not one (never a client-supplied value past an
/// untrusted hop).
pub fn client_ip(parts: &Parts, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted_proxies.contains(ip))
        .or(Some(peer))
}

/// The client's address as an extractor (never fails; `None` without connection info).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, &state.auth.trusted_proxies)))
    }
}

/// Writes `last_used_at` at most once a minute per key, off the request path: a write per
/// request would put every API call on the database's write path.
#[derive(Debug, Default)]
pub struct KeyUsage {
    written: Mutex<HashMap<ApiKeyId, Timestamp>>,
}

impl KeyUsage {
    fn touch(&self, state: &AppState, id: ApiKeyId) {
        let now = state.engine.clock.now();
        {
            let mut written = self
                .written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match written.get(&id) {
                Some(at) if now.duration_since(*at) < SignedDuration::from_secs(60) => return,
                _ => {
                    written.insert(id, now);
                }
            }
        }
        let store = state.engine.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(id, now).await {
                tracing::warn!(error = %e, "recording an API key's last use");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_is_an_api_scope_and_in_the_documented_matrix() {
        let matrix = include_str!("../../../docs/security.md");
        for (name, role) in scope::ALL {
            assert!(
                store::API_SCOPES.contains(name),
                "{name} cannot be granted to an API key"
            );
            let row = matrix
                .lines()
                .find(|l| l.starts_with('|') && l.contains(&format!("`{name}`")))
                .unwrap_or_else(|| panic!("{name} is missing from the matrix in docs/security.md"));
            // Columns: permission, viewer, agent, manager, admin, owner.
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            for (i, r) in Role::ALL.iter().rev().enumerate() {
                let allowed = cells[2 + i] == "yes";
                assert_eq!(
                    allowed,
                    r.at_least(*role),
                    "docs/security.md says {r} {} {name}",
                    if allowed { "may" } else { "may not" }
                );
            }
        }
    }
}
