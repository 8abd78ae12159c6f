//! Dashboard pages for an organisation with 100,000 leads: how long the server takes to answer
//! each page, measured from a client on loopback (so an upper bound of the render time).
//!
//! ```sh
//! cargo bench -p leadline-web --bench dashboard_render -- --backend sqlite
//! cargo bench -p leadline-web --bench dashboard_render -- --backend postgres \
//!     --postgres-url postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! Options: `--leads N` (default 100,000), `--sealed N` of them posted through the API with
//! sealed names, numbers and consent, and answered (default 1,000; the rest are written with
//! SQL, older, without personal data), `--requests N` per page (default 300). Each page is
//! asked for sequentially by a signed-in agent, as a browser would, after 20 requests of
//! warm-up; every request reads through the API's handlers and writes its audit entry, as in
//! production.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../../engine/benches/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{flag, flags, open};
use domain::{Role, Tenant};
use engine::{Engine, EngineConfig, SandboxClock};
use providers::sandbox::SandboxProvider;
use serde_json::{Value, json};
use store::{NewApiKey, TenantSettings};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

const STATUSES: [&str; 6] = ["new", "contacted", "engaged", "booked", "won", "lost"];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let flags = flags();
    let backend = flag(&flags, "backend", "sqlite".to_owned());
    let leads: i64 = flag(&flags, "leads", 100_000);
    let sealed: i64 = flag(&flags, "sealed", 1_000);
    let requests: usize = flag(&flags, "requests", 300);
    let cipher = crypto::Cipher::new(crypto::KeyRing::generate());
    let (store, mut raw, _dir) = open(&flags, cipher.clone(), 8).await;
    let clock = Arc::new(SandboxClock::new());
    // A Wednesday at noon in San Francisco: first answers go at once.
    clock.set("2026-03-04T20:00:00Z".parse().unwrap());
    let provider = Arc::new(SandboxProvider::new());
    let engine = Engine::new(
        store.clone(),
        clock.clone(),
        provider.clone(),
        provider,
        EngineConfig::default(),
    );
    let now = engine.clock.now();
    let settings = TenantSettings {
        business_name: "Bench Roofing".to_owned(),
        support_contact: "help@example.com".to_owned(),
        ..TenantSettings::default()
    };
    let org = store
        .create_tenant("Bench Roofing", &settings, now)
        .await
        .unwrap();
    let tenant = Tenant::from_authenticated(org.id);
    let key = crypto::generate_api_key();
    store
        .create_api_key(
            tenant,
            NewApiKey {
                id: domain::ApiKeyId::new(),
                name: "bench".into(),
                prefix: key.prefix.clone(),
                hash: key.hash.to_vec(),
                scopes: store::API_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                created_at: now,
            },
        )
        .await
        .unwrap();
    let password = "correct horse battery staple";
    let user = store
        .create_user(store::NewUser {
            id: domain::UserId::new(),
            email: domain::Email::parse("agent@bench.example").unwrap(),
            password_hash: crypto::hash_password(password).unwrap(),
            must_change_password: false,
            operator: false,
            created_at: now,
        })
        .await
        .unwrap();
    store
        .add_membership(tenant, user.id, Role::Agent, now)
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = web::AppState::new(engine.clone(), cipher, None);
    tokio::spawn(async move {
        axum::serve(
            listener,
            web::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The old leads, with SQL: no personal data, spread over the statuses, a year back.
    let seeding = Instant::now();
    let t = raw.id(org.id.as_uuid());
    let old = leads - sealed;
    let year_us: i64 = 365 * 86_400_000_000;
    let start_us = now.as_microsecond() - year_us;
    for (s, status) in STATUSES.iter().enumerate() {
        let n = old / 6 + i64::from(s == 0) * (old % 6);
        let (series, id) = if raw.sqlite() {
            (
                format!(
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})"
                ),
                // Below every UUIDv7 the API gives: the sealed leads are the newest page.
                "unhex('00' || hex(randomblob(15)))",
            )
        } else {
            (
                format!("WITH s(i) AS (SELECT generate_series(1, {n}))"),
                "overlay(gen_random_uuid()::text placing '00' from 1 for 2)::uuid",
            )
        };
        raw.run(format!(
            "{series} INSERT INTO leads (id, tenant_id, status, source, created_at, updated_at, \
             last_touch_at, touch_count) \
             SELECT {id}, {t}, '{status}', 'web_form', {start_us} + CAST(i AS BIGINT) * 1800000, \
             {start_us} + CAST(i AS BIGINT) * 1800000, {start_us} + CAST(i AS BIGINT) * 1800000, 1 FROM s"
        ))
        .await;
    }
    // The newest, through the API: sealed, with consent, answered.
    let mut ids = Vec::new();
    let mut phones = Vec::new();
    for i in 0..sealed {
        let phone = format!("+1415{:03}{:04}", 200 + (i / 10_000) % 700, i % 10_000);
        let res = client
            .post(format!("{base}/api/v1/leads"))
            .bearer_auth(&key.secret)
            .json(&json!({
                "name": format!("Lead {i} <b>Example</b>"),
                "phone": phone,
                "email": format!("lead{i}@example.com"),
                "source": "web_form",
                "consent": {
                    "disclosure_text": "By submitting you agree to receive texts from Bench Roofing.",
                    "purposes": ["transactional"]
                }
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let body: Value = res.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_owned());
        phones.push(phone);
    }
    let answered = engine::runner::drain(&engine).await;
    raw.run("ANALYZE".to_owned()).await;
    println!(
        "{backend}: {leads} leads ({sealed} sealed and answered, {answered} jobs), seeded in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    // Sign in as a browser does.
    let login = client
        .get(format!("{base}/app/login"))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = login.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = client
        .post(format!("{base}/app/login"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("csrf", &csrf)
                .append_pair("email", "agent@bench.example")
                .append_pair("password", password)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("ll_session="))
        .unwrap();

    let deep = {
        let rows = raw
            .rows(&format!(
                "SELECT CAST(status AS TEXT), COUNT(*) FROM leads WHERE tenant_id = {t} GROUP BY status"
            ))
            .await;
        println!("statuses: {rows:?}");
        // A page deep in the history: the cursor of the 50,000th lead from the top.
        let id: Vec<(String, i64)> = raw
            .rows(&format!(
                "SELECT {hex}, CAST(0 AS BIGINT) FROM leads WHERE tenant_id = {t} ORDER BY id DESC LIMIT 1 OFFSET {off}",
                hex = if raw.sqlite() { "lower(hex(id))" } else { "replace(CAST(id AS TEXT), '-', '')" },
                off = leads / 2
            ))
            .await;
        uuid::Uuid::parse_str(&id[0].0).unwrap().to_string()
    };
    let pages: Vec<(&str, Vec<String>)> = vec![
        ("leads, newest", vec!["/app/leads".to_owned()]),
        (
            "leads, status filter",
            vec!["/app/leads?status=contacted".to_owned()],
        ),
        (
            "leads, deep page",
            vec![format!("/app/leads?cursor={deep}")],
        ),
        (
            "leads, phone search",
            phones
                .iter()
                .take(50)
                .map(|p| format!("/app/leads?q={}", p.replace('+', "%2B")))
                .collect(),
        ),
        (
            "lead page",
            ids.iter()
                .take(50)
                .map(|id| format!("/app/leads/{id}"))
                .collect(),
        ),
    ];
    println!("page                   p50 ms   p95 ms   p99 ms   max ms   (n)");
    for (name, paths) in pages {
        let mut times = Vec::with_capacity(requests);
        for i in 0..(requests + 20) {
            let path = &paths[i % paths.len()];
            let started = Instant::now();
            let res = client
                .get(format!("{base}{path}"))
                .header("cookie", &session)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.bytes().await.unwrap();
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
            if i >= 20 {
                times.push(elapsed);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<22} {:>7.2} {:>8.2} {:>8.2} {:>8.2}   ({})",
            percentile(&times, 50.0),
            percentile(&times, 95.0),
            percentile(&times, 99.0),
            times[times.len() - 1],
            times.len()
        );
    }
}
