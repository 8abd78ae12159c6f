//! API keys, opaque random tokens (refresh, password reset) and signed links: generating,
//! parsing, hashing for storage and constant-time checking.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::primitives::{hmac_sha256, random_array};
use crate::seal::Cipher;

const API_KEY_TAG: &str = "ll_";
const PREFIX_CHARS: usize = 12;
/// 32 random bytes in base64url without padding.
const SECRET_CHARS: usize = 43;
/// `"ll_"` and the 12 prefix characters: what listings show and lookups use.
const PREFIX_LEN: usize = API_KEY_TAG.len() + PREFIX_CHARS;
const API_KEY_LEN: usize = PREFIX_LEN + 1 + SECRET_CHARS;
const PREFIX_ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A new API key. Show `secret` to the user once; store `prefix` and `hash`.
#[derive(Clone)]
pub struct GeneratedApiKey {
    /// `"ll_"` and 12 lowercase alphanumerics: shown in listings, used to look the key up.
    pub prefix: String,
    /// The whole key, `ll_<prefix>_<43 base64url chars>`.
    pub secret: String,
    /// SHA-256 of `secret`, the only form of it that is stored.
    pub hash: [u8; 32],
}

impl fmt::Debug for GeneratedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedApiKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A new API key: `"ll_"`, 12 lowercase alphanumerics, `"_"`, 43 base64url characters encoding 32
/// random bytes.
pub fn generate_api_key() -> GeneratedApiKey {
    let mut prefix = String::with_capacity(PREFIX_LEN);
    prefix.push_str(API_KEY_TAG);
    while prefix.len() < PREFIX_LEN {
        for byte in random_array::<16>() {
            // 252 = 7 * 36: dropping the last four byte values keeps every character equally
            // likely.
            if byte < 252 && prefix.len() < PREFIX_LEN {
                prefix.push(char::from(PREFIX_ALPHABET[usize::from(byte % 36)]));
            }
        }
    }
    let secret = format!("{prefix}_{}", random_token());
    GeneratedApiKey {
        hash: hash_token(&secret),
        prefix,
        secret,
    }
}

/// Split a presented API key into its lookup prefix and the whole key, or `None` if it is not
/// shaped like one. Checks the length before anything else, so a huge header costs nothing.
pub fn parse_api_key(presented: &str) -> Option<(&str, &str)> {
    if presented.len() != API_KEY_LEN {
        return None;
    }
    let rest = presented.strip_prefix(API_KEY_TAG)?;
    let (prefix_chars, rest) = rest.split_at_checked(PREFIX_CHARS)?;
    let secret = rest.strip_prefix('_')?;
    let prefix_ok = prefix_chars
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit());
    // Decoding also rejects a non-canonical last character, so each key has one spelling.
    let mut decoded = [0u8; 48];
    let secret_ok = matches!(URL_SAFE_NO_PAD.decode_slice(secret, &mut decoded), Ok(32));
    if !(prefix_ok && secret_ok) {
        return None;
    }
    Some((presented.get(..PREFIX_LEN)?, presented))
}

/// SHA-256 of a token or API key, the form it is stored in. Keys and tokens are 256-bit random,
/// so a fast hash is enough: there is nothing to brute-force.
pub fn hash_token(secret: &str) -> [u8; 32] {
    sha256(secret.as_bytes())
}

/// Whether `presented` hashes to `stored_hash`, compared in constant time.
pub fn verify_token(presented: &str, stored_hash: &[u8]) -> bool {
    hash_token(presented).ct_eq(stored_hash).into()
}

/// 32 random bytes as base64url without padding (43 characters): refresh tokens, reset tokens.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_array::<32>())
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Cipher {
    /// HMAC-SHA-256 under the token key of `purpose || 0x00 || message`, for signed links
    /// (unsubscribe, ...). `purpose` is a constant such as `"unsubscribe"`, without NUL bytes: it
    /// keeps a tag made for one kind of link from being accepted by another.
    pub fn sign(&self, purpose: &str, message: &[u8]) -> [u8; 32] {
        hmac_sha256(
            self.ring().token_key_array(),
            &[purpose.as_bytes(), &[0], message],
        )
    }

    /// Whether `tag` is [`Cipher::sign`]`(purpose, message)`, compared in constant time.
    pub fn verify_signature(&self, purpose: &str, message: &[u8], tag: &[u8]) -> bool {
        self.sign(purpose, message).ct_eq(tag).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyRing;

    #[test]
    fn generated_key_has_the_documented_shape_and_parses() {
        let key = generate_api_key();
        assert_eq!(key.secret.len(), 59);
        assert_eq!(key.prefix.len(), 15);
        assert!(key.prefix.starts_with("ll_"));
        assert!(key.secret.starts_with(&format!("{}_", key.prefix)));
        assert!(
            key.prefix[3..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_eq!(
            parse_api_key(&key.secret),
            Some((key.prefix.as_str(), key.secret.as_str()))
        );
        assert_eq!(key.hash, hash_token(&key.secret));
        assert!(verify_token(&key.secret, &key.hash));
    }

    #[test]
    fn generated_keys_differ() {
        let (a, b) = (generate_api_key(), generate_api_key());
        assert_ne!(a.prefix, b.prefix);
        assert_ne!(a.secret, b.secret);
    }

    #[test]
    fn a_different_key_does_not_verify() {
        let key = generate_api_key();
        let other = generate_api_key();
        assert!(!verify_token(&other.secret, &key.hash));
        assert!(!verify_token("", &key.hash));
        assert!(!verify_token(&key.secret, &key.hash[..31]));
        assert!(!verify_token(&key.secret, &[]));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        let key = generate_api_key().secret;
        let huge = "ll_".repeat(100_000);
        let cases = [
            String::new(),
            huge,
            "ll_".to_owned(),
            key[..58].to_owned(),
            format!("{key}A"),
            key.replacen("ll_", "xx_", 1),
            format!("{}{}", &key[..15], key[15..].replacen('_', "-", 1)),
            format!("{}X{}", &key[..4], &key[5..]),
            format!("{}!{}", &key[..20], &key[21..]),
            format!("{}é{}", &key[..20], &key[22..]),
            key.replace('_', "."),
        ];
        for case in &cases {
            if case != &key {
                assert_eq!(parse_api_key(case), None, "{case:?}");
            }
        }
    }

    #[test]
    fn random_tokens_are_43_url_safe_chars_and_differ() {
        let token = random_token();
        assert_eq!(token.len(), 43);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(token, random_token());
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn signatures_verify_only_for_the_same_purpose_message_and_key() {
        let cipher = Cipher::new(KeyRing::generate());
        let tag = cipher.sign("unsubscribe", b"lead-1");
        assert!(cipher.verify_signature("unsubscribe", b"lead-1", &tag));
        assert!(!cipher.verify_signature("unsubscribe", b"lead-2", &tag));
        assert!(!cipher.verify_signature("reset", b"lead-1", &tag));
        assert!(!cipher.verify_signature("unsubscribe", b"lead-1", &tag[..16]));
        let other = Cipher::new(KeyRing::generate());
        assert!(!other.verify_signature("unsubscribe", b"lead-1", &tag));
    }

    #[test]
    fn debug_of_a_generated_key_hides_the_secret() {
        let key = generate_api_key();
        let debug = format!("{key:?}");
        assert!(debug.contains(&key.prefix));
        assert!(!debug.contains(&key.secret));
    }
}
