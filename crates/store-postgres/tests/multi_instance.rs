//! What only PostgreSQL promises: several store instances (standing in for several processes)
//! on one schema wake each other's workers and race each other safely.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use domain::{
    Channel, JobId, LeadId, MessageId, MessageStatus, NewLead, Phone, Purpose, Tenant, Timestamp,
};
use sqlx::{ConnectOptions, Connection};
use store::{BeginOutbound, IntakeRequest, NewJob, NewOutbound, Store, TenantSettings};
use store_postgres::PostgresStore;
use tokio::sync::mpsc;

/// Long enough for a loaded CI machine; a wake-up normally takes milliseconds.
const WAKE_TIMEOUT: Duration = Duration::from_secs(5);

fn t0() -> Timestamp {
    Timestamp::from_second(1_772_463_600).expect("a valid instant")
}

/// Two stores on the same fresh schema, sharing one key ring as two processes would.
async fn two_instances() -> Option<(PostgresStore, PostgresStore, common::SchemaGuard)> {
    let (options, guard) = common::fresh_schema().await?;
    let cipher = common::cipher();
    let a = PostgresStore::connect_with_options(options.clone(), cipher.clone(), common::POOL)
        .await
        .expect("connect instance a");
    let b = PostgresStore::connect_with_options(options, cipher, common::POOL)
        .await
        .expect("connect instance b");
    Some((a, b, guard))
}

async fn tenant(store: &PostgresStore) -> Tenant {
    let rec = store
        .create_tenant("Acme", &TenantSettings::default(), t0())
        .await
        .expect("create tenant");
    Tenant::from_authenticated(rec.id)
}

fn job(kind: &str, dedupe_key: Option<&str>) -> NewJob {
    NewJob {
        id: JobId::new(),
        tenant_id: None,
        kind: kind.to_owned(),
        payload: serde_json::json!({}),
        run_at: t0(),
        max_attempts: 3,
        dedupe_key: dedupe_key.map(str::to_owned),
    }
}

fn intake_req(tenant: Tenant, phone: &str) -> IntakeRequest {
    let id = LeadId::new();
    IntakeRequest {
        new_lead_id: id,
        lead: NewLead {
            name: Some("Jane".to_owned()),
            phone: Some(Phone::parse(phone, "US").expect("test phone")),
            email: None,
            source: "web_form".to_owned(),
            address: None,
            zip: None,
            time_zone: None,
            consent: None,
            details: domain::Details::default(),
            tags: domain::Tags::default(),
        },
        received_at: t0(),
        idempotency: None,
        jobs_if_created: vec![NewJob {
            tenant_id: Some(tenant.id()),
            payload: serde_json::json!({ "lead_id": id }),
            ..job("first_response", None)
        }],
        audit: Some(store::AuditContext::system("test")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_job_in_another_instance_wakes_subscribers() {
    let Some((listening, other, _guard)) = two_instances().await else {
        return;
    };
    let (woken, mut wakes) = mpsc::unbounded_channel::<()>();
    listening
        .subscribe_job_wakeups(Arc::new(move || {
            // The receiver lives until the end of the test; a send after that is moot.
            let _ = woken.send(());
        }))
        .await
        .expect("subscribe");

    other
        .enqueue(job("scan", None))
        .await
        .expect("enqueue elsewhere");
    tokio::time::timeout(WAKE_TIMEOUT, wakes.recv())
        .await
        .expect("an enqueue in another instance wakes the subscriber")
        .expect("wake channel open");

    let t = tenant(&other).await;
    let out = other
        .intake(t, intake_req(t, "4155552671"))
        .await
        .expect("intake elsewhere");
    assert!(out.created);
    tokio::time::timeout(WAKE_TIMEOUT, wakes.recv())
        .await
        .expect("an intake that enqueues a job wakes the subscriber")
        .expect("wake channel open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_intakes_of_one_person_make_one_lead() {
    let Some((a, b, _guard)) = two_instances().await else {
        return;
    };
    let t = tenant(&a).await;
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        handles.push(tokio::spawn(async move {
            store.intake(t, intake_req(t, "+1 415 555 2671")).await
        }));
    }
    let mut leads = HashSet::new();
    let mut created = 0;
    for handle in handles {
        let out = handle
            .await
            .expect("task")
            .expect("intake survives the race");
        leads.insert(out.lead.id);
        created += usize::from(out.created);
    }
    assert_eq!(leads.len(), 1, "one person, one lead");
    assert_eq!(created, 1, "exactly one intake created it");
    let lead = a
        .get_lead(t, leads.into_iter().next().expect("a lead"))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(lead.touch_count, 8, "every other intake is a touch");
    assert_eq!(
        a.list_jobs(t, None, 50).await.expect("jobs").len(),
        1,
        "one first-response job"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intake_that_loses_the_race_finds_the_winners_lead() {
    // Deterministic version of the race above: a rival "process" inserts the same person in a
    // transaction it holds open until the intake is seen blocked on the unique index, then
    // commits. The intake's INSERT then fails, and its retry must find the rival's lead.
    let Some((options, _guard)) = common::fresh_schema().await else {
        return;
    };
    let app = format!("race-{}", uuid::Uuid::now_v7().simple());
    let cipher = common::cipher();
    let store = PostgresStore::connect_with_options(
        options.clone().application_name(&app),
        cipher.clone(),
        common::POOL,
    )
    .await
    .expect("connect the store");
    let t = tenant(&store).await;

    let req = intake_req(t, "4155552671");
    let rival_id = LeadId::new();
    let sealed = store::codec::seal_lead(&cipher, t.id(), rival_id, &req.lead);
    let mut rival = options.connect().await.expect("rival connection");
    let mut rival_tx = rival.begin().await.expect("rival transaction");
    sqlx::query(
        "INSERT INTO leads (id, tenant_id, status, source, name_ct, phone_ct, phone_bidx, \
         created_at, updated_at, last_touch_at, touch_count) \
         VALUES ($1, $2, 'new', 'rival', $3, $4, $5, $6, $6, $6, 1)",
    )
    .bind(rival_id.as_uuid())
    .bind(t.id().as_uuid())
    .bind(sealed.name)
    .bind(sealed.phone)
    .bind(sealed.phone_bidx)
    .bind(store::codec::us(t0()))
    .execute(&mut *rival_tx)
    .await
    .expect("rival insert");

    let racing = store.clone();
    let intake = tokio::spawn(async move { racing.intake(t, req).await });

    // Wait, by watching the server, until the intake's INSERT waits for the rival's row lock.
    let mut watcher = options.connect().await.expect("watcher connection");
    tokio::time::timeout(WAKE_TIMEOUT, async {
        loop {
            let (waiting,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                 AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO leads%'",
            )
            .bind(&app)
            .fetch_one(&mut watcher)
            .await
            .expect("watch pg_stat_activity");
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the intake blocks on the rival's uncommitted lead");
    rival_tx.commit().await.expect("rival commit");

    let out = intake
        .await
        .expect("task")
        .expect("the losing intake retries and succeeds");
    assert!(!out.created, "the rival created the lead");
    assert_eq!(out.lead.id, rival_id);
    assert_eq!(out.lead.touch_count, 2);
    assert_eq!(out.lead.source, "rival", "the winner's lead, touched");
    assert!(
        store.list_jobs(t, None, 10).await.expect("jobs").is_empty(),
        "a touch enqueues nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_answers_start_once() {
    let Some((a, b, _guard)) = two_instances().await else {
        return;
    };
    let t = tenant(&a).await;
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        handles.push(tokio::spawn(async move {
            store
                .begin_outbound(
                    t,
                    NewOutbound {
                        id: MessageId::new(),
                        lead_id: None,
                        channel: Channel::Sms,
                        to: "+14155552671".to_owned(),
                        from: "+15005550006".to_owned(),
                        subject: None,
                        body: "Hi!".to_owned(),
                        purpose: Purpose::Transactional,
                        job_id: None,
                        dedupe_key: Some("first_response:race".to_owned()),
                        intake_at: None,
                        created_at: t0(),
                        status: MessageStatus::Sending,
                        error: None,
                        cap_guard: None,
                    },
                )
                .await
        }));
    }
    let mut started = Vec::new();
    let mut existing = Vec::new();
    for handle in handles {
        match handle.await.expect("task").expect("begin_outbound") {
            BeginOutbound::Started(m) => started.push(m.id),
            BeginOutbound::Existing(m) => existing.push(m.id),
            BeginOutbound::CapReached => panic!("no cap was asked for"),
        }
    }
    assert_eq!(started.len(), 1, "one message starts");
    assert!(
        existing.iter().all(|id| *id == started[0]),
        "the others get that message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_of_one_key_make_one_job() {
    let Some((a, b, _guard)) = two_instances().await else {
        return;
    };
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        handles.push(tokio::spawn(async move {
            store.enqueue(job("scan", Some("recovery-scan"))).await
        }));
    }
    let mut ids = HashSet::new();
    for handle in handles {
        ids.insert(handle.await.expect("task").expect("enqueue"));
    }
    assert_eq!(ids.len(), 1, "every caller gets the one live job");
    assert_eq!(a.queue_depth().await.expect("depth"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_current_and_rerun_harmlessly() {
    let Some((a, b, _guard)) = two_instances().await else {
        return;
    };
    assert_eq!(a.backend(), "postgres");
    assert!(a.migrations_current().await.expect("check migrations"));
    assert!(b.migrations_current().await.expect("check migrations"));
    a.ping().await.expect("ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_is_open_in_full_before_connect_returns() {
    // A pool that opened connections on demand made leads wait ~100 ms for each new PostgreSQL
    // backend at every burst (docs/performance.md). Every connection must exist before the
    // store is handed out, and stay open while idle.
    let Some((options, _guard)) = common::fresh_schema().await else {
        return;
    };
    let app = format!("pool-{}", uuid::Uuid::now_v7().simple());
    let store = PostgresStore::connect_with_options(
        options.clone().application_name(&app),
        common::cipher(),
        common::POOL,
    )
    .await
    .expect("connect the store");
    let mut watcher = options.connect().await.expect("watcher connection");
    assert_eq!(backends(&mut watcher, &app).await, i64::from(common::POOL));
    store.ping().await.expect("ping");
    assert_eq!(backends(&mut watcher, &app).await, i64::from(common::POOL));
    store.close().await;
    assert_eq!(
        backends(&mut watcher, &app).await,
        0,
        "close ends every connection"
    );
}

/// How many backends `application_name = app` has.
async fn backends(conn: &mut sqlx::PgConnection, app: &str) -> i64 {
    let (open,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
            .bind(app)
            .fetch_one(conn)
            .await
            .expect("read pg_stat_activity");
    open
}
