//! Nothing personal is on disk in clear text: not in the database file, not in its WAL.

#![allow(clippy::unwrap_used)]

use domain::{
    ConsentEvidence, Email, LeadId, MessageId, MessageStatus, NewLead, Phone, Purpose, Tenant,
};
use store::{IntakeRequest, NewOutbound, Store, TenantSettings};
use store_sqlite::SqliteStore;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn phones_emails_names_and_bodies_are_sealed_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leadline.db");
    let store = SqliteStore::open(
        &format!("sqlite:{}", path.display()),
        crypto::Cipher::new(crypto::KeyRing::generate()),
    )
    .await
    .unwrap();
    let now = domain::clock::wall_clock_now();
    let org = store
        .create_tenant("Acme", &TenantSettings::default(), now)
        .await
        .unwrap();
    let tenant = Tenant::from_authenticated(org.id);
    let id = LeadId::new();
    let lead = NewLead {
        name: Some("Zelda Quuxington".into()),
        phone: Some(Phone::parse("(415) 555-2671", "US").unwrap()),
        email: Some(Email::parse("zelda.quux@example.com").unwrap()),
        source: "web_form_probe".into(),
        address: Some("742 Evergreen Terrace".into()),
        zip: Some("94105".into()),
        time_zone: None,
        consent: Some(ConsentEvidence {
            disclosure_text: "I agree".into(),
            disclosure_version: None,
            seller: None,
            page_url: Some("https://acme.example/?ref=zelda".into()),
            ip: Some("198.51.100.23".into()),
            user_agent: Some("ZeldaBrowser/1.0".into()),
            captured_at: now,
            purposes: vec![Purpose::Transactional],
        }),
        details: {
            let mut details = domain::Details::default();
            details.add("gate_code", "gate-code-do-not-leak");
            details
        },
        tags: domain::Tags::parse(&["roofing"]).expect("a tag"),
    };
    store
        .intake(
            tenant,
            IntakeRequest {
                new_lead_id: id,
                lead,
                received_at: now,
                idempotency: None,
                jobs_if_created: vec![],
                audit: Some(store::AuditContext {
                    actor_kind: store::ActorKind::ApiKey,
                    actor_id: "key".into(),
                    ip: Some("198.51.100.77".into()),
                    correlation_id: String::new(),
                }),
            },
        )
        .await
        .unwrap();
    store
        .begin_outbound(
            tenant,
            NewOutbound {
                id: MessageId::new(),
                lead_id: Some(id),
                channel: domain::Channel::Sms,
                to: "+14155552671".into(),
                from: "+15005550006".into(),
                subject: None,
                body: "Hi Zelda Quuxington, see you at 742 Evergreen Terrace".into(),
                purpose: Purpose::Transactional,
                job_id: None,
                dedupe_key: None,
                intake_at: None,
                created_at: now,
                status: MessageStatus::Sending,
                error: None,
                cap_guard: None,
            },
        )
        .await
        .unwrap();

    // Identity: a user's email, a session's address, an audit entry's address, secrets.
    let user = store
        .create_user(store::NewUser {
            id: domain::UserId::new(),
            email: Email::parse("olga.owner@example.com").unwrap(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            must_change_password: false,
            operator: false,
            created_at: now,
        })
        .await
        .unwrap();
    store
        .add_membership(tenant, user.id, domain::Role::Owner, now)
        .await
        .unwrap();
    store
        .create_session(store::NewRefreshToken {
            session_id: domain::SessionId::new(),
            user_id: user.id,
            tenant_id: Some(org.id),
            token_hash: vec![7; 32],
            created_at: now,
            expires_at: now + jiff::SignedDuration::from_hours(1),
            user_agent: "Firefox".into(),
            ip: Some("203.0.113.77".into()),
        })
        .await
        .unwrap();
    store
        .append_audit(store::NewAuditEntry {
            id: domain::AuditId::new(),
            tenant_id: Some(org.id),
            at: now,
            actor_kind: store::ActorKind::User,
            actor_id: user.id.to_string(),
            action: "lead.read".into(),
            target_kind: "lead".into(),
            target_id: id.to_string(),
            ip: Some("203.0.113.78".into()),
            correlation_id: "c".into(),
            detail: serde_json::json!({}),
        })
        .await
        .unwrap();
    store
        .set_tenant_secrets(
            tenant,
            &[("sendgrid_api_key".into(), Some("SG.do-not-leak".into()))],
            now,
        )
        .await
        .unwrap();
    // A source's secret, and the one its rotation keeps for a while.
    let source = store
        .create_source(
            tenant,
            store::NewSource {
                id: domain::SourceId::new(),
                kind: domain::SourceKind::Form,
                name: "Website".into(),
                settings: serde_json::json!({ "mode": "signed" }),
                secret: secrecy::SecretString::from("llwh_first-do-not-leak".to_owned()),
                created_at: now,
            },
        )
        .await
        .unwrap();
    store
        .update_source(
            tenant,
            source.id,
            store::SourceUpdate {
                rotate_secret: Some((
                    secrecy::SecretString::from("llwh_second-do-not-leak".to_owned()),
                    now + jiff::SignedDuration::from_hours(24),
                )),
                ..store::SourceUpdate::default()
            },
            now,
        )
        .await
        .unwrap();
    // The do-not-call list: an address no lead has, kept sealed.
    store
        .suppress(
            tenant,
            store::NewSuppression::each(
                &[domain::Address::Email(
                    domain::Email::parse("xavier.dnc@example.net").unwrap(),
                )],
                "dnc",
                "csv",
            ),
            now,
        )
        .await
        .unwrap();

    let mut bytes = std::fs::read(&path).unwrap();
    let wal = dir.path().join("leadline.db-wal");
    bytes.extend(std::fs::read(&wal).unwrap_or_default());
    assert!(
        contains(&bytes, "web_form_probe"),
        "the probe can see plain columns, so it can fail"
    );
    for secret in [
        "+14155552671",
        "4155552671",
        "zelda.quux@example.com",
        "Zelda",
        "Quuxington",
        "Evergreen",
        "94105",
        "198.51.100.23",
        "ZeldaBrowser",
        "olga.owner",
        "203.0.113.77",
        "203.0.113.78",
        "198.51.100.77",
        "SG.do-not-leak",
        "first-do-not-leak",
        "second-do-not-leak",
        "xavier.dnc",
        "gate-code-do-not-leak",
    ] {
        assert!(
            !contains(&bytes, secret),
            "{secret} is on disk in clear text"
        );
    }
}
