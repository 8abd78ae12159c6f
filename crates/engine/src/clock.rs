//! The sandbox clock: business time that a person (or a test) can move, so a week of
//! follow-ups plays out in a minute. Real time keeps running underneath.

use std::sync::RwLock;

use domain::{Clock, Timestamp, clock::wall_clock_now};
use jiff::SignedDuration;

/// Wall-clock time plus an offset that `set` and `advance` move.
#[derive(Debug, Default)]
pub struct SandboxClock {
    offset: RwLock<SignedDuration>,
}

impl SandboxClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes business time read `at` now (it runs on from there).
    pub fn set(&self, at: Timestamp) {
        *self.write() = at.duration_since(wall_clock_now());
    }

    /// Moves business time by `by` (may be negative).
    pub fn advance(&self, by: SignedDuration) {
        let mut offset = self.write();
        *offset = offset.saturating_add(by);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, SignedDuration> {
        self.offset
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clock for SandboxClock {
    fn now(&self) -> Timestamp {
        let offset = *self
            .offset
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        wall_clock_now()
            .saturating_add(offset)
            .unwrap_or(Timestamp::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_advance_move_business_time_only() {
        let clock = SandboxClock::new();
        let target: Timestamp = "2026-03-02T15:00:00Z".parse().unwrap();
        clock.set(target);
        let drift = clock.now().duration_since(target);
        assert!(
            drift >= SignedDuration::ZERO && drift < SignedDuration::from_secs(5),
            "{drift}"
        );
        clock.advance(SignedDuration::from_hours(24));
        let drift = clock
            .now()
            .duration_since(target + SignedDuration::from_hours(24));
        assert!(
            drift >= SignedDuration::ZERO && drift < SignedDuration::from_secs(5),
            "{drift}"
        );
        // Leases keep real time.
        let wall_gap = clock.wall_now().duration_since(wall_clock_now());
        assert!(wall_gap.abs() < SignedDuration::from_secs(5));
    }
}
