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

mod common;

use std::time::Instant;

use common::{Raw, flag, flags, open};
use domain::recovery::RecoveryRule;
use domain::sequence::Definition;
use domain::{SequenceId, Tenant, Timestamp};
use engine::{Engine, EngineConfig, SandboxClock};
use providers::sandbox::SandboxProvider;
use std::sync::Arc;
use store::{NewSequence, TenantSettings};

const DAY_US: i64 = 86_400_000_000;

/// Inserts the leads with one statement per group (a generated series of rows).
async fn seed(raw: &mut Raw, tenant: uuid::Uuid, leads: i64, due: i64, now_us: i64) {
    let t = raw.id(tenant);
    let rest = (leads - due) / 4;
    // (count, status, quiet_since, attempts, last_touch_at)
    let groups = [
        (
            due,
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
            leads - due - 3 * rest,
            "won",
            Some(now_us - 30 * DAY_US),
            0,
            now_us - 30 * DAY_US,
        ),
    ];
    for (n, status, quiet, attempts, touch) in groups {
        let quiet = quiet.map_or("NULL".to_owned(), |q| format!("{q} - i"));
        let (series, id) = if raw.sqlite() {
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
        raw.run(sql).await;
    }
    raw.run("ANALYZE".to_owned()).await;
}

/// Puts the due leads back as they were before a pass.
async fn reset(raw: &mut Raw, tenant: uuid::Uuid, now_us: i64) {
    let t = raw.id(tenant);
    raw.run(format!(
        "UPDATE leads SET quiet_since = {q}, recovery_attempts = 0 WHERE tenant_id = {t} \
         AND status = 'contacted' AND recovery_attempts = 1 AND quiet_since = {now_us}",
        q = now_us - 4 * DAY_US
    ))
    .await;
    raw.run("DELETE FROM enrolments".to_owned()).await;
    raw.run("DELETE FROM jobs WHERE kind = 'sequence_step'".to_owned())
        .await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let flags = flags();
    let backend = flag(&flags, "backend", "sqlite".to_owned());
    let leads: i64 = flag(&flags, "leads", 1_000_000);
    let due: i64 = flag(&flags, "due", 10_000);
    let rounds: usize = flag(&flags, "rounds", 5);
    let cipher = crypto::Cipher::new(crypto::KeyRing::generate());
    let (store, mut raw, _dir) = open(&flags, cipher, 8).await;
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
    seed(&mut raw, org.id.as_uuid(), leads, due, now_us).await;
    println!(
        "{backend}: {leads} leads, {due} due, seeded in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let mut passes = Vec::new();
    for round in 0..rounds {
        if round > 0 {
            reset(&mut raw, org.id.as_uuid(), now_us).await;
        }
        let started = Instant::now();
        let report = engine.recover_one(tenant, &rules, now).await.unwrap();
        let took = started.elapsed();
        assert_eq!(
            report.started,
            u64::try_from(due).unwrap(),
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
        "{backend}: pass over {leads} leads starting {due} runs: median {:.3} s, worst {:.3} s ({} rounds)",
        passes[passes.len() / 2],
        passes[passes.len() - 1],
        passes.len()
    );
}
