//! Web forms, both ways they reach Leadline.
//!
//! - **Signed**: the customer's server posts the submission with a `Leadline-Signature` header,
//!   `t=<unix seconds>,v1=<hex(HMAC-SHA256(secret, "{t}.{raw body}"))>` (the scheme Stripe uses
//!   for its webhooks, checked against Stripe's published vector). Several `v1` values may be
//!   sent while a secret rotates; one matching is enough. The timestamp must be within five
//!   minutes of ours.
//! - **Browser**: a plain HTML form posts straight to the source's unguessable URL. Only the
//!   source's allowed origins are accepted, and a honeypot field catches simple bots.
//!
//! Either way the body is JSON or form-encoded, and a per-source field mapping (with common
//! names understood without one) says which field is the name, the phone, the email.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use crate::SignatureError;

/// The header a signed submission carries.
pub const SIGNATURE_HEADER: &str = "leadline-signature";
/// How far a signed submission's timestamp may be from our clock, in seconds.
pub const TOLERANCE_SECS: i64 = 300;
/// At most this many fields in a submission.
pub const MAX_FIELDS: usize = 200;
/// A field name is at most this long, in characters.
pub const MAX_NAME: usize = 100;
/// A field value is at most this long, in characters.
pub const MAX_VALUE: usize = 10_000;

// ---- signatures -------------------------------------------------------------------------------

/// A submission whose signature held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub timestamp: i64,
    /// The signature that matched: unique to this timestamp and body, so it names the
    /// delivery (a replay presents it again).
    pub signature: [u8; 32],
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed with `secret` at `t`: what a customer's server sends.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let digest = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(digest))
}

/// Checks a `Leadline-Signature` header against `secrets` (the current one first, then one
/// kept through a rotation) and our clock `now` (unix seconds).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
) -> Result<Verified, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    if header.len() > 1024 {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp = None;
    let mut candidates: Vec<[u8; 32]> = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed);
        };
        match key {
            "t" => {
                if timestamp.is_some()
                    || value.is_empty()
                    || !value.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(SignatureError::Malformed);
                }
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            "v1" => {
                let mut signature = [0u8; 32];
                hex::decode_to_slice(value, &mut signature)
                    .map_err(|_| SignatureError::Malformed)?;
                if candidates.len() == 8 {
                    return Err(SignatureError::Malformed);
                }
                candidates.push(signature);
            }
            // Other schemes (a future v2) are skipped, as Stripe's libraries do.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    for secret in secrets {
        let expected = mac(secret, timestamp, body);
        for candidate in &candidates {
            // `verify_slice` compares in constant time.
            if expected.clone().verify_slice(candidate).is_ok() {
                return Ok(Verified {
                    timestamp,
                    signature: *candidate,
                });
            }
        }
    }
    Err(SignatureError::Mismatch)
}

// ---- payloads ---------------------------------------------------------------------------------

/// A submission's fields, in order, as text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Submission {
    pub fields: Vec<(String, String)>,
    /// A JSON body's `consent` object (the API's consent evidence), when it has one.
    pub consent: Option<serde_json::Value>,
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("send application/json or application/x-www-form-urlencoded")]
    UnsupportedType,
    #[error("the body is not valid JSON: {message} (line {line}, column {column})")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the body must be a JSON object")]
    NotAnObject,
    #[error("the body has more than {MAX_FIELDS} fields")]
    TooManyFields,
    #[error("field {0:?} is too long")]
    FieldTooLong(String),
    #[error("a field name is empty or longer than {MAX_NAME} characters")]
    BadFieldName,
}

enum Format {
    Json,
    Form,
}

fn format_of(content_type: Option<&str>) -> Option<Format> {
    let media = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    if media == "application/json"
        || (media.starts_with("application/") && media.ends_with("+json"))
    {
        Some(Format::Json)
    } else if media == "application/x-www-form-urlencoded" {
        Some(Format::Form)
    } else {
        None
    }
}

/// Reads a submission. JSON: the top-level object's text, number and true/false values, by
/// name (null, arrays and nested objects other than `consent` are skipped). Form-encoded: every
/// pair, in order.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Submission, PayloadError> {
    let mut submission = Submission::default();
    match format_of(content_type).ok_or(PayloadError::UnsupportedType)? {
        Format::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| PayloadError::Json {
                    line: e.line(),
                    column: e.column(),
                    message: e
                        .to_string()
                        .split(" at line")
                        .next()
                        .unwrap_or("")
                        .to_owned(),
                })?;
            let serde_json::Value::Object(object) = value else {
                return Err(PayloadError::NotAnObject);
            };
            for (name, value) in object {
                let text = match value {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    consent @ serde_json::Value::Object(_) if name == "consent" => {
                        submission.consent = Some(consent);
                        continue;
                    }
                    _ => continue,
                };
                push(&mut submission, name, text)?;
            }
        }
        Format::Form => {
            for (name, value) in form_urlencoded::parse(body) {
                push(&mut submission, name.into_owned(), value.into_owned())?;
            }
        }
    }
    Ok(submission)
}

fn push(submission: &mut Submission, name: String, value: String) -> Result<(), PayloadError> {
    if submission.fields.len() == MAX_FIELDS {
        return Err(PayloadError::TooManyFields);
    }
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(PayloadError::BadFieldName);
    }
    if value.chars().count() > MAX_VALUE {
        return Err(PayloadError::FieldTooLong(name));
    }
    submission.fields.push((name, value));
    Ok(())
}

// ---- settings and field mapping ---------------------------------------------------------------

/// How a form source authenticates its submissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FormMode {
    /// From the customer's server, with `Leadline-Signature`.
    Signed,
    /// From visitors' browsers, from the allowed origins only.
    Browser,
}

/// A lead's field, as a form field can fill it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LeadField {
    Name,
    FirstName,
    LastName,
    Phone,
    Email,
    Address,
    Zip,
    TimeZone,
    /// An answer to the form's own question, kept with the lead under the field's name (the
    /// default for names Leadline does not know).
    Detail,
    /// Not kept (the default for a form's machinery: submit buttons, captcha tokens, CSRF
    /// tokens).
    Ignore,
}

impl LeadField {
    /// The lead's field this fills (first and last name fill `name`).
    pub fn target(self) -> &'static str {
        match self {
            LeadField::Name | LeadField::FirstName | LeadField::LastName => "name",
            LeadField::Phone => "phone",
            LeadField::Email => "email",
            LeadField::Address => "address",
            LeadField::Zip => "zip",
            LeadField::TimeZone => "time_zone",
            LeadField::Detail => "details",
            LeadField::Ignore => "",
        }
    }

    /// The field a form field of this name fills when the mapping does not say.
    pub fn guess(name: &str) -> LeadField {
        let key: String = name
            .trim()
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c == '-' || c == ' ' { '_' } else { c })
            .collect();
        match key.as_str() {
            "name" | "full_name" | "fullname" | "your_name" => LeadField::Name,
            "first_name" | "firstname" | "fname" | "given_name" => LeadField::FirstName,
            "last_name" | "lastname" | "lname" | "surname" | "family_name" => LeadField::LastName,
            "phone" | "phone_number" | "phonenumber" | "tel" | "telephone" | "mobile" | "cell"
            | "mobile_phone" => LeadField::Phone,
            "email" | "email_address" | "e_mail" | "your_email" => LeadField::Email,
            "address" | "street_address" | "street" => LeadField::Address,
            "zip" | "zip_code" | "zipcode" | "postal_code" | "postcode" => LeadField::Zip,
            "time_zone" | "timezone" | "tz" => LeadField::TimeZone,
            "submit"
            | "action"
            | "_token"
            | "csrf_token"
            | "csrfmiddlewaretoken"
            | "authenticity_token"
            | "g_recaptcha_response"
            | "h_captcha_response"
            | "cf_turnstile_response"
            | "_wpnonce"
            | "_wp_http_referer" => LeadField::Ignore,
            _ => LeadField::Detail,
        }
    }
}

/// The consent a form asks for with a checkbox. When the box is ticked, the lead's consent
/// evidence is this text with what the request shows: its time, the visitor's address and
/// browser, and the page the form was on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormConsent {
    /// The checkbox's field name.
    pub field: String,
    /// The exact disclosure shown beside the checkbox.
    pub disclosure_text: String,
    pub disclosure_version: Option<String>,
    /// The business the person agrees to hear from.
    pub seller: Option<String>,
    /// `transactional`, `informational`, `marketing`.
    pub purposes: Vec<String>,
    /// Refuse submissions without the box ticked (422) instead of taking them without consent.
    #[serde(default)]
    pub required: bool,
}

/// A form source's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormSettings {
    pub mode: FormMode,
    /// Browser mode: the origins (`https://www.example.com`) whose pages may post.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// Browser mode: a field hidden from people; a submission that fills it is dropped
    /// silently (the sender sees success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honeypot_field: Option<String>,
    /// Form field name to lead field, for names Leadline does not understand by itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, LeadField>)]
    pub field_map: BTreeMap<String, LeadField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<FormConsent>,
    /// Browser mode: where to send the visitor after a submission (303). Without it, the
    /// answer is a short JSON acknowledgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// The lead's `source` label. Default `web_form`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_source: Option<String>,
}

fn is_field_name(name: &str) -> bool {
    !name.trim().is_empty() && name.chars().count() <= MAX_NAME
}

/// `scheme://host[:port]`, lower case, as browsers send `Origin`; `None` when it is not one.
pub fn normalise_origin(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))?;
    let ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    ok.then_some(origin)
}

impl FormSettings {
    /// Every problem with the settings, as (field, message), the field under `settings.`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut fail = |field: String, message: &str| problems.push((field, message.to_owned()));
        if self.mode == FormMode::Browser && self.allowed_origins.is_empty() {
            fail(
                "settings.allowed_origins".into(),
                "a browser form needs at least one allowed origin",
            );
        }
        if self.allowed_origins.len() > 20 {
            fail(
                "settings.allowed_origins".into(),
                "has more than 20 origins",
            );
        }
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            if normalise_origin(origin).is_none() {
                fail(
                    format!("settings.allowed_origins[{i}]"),
                    "is not an origin such as https://www.example.com",
                );
            }
        }
        if let Some(field) = &self.honeypot_field
            && !is_field_name(field)
        {
            fail(
                "settings.honeypot_field".into(),
                "must be 1 to 100 characters",
            );
        }
        if self.field_map.len() > 100 {
            fail("settings.field_map".into(), "has more than 100 entries");
        }
        if self.field_map.keys().any(|k| !is_field_name(k)) {
            fail(
                "settings.field_map".into(),
                "field names must be 1 to 100 characters",
            );
        }
        if let Some(consent) = &self.consent {
            if !is_field_name(&consent.field) {
                fail(
                    "settings.consent.field".into(),
                    "must be 1 to 100 characters",
                );
            }
            let text = consent.disclosure_text.trim();
            if text.is_empty() || text.chars().count() > 5000 {
                fail(
                    "settings.consent.disclosure_text".into(),
                    "must be 1 to 5000 characters",
                );
            }
            if consent.purposes.is_empty() {
                fail("settings.consent.purposes".into(), "names no purpose");
            }
            for (i, p) in consent.purposes.iter().enumerate() {
                if domain::Purpose::parse(p).is_none() {
                    fail(
                        format!("settings.consent.purposes[{i}]"),
                        "is not transactional, informational or marketing",
                    );
                }
            }
        }
        if let Some(url) = &self.redirect_url {
            let https = url.starts_with("https://") && url.len() > "https://".len();
            let local = url.starts_with("http://localhost") || url.starts_with("http://127.0.0.1");
            if !(https || local) || url.len() > 2048 || url.chars().any(char::is_whitespace) {
                fail(
                    "settings.redirect_url".into(),
                    "must be an https:// address of at most 2048 characters",
                );
            }
        }
        if let Some(label) = &self.lead_source
            && (label.trim().is_empty() || label.chars().count() > 64)
        {
            fail("settings.lead_source".into(), "must be 1 to 64 characters");
        }
        problems
    }

    /// Whether a browser's `Origin` is one of the allowed origins.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Some(origin) = normalise_origin(origin) else {
            return false;
        };
        self.allowed_origins
            .iter()
            .filter_map(|o| normalise_origin(o))
            .any(|o| o == origin)
    }

    /// Reads a submission's fields into the lead's.
    pub fn map(&self, fields: &[(String, String)]) -> MappedForm {
        let mut form = MappedForm::default();
        let mut first = None;
        let mut last = None;
        for (name, value) in fields {
            let value = value.trim();
            if self.honeypot_field.as_deref() == Some(name.as_str()) {
                form.honeypot_filled |= !value.is_empty();
                continue;
            }
            if let Some(consent) = &self.consent
                && consent.field == *name
            {
                form.consent_given |= is_ticked(value);
                continue;
            }
            if value.is_empty() {
                continue;
            }
            let field = self
                .field_map
                .get(name)
                .copied()
                .unwrap_or_else(|| LeadField::guess(name));
            let slot = match field {
                LeadField::Name => &mut form.name,
                LeadField::FirstName => &mut first,
                LeadField::LastName => &mut last,
                LeadField::Phone => &mut form.phone,
                LeadField::Email => &mut form.email,
                LeadField::Address => &mut form.address,
                LeadField::Zip => &mut form.zip,
                LeadField::TimeZone => &mut form.time_zone,
                LeadField::Detail => {
                    form.details.add(name, value);
                    continue;
                }
                LeadField::Ignore => continue,
            };
            // The first non-empty value of a field wins.
            if slot.is_none() {
                *slot = Some(value.to_owned());
                form.origins
                    .entry(field.target())
                    .or_insert_with(|| name.clone());
            }
        }
        if form.name.is_none() {
            let joined = [first, last].into_iter().flatten().collect::<Vec<_>>();
            if !joined.is_empty() {
                form.name = Some(joined.join(" "));
            }
        }
        form
    }
}

/// How checkboxes and yes/no fields say yes.
fn is_ticked(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "on" | "true" | "yes" | "y" | "1" | "checked" | "agree" | "agreed"
    )
}

/// A submission read into a lead's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappedForm {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub zip: Option<String>,
    pub time_zone: Option<String>,
    /// The answers to the form's own questions.
    pub details: domain::Details,
    /// The consent checkbox was ticked.
    pub consent_given: bool,
    /// The honeypot field was filled: a bot.
    pub honeypot_filled: bool,
    /// For each lead field, the form field it came from, to name it in errors.
    pub origins: BTreeMap<&'static str, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Deserialize)]
    struct StripeVector {
        secret: String,
        payload: String,
        t: i64,
        header: String,
    }

    fn vector() -> StripeVector {
        let text = include_str!("../vectors/stripe-signature.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_published_vector_verifies() {
        let v = vector();
        assert_eq!(
            sign(v.secret.as_bytes(), v.t, v.payload.as_bytes()),
            v.header
        );
        let ok = verify(
            Some(&v.header),
            v.payload.as_bytes(),
            &[v.secret.as_bytes()],
            v.t + 10,
        )
        .unwrap();
        assert_eq!(ok.timestamp, v.t);
    }

    #[test]
    fn a_changed_body_secret_or_timestamp_fails() {
        let v = vector();
        let body = v.payload.as_bytes();
        let secret = v.secret.as_bytes();
        let mut tampered = body.to_vec();
        tampered[5] ^= 1;
        assert_eq!(
            verify(Some(&v.header), &tampered, &[secret], v.t),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&v.header), body, &[b"whsec_other"], v.t),
            Err(SignatureError::Mismatch)
        );
        let moved = v.header.replace("t=12345", "t=12346");
        assert_eq!(
            verify(Some(&moved), body, &[secret], v.t),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_outside_five_minutes_fail_both_ways() {
        let v = vector();
        let check = |now| {
            verify(
                Some(&v.header),
                v.payload.as_bytes(),
                &[v.secret.as_bytes()],
                now,
            )
        };
        assert!(check(v.t + TOLERANCE_SECS).is_ok());
        assert!(check(v.t - TOLERANCE_SECS).is_ok());
        assert_eq!(check(v.t + TOLERANCE_SECS + 1), Err(SignatureError::Stale));
        assert_eq!(check(v.t - TOLERANCE_SECS - 1), Err(SignatureError::Stale));
    }

    #[test]
    fn any_listed_signature_and_any_kept_secret_may_match() {
        let body = br#"{"phone":"+15125550100"}"#;
        let old = sign(b"old", 1000, body);
        let new = sign(b"new", 1000, body);
        let both = format!("{new},v1={}", old.split("v1=").nth(1).unwrap());
        assert!(verify(Some(&both), body, &[b"old"], 1000).is_ok());
        assert!(verify(Some(&old), body, &[b"new", b"old"], 1000).is_ok());
        assert_eq!(
            verify(Some(&old), body, &[b"new"], 1000),
            Err(SignatureError::Mismatch)
        );
        // A future scheme beside v1 is skipped.
        let extra = format!("{new},v2=zzz");
        assert!(verify(Some(&extra), body, &[b"new"], 1000).is_ok());
    }

    #[test]
    fn malformed_headers_are_refused_before_any_mac() {
        let body = b"{}";
        for header in [
            "",
            "t=1",
            "v1=00",
            "t=abc,v1=0000000000000000000000000000000000000000000000000000000000000000",
            "t=-5,v1=0000000000000000000000000000000000000000000000000000000000000000",
            "t=1,t=2,v1=0000000000000000000000000000000000000000000000000000000000000000",
            "t=1,v1=zz00000000000000000000000000000000000000000000000000000000000000",
            "t=1;v1=0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert_eq!(
                verify(Some(header), body, &[b"s"], 1),
                Err(SignatureError::Malformed),
                "{header:?}"
            );
        }
        assert_eq!(verify(None, body, &[b"s"], 1), Err(SignatureError::Missing));
    }

    #[test]
    fn json_and_form_bodies_read_alike() {
        let json = parse(
            Some("application/json; charset=utf-8"),
            br#"{"Full Name":"Ann Lee","phone":5125550100,"optin":true,"tags":["a"],"x":null}"#,
        )
        .unwrap();
        // JSON objects have no order; their fields come sorted by name.
        assert_eq!(
            json.fields,
            [
                ("Full Name".to_owned(), "Ann Lee".to_owned()),
                ("optin".to_owned(), "true".to_owned()),
                ("phone".to_owned(), "5125550100".to_owned()),
            ]
        );
        let form = parse(
            Some("application/x-www-form-urlencoded"),
            b"Full+Name=Ann%20Lee&phone=5125550100&optin=true",
        )
        .unwrap();
        let mut sorted = form.fields.clone();
        sorted.sort();
        assert_eq!(sorted, json.fields);
        assert_eq!(
            parse(Some("text/plain"), b"a=b"),
            Err(PayloadError::UnsupportedType)
        );
        assert_eq!(parse(None, b"a=b"), Err(PayloadError::UnsupportedType));
        assert_eq!(
            parse(Some("application/json"), b"[1]"),
            Err(PayloadError::NotAnObject)
        );
        assert!(matches!(
            parse(Some("application/json"), b"{\"a\":"),
            Err(PayloadError::Json { line: 1, .. })
        ));
        let many = (0..=MAX_FIELDS)
            .map(|i| format!("f{i}=1"))
            .collect::<Vec<_>>()
            .join("&");
        assert_eq!(
            parse(Some("application/x-www-form-urlencoded"), many.as_bytes()),
            Err(PayloadError::TooManyFields)
        );
    }

    fn settings(mode: FormMode) -> FormSettings {
        FormSettings {
            mode,
            allowed_origins: vec!["https://www.example.com".into()],
            honeypot_field: Some("website".into()),
            field_map: BTreeMap::from([
                ("cust_tel".to_owned(), LeadField::Phone),
                ("email".to_owned(), LeadField::Ignore),
                ("work_email".to_owned(), LeadField::Email),
            ]),
            consent: Some(FormConsent {
                field: "sms_ok".into(),
                disclosure_text: "I agree to texts.".into(),
                disclosure_version: None,
                seller: None,
                purposes: vec!["transactional".into()],
                required: false,
            }),
            redirect_url: None,
            lead_source: None,
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_mapping_overrides_guesses_and_names_come_from_parts() {
        let form = settings(FormMode::Browser).map(&fields(&[
            ("First-Name", " Ann "),
            ("last_name", "Lee"),
            ("cust_tel", "512 555 0100"),
            ("email", "personal@example.com"),
            ("work_email", "ann@work.example"),
            ("Postal Code", "78701"),
            ("message", "need a quote"),
            ("sms_ok", "on"),
            ("website", ""),
            ("g-recaptcha-response", "03AGdBq24"),
            ("submit", "Send"),
        ]));
        assert_eq!(form.details.get("message"), Some("need a quote"));
        assert_eq!(
            form.details.len(),
            1,
            "the form's machinery and the mapped and consent fields are not answers"
        );
        assert_eq!(form.name.as_deref(), Some("Ann Lee"));
        assert_eq!(form.phone.as_deref(), Some("512 555 0100"));
        assert_eq!(form.email.as_deref(), Some("ann@work.example"));
        assert_eq!(form.zip.as_deref(), Some("78701"));
        assert!(form.consent_given);
        assert!(!form.honeypot_filled);
        assert_eq!(form.origins["phone"], "cust_tel");
        assert_eq!(form.origins["zip"], "Postal Code");
    }

    #[test]
    fn honeypots_and_unticked_boxes_are_noticed() {
        let form = settings(FormMode::Browser).map(&fields(&[
            ("phone", "5125550100"),
            ("sms_ok", "no"),
            ("website", "http://spam.example"),
        ]));
        assert!(form.honeypot_filled);
        assert!(!form.consent_given);
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        assert!(settings(FormMode::Browser).problems().is_empty());
        let mut bad = settings(FormMode::Browser);
        bad.allowed_origins = vec!["https://ok.example".into(), "example.com/path".into()];
        bad.redirect_url = Some("javascript:alert(1)".into());
        bad.consent.as_mut().unwrap().purposes = vec!["spam".into()];
        let fields: Vec<String> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "settings.allowed_origins[1]",
                "settings.consent.purposes[0]",
                "settings.redirect_url"
            ]
        );
        let mut browser = settings(FormMode::Browser);
        browser.allowed_origins.clear();
        assert_eq!(browser.problems()[0].0, "settings.allowed_origins");
        assert!(settings(FormMode::Signed).problems().is_empty());
    }

    #[test]
    fn origins_match_as_browsers_send_them() {
        let s = settings(FormMode::Browser);
        assert!(s.allows_origin("https://www.example.com"));
        assert!(s.allows_origin("HTTPS://WWW.EXAMPLE.COM"));
        assert!(!s.allows_origin("http://www.example.com"));
        assert!(!s.allows_origin("https://www.example.com.evil.example"));
        assert!(!s.allows_origin("null"));
    }

    proptest! {
        #[test]
        fn verify_never_panics(header in ".{0,300}", body in proptest::collection::vec(any::<u8>(), 0..200), now in any::<i64>()) {
            let _ = verify(Some(&header), &body, &[b"secret"], now);
        }

        #[test]
        fn near_valid_headers_never_panic(t in any::<i64>(), sig in "[0-9a-f]{0,70}", now in any::<i64>()) {
            let _ = verify(Some(&format!("t={t},v1={sig}")), b"{}", &[b"secret"], now);
        }

        #[test]
        fn parse_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400), json in any::<bool>()) {
            let ct = if json { "application/json" } else { "application/x-www-form-urlencoded" };
            if let Ok(submission) = parse(Some(ct), &body) {
                let _ = settings(FormMode::Browser).map(&submission.fields);
            }
        }

        #[test]
        fn signed_bodies_verify_and_any_change_fails(body in proptest::collection::vec(any::<u8>(), 1..200), flip in any::<usize>(), t in 0i64..4_000_000_000) {
            let header = sign(b"k", t, &body);
            prop_assert!(verify(Some(&header), &body, &[b"k"], t).is_ok());
            let mut changed = body.clone();
            let i = flip % changed.len();
            changed[i] ^= 0x01;
            prop_assert_eq!(verify(Some(&header), &changed, &[b"k"], t), Err(SignatureError::Mismatch));
        }
    }
}
