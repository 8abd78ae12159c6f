//! Follow-up sequences end to end, on the sandbox clock: a lead followed for a week, steps held
//! to the recipient's morning, replies and opt-outs ending runs, versions, dry runs, and
//! definitions refused field by field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Org, TestApp, fields, problem, spawn_app};
use serde_json::{Value, json};

/// Two follow-ups after the first answer: a text a day later, an email two days after that.
fn follow_up() -> Value {
    json!({
        "name": "New lead follow-up",
        "steps": [
            { "channel": "sms", "delay": "P1D", "purpose": "informational",
              "template": "Hi {{ first_name }}, still looking for a quote from {{ business_name }}?" },
            { "channel": "email", "delay": "P2D", "purpose": "marketing",
              "subject": "Your roof, {{ first_name }}", "template": "Spring offer: 10% off." }
        ],
        "enrol": { "sources": ["web_form"] }
    })
}

/// An organisation whose marketing emails may go (they need a postal address).
async fn organisation(app: &TestApp) -> Org {
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
    org
}

async fn create(app: &TestApp, org: &Org, body: &Value) -> Value {
    let res = app
        .post(org, "/api/v1/sequences", body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

/// A web-form lead in Chicago (312), with consent to marketing too.
async fn lead(app: &TestApp, org: &Org, phone: &str) -> Value {
    let res = app
        .post_lead(
            org,
            json!({
                "name": "Jane Doe", "phone": phone, "email": format!("jane{phone}@example.com"), "source": "web_form",
                "consent": { "disclosure_text": "Acme may text and email me offers.", "timestamp": "2026-03-04T17:59:00Z",
                             "purposes": ["transactional", "informational", "marketing"] }
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn runs(app: &TestApp, org: &Org, lead: &Value) -> Vec<Value> {
    let res = app
        .get(
            org,
            &format!("/api/v1/leads/{}/enrolments", lead["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn outbound_to(app: &TestApp, org: &Org, lead: &Value) -> Vec<Value> {
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

/// `value` is an instant within 30 seconds after `expected` (the sandbox clock runs on from
/// where a test sets it).
#[track_caller]
fn assert_near(value: &Value, expected: &str) {
    let got: jiff::Timestamp = value
        .as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|_| panic!("not an instant: {value}"));
    let want: jiff::Timestamp = expected.parse().unwrap();
    let off = got.duration_since(want);
    assert!(
        off >= jiff::SignedDuration::ZERO && off < jiff::SignedDuration::from_secs(30),
        "{got} is not just after {want}"
    );
}

/// The lead texts the business (through the sandbox).
async fn text(app: &TestApp, org: &Org, from: &str, body: &str) {
    let res = app
        .post(
            org,
            "/api/v1/sandbox/inbound",
            &json!({ "from": from, "body": body, "channel": "sms" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

/// Enrols a lead by hand; the answer's status.
async fn enrol(app: &TestApp, org: &Org, sequence: &str, lead: &Value) -> reqwest::Response {
    app.post(
        org,
        &format!("/api/v1/sequences/{sequence}/enrolments"),
        &json!({ "lead_id": lead["id"] }),
    )
    .send()
    .await
    .unwrap()
}

async fn at(app: &TestApp, org: &Org, instant: &str) {
    app.set_clock(org, instant).await;
    app.drain().await;
}

#[tokio::test]
async fn a_lead_is_followed_for_a_week_until_it_replies() {
    let app = spawn_app().await;
    let org = organisation(&app).await;
    create(&app, &org, &follow_up()).await;
    // 18:00 UTC is noon in Chicago.
    let jane = lead(&app, &org, "3125550142").await;
    app.drain().await;
    let run = &runs(&app, &org, &jane).await[0];
    assert_eq!(run["state"], "active");
    assert_eq!(run["step"], 0);
    assert_near(&run["next_run_at"], "2026-03-05T18:00:00Z");
    assert_eq!(
        outbound_to(&app, &org, &jane).await.len(),
        1,
        "the first answer only"
    );

    // A minute early: nothing.
    at(&app, &org, "2026-03-05T17:59:00Z").await;
    assert_eq!(outbound_to(&app, &org, &jane).await.len(), 1);
    at(&app, &org, "2026-03-05T18:00:10Z").await;
    let sent = outbound_to(&app, &org, &jane).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["channel"], "sms");
    assert!(
        sent[1]["body"]
            .as_str()
            .unwrap()
            .starts_with("Hi Jane, still looking for a quote from Acme Roofing?"),
        "{}",
        sent[1]["body"]
    );
    assert_eq!(sent[1]["purpose"], "informational");

    // Two days on, the marketing email.
    at(&app, &org, "2026-03-07T18:01:00Z").await;
    let sent = outbound_to(&app, &org, &jane).await;
    assert_eq!(sent.len(), 3);
    assert_eq!(
        (sent[2]["channel"].as_str(), sent[2]["subject"].as_str()),
        (Some("email"), Some("Your roof, Jane"))
    );
    assert!(sent.iter().all(|m| m["status"] == "delivered"), "{sent:?}");
    let run = &runs(&app, &org, &jane).await[0];
    assert_eq!(run["state"], "completed");
    assert_eq!(run["next_run_at"], Value::Null);

    // The rest of the week: nothing more.
    at(&app, &org, "2026-03-11T18:00:00Z").await;
    assert_eq!(outbound_to(&app, &org, &jane).await.len(), 3);
}

#[tokio::test]
async fn a_reply_ends_the_run_at_once_and_nothing_more_is_sent() {
    let app = spawn_app().await;
    let org = organisation(&app).await;
    create(&app, &org, &follow_up()).await;
    let jane = lead(&app, &org, "3125550143").await;
    app.drain().await;
    at(&app, &org, "2026-03-04T20:00:00Z").await;
    text(&app, &org, "3125550143", "Tuesday works").await;
    let run = &runs(&app, &org, &jane).await[0];
    assert_eq!(
        (run["state"].as_str(), run["exit_reason"].as_str()),
        (Some("exited"), Some("reply"))
    );
    at(&app, &org, "2026-03-10T18:00:00Z").await;
    assert_eq!(
        outbound_to(&app, &org, &jane).await.len(),
        1,
        "only the first answer went"
    );
}

#[tokio::test]
async fn a_step_due_at_night_waits_for_the_recipients_morning() {
    let app = spawn_app().await;
    let org = organisation(&app).await;
    let mut body = follow_up();
    // Ten hours after noon in Chicago is 22:00 there: quiet hours until 08:00.
    body["steps"][0]["delay"] = json!("PT10H");
    create(&app, &org, &body).await;
    let jane = lead(&app, &org, "3125550144").await;
    app.drain().await;
    at(&app, &org, "2026-03-05T04:00:10Z").await;
    assert_eq!(
        outbound_to(&app, &org, &jane).await.len(),
        1,
        "held at night"
    );
    at(&app, &org, "2026-03-05T13:59:00Z").await;
    assert_eq!(outbound_to(&app, &org, &jane).await.len(), 1);
    at(&app, &org, "2026-03-05T14:00:10Z").await;
    let sent = outbound_to(&app, &org, &jane).await;
    assert_eq!(sent.len(), 2, "sent at 08:00 in Chicago");
    assert_eq!(sent[1]["status"], "delivered");
    assert_near(&sent[1]["sent_at"], "2026-03-05T14:00:00Z");
    // The next step counts from when the held one went: two days after 14:00.
    let run = &runs(&app, &org, &jane).await[0];
    assert_near(&run["next_run_at"], "2026-03-07T14:00:00Z");

    // The dry run says the same before anything is sent.
    let seq = app
        .get(&org, "/api/v1/sequences")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["data"][0]
        .clone();
    let res = app
        .post(
            &org,
            &format!("/api/v1/sequences/{}/simulate", seq["id"].as_str().unwrap()),
            &json!({ "lead_id": jane["id"], "start": "2026-03-04T18:00:00Z" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let plan: Value = res.json().await.unwrap();
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(
        steps[0]["due_at"], "2026-03-05T04:00:00Z",
        "the dry run starts when it is told"
    );
    assert_eq!(steps[0]["decision"], "defer");
    assert_eq!(steps[0]["send_at"], "2026-03-05T14:00:00Z");
    assert!(
        steps[0]["reasons"].to_string().contains("quiet"),
        "{}",
        steps[0]
    );
    assert!(steps[0]["body"].as_str().unwrap().starts_with("Hi Jane"));
    assert_eq!(steps[1]["due_at"], "2026-03-07T14:00:00Z");
    assert_eq!(steps[1]["decision"], "send", "{}", steps[1]);
}

#[tokio::test]
async fn stop_ends_every_run_and_runs_keep_their_version() {
    let app = spawn_app().await;
    let org = organisation(&app).await;
    let seq = create(&app, &org, &follow_up()).await;
    let id = seq["id"].as_str().unwrap().to_owned();
    let jane = lead(&app, &org, "3125550145").await;
    app.drain().await;

    // A new version: Jane's run keeps the first; a lead enrolled now gets the second.
    let mut v2 = follow_up();
    v2["steps"][0]["template"] = json!("Version two, {{ first_name }}.");
    let res = app
        .client
        .put(format!("{}/api/v1/sequences/{id}", app.base))
        .bearer_auth(&org.key)
        .json(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["version"], 2);
    let old = app
        .get(&org, &format!("/api/v1/sequences/{id}?version=1"))
        .send()
        .await
        .unwrap();
    let old: Value = old.json().await.unwrap();
    assert_eq!(
        old["steps"][0]["template"],
        follow_up()["steps"][0]["template"],
        "{old}"
    );
    let john = lead(&app, &org, "3125550146").await;
    app.drain().await;
    assert_eq!(runs(&app, &org, &jane).await[0]["version"], 1);
    assert_eq!(runs(&app, &org, &john).await[0]["version"], 2);
    at(&app, &org, "2026-03-05T18:00:10Z").await;
    assert!(
        outbound_to(&app, &org, &jane).await[1]["body"]
            .as_str()
            .unwrap()
            .starts_with("Hi Jane")
    );
    assert!(
        outbound_to(&app, &org, &john).await[1]["body"]
            .as_str()
            .unwrap()
            .starts_with("Version two")
    );

    // Enrolling a lead that runs it already is refused; STOP ends the run.
    let res = enrol(&app, &org, &id, &john).await;
    assert_eq!(res.status(), 409);
    text(&app, &org, "3125550146", "STOP").await;
    let run = &runs(&app, &org, &john).await[0];
    assert_eq!(
        (run["state"].as_str(), run["exit_reason"].as_str()),
        (Some("exited"), Some("opt_out"))
    );
    // An opted-out lead cannot be enrolled again.
    let res = enrol(&app, &org, &id, &john).await;
    assert_eq!(res.status(), 409);

    // A manual exit, then a manual enrolment once the run is over.
    let jane_run = runs(&app, &org, &jane).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            &org,
            &format!("/api/v1/enrolments/{jane_run}/exit"),
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["exit_reason"], "manual");
    let res = app
        .post(
            &org,
            &format!("/api/v1/enrolments/{jane_run}/exit"),
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let res = enrol(&app, &org, &id, &jane).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.json::<Value>().await.unwrap()["version"], 2);

    // Archived: listed, no longer taking runs.
    let res = app
        .client
        .delete(format!("{}/api/v1/sequences/{id}", app.base))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = enrol(&app, &org, &id, &jane).await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn conditions_skip_steps_and_definitions_are_refused_field_by_field() {
    let app = spawn_app().await;
    let org = organisation(&app).await;
    let mut body = follow_up();
    // The text goes only to leads without an email; Jane has one, so she gets the email only.
    body["steps"][0]["conditions"] = json!({ "has_email": false });
    create(&app, &org, &body).await;
    let jane = lead(&app, &org, "3125550147").await;
    app.drain().await;
    at(&app, &org, "2026-03-05T18:00:10Z").await;
    assert_eq!(
        outbound_to(&app, &org, &jane).await.len(),
        1,
        "the text was skipped"
    );
    assert_near(
        &runs(&app, &org, &jane).await[0]["next_run_at"],
        "2026-03-07T18:00:00Z",
    );
    at(&app, &org, "2026-03-07T18:01:00Z").await;
    let sent = outbound_to(&app, &org, &jane).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[1]["channel"].as_str(), sent[1]["status"].as_str()),
        (Some("email"), Some("delivered"))
    );

    let bad = json!({
        "name": " ",
        "steps": [
            { "channel": "sms", "delay": "tomorrow", "purpose": "informational", "template": "Hi {{ first_name" },
            { "channel": "email", "delay": "P1M", "purpose": "marketing", "template": "x" }
        ],
        "enrol": { "sources": [""] }
    });
    let res = app
        .post(&org, "/api/v1/sequences", &bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let mut named = fields(&problem(res).await);
    named.sort();
    assert_eq!(
        named,
        [
            "enrol.sources[0]",
            "name",
            "steps[0].delay",
            "steps[0].template",
            "steps[1].delay",
            "steps[1].subject"
        ]
    );
    let res = app
        .post(&org, "/api/v1/sequences", &json!({ "name": "x", "steps": [{ "channel": "fax", "delay": "P1D", "purpose": "informational", "template": "x" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(fields(&problem(res).await), ["steps[0].channel"]);
    let res = app
        .post(
            &org,
            "/api/v1/sequences",
            &json!({ "name": "x", "steps": [] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res).await), ["steps"]);
}

#[tokio::test]
async fn booking_a_lead_ends_its_runs_and_opt_outs_are_not_set_by_hand() {
    let app = spawn_app().await;
    let org = organisation(&app).await;
    let mut on_change = follow_up();
    on_change["name"] = json!("Nurture");
    on_change["exit_on"] = json!(["status_change"]);
    create(&app, &org, &follow_up()).await;
    create(&app, &org, &on_change).await;
    let jane = lead(&app, &org, "3125550148").await;
    app.drain().await;
    assert_eq!(runs(&app, &org, &jane).await.len(), 2);
    let path = format!("{}/api/v1/leads/{}", app.base, jane["id"].as_str().unwrap());
    let patch = |body: Value| {
        app.client
            .patch(&path)
            .bearer_auth(&org.key)
            .json(&body)
            .send()
    };

    // Engaged: a status change ends the nurture run only.
    let res = patch(json!({ "status": "engaged" })).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "engaged");
    let states: Vec<(String, String)> = runs(&app, &org, &jane)
        .await
        .iter()
        .map(|r| {
            (
                r["state"].as_str().unwrap().to_owned(),
                r["exit_reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        states.contains(&("exited".into(), "status_change".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("active".into(), String::new())),
        "{states:?}"
    );
    // Booked: the follow-up exits on a booking.
    assert_eq!(
        patch(json!({ "status": "booked" })).await.unwrap().status(),
        200
    );
    assert!(
        runs(&app, &org, &jane)
            .await
            .iter()
            .all(|r| r["state"] == "exited")
    );
    at(&app, &org, "2026-03-10T18:00:00Z").await;
    assert_eq!(
        outbound_to(&app, &org, &jane).await.len(),
        1,
        "nothing after the first answer"
    );

    let res = patch(json!({ "status": "opted_out" })).await.unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(fields(&problem(res).await), ["status"]);
    let res = patch(json!({ "status": "signed" })).await.unwrap();
    assert_eq!(fields(&problem(res).await), ["status"]);
    // Once the person opts out, no one moves them by hand.
    text(&app, &org, "3125550148", "STOP").await;
    assert_eq!(
        patch(json!({ "status": "won" })).await.unwrap().status(),
        409
    );
}

#[tokio::test]
async fn a_step_that_does_not_render_is_skipped_and_the_run_goes_on() {
    let app = spawn_app().await;
    let org = organisation(&app).await;
    let mut body = follow_up();
    // Compiles, but renders 2,000 characters: more than an SMS may carry.
    body["steps"][0]["template"] = json!("{% for i in range(2000) %}x{% endfor %}");
    let seq = create(&app, &org, &body).await;
    let jane = lead(&app, &org, "3125550149").await;
    app.drain().await;
    let res = app
        .post(
            &org,
            &format!("/api/v1/sequences/{}/simulate", seq["id"].as_str().unwrap()),
            &json!({ "lead_id": jane["id"] }),
        )
        .send()
        .await
        .unwrap();
    let plan: Value = res.json().await.unwrap();
    assert_eq!(plan["steps"][0]["decision"], "skip");
    assert_eq!(plan["steps"][0]["skipped"], "template_error");
    at(&app, &org, "2026-03-05T18:01:00Z").await;
    let run = &runs(&app, &org, &jane).await[0];
    assert_eq!(
        (run["state"].as_str(), run["step"].as_u64()),
        (Some("active"), Some(1)),
        "{run}"
    );
    at(&app, &org, "2026-03-07T18:02:00Z").await;
    let sent = outbound_to(&app, &org, &jane).await;
    assert_eq!(sent.len(), 2, "the first answer and the email step");
    assert_eq!(sent[1]["channel"], "email");
}

#[tokio::test]
async fn tags_enrol_new_leads_and_are_kept_and_replaced() {
    let app = spawn_app().await;
    let org = organisation(&app).await;
    let mut body = follow_up();
    body["enrol"] = json!({ "tags": ["roofing"] });
    create(&app, &org, &body).await;
    let mut bad = follow_up();
    bad["enrol"] = json!({ "tags": ["Roofing Leads", "no/slash"] });
    let res = app
        .post(&org, "/api/v1/sequences", &bad)
        .send()
        .await
        .unwrap();
    assert_eq!(
        fields(&problem(res).await),
        ["enrol.tags[0]", "enrol.tags[1]"]
    );

    let post = |phone: &str, tags: Value| {
        app.post_lead(
            &org,
            json!({ "name": "Jane", "phone": phone, "source": "api", "tags": tags }),
        )
    };
    let tagged: Value = post("+13125550131", json!(["Roofing", "spring promo"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tagged["tags"], json!(["roofing", "spring-promo"]));
    let plain: Value = post("+13125550132", json!([])).await.json().await.unwrap();
    app.drain().await;
    assert_eq!(
        runs(&app, &org, &tagged).await.len(),
        1,
        "enrolled by its tag"
    );
    assert!(runs(&app, &org, &plain).await.is_empty());
    let res = post("+13125550133", json!(["bad/tag"])).await;
    assert_eq!(fields(&problem(res).await), ["tags"]);

    // A repeat submission adds its tags; PATCH replaces them.
    let again: Value = post("+13125550131", json!(["gutters"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["tags"], json!(["gutters", "roofing", "spring-promo"]));
    let res = app
        .client
        .patch(format!(
            "{}/api/v1/leads/{}",
            app.base,
            tagged["id"].as_str().unwrap()
        ))
        .bearer_auth(&org.key)
        .json(&json!({ "tags": ["vip"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let lead: Value = res.json().await.unwrap();
    assert_eq!(lead["tags"], json!(["vip"]));
    assert_eq!(lead["status"], "contacted", "the status is left alone");
}

#[tokio::test]
async fn steps_due_together_on_both_channels_go_out_together() {
    let app = spawn_app().await;
    let org = organisation(&app).await;
    let body = json!({
        "name": "Both at once",
        "steps": [
            { "channel": "sms", "delay": "P1D", "purpose": "informational",
              "template": "Hi {{ first_name }}, we sent you the quote by email." },
            { "channel": "email", "delay": "PT0S", "purpose": "informational",
              "subject": "Your quote", "template": "Here is your quote, {{ first_name }}." },
            { "channel": "sms", "delay": "PT0S", "purpose": "informational",
              "template": "Same channel as the step before it: goes after the pair." }
        ],
        "enrol": { "sources": ["web_form"] }
    });
    create(&app, &org, &body).await;
    let jane = lead(&app, &org, "+13125550161").await;
    app.drain().await;
    let before = outbound_to(&app, &org, &jane).await.len();
    app.set_clock(&org, "2026-03-05T18:00:05Z").await;
    // One job sends the pair; the third step is queued after it and sent in the same drain.
    app.drain().await;
    let sent = outbound_to(&app, &org, &jane).await;
    let new: Vec<(&str, &str)> = sent[before..]
        .iter()
        .map(|m| (m["channel"].as_str().unwrap(), m["body"].as_str().unwrap()))
        .collect();
    assert_eq!(new.len(), 3, "{new:?}");
    let pair: Vec<&str> = new[..2].iter().map(|(c, _)| *c).collect();
    assert!(pair.contains(&"sms") && pair.contains(&"email"), "{new:?}");
    assert!(new[2].1.starts_with("Same channel"), "{new:?}");
    let run = &runs(&app, &org, &jane).await[0];
    assert_eq!(run["state"], "completed");
    assert_eq!(run["step"], 3, "three steps done");
}
