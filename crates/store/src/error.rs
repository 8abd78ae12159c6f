//! Error policy of the storage layer.
//!
//! `DbError` is the one error every `Store` method returns. Backends map driver errors into it:
//! a unique-key violation that the method did not expect becomes `Conflict`, everything else from
//! the driver `Database` (the web layer answers 503/500 for those and logs them; their text never
//! reaches a client). `NotFound` is for writes that target a row that is not there (or belongs to
//! another tenant: the two are indistinguishable on purpose). Reads return `Option` instead.

use std::error::Error as StdError;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The same `Idempotency-Key` was sent before with a different request.
    #[error("idempotency key was used with a different request")]
    IdempotencyMismatch,
    /// A sealed column could not be opened: wrong key ring, or tampering.
    #[error("sealed data could not be opened: {0}")]
    Crypto(#[from] crypto::CryptoError),
    /// A row holds a value this version cannot read (an unknown enum tag, bad JSON).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The backend is shutting down or a connection could not be had.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error")]
    Database(#[source] Box<dyn StdError + Send + Sync>),
}

impl DbError {
    pub fn database(err: impl StdError + Send + Sync + 'static) -> Self {
        DbError::Database(Box::new(err))
    }

    pub fn corrupt(what: impl Into<String>) -> Self {
        DbError::Corrupt(what.into())
    }
}

pub type DbResult<T> = Result<T, DbError>;
