//! The conformance suite: the same scenarios against every backend.
//!
//! Each backend's `tests/conformance.rs` calls [`conformance_tests!`](crate::conformance_tests)
//! with a function that makes a fresh, migrated, empty store (or `None` to skip, which the
//! PostgreSQL backend does only outside CI). Scenarios panic with a message on failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;

use domain::{
    Address, Channel, ConsentEventId, ConsentEvidence, ConsentKind, Direction, Email, JobId,
    LeadId, LeadStatus, MessageId, MessageStatus, NewLead, Phone, Purpose, Tenant, Timestamp,
};
use jiff::SignedDuration;

use crate::*;

mod compliance;
mod followup;
mod identity;
mod providers;
mod sources;
pub use compliance::*;
pub use followup::*;
pub use identity::*;
pub use providers::*;
pub use sources::*;

/// Generates one `#[tokio::test]` per scenario. `$make` is an async fn returning
/// `Option<(Arc<dyn Store>, Guard)>`: the guard (a temporary directory, a schema to drop) lives
/// as long as the test.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@each $make,
            tenants_round_trip,
            api_keys_are_found_by_prefix_and_revoked,
            intake_creates_a_lead_with_its_job,
            intake_dedupes_by_phone_and_by_email,
            intake_fills_in_missing_fields_without_merging_people,
            idempotency_key_replays_and_refuses_other_bodies,
            tenants_never_see_each_other,
            leads_paginate_by_keyset_with_filters,
            consent_ledger_appends,
            outbound_messages_are_recorded_once,
            messages_filter_by_lead_address_and_direction,
            suppression_is_per_tenant_and_idempotent,
            jobs_claim_only_due_work,
            expired_leases_are_reclaimed_and_stale_leases_refused,
            failing_jobs_back_off_then_die,
            permanent_failures_die_at_once,
            released_jobs_keep_their_attempts,
            job_dedupe_keys_hold_while_live,
            concurrent_claims_never_share_a_job,
            status_changes_are_scoped,
            users_are_unique_by_email,
            memberships_are_per_organisation,
            refresh_tokens_rotate_once_and_reuse_revokes_the_session,
            expired_refresh_tokens_are_invalid,
            concurrent_refreshes_of_one_token_rotate_once,
            sessions_list_revoke_and_end_with_a_new_password,
            rate_limit_windows_count_and_expire,
            audit_chains_link_entries_per_organisation,
            concurrent_audit_appends_keep_one_unbroken_chain,
            organisation_secrets_are_sealed_per_organisation,
            one_time_tokens_work_once_and_expire,
            suspended_organisations_are_marked_and_their_keys_say_so,
            operator_sessions_belong_to_no_organisation,
            support_grants_are_per_organisation_and_end,
            staged_audit_entries_join_their_chains_in_order,
            concurrent_chainers_append_each_staged_entry_once,
            sources_belong_to_one_organisation,
            source_secrets_rotate_with_a_grace_period,
            suppressions_are_lifted_not_deleted_and_export_their_addresses,
            recipient_facts_count_recent_messages_and_read_the_registry,
            registry_snapshots_replace_each_other_per_organisation,
            reviews_wait_open_and_resolve_once,
            cap_guards_hold_when_the_message_is_recorded,
            erasure_keeps_consent_and_a_blind_suppression,
            delivery_receipts_only_move_messages_forward,
            inbound_messages_are_recorded_once_per_provider_id,
            webhook_events_are_remembered_once_and_forgotten_later,
            sequences_keep_every_version_per_organisation,
            enrolments_advance_once_and_exit_once,
            timelines_record_status_changes_and_sealed_notes,
            engagement_accumulates_and_a_reply_restarts_quiet_time,
            recovery_starts_each_due_lead_once_and_retires_old_ones,
            appointments_book_reschedule_and_cancel_once,
            ai_generations_add_up_per_organisation_and_month
        );
    };
    (@each $make:path, $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((store, _guard)) = $make().await else { return };
                $crate::conformance::$name(store).await;
            }
        )*
    };
}

type S = Arc<dyn Store>;

fn t0() -> Timestamp {
    // 2026-03-02 15:00 UTC: a weekday afternoon in every US zone.
    Timestamp::from_second(1_772_463_600).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

async fn tenant(store: &S, name: &str) -> Tenant {
    let rec = store
        .create_tenant(name, &TenantSettings::default(), t0())
        .await
        .expect("create tenant");
    Tenant::from_authenticated(rec.id)
}

fn phone(s: &str) -> Phone {
    Phone::parse(s, "US").expect("test phone")
}

fn email(s: &str) -> Email {
    Email::parse(s).expect("test email")
}

fn new_lead(name: &str, p: Option<&str>, e: Option<&str>) -> NewLead {
    NewLead {
        name: Some(name.to_owned()),
        phone: p.map(phone),
        email: e.map(email),
        source: "web_form".to_owned(),
        address: None,
        zip: None,
        time_zone: None,
        consent: None,
        details: domain::Details::default(),
        tags: domain::Tags::default(),
    }
}

fn job_for(tenant: Tenant, lead: LeadId, at: Timestamp) -> NewJob {
    NewJob {
        id: JobId::new(),
        tenant_id: Some(tenant.id()),
        kind: "first_response".to_owned(),
        payload: serde_json::json!({ "lead_id": lead }),
        run_at: at,
        max_attempts: 5,
        dedupe_key: None,
    }
}

fn intake_req(tenant: Tenant, lead: NewLead, at: Timestamp) -> IntakeRequest {
    let id = LeadId::new();
    IntakeRequest {
        new_lead_id: id,
        jobs_if_created: vec![job_for(tenant, id, at)],
        lead,
        received_at: at,
        idempotency: None,
        audit: None,
    }
}

fn plain_job(kind: &str, at: Timestamp, max_attempts: i32) -> NewJob {
    NewJob {
        id: JobId::new(),
        tenant_id: None,
        kind: kind.to_owned(),
        payload: serde_json::json!({}),
        run_at: at,
        max_attempts,
        dedupe_key: None,
    }
}

pub async fn tenants_round_trip(store: S) {
    let before = store.list_tenants().await.unwrap().len();
    let acme = tenant(&store, "Acme Roofing").await;
    let rec = store
        .get_tenant(acme.id())
        .await
        .unwrap()
        .expect("tenant exists");
    assert_eq!(rec.name, "Acme Roofing");
    assert_eq!(rec.settings, TenantSettings::default());
    let settings = TenantSettings {
        business_name: "Acme".into(),
        ..TenantSettings::default()
    };
    store.update_tenant_settings(acme, &settings).await.unwrap();
    assert_eq!(
        store
            .get_tenant(acme.id())
            .await
            .unwrap()
            .unwrap()
            .settings
            .business_name,
        "Acme"
    );
    assert_eq!(store.list_tenants().await.unwrap().len(), before + 1);
    assert!(
        store
            .get_tenant(domain::TenantId::new())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn api_keys_are_found_by_prefix_and_revoked(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let key = NewApiKey {
        id: domain::ApiKeyId::new(),
        name: "zapier".into(),
        prefix: format!("ll_{}", &LeadId::new().to_string()[..12].replace('-', "x")),
        hash: vec![7; 32],
        scopes: vec!["leads:write".into()],
        created_at: t0(),
    };
    let rec = store.create_api_key(a, key.clone()).await.unwrap();
    assert_eq!(rec.tenant_id, a.id());
    let found = store
        .find_api_key_by_prefix(&key.prefix)
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.hash, vec![7; 32]);
    assert_eq!(found.scopes, vec!["leads:write".to_owned()]);
    assert!(found.revoked_at.is_none());
    store.touch_api_key(key.id, t0() + secs(5)).await.unwrap();
    let found = store
        .find_api_key_by_prefix(&key.prefix)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.last_used_at, Some(t0() + secs(5)));
    assert_eq!(store.list_api_keys(a).await.unwrap().len(), 1);
    assert!(store.list_api_keys(b).await.unwrap().is_empty());
    // Another tenant cannot revoke it.
    assert!(matches!(
        store.revoke_api_key(b, key.id, t0()).await,
        Err(DbError::NotFound)
    ));
    store
        .revoke_api_key(a, key.id, t0() + secs(9))
        .await
        .unwrap();
    let found = store
        .find_api_key_by_prefix(&key.prefix)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.revoked_at, Some(t0() + secs(9)));
    assert!(
        store
            .find_api_key_by_prefix("ll_nonexistent")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn intake_creates_a_lead_with_its_job(store: S) {
    let t = tenant(&store, "A").await;
    let mut lead = new_lead("Jane Doe", Some("(415) 555-2671"), Some("jane@example.com"));
    lead.address = Some("1 Main St".into());
    lead.zip = Some("94105".into());
    lead.time_zone = Some("America/Los_Angeles".into());
    lead.consent = Some(ConsentEvidence {
        disclosure_text: "I agree to receive texts".into(),
        disclosure_version: Some("v3".into()),
        seller: Some("Acme".into()),
        page_url: Some("https://acme.example/quote".into()),
        ip: Some("203.0.113.9".into()),
        user_agent: Some("Mozilla/5.0".into()),
        captured_at: t0() - secs(2),
        purposes: vec![Purpose::Transactional, Purpose::Marketing],
    });
    let req = intake_req(t, lead, t0());
    let id = req.new_lead_id;
    let out = store.intake(t, req).await.unwrap();
    assert!(out.created && !out.replayed);
    assert_eq!(out.lead.id, id);
    assert_eq!(out.lead.status, LeadStatus::New);
    assert_eq!(out.lead.touch_count, 1);
    let got = store.get_lead(t, id).await.unwrap().expect("lead stored");
    assert_eq!(got.name.as_deref(), Some("Jane Doe"));
    assert_eq!(got.phone.as_ref().map(Phone::as_str), Some("+14155552671"));
    assert_eq!(
        got.email.as_ref().map(Email::as_str),
        Some("jane@example.com")
    );
    assert_eq!(got.address.as_deref(), Some("1 Main St"));
    assert_eq!(got.zip.as_deref(), Some("94105"));
    assert_eq!(got.time_zone.as_deref(), Some("America/Los_Angeles"));
    assert_eq!(got.created_at, t0());
    let consent = store.list_consent_events(t, id).await.unwrap();
    assert_eq!(consent.len(), 1);
    assert_eq!(consent[0].kind, ConsentKind::Granted);
    assert_eq!(
        consent[0].evidence.disclosure_version.as_deref(),
        Some("v3")
    );
    assert_eq!(
        consent[0].evidence.purposes,
        vec![Purpose::Transactional, Purpose::Marketing]
    );
    let jobs = store.list_jobs(t, Some(JobState::Ready), 10).await.unwrap();
    assert_eq!(
        jobs.len(),
        1,
        "first-response job enqueued in the intake transaction"
    );
    assert_eq!(jobs[0].payload["lead_id"], serde_json::json!(id));
}

pub async fn intake_dedupes_by_phone_and_by_email(store: S) {
    let t = tenant(&store, "A").await;
    let first = store
        .intake(
            t,
            intake_req(t, new_lead("Jane", Some("4155552671"), None), t0()),
        )
        .await
        .unwrap();
    // Same phone written differently.
    let again = store
        .intake(
            t,
            intake_req(
                t,
                new_lead("Jane D", Some("+1 (415) 555-2671"), None),
                t0() + secs(60),
            ),
        )
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.lead.id, first.lead.id);
    assert_eq!(again.lead.touch_count, 2);
    assert_eq!(again.lead.last_touch_at, t0() + secs(60));
    assert_eq!(
        again.lead.name.as_deref(),
        Some("Jane"),
        "a repeat does not overwrite what we had"
    );
    let by_email = store
        .intake(
            t,
            intake_req(t, new_lead("Bob", None, Some("bob@example.com")), t0()),
        )
        .await
        .unwrap();
    let again = store
        .intake(
            t,
            intake_req(t, new_lead("Bob", None, Some("BOB@Example.com")), t0()),
        )
        .await
        .unwrap();
    assert_eq!(again.lead.id, by_email.lead.id);
    assert!(!again.created);
    // One first-response job per new lead, none for the touches.
    assert_eq!(
        store
            .list_jobs(t, Some(JobState::Ready), 10)
            .await
            .unwrap()
            .len(),
        2
    );
    let found = store
        .find_lead_by_address(t, &Address::Phone(phone("415-555-2671")))
        .await
        .unwrap();
    assert_eq!(found.map(|l| l.id), Some(first.lead.id));
}

pub async fn intake_fills_in_missing_fields_without_merging_people(store: S) {
    let t = tenant(&store, "A").await;
    let mut first = new_lead("Jane", Some("4155552671"), None);
    first
        .details
        .add("What service do you need?", "Roof repair");
    let jane = store.intake(t, intake_req(t, first, t0())).await.unwrap();
    let bob = store
        .intake(
            t,
            intake_req(t, new_lead("Bob", None, Some("bob@example.com")), t0()),
        )
        .await
        .unwrap();
    // Jane comes back with an email and a new answer: both are added to her lead; her first
    // answer to the same question stays.
    let mut second = new_lead("Jane", Some("4155552671"), Some("jane@example.com"));
    second.details.add("What service do you need?", "Gutters");
    second.details.add("Budget", "$5,000");
    let again = store.intake(t, intake_req(t, second, t0())).await.unwrap();
    assert_eq!(again.lead.id, jane.lead.id);
    let stored = store.get_lead(t, jane.lead.id).await.unwrap().unwrap();
    assert_eq!(
        stored.details.get("What service do you need?"),
        Some("Roof repair")
    );
    assert_eq!(stored.details.get("Budget"), Some("$5,000"));
    assert_eq!(
        again.lead.email.as_ref().map(Email::as_str),
        Some("jane@example.com")
    );
    let by_email = store
        .find_lead_by_address(t, &Address::Email(email("jane@example.com")))
        .await
        .unwrap();
    assert_eq!(by_email.map(|l| l.id), Some(jane.lead.id));
    // Jane's phone with Bob's email: matched on the phone, and Bob's email stays Bob's.
    let mixed = store
        .intake(
            t,
            intake_req(
                t,
                new_lead("Jane", Some("4155552671"), Some("bob@example.com")),
                t0(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(mixed.lead.id, jane.lead.id);
    assert_eq!(
        mixed.lead.email.as_ref().map(Email::as_str),
        Some("jane@example.com")
    );
    let bob_now = store.get_lead(t, bob.lead.id).await.unwrap().unwrap();
    assert_eq!(
        bob_now.email.as_ref().map(Email::as_str),
        Some("bob@example.com")
    );
}

pub async fn idempotency_key_replays_and_refuses_other_bodies(store: S) {
    let t = tenant(&store, "A").await;
    let claim = IdempotencyClaim {
        key: "req-1".into(),
        request_hash: [1; 32],
    };
    let mut req = intake_req(t, new_lead("Jane", Some("4155552671"), None), t0());
    req.idempotency = Some(claim.clone());
    let first = store.intake(t, req).await.unwrap();
    assert!(first.created && !first.replayed);
    let mut req = intake_req(
        t,
        new_lead("Jane", Some("4155552671"), None),
        t0() + secs(1),
    );
    req.idempotency = Some(claim.clone());
    let replay = store.intake(t, req).await.unwrap();
    assert!(replay.replayed, "same key, same body: the stored answer");
    assert!(replay.created, "the replay repeats the original 201");
    assert_eq!(replay.lead.id, first.lead.id);
    assert_eq!(replay.lead.touch_count, 1, "a replay writes nothing");
    let mut req = intake_req(t, new_lead("Other", Some("4155550000"), None), t0());
    req.idempotency = Some(IdempotencyClaim {
        key: "req-1".into(),
        request_hash: [2; 32],
    });
    assert!(matches!(
        store.intake(t, req).await,
        Err(DbError::IdempotencyMismatch)
    ));
    // Keys are per tenant.
    let other = tenant(&store, "B").await;
    let mut req = intake_req(other, new_lead("Jane", Some("4155552671"), None), t0());
    req.idempotency = Some(claim);
    assert!(store.intake(other, req).await.unwrap().created);
}

pub async fn tenants_never_see_each_other(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let lead_a = store
        .intake(
            a,
            intake_req(a, new_lead("Jane", Some("4155552671"), None), t0()),
        )
        .await
        .unwrap()
        .lead;
    assert!(store.get_lead(b, lead_a.id).await.unwrap().is_none());
    assert!(
        store
            .list_leads(
                b,
                &LeadQuery {
                    limit: 50,
                    ..LeadQuery::default()
                }
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .find_lead_by_address(b, &Address::Phone(phone("4155552671")))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .list_consent_events(b, lead_a.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .set_lead_status(b, lead_a.id, LeadStatus::Won, "system", t0())
            .await
            .unwrap()
    );
    // The same person is a separate lead in each organisation.
    let lead_b = store
        .intake(
            b,
            intake_req(b, new_lead("Jane", Some("4155552671"), None), t0()),
        )
        .await
        .unwrap();
    assert!(lead_b.created);
    assert_ne!(lead_b.lead.id, lead_a.id);
    assert!(
        store
            .list_jobs(b, None, 10)
            .await
            .unwrap()
            .iter()
            .all(|j| j.tenant_id == Some(b.id()))
    );
}

pub async fn leads_paginate_by_keyset_with_filters(store: S) {
    let t = tenant(&store, "A").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut lead = new_lead(
            &format!("Lead {i}"),
            Some(&format!("415555{:04}", 2600 + i)),
            None,
        );
        lead.source = if i % 2 == 0 {
            "web_form".into()
        } else {
            "facebook".into()
        };
        ids.push(
            store
                .intake(t, intake_req(t, lead, t0()))
                .await
                .unwrap()
                .lead
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_leads(
                t,
                &LeadQuery {
                    before,
                    limit: 3,
                    ..LeadQuery::default()
                },
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        before = page.last().map(|l| l.id);
        seen.extend(page.into_iter().map(|l| l.id));
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "every lead once, newest first");
    let fb = store
        .list_leads(
            t,
            &LeadQuery {
                source: Some("facebook".into()),
                limit: 50,
                ..LeadQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(fb.len(), 3);
    store
        .set_lead_status(t, ids[0], LeadStatus::Contacted, "system", t0())
        .await
        .unwrap();
    let contacted = store
        .list_leads(
            t,
            &LeadQuery {
                status: Some(LeadStatus::Contacted),
                limit: 50,
                ..LeadQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        contacted.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    let by_phone = store
        .list_leads(
            t,
            &LeadQuery {
                address: Some(Address::Phone(phone("4155552603"))),
                limit: 50,
                ..LeadQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        by_phone.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![ids[3]]
    );
}

pub async fn consent_ledger_appends(store: S) {
    let t = tenant(&store, "A").await;
    let lead = store
        .intake(
            t,
            intake_req(t, new_lead("Jane", Some("4155552671"), None), t0()),
        )
        .await
        .unwrap()
        .lead;
    let evidence = ConsentEvidence {
        disclosure_text: "STOP".into(),
        disclosure_version: None,
        seller: None,
        page_url: None,
        ip: None,
        user_agent: None,
        captured_at: t0(),
        purposes: vec![Purpose::Marketing],
    };
    for (i, kind) in [ConsentKind::Granted, ConsentKind::Revoked]
        .into_iter()
        .enumerate()
    {
        store
            .append_consent_event(
                t,
                NewConsentEvent {
                    id: ConsentEventId::new(),
                    lead_id: lead.id,
                    kind,
                    source: "inbound_sms".into(),
                    evidence: evidence.clone(),
                    recorded_at: t0() + secs(i64::try_from(i).unwrap_or(0)),
                },
            )
            .await
            .unwrap();
    }
    let events = store.list_consent_events(t, lead.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![ConsentKind::Granted, ConsentKind::Revoked]
    );
}

fn outbound(lead: Option<LeadId>, to: &str, key: Option<&str>) -> NewOutbound {
    NewOutbound {
        id: MessageId::new(),
        lead_id: lead,
        channel: if to.contains('@') {
            Channel::Email
        } else {
            Channel::Sms
        },
        to: to.to_owned(),
        from: "+15005550006".to_owned(),
        subject: None,
        body: "Hi Jane, thanks!".to_owned(),
        purpose: Purpose::Transactional,
        job_id: None,
        dedupe_key: key.map(str::to_owned),
        intake_at: Some(t0()),
        created_at: t0(),
        status: MessageStatus::Sending,
        error: None,
        cap_guard: None,
    }
}

pub async fn outbound_messages_are_recorded_once(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let lead = store
        .intake(
            a,
            intake_req(a, new_lead("Jane", Some("4155552671"), None), t0()),
        )
        .await
        .unwrap()
        .lead;
    let first = match store
        .begin_outbound(
            a,
            outbound(Some(lead.id), "+14155552671", Some("first_response:x")),
        )
        .await
        .unwrap()
    {
        BeginOutbound::Started(m) => m,
        other => panic!("the first message is new: {other:?}"),
    };
    assert_eq!(first.status, MessageStatus::Sending);
    match store
        .begin_outbound(
            a,
            outbound(Some(lead.id), "+14155552671", Some("first_response:x")),
        )
        .await
        .unwrap()
    {
        BeginOutbound::Existing(m) => assert_eq!(m.id, first.id),
        other => panic!("a second message with the same key must not start: {other:?}"),
    }
    // The same key in another tenant is another message.
    assert!(matches!(
        store
            .begin_outbound(b, outbound(None, "+14155552671", Some("first_response:x")))
            .await
            .unwrap(),
        BeginOutbound::Started(_)
    ));
    store
        .finish_outbound(
            a,
            first.id,
            OutboundResult {
                status: MessageStatus::Sent,
                provider: "sandbox".into(),
                provider_message_id: Some("SM123".into()),
                error: None,
                provider_called_at: Some(t0() + secs(1)),
                at: t0() + secs(1),
                audit: Some(NewAuditEntry {
                    id: domain::AuditId::new(),
                    tenant_id: Some(a.id()),
                    at: t0() + secs(1),
                    actor_kind: ActorKind::System,
                    actor_id: "dispatcher".into(),
                    action: "message.sent".into(),
                    target_kind: "message".into(),
                    target_id: first.id.to_string(),
                    ip: None,
                    correlation_id: String::new(),
                    detail: serde_json::json!({}),
                }),
            },
        )
        .await
        .unwrap();
    store.chain_staged_audit(100).await.unwrap();
    let logged = store
        .list_audit(AuditChain::Tenant(a.id()), None, 10)
        .await
        .unwrap();
    assert_eq!(
        logged
            .iter()
            .map(|e| e.entry.action.as_str())
            .collect::<Vec<_>>(),
        ["message.sent"],
        "the entry is staged with the change"
    );
    let got = store
        .get_message(a, first.id)
        .await
        .unwrap()
        .expect("message");
    assert_eq!(got.status, MessageStatus::Sent);
    assert_eq!(got.to, "+14155552671");
    assert_eq!(got.body, "Hi Jane, thanks!");
    assert_eq!(got.provider_message_id.as_deref(), Some("SM123"));
    assert_eq!(got.provider_called_at, Some(t0() + secs(1)));
    assert_eq!(got.intake_at, Some(t0()));
    assert!(store.get_message(b, first.id).await.unwrap().is_none());
    assert!(matches!(
        store
            .finish_outbound(
                b,
                first.id,
                OutboundResult {
                    status: MessageStatus::Failed,
                    provider: "sandbox".into(),
                    provider_message_id: None,
                    error: None,
                    provider_called_at: None,
                    at: t0(),
                    audit: None,
                }
            )
            .await,
        Err(DbError::NotFound)
    ));
}

pub async fn messages_filter_by_lead_address_and_direction(store: S) {
    let t = tenant(&store, "A").await;
    let jane = store
        .intake(
            t,
            intake_req(t, new_lead("Jane", Some("4155552671"), None), t0()),
        )
        .await
        .unwrap()
        .lead;
    let bob = store
        .intake(
            t,
            intake_req(t, new_lead("Bob", None, Some("bob@example.com")), t0()),
        )
        .await
        .unwrap()
        .lead;
    store
        .begin_outbound(t, outbound(Some(jane.id), "+14155552671", None))
        .await
        .unwrap();
    store
        .begin_outbound(t, outbound(Some(bob.id), "bob@example.com", None))
        .await
        .unwrap();
    let inbound = store
        .record_inbound(
            t,
            NewInbound {
                id: MessageId::new(),
                lead_id: Some(jane.id),
                channel: Channel::Sms,
                from: "+14155552671".into(),
                to: "+15005550006".into(),
                body: "Yes please call me".into(),
                provider: "sandbox".into(),
                provider_message_id: None,
                received_at: t0() + secs(30),
            },
        )
        .await
        .unwrap();
    assert_eq!(inbound.direction, Direction::Inbound);
    assert_eq!(inbound.from, "+14155552671");
    assert_eq!(inbound.to, "+15005550006");
    assert_eq!(inbound.status, MessageStatus::Received);
    let q = |f: fn(&mut MessageQuery)| {
        let mut q = MessageQuery {
            limit: 50,
            ..MessageQuery::default()
        };
        f(&mut q);
        q
    };
    let janes = store.list_messages(t, &q(|_| ())).await.unwrap();
    assert_eq!(janes.len(), 3);
    assert_eq!(janes[0].id, inbound.id, "newest first");
    let mut by_lead = q(|_| ());
    by_lead.lead_id = Some(jane.id);
    assert_eq!(store.list_messages(t, &by_lead).await.unwrap().len(), 2);
    let mut to_bob = q(|_| ());
    to_bob.to = Some(Address::Email(email("bob@example.com")));
    let found = store.list_messages(t, &to_bob).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].to, "bob@example.com");
    let mut to_us = q(|_| ());
    to_us.to = Some(Address::Phone(phone("+15005550006")));
    to_us.direction = Some(Direction::Inbound);
    assert_eq!(store.list_messages(t, &to_us).await.unwrap().len(), 1);
    let mut outbound_only = q(|_| ());
    outbound_only.direction = Some(Direction::Outbound);
    assert_eq!(
        store.list_messages(t, &outbound_only).await.unwrap().len(),
        2
    );
    let page = store
        .list_messages(
            t,
            &MessageQuery {
                limit: 1,
                ..MessageQuery::default()
            },
        )
        .await
        .unwrap();
    let rest = store
        .list_messages(
            t,
            &MessageQuery {
                limit: 10,
                before: page.last().map(|m| m.id),
                ..MessageQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len() + rest.len(), 3);
}

pub async fn suppression_is_per_tenant_and_idempotent(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let jane = Address::Phone(phone("4155552671"));
    let mail = Address::Email(email("jane@example.com"));
    assert!(
        !store
            .is_suppressed(a, std::slice::from_ref(&jane))
            .await
            .unwrap()
    );
    store
        .suppress(
            a,
            NewSuppression::each(&[jane.clone(), mail.clone()], "opt_out", "inbound_sms"),
            t0(),
        )
        .await
        .unwrap();
    store
        .suppress(
            a,
            NewSuppression::each(std::slice::from_ref(&jane), "again", "api"),
            t0(),
        )
        .await
        .unwrap();
    assert!(
        store
            .is_suppressed(a, std::slice::from_ref(&jane))
            .await
            .unwrap()
    );
    assert!(
        store
            .is_suppressed(a, std::slice::from_ref(&mail))
            .await
            .unwrap()
    );
    assert!(
        store
            .is_suppressed(a, &[Address::Phone(phone("4155550000")), mail.clone()])
            .await
            .unwrap()
    );
    assert!(!store.is_suppressed(b, &[jane, mail]).await.unwrap());
    assert!(!store.is_suppressed(a, &[]).await.unwrap());
}

pub async fn jobs_claim_only_due_work(store: S) {
    let now = t0();
    let due = store.enqueue(plain_job("a", now, 3)).await.unwrap();
    let later = store
        .enqueue(plain_job("b", now + secs(3600), 3))
        .await
        .unwrap();
    assert_eq!(store.next_job_due().await.unwrap(), Some(now));
    assert_eq!(store.queue_depth().await.unwrap(), 2);
    let claimed = store
        .claim_jobs("w1", now, now, secs(30), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.job.id).collect::<Vec<_>>(),
        vec![due]
    );
    assert_eq!(claimed[0].job.attempts, 1);
    assert_eq!(claimed[0].job.state, JobState::Running);
    assert!(
        store
            .claim_jobs("w2", now, now, secs(30), 10)
            .await
            .unwrap()
            .is_empty(),
        "leased work is not claimed twice"
    );
    assert_eq!(store.next_job_due().await.unwrap(), Some(now + secs(3600)));
    store
        .complete_job(due, &claimed[0].lease, now)
        .await
        .unwrap();
    assert_eq!(
        store.get_job(due).await.unwrap().unwrap().state,
        JobState::Done
    );
    assert_eq!(store.queue_depth().await.unwrap(), 1);
    let claimed = store
        .claim_jobs("w1", now + secs(3600), now, secs(30), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.job.id).collect::<Vec<_>>(),
        vec![later],
        "business time decides what is due"
    );
}

pub async fn expired_leases_are_reclaimed_and_stale_leases_refused(store: S) {
    let now = t0();
    let id = store.enqueue(plain_job("a", now, 3)).await.unwrap();
    let first = store
        .claim_jobs("crashed", now, now, secs(30), 10)
        .await
        .unwrap()
        .remove(0);
    assert!(
        store
            .claim_jobs("w2", now, now + secs(29), secs(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let second = store
        .claim_jobs("w2", now, now + secs(31), secs(30), 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "an expired lease is reclaimed");
    assert_eq!(second[0].job.id, id);
    assert_eq!(second[0].job.attempts, 2);
    assert!(
        matches!(
            store.complete_job(id, &first.lease, now).await,
            Err(DbError::NotFound)
        ),
        "the crashed worker's lease is stale"
    );
    store.complete_job(id, &second[0].lease, now).await.unwrap();
}

pub async fn failing_jobs_back_off_then_die(store: S) {
    let now = t0();
    let t = tenant(&store, "A").await;
    let mut job = plain_job("flaky", now, 2);
    job.tenant_id = Some(t.id());
    let id = store.enqueue(job).await.unwrap();
    let c = store
        .claim_jobs("w", now, now, secs(30), 1)
        .await
        .unwrap()
        .remove(0);
    let state = store
        .fail_job(id, &c.lease, "provider timeout", now + secs(10), now)
        .await
        .unwrap();
    assert_eq!(state, JobState::Ready);
    assert!(
        store
            .claim_jobs("w", now + secs(9), now, secs(30), 1)
            .await
            .unwrap()
            .is_empty(),
        "not before its retry time"
    );
    let c = store
        .claim_jobs("w", now + secs(10), now, secs(30), 1)
        .await
        .unwrap()
        .remove(0);
    let state = store
        .fail_job(id, &c.lease, "provider timeout again", now + secs(20), now)
        .await
        .unwrap();
    assert_eq!(state, JobState::Dead);
    let dead = store.list_jobs(t, Some(JobState::Dead), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("provider timeout again")
    );
    assert_eq!(dead[0].attempts, 2);
    assert!(
        store
            .claim_jobs("w", now + secs(99_999), now + secs(99_999), secs(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn permanent_failures_die_at_once(store: S) {
    let now = t0();
    let t = tenant(&store, "A").await;
    let mut job = plain_job("broken", now, 8);
    job.tenant_id = Some(t.id());
    let id = store.enqueue(job).await.unwrap();
    let c = store
        .claim_jobs("w", now, now, secs(30), 1)
        .await
        .unwrap()
        .remove(0);
    store
        .dead_letter_job(id, &c.lease, "unknown job kind", now)
        .await
        .unwrap();
    let job = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Dead);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.last_error.as_deref(), Some("unknown job kind"));
    assert!(
        matches!(
            store.dead_letter_job(id, &c.lease, "again", now).await,
            Err(DbError::NotFound)
        ),
        "only a running job with its lease"
    );
}

pub async fn released_jobs_keep_their_attempts(store: S) {
    let now = t0();
    let id = store.enqueue(plain_job("deferred", now, 1)).await.unwrap();
    for round in 0..3 {
        let c = store
            .claim_jobs("w", now + secs(round * 100), now, secs(30), 1)
            .await
            .unwrap()
            .remove(0);
        store
            .release_job(id, &c.lease, now + secs((round + 1) * 100), now)
            .await
            .unwrap();
    }
    let job = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Ready);
    assert_eq!(job.attempts, 0, "a defer is not a failed attempt");
    assert_eq!(job.run_at, now + secs(300));
}

pub async fn job_dedupe_keys_hold_while_live(store: S) {
    let now = t0();
    let mut job = plain_job("scan", now, 3);
    job.dedupe_key = Some("recovery-scan".into());
    let id = store.enqueue(job.clone()).await.unwrap();
    let mut again = job.clone();
    again.id = JobId::new();
    assert_eq!(
        store.enqueue(again.clone()).await.unwrap(),
        id,
        "a live job with the key is reused"
    );
    let c = store
        .claim_jobs("w", now, now, secs(30), 1)
        .await
        .unwrap()
        .remove(0);
    store.complete_job(id, &c.lease, now).await.unwrap();
    let next = store.enqueue(again).await.unwrap();
    assert_ne!(next, id, "once done, the key is free again");
}

pub async fn concurrent_claims_never_share_a_job(store: S) {
    let now = t0();
    for i in 0..60 {
        store
            .enqueue(plain_job(&format!("j{i}"), now, 3))
            .await
            .unwrap();
    }
    let mut handles = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_jobs(&format!("w{w}"), now, now, secs(30), 4)
                    .await
                    .unwrap();
                if got.is_empty() {
                    break;
                }
                mine.extend(got.into_iter().map(|c| c.job.id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 60);
    assert_eq!(unique.len(), 60, "no job was handed to two workers");
}

pub async fn status_changes_are_scoped(store: S) {
    let t = tenant(&store, "A").await;
    let lead = store
        .intake(
            t,
            intake_req(t, new_lead("Jane", Some("4155552671"), None), t0()),
        )
        .await
        .unwrap()
        .lead;
    assert!(
        store
            .advance_lead_status(
                t,
                lead.id,
                LeadStatus::New,
                LeadStatus::Contacted,
                "system",
                t0()
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .advance_lead_status(
                t,
                lead.id,
                LeadStatus::New,
                LeadStatus::Contacted,
                "system",
                t0()
            )
            .await
            .unwrap(),
        "only from the given status"
    );
    assert!(
        store
            .set_lead_status(t, lead.id, LeadStatus::Engaged, "system", t0() + secs(5))
            .await
            .unwrap()
    );
    let got = store.get_lead(t, lead.id).await.unwrap().unwrap();
    assert_eq!(got.status, LeadStatus::Engaged);
    assert_eq!(got.updated_at, t0() + secs(5));
}

fn definition(template: &str) -> domain::sequence::Definition {
    serde_json::from_value(serde_json::json!({
        "steps": [
            { "channel": "sms", "delay": "PT1H", "purpose": "informational", "template": template },
            { "channel": "sms", "delay": "P1D", "purpose": "marketing", "template": "Still there?" }
        ],
        "enrol": { "sources": ["web_form"] }
    }))
    .expect("a definition")
}

pub async fn sequences_keep_every_version_per_organisation(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let id = domain::SequenceId::new();
    let created = store
        .create_sequence(
            a,
            NewSequence {
                id,
                name: "Follow-up".into(),
                definition: definition("Hi v1"),
                created_at: t0(),
            },
        )
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    let v2 = store
        .update_sequence(
            a,
            id,
            "Follow-up (new)".into(),
            definition("Hi v2"),
            t0() + secs(60),
        )
        .await
        .unwrap()
        .expect("updated");
    assert_eq!(v2.version, 2);
    assert_eq!(v2.definition.steps[0].template, "Hi v2");
    // The first version is still there for the runs that started on it.
    let v1 = store.get_sequence(a, id, Some(1)).await.unwrap().unwrap();
    assert_eq!(
        (v1.name.as_str(), v1.definition.steps[0].template.as_str()),
        ("Follow-up", "Hi v1")
    );
    let latest = store.get_sequence(a, id, None).await.unwrap().unwrap();
    assert_eq!(latest.version, 2);
    assert_eq!(store.list_sequences(a).await.unwrap().len(), 1);
    // Another organisation sees, changes and archives nothing of it.
    assert!(store.get_sequence(b, id, None).await.unwrap().is_none());
    assert!(store.list_sequences(b).await.unwrap().is_empty());
    assert!(
        store
            .update_sequence(b, id, "x".into(), definition("x"), t0())
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.archive_sequence(b, id, t0()).await.unwrap());
    // Archived: kept and listed, but no longer edited.
    assert!(
        store
            .archive_sequence(a, id, t0() + secs(120))
            .await
            .unwrap()
    );
    assert!(
        !store
            .archive_sequence(a, id, t0() + secs(130))
            .await
            .unwrap()
    );
    let archived = store.get_sequence(a, id, None).await.unwrap().unwrap();
    assert!(archived.archived_at.is_some());
    assert!(
        store
            .update_sequence(a, id, "y".into(), definition("y"), t0())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn enrolments_advance_once_and_exit_once(store: S) {
    let t = tenant(&store, "A").await;
    let other = tenant(&store, "B").await;
    let lead = store
        .intake(
            t,
            intake_req(t, new_lead("Jane", Some("4155552671"), None), t0()),
        )
        .await
        .unwrap()
        .lead;
    let seq = store
        .create_sequence(
            t,
            NewSequence {
                id: domain::SequenceId::new(),
                name: "Follow-up".into(),
                definition: definition("Hi"),
                created_at: t0(),
            },
        )
        .await
        .unwrap();
    let step_job = |n: i32, at| NewJob {
        dedupe_key: Some(format!("seq-step-{n}")),
        ..plain_job("sequence_step", at, 5)
    };
    let new = |id| NewEnrolment {
        id,
        lead_id: lead.id,
        sequence_id: seq.id,
        version: 1,
        enrolled_at: t0(),
        next_run_at: t0() + secs(3600),
        origin: domain::sequence::Origin::Manual,
    };
    let first = domain::EnrolmentId::new();
    let enrolled = store
        .enrol(t, new(first), step_job(0, t0() + secs(3600)))
        .await
        .unwrap();
    assert_eq!(
        (enrolled.step, enrolled.state),
        (0, domain::sequence::EnrolmentState::Active)
    );
    // One active run per lead and sequence.
    let again = store
        .enrol(t, new(domain::EnrolmentId::new()), step_job(9, t0()))
        .await;
    assert!(matches!(again, Err(DbError::Conflict(_))), "{again:?}");
    // The first step's job was queued with the enrolment.
    let due = store
        .claim_jobs("w", t0() + secs(3600), t0() + secs(3600), secs(60), 10)
        .await
        .unwrap();
    assert!(due.iter().any(|j| j.job.kind == "sequence_step"));

    // Advancing from step 0 works once; a second worker's advance from 0 does nothing.
    let next = Advance::Next {
        step: 1,
        due: t0() + secs(90_000),
        job: step_job(1, t0() + secs(90_000)),
    };
    assert!(
        store
            .advance_enrolment(t, first, 0, next.clone(), t0() + secs(3600))
            .await
            .unwrap()
    );
    assert!(
        !store
            .advance_enrolment(t, first, 0, next, t0() + secs(3601))
            .await
            .unwrap()
    );
    let now = store.get_enrolment(t, first).await.unwrap().unwrap();
    assert_eq!(now.step, 1);
    assert_eq!(now.next_run_at, Some(t0() + secs(90_000)));
    // Not the other organisation's to read or end.
    assert!(store.get_enrolment(other, first).await.unwrap().is_none());
    assert_eq!(
        store
            .exit_enrolments(other, &[first], "manual", t0())
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .list_enrolments(other, lead.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Exited once; a late advance finds it gone.
    assert_eq!(
        store
            .exit_enrolments(t, &[first], "reply", t0() + secs(4000))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .exit_enrolments(t, &[first], "reply", t0() + secs(4001))
            .await
            .unwrap(),
        0
    );
    assert!(
        !store
            .advance_enrolment(
                t,
                first,
                1,
                Advance::Complete { step: 2 },
                t0() + secs(5000)
            )
            .await
            .unwrap()
    );
    let exited = store.get_enrolment(t, first).await.unwrap().unwrap();
    assert_eq!(exited.state, domain::sequence::EnrolmentState::Exited);
    assert_eq!(exited.exit_reason.as_deref(), Some("reply"));
    assert_eq!(exited.next_run_at, None);

    // Once that run is over, the lead may run the sequence again; a run completes.
    let second = domain::EnrolmentId::new();
    store
        .enrol(t, new(second), step_job(2, t0()))
        .await
        .unwrap();
    assert!(
        store
            .advance_enrolment(t, second, 0, Advance::Complete { step: 1 }, t0())
            .await
            .unwrap()
    );
    let done = store.get_enrolment(t, second).await.unwrap().unwrap();
    assert_eq!(done.state, domain::sequence::EnrolmentState::Completed);
    let runs = store.list_enrolments(t, lead.id).await.unwrap();
    assert_eq!(runs.len(), 2);

    // Erasing the lead erases its runs.
    store
        .erase_lead(t, lead.id, t0() + secs(6000))
        .await
        .unwrap();
    assert!(store.list_enrolments(t, lead.id).await.unwrap().is_empty());
}
