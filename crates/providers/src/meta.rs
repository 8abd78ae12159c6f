//! Meta (Facebook) webhooks: the subscription handshake and `X-Hub-Signature-256`.
//!
//! Meta signs each delivery with `sha256=<hex HMAC-SHA256(app secret, raw body)>`. When a
//! webhook is set up, Meta first calls it with `GET ?hub.mode=subscribe&hub.verify_token=...
//! &hub.challenge=...`; the answer must be the challenge, and only for the verify token chosen.
//!
//! Fetching leads from the Graph API and mapping their fields come with the Meta integration.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::SignatureError;

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
