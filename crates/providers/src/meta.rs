//! Meta (Facebook) webhooks: the subscription handshake and `X-Hub-Signature-256`.
//!
//! Meta signs each delivery with `sha256=<hex HMAC-SHA256(app secret, raw body)>`. When a
//! webhook is set up, Meta first calls it with `GET ?hub.mode=subscribe&hub.verify_token=...
//! &hub.challenge=...`; the answer must be the challenge, and only for the verify token chosen.
//!
//! A delivery names leads only by id: [`changes`] reads every `leadgen` change of every entry,
//! and [`Graph::lead`] fetches each lead, with its form's consent disclaimer, from the Graph API.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::http;
use crate::{ProviderError, SignatureError};

/// The header Meta signs deliveries with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Checks a delivery's `X-Hub-Signature-256` against the app secret.
pub fn verify(app_secret: &[u8], header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_sig = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let mut presented = [0u8; 32];
    hex::decode_to_slice(hex_sig, &mut presented).map_err(|_| SignatureError::Malformed)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret)
        .expect("HMAC takes a key of any length");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&presented)
        .map_err(|_| SignatureError::Mismatch)
}

/// The subscription handshake: the challenge to answer with, when the mode is `subscribe`
/// and the token is ours (compared in constant time); `None` means 403.
pub fn subscription_challenge(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&str>,
    verify_token: &str,
) -> Option<String> {
    let token_ok = token.is_some_and(|t| bool::from(t.as_bytes().ct_eq(verify_token.as_bytes())));
    (mode == Some("subscribe") && token_ok && !verify_token.is_empty())
        .then(|| challenge.map(str::to_owned))
        .flatten()
        .filter(|c| !c.is_empty() && c.len() <= 256)
}

/// The Graph API's production address.
pub const GRAPH_BASE: &str = "https://graph.facebook.com";
/// The Graph API version Leadline speaks.
pub const GRAPH_VERSION: &str = "v21.0";

/// One `leadgen` change: a lead was submitted on a form of a page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct LeadgenChange {
    pub leadgen_id: String,
    #[serde(default)]
    pub page_id: Option<String>,
    #[serde(default)]
    pub form_id: Option<String>,
    #[serde(default)]
    pub ad_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Delivery {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: serde_json::Value,
}

/// Every `leadgen` change of every entry of a delivery (Meta batches them). Other fields and
/// changes without a usable lead id are skipped. Ids are numeric strings (or numbers).
pub fn changes(body: &[u8]) -> Result<Vec<LeadgenChange>, serde_json::Error> {
    let delivery: Delivery = serde_json::from_slice(body)?;
    let id = |v: &serde_json::Value| match v {
        serde_json::Value::String(s)
            if !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(s.clone())
        }
        serde_json::Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    };
    Ok(delivery
        .entry
        .into_iter()
        .flat_map(|e| e.changes)
        .filter(|c| c.field == "leadgen")
        .filter_map(|c| {
            Some(LeadgenChange {
                leadgen_id: id(c.value.get("leadgen_id")?)?,
                page_id: c.value.get("page_id").and_then(id),
                form_id: c.value.get("form_id").and_then(id),
                ad_id: c.value.get("ad_id").and_then(id),
            })
        })
        .collect())
}

/// A lead as the Graph API gives it, with its form's disclaimer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaLead {
    pub id: String,
    /// Each question's name and first answer (`full_name`, `phone_number`, `email`,
    /// `zip_code`, custom questions by their key).
    pub fields: BTreeMap<String, String>,
    /// When the person submitted (RFC 3339 or Meta's `+0000` form, as given).
    pub created_time: Option<String>,
    pub form_name: Option<String>,
    /// The consent the form asked for, and what the person ticked.
    pub consent: Option<Disclaimer>,
}

/// A form's custom disclaimer and the person's answers to its checkboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclaimer {
    /// Title and body as shown.
    pub text: String,
    /// The checkboxes' texts, ticked or not.
    pub checkboxes: Vec<(String, bool)>,
}

impl Disclaimer {
    /// The person agreed: every checkbox (there may be none) was ticked.
    pub fn agreed(&self) -> bool {
        self.checkboxes.iter().all(|(_, ticked)| *ticked)
    }

    /// The exact disclosure, as evidence: the text and each box with its answer.
    pub fn evidence(&self) -> String {
        let mut text = self.text.clone();
        for (label, ticked) in &self.checkboxes {
            text.push_str(&format!("\n[{}] {label}", if *ticked { "x" } else { " " }));
        }
        text
    }
}

#[derive(Debug, Deserialize)]
struct GraphLead {
    id: String,
    #[serde(default)]
    created_time: Option<String>,
    #[serde(default)]
    form_id: Option<String>,
    #[serde(default)]
    field_data: Vec<FieldData>,
    #[serde(default)]
    custom_disclaimer_responses: Vec<DisclaimerResponse>,
}

#[derive(Debug, Deserialize)]
struct FieldData {
    name: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct DisclaimerResponse {
    checkbox_key: String,
    #[serde(default)]
    is_checked: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct GraphForm {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    legal_content: Option<LegalContent>,
}

#[derive(Debug, Deserialize)]
struct LegalContent {
    #[serde(default)]
    custom_disclaimer: Option<CustomDisclaimer>,
}

#[derive(Debug, Deserialize)]
struct CustomDisclaimer {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<DisclaimerBody>,
    #[serde(default)]
    checkboxes: Vec<Checkbox>,
}

#[derive(Debug, Deserialize)]
struct DisclaimerBody {
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
struct Checkbox {
    key: String,
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
struct GraphError {
    error: GraphErrorBody,
}

#[derive(Debug, Deserialize)]
struct GraphErrorBody {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

/// The Graph API, with one page's access token.
#[derive(Clone)]
pub struct Graph {
    http: reqwest::Client,
    base: String,
    access_token: String,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Graph {
    pub fn new(http: reqwest::Client, base: &str, access_token: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            access_token: access_token.to_owned(),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        fields: &str,
    ) -> Result<T, ProviderError> {
        let (status, headers, body) = http::exchange(
            self.http
                .get(format!("{}/{GRAPH_VERSION}/{id}", self.base))
                .query(&[
                    ("fields", fields),
                    ("access_token", self.access_token.as_str()),
                ]),
        )
        .await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|_| ProviderError::Permanent {
                code: "bad_response".into(),
                message: "the Graph API's answer could not be read".into(),
                suppress: false,
            });
        }
        let error = serde_json::from_slice::<GraphError>(&body)
            .ok()
            .map(|e| e.error);
        let (code, message) = error.map_or((0, String::new()), |e| (e.code, e.message));
        // 1, 2: temporary; 4, 17, 32, 613: rate limits. Everything else (190: the token
        // expired; 100: no such lead or no permission) needs a person.
        Err(match code {
            1 | 2 | 4 | 17 | 32 | 613 => ProviderError::Transient {
                code: code.to_string(),
                message,
                retry_after: http::retry_after(&headers),
            },
            0 => http::by_status(status, &headers, status.as_u16().to_string(), message),
            c => ProviderError::Permanent {
                code: c.to_string(),
                message,
                suppress: false,
            },
        })
    }

    /// Reads the token's own page back: the token works.
    pub async fn me(&self) -> Result<(), ProviderError> {
        let _: serde_json::Value = self.get("me", "id,name").await?;
        Ok(())
    }

    /// Fetches a lead and its form's disclaimer.
    pub async fn lead(&self, leadgen_id: &str) -> Result<MetaLead, ProviderError> {
        let lead: GraphLead = self
            .get(
                leadgen_id,
                "id,created_time,form_id,ad_id,field_data,custom_disclaimer_responses",
            )
            .await?;
        let form: Option<GraphForm> = match &lead.form_id {
            Some(form_id) => Some(
                self.get(
                    form_id,
                    "name,legal_content{custom_disclaimer{title,body,checkboxes}}",
                )
                .await?,
            ),
            None => None,
        };
        let fields = lead
            .field_data
            .into_iter()
            .filter_map(|f| Some((f.name, f.values.into_iter().next()?)))
            .collect();
        let ticked: BTreeMap<String, bool> = lead
            .custom_disclaimer_responses
            .into_iter()
            .map(|r| {
                let on = match &r.is_checked {
                    serde_json::Value::Bool(b) => *b,
                    serde_json::Value::String(s) => s == "1" || s.eq_ignore_ascii_case("true"),
                    serde_json::Value::Number(n) => n.as_i64() == Some(1),
                    _ => false,
                };
                (r.checkbox_key, on)
            })
            .collect();
        let form_name = form.as_ref().and_then(|f| f.name.clone());
        let consent = form
            .and_then(|f| f.legal_content)
            .and_then(|l| l.custom_disclaimer)
            .map(|d| Disclaimer {
                text: [
                    d.title.unwrap_or_default(),
                    d.body.map(|b| b.text).unwrap_or_default(),
                ]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("\n"),
                checkboxes: d
                    .checkboxes
                    .into_iter()
                    .map(|c| {
                        let on = ticked.get(&c.key).copied().unwrap_or(false);
                        (c.text, on)
                    })
                    .collect(),
            });
        Ok(MetaLead {
            id: lead.id,
            fields,
            created_time: lead.created_time,
            form_name,
            consent,
        })
    }
}

/// Meta's time form (`2021-08-27T18:25:26+0000`) or RFC 3339.
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse::<jiff::Timestamp>()
        .ok()
        .or_else(|| jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%z", s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vector {
        app_secret: String,
        payload: String,
        header: String,
    }

    fn vector() -> Vector {
        serde_json::from_str(include_str!("../vectors/meta-leadgen-signature.json")).unwrap()
    }

    #[test]
    fn the_vector_verifies_and_any_change_fails() {
        let v = vector();
        let body = v.payload.as_bytes();
        assert_eq!(
            verify(v.app_secret.as_bytes(), Some(&v.header), body),
            Ok(())
        );
        assert_eq!(
            verify(b"another_secret", Some(&v.header), body),
            Err(SignatureError::Mismatch)
        );
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify(v.app_secret.as_bytes(), Some(&v.header), &tampered),
            Err(SignatureError::Mismatch)
        );
        let sha1 = v.header.replace("sha256=", "sha1=");
        assert_eq!(
            verify(v.app_secret.as_bytes(), Some(&sha1), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(v.app_secret.as_bytes(), None, body),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn the_handshake_answers_only_our_token() {
        let ok = subscription_challenge(Some("subscribe"), Some("tok"), Some("1158201444"), "tok");
        assert_eq!(ok.as_deref(), Some("1158201444"));
        assert_eq!(
            subscription_challenge(Some("subscribe"), Some("nope"), Some("1"), "tok"),
            None
        );
        assert_eq!(
            subscription_challenge(Some("unsubscribe"), Some("tok"), Some("1"), "tok"),
            None
        );
        assert_eq!(
            subscription_challenge(Some("subscribe"), Some(""), Some("1"), ""),
            None
        );
        assert_eq!(
            subscription_challenge(Some("subscribe"), Some("tok"), None, "tok"),
            None
        );
    }

    proptest! {
        #[test]
        fn verify_never_panics(header in ".{0,100}", body in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = verify(b"secret", Some(&header), &body);
        }
    }
}
