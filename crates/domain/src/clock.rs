//! The one clock. Everything that needs "now" is handed a `Clock`; nothing reads the system
//! clock directly (clippy's `disallowed-methods` enforces it outside this module).

use std::fmt;

use crate::Timestamp;

/// A source of the current instant.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant in business time: what decides whether a message may go and whether a
    /// job is due. In sandbox mode this can be moved by hand.
    fn now(&self) -> Timestamp;

    /// The real current instant, for leases and timeouts: how long a worker has been silent is a
    /// fact of the wall clock even when business time has been moved.
    fn wall_now(&self) -> Timestamp {
        wall_clock_now()
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        wall_clock_now()
    }
}

/// The only read of the operating system's clock in the code base.
#[allow(clippy::disallowed_methods)]
pub fn wall_clock_now() -> Timestamp {
    Timestamp::now()
}
