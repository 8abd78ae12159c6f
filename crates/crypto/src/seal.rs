//! `Cipher` and field encryption: XChaCha20-Poly1305 under the key ring's active data key, with
//! the key id in the ciphertext and the value's tenant, column and row bound as associated data.
//!
//! Sealed format: `[version = 1][key id, u32 BE][24-byte nonce][ciphertext + 16-byte tag]`.

use std::fmt;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};

use crate::error::CryptoError;
use crate::keyring::KeyRing;
use crate::primitives::random_array;

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// The shortest sealed value: the header and the tag of an empty plaintext.
const MIN_SEALED_LEN: usize = HEADER_LEN + TAG_LEN;
const AAD_DOMAIN: &[u8] = b"leadline.v1";

/// Associated data: binds a ciphertext to its tenant, column and row so it cannot be moved.
///
/// A value copied into another tenant's row, another column or another row fails to open.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    pub tenant: domain::TenantId,
    /// The column's name, e.g. `"leads.phone"`. A constant in code, at most 65535 bytes.
    pub column: &'a str,
    pub row: uuid::Uuid,
}

impl Aad<'_> {
    /// `"leadline.v1" || tenant (16) || column length (u16 BE) || column || row (16)`, or `None`
    /// if the column name is too long to encode unambiguously.
    fn encode(&self) -> Option<Vec<u8>> {
        let column_len = u16::try_from(self.column.len()).ok()?;
        let mut bytes = Vec::with_capacity(AAD_DOMAIN.len() + 16 + 2 + self.column.len() + 16);
        bytes.extend_from_slice(AAD_DOMAIN);
        bytes.extend_from_slice(self.tenant.as_uuid().as_bytes());
        bytes.extend_from_slice(&column_len.to_be_bytes());
        bytes.extend_from_slice(self.column.as_bytes());
        bytes.extend_from_slice(self.row.as_bytes());
        Some(bytes)
    }
}

/// Seals and opens field values, computes blind indexes and signs links, all with one key ring.
/// Cloning is cheap: clones share the ring.
#[derive(Clone)]
pub struct Cipher {
    ring: Arc<KeyRing>,
}

impl Cipher {
    pub fn new(ring: KeyRing) -> Cipher {
        Cipher {
            ring: Arc::new(ring),
        }
    }

    pub(crate) fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// Encrypt `plaintext` under the active data key, bound to `aad`.
    ///
    /// # Panics
    /// If `aad.column` is longer than 65535 bytes (column names are constants in code), if
    /// `plaintext` is larger than XChaCha20-Poly1305 allows (about 256 GiB), or if the OS random
    /// number generator fails.
    pub fn seal(&self, plaintext: &[u8], aad: &Aad<'_>) -> Vec<u8> {
        let Some(aad_bytes) = aad.encode() else {
            panic!(
                "column name of {} bytes is too long for associated data",
                aad.column.len()
            );
        };
        let (key_id, key) = self.ring.active_data_key();
        let nonce: [u8; NONCE_LEN] = random_array();
        let aead = XChaCha20Poly1305::new(&Key::from(*key));
        let payload = Payload {
            msg: plaintext,
            aad: &aad_bytes,
        };
        let Ok(ciphertext) = aead.encrypt(&XNonce::from(nonce), payload) else {
            panic!(
                "plaintext of {} bytes is too large to seal",
                plaintext.len()
            );
        };
        let mut sealed = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&key_id.to_be_bytes());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Decrypt a value made by [`Cipher::seal`] with the same `aad`. Never panics, whatever the
    /// input.
    pub fn open(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        let key_id = sealed_key_id(sealed)?;
        if sealed.len() < MIN_SEALED_LEN {
            return Err(CryptoError::Truncated);
        }
        let key = self
            .ring
            .data_key(key_id)
            .ok_or(CryptoError::UnknownKey(key_id))?;
        let (nonce, ciphertext) = sealed
            .get(1 + KEY_ID_LEN..)
            .and_then(|rest| rest.split_first_chunk::<NONCE_LEN>())
            .ok_or(CryptoError::Truncated)?;
        // Nothing can have been sealed with an unencodable column, so it cannot open either.
        let aad_bytes = aad.encode().ok_or(CryptoError::Decrypt)?;
        let aead = XChaCha20Poly1305::new(&Key::from(*key));
        let payload = Payload {
            msg: ciphertext,
            aad: &aad_bytes,
        };
        aead.decrypt(&XNonce::from(*nonce), payload)
            .map_err(|_| CryptoError::Decrypt)
    }

    /// [`Cipher::seal`] for text.
    pub fn seal_str(&self, plaintext: &str, aad: &Aad<'_>) -> Vec<u8> {
        self.seal(plaintext.as_bytes(), aad)
    }

    /// [`Cipher::open`] for text sealed with [`Cipher::seal_str`].
    pub fn open_str(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<String, CryptoError> {
        // Authenticated bytes that are not UTF-8 were not sealed by `seal_str`.
        String::from_utf8(self.open(sealed, aad)?).map_err(|_| CryptoError::Decrypt)
    }
}

/// The id of the data key `sealed` was sealed with, read from its header without decrypting.
/// Lets a re-encryption job find values still sealed under a retired key.
pub fn sealed_key_id(sealed: &[u8]) -> Result<u32, CryptoError> {
    let (&version, rest) = sealed.split_first().ok_or(CryptoError::Truncated)?;
    if version != VERSION {
        return Err(CryptoError::UnknownVersion(version));
    }
    let (key_id, _) = rest
        .split_first_chunk::<KEY_ID_LEN>()
        .ok_or(CryptoError::Truncated)?;
    Ok(u32::from_be_bytes(*key_id))
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cipher").field("ring", &self.ring).finish()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use domain::TenantId;
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    fn aad(tenant: TenantId, row: Uuid) -> Aad<'static> {
        Aad {
            tenant,
            column: "leads.phone",
            row,
        }
    }

    fn setup() -> (Cipher, Aad<'static>) {
        (
            Cipher::new(KeyRing::generate()),
            aad(TenantId::new(), Uuid::now_v7()),
        )
    }

    #[test]
    fn seal_then_open_round_trips() {
        let (cipher, aad) = setup();
        let sealed = cipher.seal(b"+15551234567", &aad);
        assert_eq!(cipher.open(&sealed, &aad).unwrap(), b"+15551234567");
        let sealed = cipher.seal_str("Zoë", &aad);
        assert_eq!(cipher.open_str(&sealed, &aad).unwrap(), "Zoë");
        let sealed = cipher.seal(b"", &aad);
        assert_eq!(sealed.len(), MIN_SEALED_LEN);
        assert_eq!(cipher.open(&sealed, &aad).unwrap(), b"");
    }

    #[test]
    fn sealed_value_has_the_documented_layout() {
        let (cipher, aad) = setup();
        let sealed = cipher.seal(b"hello", &aad);
        assert_eq!(sealed[0], 1);
        assert_eq!(&sealed[1..5], &1u32.to_be_bytes());
        assert_eq!(sealed.len(), 1 + 4 + 24 + 5 + 16);
        assert_ne!(
            cipher.seal(b"hello", &aad)[5..29],
            sealed[5..29],
            "fresh nonce"
        );
    }

    #[test]
    fn sealing_is_bound_to_tenant_column_and_row() {
        let (cipher, aad) = setup();
        let sealed = cipher.seal(b"secret", &aad);
        let moved = [
            Aad {
                tenant: TenantId::new(),
                ..aad
            },
            Aad {
                column: "leads.email",
                ..aad
            },
            Aad {
                row: Uuid::now_v7(),
                ..aad
            },
        ];
        for other in moved {
            assert!(
                matches!(cipher.open(&sealed, &other), Err(CryptoError::Decrypt)),
                "{other:?}"
            );
        }
    }

    #[test]
    fn flipping_any_byte_fails() {
        let (cipher, aad) = setup();
        let sealed = cipher.seal(b"secret", &aad);
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert!(cipher.open(&tampered, &aad).is_err(), "byte {i}");
        }
    }

    #[test]
    fn after_rotate_old_values_open_and_new_ones_use_the_new_key() {
        let mut ring = KeyRing::generate();
        let aad = aad(TenantId::new(), Uuid::now_v7());
        let old = Cipher::new(ring.clone()).seal(b"old", &aad);
        assert_eq!(ring.rotate(), 2);
        let cipher = Cipher::new(ring);
        let new = cipher.seal(b"new", &aad);
        assert_eq!(sealed_key_id(&old).unwrap(), 1);
        assert_eq!(sealed_key_id(&new).unwrap(), 2);
        assert_eq!(cipher.open(&old, &aad).unwrap(), b"old");
        assert_eq!(cipher.open(&new, &aad).unwrap(), b"new");
    }

    #[test]
    fn unknown_key_id_is_named() {
        let (cipher, aad) = setup();
        let mut sealed = cipher.seal(b"secret", &aad);
        sealed[1..5].copy_from_slice(&7u32.to_be_bytes());
        let error = cipher.open(&sealed, &aad).unwrap_err();
        assert!(matches!(error, CryptoError::UnknownKey(7)));
        assert!(error.to_string().contains("key id 7"), "{error}");
    }

    #[test]
    fn unknown_version_is_reported() {
        let (cipher, aad) = setup();
        let mut sealed = cipher.seal(b"secret", &aad);
        sealed[0] = 2;
        assert!(matches!(
            cipher.open(&sealed, &aad),
            Err(CryptoError::UnknownVersion(2))
        ));
    }

    #[test]
    fn every_truncation_errors_without_panicking() {
        let (cipher, aad) = setup();
        let sealed = cipher.seal(b"", &aad);
        for len in 0..40 {
            let mut input = sealed.clone();
            input.resize(len, 0);
            assert!(cipher.open(&input, &aad).is_err(), "length {len}");
        }
        for len in 0..sealed.len() {
            assert!(cipher.open(&sealed[..len], &aad).is_err(), "prefix {len}");
        }
        assert!(matches!(
            cipher.open(&[], &aad),
            Err(CryptoError::Truncated)
        ));
        assert!(matches!(
            cipher.open(&sealed[..MIN_SEALED_LEN - 1], &aad),
            Err(CryptoError::Truncated)
        ));
    }

    #[test]
    fn open_str_rejects_authenticated_non_utf8() {
        let (cipher, aad) = setup();
        let sealed = cipher.seal(&[0xff, 0xfe], &aad);
        assert!(matches!(
            cipher.open_str(&sealed, &aad),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn overlong_column_cannot_open() {
        let (cipher, aad) = setup();
        let sealed = cipher.seal(b"x", &aad);
        let column = "c".repeat(usize::from(u16::MAX) + 1);
        let long = Aad {
            column: &column,
            ..aad
        };
        assert!(matches!(
            cipher.open(&sealed, &long),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let ring = KeyRing::generate();
        let secrets = [
            STANDARD.encode(ring.data_key(1).unwrap()),
            STANDARD.encode(ring.blind_index_key()),
            STANDARD.encode(ring.token_key()),
        ];
        let debug = format!("{:?}", Cipher::new(ring));
        assert!(debug.contains("active: 1"), "{debug}");
        for secret in secrets {
            assert!(!debug.contains(&secret));
        }
    }

    proptest! {
        #[test]
        fn open_never_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..128),
            header in any::<bool>(),
        ) {
            let (cipher, aad) = setup();
            // Half the cases get a valid header, to reach the AEAD itself.
            let input = if header {
                let mut input = vec![1, 0, 0, 0, 1];
                input.extend_from_slice(&bytes);
                input
            } else {
                bytes
            };
            prop_assert!(cipher.open(&input, &aad).is_err());
        }

        #[test]
        fn seal_open_round_trips_any_string(text in any::<String>()) {
            let (cipher, aad) = setup();
            let sealed = cipher.seal_str(&text, &aad);
            prop_assert_eq!(cipher.open_str(&sealed, &aad).unwrap(), text);
        }
    }
}
