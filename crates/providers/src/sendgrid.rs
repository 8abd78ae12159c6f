//! SendGrid's signed Event Webhook: ECDSA P-256 with SHA-256 over the timestamp header
//! followed by the raw body, the signature base64 DER, the public key (from SendGrid's
//! settings) base64 DER SubjectPublicKeyInfo. Verified with aws-lc-rs against the official
//! SDKs' test vector.
//!
//! Mail Send, event handling and Inbound Parse come with the SendGrid integration.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::SignatureError;

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
