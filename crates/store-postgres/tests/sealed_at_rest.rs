//! Nothing personal is in clear text in PostgreSQL's files: the raw pages of every table, index
//! and TOAST relation of the schema are searched for the people's phone numbers, emails, names
//! and consent details, after a CHECKPOINT has written them out. Needs a superuser (to read the
//! data directory), as the local test server's `postgres` is.

mod common;

use domain::{
    Channel, ConsentEvidence, Email, LeadId, MessageId, MessageStatus, NewLead, Phone, Purpose,
    Tenant, Timestamp,
};
use sqlx::{ConnectOptions, Connection};
use store::{IntakeRequest, NewInbound, NewOutbound, Store, TenantSettings};

const SOURCE: &str = "web_form_probe";

/// Everything personal the test writes; none of it may appear on disk.
const SECRETS: &[&str] = &[
    "+14155552671",
    "4155552671",
    "zelda.quux@example.com",
    "Zelda Quuxington",
    "Quuxington",
    "742 Evergreen Terrace",
    "94110",
    "198.51.100.23",
    "ZeldaBrowser/7.1",
    "+12125550187",
    "2125550187",
    "yorick.vandersloot@example.org",
    "Yorick Vandersloot",
    "Vandersloot",
    "198.51.100.77",
    "first-do-not-leak",
    "second-do-not-leak",
    "xavier.dnc",
    "gate-code-do-not-leak",
];

fn t0() -> Timestamp {
    Timestamp::from_second(1_772_463_600).expect("a valid instant")
}

fn lead(name: &str, phone: &str, email: &str, with_consent: bool) -> NewLead {
    NewLead {
        name: Some(name.to_owned()),
        phone: Some(Phone::parse(phone, "US").expect("test phone")),
        email: Some(Email::parse(email).expect("test email")),
        source: SOURCE.to_owned(),
        address: Some("742 Evergreen Terrace".to_owned()),
        zip: Some("94110".to_owned()),
        time_zone: Some("America/Los_Angeles".to_owned()),
        consent: with_consent.then(|| ConsentEvidence {
            disclosure_text: "I agree to receive texts from Acme".to_owned(),
            disclosure_version: Some("v1".to_owned()),
            seller: Some("Acme".to_owned()),
            page_url: Some("https://acme.example/quote".to_owned()),
            ip: Some("198.51.100.23".to_owned()),
            user_agent: Some("ZeldaBrowser/7.1".to_owned()),
            captured_at: t0(),
            purposes: vec![Purpose::Transactional],
        }),
        details: {
            let mut details = domain::Details::default();
            details.add("gate_code", "gate-code-do-not-leak");
            details
        },
        tags: domain::Tags::parse(&["roofing"]).expect("a tag"),
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_is_sealed_on_disk() {
    let Some((options, guard)) = common::fresh_schema().await else {
        return;
    };
    let store = store_postgres::PostgresStore::connect_with_options(
        options.clone(),
        common::cipher(),
        common::POOL,
    )
    .await
    .expect("connect the PostgreSQL store");
    let tenant = store
        .create_tenant("Acme", &TenantSettings::default(), t0())
        .await
        .expect("create tenant");
    let tenant = Tenant::from_authenticated(tenant.id);
    let mut lead_ids = Vec::new();
    for new in [
        lead(
            "Zelda Quuxington",
            "+1 415 555 2671",
            "zelda.quux@example.com",
            true,
        ),
        lead(
            "Yorick Vandersloot",
            "(212) 555-0187",
            "yorick.vandersloot@example.org",
            false,
        ),
    ] {
        let id = LeadId::new();
        let out = store
            .intake(
                tenant,
                IntakeRequest {
                    new_lead_id: id,
                    lead: new,
                    received_at: t0(),
                    idempotency: None,
                    jobs_if_created: Vec::new(),
                    audit: Some(store::AuditContext {
                        actor_kind: store::ActorKind::ApiKey,
                        actor_id: "key".into(),
                        ip: Some("198.51.100.77".into()),
                        correlation_id: String::new(),
                    }),
                },
            )
            .await
            .expect("intake");
        assert!(out.created);
        lead_ids.push(id);
    }
    store
        .begin_outbound(
            tenant,
            NewOutbound {
                id: MessageId::new(),
                lead_id: Some(lead_ids[0]),
                channel: Channel::Sms,
                to: "+14155552671".to_owned(),
                from: "+15005550006".to_owned(),
                subject: None,
                body: "Hi Zelda Quuxington, thanks for reaching out to Acme!".to_owned(),
                purpose: Purpose::Transactional,
                job_id: None,
                dedupe_key: Some(format!("first_response:{}", lead_ids[0])),
                intake_at: Some(t0()),
                created_at: t0(),
                status: MessageStatus::Sending,
                error: None,
                cap_guard: None,
            },
        )
        .await
        .expect("record outbound");
    store
        .record_inbound(
            tenant,
            NewInbound {
                id: MessageId::new(),
                lead_id: Some(lead_ids[1]),
                channel: Channel::Email,
                from: "yorick.vandersloot@example.org".to_owned(),
                to: "hello@leadline.invalid".to_owned(),
                body: "Yorick Vandersloot here, please call".to_owned(),
                provider: "sandbox".to_owned(),
                provider_message_id: None,
                received_at: t0(),
            },
        )
        .await
        .expect("record inbound");
    // A source's secret, and the one its rotation keeps for a while.
    let source = store
        .create_source(
            tenant,
            store::NewSource {
                id: domain::SourceId::new(),
                kind: domain::SourceKind::Form,
                name: "Website".to_owned(),
                settings: serde_json::json!({ "mode": "signed" }),
                secret: secrecy::SecretString::from("llwh_first-do-not-leak".to_owned()),
                created_at: t0(),
            },
        )
        .await
        .expect("create source");
    store
        .update_source(
            tenant,
            source.id,
            store::SourceUpdate {
                rotate_secret: Some((
                    secrecy::SecretString::from("llwh_second-do-not-leak".to_owned()),
                    t0() + jiff::SignedDuration::from_hours(24),
                )),
                ..store::SourceUpdate::default()
            },
            t0(),
        )
        .await
        .expect("rotate");
    // The do-not-call list: an address no lead has, kept sealed.
    store
        .suppress(
            tenant,
            store::NewSuppression::each(
                &[domain::Address::Email(
                    domain::Email::parse("xavier.dnc@example.net").expect("email"),
                )],
                "dnc",
                "csv",
            ),
            t0(),
        )
        .await
        .expect("suppress");
    // Sanity: the rows are there and open again.
    let zelda = store
        .get_lead(tenant, lead_ids[0])
        .await
        .expect("read lead")
        .expect("lead exists");
    assert_eq!(zelda.name.as_deref(), Some("Zelda Quuxington"));

    let mut conn = options.connect().await.expect("connect for inspection");
    // Write every dirty page to the data files, which is what is read below.
    sqlx::query("CHECKPOINT")
        .execute(&mut conn)
        .await
        .expect("CHECKPOINT (needs a superuser)");
    let files: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT c.relname::text, pg_read_binary_file(current_setting('data_directory') || '/' || \
                pg_relation_filepath(c.oid)) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'i') \
         UNION ALL \
         SELECT 'toast of ' || c.relname, pg_read_binary_file(current_setting('data_directory') || '/' || \
                pg_relation_filepath(c.reltoastrelid)) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind = 'r' AND c.reltoastrelid <> 0",
    )
    .bind(&guard.schema)
    .fetch_all(&mut conn)
    .await
    .expect("read the relation files (needs a superuser)");
    conn.close().await.expect("close");

    for table in ["leads", "messages", "consent_events"] {
        assert!(
            files.iter().any(|(name, _)| name == table),
            "the files of {table} were read"
        );
    }
    let leads_heap = files
        .iter()
        .find(|(name, _)| name == "leads")
        .map(|(_, bytes)| bytes.as_slice())
        .unwrap_or_default();
    assert!(
        contains(leads_heap, SOURCE),
        "the clear `source` is in the leads heap: the search does see the rows"
    );
    for (relation, bytes) in &files {
        for secret in SECRETS {
            assert!(
                !contains(bytes, secret),
                "{secret:?} is in clear text in the file of {relation}"
            );
        }
    }
}
