//! Errors of this crate, and the policy for them.
//!
//! Policy:
//! - [`KeyRingError`] is a startup error: loading, creating or saving the key ring file. The binary
//!   reports it and exits; its messages name the file and, for bad permissions, the fix.
//! - [`CryptoError`] is what a single operation on data returns. Callers map any of it to an
//!   internal error (HTTP 500): a ciphertext that does not open means a wrong key ring or tampered
//!   storage, never bad client input. Wrong passwords and wrong tokens are not errors at all: the
//!   `verify_*` functions return `false`.
//! - No message in either type carries key material, plaintext or a password.

use std::io;
use std::path::PathBuf;

/// A sealed value or password hash that could not be produced or opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("ciphertext is truncated")]
    Truncated,
    #[error("unknown ciphertext format version {0}")]
    UnknownVersion(u8),
    #[error("ciphertext was sealed with key id {0}, which is not in the key ring")]
    UnknownKey(u32),
    #[error("ciphertext failed authentication")]
    Decrypt,
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
}

/// The key ring file could not be loaded, created or saved.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("I/O error on key ring file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "key ring file {} has mode {mode:03o}, so group or others can read or write it; \
         run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("malformed key ring: {0}")]
    Malformed(String),
    #[error("key ring file {} already exists", .0.display())]
    Exists(PathBuf),
}
