//! The two primitives the rest of the crate is built from: OS randomness and HMAC-SHA-256.

use hmac::digest::array::Array;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroize;

/// `N` bytes from the operating system's random number generator.
///
/// # Panics
/// If the OS generator fails. Keys, nonces and tokens cannot be made without it, and carrying on
/// with anything weaker would be worse than stopping; on supported platforms it does not fail
/// once the system has booted.
pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if let Err(error) = getrandom::fill(&mut bytes) {
        panic!("the operating system's random number generator failed: {error}");
    }
    bytes
}

/// HMAC-SHA-256 under a 32-byte key over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC zero-pads a key shorter than the hash's block size to the block size (RFC 2104 §2),
    // so padding it ourselves gives the same MAC through the infallible constructor.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let mut mac = Hmac::<Sha256>::new(&Array::from(block));
    block.zeroize();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2_shape() {
        // RFC 4231 uses short keys; check the padded construction against the slice constructor.
        let key = [0x0bu8; 32];
        let mut reference = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        reference.update(b"Hi There");
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(hmac_sha256(&key, &[b"Hi ", b"There"]), expected);
    }

    #[test]
    fn random_arrays_differ() {
        assert_ne!(random_array::<32>(), random_array::<32>());
    }
}
