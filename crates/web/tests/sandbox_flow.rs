//! The sandbox as a person uses it: leads at night wait for the morning, STOP and HELP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fields, problem, spawn_app};
use serde_json::{Value, json};

#[tokio::test]
async fn a_lead_at_night_is_answered_at_eight_in_its_own_time_zone() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    // 03:00 in New York on a Wednesday in winter (UTC-5).
    app.set_clock(&org, "2026-01-07T08:00:00Z").await;
    let lead: Value = app
        .post_lead(&org, json!({ "name": "Jane", "phone": "212 555 0142" }))
        .await
        .json()
        .await
        .unwrap();
    app.drain().await;
    assert!(app.provider.sent().is_empty(), "nothing goes out at 3 a.m.");
    let jobs: Value = app
        .get(&org, "/api/v1/jobs?state=ready")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jobs[0]["run_at"], "2026-01-07T13:00:00Z",
        "deferred to 08:00 New York time"
    );
    assert_eq!(jobs[0]["attempts"], 0, "a deferral is not a failed attempt");
    let res = app
        .post(
            &org,
            "/api/v1/sandbox/clock",
            &json!({ "advance": "PT4H59M" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.drain().await;
    assert!(app.provider.sent().is_empty(), "07:59 is still too early");
    app.post(&org, "/api/v1/sandbox/clock", &json!({ "advance": "PT1M" }))
        .send()
        .await
        .unwrap();
    app.drain().await;
    let sent = app.provider.sent();
    assert_eq!(sent.len(), 1);
    let messages = app
        .messages(&org, &format!("lead_id={}", lead["id"].as_str().unwrap()))
        .await;
    assert!(
        messages[0]["sent_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-07T13:00"),
        "{}",
        messages[0]
    );
}

#[tokio::test]
async fn stop_suppresses_on_every_channel_with_one_confirmation() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let lead: Value = app
        .post_lead(
            &org,
            json!({ "name": "Jane", "phone": "3125550142", "email": "jane@example.com" }),
        )
        .await
        .json()
        .await
        .unwrap();
    app.drain().await;
    let res = app
        .post(
            &org,
            "/api/v1/sandbox/inbound",
            &json!({ "from": "+13125550142", "body": "  stop " }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let inbound: Value = res.json().await.unwrap();
    assert_eq!(inbound["keyword"], "opt_out");
    assert_eq!(inbound["message"]["lead_id"], lead["id"]);
    app.drain().await;
    let sent = app.provider.sent();
    assert_eq!(sent.len(), 2);
    assert!(sent[1].body.contains("unsubscribed"), "{}", sent[1].body);
    assert!(
        !sent[1].body.contains("http"),
        "no links in the confirmation"
    );
    // A second STOP gets no second confirmation.
    app.post(
        &org,
        "/api/v1/sandbox/inbound",
        &json!({ "from": "3125550142", "body": "STOP" }),
    )
    .send()
    .await
    .unwrap();
    app.drain().await;
    assert_eq!(app.provider.sent().len(), 2);
    let detail: Value = app
        .get(
            &org,
            &format!("/api/v1/leads/{}", lead["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "opted_out");
    assert_eq!(
        detail["consent_events"].as_array().unwrap().last().unwrap()["kind"],
        "revoked"
    );
    // The email address is suppressed too: a repeat by email sends nothing.
    let tenant = domain::Tenant::from_authenticated(org.id);
    assert!(
        app.store
            .is_suppressed(
                tenant,
                &[domain::Address::Email(
                    domain::Email::parse("jane@example.com").unwrap()
                )]
            )
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn help_is_answered_to_anyone_at_any_hour() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    app.set_clock(&org, "2026-01-07T08:00:00Z").await;
    let res = app
        .post(
            &org,
            "/api/v1/sandbox/inbound",
            &json!({ "from": "2125550199", "body": "help" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    app.drain().await;
    let sent = app.provider.sent();
    assert_eq!(sent.len(), 1, "HELP is answered at 3 a.m.");
    for part in [
        "Acme",
        "help@example.com",
        "Msg&data rates may apply",
        "Reply STOP",
    ] {
        assert!(sent[0].body.contains(part), "{part} in {}", sent[0].body);
    }
}

#[tokio::test]
async fn a_reply_marks_the_lead_engaged() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let lead: Value = app
        .post_lead(&org, json!({ "phone": "3125550142" }))
        .await
        .json()
        .await
        .unwrap();
    app.drain().await;
    app.post(
        &org,
        "/api/v1/sandbox/inbound",
        &json!({ "from": "3125550142", "body": "Yes, tomorrow works" }),
    )
    .send()
    .await
    .unwrap();
    let detail: Value = app
        .get(
            &org,
            &format!("/api/v1/leads/{}", lead["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "engaged");
    assert_eq!(detail["messages"][0]["direction"], "inbound");
    assert_eq!(detail["messages"][0]["body"], "Yes, tomorrow works");
}

#[tokio::test]
async fn bad_sandbox_input_is_named() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    for (body, field) in [
        (json!({}), "set"),
        (json!({ "set": "soon" }), "set"),
        (json!({ "advance": "one day" }), "advance"),
        (
            json!({ "set": "2026-01-01T00:00:00Z", "advance": "P1D" }),
            "set",
        ),
    ] {
        let res = app
            .post(&org, "/api/v1/sandbox/clock", &body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{body}");
        assert_eq!(fields(&problem(res).await), [field], "{body}");
    }
    let res = app
        .post(
            &org,
            "/api/v1/sandbox/inbound",
            &json!({ "from": "nobody", "body": "hi", "channel": "fax" }),
        )
        .send()
        .await
        .unwrap();
    let mut named = fields(&problem(res).await);
    named.sort();
    assert_eq!(named, ["channel", "from"]);
}

/// The organisation's audit log, oldest first, as (action, actor kind), after chaining what the
/// engine staged.
async fn audit_trail(app: &common::TestApp, org: &common::Org) -> Vec<(String, String)> {
    engine::audit::chain_all(&app.engine).await;
    let page: Value = app
        .get(org, "/api/v1/audit?limit=200")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut trail: Vec<(String, String)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["action"].as_str().unwrap().ends_with(".read"))
        .filter(|e| !e["action"].as_str().unwrap().ends_with(".list"))
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor_kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    trail.reverse();
    trail
}

#[tokio::test]
async fn every_change_of_a_lead_and_its_messages_is_in_the_audit_log() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let res = app
        .post_lead(&org, json!({ "name": "Jane", "phone": "415 555 2671" }))
        .await;
    assert_eq!(res.status(), 201);
    app.drain().await;
    let res = app
        .post_lead(&org, json!({ "name": "Jane", "phone": "415 555 2671" }))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            &org,
            "/api/v1/sandbox/inbound",
            &json!({ "from": "415 555 2671", "body": "STOP" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    app.drain().await;

    let trail = audit_trail(&app, &org).await;
    let expected: Vec<(String, String)> = [
        ("lead.create", "api_key"),
        ("message.sent", "system"),
        ("lead.touch", "api_key"),
        ("message.received", "provider"),
        ("address.suppressed", "provider"),
        ("message.sent", "system"),
    ]
    .iter()
    .map(|(a, k)| ((*a).to_owned(), (*k).to_owned()))
    .collect();
    assert_eq!(trail, expected, "the opt-out confirmation is the last send");
    assert_eq!(
        app.store.staged_audit_count().await.unwrap(),
        0,
        "nothing is left staged"
    );
}
