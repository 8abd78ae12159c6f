//! The engine's entries in the audit log: what it changes on its own (messages sent, failed and
//! blocked, replies received, opt-outs, suppressions), and the task that chains staged entries.
//!
//! These changes happen at the rate of traffic, so their entries are staged
//! ([`store::Store::stage_audit`]) rather than appended: on PostgreSQL appending takes the
//! organisation's chain lock, and a busy organisation's sends would queue on it. [`run_chainer`]
//! appends staged entries to their chains every second, in the order they were staged (SQLite
//! chains them as they are staged, so there it finds nothing to do).

use std::sync::Arc;
use std::time::Duration;

use domain::{AuditId, Tenant};
use store::{ActorKind, NewAuditEntry};
use tokio_util::sync::CancellationToken;

use crate::Engine;

/// How many staged entries one pass of the chainer appends at most (one transaction, which
/// holds the chains it touches for that long).
const CHAIN_BATCH: u32 = 200;

/// What the engine did, for the audit log.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub actor: (ActorKind, &'a str),
    /// `message.sent`, `lead.opted_out`, ...
    pub action: &'a str,
    pub target: (&'a str, String),
    pub detail: serde_json::Value,
}

impl Engine {
    /// Stages `change` for the organisation's audit log. The change itself is already made and
    /// kept in its own table (messages, consent, suppressions), so a failure here is logged and
    /// counted, not returned: failing the job would repeat the change.
    pub async fn record_change(&self, tenant: Tenant, change: Change<'_>) {
        let action = change.action;
        let entry = self.audit_entry(tenant, change);
        if let Err(e) = self.store.stage_audit(vec![entry]).await {
            metrics::counter!(crate::metrics::AUDIT_STAGE_FAILURES).increment(1);
            tracing::error!(error = %e, action, "staging an audit entry failed");
        }
    }

    /// The audit entry of `change`, for a store method that stages it with the change itself.
    pub fn audit_entry(&self, tenant: Tenant, change: Change<'_>) -> NewAuditEntry {
        NewAuditEntry {
            id: AuditId::new(),
            tenant_id: Some(tenant.id()),
            at: self.clock.wall_now(),
            actor_kind: change.actor.0,
            actor_id: change.actor.1.to_owned(),
            action: change.action.to_owned(),
            target_kind: change.target.0.to_owned(),
            target_id: change.target.1,
            ip: None,
            correlation_id: String::new(),
            detail: change.detail,
        }
    }
}

/// Appends staged audit entries to their chains every second until `shutdown`, then once more.
pub async fn run_chainer(engine: Arc<Engine>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => chain_all(&engine).await,
            () = shutdown.cancelled() => {
                chain_all(&engine).await;
                return;
            }
        }
    }
}

/// Chains staged entries until none are left (or an error, retried at the next tick).
pub async fn chain_all(engine: &Engine) {
    loop {
        match engine.store.chain_staged_audit(CHAIN_BATCH).await {
            Ok(n) if u64::from(CHAIN_BATCH) <= n => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "chaining staged audit entries");
                return;
            }
        }
    }
}
