//! The SQLite backend: Leadline's embedded default.
//!
//! One database file in WAL mode with `synchronous = FULL` (a commit is on disk before the
//! caller hears of it). All writes go through one group-committing [`writer::Writer`]; reads use
//! a small pool of their own connections, which WAL lets run beside the writer. Meant for one
//! process; several instances need PostgreSQL.

mod backend;
mod compliance;
mod followup;
mod identity;
mod intake;
mod sequences;
mod sources;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use crypto::Cipher;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};
use store::{DbError, DbResult};

pub use writer::{ChainLinks, Writer};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Leadline's SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    writer: Writer,
    cipher: Cipher,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite:path/to/leadline.db`), applies
    /// pending migrations and starts the writer.
    pub async fn open(url: &str, cipher: Cipher) -> DbResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DbError::Unavailable(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000")
            .log_statements(tracing::log::LevelFilter::Trace);
        let mut migrate_conn = options.connect().await.map_err(unavailable)?;
        MIGRATOR
            .run(&mut migrate_conn)
            .await
            .map_err(|e| DbError::Unavailable(format!("migrations failed: {e}")))?;
        migrate_conn.close().await.map_err(unavailable)?;

        let write_conn = options.connect().await.map_err(unavailable)?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            read,
            writer: Writer::spawn(write_conn),
            cipher,
        })
    }

    /// Only checks whether migrations are current, without applying them.
    pub fn migrator() -> &'static Migrator {
        &MIGRATOR
    }
}

fn unavailable(e: sqlx::Error) -> DbError {
    DbError::Unavailable(e.to_string())
}

pub(crate) fn db(e: sqlx::Error) -> DbError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            DbError::Conflict(d.message().to_owned())
        }
        _ => DbError::database(e),
    }
}
