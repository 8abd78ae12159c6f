//! API-key authentication, and scopes as types.
//!
//! A handler asks for `ApiKey<scope::LeadsWrite>`; the extractor authenticates the bearer key
//! and checks that it carries that scope, and hands out the organisation's [`Tenant`] scope. A
//! handler cannot reach tenant data without one, and the tenant never comes from the path or the
//! body.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Mutex;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use domain::{ApiKeyId, Tenant, Timestamp};
use jiff::SignedDuration;

use crate::AppState;
use crate::error::ApiError;

/// A scope an API key can hold.
pub trait Scope: Send + Sync + 'static {
    const NAME: &'static str;
}

/// The scopes, as types.
pub mod scope {
    macro_rules! scopes {
        ($($ty:ident => $name:literal),* $(,)?) => {
            $(
                #[derive(Debug)]
                pub struct $ty;
                impl super::Scope for $ty {
                    const NAME: &'static str = $name;
                }
            )*
        };
    }
    scopes! {
        LeadsRead => "leads:read",
        LeadsWrite => "leads:write",
        MessagesRead => "messages:read",
        JobsRead => "jobs:read",
        Sandbox => "sandbox",
    }
}

/// An authenticated API key holding scope `S`.
#[derive(Debug)]
pub struct ApiKey<S: Scope> {
    pub tenant: Tenant,
    pub key_id: ApiKeyId,
    _scope: PhantomData<S>,
}

impl<S: Scope> FromRequestParts<AppState> for ApiKey<S> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        let (prefix, whole) =
            crypto::parse_api_key(presented).ok_or_else(ApiError::unauthorized)?;
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
        if !record.scopes.iter().any(|s| s == S::NAME) {
            return Err(ApiError::forbidden(format!(
                "this API key lacks the `{}` scope",
                S::NAME
            )));
        }
        state.key_usage.touch(state, record.id);
        Ok(Self {
            tenant: Tenant::from_authenticated(record.tenant_id),
            key_id: record.id,
            _scope: PhantomData,
        })
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
