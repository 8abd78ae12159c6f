//! A fresh PostgreSQL schema per test, dropped when the test ends.
//!
//! The database comes from `LEADLINE_TEST_POSTGRES_URL`. Without it the tests skip, except in
//! CI (`CI=true`), where a skipped backend would be a silent hole in the suite.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use store_postgres::PostgresStore;

/// Drops its schema (and everything in it) on drop.
#[derive(Debug)]
pub struct SchemaGuard {
    admin: PgConnectOptions,
    pub schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        // Drop is synchronous and runs inside the test's runtime, which cannot block on a
        // future: a thread of its own with a runtime of its own does the async work.
        let (admin, schema) = (self.admin.clone(), self.schema.clone());
        let dropper = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = admin.connect().await.map_err(|e| e.to_string())?;
                // The name is our own `t_` + hex, never input: safe to splice.
                sqlx::query(AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                )))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
                conn.close().await.map_err(|e| e.to_string())
            })
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop schema {}: {e}", self.schema),
            Err(_) => eprintln!("warning: dropping schema {} panicked", self.schema),
        }
    }
}

/// Options of the test database, or `None` (after saying so) when it is not configured.
pub fn admin_options() -> Option<PgConnectOptions> {
    let url = match std::env::var("LEADLINE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "LEADLINE_TEST_POSTGRES_URL is not set but CI=true: the PostgreSQL backend must \
                 be tested in CI (e.g. postgres://postgres@127.0.0.1:5432/test), not skipped"
            );
            println!("skipped: LEADLINE_TEST_POSTGRES_URL is not set");
            return None;
        }
    };
    Some(PgConnectOptions::from_str(&url).expect("LEADLINE_TEST_POSTGRES_URL is a PostgreSQL URL"))
}

/// Creates an empty schema and returns connect options whose `search_path` is that schema.
pub async fn fresh_schema() -> Option<(PgConnectOptions, SchemaGuard)> {
    let admin = admin_options()?;
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = admin
        .connect()
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut conn)
        .await
        .expect("create the test schema");
    conn.close().await.expect("close the admin connection");
    let options = admin.clone().options([("search_path", schema.as_str())]);
    Some((options, SchemaGuard { admin, schema }))
}

/// Connections per test store: the tests run side by side, and PostgreSQL allows 100 by
/// default.
pub const POOL: u32 = 4;

pub fn cipher() -> crypto::Cipher {
    crypto::Cipher::new(crypto::KeyRing::generate())
}

/// A migrated store on a fresh schema.
pub async fn fresh_store() -> Option<(PostgresStore, SchemaGuard)> {
    let (options, guard) = fresh_schema().await?;
    let store = PostgresStore::connect_with_options(options, cipher(), POOL)
        .await
        .expect("connect the PostgreSQL store");
    Some((store, guard))
}
