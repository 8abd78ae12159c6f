//! SendGrid's signed Event Webhook: ECDSA P-256 with SHA-256 over the timestamp header
//! followed by the raw body, the signature base64 DER, the public key (from SendGrid's
//! settings) base64 DER SubjectPublicKeyInfo. Verified with aws-lc-rs against the official
//! SDKs' test vector.
//!
//! [`Client`] sends through Mail Send (our message id rides along as a custom argument, so an
//! in-flight message is found again through the Email Activity API); [`Event`] reads the
//! Event Webhook's batches; [`InboundEmail`] reads Inbound Parse's multipart posts.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use compliance::SendPermit;
use domain::{Channel, MessageStatus, Timestamp};
use serde::Deserialize;

use crate::http::{self, Breaker};
use crate::{EmailProvider, OutboundEmail, ProviderError, Receipt, SignatureError, check_permit};

pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

/// Why a configured public key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the verification key is not a base64 P-256 public key (SubjectPublicKeyInfo DER)")]
pub struct BadPublicKey;

/// The Event Webhook's verification key, as SendGrid shows it.
#[derive(Clone)]
pub struct EventKey(ParsedPublicKey);

impl std::fmt::Debug for EventKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventKey(P-256)")
    }
}

impl EventKey {
    /// Reads the key (base64 of its SubjectPublicKeyInfo DER); refuses anything but a valid
    /// P-256 point.
    pub fn parse(base64_der: &str) -> Result<Self, BadPublicKey> {
        let der = STANDARD
            .decode(base64_der.trim())
            .map_err(|_| BadPublicKey)?;
        ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, der)
            .map(Self)
            .map_err(|_| BadPublicKey)
    }

    /// Checks a delivery.
    pub fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let signature = signature.ok_or(SignatureError::Missing)?;
        let timestamp = timestamp.ok_or(SignatureError::Missing)?;
        if signature.len() > 200 || timestamp.len() > 20 {
            return Err(SignatureError::Malformed);
        }
        let signature = STANDARD
            .decode(signature.trim())
            .map_err(|_| SignatureError::Malformed)?;
        let mut signed = Vec::with_capacity(timestamp.len() + body.len());
        signed.extend_from_slice(timestamp.as_bytes());
        signed.extend_from_slice(body);
        self.0
            .verify_sig(&signed, &signature)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// SendGrid's production API.
pub const API_BASE: &str = "https://api.sendgrid.com";

/// The custom argument that carries our message id on every email and every event of it.
pub const MESSAGE_ID_ARG: &str = "leadline_message_id";

/// How long the Email Activity API may take to show a message: before that, "not found"
/// means "cannot tell yet".
pub const ACTIVITY_LAG: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// One organisation's SendGrid account.
#[derive(Clone)]
pub struct Account {
    pub api_key: String,
    pub from_email: String,
    /// The display name on the From line (the organisation's brand).
    pub from_name: Option<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("api_key", &"[redacted]")
            .field("from_email", &self.from_email)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    api_base: String,
    account: Account,
    breaker: Arc<Breaker>,
    /// The clock messages are recorded by, for the activity feed's lag.
    clock: Arc<dyn domain::Clock>,
}

#[derive(Debug, Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Debug, Deserialize)]
struct ErrorItem {
    #[serde(default)]
    message: String,
    #[serde(default)]
    field: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Activity {
    #[serde(default)]
    messages: Vec<ActivityMessage>,
}

#[derive(Debug, Deserialize)]
struct ActivityMessage {
    msg_id: String,
    #[serde(default)]
    status: String,
}

fn failure(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> ProviderError {
    let first = serde_json::from_slice::<Errors>(body)
        .ok()
        .and_then(|e| e.errors.into_iter().next());
    let message = first
        .as_ref()
        .map(|e| match &e.field {
            Some(f) => format!("{f}: {}", e.message),
            None => e.message.clone(),
        })
        .unwrap_or_default();
    let mut error = http::by_status(status, headers, status.as_u16().to_string(), message);
    // SendGrid says when its rate window ends as a Unix time.
    if let ProviderError::Transient { retry_after, .. } = &mut error
        && retry_after.is_none()
        && let Some(reset) = headers
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
    {
        let left = reset - domain::clock::wall_clock_now().as_second();
        *retry_after = Some(std::time::Duration::from_secs(
            left.clamp(1, 3600).unsigned_abs(),
        ));
    }
    error
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        api_base: &str,
        account: Account,
        clock: Arc<dyn domain::Clock>,
    ) -> Self {
        Self {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            account,
            breaker: Arc::new(Breaker::for_account("sendgrid")),
            clock,
        }
    }

    /// The Mail Send request body.
    pub fn mail(&self, email: &OutboundEmail) -> serde_json::Value {
        let headers: serde_json::Map<String, serde_json::Value> = email
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let mut from = serde_json::json!({ "email": self.account.from_email });
        if let Some(name) = self.account.from_name.as_deref().filter(|n| !n.is_empty()) {
            from["name"] = serde_json::json!(name);
        }
        let mut mail = serde_json::json!({
            "personalizations": [{
                "to": [{ "email": email.to }],
                "custom_args": { MESSAGE_ID_ARG: email.message_id.to_string() },
            }],
            "from": from,
            "subject": email.subject,
            "content": [{ "type": "text/plain", "value": email.text }],
            // Leadline's own links are signed; SendGrid's click tracking would rewrite them.
            "tracking_settings": { "click_tracking": { "enable": false, "enable_text": false } },
        });
        if !headers.is_empty() {
            mail["headers"] = serde_json::Value::Object(headers);
        }
        if !email.attachments.is_empty() {
            use base64::Engine as _;
            mail["attachments"] = email
                .attachments
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "content": base64::engine::general_purpose::STANDARD.encode(&a.content),
                        "type": a.content_type,
                        "filename": a.filename,
                        "disposition": "attachment",
                    })
                })
                .collect();
        }
        mail
    }

    async fn send(&self, email: &OutboundEmail) -> Result<Receipt, ProviderError> {
        let (status, headers, body) = http::exchange(
            self.http
                .post(format!("{}/v3/mail/send", self.api_base))
                .bearer_auth(&self.account.api_key)
                .json(&self.mail(email)),
        )
        .await?;
        if status.is_success() {
            let id = headers
                .get("x-message-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| http::unreadable("SendGrid's answer (no X-Message-Id)"))?;
            return Ok(Receipt {
                provider_message_id: id.to_owned(),
                status: MessageStatus::Sent,
            });
        }
        Err(failure(status, &headers, &body))
    }
}

#[async_trait]
impl EmailProvider for Client {
    fn name(&self) -> &'static str {
        "sendgrid"
    }

    fn sender(&self) -> Option<String> {
        Some(self.account.from_email.clone())
    }

    async fn send_email(
        &self,
        permit: &SendPermit,
        email: &OutboundEmail,
    ) -> Result<Receipt, ProviderError> {
        check_permit(permit, Channel::Email, &email.to)?;
        self.breaker.admit()?;
        let result = self.send(email).await;
        self.breaker.record(&result);
        result
    }

    /// Asks the Email Activity API for a message carrying our id. The feed lags: until
    /// [`ACTIVITY_LAG`] after the in-flight time an empty answer cannot be trusted, and the
    /// caller hears "try later" instead.
    async fn find_sent(
        &self,
        email: &OutboundEmail,
        since: Timestamp,
    ) -> Result<Option<Receipt>, ProviderError> {
        let query = format!("unique_args['{MESSAGE_ID_ARG}']=\"{}\"", email.message_id);
        let (status, headers, body) = http::exchange(
            self.http
                .get(format!("{}/v3/messages", self.api_base))
                .bearer_auth(&self.account.api_key)
                .query(&[("query", query.as_str()), ("limit", "10")]),
        )
        .await?;
        if !status.is_success() {
            return Err(http::undecided(failure(status, &headers, &body)));
        }
        let activity: Activity =
            serde_json::from_slice(&body).map_err(|_| http::unreadable("SendGrid's activity"))?;
        if let Some(m) = activity.messages.into_iter().next() {
            // The activity id is the X-Message-Id with a suffix per recipient.
            let id = m.msg_id.split('.').next().unwrap_or(&m.msg_id).to_owned();
            return Ok(Some(Receipt {
                provider_message_id: id,
                status: if m.status == "delivered" {
                    MessageStatus::Delivered
                } else {
                    MessageStatus::Sent
                },
            }));
        }
        let settled = since + ACTIVITY_LAG;
        let now = self.clock.now();
        if now < settled {
            return Err(ProviderError::Transient {
                code: "activity_lag".into(),
                message: "SendGrid's activity feed may not show the message yet".into(),
                retry_after: Some(std::time::Duration::from_secs(
                    settled.duration_since(now).as_secs().unsigned_abs().max(1),
                )),
            });
        }
        Ok(None)
    }
}

/// What an Event Webhook event means for Leadline: nothing at all for processed, deferred and
/// the like; an engagement signal for an open or a click.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventEffect {
    /// The recipient opened the email or clicked a link in it.
    pub signal: Option<domain::engagement::Signal>,
    /// The status the message moves to.
    pub status: Option<MessageStatus>,
    /// SendGrid's reason, kept on the message with a failed status.
    pub error: Option<&'static str>,
    /// The suppression reason when the recipient must not be mailed again.
    pub suppress: Option<&'static str>,
}

impl EventEffect {
    fn moves(status: MessageStatus, error: Option<&'static str>) -> Self {
        Self {
            status: Some(status),
            error,
            ..Self::default()
        }
    }

    fn signals(signal: domain::engagement::Signal) -> Self {
        Self {
            signal: Some(signal),
            ..Self::default()
        }
    }

    /// A suppression for `reason` (`bounce`, ...), failing the message with it when `status`.
    fn suppresses(reason: &'static str, status: Option<MessageStatus>) -> Self {
        let suppress = match reason {
            "bounce" => "provider:bounce",
            "unsubscribe" => "provider:unsubscribe",
            _ => "provider:spamreport",
        };
        Self {
            status,
            error: status.map(|_| reason),
            suppress: Some(suppress),
            signal: None,
        }
    }

    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }
}

/// One event of a batch.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    #[serde(default)]
    pub email: String,
    pub event: String,
    #[serde(default)]
    pub sg_event_id: Option<String>,
    #[serde(default)]
    pub sg_message_id: Option<String>,
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// Our id, from the custom argument.
    #[serde(default, rename = "leadline_message_id")]
    pub message_id: Option<String>,
    /// For a bounce: `bounce` (permanent) or `blocked` (temporary).
    #[serde(default, rename = "type")]
    pub bounce_type: Option<String>,
    /// SMTP status for bounces (`5.1.1`).
    #[serde(default)]
    pub status: Option<String>,
    /// For a drop: why SendGrid did not send.
    #[serde(default)]
    pub reason: Option<String>,
}

impl Event {
    /// Reads a batch: a JSON array of events. Events that are not objects with an `event`
    /// field are skipped, not fatal.
    pub fn parse_batch(body: &[u8]) -> Result<Vec<Event>, serde_json::Error> {
        let raw: Vec<serde_json::Value> = serde_json::from_slice(body)?;
        Ok(raw
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect())
    }

    /// The X-Message-Id part of `sg_message_id`.
    pub fn provider_message_id(&self) -> Option<&str> {
        self.sg_message_id
            .as_deref()
            .and_then(|id| id.split('.').next())
            .filter(|id| !id.is_empty())
    }

    /// What it means, by the compliance rules: a bounce, a spam report and an unsubscribe
    /// suppress the address; a drop for a suppressed address does too.
    pub fn effect(&self) -> EventEffect {
        use MessageStatus::{Delivered, Failed, Undelivered};
        match self.event.as_str() {
            "delivered" => EventEffect::moves(Delivered, None),
            "bounce" if self.bounce_type.as_deref() == Some("blocked") => {
                EventEffect::moves(Undelivered, Some("blocked"))
            }
            "bounce" => EventEffect::suppresses("bounce", Some(Undelivered)),
            "dropped" => {
                let reason = self
                    .reason
                    .as_deref()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                ["bounce", "unsubscribe", "spam"]
                    .into_iter()
                    .find(|r| reason.contains(r))
                    .map_or(EventEffect::moves(Failed, Some("dropped")), |r| {
                        EventEffect::suppresses(
                            if r == "spam" { "spamreport" } else { r },
                            Some(Failed),
                        )
                    })
            }
            "spamreport" => EventEffect::suppresses("spamreport", None),
            "unsubscribe" | "group_unsubscribe" => EventEffect::suppresses("unsubscribe", None),
            "open" => EventEffect::signals(domain::engagement::Signal::Open),
            "click" => EventEffect::signals(domain::engagement::Signal::Click),
            _ => EventEffect::default(),
        }
    }
}

/// The most an Inbound Parse post may carry (attachments included; only text is kept).
pub const MAX_INBOUND: usize = 1024 * 1024;

/// An email that came in through Inbound Parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEmail {
    /// The sender's bare address (from the envelope when SendGrid gave one).
    pub from: String,
    pub to: String,
    pub subject: String,
    /// The reply's own text, quoted history cut off.
    pub text: String,
    /// The `Message-ID` header, for dedupe.
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("not multipart/form-data")]
    NotMultipart,
    #[error("the multipart body could not be read")]
    Malformed,
    #[error("no sender")]
    NoSender,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
}

/// The address inside `Name <address>`, or the whole when there are no brackets.
fn bare_address(s: &str) -> String {
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].trim().to_owned(),
        _ => s.trim().to_owned(),
    }
}

/// The reply above the quoted history: stops at a line `On ... wrote:`, a `-----Original
/// Message-----` line, or the first line quoted with `>`.
pub fn strip_quoted(text: &str) -> String {
    let mut kept = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('>')
            || (t.starts_with("On ") && t.ends_with("wrote:"))
            || t.eq_ignore_ascii_case("-----Original Message-----")
        {
            break;
        }
        kept.push(line);
    }
    kept.join("\n").trim().to_owned()
}

/// The `Message-ID` in a raw header block.
fn message_id_header(headers: &str) -> Option<String> {
    headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("message-id")
            .then(|| value.trim().chars().take(250).collect())
    })
}

impl InboundEmail {
    /// Reads Inbound Parse's post (the parsed form, not `send_raw`).
    pub async fn parse(
        content_type: Option<&str>,
        body: bytes::Bytes,
    ) -> Result<Self, InboundError> {
        let boundary = content_type
            .and_then(|ct| multer::parse_boundary(ct).ok())
            .ok_or(InboundError::NotMultipart)?;
        let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(MAX_INBOUND as u64)
                .per_field(MAX_INBOUND as u64),
        );
        let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
        let (mut from, mut to, mut subject, mut text, mut html, mut envelope, mut headers) =
            (None, None, None, None, None, None, None);
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|_| InboundError::Malformed)?
        {
            // Attachments are not kept.
            if field.file_name().is_some() {
                continue;
            }
            let name = field.name().unwrap_or_default().to_owned();
            let value = field.text().await.map_err(|_| InboundError::Malformed)?;
            match name.as_str() {
                "from" => from = Some(value),
                "to" => to = Some(value),
                "subject" => subject = Some(value),
                "text" => text = Some(value),
                "html" => html = Some(value),
                "envelope" => envelope = serde_json::from_str::<Envelope>(&value).ok(),
                "headers" => headers = Some(value),
                _ => {}
            }
        }
        let sender = envelope
            .as_ref()
            .and_then(|e| e.from.clone())
            .or(from.as_deref().map(bare_address))
            .filter(|s| !s.is_empty())
            .ok_or(InboundError::NoSender)?;
        let to = envelope
            .and_then(|e| e.to.into_iter().next())
            .or(to.as_deref().map(bare_address))
            .unwrap_or_default();
        let body = text
            .or_else(|| html.map(|h| strip_tags(&h)))
            .unwrap_or_default();
        Ok(Self {
            from: bare_address(&sender),
            to,
            subject: subject.unwrap_or_default(),
            text: strip_quoted(&body),
            message_id: headers.as_deref().and_then(message_id_header),
        })
    }
}

/// Text of an HTML body, for mail that came without a text part: tags dropped, entities of
/// the five XML kinds read.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vector {
        public_key: String,
        signature: String,
        timestamp: String,
        payload: String,
        must_fail: MustFail,
    }

    #[derive(Deserialize)]
    struct MustFail {
        wrong_public_key: String,
        payload: String,
        timestamp: String,
    }

    fn vector() -> Vector {
        serde_json::from_str(include_str!("../vectors/sendgrid-event-webhook.json")).unwrap()
    }

    #[test]
    fn the_official_vector_verifies() {
        let v = vector();
        let key = EventKey::parse(&v.public_key).unwrap();
        assert_eq!(
            key.verify(Some(&v.signature), Some(&v.timestamp), v.payload.as_bytes()),
            Ok(())
        );
    }

    #[test]
    fn another_key_payload_or_timestamp_fails() {
        let v = vector();
        let key = EventKey::parse(&v.public_key).unwrap();
        let wrong = EventKey::parse(&v.must_fail.wrong_public_key).unwrap();
        let body = v.payload.as_bytes();
        let sig = Some(v.signature.as_str());
        assert_eq!(
            wrong.verify(sig, Some(&v.timestamp), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            key.verify(sig, Some(&v.timestamp), v.must_fail.payload.as_bytes()),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            key.verify(sig, Some(&v.must_fail.timestamp), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            key.verify(None, Some(&v.timestamp), body),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            key.verify(Some("not base64!"), Some(&v.timestamp), body),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn keys_that_are_not_p256_are_refused() {
        assert_eq!(EventKey::parse("bm90IGEga2V5").unwrap_err(), BadPublicKey);
        assert!(EventKey::parse("").is_err());
    }

    proptest! {
        #[test]
        fn verify_never_panics(sig in ".{0,120}", ts in ".{0,24}", body in proptest::collection::vec(any::<u8>(), 0..100)) {
            let key = EventKey::parse(&vector().public_key).unwrap();
            let _ = key.verify(Some(&sig), Some(&ts), &body);
        }

        #[test]
        fn parse_never_panics(key in ".{0,200}") {
            let _ = EventKey::parse(&key);
        }
    }
}

#[cfg(test)]
mod parsing {
    use super::*;

    #[test]
    fn events_say_what_the_compliance_rules_ask() {
        let batch = br#"[
            {"event":"delivered","sg_event_id":"a","sg_message_id":"m1.filter0001.1","leadline_message_id":"x"},
            {"event":"bounce","type":"bounce","status":"5.1.1","sg_event_id":"b"},
            {"event":"bounce","type":"blocked","sg_event_id":"c"},
            {"event":"dropped","reason":"Bounced Address","sg_event_id":"d"},
            {"event":"dropped","reason":"Invalid SMTPAPI header","sg_event_id":"e"},
            {"event":"spamreport","sg_event_id":"f"},
            {"event":"group_unsubscribe","sg_event_id":"g"},
            {"event":"open","sg_event_id":"h"},
            "not an event"
        ]"#;
        let events = Event::parse_batch(batch).unwrap();
        assert_eq!(events.len(), 8);
        assert_eq!(events[0].provider_message_id(), Some("m1"));
        let effects: Vec<(Option<MessageStatus>, Option<&str>, Option<&str>)> = events
            .iter()
            .map(|e| {
                let f = e.effect();
                (f.status, f.error, f.suppress)
            })
            .collect();
        use MessageStatus::{Delivered, Failed, Undelivered};
        assert_eq!(
            effects,
            [
                (Some(Delivered), None, None),
                (Some(Undelivered), Some("bounce"), Some("provider:bounce")),
                (Some(Undelivered), Some("blocked"), None),
                (Some(Failed), Some("bounce"), Some("provider:bounce")),
                (Some(Failed), Some("dropped"), None),
                (None, None, Some("provider:spamreport")),
                (None, None, Some("provider:unsubscribe")),
                (None, None, None),
            ]
        );
        assert_eq!(
            events[7].effect().signal,
            Some(domain::engagement::Signal::Open),
            "an open warms the lead and changes nothing else"
        );
        assert!(!events[7].effect().is_none());
    }

    #[test]
    fn quoted_history_is_cut_from_replies() {
        assert_eq!(
            strip_quoted("Yes, Tuesday.\n\nOn Mon, Mar 2, 2026 at 9:00 AM Acme wrote:\n> Hi"),
            "Yes, Tuesday."
        );
        assert_eq!(strip_quoted("Sure\n> quoted"), "Sure");
        assert_eq!(strip_quoted("Line one\nline two"), "Line one\nline two");
        assert_eq!(
            bare_address("Jane Doe <jane@example.com>"),
            "jane@example.com"
        );
    }
}
