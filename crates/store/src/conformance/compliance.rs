//! Compliance scenarios: the suppression list, the facts a send decision reads, the national
//! registry snapshot and the review queue.

use uuid::Uuid;

use super::*;

pub async fn suppressions_are_lifted_not_deleted_and_export_their_addresses(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let jane = Address::Phone(phone("4155552671"));
    let mail = Address::Email(email("jane@example.com"));
    let joe = Address::Phone(phone("4155550100"));
    let added = store
        .suppress(
            a,
            vec![
                NewSuppression {
                    address: jane.clone(),
                    reason: "opt_out".to_owned(),
                    source: "inbound_sms".to_owned(),
                },
                NewSuppression {
                    address: mail.clone(),
                    reason: "opt_out".to_owned(),
                    source: "inbound_sms".to_owned(),
                },
                NewSuppression {
                    address: joe.clone(),
                    reason: "dnc".to_owned(),
                    source: "csv".to_owned(),
                },
            ],
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(added, 3);
    // A re-import of the same entries changes nothing: the first reason and time stay.
    let again = store
        .suppress(
            a,
            NewSuppression::each(std::slice::from_ref(&joe), "dnc", "csv"),
            t0() + secs(60),
        )
        .await
        .unwrap();
    assert_eq!(again, 0);

    let list = store.list_suppressions(a, false).await.unwrap();
    let addresses: Vec<_> = list.iter().filter_map(|e| e.address.clone()).collect();
    assert_eq!(addresses.len(), 3);
    assert!(addresses.contains(&"+14155552671".to_owned()));
    assert!(addresses.contains(&"jane@example.com".to_owned()));
    let joe_entry = list
        .iter()
        .find(|e| e.address.as_deref() == Some("+14155550100"))
        .unwrap();
    assert_eq!(
        (
            joe_entry.reason.as_str(),
            joe_entry.source.as_str(),
            joe_entry.created_at
        ),
        ("dnc", "csv", t0())
    );
    assert!(store.list_suppressions(b, true).await.unwrap().is_empty());

    // An opt-in lifts only the reasons it is given; the entry stays, marked lifted.
    let lifted = store
        .lift_suppressions(
            a,
            &[jane.clone(), joe.clone()],
            crate::compliance::LIFTED_BY_OPT_IN,
            t0() + secs(120),
        )
        .await
        .unwrap();
    assert_eq!(lifted, 1, "jane's opt-out, not joe's dnc entry");
    assert!(
        !store
            .is_suppressed(a, std::slice::from_ref(&jane))
            .await
            .unwrap()
    );
    assert!(
        store
            .is_suppressed(a, std::slice::from_ref(&joe))
            .await
            .unwrap()
    );
    assert_eq!(store.list_suppressions(a, false).await.unwrap().len(), 2);
    let all = store.list_suppressions(a, true).await.unwrap();
    assert_eq!(all.len(), 3);
    let jane_entry = all
        .iter()
        .find(|e| e.address.as_deref() == Some("+14155552671"))
        .unwrap();
    assert_eq!(jane_entry.lifted_at, Some(t0() + secs(120)));

    // A later opt-out suppresses her again, with the new reason.
    let renewed = store
        .suppress(
            a,
            NewSuppression::each(std::slice::from_ref(&jane), "opt_out", "inbound_sms"),
            t0() + secs(180),
        )
        .await
        .unwrap();
    assert_eq!(renewed, 1);
    assert!(store.is_suppressed(a, &[jane]).await.unwrap());
    let facts = store.recipient_facts(a, &[mail], None, t0()).await.unwrap();
    assert_eq!(facts.suppression, Some(("opt_out".to_owned(), t0())));
}

pub async fn recipient_facts_count_recent_messages_and_read_the_registry(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let jane = phone("4155552671");
    let to = Address::Phone(jane.clone());
    // Three messages to her: one sent, one blocked (not counted), one marketing in flight.
    let mut sent = outbound(None, "+14155552671", Some("one"));
    sent.created_at = t0() - secs(3600);
    store.begin_outbound(a, sent).await.unwrap();
    let mut blocked = outbound(None, "+14155552671", Some("two"));
    blocked.status = MessageStatus::Blocked;
    blocked.created_at = t0() - secs(1800);
    store.begin_outbound(a, blocked).await.unwrap();
    let mut marketing = outbound(None, "+14155552671", Some("three"));
    marketing.purpose = Purpose::Marketing;
    marketing.created_at = t0() - secs(60);
    store.begin_outbound(a, marketing).await.unwrap();
    // One to someone else, and one in another organisation.
    store
        .begin_outbound(a, outbound(None, "+14155550100", Some("four")))
        .await
        .unwrap();
    store
        .begin_outbound(b, outbound(None, "+14155552671", Some("five")))
        .await
        .unwrap();

    let facts = store
        .recipient_facts(a, std::slice::from_ref(&to), Some(&jane), t0() - secs(7200))
        .await
        .unwrap();
    let mut recent = facts.recent.clone();
    recent.sort();
    assert_eq!(
        recent,
        [
            (t0() - secs(3600), Some(Purpose::Transactional)),
            (t0() - secs(60), Some(Purpose::Marketing)),
        ]
    );
    assert_eq!(facts.suppression, None);
    assert_eq!(facts.last_sent_at, Some(t0() - secs(60)));
    assert_eq!(facts.snapshot, None);
    assert!(!facts.listed);
    // An address listed twice is counted once.
    let twice = store
        .recipient_facts(a, &[to.clone(), to.clone()], Some(&jane), t0() - secs(7200))
        .await
        .unwrap();
    assert_eq!(twice.recent.len(), 2);
    // `since` bounds the count.
    let later = store
        .recipient_facts(a, std::slice::from_ref(&to), Some(&jane), t0() - secs(120))
        .await
        .unwrap();
    assert_eq!(later.recent.len(), 1);
    assert_eq!(later.last_sent_at, Some(t0() - secs(60)), "ever, not since");

    store
        .replace_registry(a, t0() - secs(86_400), vec![jane.clone()], t0())
        .await
        .unwrap();
    let facts = store
        .recipient_facts(a, std::slice::from_ref(&to), Some(&jane), t0())
        .await
        .unwrap();
    assert!(facts.listed);
    assert_eq!(
        facts.snapshot.map(|s| (s.taken_at, s.numbers)),
        Some((t0() - secs(86_400), 1))
    );
    let other = phone("4155550100");
    let facts = store
        .recipient_facts(a, &[Address::Phone(other.clone())], Some(&other), t0())
        .await
        .unwrap();
    assert!(!facts.listed);
    assert!(facts.snapshot.is_some());
    // Organisation B has no snapshot.
    let facts = store
        .recipient_facts(b, &[to], Some(&jane), t0())
        .await
        .unwrap();
    assert_eq!((facts.snapshot, facts.listed), (None, false));
}

pub async fn registry_snapshots_replace_each_other_per_organisation(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let (jane, joe) = (phone("4155552671"), phone("4155550100"));
    let first = store
        .replace_registry(
            a,
            t0() - secs(86_400),
            vec![jane.clone(), joe.clone()],
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(first.numbers, 2);
    let second = store
        .replace_registry(a, t0(), vec![joe.clone(), joe.clone()], t0() + secs(60))
        .await
        .unwrap();
    assert_eq!(second.numbers, 1, "duplicates count once");
    assert_eq!(store.registry_snapshot(a).await.unwrap(), Some(second));
    let listed = |p: &Phone| {
        let store = store.clone();
        let p = p.clone();
        async move {
            store
                .recipient_facts(a, &[Address::Phone(p.clone())], Some(&p), t0())
                .await
                .unwrap()
                .listed
        }
    };
    assert!(
        !listed(&jane).await,
        "the new snapshot replaced the old one"
    );
    assert!(listed(&joe).await);
    assert_eq!(store.registry_snapshot(b).await.unwrap(), None);
}

pub async fn reviews_wait_open_and_resolve_once(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let id = Uuid::now_v7();
    let message = MessageId::new();
    store
        .create_review(
            a,
            NewReview {
                id,
                lead_id: None,
                message_id: message,
                matched: "en.stop_texting".to_owned(),
                created_at: t0(),
            },
        )
        .await
        .unwrap();
    let open = store
        .list_reviews(a, Some(ReviewState::Open))
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].id, open[0].message_id, open[0].matched.as_str()),
        (id, message, "en.stop_texting")
    );
    assert!(store.list_reviews(b, None).await.unwrap().is_empty());
    // Another organisation cannot resolve it.
    assert!(
        store
            .resolve_review(b, id, ReviewState::Dismissed, "user:x", t0())
            .await
            .unwrap()
            .is_none()
    );
    let done = store
        .resolve_review(a, id, ReviewState::Confirmed, "user:x", t0() + secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, ReviewState::Confirmed);
    assert_eq!(done.resolved_at, Some(t0() + secs(5)));
    assert_eq!(done.resolved_by.as_deref(), Some("user:x"));
    // Once only.
    assert!(
        store
            .resolve_review(a, id, ReviewState::Dismissed, "user:y", t0() + secs(9))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .list_reviews(a, Some(ReviewState::Open))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list_reviews(a, None).await.unwrap().len(), 1);
}

pub async fn cap_guards_hold_when_the_message_is_recorded(store: S) {
    let a = tenant(&store, "A").await;
    let jane = Address::Phone(phone("4155552671"));
    let mail = Address::Email(email("jane@example.com"));
    let guarded = |key: &str, to: &str, marketing: bool, limit: u32| {
        let mut m = outbound(None, to, Some(key));
        if marketing {
            m.purpose = Purpose::Marketing;
        }
        m.cap_guard = Some(CapGuard {
            // The same address twice counts once.
            addresses: vec![jane.clone(), mail.clone(), jane.clone()],
            caps: vec![CapCount {
                since: t0() - secs(86_400),
                limit,
                marketing_only: marketing,
            }],
        });
        m
    };
    // Two messages to the person (one by text, one by email) fill a cap of 2.
    for (key, to) in [("one", "+14155552671"), ("two", "jane@example.com")] {
        assert!(matches!(
            store
                .begin_outbound(a, guarded(key, to, false, 2))
                .await
                .unwrap(),
            BeginOutbound::Started(_)
        ));
    }
    assert!(matches!(
        store
            .begin_outbound(a, guarded("three", "+14155552671", false, 2))
            .await
            .unwrap(),
        BeginOutbound::CapReached
    ));
    // Nothing was recorded for the refused one.
    let all = store
        .list_messages(
            a,
            &MessageQuery {
                limit: 10,
                ..MessageQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    // A marketing-only cap does not count the two transactional messages.
    assert!(matches!(
        store
            .begin_outbound(a, guarded("four", "+14155552671", true, 1))
            .await
            .unwrap(),
        BeginOutbound::Started(_)
    ));
    assert!(matches!(
        store
            .begin_outbound(a, guarded("five", "+14155552671", true, 1))
            .await
            .unwrap(),
        BeginOutbound::CapReached
    ));
    // Concurrent recordings take the last places once: 8 at once under a cap of 5 more.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let m = guarded(&format!("many{i}"), "+14155552671", false, 8);
        tasks.push(tokio::spawn(async move {
            store.begin_outbound(a, m).await.unwrap()
        }));
    }
    let mut started = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), BeginOutbound::Started(_)) {
            started += 1;
        }
    }
    assert_eq!(
        started, 5,
        "3 messages were there; a cap of 8 leaves 5 places"
    );
}

pub async fn erasure_keeps_consent_and_a_blind_suppression(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let jane = Address::Phone(phone("4155552671"));
    let mail = Address::Email(email("jane@example.com"));
    let mut lead_in = new_lead("Jane", Some("4155552671"), Some("jane@example.com"));
    lead_in.consent = Some(ConsentEvidence {
        disclosure_text: "I agree to texts from Acme.".into(),
        disclosure_version: Some("v1".into()),
        seller: Some("Acme".into()),
        page_url: None,
        ip: Some("203.0.113.7".into()),
        user_agent: None,
        captured_at: t0(),
        purposes: vec![Purpose::Marketing],
    });
    let lead = store
        .intake(a, intake_req(a, lead_in.clone(), t0()))
        .await
        .unwrap()
        .lead;
    // The same person in organisation B, and another person in A.
    let theirs = store
        .intake(b, intake_req(b, lead_in, t0()))
        .await
        .unwrap()
        .lead;
    let other = store
        .intake(
            a,
            intake_req(a, new_lead("Joe", Some("4155550100"), None), t0()),
        )
        .await
        .unwrap()
        .lead;
    store
        .begin_outbound(a, outbound(Some(lead.id), "+14155552671", Some("one")))
        .await
        .unwrap();
    store
        .begin_outbound(a, outbound(None, "jane@example.com", Some("two")))
        .await
        .unwrap();
    store
        .begin_outbound(a, outbound(Some(other.id), "+14155550100", Some("three")))
        .await
        .unwrap();
    // Her email was suppressed once and lifted: the erasure renews it.
    store
        .suppress(
            a,
            NewSuppression::each(std::slice::from_ref(&mail), "opt_out", "inbound_sms"),
            t0(),
        )
        .await
        .unwrap();
    store
        .lift_suppressions(a, std::slice::from_ref(&mail), &["opt_out"], t0() + secs(1))
        .await
        .unwrap();

    let erased = store
        .erase_lead(a, lead.id, t0() + secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(erased.messages, 2);
    assert_eq!(erased.suppressed_addresses, 2);
    assert_eq!(store.get_lead(a, lead.id).await.unwrap(), None);
    assert_eq!(store.find_lead_by_address(a, &jane).await.unwrap(), None);
    // Never contacted again: both addresses are suppressed, by blind index only.
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
    let list = store.list_suppressions(a, false).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|e| e.address.is_none()), "{list:?}");
    assert!(list.iter().all(|e| e.reason == "erased"));
    // The consent evidence stays.
    let consent = store.list_consent_events(a, lead.id).await.unwrap();
    assert_eq!(consent.len(), 1);
    assert_eq!(consent[0].evidence.seller.as_deref(), Some("Acme"));
    // Her messages are gone; Joe's are not.
    let left = store
        .list_messages(
            a,
            &MessageQuery {
                limit: 10,
                ..MessageQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].lead_id, Some(other.id));
    // Once only; and B's lead of the same person is untouched.
    assert_eq!(store.erase_lead(a, lead.id, t0()).await.unwrap(), None);
    assert!(store.get_lead(b, theirs.id).await.unwrap().is_some());
    assert!(
        !store
            .is_suppressed(b, std::slice::from_ref(&jane))
            .await
            .unwrap()
    );
    // She may write in again: a new lead, still suppressed.
    let again = store
        .intake(
            a,
            intake_req(
                a,
                new_lead("Jane", Some("4155552671"), None),
                t0() + secs(20),
            ),
        )
        .await
        .unwrap();
    assert!(again.created);
    assert!(store.is_suppressed(a, &[jane]).await.unwrap());
}
