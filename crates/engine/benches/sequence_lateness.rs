//! Sequence steps on time with many runs active: how late (due time to provider call) steps go
//! when 100,000 runs are active and their steps fall due at a steady rate.
//!
//! ```sh
//! cargo bench -p leadline-engine --bench sequence_lateness -- --backend sqlite
//! cargo bench -p leadline-engine --bench sequence_lateness -- --backend postgres \
//!     --postgres-url postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! Options: `--runs N` active runs (default 100,000), `--rate R` steps falling due per second
//! (default 200: the rate the provider accepts), `--window S` seconds of steps measured
//! (default 60). The runs' leads (sealed, with San Francisco numbers) and runs are written
//! with SQL; `rate x window` of the runs have their step due one after another from a minute
//! after the runs are written, the rest a day later (active, in the indexes, not due). The job runner
//! then runs as `leadline serve` runs it, on a sandbox clock set to a weekday noon (running at
//! real speed) and the sandbox provider; each step goes through compliance and dispatch like any
//! message. Lateness is the message's provider call time minus its step's due time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{flag, flags, open};
use domain::sequence::Definition;
use domain::{Clock, LeadId, NewLead, Phone, SequenceId, Tenant};
use engine::{Engine, EngineConfig, SandboxClock};
use providers::sandbox::SandboxProvider;
use store::{NewSequence, TenantSettings};

/// `+1 415 NXX XXXX`, distinct for each `i` (exchanges 555 and N11 skipped).
fn phone(i: u64) -> Phone {
    let exchanges: Vec<u64> = (200..1000).filter(|n| n % 100 != 11 && *n != 555).collect();
    let exchange = exchanges[usize::try_from(i / 10_000).unwrap() % exchanges.len()];
    Phone::parse(&format!("+1415{exchange}{:04}", i % 10_000), "US").unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let flags = flags();
    let backend = flag(&flags, "backend", "sqlite".to_owned());
    let runs: u64 = flag(&flags, "runs", 100_000);
    let rate: u64 = flag(&flags, "rate", 200);
    let window: u64 = flag(&flags, "window", 60);
    let cipher = crypto::Cipher::new(crypto::KeyRing::generate());
    let (store, mut raw, _dir) = open(&flags, cipher.clone(), 32).await;
    let clock = Arc::new(SandboxClock::new());
    // A Wednesday at 10:00 in San Francisco: inside every window.
    clock.set("2026-03-04T18:00:00Z".parse().unwrap());
    let provider = Arc::new(SandboxProvider::new());
    let engine = Engine::new(
        store.clone(),
        clock.clone(),
        provider.clone(),
        provider.clone(),
        EngineConfig::default(),
    );
    let org = store
        .create_tenant("Bench", &TenantSettings::default(), clock.now())
        .await
        .unwrap();
    let tenant = Tenant::from_authenticated(org.id);
    let definition: Definition = serde_json::from_value(serde_json::json!({
        "steps": [{ "channel": "sms", "delay": "PT0S", "purpose": "transactional",
                    "template": "Hi {{ first_name }}, your estimate is confirmed for Friday." }]
    }))
    .unwrap();
    let sequence = store
        .create_sequence(
            tenant,
            NewSequence {
                id: SequenceId::new(),
                name: "Confirm".into(),
                definition,
                created_at: clock.now(),
            },
        )
        .await
        .unwrap();

    // Leads and runs, 1,000 per statement.
    let seeding = Instant::now();
    let t = raw.id(org.id.as_uuid());
    let seq = raw.id(sequence.id.as_uuid());
    let now_us = clock.now().as_microsecond();
    let measured = rate * window;
    let mut dues: HashMap<uuid::Uuid, i64> = HashMap::new();
    // Seeding takes a while on the running sandbox clock: due times are set from its end.
    let mut rows: Vec<(LeadId, uuid::Uuid, u64)> = Vec::new();
    for i in 0..runs {
        rows.push((LeadId::new(), uuid::Uuid::now_v7(), i));
    }
    for chunk in rows.chunks(1000) {
        let mut leads = String::from(
            "INSERT INTO leads (id, tenant_id, status, source, name_ct, phone_ct, phone_bidx, \
             created_at, updated_at, last_touch_at, touch_count, quiet_since) VALUES ",
        );
        for (n, (lead, _, i)) in chunk.iter().enumerate() {
            let new = NewLead {
                name: Some(format!("Bench Lead {i}")),
                phone: Some(phone(*i)),
                email: None,
                source: "bench".into(),
                address: None,
                zip: None,
                time_zone: None,
                consent: None,
                details: domain::Details::default(),
                tags: domain::Tags::default(),
            };
            let sealed = store::codec::seal_lead(&cipher, org.id, *lead, &new);
            if n > 0 {
                leads.push(',');
            }
            write!(
                leads,
                "({}, {t}, 'contacted', 'bench', {}, {}, {}, {now_us}, {now_us}, {now_us}, 1, {now_us})",
                raw.id(lead.as_uuid()),
                raw.bytes(sealed.name.as_deref()),
                raw.bytes(sealed.phone.as_deref()),
                raw.bytes(sealed.phone_bidx.as_deref()),
            )
            .unwrap();
        }
        raw.run(leads).await;
    }
    // The runs' rows take a while to write on the running sandbox clock: the first step falls
    // due a minute after they start.
    let start_us = clock.now().as_microsecond() + 60_000_000;
    let mut enrolments = Vec::new();
    let mut jobs = Vec::new();
    for (lead, enrolment, i) in &rows {
        let due = if *i < measured {
            start_us + i64::try_from(*i * 1_000_000 / rate).unwrap()
        } else {
            start_us + 86_400_000_000
        };
        if *i < measured {
            dues.insert(*enrolment, due);
        }
        enrolments.push(format!(
            "({}, {t}, {}, {seq}, 1, 'active', 0, {due}, {now_us}, {now_us}, 'manual')",
            raw.id(*enrolment),
            raw.id(lead.as_uuid()),
        ));
        jobs.push(format!(
            "({}, {t}, 'sequence_step', '{{\"enrolment_id\":\"{enrolment}\",\"step\":0}}', 'ready', 0, 8, {due}, 'seq:{enrolment}:0', {now_us}, {now_us})",
            raw.id(uuid::Uuid::now_v7()),
        ));
    }
    for chunk in enrolments.chunks(1000) {
        raw.run(format!(
            "INSERT INTO enrolments (id, tenant_id, lead_id, sequence_id, version, state, step, \
             next_run_at, enrolled_at, updated_at, origin) VALUES {}",
            chunk.join(",")
        ))
        .await;
    }
    for chunk in jobs.chunks(1000) {
        raw.run(format!(
            "INSERT INTO jobs (id, tenant_id, kind, payload, state, attempts, max_attempts, run_at, \
             dedupe_key, created_at, updated_at) VALUES {}",
            chunk.join(",")
        ))
        .await;
    }
    raw.run("ANALYZE".to_owned()).await;
    let behind = clock.now().as_microsecond() - start_us;
    println!(
        "{backend}: {runs} active runs seeded in {:.1} s; {measured} steps due at {rate}/s from {:.1} s from now",
        seeding.elapsed().as_secs_f64(),
        -(behind as f64) / 1e6
    );
    assert!(behind < 0, "seeding outran the lead-in: raise it");

    let shutdown = tokio_util::sync::CancellationToken::new();
    let runner = tokio::spawn(engine::runner::run(
        engine.clone(),
        "bench".into(),
        shutdown.child_token(),
    ));
    let deadline = Instant::now() + Duration::from_secs(window + 120);
    let sent = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let n = provider.sent().len() as u64;
        if n >= measured || Instant::now() > deadline {
            break n;
        }
    };
    shutdown.cancel();
    runner.await.unwrap();
    let rows = raw
        .rows("SELECT dedupe_key, provider_called_at FROM messages WHERE dedupe_key LIKE 'seq:%'")
        .await;
    let mut late: Vec<f64> = rows
        .iter()
        .filter_map(|(key, called)| {
            let id: uuid::Uuid = key.split(':').nth(1)?.parse().ok()?;
            Some((called - dues.get(&id)?) as f64 / 1e3)
        })
        .collect();
    late.sort_by(f64::total_cmp);
    assert!(!late.is_empty(), "no step was sent");
    println!(
        "{backend}: {sent} of {measured} steps sent ({} messages recorded); lateness ms p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
        late.len(),
        percentile(&late, 50.0),
        percentile(&late, 90.0),
        percentile(&late, 99.0),
        late[late.len() - 1],
    );
}
