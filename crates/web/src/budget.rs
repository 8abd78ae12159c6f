//! Request budgets per API key and per organisation, shared by every instance.
//!
//! A database write per request would put every API call on the write path (and on SQLite,
//! through the one writer), so each process counts locally and adds its count to the shared
//! per-minute counter (`Store::rate_limit_add`) once a second, learning the total of every
//! process in return. A request is refused when the last known total plus this process's
//! unsent count reaches the budget. Across instances the budget therefore holds to within about
//! one second of traffic; within one instance it holds exactly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::Timestamp;
use jiff::SignedDuration;

/// The window of the budgets.
pub const WINDOW: SignedDuration = SignedDuration::from_mins(1);

/// Budgets per minute; `0` means no budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budgets {
    pub per_api_key: u64,
    pub per_organisation: u64,
}

#[derive(Debug, Default)]
struct Counter {
    window_start: Option<Timestamp>,
    /// The total of every process, as of the last flush.
    known_total: i64,
    /// Counted here since the last flush.
    pending: i64,
}

/// The counters of this process.
#[derive(Debug, Default)]
pub struct BudgetCounters {
    counters: Mutex<HashMap<String, Counter>>,
}

fn window_start(now: Timestamp) -> Timestamp {
    let len = WINDOW.as_secs();
    Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(len)).unwrap_or(now)
}

impl BudgetCounters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Counter>> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one request against `key` if the budget allows it; otherwise returns how long
    /// until the window ends.
    pub fn take(&self, key: &str, budget: u64, now: Timestamp) -> Result<(), SignedDuration> {
        if budget == 0 {
            return Ok(());
        }
        let start = window_start(now);
        let mut counters = self.lock();
        let counter = counters.entry(key.to_owned()).or_default();
        if counter.window_start != Some(start) {
            *counter = Counter {
                window_start: Some(start),
                known_total: 0,
                pending: 0,
            };
        }
        let budget = i64::try_from(budget).unwrap_or(i64::MAX);
        if counter.known_total + counter.pending >= budget {
            return Err((start + WINDOW).duration_since(now));
        }
        counter.pending += 1;
        Ok(())
    }

    /// Sends every unsent count to the shared counters and learns their totals (for keys used
    /// in the current window).
    pub async fn flush(&self, store: &dyn store::Store, now: Timestamp) {
        let due: Vec<(String, Timestamp, i64)> = {
            let mut counters = self.lock();
            let current = window_start(now);
            // Windows that have ended are of no more use.
            counters.retain(|_, c| c.window_start == Some(current) || c.pending > 0);
            // Keys of the current window are refreshed even with nothing to add, to learn what
            // the other processes counted.
            counters
                .iter_mut()
                .filter_map(|(k, c)| {
                    let start = c.window_start?;
                    let n = std::mem::take(&mut c.pending);
                    Some((k.clone(), start, n))
                })
                .collect()
        };
        for (key, start, n) in due {
            match store.rate_limit_add(&key, start, start + WINDOW, n).await {
                Ok(total) => {
                    let mut counters = self.lock();
                    if let Some(c) = counters.get_mut(&key)
                        && c.window_start == Some(start)
                    {
                        c.known_total = c.known_total.max(total);
                    }
                }
                Err(e) => {
                    // Keep the count for the next flush rather than forget it.
                    tracing::warn!(error = %e, "could not share request budget counts");
                    let mut counters = self.lock();
                    if let Some(c) = counters.get_mut(&key)
                        && c.window_start == Some(start)
                    {
                        c.pending += n;
                    }
                }
            }
        }
    }
}

/// How often ended rate-limit windows are purged from the database.
const PURGE_EVERY: u32 = 300;

/// Flushes `counters` every second until `shutdown`, and every five minutes purges the shared
/// rate-limit windows (budgets, sign-in limits) that have ended, so keys never seen again do not
/// accumulate, and webhook event ids older than [`crate::routes::hooks::REMEMBER_EVENTS`].
/// Every instance purges; the deletes are idempotent.
pub async fn run_flusher(
    counters: Arc<BudgetCounters>,
    store: Arc<dyn store::Store>,
    clock: Arc<dyn domain::Clock>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u32 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                counters.flush(store.as_ref(), clock.wall_now()).await;
                ticks = ticks.wrapping_add(1);
                if ticks.is_multiple_of(PURGE_EVERY) {
                    match store.purge_rate_limits(clock.wall_now()).await {
                        Ok(n) if n > 0 => tracing::debug!(purged = n, "ended rate-limit windows purged"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "purging rate-limit windows"),
                    }
                    let forget = clock.wall_now() - crate::routes::hooks::REMEMBER_EVENTS;
                    if let Err(e) = store.purge_events(forget).await {
                        tracing::warn!(error = %e, "purging remembered webhook events");
                    }
                }
            }
            () = shutdown.cancelled() => {
                counters.flush(store.as_ref(), clock.wall_now()).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_budget_refuses_past_its_count_until_the_window_ends() {
        let c = BudgetCounters::default();
        let now = at("2026-03-04T18:00:10Z");
        for _ in 0..3 {
            assert!(c.take("k", 3, now).is_ok());
        }
        assert_eq!(c.take("k", 3, now), Err(SignedDuration::from_secs(50)));
        assert!(c.take("other", 3, now).is_ok(), "budgets are per key");
        assert!(c.take("k", 0, now).is_ok(), "0 is no budget");
        assert!(
            c.take("k", 3, at("2026-03-04T18:01:00Z")).is_ok(),
            "a new window"
        );
    }
}
