//! What every provider client shares: the HTTP client and its timeouts, reading `Retry-After`,
//! telling transient from permanent failures, and a circuit breaker per provider account.
//!
//! Retrying itself is the job runner's: a [`ProviderError::Transient`] goes back to it with the
//! provider's `retry_after`, and it backs off with jitter (never sooner than the provider
//! asked). The message stays "sending" in between, so the next attempt reconciles with the
//! provider before it sends again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::ProviderError;

/// Calls counted by provider and outcome (`sent`, `transient`, `permanent`, `circuit_open`).
pub const CALLS: &str = "leadline_provider_calls_total";
/// 1 while a provider account's circuit is open.
pub const CIRCUIT_OPEN: &str = "leadline_provider_circuit_open";

/// How long one provider call may take, connection included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP client of provider calls: bounded in time, no redirects followed (an API that
/// redirects is misconfigured, and a redirect would carry credentials elsewhere).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("leadline/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// The provider's `Retry-After` (seconds, or an HTTP date), capped at an hour.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
            let secs = at.duration_since(domain::clock::wall_clock_now()).as_secs();
            Duration::from_secs(u64::try_from(secs).unwrap_or(0))
        }
    };
    Some(wait.min(Duration::from_secs(3600)))
}

/// A transport failure: nothing was answered, so the call may or may not have reached the
/// provider. Always transient; the retry reconciles first.
pub fn transport(e: &reqwest::Error) -> ProviderError {
    let code = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    };
    ProviderError::Transient {
        code: code.to_owned(),
        message: "the provider could not be reached".to_owned(),
        retry_after: None,
    }
}

/// Sends a request and reads the whole answer: its status, headers and body. Only a transport
/// failure is an error here; the caller reads a failed status by its provider's rules.
pub async fn exchange(
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, HeaderMap, bytes::Bytes), ProviderError> {
    let response = request.send().await.map_err(|e| transport(&e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| transport(&e))?;
    Ok((status, headers, body))
}

/// A failure of a "was it sent?" question: whatever the provider said, it did not say "not
/// sent", so a permanent error becomes a transient one (ask again later, never resend).
pub fn undecided(error: ProviderError) -> ProviderError {
    match error {
        ProviderError::Permanent { code, message, .. } => ProviderError::Transient {
            code,
            message,
            retry_after: None,
        },
        other => other,
    }
}

/// An answer that could not be read: transient (the provider may have taken the request).
pub fn unreadable(what: &str) -> ProviderError {
    ProviderError::Transient {
        code: "bad_response".into(),
        message: format!("{what} could not be read"),
        retry_after: None,
    }
}

/// An HTTP failure whose body named no provider code: 408, 425, 429 and 5xx are transient,
/// other statuses permanent.
pub fn by_status(
    status: StatusCode,
    headers: &HeaderMap,
    code: String,
    message: String,
) -> ProviderError {
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.as_u16() == 425
        || status.is_server_error()
    {
        ProviderError::Transient {
            code,
            message,
            retry_after: retry_after(headers),
        }
    } else {
        ProviderError::Permanent {
            code,
            message,
            suppress: false,
        }
    }
}

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is out; the others wait for its outcome.
    HalfOpen,
}

/// A circuit breaker for one provider account: after `threshold` transient failures in a row
/// it opens, and calls fail at once (transient, with the time left as `retry_after`) until
/// `cool_down` has passed; then one trial call decides. Permanent errors (a bad number) say
/// nothing of the provider's health and do not count.
#[derive(Debug)]
pub struct Breaker {
    provider: &'static str,
    threshold: u32,
    cool_down: Duration,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(provider: &'static str, threshold: u32, cool_down: Duration) -> Self {
        Self {
            provider,
            threshold: threshold.max(1),
            cool_down,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// The default for an account: open after 5 failures in a row, for 30 seconds.
    pub fn for_account(provider: &'static str) -> Self {
        Self::new(provider, 5, Duration::from_secs(30))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// May a call go out now?
    pub fn admit(&self) -> Result<(), ProviderError> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *state = State::HalfOpen;
                    Ok(())
                } else {
                    metrics::counter!(CALLS, "provider" => self.provider, "outcome" => "circuit_open").increment(1);
                    Err(self.open_error(until - now))
                }
            }
            State::HalfOpen => {
                metrics::counter!(CALLS, "provider" => self.provider, "outcome" => "circuit_open")
                    .increment(1);
                Err(self.open_error(Duration::from_secs(1)))
            }
        }
    }

    fn open_error(&self, left: Duration) -> ProviderError {
        ProviderError::Transient {
            code: "circuit_open".to_owned(),
            message: format!("{} is failing; calls paused", self.provider),
            retry_after: Some(left.max(Duration::from_secs(1))),
        }
    }

    /// Records a call's outcome.
    pub fn record<T>(&self, result: &Result<T, ProviderError>) {
        let outcome = match result {
            Ok(_) => "sent",
            Err(ProviderError::Transient { .. }) => "transient",
            Err(_) => "permanent",
        };
        metrics::counter!(CALLS, "provider" => self.provider, "outcome" => outcome).increment(1);
        let mut state = self.lock();
        let failed = matches!(result, Err(ProviderError::Transient { .. }));
        let next = match (&*state, failed) {
            (_, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true) if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => {
                tracing::warn!(provider = self.provider, "provider failing: circuit opened");
                State::Open {
                    until: Instant::now() + self.cool_down,
                }
            }
        };
        let open = matches!(next, State::Open { .. });
        *state = next;
        metrics::gauge!(CIRCUIT_OPEN, "provider" => self.provider).set(if open {
            1.0
        } else {
            0.0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient() -> Result<(), ProviderError> {
        Err(ProviderError::Transient {
            code: "503".into(),
            message: String::new(),
            retry_after: None,
        })
    }

    fn permanent() -> Result<(), ProviderError> {
        Err(ProviderError::Permanent {
            code: "21211".into(),
            message: String::new(),
            suppress: false,
        })
    }

    #[test]
    fn the_circuit_opens_after_failures_in_a_row_and_a_trial_closes_it() {
        let b = Breaker::new("twilio", 3, Duration::ZERO);
        for _ in 0..2 {
            b.admit().unwrap();
            b.record(&transient());
        }
        // A success in between starts the count again; permanent errors do not count.
        b.record(&Ok(()));
        b.record(&permanent());
        b.record(&transient());
        b.record(&transient());
        b.admit().unwrap();
        b.record(&transient());
        // Open, with no cool-down: the next call is the trial, and others wait for it.
        b.admit().unwrap();
        let waiting = b.admit().unwrap_err();
        assert_eq!(waiting.code(), "circuit_open");
        b.record(&Ok(()));
        b.admit().unwrap();
    }

    #[test]
    fn an_open_circuit_refuses_at_once_with_the_time_left() {
        let b = Breaker::new("sendgrid", 1, Duration::from_secs(30));
        b.record(&transient());
        match b.admit() {
            Err(ProviderError::Transient {
                code, retry_after, ..
            }) => {
                assert_eq!(code, "circuit_open");
                let left = retry_after.unwrap();
                assert!(left > Duration::from_secs(25) && left <= Duration::from_secs(30));
            }
            other => panic!("refused while open: {other:?}"),
        }
    }

    #[test]
    fn a_failed_trial_opens_the_circuit_again() {
        let b = Breaker::new("twilio", 1, Duration::ZERO);
        b.record(&transient());
        b.admit().unwrap();
        b.record(&transient());
        assert!(matches!(*b.lock(), State::Open { .. }));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_is_capped() {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(reqwest::header::RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3600)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a date in the past: now"
        );
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn statuses_split_into_transient_and_permanent() {
        let h = HeaderMap::new();
        for s in [429, 408, 500, 502, 503] {
            let e = by_status(
                StatusCode::from_u16(s).unwrap(),
                &h,
                s.to_string(),
                String::new(),
            );
            assert!(matches!(e, ProviderError::Transient { .. }), "{s}");
        }
        for s in [400, 401, 403, 404, 413] {
            let e = by_status(
                StatusCode::from_u16(s).unwrap(),
                &h,
                s.to_string(),
                String::new(),
            );
            assert!(matches!(e, ProviderError::Permanent { .. }), "{s}");
        }
    }
}

/// Random input to every payload parser of the providers: none panics, and what parses keeps
/// its bounds.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::vec(
            (
                prop_oneof![
                    Just("MessageSid".to_owned()),
                    Just("SmsSid".to_owned()),
                    Just("MessageStatus".to_owned()),
                    Just("ErrorCode".to_owned()),
                    Just("From".to_owned()),
                    Just("Body".to_owned()),
                    Just("CallSid".to_owned()),
                    Just("DialCallStatus".to_owned()),
                    ".{0,8}"
                ],
                ".{0,80}",
            ),
            0..10,
        )
    }

    proptest! {
        #[test]
        fn twilio_forms_never_panic(params in pairs()) {
            if let Some(s) = crate::twilio::StatusCallback::parse(&params) {
                prop_assert!(s.message_sid.chars().count() <= 64);
                prop_assert!(s.error_code.as_ref().is_none_or(|c| c.len() <= 10));
            }
            if let Some(m) = crate::twilio::InboundSms::parse(&params) {
                prop_assert!(!m.message_sid.is_empty() && m.message_sid.len() <= 64);
            }
            let _ = crate::twilio::VoiceCall::parse(&params);
        }

        #[test]
        fn sendgrid_batches_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(events) = crate::sendgrid::Event::parse_batch(&body) {
                for e in events {
                    let _ = e.effect();
                    let _ = e.provider_message_id();
                }
            }
        }

        #[test]
        fn sendgrid_batches_of_json_never_panic(events in proptest::collection::vec(
            (".{0,12}", proptest::option::of(".{0,20}"), proptest::option::of(".{0,20}")), 0..6)
        ) {
            let body = serde_json::Value::Array(events.into_iter().map(|(event, reason, id)| serde_json::json!({
                "event": event, "reason": reason, "sg_message_id": id, "email": "a@b.c"
            })).collect()).to_string();
            let parsed = crate::sendgrid::Event::parse_batch(body.as_bytes()).unwrap();
            for e in parsed {
                let _ = e.effect();
            }
        }

        #[test]
        fn meta_deliveries_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(changes) = crate::meta::changes(&body) {
                for c in changes {
                    prop_assert!(c.leadgen_id.len() <= 32);
                }
            }
        }

        #[test]
        fn inbound_parse_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            boundary in "[a-zA-Z0-9]{1,20}",
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let ct = format!("multipart/form-data; boundary={boundary}");
            let _ = rt.block_on(crate::sendgrid::InboundEmail::parse(Some(&ct), bytes::Bytes::from(body)));
        }
    }
}
