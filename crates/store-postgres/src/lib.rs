//! The PostgreSQL backend: for several Leadline instances on one database.
//!
//! A pool of connections, each write method one transaction of its own. What SQLite gets from
//! its single writer, PostgreSQL gets from the database itself: unique indexes decide races
//! between concurrent intakes (the loser retries once and finds the winner's lead), job claims
//! lock their rows with `FOR UPDATE SKIP LOCKED` so that workers in any process never share a
//! job, and a committed job is announced with `NOTIFY` so that idle workers everywhere start at
//! once. Rows are sealed and opened by `store::codec`, exactly as on SQLite.

mod backend;
mod compliance;
mod followup;
mod identity;
mod intake;
mod sequences;
mod sources;

use std::str::FromStr;

use crypto::Cipher;
use sqlx::ConnectOptions;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use store::{DbError, DbResult};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The default number of connections per process (`database_pool_size`).
///
/// The pool is fixed: every connection is opened at start and kept. Opening a PostgreSQL
/// connection starts a backend process; on the benchmark machine that took about 100 ms under
/// load, and a pool that grew on demand turned each burst into a queue of leads waiting for new
/// connections (answers of 250-380 ms in the first 0.3 s of a 200 leads/s run, and later
/// whenever demand rose). See docs/performance.md. Each write holds a connection for one short
/// transaction; the job listener (when subscribed) keeps one for itself.
pub const DEFAULT_POOL_SIZE: u32 = 32;

/// Leadline's PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    cipher: Cipher,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host/db`), applies pending migrations and
    /// returns the store.
    /// `pool_size` connections are opened before it returns.
    pub async fn connect(url: &str, cipher: Cipher, pool_size: u32) -> DbResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| DbError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        Self::connect_with_options(options, cipher, pool_size).await
    }

    /// Like [`connect`](Self::connect) with ready-made options, e.g. a `search_path` that puts
    /// Leadline's tables in a schema of their own (the tests use one schema per test).
    pub async fn connect_with_options(
        options: PgConnectOptions,
        cipher: Cipher,
        pool_size: u32,
    ) -> DbResult<Self> {
        let pool_size = pool_size.max(2);
        let options = options.log_statements(tracing::log::LevelFilter::Trace);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .min_connections(pool_size)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        // Concurrent starts are safe: sqlx serialises migrations with an advisory lock.
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| DbError::Unavailable(format!("migrations failed: {e}")))?;
        open_all(&pool, pool_size).await?;
        Ok(Self { pool, cipher })
    }

    /// The migrations this binary knows.
    pub fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// Closes the pool: waits for connections in use to come back and stops the job listener.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Opens every connection of the pool now rather than on the first requests, and has each
/// backend load the hot tables' catalog entries once. (`min_connections` alone would open them
/// in the background, racing the first leads.)
async fn open_all(pool: &PgPool, pool_size: u32) -> DbResult<()> {
    let mut held = Vec::new();
    for _ in 0..pool_size {
        let mut conn = pool.acquire().await.map_err(unavailable)?;
        sqlx::query(
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM leads LIMIT 0) l) \
                  + (SELECT count(*) FROM (SELECT 1 FROM jobs LIMIT 0) j) \
                  + (SELECT count(*) FROM (SELECT 1 FROM messages LIMIT 0) m)",
        )
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
        held.push(conn);
    }
    Ok(())
}

fn unavailable(e: sqlx::Error) -> DbError {
    DbError::Unavailable(e.to_string())
}

/// Maps a driver error: a unique violation the method did not expect is a `Conflict`; no
/// connection to be had is `Unavailable` (a 503, not a 500); everything else is `Database`.
pub(crate) fn db(e: sqlx::Error) -> DbError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            DbError::Conflict(d.message().to_owned())
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            DbError::Unavailable(e.to_string())
        }
        _ => DbError::database(e),
    }
}
