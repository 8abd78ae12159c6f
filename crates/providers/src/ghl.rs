//! GoHighLevel webhooks: two signatures over the raw body, and the events Leadline takes.
//!
//! - `x-ghl-signature`: Ed25519, base64, with GoHighLevel's Ed25519 public key (the current
//!   scheme);
//! - `x-wh-signature`: RSA PKCS#1 v1.5 with SHA-256, base64, with GoHighLevel's RSA public key
//!   (the legacy scheme, still sent).
//!
//! Both keys are published by GoHighLevel and are configuration (`providers.ghl.*`), so a
//! rotation needs no release. A delivery carries `webhookId` (remembered for replay defence)
//! and `timestamp` (refused when more than five minutes from our clock).

use aws_lc_rs::signature::{ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize as _;

use crate::SignatureError;

pub const ED25519_HEADER: &str = "x-ghl-signature";
pub const RSA_HEADER: &str = "x-wh-signature";

/// How far a delivery's `timestamp` may be from our clock.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a public key in PEM (or base64 DER) form of the expected type")]
pub struct BadKey;

/// The DER inside a PEM block, or base64 DER as it is.
fn der(text: &str) -> Result<Vec<u8>, BadKey> {
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    STANDARD.decode(body).map_err(|_| BadKey)
}

/// GoHighLevel's RSA key (`x-wh-signature`).
#[derive(Clone)]
pub struct RsaKey(ParsedPublicKey);

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaKey")
    }
}

impl RsaKey {
    /// Reads a `-----BEGIN PUBLIC KEY-----` block (SubjectPublicKeyInfo) or `BEGIN RSA
    /// PUBLIC KEY` (PKCS#1).
    pub fn parse_pem(pem: &str) -> Result<Self, BadKey> {
        ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der(pem)?)
            .map(Self)
            .map_err(|_| BadKey)
    }

    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
        let sig = decode(header, 1024)?;
        self.0
            .verify_sig(body, &sig)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo; the key is the 32 bytes after it.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// GoHighLevel's Ed25519 key (`x-ghl-signature`).
#[derive(Clone)]
pub struct Ed25519Key(ParsedPublicKey);

impl std::fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ed25519Key")
    }
}

impl Ed25519Key {
    /// Reads a PEM SubjectPublicKeyInfo, or the raw 32-byte key in base64.
    pub fn parse_pem(pem: &str) -> Result<Self, BadKey> {
        let der = der(pem)?;
        let raw = match der.len() {
            32 => der,
            44 if der[..12] == ED25519_SPKI_PREFIX => der[12..].to_vec(),
            _ => return Err(BadKey),
        };
        ParsedPublicKey::new(&ED25519, raw)
            .map(Self)
            .map_err(|_| BadKey)
    }

    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
        let sig = decode(header, 200)?;
        self.0
            .verify_sig(body, &sig)
            .map_err(|_| SignatureError::Mismatch)
    }
}

fn decode(header: Option<&str>, max: usize) -> Result<Vec<u8>, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    if header.is_empty() || header.len() > max {
        return Err(SignatureError::Malformed);
    }
    STANDARD
        .decode(header)
        .map_err(|_| SignatureError::Malformed)
}

/// The keys a delivery may be checked with.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    pub ed25519: Option<Ed25519Key>,
    pub rsa: Option<RsaKey>,
}

impl Keys {
    /// Checks a delivery: the Ed25519 signature when it is present (and a key is known), else
    /// the RSA one. A wrong signature fails even if the other scheme could pass.
    pub fn verify(
        &self,
        ed25519: Option<&str>,
        rsa: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        // GoHighLevel sends "N/A" for a scheme it did not sign with.
        fn present(h: Option<&str>) -> Option<&str> {
            h.map(str::trim).filter(|h| !h.is_empty() && *h != "N/A")
        }
        match (present(ed25519), &self.ed25519, present(rsa), &self.rsa) {
            (Some(sig), Some(key), _, _) => key.verify(Some(sig), body),
            (_, _, Some(sig), Some(key)) => key.verify(Some(sig), body),
            _ => Err(SignatureError::Missing),
        }
    }
}

/// A delivery as Leadline reads it: the envelope every event has, and the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `webhookId`: the same on every retry of one delivery.
    pub webhook_id: Option<String>,
    /// `timestamp`: when GoHighLevel sent it.
    pub timestamp: Option<jiff::Timestamp>,
    pub location_id: Option<String>,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    ContactCreate(Contact),
    InboundMessage(InboundMessage),
    /// Any other type: acknowledged, not taken.
    Other(String),
}

/// A `ContactCreate` event's contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Contact {
    pub id: String,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub timezone: Option<String>,
    /// The contact is marked Do Not Disturb in GoHighLevel.
    pub dnd: bool,
    pub source: Option<String>,
    pub tags: Vec<String>,
    pub date_added: Option<String>,
}

impl Contact {
    /// `name`, or the first and last names joined.
    pub fn full_name(&self) -> Option<String> {
        fn given(s: &Option<String>) -> Option<&str> {
            s.as_deref().map(str::trim).filter(|s| !s.is_empty())
        }
        given(&self.name).map(str::to_owned).or_else(|| {
            let parts: Vec<&str> = [given(&self.first_name), given(&self.last_name)]
                .into_iter()
                .flatten()
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
    }
}

/// An `InboundMessage` event: something a contact sent the business.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InboundMessage {
    pub contact_id: Option<String>,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    /// `SMS`, `Email`, `Call`, `FB`, `IG`, `GMB`, `Live Chat`, ...
    pub message_type: String,
    /// `inbound` for what a contact sent.
    pub direction: Option<String>,
    pub body: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    webhook_id: Option<String>,
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
    #[serde(default)]
    location_id: Option<String>,
}

/// `timestamp` as GoHighLevel writes it (ISO 8601), or as seconds or milliseconds.
fn timestamp(value: &serde_json::Value) -> Option<jiff::Timestamp> {
    match value {
        serde_json::Value::String(s) => s
            .parse::<jiff::Timestamp>()
            .ok()
            .or_else(|| s.parse::<i64>().ok().and_then(from_number)),
        serde_json::Value::Number(n) => n.as_i64().and_then(from_number),
        _ => None,
    }
}

fn from_number(n: i64) -> Option<jiff::Timestamp> {
    // Milliseconds from 2001 on are beyond 10^12; seconds will not be for 30,000 years.
    if n.abs() >= 1_000_000_000_000 {
        jiff::Timestamp::from_millisecond(n).ok()
    } else {
        jiff::Timestamp::from_second(n).ok()
    }
}

impl Delivery {
    /// Reads a delivery's JSON. An event of a type Leadline takes must have that type's shape.
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_slice(body)?;
        let envelope = Envelope::deserialize(&value)?;
        let event = match envelope.kind.as_str() {
            "ContactCreate" => Event::ContactCreate(Contact::deserialize(&value)?),
            "InboundMessage" => Event::InboundMessage(InboundMessage::deserialize(&value)?),
            other => Event::Other(other.to_owned()),
        };
        Ok(Self {
            webhook_id: envelope.webhook_id.filter(|w| !w.is_empty()),
            timestamp: envelope.timestamp.as_ref().and_then(timestamp),
            location_id: envelope.location_id,
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
    use proptest::prelude::*;

    fn pem(der: &[u8]) -> String {
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        )
    }

    #[test]
    fn rsa_signatures_over_the_raw_body_verify_and_changes_do_not() {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let spki = pair.public_key().as_der().unwrap();
        let key = RsaKey::parse_pem(&pem(spki.as_ref())).unwrap();
        let body = br#"{"type":"ContactCreate","webhookId":"w1"}"#;
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            body,
            &mut sig,
        )
        .unwrap();
        let header = STANDARD.encode(&sig);
        assert_eq!(key.verify(Some(&header), body), Ok(()));
        assert_eq!(
            key.verify(
                Some(&header),
                br#"{"type":"ContactCreate","webhookId":"w2"}"#
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(key.verify(None, body), Err(SignatureError::Missing));
        assert_eq!(
            key.verify(Some("%%%"), body),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn ed25519_signatures_verify_with_a_pem_or_a_raw_key() {
        let seed = [7u8; 32];
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let raw = pair.public_key().as_ref().to_vec();
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&raw);
        let body = br#"{"type":"InboundMessage"}"#;
        let header = STANDARD.encode(pair.sign(body).as_ref());
        for key in [pem(&spki), STANDARD.encode(&raw)] {
            let key = Ed25519Key::parse_pem(&key).unwrap();
            assert_eq!(key.verify(Some(&header), body), Ok(()));
            assert_eq!(
                key.verify(Some(&header), b"{}"),
                Err(SignatureError::Mismatch)
            );
        }
        let keys = Keys {
            ed25519: Some(Ed25519Key::parse_pem(&pem(&spki)).unwrap()),
            rsa: None,
        };
        assert_eq!(keys.verify(Some(&header), None, body), Ok(()));
        assert_eq!(
            keys.verify(None, Some(&header), body),
            Err(SignatureError::Missing),
            "no RSA key is known: the legacy header alone is not enough"
        );
    }

    #[test]
    fn keys_of_the_wrong_kind_are_refused() {
        assert!(
            RsaKey::parse_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
        assert!(Ed25519Key::parse_pem(&STANDARD.encode([1u8; 31])).is_err());
    }

    #[test]
    fn a_contact_create_delivery_reads_with_its_envelope() {
        // The shape of GoHighLevel's ContactCreate example, with the envelope fields.
        let body = br#"{
            "type": "ContactCreate",
            "locationId": "ve9EPM428h8vShlRW1KT",
            "id": "nmFmQEsNgz6AVpgLVUJ0",
            "address1": "3500 Deer Creek Road",
            "city": "Palo Alto",
            "state": "California",
            "companyName": "Loram ipsum",
            "country": "DE",
            "source": "xyz form",
            "dateAdded": "2021-11-26T12:41:02.193Z",
            "dateOfBirth": "2000-01-05T00:00:00.000Z",
            "dnd": true,
            "email": "JohnDeo@gmail.com",
            "name": "John Deo",
            "firstName": "John",
            "lastName": "Deo",
            "phone": "+919509597501",
            "postalCode": "452001",
            "tags": ["id magna sed Lorem", "Duis dolor commodo aliqua"],
            "website": "https://www.google.com/",
            "attachments": [],
            "assignedTo": "nmFmQEsNgz6AVpgLVUJ0",
            "customFields": [{ "id": "BcdmQEsNgz6AVpgLVUJ0", "value": "XYZ Corp" }],
            "timestamp": "2025-01-28T14:35:00.000Z",
            "webhookId": "2b5e2f1c-9a8d-4e1b-b0a3-5c8d9e7f6a21"
        }"#;
        let d = Delivery::parse(body).unwrap();
        assert_eq!(d.location_id.as_deref(), Some("ve9EPM428h8vShlRW1KT"));
        assert_eq!(
            d.webhook_id.as_deref(),
            Some("2b5e2f1c-9a8d-4e1b-b0a3-5c8d9e7f6a21")
        );
        assert_eq!(d.timestamp, Some("2025-01-28T14:35:00Z".parse().unwrap()));
        let Event::ContactCreate(c) = d.event else {
            panic!("not a contact")
        };
        assert_eq!(c.id, "nmFmQEsNgz6AVpgLVUJ0");
        assert_eq!(c.full_name().as_deref(), Some("John Deo"));
        assert_eq!(c.phone.as_deref(), Some("+919509597501"));
        assert_eq!(c.postal_code.as_deref(), Some("452001"));
        assert!(c.dnd);
    }

    #[test]
    fn an_inbound_message_reads_and_other_types_are_named() {
        let body = br#"{"type":"InboundMessage","locationId":"l1C08ntBrFjLS0elLIYU","attachments":[],
            "body":"This is a test message","contactId":"cI08i1Bls3iTB9bKgFJh","contentType":"text/plain",
            "conversationId":"fcanlLgpbQgQhderivVs","dateAdded":"2021-04-21T11:31:45.750Z","direction":"inbound",
            "messageType":"SMS","status":"delivered","messageId":"m1","from":"+15551234567","to":"+15559876543",
            "messageTypeId":2,"messageTypeString":"TYPE_SMS","timestamp":1738075000123,"webhookId":"w9"}"#;
        let d = Delivery::parse(body).unwrap();
        assert_eq!(
            d.timestamp,
            Some(jiff::Timestamp::from_millisecond(1_738_075_000_123).unwrap())
        );
        let Event::InboundMessage(m) = d.event else {
            panic!("not a message")
        };
        assert_eq!(m.message_type, "SMS");
        assert_eq!(m.body, "This is a test message");
        assert_eq!(m.from.as_deref(), Some("+15551234567"));
        assert_eq!(m.message_id.as_deref(), Some("m1"));

        let d = Delivery::parse(br#"{"type":"OpportunityCreate","id":"o1"}"#).unwrap();
        assert_eq!(d.event, Event::Other("OpportunityCreate".into()));
        assert_eq!(d.timestamp, None);
        assert!(Delivery::parse(br#"{"id":"no type"}"#).is_err());
        assert!(Delivery::parse(br#"{"type":"ContactCreate","dnd":"maybe"}"#).is_err());
    }

    #[test]
    fn a_not_applicable_signature_counts_as_missing() {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[3u8; 32]).unwrap();
        let keys = Keys {
            ed25519: Some(
                Ed25519Key::parse_pem(&STANDARD.encode(pair.public_key().as_ref())).unwrap(),
            ),
            rsa: None,
        };
        let body = b"{}";
        let good = STANDARD.encode(pair.sign(body).as_ref());
        assert_eq!(
            keys.verify(Some("N/A"), None, body),
            Err(SignatureError::Missing)
        );
        assert_eq!(keys.verify(Some(&good), Some("N/A"), body), Ok(()));
    }

    proptest! {
        #[test]
        fn parse_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Delivery::parse(&body);
        }

        #[test]
        fn parse_never_panics_on_json_shapes(kind in "(ContactCreate|InboundMessage|x)", ts in any::<i64>(), s in ".{0,40}") {
            let body = serde_json::json!({"type": kind, "timestamp": ts, "webhookId": s, "body": s, "phone": s, "id": s, "messageType": s});
            let _ = Delivery::parse(body.to_string().as_bytes());
        }

        #[test]
        fn verify_never_panics(header in ".{0,300}", body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let pair = Ed25519KeyPair::from_seed_unchecked(&[9u8; 32]).unwrap();
            let key = Ed25519Key::parse_pem(&STANDARD.encode(pair.public_key().as_ref())).unwrap();
            let keys = Keys { ed25519: Some(key), rsa: None };
            let _ = keys.verify(Some(&header), Some(&header), &body);
        }
    }
}
