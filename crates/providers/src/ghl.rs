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
        match (ed25519, &self.ed25519, rsa, &self.rsa) {
            (Some(sig), Some(key), _, _) => key.verify(Some(sig), body),
            (_, _, Some(sig), Some(key)) => key.verify(Some(sig), body),
            _ => Err(SignatureError::Missing),
        }
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

    proptest! {
        #[test]
        fn verify_never_panics(header in ".{0,300}", body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let pair = Ed25519KeyPair::from_seed_unchecked(&[9u8; 32]).unwrap();
            let key = Ed25519Key::parse_pem(&STANDARD.encode(pair.public_key().as_ref())).unwrap();
            let keys = Keys { ed25519: Some(key), rsa: None };
            let _ = keys.verify(Some(&header), Some(&header), &body);
        }
    }
}
