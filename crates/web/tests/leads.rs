//! Intake and reading back: the path of a lead as an API client sees it.

mod common;

use common::{fields, problem, spawn_app};
use serde_json::{Value, json};

#[tokio::test]
async fn a_new_lead_is_answered_by_sms_with_consent_on_record() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let res = app
        .post_lead(&org, json!({
            "name": "Jane Doe",
            "phone": "(312) 555-0142",
            "email": "Jane.Doe@Example.com",
            "source": "web_form",
            "zip": "60601",
            "details": { "What service do you need?": "Roof repair", "Timeline": "  " },
            "consent": {
                "disclosure_text": "By submitting you agree to receive texts from Acme Roofing.",
                "disclosure_version": "2026-01",
                "page_url": "https://acme.example/quote",
                "ip": "203.0.113.7",
                "user_agent": "Mozilla/5.0",
                "timestamp": "2026-03-04T17:59:30Z",
                "purposes": ["transactional", "marketing"]
            }
        }))
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let lead: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/leads/{}", lead["id"].as_str().unwrap())
    );
    assert_eq!(lead["phone"], "+13125550142");
    assert_eq!(lead["email"], "jane.doe@example.com");
    assert_eq!(lead["status"], "new");
    assert_eq!(
        lead["details"],
        json!({ "What service do you need?": "Roof repair" }),
        "answers are kept; an empty one is not an answer"
    );

    assert_eq!(
        app.drain().await,
        1,
        "the first response was queued with the lead"
    );
    let sent = app.provider.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "+13125550142");
    assert!(
        sent[0]
            .body
            .starts_with("Hi Jane, thanks for reaching out to Acme Roofing!"),
        "{}",
        sent[0].body
    );
    assert!(sent[0].body.contains("Reply STOP to opt out"));

    let detail: Value = app
        .get(&org, &location)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "contacted");
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["status"], "delivered");
    assert_eq!(messages[0]["purpose"], "transactional");
    assert_eq!(messages[0]["provider"], "sandbox");
    assert!(messages[0]["sent_at"].is_string() && messages[0]["intake_at"].is_string());
    let consent = detail["consent_events"].as_array().unwrap();
    assert_eq!(consent.len(), 1);
    assert_eq!(consent[0]["kind"], "granted");
    assert_eq!(consent[0]["evidence"]["disclosure_version"], "2026-01");
    assert_eq!(
        consent[0]["evidence"]["captured_at"],
        "2026-03-04T17:59:30Z"
    );
    assert_eq!(
        consent[0]["evidence"]["purposes"],
        json!(["transactional", "marketing"])
    );
}

#[tokio::test]
async fn a_lead_without_a_phone_is_answered_by_email() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    assert_eq!(
        // With no phone and no place, the all-US window (territories included) would hold the
        // answer until the evening; the ZIP places Bo in New York.
        app.post_lead(
            &org,
            json!({ "name": "Bo", "email": "bo@example.com", "zip": "10001" })
        )
        .await
        .status(),
        201
    );
    app.drain().await;
    let sent = app.provider.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].channel, domain::Channel::Email);
    assert_eq!(
        sent[0].subject.as_deref(),
        Some("Thanks for contacting Acme")
    );
}

#[tokio::test]
async fn a_known_person_is_touched_not_texted_again() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let first: Value = app
        .post_lead(&org, json!({ "name": "Jane", "phone": "3125550142" }))
        .await
        .json()
        .await
        .unwrap();
    app.drain().await;
    let res = app.post_lead(&org, json!({ "name": "Jane D.", "phone": "+1 312-555-0142", "email": "jane@example.com", "source": "facebook" })).await;
    assert_eq!(res.status(), 200);
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["touch_count"], 2);
    assert_eq!(
        again["email"], "jane@example.com",
        "the new email was added"
    );
    assert_eq!(app.drain().await, 0, "nothing new to send");
    assert_eq!(app.provider.sent().len(), 1);
    // The same person found by email too.
    let by_email = app
        .post_lead(&org, json!({ "email": "JANE@example.com" }))
        .await;
    assert_eq!(by_email.status(), 200);
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_other_bodies() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let body = json!({ "name": "Jane", "phone": "3125550142" });
    let send = |key: &'static str, body: Value| {
        let app = &app;
        let org = &org;
        async move {
            app.post(org, "/api/v1/leads", &body)
                .header("Idempotency-Key", key)
                .send()
                .await
                .unwrap()
        }
    };
    let first = send("abc-1", body.clone()).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let replay = send("abc-1", body.clone()).await;
    assert_eq!(replay.status(), 201, "the same answer, not a 200 touch");
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["id"], first["id"]);
    assert_eq!(replay["touch_count"], 1);
    let other = send(
        "abc-1",
        json!({ "name": "Someone else", "phone": "3125550199" }),
    )
    .await;
    assert_eq!(other.status(), 422);
    assert_eq!(
        problem(other).await["type"],
        "/problems/idempotency-mismatch"
    );
}

#[tokio::test]
async fn invalid_fields_are_each_named() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let res = app
        .post_lead(&org, json!({
            "phone": "not a phone",
            "email": "nope@",
            "time_zone": "Mars/Olympus",
            "consent": { "disclosure_text": "  ", "purposes": ["spam"], "ip": "300.1.1.1", "timestamp": "yesterday" },
            "details": { "service": "x".repeat(1001) }
        }))
        .await;
    assert_eq!(res.status(), 422);
    let p = problem(res).await;
    assert_eq!(p["type"], "/problems/validation");
    let mut named = fields(&p);
    named.sort();
    assert_eq!(
        named,
        [
            "consent.disclosure_text",
            "consent.ip",
            "consent.purposes[0]",
            "consent.timestamp",
            "details",
            "email",
            "phone",
            "time_zone"
        ]
    );
    let res = app.post_lead(&org, json!({ "name": "No contact" })).await;
    assert_eq!(fields(&problem(res).await), ["phone"]);
    let res = app
        .post_lead(&org, json!({ "name": 42, "phone": "3125550142" }))
        .await;
    let p = problem(res).await;
    assert_eq!(fields(&p), ["name"], "{p}");
    let res = app
        .post_lead(
            &org,
            json!({ "phone": "3125550142", "favourite_colour": "blue" }),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        problem(res).await["detail"]
            .as_str()
            .unwrap()
            .contains("favourite_colour")
    );
}

#[tokio::test]
async fn malformed_bodies_get_precise_answers() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let url = format!("{}/api/v1/leads", app.base);
    let res = app
        .client
        .post(&url)
        .bearer_auth(&org.key)
        .header("content-type", "application/json")
        .body("{\"name\": \"Jane\",\n \"phone\": }")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let p = problem(res).await;
    assert_eq!(p["type"], "/problems/malformed-json");
    assert!(
        p["detail"].as_str().unwrap().contains("line 2 column"),
        "{p}"
    );
    let res = app
        .client
        .post(&url)
        .bearer_auth(&org.key)
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    problem(res).await;
    let huge = json!({ "name": "x".repeat(70 * 1024), "phone": "3125550142" });
    let res = app.post(&org, "/api/v1/leads", &huge).send().await.unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(problem(res).await["type"], "/problems/too-large");
    assert!(
        app.provider.sent().is_empty() && app.drain().await == 0,
        "nothing was taken"
    );
}

#[tokio::test]
async fn lists_paginate_and_filter() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let source = if i % 2 == 0 { "web_form" } else { "facebook" };
        let lead: Value = app
            .post_lead(
                &org,
                json!({ "phone": format!("31255501{i:02}"), "source": source }),
            )
            .await
            .json()
            .await
            .unwrap();
        ids.push(lead["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/leads?limit=2&cursor={c}"),
            None => "/api/v1/leads?limit=2".to_owned(),
        };
        let page: Value = app
            .get(&org, &path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "every lead once, newest first");
    let fb: Value = app
        .get(&org, "/api/v1/leads?source=facebook")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fb["data"].as_array().unwrap().len(), 2);
    let found: Value = app
        .get(&org, "/api/v1/leads?phone=%2B1%20312%20555%200103")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["data"][0]["phone"], "+13125550103");
    let res = app
        .get(&org, "/api/v1/leads?status=sleepy")
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res).await), ["status"]);
    let res = app.get(&org, "/api/v1/leads?limit=0").send().await.unwrap();
    assert_eq!(fields(&problem(res).await), ["limit"]);
    let res = app
        .get(&org, "/api/v1/leads?colour=red")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    app.drain().await;
    let to: Vec<Value> = app.messages(&org, "to=3125550101&direction=outbound").await;
    assert_eq!(to.len(), 1);
    assert_eq!(to[0]["to"], "+13125550101");
    let res = app
        .get(&org, "/api/v1/messages?lead_id=nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(fields(&problem(res).await), ["lead_id"]);
}
