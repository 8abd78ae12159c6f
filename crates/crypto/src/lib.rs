//! Leadline's cryptography: the key ring, field encryption with key ids, per-tenant blind
//! indexes, signed links, API keys and tokens, and password hashing.
//!
//! Everything that touches key material lives here, so the rest of the workspace handles sealed
//! bytes, digests and PHC strings, never keys.

mod blind;
mod error;
mod jwt;
mod keyring;
mod password;
mod primitives;
mod seal;
mod token;

pub use blind::{BlindIndex, BlindKind};
pub use error::{CryptoError, KeyRingError};
pub use jwt::JwtError;
pub use keyring::KeyRing;
pub use password::{dummy_verify, hash_password, verify_password};
pub use seal::{Aad, Cipher, sealed_key_id};
pub use token::{
    GeneratedApiKey, generate_api_key, hash_token, parse_api_key, random_token, sha256,
    verify_token,
};
