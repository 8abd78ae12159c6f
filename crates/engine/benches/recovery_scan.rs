//! The silent-lead recovery scan over a large organisation: how long one pass takes to find the
//! due leads and start their runs, on SQLite or PostgreSQL.
//!
//! ```sh
//! cargo bench -p leadline-engine --bench recovery_scan -- --backend sqlite
//! cargo bench -p leadline-engine --bench recovery_scan -- --backend postgres \
//!     --postgres-url postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! Options: `--leads N` (default 1,000,000), `--due N` (default 10,000), `--rounds N`
//! (default 5). The organisation's leads are written with SQL (no personal data: the scan reads
//! none), in this mix: the due ones (contacted, quiet for 4 days, no attempt yet), and, evenly,
//! contacted leads heard from in the last two days, contacted leads whose attempts are spent,
//! contacted leads retired from recovery, and leads of other statuses. Each round puts the due
//! leads back (quiet, no attempt, no run, no job) and times one pass, which must start exactly
//! `--due` runs; then a second pass, which must start none.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use domain::recovery::RecoveryRule;
use domain::sequence::Definition;
use domain::{SequenceId, Tenant, Timestamp};
use engine::{Engine, EngineConfig, SandboxClock};
use providers::sandbox::SandboxProvider;
use sqlx::{AssertSqlSafe, Connection};
use store::{NewSequence, Store, TenantSettings};

struct Args {
    backend: String,
    postgres_url: Option<String>,
    leads: i64,
    due: i64,
    rounds: usize,
}

fn args() -> Args {
    let mut out = Args {
        backend: "sqlite".into(),
        postgres_url: std::env::var("LEADLINE_TEST_POSTGRES_URL").ok(),
        leads: 1_000_000,
        due: 10_000,
        rounds: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--backend" => out.backend = value(),
            "--postgres-url" => out.postgres_url = Some(value()),
            "--leads" => out.leads = value().parse().expect("--leads N"),
            "--due" => out.due = value().parse().expect("--due N"),
            "--rounds" => out.rounds = value().parse().expect("--rounds N"),
            // cargo bench passes --bench
            _ => {}
        }
    }
    out
}

const DAY_US: i64 = 86_400_000_000;

/// The backend's way to run seeding SQL.
enum Raw {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Raw {
    async fn run(&mut self, sql: &str) {
        match self {
            Raw::Sqlite(c) => {
                sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut *c)
                    .await
                    .unwrap_or_else(|e| panic!("{e}: {sql}"));
            }
            Raw::Postgres(c) => {
                sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut *c)
                    .await
                    .unwrap_or_else(|e| panic!("{e}: {sql}"));
            }
        }
    }
}

/// A blob/uuid literal of `tenant` for each backend.
fn id_literal(backend: &str, id: uuid::Uuid) -> String {
    if backend == "sqlite" {
        format!("X'{}'", id.simple())
    } else {
        format!("'{id}'::uuid")
    }
}

/// Inserts the leads with one statement per group (a generated series of rows).
async fn seed(raw: &mut Raw, backend: &str, tenant: uuid::Uuid, args: &Args, now_us: i64) {
    let t = id_literal(backend, tenant);
    let rest = (args.leads - args.due) / 4;
    // (count, status, quiet_since, attempts, last_touch_at)
    let groups = [
        (
            args.due,
            "contacted",
            Some(now_us - 4 * DAY_US),
            0,
            now_us - 4 * DAY_US,
        ),
        (rest, "contacted", Some(now_us - DAY_US), 0, now_us - DAY_US),
        (
            rest,
            "contacted",
            Some(now_us - 10 * DAY_US),
            2,
            now_us - 10 * DAY_US,
        ),
        (rest, "contacted", None, 0, now_us - 200 * DAY_US),
        (
            args.leads - args.due - 3 * rest,
            "won",
            Some(now_us - 30 * DAY_US),
            0,
            now_us - 30 * DAY_US,
        ),
    ];
    for (n, status, quiet, attempts, touch) in groups {
        let quiet = quiet.map_or("NULL".to_owned(), |q| format!("{q} - i"));
        let (series, id) = if backend == "sqlite" {
            (
                format!(
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})"
                ),
                "randomblob(16)",
            )
        } else {
            (
                format!("WITH s(i) AS (SELECT generate_series(1, {n}))"),
                "gen_random_uuid()",
            )
        };
        let sql = format!(
            "{series} INSERT INTO leads (id, tenant_id, status, source, created_at, updated_at, \
             last_touch_at, touch_count, quiet_since, recovery_attempts) \
             SELECT {id}, {t}, '{status}', 'web_form', {touch}, {touch}, {touch} - i, 1, {quiet}, {attempts} FROM s"
        );
        raw.run(&sql).await;
    }
    raw.run(if backend == "sqlite" {
        "ANALYZE"
    } else {
        "ANALYZE leads"
    })
    .await;
}

/// Puts the due leads back as they were before a pass.
async fn reset(raw: &mut Raw, backend: &str, tenant: uuid::Uuid, now_us: i64) {
    let t = id_literal(backend, tenant);
    raw.run(&format!(
        "UPDATE leads SET quiet_since = {q}, recovery_attempts = 0 WHERE tenant_id = {t} \
         AND status = 'contacted' AND recovery_attempts = 1 AND quiet_since = {now_us}",
        q = now_us - 4 * DAY_US
    ))
    .await;
    raw.run("DELETE FROM enrolments").await;
    raw.run("DELETE FROM lead_events").await;
    raw.run("DELETE FROM jobs WHERE kind = 'sequence_step'")
        .await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let cipher = crypto::Cipher::new(crypto::KeyRing::generate());
    let dir = tempfile::tempdir().unwrap();
    let (store, mut raw): (Arc<dyn Store>, Raw) = match args.backend.as_str() {
        "sqlite" => {
            let url = format!("sqlite:{}", dir.path().join("bench.db").display());
            let store = store_sqlite::SqliteStore::open(&url, cipher).await.unwrap();
            let raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
            (Arc::new(store), Raw::Sqlite(raw))
        }
        "postgres" => {
            let url = args
                .postgres_url
                .clone()
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
                store_postgres::PostgresStore::connect_with_options(options.clone(), cipher, 8)
                    .await
                    .unwrap();
            let raw = sqlx::PgConnection::connect_with(&options).await.unwrap();
            println!("schema {schema} (drop it when done)");
            (Arc::new(store), Raw::Postgres(raw))
        }
        other => panic!("--backend sqlite|postgres, not {other}"),
    };
    let now: Timestamp = "2026-03-10T18:00:00Z".parse().unwrap();
    let clock = Arc::new(SandboxClock::new());
    clock.set(now);
    let provider = Arc::new(SandboxProvider::new());
    let engine = Engine::new(
        store.clone(),
        clock,
        provider.clone(),
        provider,
        EngineConfig::default(),
    );
    let org = store
        .create_tenant("Bench", &TenantSettings::default(), now)
        .await
        .unwrap();
    let tenant = Tenant::from_authenticated(org.id);
    let definition: Definition = serde_json::from_value(serde_json::json!({
        "steps": [{ "channel": "sms", "delay": "PT0S", "purpose": "marketing", "template": "Still there?" }]
    }))
    .unwrap();
    let sequence = store
        .create_sequence(
            tenant,
            NewSequence {
                id: SequenceId::new(),
                name: "Win back".into(),
                definition,
                created_at: now,
            },
        )
        .await
        .unwrap();
    let rules: Vec<RecoveryRule> = serde_json::from_value(serde_json::json!([{
        "status": "contacted", "silent_for": "P3D", "sequence_id": sequence.id, "max_attempts": 2
    }]))
    .unwrap();

    let seeding = Instant::now();
    let now_us = now.as_microsecond();
    seed(&mut raw, &args.backend, org.id.as_uuid(), &args, now_us).await;
    println!(
        "{}: {} leads, {} due, seeded in {:.1} s",
        args.backend,
        args.leads,
        args.due,
        seeding.elapsed().as_secs_f64()
    );
    let mut passes = Vec::new();
    for round in 0..args.rounds {
        if round > 0 {
            reset(&mut raw, &args.backend, org.id.as_uuid(), now_us).await;
        }
        let started = Instant::now();
        let report = engine.recover_one(tenant, &rules, now).await.unwrap();
        let took = started.elapsed();
        assert_eq!(
            report.started,
            u64::try_from(args.due).unwrap(),
            "round {round}: {report:?}"
        );
        let again = Instant::now();
        let second = engine.recover_one(tenant, &rules, now).await.unwrap();
        let idle = again.elapsed();
        assert_eq!(second.started, 0, "round {round}: {second:?}");
        println!(
            "round {round}: started {} in {:.3} s; the next pass found nothing in {:.4} s",
            report.started,
            took.as_secs_f64(),
            idle.as_secs_f64()
        );
        passes.push(took.as_secs_f64());
    }
    passes.sort_by(f64::total_cmp);
    println!(
        "{}: pass over {} leads starting {} runs: median {:.3} s, worst {:.3} s ({} rounds)",
        args.backend,
        args.leads,
        args.due,
        passes[passes.len() / 2],
        passes[passes.len() - 1],
        passes.len()
    );
}
