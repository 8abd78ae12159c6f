//! Scenarios of provider traffic: delivery receipts, inbound dedupe, webhook replay defence.

use super::*;

fn result(status: MessageStatus, provider_id: Option<&str>, at: Timestamp) -> OutboundResult {
    OutboundResult {
        status,
        provider: "twilio".into(),
        provider_message_id: provider_id.map(str::to_owned),
        error: None,
        provider_called_at: Some(at),
        at,
        audit: None,
    }
}

fn receipt(status: MessageStatus, error: Option<&str>, at: Timestamp) -> DeliveryUpdate {
    DeliveryUpdate {
        status,
        error: error.map(str::to_owned),
        provider_message_id: Some("SM1".into()),
        at,
    }
}

pub async fn delivery_receipts_only_move_messages_forward(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let BeginOutbound::Started(m) = store
        .begin_outbound(a, outbound(None, "+14155552671", None))
        .await
        .unwrap()
    else {
        panic!("a new message starts")
    };
    // The provider's receipt beats the send's own answer: the message moves, and the late
    // answer keeps the receipt's status while it records the call.
    let (moved, changed) = store
        .record_delivery(
            a,
            m.id,
            receipt(MessageStatus::Delivered, None, t0() + secs(2)),
        )
        .await
        .unwrap()
        .expect("the message");
    assert!(changed);
    assert_eq!(moved.status, MessageStatus::Delivered);
    assert_eq!(moved.provider_message_id.as_deref(), Some("SM1"));
    store
        .finish_outbound(
            a,
            m.id,
            result(MessageStatus::Sent, Some("SM1"), t0() + secs(3)),
        )
        .await
        .unwrap();
    let got = store.get_message(a, m.id).await.unwrap().unwrap();
    assert_eq!(got.status, MessageStatus::Delivered);
    assert_eq!(got.provider_called_at, Some(t0() + secs(3)));
    assert_eq!(got.provider.as_deref(), Some("twilio"));

    // A late `sent` and a second final status change nothing.
    for status in [MessageStatus::Sent, MessageStatus::Failed] {
        let (same, changed) = store
            .record_delivery(a, m.id, receipt(status, Some("30003"), t0() + secs(4)))
            .await
            .unwrap()
            .unwrap();
        assert!(!changed);
        assert_eq!(same.status, MessageStatus::Delivered);
        assert_eq!(same.error, None);
    }

    // Found by the provider's id, in its own organisation only.
    let found = store
        .find_message_by_provider_id(a, "twilio", "SM1")
        .await
        .unwrap()
        .expect("found by the provider's id");
    assert_eq!(found.id, m.id);
    assert!(
        store
            .find_message_by_provider_id(a, "sendgrid", "SM1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_message_by_provider_id(b, "twilio", "SM1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .record_delivery(b, m.id, receipt(MessageStatus::Failed, None, t0()))
            .await
            .unwrap()
            .is_none(),
        "another organisation's message is not there"
    );

    // sending -> sent -> undelivered, with the error code kept.
    let BeginOutbound::Started(n) = store
        .begin_outbound(a, outbound(None, "+14155552672", None))
        .await
        .unwrap()
    else {
        panic!("a new message starts")
    };
    store
        .finish_outbound(a, n.id, result(MessageStatus::Sent, Some("SM2"), t0()))
        .await
        .unwrap();
    let (n2, _) = store
        .record_delivery(
            a,
            n.id,
            DeliveryUpdate {
                status: MessageStatus::Undelivered,
                error: Some("30005".into()),
                provider_message_id: None,
                at: t0() + secs(9),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n2.status, MessageStatus::Undelivered);
    assert_eq!(n2.error.as_deref(), Some("30005"));
    assert_eq!(n2.provider_message_id.as_deref(), Some("SM2"));
}

pub async fn inbound_messages_are_recorded_once_per_provider_id(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let inbound = |id: &str| NewInbound {
        id: MessageId::new(),
        lead_id: None,
        channel: Channel::Sms,
        from: "+14155552671".into(),
        to: "+15005550006".into(),
        body: "Yes please".into(),
        provider: "twilio".into(),
        provider_message_id: Some(id.to_owned()),
        received_at: t0(),
    };
    let first = store.record_inbound(a, inbound("SMin1")).await.unwrap();
    assert!(matches!(
        store.record_inbound(a, inbound("SMin1")).await,
        Err(DbError::Conflict(_))
    ));
    assert_eq!(
        store
            .find_message_by_provider_id(a, "twilio", "SMin1")
            .await
            .unwrap()
            .map(|m| m.id),
        Some(first.id)
    );
    // Another id, another organisation, or no id at all: recorded.
    store.record_inbound(a, inbound("SMin2")).await.unwrap();
    store.record_inbound(b, inbound("SMin1")).await.unwrap();
    let mut none = inbound("x");
    none.provider_message_id = None;
    store.record_inbound(a, none.clone()).await.unwrap();
    none.id = MessageId::new();
    store.record_inbound(a, none).await.unwrap();
}

pub async fn webhook_events_are_remembered_once_and_forgotten_later(store: S) {
    let one = domain::SourceId::new();
    let two = domain::SourceId::new();
    assert!(!store.event_seen(one, "evt-1").await.unwrap());
    assert!(store.remember_event(one, "evt-1", t0()).await.unwrap());
    assert!(store.event_seen(one, "evt-1").await.unwrap());
    assert!(!store.event_seen(two, "evt-1").await.unwrap());
    assert!(
        !store
            .remember_event(one, "evt-1", t0() + secs(5))
            .await
            .unwrap()
    );
    assert!(store.remember_event(two, "evt-1", t0()).await.unwrap());
    assert!(
        store
            .remember_event(one, "evt-2", t0() + secs(100))
            .await
            .unwrap()
    );
    assert_eq!(store.purge_events(t0() + secs(50)).await.unwrap(), 2);
    assert!(!store.event_seen(one, "evt-1").await.unwrap());
    assert!(
        store
            .remember_event(one, "evt-1", t0() + secs(200))
            .await
            .unwrap()
    );
    assert!(
        !store
            .remember_event(one, "evt-2", t0() + secs(200))
            .await
            .unwrap()
    );
}
