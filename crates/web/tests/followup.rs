//! Appointments and their reminders, a lead's timeline and notes, and silent-lead recovery, end
//! to end on the sandbox clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Org, TestApp, fields, problem, spawn_app};
use serde_json::{Value, json};

/// An organisation whose marketing may go (a postal address), with one follow-up sequence that
/// takes its web-form leads and ends on a booking.
async fn organisation(app: &TestApp) -> (Org, Value) {
    let org = app.org("Acme Roofing").await;
    let res = app
        .client
        .put(format!("{}/api/v1/settings", app.base))
        .bearer_auth(&org.key)
        .json(&json!({ "compliance": { "postal_address": "1 Main St, Chicago, IL 60601" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            &org,
            "/api/v1/sequences",
            &json!({
                "name": "Follow-up",
                "steps": [{ "channel": "sms", "delay": "P1D", "purpose": "informational",
                            "template": "Still looking, {{ first_name }}?" }],
                "enrol": { "sources": ["web_form"] }
            }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    (org, res.json().await.unwrap())
}

/// A Chicago web-form lead with consent to marketing.
async fn lead(app: &TestApp, org: &Org, phone: &str) -> Value {
    let res = app
        .post_lead(
            org,
            json!({
                "name": "Jane Doe", "phone": phone, "email": format!("jane{phone}@example.com"),
                "source": "web_form",
                "consent": { "disclosure_text": "Acme may text and email me offers.",
                             "timestamp": "2026-03-04T17:59:00Z",
                             "purposes": ["transactional", "informational", "marketing"] }
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn get_json(app: &TestApp, org: &Org, path: &str) -> Value {
    let res = app.get(org, path).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

/// What the sandbox provider took since `from`, as (channel, body, attachment text).
fn sent_since(app: &TestApp, from: usize) -> Vec<(String, String, Option<String>)> {
    app.provider
        .sent()
        .into_iter()
        .skip(from)
        .map(|m| {
            (
                m.channel.as_str().to_owned(),
                m.body,
                m.attachments
                    .first()
                    .map(|a| String::from_utf8_lossy(&a.content).into_owned()),
            )
        })
        .collect()
}

#[tokio::test]
async fn reminders_go_at_the_leads_local_times_and_follow_reschedules() {
    let app = spawn_app().await;
    let (org, _) = organisation(&app).await;
    let jane = lead(&app, &org, "+13125550111").await;
    let id = jane["id"].as_str().unwrap();
    app.drain().await;
    let runs = get_json(&app, &org, &format!("/api/v1/leads/{id}/enrolments")).await;
    assert_eq!(runs["data"][0]["state"], "active");

    // Friday 3 pm in Chicago.
    let res = app
        .post(
            &org,
            &format!("/api/v1/leads/{id}/appointments"),
            &json!({ "starts_at": "2026-03-06T15:00:00-06:00", "ends_at": "2026-03-06T16:00:00-06:00",
                     "time_zone": "America/Chicago", "title": "Roof estimate", "location": "12 Elm St" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let appointment: Value = res.json().await.unwrap();
    assert_eq!(appointment["local_start"], "Fri, Mar 6 at 3:00 PM CST");
    let appointment_id = appointment["id"].as_str().unwrap().to_owned();
    let lead_now = get_json(&app, &org, &format!("/api/v1/leads/{id}")).await;
    assert_eq!(lead_now["status"], "booked");
    let runs = get_json(&app, &org, &format!("/api/v1/leads/{id}/enrolments")).await;
    assert_eq!(runs["data"][0]["state"], "exited");
    assert_eq!(runs["data"][0]["exit_reason"], "booking");

    // 24 hours before: a text and an email with the invitation.
    let before = app.provider.sent().len();
    app.set_clock(&org, "2026-03-05T21:00:05Z").await;
    app.drain().await;
    let sent = sent_since(&app, before);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let sms = sent.iter().find(|m| m.0 == "sms").unwrap();
    assert!(
        sms.1.contains("Roof estimate on Fri, Mar 6 at 3:00 PM CST"),
        "{}",
        sms.1
    );
    let email = sent.iter().find(|m| m.0 == "email").unwrap();
    let ics = email.2.as_deref().expect("an invitation");
    assert!(ics.contains("DTSTART:20260306T210000Z\r\n"), "{ics}");
    assert!(ics.contains("LOCATION:12 Elm St\r\n"), "{ics}");
    assert!(ics.contains("SEQUENCE:1\r\n"), "{ics}");

    // Moved to Monday 10 am, after daylight saving starts: the old 2-hour reminder lapses.
    let res = app
        .client
        .put(format!("{}/api/v1/appointments/{appointment_id}", app.base))
        .bearer_auth(&org.key)
        .json(&json!({ "starts_at": "2026-03-09T10:00:00-05:00", "ends_at": "2026-03-09T11:00:00-05:00" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let moved: Value = res.json().await.unwrap();
    assert_eq!(moved["revision"], 2);
    assert_eq!(moved["location"], "12 Elm St", "kept when left out");
    let before = app.provider.sent().len();
    app.set_clock(&org, "2026-03-06T19:00:05Z").await;
    app.drain().await;
    assert!(
        sent_since(&app, before).is_empty(),
        "the old revision's reminder lapsed"
    );
    app.set_clock(&org, "2026-03-08T15:00:05Z").await;
    app.drain().await;
    let sent = sent_since(&app, before);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let sms = sent.iter().find(|m| m.0 == "sms").unwrap();
    assert!(sms.1.contains("Mon, Mar 9 at 10:00 AM CDT"), "{}", sms.1);
    assert!(
        sent.iter()
            .any(|m| m.2.as_deref().is_some_and(|i| i.contains("SEQUENCE:2\r\n")))
    );

    // Cancelled: the 2-hour reminder never goes, and a second cancel is a conflict.
    let cancel = format!("/api/v1/appointments/{appointment_id}/cancel");
    let res = app.post(&org, &cancel, &json!({})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app.post(&org, &cancel, &json!({})).send().await.unwrap();
    assert_eq!(problem(res).await["status"], 409);
    let before = app.provider.sent().len();
    app.set_clock(&org, "2026-03-09T13:00:05Z").await;
    app.drain().await;
    assert!(sent_since(&app, before).is_empty());

    let timeline = get_json(
        &app,
        &org,
        &format!("/api/v1/leads/{id}/timeline?limit=200"),
    )
    .await;
    let changes: Vec<&str> = timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "appointment")
        .map(|e| e["event"]["data"]["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["cancelled", "rescheduled", "booked"]);
    assert!(timeline["data"].as_array().unwrap().iter().any(|e| {
        e["kind"] == "status"
            && e["event"]["data"]["to"] == "booked"
            && e["event"]["actor"].as_str().unwrap().starts_with("key:")
    }));
}

#[tokio::test]
async fn bad_appointments_are_refused_by_field() {
    let app = spawn_app().await;
    let (org, _) = organisation(&app).await;
    let jane = lead(&app, &org, "+13125550112").await;
    let path = format!(
        "/api/v1/leads/{}/appointments",
        jane["id"].as_str().unwrap()
    );
    let res = app
        .post(
            &org,
            &path,
            &json!({ "starts_at": "tomorrow", "ends_at": "2026-03-06T16:00:00Z", "time_zone": "America/Chicago" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res).await), ["starts_at"]);
    let res = app
        .post(
            &org,
            &path,
            &json!({ "starts_at": "2026-03-06T16:00:00Z", "ends_at": "2026-03-06T15:00:00Z",
                     "time_zone": "Mars/Base", "title": "" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        fields(&problem(res).await),
        ["ends_at", "time_zone", "title"]
    );
    let other = app.org("Other").await;
    let res = app
        .post(
            &other,
            &path,
            &json!({ "starts_at": "2026-03-06T15:00:00Z", "ends_at": "2026-03-06T16:00:00Z", "time_zone": "UTC" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn notes_join_the_timeline_with_messages_and_status_changes() {
    let app = spawn_app().await;
    let (org, _) = organisation(&app).await;
    let jane = lead(&app, &org, "+13125550113").await;
    let id = jane["id"].as_str().unwrap();
    app.drain().await;
    let notes = format!("/api/v1/leads/{id}/notes");
    let res = app
        .post(
            &org,
            &notes,
            &json!({ "text": "  Wants a quote for the garage too.\r\nCall after 5. " }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    for bad in [
        json!({ "text": " " }),
        json!({ "text": "a\u{0007}b" }),
        json!({ "text": "x".repeat(4001) }),
    ] {
        let res = app.post(&org, &notes, &bad).send().await.unwrap();
        assert_eq!(fields(&problem(res).await), ["text"]);
    }
    let other = app.org("Other").await;
    let res = app
        .post(&other, &notes, &json!({ "text": "hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app
        .get(&other, &format!("/api/v1/leads/{id}/timeline"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    let timeline = get_json(&app, &org, &format!("/api/v1/leads/{id}/timeline")).await;
    let kinds: Vec<&str> = timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "note", "{kinds:?}");
    assert_eq!(
        timeline["data"][0]["event"]["note"],
        "Wants a quote for the garage too.\nCall after 5."
    );
    for kind in ["message", "consent", "status", "enrolled"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let page = get_json(&app, &org, &format!("/api/v1/leads/{id}/timeline?limit=2")).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let before = page["next_before"].as_str().unwrap();
    let rest = get_json(
        &app,
        &org,
        &format!(
            "/api/v1/leads/{id}/timeline?limit=200&before={}",
            before.replace('+', "%2B")
        ),
    )
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), kinds.len() - 2);
    let res = app
        .get(&org, &format!("/api/v1/leads/{id}/timeline?limit=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res).await), ["limit"]);
}

#[tokio::test]
async fn quiet_leads_are_recovered_once_as_marketing_and_replies_warm_them() {
    let app = spawn_app().await;
    let (org, _) = organisation(&app).await;
    let res = app
        .post(
            &org,
            "/api/v1/sequences",
            &json!({
                "name": "Win back",
                "steps": [{ "channel": "sms", "delay": "PT0S", "purpose": "informational",
                            "template": "Hi {{ first_name }}, still thinking about that roof?" }]
            }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let win_back: Value = res.json().await.unwrap();
    let settings = |rules: Value| {
        app.client
            .put(format!("{}/api/v1/settings", app.base))
            .bearer_auth(&org.key)
            .json(&json!({ "recovery": rules }))
            .send()
    };
    let res = settings(json!([{ "status": "booked", "silent_for": "P3D", "sequence_id": org.id }]))
        .await
        .unwrap();
    assert_eq!(
        fields(&problem(res).await),
        ["recovery[0].status", "recovery[0].sequence_id"]
    );
    let res = settings(json!([{ "status": "contacted", "silent_for": "P3D",
                                "sequence_id": win_back["id"], "max_attempts": 1 }]))
    .await
    .unwrap();
    assert_eq!(res.status(), 200);

    let quiet = lead(&app, &org, "+13125550114").await;
    let talker = lead(&app, &org, "+13125550115").await;
    app.drain().await;
    let res = app
        .post(
            &org,
            "/api/v1/sandbox/inbound",
            &json!({ "from": "+13125550115", "body": "Yes, can you come Tuesday?", "channel": "sms" }),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let talker_now = get_json(
        &app,
        &org,
        &format!("/api/v1/leads/{}", talker["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(talker_now["engagement"], "hot");
    assert_eq!(talker_now["status"], "engaged");

    // Three days and a bit later, the recurring scan finds the quiet one only.
    app.engine.seed_recovery().await.unwrap();
    app.set_clock(&org, "2026-03-07T18:05:00Z").await;
    app.drain().await;
    let quiet_id = quiet["id"].as_str().unwrap();
    let runs = get_json(&app, &org, &format!("/api/v1/leads/{quiet_id}/enrolments")).await;
    let recovery: Vec<&Value> = runs["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["origin"] == "recovery")
        .collect();
    assert_eq!(recovery.len(), 1, "{runs}");
    let texts = app
        .messages(&org, &format!("lead_id={quiet_id}&direction=outbound"))
        .await;
    let win = texts
        .iter()
        .find(|m| m["body"].as_str().unwrap().contains("still thinking"))
        .expect("the recovery text");
    assert_eq!(
        win["purpose"], "marketing",
        "recovery is marketing whatever the step says"
    );
    let talker_runs = get_json(
        &app,
        &org,
        &format!(
            "/api/v1/leads/{}/enrolments",
            talker["id"].as_str().unwrap()
        ),
    )
    .await;
    assert!(
        !talker_runs["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["origin"] == "recovery"),
        "a lead who replied is not recovered"
    );

    // One attempt allowed: a later pass starts nothing more.
    app.set_clock(&org, "2026-03-12T18:05:00Z").await;
    let res = app
        .post(&org, "/api/v1/recovery/run", &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["started"], 0, "{report}");
}
