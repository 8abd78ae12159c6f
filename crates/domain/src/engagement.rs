//! How engaged a lead is: a score from the recency and frequency of what they did (replies,
//! clicks, opens), kept incrementally.
//!
//! The score is a sum of signals that each halve every [`HALF_LIFE`]. Stored as the value at one
//! instant, it is brought forward by decay alone, so a new signal updates one row
//! (`score * 2^(-elapsed / half-life) + weight`) and no job ever recomputes every lead: a lead who
//! goes quiet cools by itself when read. A reply weighs most; an open least, since mail clients
//! open messages on their own (Apple Mail Privacy Protection).

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// How long a signal takes to lose half its weight.
pub const HALF_LIFE: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);
/// At or above: hot. One reply in the last four days is hot.
pub const HOT: f64 = 2.0;
/// At or above: warm. A reply in the last eighteen days, a click in the last two weeks.
pub const WARM: f64 = 0.5;

/// Something a lead did that shows interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// They sent a message.
    Reply,
    /// They clicked a link in a message.
    Click,
    /// Their mail client opened an email.
    Open,
}

impl Signal {
    pub fn weight(self) -> f64 {
        match self {
            Signal::Reply => 3.0,
            Signal::Click => 1.5,
            Signal::Open => 0.5,
        }
    }
}

/// Hot, warm or cold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Hot,
    Warm,
    Cold,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Hot => "hot",
            Level::Warm => "warm",
            Level::Cold => "cold",
        }
    }
}

/// A lead's score as of one instant.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Engagement {
    pub score: f64,
    /// When `score` was true; `None` for a lead with no signal yet.
    pub at: Option<Timestamp>,
}

impl Engagement {
    /// The score at `now`: decayed since it was stored (never grown, if `now` is earlier).
    pub fn score_at(&self, now: Timestamp) -> f64 {
        let Some(at) = self.at else {
            return 0.0;
        };
        let elapsed = now.duration_since(at).as_secs_f64().max(0.0);
        self.score * 0.5_f64.powf(elapsed / HALF_LIFE.as_secs_f64())
    }

    pub fn level_at(&self, now: Timestamp) -> Level {
        let score = self.score_at(now);
        if score >= HOT {
            Level::Hot
        } else if score >= WARM {
            Level::Warm
        } else {
            Level::Cold
        }
    }

    /// The score after `signal` at `at`. A signal older than the stored instant (a late
    /// webhook) is decayed back to it instead, so the stored instant never moves backwards.
    pub fn with(&self, signal: Signal, at: Timestamp) -> Engagement {
        match self.at {
            Some(stored) if at < stored => {
                let back = stored.duration_since(at).as_secs_f64();
                Engagement {
                    score: self.score
                        + signal.weight() * 0.5_f64.powf(back / HALF_LIFE.as_secs_f64()),
                    at: Some(stored),
                }
            }
            _ => Engagement {
                score: self.score_at(at) + signal.weight(),
                at: Some(at),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hours: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_hours(hours)
    }

    #[test]
    fn a_reply_is_hot_for_four_days_then_warm_then_cold() {
        let e = Engagement::default().with(Signal::Reply, t(0));
        assert_eq!(e.level_at(t(0)), Level::Hot);
        assert_eq!(e.level_at(t(4 * 24)), Level::Hot);
        assert_eq!(e.level_at(t(5 * 24)), Level::Warm);
        assert_eq!(e.level_at(t(17 * 24)), Level::Warm);
        assert_eq!(e.level_at(t(19 * 24)), Level::Cold);
    }

    #[test]
    fn frequency_adds_up_and_recency_decays() {
        let one = Engagement::default().with(Signal::Open, t(0));
        assert_eq!(one.level_at(t(0)), Level::Warm);
        let many = (0..5).fold(Engagement::default(), |e, i| e.with(Signal::Open, t(i)));
        assert_eq!(many.level_at(t(4)), Level::Hot, "five opens in a few hours");
        // A week later everything weighs half.
        let week = many.score_at(t(4 + 7 * 24));
        assert!((week - many.score_at(t(4)) / 2.0).abs() < 1e-9, "{week}");
    }

    #[test]
    fn a_late_signal_counts_for_what_it_was_worth_then() {
        let e = Engagement::default().with(Signal::Reply, t(7 * 24));
        let late = e.with(Signal::Reply, t(0));
        assert_eq!(late.at, Some(t(7 * 24)));
        assert!((late.score - 4.5).abs() < 1e-9, "{}", late.score);
    }

    #[test]
    fn no_signal_is_cold() {
        assert_eq!(Engagement::default().level_at(t(0)), Level::Cold);
    }
}
