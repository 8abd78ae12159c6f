//! What the engine's benchmarks share: flags, a store on either backend with a raw connection
//! beside it for seeding with SQL, and SQL literals of ids and bytes for each backend.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::{AssertSqlSafe, Connection};
use store::Store;

/// `--name value` flags (cargo bench's own `--bench` is ignored).
pub fn flags() -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut it = std::env::args().skip(1).peekable();
    while let Some(flag) = it.next() {
        if let Some(name) = flag.strip_prefix("--")
            && it.peek().is_some_and(|v| !v.starts_with("--"))
        {
            out.insert(name.to_owned(), it.next().unwrap());
        }
    }
    out
}

/// A flag's value, or `default`.
pub fn flag<T: FromStr>(flags: &HashMap<String, String>, name: &str, default: T) -> T {
    flags.get(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("--{name} {v:?} is not valid"))
    })
}

/// A connection for seeding with SQL, beside the store.
pub enum Raw {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Raw {
    pub async fn run(&mut self, sql: String) {
        match self {
            Raw::Sqlite(c) => sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                .execute(&mut *c)
                .await
                .map(|_| ()),
            Raw::Postgres(c) => sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                .execute(&mut *c)
                .await
                .map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{e}: {}", sql.chars().take(300).collect::<String>()));
    }

    pub async fn rows(&mut self, sql: &str) -> Vec<(String, i64)> {
        match self {
            Raw::Sqlite(c) => sqlx::query_as(AssertSqlSafe(sql.to_owned()))
                .fetch_all(&mut *c)
                .await
                .unwrap(),
            Raw::Postgres(c) => sqlx::query_as(AssertSqlSafe(sql.to_owned()))
                .fetch_all(&mut *c)
                .await
                .unwrap(),
        }
    }

    pub fn sqlite(&self) -> bool {
        matches!(self, Raw::Sqlite(_))
    }

    /// An id as an SQL literal.
    pub fn id(&self, id: uuid::Uuid) -> String {
        if self.sqlite() {
            format!("X'{}'", id.simple())
        } else {
            format!("'{id}'::uuid")
        }
    }

    /// Bytes as an SQL literal.
    pub fn bytes(&self, b: Option<&[u8]>) -> String {
        match b {
            None => "NULL".to_owned(),
            Some(b) if self.sqlite() => format!("X'{}'", hex::encode(b)),
            Some(b) => format!("'\\x{}'::bytea", hex::encode(b)),
        }
    }
}

/// A migrated, empty store on `--backend` (`sqlite` in a temporary directory, or `postgres` in
/// a new schema of `--postgres-url`, which is left for you to drop), and a raw connection to it.
pub async fn open(
    flags: &HashMap<String, String>,
    cipher: crypto::Cipher,
    pool: u32,
) -> (Arc<dyn Store>, Raw, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let backend = flag(flags, "backend", "sqlite".to_owned());
    match backend.as_str() {
        "sqlite" => {
            let url = format!("sqlite:{}", dir.path().join("bench.db").display());
            let store = store_sqlite::SqliteStore::open(&url, cipher).await.unwrap();
            let raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
            (Arc::new(store), Raw::Sqlite(raw), dir)
        }
        "postgres" => {
            let url = flags
                .get("postgres-url")
                .cloned()
                .or_else(|| std::env::var("LEADLINE_TEST_POSTGRES_URL").ok())
                .expect("--postgres-url or LEADLINE_TEST_POSTGRES_URL");
            let admin = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
            let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
            let mut conn = sqlx::PgConnection::connect_with(&admin).await.unwrap();
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let options = admin.options([("search_path", schema.as_str())]);
            let store =
                store_postgres::PostgresStore::connect_with_options(options.clone(), cipher, pool)
                    .await
                    .unwrap();
            let raw = sqlx::PgConnection::connect_with(&options).await.unwrap();
            println!("schema {schema} (drop it when done)");
            (Arc::new(store), Raw::Postgres(raw), dir)
        }
        other => panic!("--backend sqlite|postgres, not {other}"),
    }
}
