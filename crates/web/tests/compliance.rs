//! The compliance API as a business uses it: the dry run, a lead's standing, opt-outs by
//! keyword and by phrase with their review queue, re-subscription, HELP, the do-not-call list
//! (JSON, CSV in and out), the national registry snapshot, organisation rules, and one-click
//! email unsubscribe.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Org, TestApp, fields, problem, spawn_app};
use compliance::Exemption;
use domain::{Address, Email, Purpose};
use engine::dispatch::{Dispatched, Outgoing};
use serde_json::{Value, json};

async fn check(app: &TestApp, org: &Org, body: Value) -> Value {
    let res = app
        .post(org, "/api/v1/compliance/check", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn rules(result: &Value) -> Vec<String> {
    result["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap().to_owned())
        .collect()
}

async fn inbound(app: &TestApp, org: &Org, from: &str, body: &str) -> Value {
    let res = app
        .post(
            org,
            "/api/v1/sandbox/inbound",
            &json!({ "from": from, "body": body }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn get_json(app: &TestApp, org: &Org, path: &str) -> Value {
    let res = app.get(org, path).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

/// A lead who ticked a marketing checkbox on a form.
async fn consented_lead(app: &TestApp, org: &Org, phone: &str, email: &str) -> Value {
    let res = app
        .post_lead(
            org,
            json!({
                "name": "Jane",
                "phone": phone,
                "email": email,
                "consent": {
                    "disclosure_text": "I agree to receive marketing texts and emails from Acme.",
                    "timestamp": "2026-03-04T17:59:30Z",
                    "purposes": ["transactional", "marketing"],
                },
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_dry_run_answers_as_a_send_would_and_records_nothing() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    // A stranger: the consent rules block and say so.
    let stranger = check(
        &app,
        &org,
        json!({ "to": "+13125550100", "purpose": "transactional" }),
    )
    .await;
    assert_eq!(stranger["decision"], "block");
    assert_eq!(rules(&stranger), ["consent.prior_express"]);
    assert!(
        stranger["reasons"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("no lead"),
        "{stranger}"
    );
    assert_eq!(stranger["lead_id"], Value::Null);
    assert_eq!(stranger["location"]["basis"], json!(["area_code"]));
    assert_eq!(
        stranger["location"]["candidates"][0],
        json!({ "time_zone": "America/Chicago", "state": "IL" })
    );

    // A lead without marketing consent: transactional goes, marketing does not.
    let lead: Value = app
        .post_lead(&org, json!({ "name": "Bo", "phone": "312 555 0142" }))
        .await
        .json()
        .await
        .unwrap();
    app.drain().await;
    let sent_before = app.provider.sent().len();
    let ok = check(
        &app,
        &org,
        json!({ "to": "3125550142", "channel": "sms", "purpose": "transactional" }),
    )
    .await;
    assert_eq!(ok["decision"], "send", "{ok}");
    assert_eq!(ok["lead_id"], lead["id"]);
    let marketing = check(
        &app,
        &org,
        json!({ "to": "3125550142", "purpose": "marketing" }),
    )
    .await;
    assert_eq!(marketing["decision"], "block");
    assert!(rules(&marketing).contains(&"consent.written".to_owned()));

    // At 22:00 in Chicago: deferred to 08:00 the next morning.
    let night = check(
        &app,
        &org,
        json!({ "to": "3125550142", "purpose": "transactional", "at": "2026-03-05T04:00:00Z" }),
    )
    .await;
    assert_eq!(night["decision"], "defer");
    assert_eq!(night["until"], "2026-03-05T14:00:00Z");
    assert_eq!(rules(&night), ["federal.quiet_hours"]);

    // Nothing was sent or recorded by the dry runs.
    assert_eq!(app.provider.sent().len(), sent_before);
    assert_eq!(app.messages(&org, "").await.len(), 1);
}

#[tokio::test]
async fn the_dry_run_names_the_bad_field() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    for (body, field) in [
        (
            json!({ "to": "not an address", "purpose": "transactional" }),
            "to",
        ),
        (
            json!({ "to": "+13125550100", "channel": "email", "purpose": "transactional" }),
            "channel",
        ),
        (
            json!({ "to": "+13125550100", "purpose": "spam" }),
            "purpose",
        ),
        (
            json!({ "to": "+13125550100", "purpose": "marketing", "at": "tomorrow" }),
            "at",
        ),
    ] {
        let res = app
            .post(&org, "/api/v1/compliance/check", &body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{body}");
        assert_eq!(fields(&problem(res).await), [field], "{body}");
    }
}

#[tokio::test]
async fn a_leads_standing_shows_consent_location_and_next_sends() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let lead = consented_lead(&app, &org, "305 555 0142", "jane@example.com").await;
    let id = lead["id"].as_str().unwrap();
    let view = get_json(&app, &org, &format!("/api/v1/leads/{id}/compliance")).await;
    assert_eq!(view["lead_id"], lead["id"]);
    let consent = view["consent"].as_array().unwrap();
    assert!(
        consent
            .iter()
            .any(|c| c["purpose"] == "marketing" && c["granted"] == true && c["written"] == true)
    );
    assert_eq!(view["suppression"], Value::Null);
    assert_eq!(view["location"]["basis"], json!(["area_code"]));
    // Two channels times three purposes.
    let next = view["next_send"].as_array().unwrap();
    assert_eq!(next.len(), 6);
    // 13:00 in Miami on a Wednesday: a marketing text may go now.
    let sms_marketing = next
        .iter()
        .find(|n| n["channel"] == "sms" && n["purpose"] == "marketing")
        .unwrap();
    assert_eq!(sms_marketing["decision"], "send", "{sms_marketing}");
    // A marketing email needs the organisation's postal address.
    let email_marketing = next
        .iter()
        .find(|n| n["channel"] == "email" && n["purpose"] == "marketing")
        .unwrap();
    assert_eq!(email_marketing["decision"], "block");
    assert_eq!(
        email_marketing["reasons"][0]["rule"],
        "email.postal_address"
    );

    let other = app.org("Other").await;
    let res = app
        .get(&other, &format!("/api/v1/leads/{id}/compliance"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        404,
        "another organisation's lead is not found"
    );
}

#[tokio::test]
async fn stop_suppresses_every_channel_and_start_resubscribes() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let lead = consented_lead(&app, &org, "312 555 0142", "jane@example.com").await;
    app.drain().await;
    inbound(&app, &org, "+13125550142", "Stop").await;
    app.drain().await;
    // Both addresses are on the list, and the email is refused too.
    let list = get_json(&app, &org, "/api/v1/compliance/dnc").await;
    let addresses: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert!(addresses.contains(&"+13125550142") && addresses.contains(&"jane@example.com"));
    let email = check(
        &app,
        &org,
        json!({ "to": "jane@example.com", "purpose": "transactional" }),
    )
    .await;
    assert_eq!(email["decision"], "block");
    assert!(rules(&email).contains(&"suppression".to_owned()));

    // START lifts the opt-out, records consent and confirms (with the brand and STOP).
    let reply = inbound(&app, &org, "+13125550142", "START").await;
    assert_eq!(reply["keyword"], "opt_in");
    app.drain().await;
    let last = app.provider.sent().last().unwrap().clone();
    assert!(last.body.starts_with("Acme:"), "{}", last.body);
    assert!(last.body.contains("subscribed again") && last.body.contains("STOP"));
    let id = lead["id"].as_str().unwrap();
    let view = get_json(&app, &org, &format!("/api/v1/leads/{id}/compliance")).await;
    assert_eq!(view["suppression"], Value::Null);
    // The written consent given on the form is restored, not invented.
    let marketing = view["consent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["purpose"] == "marketing")
        .unwrap()
        .clone();
    assert_eq!(
        (marketing["granted"].clone(), marketing["written"].clone()),
        (json!(true), json!(true))
    );
    // The entries are kept, marked lifted.
    let all = get_json(&app, &org, "/api/v1/compliance/dnc?include_lifted=true").await;
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|e| e["lifted_at"].is_string())
    );

    // YES from someone who never opted out is an ordinary reply.
    let yes = inbound(&app, &org, "+13125550199", "yes").await;
    assert_eq!(yes["keyword"], "opt_in");
    assert_eq!(
        get_json(&app, &org, "/api/v1/compliance/dnc").await,
        json!([])
    );
}

#[tokio::test]
async fn help_names_brand_contact_frequency_rates_and_stop() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let res = app
        .client
        .put(format!("{}/api/v1/settings", app.base))
        .bearer_auth(&org.key)
        .json(&json!({
            "support_contact": "help@acme.test",
            "compliance": { "message_frequency": "Up to 4 msgs/month" },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // From anyone, subscribed or not, at 3 a.m.
    app.set_clock(&org, "2026-03-04T09:00:00Z").await;
    inbound(&app, &org, "+13125550100", "HELP").await;
    app.drain().await;
    let body = app.provider.sent().last().unwrap().body.clone();
    for part in [
        "Acme",
        "help@acme.test",
        "Up to 4 msgs/month",
        "Msg&data rates may apply",
        "STOP",
    ] {
        assert!(body.contains(part), "{part} missing: {body}");
    }
}

#[tokio::test]
async fn a_phrase_suppresses_and_waits_for_review() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    consented_lead(&app, &org, "312 555 0142", "jane@example.com").await;
    app.drain().await;
    let sent = app.provider.sent().len();
    let reply = inbound(&app, &org, "+13125550142", "please stop texting me").await;
    assert_eq!(reply["keyword"], Value::Null);
    assert_eq!(reply["revocation"], "en.stop_contacting");
    app.drain().await;
    // Suppressed at once, with the one confirmation.
    assert_eq!(app.provider.sent().len(), sent + 1);
    let blocked = check(
        &app,
        &org,
        json!({ "to": "3125550142", "purpose": "transactional" }),
    )
    .await;
    assert_eq!(blocked["decision"], "block");
    let open = get_json(&app, &org, "/api/v1/compliance/reviews").await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["matched"], "en.stop_contacting");
    assert_eq!(open[0]["state"], "open");
    let id = open[0]["id"].as_str().unwrap();

    // A person dismisses it: the suppression it caused is lifted.
    let res = app
        .post(
            &org,
            &format!("/api/v1/compliance/reviews/{id}"),
            &json!({ "resolution": "dismissed" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ok = check(
        &app,
        &org,
        json!({ "to": "3125550142", "purpose": "transactional" }),
    )
    .await;
    assert_eq!(ok["decision"], "send", "{ok}");
    // Once only.
    let again = app
        .post(
            &org,
            &format!("/api/v1/compliance/reviews/{id}"),
            &json!({ "resolution": "confirmed" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    assert!(
        get_json(&app, &org, "/api/v1/compliance/reviews")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    let all = get_json(&app, &org, "/api/v1/compliance/reviews?state=all").await;
    assert_eq!(all[0]["state"], "dismissed");

    // A confirmed one keeps the person suppressed.
    inbound(&app, &org, "+13125550142", "No me escriban más").await;
    let open = get_json(&app, &org, "/api/v1/compliance/reviews").await;
    let id = open[0]["id"].as_str().unwrap();
    app.post(
        &org,
        &format!("/api/v1/compliance/reviews/{id}"),
        &json!({ "resolution": "confirmed" }),
    )
    .send()
    .await
    .unwrap();
    let blocked = check(
        &app,
        &org,
        json!({ "to": "3125550142", "purpose": "transactional" }),
    )
    .await;
    assert_eq!(blocked["decision"], "block");
}

#[tokio::test]
async fn the_do_not_call_list_imports_exports_and_survives_reimports() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let import = |csv: &'static str| {
        app.client
            .post(format!("{}/api/v1/compliance/dnc/import", app.base))
            .bearer_auth(&org.key)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
    };
    // A bad line refuses the whole file, naming the line.
    let res = import("address\n312-555-0100\nnot a number\nbo@example.com\n")
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(fields(&problem(res).await), ["line 3"]);
    assert_eq!(
        get_json(&app, &org, "/api/v1/compliance/dnc").await,
        json!([])
    );

    let res = import("name,address\nJoe,312-555-0100\nBo,bo@example.com\n,\n")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let result: Value = res.json().await.unwrap();
    assert_eq!(result, json!({ "added": 2, "unchanged": 0 }));
    // Honoured at once.
    let blocked = check(
        &app,
        &org,
        json!({ "to": "+13125550100", "purpose": "transactional" }),
    )
    .await;
    assert!(rules(&blocked).contains(&"suppression".to_owned()));
    // A re-import changes nothing.
    let again: Value = import("312 555 0100\n")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, json!({ "added": 0, "unchanged": 1 }));

    let res = app
        .get(&org, "/api/v1/compliance/dnc?format=csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = res.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("address,channel,reason,source,created_at,lifted_at")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .any(|r| r.starts_with("+13125550100,sms,dnc,csv,"))
    );

    // Removal lifts only the organisation's own entry, and keeps it.
    let res = app
        .post(
            &org,
            "/api/v1/compliance/dnc/remove",
            &json!({ "address": "bo@example.com" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        get_json(&app, &org, "/api/v1/compliance/dnc")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        get_json(&app, &org, "/api/v1/compliance/dnc?include_lifted=true")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // A person's own opt-out cannot be removed by the organisation.
    inbound(&app, &org, "+13125550177", "STOP").await;
    let res = app
        .post(
            &org,
            "/api/v1/compliance/dnc/remove",
            &json!({ "address": "+13125550177" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // Another organisation sees none of it.
    let other = app.org("Other").await;
    assert_eq!(
        get_json(&app, &other, "/api/v1/compliance/dnc").await,
        json!([])
    );
}

#[tokio::test]
async fn the_national_registry_snapshot_is_replaced_whole_and_ages() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let put = |taken_at: &str, body: &'static str| {
        app.client
            .put(format!(
                "{}/api/v1/compliance/dnc-registry?taken_at={taken_at}",
                app.base
            ))
            .bearer_auth(&org.key)
            .header("content-type", "text/plain")
            .body(body)
            .send()
    };
    let view = get_json(&app, &org, "/api/v1/compliance/dnc-registry").await;
    assert_eq!(view, json!({ "snapshot": null, "fresh": false }));
    let res = put("2026-03-01T00:00:00Z", "3125550100\n31255501\n")
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(fields(&problem(res).await), ["line 2"]);
    let res = put("2026-04-01T00:00:00Z", "3125550100\n").await.unwrap();
    assert_eq!(res.status(), 422, "a snapshot from the future");
    let res = put("2026-03-01T00:00:00Z", "3125550100\n3125550101\n\n")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["snapshot"]["numbers"], 2);
    assert_eq!(view["fresh"], true);
    // A stranger on the registry: marketing is refused by consent and by the registry.
    let listed = check(
        &app,
        &org,
        json!({ "to": "+13125550100", "purpose": "marketing" }),
    )
    .await;
    assert_eq!(rules(&listed), ["consent.written", "dnc.national"]);
    // 40 days later the snapshot is stale.
    let later = check(
        &app,
        &org,
        json!({ "to": "+13125550199", "purpose": "marketing", "at": "2026-04-10T18:00:00Z" }),
    )
    .await;
    assert_eq!(
        rules(&later),
        ["consent.written", "dnc.national.snapshot_age"]
    );
}

#[tokio::test]
async fn organisation_rules_are_validated_and_applied() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let put = |body: Value| {
        app.client
            .put(format!("{}/api/v1/settings", app.base))
            .bearer_auth(&org.key)
            .json(&body)
            .send()
    };
    let res =
        put(json!({ "compliance": { "quiet_hours": { "from": "19:00", "until": "09:00" } } }))
            .await
            .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(
        fields(&problem(res).await),
        ["compliance.quiet_hours.until"]
    );
    let res = put(json!({ "compliance": {
        "quiet_hours": { "from": "13:00", "until": "17:00" },
        "caps": [{ "limit": 1, "hours": 24 }],
    } }))
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    // Noon in Chicago: the organisation's window opens at 13:00.
    let lead: Value = app
        .post_lead(&org, json!({ "name": "Bo", "phone": "312 555 0142" }))
        .await
        .json()
        .await
        .unwrap();
    let early = check(
        &app,
        &org,
        json!({ "to": "3125550142", "purpose": "transactional" }),
    )
    .await;
    assert_eq!(early["decision"], "defer");
    assert_eq!(early["until"], "2026-03-04T19:00:00Z");
    assert_eq!(rules(&early), ["organisation.quiet_hours"]);
    assert!(lead["id"].is_string());
}

#[tokio::test]
async fn marketing_emails_carry_one_click_unsubscribe() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let res = app
        .client
        .put(format!("{}/api/v1/settings", app.base))
        .bearer_auth(&org.key)
        .json(&json!({ "compliance": { "postal_address": "1 Main St, Chicago, IL 60601" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let lead = consented_lead(&app, &org, "312 555 0142", "jane@example.com").await;
    app.drain().await;
    let lead = app
        .store
        .get_lead(
            domain::Tenant::from_authenticated(org.id),
            lead["id"].as_str().unwrap().parse().unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let email = Email::parse("jane@example.com").unwrap();
    let out = Outgoing {
        tenant: domain::Tenant::from_authenticated(org.id),
        lead: Some(lead),
        to: Address::Email(email),
        from: "hello@acme.test".to_owned(),
        purpose: Purpose::Marketing,
        exemption: Exemption::None,
        subject: Some("Spring offer".to_owned()),
        body: "20% off this week.".to_owned(),
        dedupe_key: Some("offer:1".to_owned()),
        intake_at: None,
        answering: None,
        requested_at: None,
        organisation: None,
        attachments: Vec::new(),
    };
    let Dispatched::Sent(_) = app.engine.dispatch(out, None).await.unwrap() else {
        panic!("a consented marketing email at noon should go");
    };
    let sent = app.provider.sent().last().unwrap().clone();
    let header = |name: &str| {
        sent.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(
        header("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    let link = header("List-Unsubscribe");
    let url = link
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned();
    assert!(url.starts_with(&format!("{}/u/", app.base)), "{url}");
    assert!(sent.body.contains("1 Main St, Chicago, IL 60601"));
    assert!(sent.body.contains(&url));

    // A GET shows a page and unsubscribes no one (mail scanners prefetch links).
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("<form method=\"post\">")
    );
    let still = check(
        &app,
        &org,
        json!({ "to": "jane@example.com", "purpose": "marketing" }),
    )
    .await;
    assert_eq!(still["decision"], "send");

    // The one-click POST: no cookie, no credentials, 200, no redirect, suppressed at once.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let after = check(
        &app,
        &org,
        json!({ "to": "jane@example.com", "purpose": "marketing" }),
    )
    .await;
    assert_eq!(after["decision"], "block");
    assert!(rules(&after).contains(&"suppression".to_owned()));
    // An unsubscribe is an opt-out of the person: their texts stop too, like a STOP stops
    // their emails.
    let text = check(
        &app,
        &org,
        json!({ "to": "3125550142", "purpose": "marketing" }),
    )
    .await;
    assert_eq!(text["decision"], "block", "{text}");

    // A forged token is refused.
    let forged = format!("{}x", url.trim_end_matches(|c: char| c.is_alphanumeric()));
    let res = client.post(&forged).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_first_text_names_the_brand_and_how_to_stop() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let res = app
        .client
        .put(format!("{}/api/v1/settings", app.base))
        .bearer_auth(&org.key)
        .json(&json!({ "first_response_sms": "Hi {{ first_name }}, thanks for your request!" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.post_lead(&org, json!({ "name": "Jane", "phone": "312 555 0142" }))
        .await;
    app.drain().await;
    let first = app.provider.sent()[0].body.clone();
    assert_eq!(
        first,
        "Acme: Hi Jane, thanks for your request! Reply STOP to opt out."
    );
}

#[tokio::test]
async fn a_bounce_or_spam_report_suppresses_the_person() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    consented_lead(&app, &org, "312 555 0142", "jane@example.com").await;
    let tenant = domain::Tenant::from_authenticated(org.id);
    let email = Address::Email(Email::parse("jane@example.com").unwrap());
    assert!(
        app.engine
            .suppress_for_provider(tenant, &email, "bounce", "sendgrid")
            .await
            .unwrap()
    );
    // Again: nothing new.
    assert!(
        !app.engine
            .suppress_for_provider(tenant, &email, "spam_report", "sendgrid")
            .await
            .unwrap()
    );
    let list = get_json(&app, &org, "/api/v1/compliance/dnc").await;
    assert_eq!(list[0]["reason"], "bounce");
    assert_eq!(list[0]["source"], "provider");
    let text = check(
        &app,
        &org,
        json!({ "to": "3125550142", "purpose": "transactional" }),
    )
    .await;
    assert_eq!(
        text["decision"], "block",
        "the person is suppressed: {text}"
    );
    // A text cannot lift a bounce.
    let reply = inbound(&app, &org, "+13125550142", "START").await;
    assert_eq!(reply["keyword"], "opt_in");
    let text = check(
        &app,
        &org,
        json!({ "to": "3125550142", "purpose": "transactional" }),
    )
    .await;
    assert_eq!(text["decision"], "block");
}

#[tokio::test]
async fn an_erased_lead_is_never_contacted_again_and_its_consent_is_kept() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let lead = consented_lead(&app, &org, "312 555 0142", "jane@example.com").await;
    app.drain().await;
    let id = lead["id"].as_str().unwrap();
    let res = app
        .client
        .delete(format!("{}/api/v1/leads/{id}", app.base))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let erased: Value = res.json().await.unwrap();
    assert_eq!(erased, json!({ "messages": 1, "suppressed_addresses": 2 }));
    // The lead and its messages are gone.
    let res = app
        .get(&org, &format!("/api/v1/leads/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(app.messages(&org, "").await.is_empty());
    // The person is never contacted again, on either channel, and the list holds no address.
    for to in ["3125550142", "jane@example.com"] {
        let result = check(&app, &org, json!({ "to": to, "purpose": "transactional" })).await;
        assert_eq!(result["decision"], "block", "{to}");
        assert!(rules(&result).contains(&"suppression".to_owned()));
    }
    let list = get_json(&app, &org, "/api/v1/compliance/dnc").await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|e| e["address"].is_null()),
        "{list}"
    );
    // The consent evidence is kept and readable.
    let consent = get_json(&app, &org, &format!("/api/v1/compliance/consent/{id}")).await;
    assert_eq!(consent.as_array().unwrap().len(), 1);
    assert_eq!(
        consent[0]["evidence"]["disclosure_text"],
        "I agree to receive marketing texts and emails from Acme."
    );
    // A second erasure finds nothing; another organisation cannot erase or read.
    let again = app
        .client
        .delete(format!("{}/api/v1/leads/{id}", app.base))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn bad_query_parameters_are_named() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    for (path, field) in [
        ("/api/v1/compliance/dnc?format=xml", "format"),
        (
            "/api/v1/compliance/dnc?include_lifted=maybe",
            "include_lifted",
        ),
        ("/api/v1/compliance/reviews?state=pending", "state"),
        (
            "/api/v1/compliance/dnc-registry?taken_at=2026-03-01",
            "taken_at",
        ),
    ] {
        let res = if path.contains("registry") {
            app.client
                .put(format!("{}{path}", app.base))
                .bearer_auth(&org.key)
                .body("2125550199")
                .send()
                .await
                .unwrap()
        } else {
            app.get(&org, path).send().await.unwrap()
        };
        assert_eq!(res.status(), 400, "{path}");
        assert_eq!(fields(&problem(res).await), [field], "{path}");
    }
}
