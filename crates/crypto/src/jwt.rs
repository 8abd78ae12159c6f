//! Access tokens: short-lived JWTs, HS256 only, signed with a key of the key ring.
//!
//! The signing key for key id `n` is derived from the ring's data key `n` (HMAC-SHA-256 of a
//! fixed label under it), and the token's `kid` header names `n`. So `leadline keys rotate` moves
//! new tokens to a new key at once, while tokens signed before stay valid until they expire (the
//! old data key stays in the ring to open old values). Verification pins the algorithm, requires
//! `exp`, `iss`, `aud` and `sub`, and checks issuer and audience; a header naming any other
//! algorithm (`none` included), an unknown `kid`, a bad signature or an expired token is refused.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Cipher;
use crate::primitives::hmac_sha256;

/// Derivation label: keeps JWT keys apart from every other use of the data keys.
const LABEL: &[u8] = b"leadline/access-jwt/v1";

/// Seconds of clock difference tolerated on `exp` (instances' clocks differ a little).
const LEEWAY_SECONDS: u64 = 5;

/// Why a token was refused. Deliberately coarse: the caller answers 401 whatever the reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token names a key that is not in the key ring")]
    UnknownKey,
    #[error("the token's signature, algorithm or claims are invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token could not be signed")]
    Sign,
}

impl Cipher {
    /// Signs `claims` as an HS256 JWT under the active key. The claims must carry `exp`,
    /// `iss`, `aud` and `sub` for [`Cipher::verify_jwt`] to accept them.
    pub fn sign_jwt<T: Serialize>(&self, claims: &T) -> Result<String, JwtError> {
        let (id, key) = self.ring().active_data_key();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(id.to_string());
        let secret = hmac_sha256(key, &[LABEL]);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&secret))
            .map_err(|_| JwtError::Sign)
    }

    /// Verifies `token` (signature, algorithm, `exp` against the system clock, issuer and
    /// audience) and returns its claims.
    pub fn verify_jwt<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<T, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        if header.alg != Algorithm::HS256 {
            return Err(JwtError::Invalid);
        }
        let id: u32 = header
            .kid
            .as_deref()
            .and_then(|kid| kid.parse().ok())
            .ok_or(JwtError::UnknownKey)?;
        let key = self.ring().data_key(id).ok_or(JwtError::UnknownKey)?;
        let secret = hmac_sha256(key, &[LABEL]);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<T>(token, &DecodingKey::from_secret(&secret), &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => JwtError::Expired,
                _ => JwtError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde::Deserialize;

    use super::*;
    use crate::KeyRing;

    const ISS: &str = "https://leadline.test";
    const AUD: &str = "leadline-api";

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Claims {
        iss: String,
        aud: String,
        sub: String,
        exp: i64,
        role: String,
    }

    fn unix_now() -> i64 {
        // Tests may read the system clock: the JWT library checks `exp` against it.
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now();
        now.duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    fn claims(exp_in: i64) -> Claims {
        Claims {
            iss: ISS.into(),
            aud: AUD.into(),
            sub: "user-1".into(),
            exp: unix_now() + exp_in,
            role: "agent".into(),
        }
    }

    fn cipher() -> Cipher {
        Cipher::new(KeyRing::generate())
    }

    fn parts(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    fn b64(json: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    #[test]
    fn a_signed_token_verifies_and_names_its_key() {
        let c = cipher();
        let token = c.sign_jwt(&claims(900)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.kid.as_deref(), Some("1"));
        let back: Claims = c.verify_jwt(&token, ISS, AUD).unwrap();
        assert_eq!(back, claims(900).with_exp(back.exp));
    }

    impl Claims {
        fn with_exp(mut self, exp: i64) -> Self {
            self.exp = exp;
            self
        }
    }

    #[test]
    fn tokens_from_before_a_rotation_still_verify_and_new_ones_use_the_new_key() {
        let mut ring = KeyRing::generate();
        let before = Cipher::new(ring.clone()).sign_jwt(&claims(900)).unwrap();
        ring.rotate();
        let after_cipher = Cipher::new(ring);
        let after = after_cipher.sign_jwt(&claims(900)).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&after).unwrap().kid.as_deref(),
            Some("2")
        );
        assert!(after_cipher.verify_jwt::<Claims>(&before, ISS, AUD).is_ok());
        assert!(after_cipher.verify_jwt::<Claims>(&after, ISS, AUD).is_ok());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let c = cipher();
        let token = c.sign_jwt(&claims(-60)).unwrap();
        assert_eq!(
            c.verify_jwt::<Claims>(&token, ISS, AUD).unwrap_err(),
            JwtError::Expired
        );
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let c = cipher();
        let token = c.sign_jwt(&claims(900)).unwrap();
        assert_eq!(
            c.verify_jwt::<Claims>(&token, "https://evil.test", AUD)
                .unwrap_err(),
            JwtError::Invalid
        );
        assert_eq!(
            c.verify_jwt::<Claims>(&token, ISS, "other-api")
                .unwrap_err(),
            JwtError::Invalid
        );
    }

    #[test]
    fn another_key_ring_cannot_forge_a_token() {
        let token = cipher().sign_jwt(&claims(900)).unwrap();
        assert_eq!(
            cipher().verify_jwt::<Claims>(&token, ISS, AUD).unwrap_err(),
            JwtError::Invalid
        );
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let c = cipher();
        let token = c.sign_jwt(&claims(900)).unwrap();
        let p = parts(&token);
        for alg in ["none", "None", "HS512", "RS256"] {
            let header = b64(&serde_json::json!({"alg": alg, "typ": "JWT", "kid": "1"}));
            for signature in ["", p[2].as_str()] {
                let forged = format!("{header}.{}.{signature}", p[1]);
                assert!(
                    c.verify_jwt::<Claims>(&forged, ISS, AUD).is_err(),
                    "alg {alg} with signature {signature:?} was accepted"
                );
            }
        }
    }

    #[test]
    fn a_tampered_payload_or_unknown_kid_is_refused() {
        let c = cipher();
        let token = c.sign_jwt(&claims(900)).unwrap();
        let p = parts(&token);
        let mut escalated = claims(900);
        escalated.role = "owner".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&escalated).unwrap());
        let tampered = format!("{}.{payload}.{}", p[0], p[2]);
        assert_eq!(
            c.verify_jwt::<Claims>(&tampered, ISS, AUD).unwrap_err(),
            JwtError::Invalid
        );
        let header = b64(&serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": "7"}));
        let unknown = format!("{header}.{}.{}", p[1], p[2]);
        assert_eq!(
            c.verify_jwt::<Claims>(&unknown, ISS, AUD).unwrap_err(),
            JwtError::UnknownKey
        );
        for junk in ["", "a.b", "a.b.c", "....", &token[..token.len() - 3]] {
            assert!(c.verify_jwt::<Claims>(junk, ISS, AUD).is_err(), "{junk:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_is_refused_without_panicking(input in ".{0,300}") {
            let c = cipher();
            proptest::prop_assert!(c.verify_jwt::<Claims>(&input, ISS, AUD).is_err());
        }

        #[test]
        fn any_change_to_a_token_is_refused(at in 0usize..400, byte in proptest::num::u8::ANY) {
            let c = cipher();
            let token = c.sign_jwt(&claims(900)).unwrap();
            let mut bytes = token.clone().into_bytes();
            let at = at % bytes.len();
            bytes[at] = byte;
            if let Ok(changed) = String::from_utf8(bytes) {
                // base64url's last character can carry unused bits: a change there may decode
                // to the same bytes, and is then the same token.
                let same = URL_SAFE_NO_PAD
                    .decode(changed.rsplit('.').next().unwrap_or(""))
                    .ok()
                    == URL_SAFE_NO_PAD.decode(token.rsplit('.').next().unwrap_or("")).ok()
                    && changed.rsplit_once('.').map(|p| p.0) == token.rsplit_once('.').map(|p| p.0);
                if changed != token && !same {
                    proptest::prop_assert!(c.verify_jwt::<Claims>(&changed, ISS, AUD).is_err());
                }
            }
        }
    }

    #[test]
    fn claims_without_exp_are_refused() {
        #[derive(Serialize)]
        struct NoExp {
            iss: &'static str,
            aud: &'static str,
            sub: &'static str,
        }
        let c = cipher();
        let token = c
            .sign_jwt(&NoExp {
                iss: ISS,
                aud: AUD,
                sub: "u",
            })
            .unwrap();
        assert!(c.verify_jwt::<Claims>(&token, ISS, AUD).is_err());
    }
}
