//! An agent writing to a lead: the answer says whether the message goes now, when it will go,
//! or which rules refuse it; accepted messages go once. And template previews.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Org, TestApp, fields, problem, spawn_app};
use serde_json::{Value, json};

/// A Chicago lead (312) who agreed to transactional and informational messages only.
async fn lead(app: &TestApp, org: &Org) -> Value {
    let res = app
        .post_lead(
            org,
            json!({
                "name": "Jane Doe", "phone": "3125550142", "source": "web_form",
                "consent": { "disclosure_text": "Acme may text me about my request.", "timestamp": "2026-03-04T17:59:00Z",
                             "purposes": ["transactional", "informational"] }
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let lead = res.json().await.unwrap();
    app.drain().await;
    lead
}

async fn write(
    app: &TestApp,
    org: &Org,
    lead: &Value,
    body: Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut req = app.post(
        org,
        &format!("/api/v1/leads/{}/messages", lead["id"].as_str().unwrap()),
        &body,
    );
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    req.send().await.unwrap()
}

async fn sent(app: &TestApp, org: &Org, lead: &Value) -> Vec<Value> {
    let mut all = app
        .messages(
            org,
            &format!(
                "lead_id={}&direction=outbound",
                lead["id"].as_str().unwrap()
            ),
        )
        .await;
    all.reverse();
    all
}

#[tokio::test]
async fn a_message_goes_now_or_waits_for_the_morning_and_the_answer_says_which() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let jane = lead(&app, &org).await;

    // Noon in Chicago: it goes now.
    let res = write(
        &app,
        &org,
        &jane,
        json!({ "purpose": "transactional", "body": "We can come Tuesday at 9." }),
        None,
    )
    .await;
    assert_eq!(res.status(), 202);
    let accepted: Value = res.json().await.unwrap();
    assert_eq!(accepted["outcome"], "sending");
    assert_eq!(accepted["channel"], "sms");
    app.drain().await;
    let out = sent(&app, &org, &jane).await;
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[1]["body"].as_str(), out[1]["status"].as_str()),
        (Some("We can come Tuesday at 9."), Some("delivered"))
    );

    // 22:00 in Chicago: held until 08:00 there, and the answer says so and why.
    app.set_clock(&org, "2026-03-05T04:00:00Z").await;
    let res = write(
        &app,
        &org,
        &jane,
        json!({ "purpose": "informational", "body": "Reminder: photos of the roof help." }),
        None,
    )
    .await;
    assert_eq!(res.status(), 202);
    let accepted: Value = res.json().await.unwrap();
    assert_eq!(accepted["outcome"], "scheduled");
    assert_eq!(accepted["send_at"], "2026-03-05T14:00:00Z");
    assert!(
        accepted["reasons"].to_string().contains("quiet"),
        "{accepted}"
    );
    app.drain().await;
    assert_eq!(sent(&app, &org, &jane).await.len(), 2, "not at night");
    app.set_clock(&org, "2026-03-05T14:00:05Z").await;
    app.drain().await;
    let out = sent(&app, &org, &jane).await;
    assert_eq!(out.len(), 3);
    assert_eq!(out[2]["body"], "Reminder: photos of the roof help.");
}

#[tokio::test]
async fn refused_messages_name_the_rules_and_retries_send_once() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let jane = lead(&app, &org).await;

    // No consent to marketing: refused, with the rule and its legal source.
    let res = write(
        &app,
        &org,
        &jane,
        json!({ "purpose": "marketing", "body": "10% off this week!" }),
        None,
    )
    .await;
    assert_eq!(res.status(), 422);
    let p = problem(res).await;
    assert_eq!(p["type"], "/problems/compliance-blocked");
    assert!(fields(&p).iter().all(|f| f == "compliance") && !fields(&p).is_empty());
    assert!(p["detail"].as_str().unwrap().contains("consent"), "{p}");
    app.drain().await;
    assert_eq!(
        sent(&app, &org, &jane).await.len(),
        1,
        "nothing but the first answer"
    );

    // The same request twice with one key: one message.
    let body = json!({ "purpose": "transactional", "body": "Confirmed for Tuesday." });
    let first: Value = write(&app, &org, &jane, body.clone(), Some("k-1"))
        .await
        .json()
        .await
        .unwrap();
    let again: Value = write(&app, &org, &jane, body.clone(), Some("k-1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        first["job_id"], again["job_id"],
        "the retry finds the first request's job"
    );
    app.drain().await;
    assert_eq!(
        write(&app, &org, &jane, body, Some("k-1")).await.status(),
        202,
        "the job is done; accepted again, still sent once"
    );
    app.drain().await;
    let out = sent(&app, &org, &jane).await;
    assert_eq!(
        out.iter()
            .filter(|m| m["body"] == "Confirmed for Tuesday.")
            .count(),
        1
    );

    // Bad fields, each named.
    let res = write(
        &app,
        &org,
        &jane,
        json!({ "channel": "email", "purpose": "transactional", "body": " " }),
        None,
    )
    .await;
    assert_eq!(res.status(), 422);
    let mut named = fields(&problem(res).await);
    named.sort();
    assert_eq!(named, ["body", "channel", "subject"]);
    let res = write(
        &app,
        &org,
        &jane,
        json!({ "purpose": "transactional", "body": "x".repeat(1601) }),
        None,
    )
    .await;
    assert_eq!(fields(&problem(res).await), ["body"]);
    let res = write(
        &app,
        &org,
        &jane,
        json!({ "purpose": "soon", "body": "x" }),
        None,
    )
    .await;
    assert_eq!(fields(&problem(res).await), ["purpose"]);
}

#[tokio::test]
async fn templates_preview_as_the_lead_reads_them() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let jane = lead(&app, &org).await;
    let preview = |body: Value| app.post(&org, "/api/v1/templates/preview", &body).send();
    let res = preview(json!({ "template": "Hi {{ first_name }}, {{ business_name }} here.", "lead_id": jane["id"] })).await.unwrap();
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["body"], "Hi Jane, Acme Roofing here.");
    assert_eq!(
        (p["encoding"].as_str(), p["segments"].as_u64()),
        (Some("gsm7"), Some(1))
    );
    let res = preview(json!({ "template": format!("{} 🙂", "a".repeat(70)) }))
        .await
        .unwrap();
    let p: Value = res.json().await.unwrap();
    assert_eq!(
        (p["encoding"].as_str(), p["segments"].as_u64()),
        (Some("ucs2"), Some(2))
    );
    let res = preview(json!({ "template": "Hi {{ first_name", "subject": "{% if %}" }))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let mut named = fields(&problem(res).await);
    named.sort();
    assert_eq!(named, ["subject", "template"]);
}
