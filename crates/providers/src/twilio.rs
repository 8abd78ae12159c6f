//! Twilio's request signature (`X-Twilio-Signature`), checked exactly as Twilio's own SDKs
//! (twilio-python, twilio-node) check it, with every case of their test suites as a unit test.
//!
//! The signature is base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
//! by name, each name's distinct values in order)). The URL is the one Twilio requested: behind
//! a proxy it is rebuilt from `public_base_url`, not from the `Host` Leadline sees. Because
//! Twilio signs the URL with or without the port depending on how it was configured, both
//! forms are tried: without any port, and with the scheme's default port added. A JSON body is
//! signed through the URL instead: its SHA-256 is the `bodySHA256` query parameter.
//!
//! [`Client`] sends through the Messages API and reconciles in-flight messages by listing what
//! was sent to a number; [`StatusCallback`], [`InboundSms`] and [`VoiceCall`] read what Twilio
//! posts back; [`twiml_dial`] answers a call.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use compliance::SendPermit;
use domain::{Channel, MessageStatus, Timestamp};
use serde::Deserialize;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::{self, Breaker};
use crate::{OutboundSms, ProviderError, Receipt, SignatureError, SmsProvider, check_permit};

/// The header Twilio signs its requests with.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// The expected signature of a request to `url` with form parameters `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut by_name: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        by_name.entry(name).or_default().insert(value);
    }
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, values) in by_name {
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The URL's two forms Twilio may have signed: without a port, and with the scheme's default
/// port when it had none (a URL with another port is kept as it is, as the SDKs do).
fn url_forms(url: &str) -> Option<[String; 2]> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((user, hp)) => (format!("{user}@"), hp),
        None => (String::new(), authority),
    };
    // A port is the digits after the last colon outside an IPv6 literal's brackets.
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && !host_port.ends_with(']') =>
        {
            (host, Some(port))
        }
        _ => (host_port, None),
    };
    let without = format!("{scheme}://{userinfo}{host}{tail}");
    let with = match port {
        Some(_) => url.to_owned(),
        None => {
            let default = if scheme.eq_ignore_ascii_case("https") {
                "443"
            } else {
                "80"
            };
            format!("{scheme}://{userinfo}{host}:{default}{tail}")
        }
    };
    Some([without, with])
}

/// The value of query parameter `name` in `url`, decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Checks a request Twilio says it sent. `url` is the full URL as Twilio requested it;
/// `params` the form-encoded body's pairs (empty for a JSON body); `json_body` the raw body of
/// a JSON request, whose hash must match the URL's `bodySHA256`.
pub fn verify(
    auth_token: &str,
    header: Option<&str>,
    url: &str,
    params: &[(String, String)],
    json_body: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let presented = header.ok_or(SignatureError::Missing)?;
    if presented.is_empty() || presented.len() > 100 {
        return Err(SignatureError::Malformed);
    }
    let forms = url_forms(url).ok_or(SignatureError::Malformed)?;
    let params: &[(String, String)] = match json_body {
        Some(body) => {
            let expected = query_param(url, "bodySHA256").ok_or(SignatureError::Mismatch)?;
            let actual = hex::encode(Sha256::digest(body));
            if !bool::from(
                actual
                    .as_bytes()
                    .ct_eq(expected.to_ascii_lowercase().as_bytes()),
            ) {
                return Err(SignatureError::Mismatch);
            }
            &[]
        }
        None => params,
    };
    let matches = forms.iter().any(|form| {
        let expected = signature(auth_token, form, params);
        bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Twilio's production API.
pub const API_BASE: &str = "https://api.twilio.com";

/// Error 21610: the recipient replied STOP to this sender; Twilio refuses to text them.
pub const UNSUBSCRIBED: &str = "21610";

/// Where an account sends from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A phone number of the account (E.164).
    From(String),
    /// A Messaging Service (`MG...`): Twilio picks the number.
    MessagingService(String),
}

/// One organisation's Twilio account.
#[derive(Clone)]
pub struct Account {
    pub account_sid: String,
    pub auth_token: String,
    pub sender: Sender,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .field("sender", &self.sender)
            .finish()
    }
}

/// Sends through one account. `status_callback` is our status hook for this organisation
/// (the message id is added to it, so a receipt finds its message even before the send's own
/// answer is recorded).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    api_base: String,
    account: Account,
    status_callback: Option<String>,
    breaker: Arc<Breaker>,
}

/// Twilio's error body.
#[derive(Debug, Deserialize)]
struct ApiError {
    code: Option<u32>,
    #[serde(default)]
    message: String,
}

/// A message resource, as far as Leadline reads it.
#[derive(Debug, Deserialize)]
struct MessageResource {
    sid: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    date_created: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<MessageResource>,
    #[serde(default)]
    next_page_uri: Option<String>,
}

/// Twilio error codes after which the same request can never succeed.
fn permanent_code(code: u32) -> bool {
    matches!(
        code,
        // Authentication, account suspended or not permitted.
        20003 | 20005 | 20008 | 20404 | 21606 | 21659 | 21660 | 21661 | 21408 | 21612 | 21614
            // Invalid or unreachable recipient, body problems (21610 is read before).
            | 21211 | 21265 | 21602 | 21604 | 21617 | 21703 | 21705 | 30034
    )
}

/// Reads a failed answer: Twilio's own code where it gave one.
fn failure(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> ProviderError {
    let parsed: Option<ApiError> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|e| e.code);
    let message = parsed.map(|e| e.message).unwrap_or_default();
    match code {
        Some(c @ 21610) => ProviderError::Permanent {
            code: c.to_string(),
            message,
            suppress: true,
        },
        // 20429: too many requests; 20500/20503: Twilio's own trouble.
        Some(c @ (20429 | 20500 | 20503)) => ProviderError::Transient {
            code: c.to_string(),
            message,
            retry_after: http::retry_after(headers),
        },
        Some(c) if permanent_code(c) => ProviderError::Permanent {
            code: c.to_string(),
            message,
            suppress: false,
        },
        Some(c) => http::by_status(status, headers, c.to_string(), message),
        None => http::by_status(status, headers, status.as_u16().to_string(), message),
    }
}

/// `queued`, `accepted`, `scheduled`, `sending` and `sent` are all "the provider has it";
/// `delivered` is known at once only in tests.
fn receipt_status(status: &str) -> MessageStatus {
    match status {
        "delivered" => MessageStatus::Delivered,
        _ => MessageStatus::Sent,
    }
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        api_base: &str,
        account: Account,
        status_callback: Option<String>,
    ) -> Self {
        Self {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            account,
            status_callback,
            breaker: Arc::new(Breaker::for_account("twilio")),
        }
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.api_base, self.account.account_sid
        )
    }

    async fn create(&self, sms: &OutboundSms) -> Result<Receipt, ProviderError> {
        let mut form: Vec<(&str, String)> =
            vec![("To", sms.to.clone()), ("Body", sms.body.clone())];
        match &self.account.sender {
            Sender::From(number) => form.push(("From", number.clone())),
            Sender::MessagingService(sid) => form.push(("MessagingServiceSid", sid.clone())),
        }
        if let Some(callback) = &self.status_callback {
            let sep = if callback.contains('?') { '&' } else { '?' };
            form.push((
                "StatusCallback",
                format!("{callback}{sep}m={}", sms.message_id),
            ));
        }
        let (status, headers, body) = http::exchange(
            self.http
                .post(self.messages_url())
                .basic_auth(&self.account.account_sid, Some(&self.account.auth_token))
                .form(&form),
        )
        .await?;
        if !status.is_success() {
            return Err(failure(status, &headers, &body));
        }
        let message: MessageResource =
            serde_json::from_slice(&body).map_err(|_| http::unreadable("Twilio's answer"))?;
        Ok(Receipt {
            provider_message_id: message.sid,
            status: receipt_status(&message.status),
        })
    }

    async fn page(&self, url: &str, query: &[(&str, &str)]) -> Result<MessagePage, ProviderError> {
        let (status, headers, body) = http::exchange(
            self.http
                .get(url)
                .basic_auth(&self.account.account_sid, Some(&self.account.auth_token))
                .query(query),
        )
        .await?;
        if !status.is_success() {
            return Err(http::undecided(failure(status, &headers, &body)));
        }
        serde_json::from_slice(&body).map_err(|_| http::unreadable("Twilio's message list"))
    }
}

/// How far back of the in-flight time a listed message may be dated (clocks differ).
const CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_mins(2);
/// Pages of the list read before giving up on telling (newest first, 50 a page).
const MAX_PAGES: usize = 5;

#[async_trait]
impl SmsProvider for Client {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn sender(&self) -> Option<String> {
        Some(match &self.account.sender {
            Sender::From(n) | Sender::MessagingService(n) => n.clone(),
        })
    }

    async fn send_sms(
        &self,
        permit: &SendPermit,
        sms: &OutboundSms,
    ) -> Result<Receipt, ProviderError> {
        check_permit(permit, Channel::Sms, &sms.to)?;
        self.breaker.admit()?;
        let result = self.create(sms).await;
        self.breaker.record(&result);
        result
    }

    /// Lists the messages sent to the number, newest first, back to the in-flight time, and
    /// looks for this body. Twilio keeps no field of ours on a message, so the body and the
    /// time tell it; two identical texts to one person within minutes are the one case this
    /// cannot tell apart, and then it answers "sent" (a missing text beats a double one).
    async fn find_sent(
        &self,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<Option<Receipt>, ProviderError> {
        // No date filter: Twilio filters by the sent date, which a queued message lacks.
        let from = since - CLOCK_SKEW;
        let mut url = self.messages_url();
        let mut query = vec![("To", sms.to.as_str()), ("PageSize", "50")];
        for _ in 0..MAX_PAGES {
            let page = self.page(&url, &query).await?;
            let mut older = false;
            for m in &page.messages {
                let created = m
                    .date_created
                    .as_deref()
                    .and_then(|d| jiff::fmt::rfc2822::parse(d).ok())
                    .map(|z| z.timestamp());
                match created {
                    Some(at) if at < from => older = true,
                    _ => {
                        if m.body.as_deref() == Some(sms.body.as_str()) {
                            return Ok(Some(Receipt {
                                provider_message_id: m.sid.clone(),
                                status: receipt_status(&m.status),
                            }));
                        }
                    }
                }
            }
            match page.next_page_uri {
                Some(next) if !older => {
                    url = format!("{}{next}", self.api_base);
                    query.clear();
                }
                _ => return Ok(None),
            }
        }
        Err(ProviderError::Transient {
            code: "reconcile_incomplete".into(),
            message: "too many messages to that number to tell".into(),
            retry_after: None,
        })
    }
}

/// The first value of form parameter `name`.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A status callback: what became of a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    pub message_sid: String,
    pub status: MessageStatus,
    /// Twilio's error code (`30003`, `21610`, ...) on `undelivered` and `failed`.
    pub error_code: Option<String>,
}

impl StatusCallback {
    /// Reads the form Twilio posts. `None` for a status that moves nothing (`queued`,
    /// `accepted`, `sending`, `scheduled`, `read`, ...) or a form without a message.
    pub fn parse(params: &[(String, String)]) -> Option<Self> {
        let get = |name: &str| param(params, name);
        let sid = get("MessageSid").or_else(|| get("SmsSid"))?;
        let status = match get("MessageStatus").or_else(|| get("SmsStatus"))? {
            "sent" => MessageStatus::Sent,
            "delivered" => MessageStatus::Delivered,
            "undelivered" => MessageStatus::Undelivered,
            "failed" => MessageStatus::Failed,
            _ => return None,
        };
        Some(Self {
            message_sid: sid.chars().take(64).collect(),
            status,
            error_code: get("ErrorCode")
                .filter(|c| !c.is_empty() && c.len() <= 10 && c.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned),
        })
    }
}

/// An SMS that came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    pub message_sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
}

impl InboundSms {
    /// Reads the form Twilio posts for an incoming message; `None` without sender or id.
    pub fn parse(params: &[(String, String)]) -> Option<Self> {
        let get = |name: &str| param(params, name);
        let sid = get("MessageSid").or_else(|| get("SmsSid"))?;
        if sid.is_empty() || sid.len() > 64 {
            return None;
        }
        Some(Self {
            message_sid: sid.to_owned(),
            from: get("From")?.to_owned(),
            to: get("To").unwrap_or_default().to_owned(),
            body: get("Body").unwrap_or_default().to_owned(),
        })
    }
}

/// A voice webhook: a call coming in, or the outcome of our forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceCall {
    pub call_sid: String,
    pub from: String,
    pub to: String,
    /// `DialCallStatus` on the forward's action: `completed`, `answered`, `busy`,
    /// `no-answer`, `failed`, `canceled`.
    pub dial_status: Option<String>,
}

impl VoiceCall {
    pub fn parse(params: &[(String, String)]) -> Option<Self> {
        let get = |name: &str| param(params, name);
        let sid = get("CallSid")?;
        if sid.is_empty() || sid.len() > 64 {
            return None;
        }
        Some(Self {
            call_sid: sid.to_owned(),
            from: get("From")?.to_owned(),
            to: get("To").unwrap_or_default().to_owned(),
            dial_status: get("DialCallStatus").map(str::to_owned),
        })
    }

    /// Did the business miss it? Anything but a completed or answered forward.
    pub fn missed(&self) -> bool {
        !matches!(self.dial_status.as_deref(), Some("completed" | "answered"))
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// TwiML that forwards a call to the business line for `timeout` seconds, then posts the
/// outcome to `action`. Without a business line it only reports the call as missed.
pub fn twiml_dial(
    business_line: Option<&str>,
    timeout: u32,
    action: &str,
    caller_id: &str,
) -> String {
    let action = xml_escape(action);
    match business_line {
        Some(line) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial timeout=\"{timeout}\" action=\"{action}\" method=\"POST\" callerId=\"{}\"><Number>{}</Number></Dial></Response>",
            xml_escape(caller_id),
            xml_escape(line)
        ),
        None => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Redirect method=\"POST\">{action}</Redirect></Response>"
        ),
    }
}

/// TwiML that ends a call politely.
pub fn twiml_goodbye(message: Option<&str>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>{}</Say><Hangup/></Response>",
            xml_escape(m)
        ),
        _ => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Hangup/></Response>".to_owned(),
    }
}

/// An empty answer to an inbound message (replies go out through the API, not TwiML).
pub const TWIML_EMPTY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vectors {
        auth_token: String,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        request_url: String,
        #[serde(default)]
        body: Option<String>,
        params: BTreeMap<String, serde_json::Value>,
        signature: String,
        valid: bool,
    }

    fn pairs(params: &BTreeMap<String, serde_json::Value>) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for (name, value) in params {
            match value {
                serde_json::Value::Array(values) => {
                    for v in values {
                        pairs.push((name.clone(), v.as_str().unwrap().to_owned()));
                    }
                }
                v => pairs.push((name.clone(), v.as_str().unwrap().to_owned())),
            }
        }
        pairs
    }

    #[test]
    fn every_case_of_the_official_suites_holds() {
        let vectors: Vectors =
            serde_json::from_str(include_str!("../vectors/twilio-signature.json")).unwrap();
        assert!(vectors.cases.len() >= 9);
        for case in &vectors.cases {
            let result = verify(
                &vectors.auth_token,
                Some(&case.signature),
                &case.request_url,
                &pairs(&case.params),
                case.body.as_deref().map(str::as_bytes),
            );
            assert_eq!(result.is_ok(), case.valid, "{}: {result:?}", case.name);
        }
    }

    #[test]
    fn a_json_body_must_match_its_hash() {
        let vectors: Vectors =
            serde_json::from_str(include_str!("../vectors/twilio-signature.json")).unwrap();
        let case = vectors.cases.iter().find(|c| c.body.is_some()).unwrap();
        let changed = case.body.as_ref().unwrap().replace("true", "false");
        assert_eq!(
            verify(
                &vectors.auth_token,
                Some(&case.signature),
                &case.request_url,
                &[],
                Some(changed.as_bytes()),
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn urls_are_tried_with_and_without_their_port() {
        assert_eq!(
            url_forms("https://a.example/x?y=1").unwrap(),
            ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
        );
        assert_eq!(
            url_forms("http://u:p@a.example:8080/x").unwrap(),
            ["http://u:p@a.example/x", "http://u:p@a.example:8080/x"]
        );
        assert_eq!(
            url_forms("https://[::1]/hook").unwrap(),
            ["https://[::1]/hook", "https://[::1]:443/hook"]
        );
        assert!(url_forms("not a url").is_none());
    }

    #[test]
    fn a_missing_or_absurd_header_is_refused() {
        assert_eq!(
            verify("t", None, "https://a.example/", &[], None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify("t", Some(""), "https://a.example/", &[], None),
            Err(SignatureError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn verify_never_panics(
            url in ".{0,120}",
            header in ".{0,64}",
            params in proptest::collection::vec((".{0,12}", ".{0,12}"), 0..6),
            body in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        ) {
            let _ = verify("token", Some(&header), &url, &params, body.as_deref());
        }

        #[test]
        fn what_is_signed_verifies_and_a_changed_value_does_not(
            path in "[a-z/]{0,20}",
            params in proptest::collection::btree_map("[A-Za-z]{1,8}", "[ -~]{0,12}", 1..6),
        ) {
            let params: Vec<(String, String)> = params.into_iter().collect();
            let url = format!("https://hooks.example/{path}");
            let sig = signature("token", &url, &params);
            prop_assert!(verify("token", Some(&sig), &url, &params, None).is_ok());
            let mut changed = params.clone();
            changed[0].1.push('x');
            prop_assert_eq!(verify("token", Some(&sig), &url, &changed, None), Err(SignatureError::Mismatch));
        }
    }
}
