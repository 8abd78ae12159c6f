//! Providers end to end, against wiremock fakes that answer with the providers' real request
//! and response shapes: leads answered through Twilio and SendGrid, status callbacks and
//! events moving messages, 21610 and bounces suppressing, inbound texts and emails joining
//! threads once, missed calls texted back, Meta leads fetched from the Graph API, and a worker
//! killed between the provider call and the record texting the person exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{GhlSigner, Options, Org, SendgridSigner, TestApp, fields, problem, spawn_app_with};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const MESSAGES: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

async fn app_with_fakes(fake: &MockServer) -> TestApp {
    app_with(fake, Options::default()).await
}

async fn app_with(fake: &MockServer, options: Options) -> TestApp {
    spawn_app_with(Options {
        endpoints: engine::integrations::Endpoints {
            twilio_api_base: fake.uri(),
            sendgrid_api_base: fake.uri(),
            meta_graph_base: fake.uri(),
            anthropic_api_base: fake.uri(),
            ghl_ed25519_public_key: Some(ghl_signer().public_pem()),
            ghl_rsa_public_key: None,
        },
        ..options
    })
    .await
}

async fn put_integration(app: &TestApp, org: &Org, provider: &str, body: Value) {
    let res = app
        .client
        .put(format!("{}/api/v1/integrations/{provider}", app.base))
        .bearer_auth(&org.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// A source of `kind`: its id and secret.
async fn source(app: &TestApp, org: &Org, kind: &str) -> (String, String) {
    let res = app
        .post(
            org,
            "/api/v1/sources",
            &json!({ "kind": kind, "name": format!("{kind} source"), "settings": {} }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn twilio_org(app: &TestApp) -> (Org, String) {
    let org = app.org("Acme Roofing").await;
    put_integration(
        app,
        &org,
        "twilio",
        json!({
            "account_sid": SID, "auth_token": TOKEN, "from": "+15005550006",
            "forward_calls_to": "+14155550199", "ring_seconds": 15
        }),
    )
    .await;
    let (id, _) = source(app, &org, "twilio").await;
    (org, id)
}

fn created(sid: &str, to: &str, body: &str) -> Value {
    json!({
        "account_sid": SID, "api_version": "2010-04-01", "body": body,
        "date_created": "Wed, 04 Mar 2026 18:00:00 +0000", "date_sent": null,
        "date_updated": "Wed, 04 Mar 2026 18:00:00 +0000", "direction": "outbound-api",
        "error_code": null, "error_message": null, "from": "+15005550006",
        "messaging_service_sid": null, "num_media": "0", "num_segments": "1", "price": null,
        "price_unit": "USD", "sid": sid, "status": "queued", "to": to,
        "uri": format!("{MESSAGES}/{sid}.json").replace(".json/", "/"),
    })
}

/// The pairs of a form-encoded request to the fake.
fn form(req: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Posts `params` to a Twilio hook, signed as Twilio signs (or with `signature`).
async fn twilio_post(
    app: &TestApp,
    path_and_query: &str,
    params: &[(&str, &str)],
    signature: Option<&str>,
) -> reqwest::Response {
    let url = format!("{}{path_and_query}", app.base);
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signed = providers::twilio::signature(TOKEN, &url, &pairs);
    app.client
        .post(url)
        .header("X-Twilio-Signature", signature.unwrap_or(&signed))
        .form(&pairs)
        .send()
        .await
        .unwrap()
}

async fn lead_messages(app: &TestApp, org: &Org) -> Vec<Value> {
    app.messages(org, "limit=50").await
}

#[tokio::test]
async fn a_lead_is_answered_through_twilio_and_status_callbacks_move_its_message() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let (org, source_id) = twilio_org(&app).await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .and(header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{SID}:{TOKEN}"))).as_str(),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(created(
            "SM00000000000000000000000000000001",
            "+14155552671",
            "Hi",
        )))
        .expect(1)
        .mount(&fake)
        .await;

    let res = app
        .post_lead(&org, json!({ "name": "Jane Doe", "phone": "+14155552671" }))
        .await;
    assert_eq!(res.status(), 201);
    app.drain().await;

    let sent = fake.received_requests().await.unwrap();
    let pairs = form(&sent[0]);
    assert_eq!(field(&pairs, "To"), Some("+14155552671"));
    assert_eq!(field(&pairs, "From"), Some("+15005550006"));
    assert!(field(&pairs, "Body").unwrap().contains("Jane"));
    let callback = field(&pairs, "StatusCallback").unwrap();
    assert!(
        callback.starts_with(&format!("{}/hooks/twilio/{source_id}/status?m=", app.base)),
        "{callback}"
    );

    let messages = lead_messages(&app, &org).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["status"], "sent");
    assert_eq!(messages[0]["provider"], "twilio");
    assert_eq!(
        messages[0]["provider_message_id"],
        "SM00000000000000000000000000000001"
    );

    // Twilio reports delivery at the callback it was given.
    let status_path = callback.trim_start_matches(&app.base).to_owned();
    let params = [
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("MessageStatus", "delivered"),
        ("AccountSid", SID),
    ];
    // A forged callback is refused and changes nothing.
    let forged = twilio_post(&app, &status_path, &params, Some("bm90IGEgc2lnbmF0dXJl")).await;
    assert_eq!(forged.status(), 401);
    assert_eq!(lead_messages(&app, &org).await[0]["status"], "sent");

    let res = twilio_post(&app, &status_path, &params, None).await;
    assert_eq!(res.status(), 204);
    assert_eq!(lead_messages(&app, &org).await[0]["status"], "delivered");
    // A late "sent" does not move it back.
    let late = [
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("MessageStatus", "sent"),
    ];
    assert_eq!(
        twilio_post(&app, &status_path, &late, None).await.status(),
        204
    );
    assert_eq!(lead_messages(&app, &org).await[0]["status"], "delivered");
}

#[tokio::test]
async fn twilio_error_21610_fails_the_message_and_suppresses_the_recipient() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let (org, _) = twilio_org(&app).await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21610, "message": "Attempt to send to unsubscribed recipient",
            "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400
        })))
        .expect(1)
        .mount(&fake)
        .await;
    app.post_lead(&org, json!({ "phone": "+14155552671" }))
        .await;
    app.drain().await;
    let messages = lead_messages(&app, &org).await;
    assert_eq!(messages[0]["status"], "failed");
    assert_eq!(messages[0]["error"], "21610");
    let dnc: Value = app
        .get(&org, "/api/v1/compliance/dnc")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = dnc.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{dnc}");
    assert_eq!(entries[0]["reason"], "provider:21610");
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_time_twilio_asks() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let (org, _) = twilio_org(&app).await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "120")
                .set_body_json(
                    json!({ "code": 20429, "message": "Too Many Requests", "status": 429 }),
                ),
        )
        .up_to_n_times(1)
        .mount(&fake)
        .await;
    // Reconciling finds nothing sent, then the second attempt goes through.
    Mock::given(method("GET"))
        .and(path(MESSAGES))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [], "next_page_uri": null, "page": 0, "page_size": 50
        })))
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(ResponseTemplate::new(201).set_body_json(created(
            "SM00000000000000000000000000000002",
            "+14155552671",
            "Hi",
        )))
        .mount(&fake)
        .await;
    app.post_lead(&org, json!({ "phone": "+14155552671" }))
        .await;
    app.drain().await;
    let messages = lead_messages(&app, &org).await;
    assert_eq!(messages[0]["status"], "sending");
    assert_eq!(messages[0]["error"], "retrying:20429");
    let jobs: Value = app
        .get(&org, "/api/v1/jobs?state=ready")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_at = jobs[0]["run_at"].as_str().unwrap();
    // RFC 3339 in UTC compares as text.
    let asked = "2026-03-04T18:02:00";
    assert!(
        run_at >= asked,
        "retried at {run_at}, before Twilio's Retry-After"
    );
    // The job keeps Twilio's code, never its text (which may quote the number).
    assert_eq!(jobs[0]["last_error"], "twilio error 20429");

    app.set_clock(&org, "2026-03-04T18:10:00Z").await;
    app.drain().await;
    let messages = lead_messages(&app, &org).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["status"], "sent");
    assert!(messages[0]["error"].is_null());
}

#[tokio::test]
async fn a_worker_killed_between_the_provider_call_and_the_record_texts_once() {
    let fake = MockServer::start().await;
    // Leases end at once, so the "restarted" worker can take the dead one's job without a wait.
    let app = app_with(
        &fake,
        Options {
            lease: Duration::ZERO,
            ..Options::default()
        },
    )
    .await;
    let (org, _) = twilio_org(&app).await;
    let sid = "SM00000000000000000000000000000003";
    // Twilio takes the message, but its answer never reaches the worker.
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(created(sid, "+14155552671", "Hi"))
                .set_delay(Duration::from_secs(300)),
        )
        .expect(1)
        .mount(&fake)
        .await;
    app.post_lead(&org, json!({ "name": "Jane", "phone": "+14155552671" }))
        .await;

    let worker = tokio::spawn({
        let engine = app.engine.clone();
        async move { engine::runner::drain(&engine).await }
    });
    // Wait until Twilio has the request, then kill the worker.
    let body = loop {
        let got = fake.received_requests().await.unwrap();
        if let Some(req) = got.first() {
            break field(&form(req), "Body").unwrap().to_owned();
        }
        tokio::task::yield_now().await;
    };
    worker.abort();
    let _ = worker.await;
    let messages = lead_messages(&app, &org).await;
    assert_eq!(
        messages[0]["status"], "sending",
        "in flight when the worker died"
    );

    // Twilio's list shows the message; the restarted worker records it instead of resending.
    Mock::given(method("GET"))
        .and(path(MESSAGES))
        .and(query_param("To", "+14155552671"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [{
                "sid": sid, "status": "delivered", "body": body, "to": "+14155552671",
                "from": "+15005550006", "date_created": "Wed, 04 Mar 2026 18:00:00 +0000"
            }],
            "next_page_uri": null, "page": 0, "page_size": 50
        })))
        .expect(1)
        .mount(&fake)
        .await;
    app.drain().await;

    let messages = lead_messages(&app, &org).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["status"], "delivered");
    assert_eq!(messages[0]["provider_message_id"], sid);
    let posts = fake
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method == wiremock::http::Method::POST)
        .count();
    assert_eq!(posts, 1, "exactly one message reached Twilio");
}

#[tokio::test]
async fn inbound_texts_join_the_thread_once_and_stop_is_confirmed_through_twilio() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let (org, source_id) = twilio_org(&app).await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(ResponseTemplate::new(201).set_body_json(created(
            "SM00000000000000000000000000000004",
            "+14155552671",
            "Hi",
        )))
        .mount(&fake)
        .await;
    app.post_lead(&org, json!({ "name": "Jane", "phone": "+14155552671" }))
        .await;
    app.drain().await;

    let hook = format!("/hooks/twilio/{source_id}");
    let stop = [
        ("MessageSid", "SMin0000000000000000000000000001"),
        ("From", "+14155552671"),
        ("To", "+15005550006"),
        ("Body", "Stop"),
        ("SmsStatus", "received"),
    ];
    assert_eq!(
        twilio_post(&app, &hook, &stop, Some("AAAA")).await.status(),
        401
    );
    for _ in 0..2 {
        let res = twilio_post(&app, &hook, &stop, None).await;
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("<Response>"));
    }
    app.drain().await;
    let inbound = app.messages(&org, "direction=inbound").await;
    assert_eq!(inbound.len(), 1, "a delivery Twilio repeats is taken once");
    assert!(inbound[0]["lead_id"].is_string());
    let outbound = app.messages(&org, "direction=outbound").await;
    assert_eq!(outbound.len(), 2, "the first answer and one confirmation");
    let confirmation = fake.received_requests().await.unwrap();
    let last = form(confirmation.last().unwrap());
    assert!(
        field(&last, "Body")
            .unwrap()
            .to_lowercase()
            .contains("unsubscribed"),
        "{last:?}"
    );
}

#[tokio::test]
async fn a_missed_call_becomes_a_lead_and_is_texted_back_once() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let (org, source_id) = twilio_org(&app).await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .and(body_string_contains("missed"))
        .respond_with(ResponseTemplate::new(201).set_body_json(created(
            "SM00000000000000000000000000000005",
            "+14155552671",
            "Sorry we missed your call",
        )))
        .expect(1)
        .mount(&fake)
        .await;

    let call = [
        ("CallSid", "CA00000000000000000000000000000001"),
        ("From", "+14155552671"),
        ("To", "+15005550006"),
        ("CallStatus", "ringing"),
    ];
    let res = twilio_post(
        &app,
        &format!("/hooks/twilio/{source_id}/voice"),
        &call,
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let twiml = res.text().await.unwrap();
    assert!(twiml.contains("<Dial timeout=\"15\""), "{twiml}");
    assert!(twiml.contains("<Number>+14155550199</Number>"), "{twiml}");
    assert!(twiml.contains(&format!("/hooks/twilio/{source_id}/voice/done")));

    let done = [
        ("CallSid", "CA00000000000000000000000000000001"),
        ("From", "+14155552671"),
        ("To", "+15005550006"),
        ("DialCallStatus", "no-answer"),
    ];
    for _ in 0..2 {
        let res = twilio_post(
            &app,
            &format!("/hooks/twilio/{source_id}/voice/done"),
            &done,
            None,
        )
        .await;
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("<Hangup/>"));
    }
    app.drain().await;
    let leads: Value = app
        .get(&org, "/api/v1/leads")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(leads["data"].as_array().unwrap().len(), 1);
    assert_eq!(leads["data"][0]["source"], "missed_call");
    assert_eq!(leads["data"][0]["status"], "contacted");

    // An answered call is not a lead.
    let answered = [
        ("CallSid", "CA00000000000000000000000000000002"),
        ("From", "+14155552672"),
        ("DialCallStatus", "completed"),
    ];
    twilio_post(
        &app,
        &format!("/hooks/twilio/{source_id}/voice/done"),
        &answered,
        None,
    )
    .await;
    app.drain().await;
    let leads: Value = app
        .get(&org, "/api/v1/leads")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(leads["data"].as_array().unwrap().len(), 1);
}

async fn sendgrid_org(app: &TestApp, signer: &SendgridSigner) -> (Org, String, String) {
    let org = app.org("Acme Roofing").await;
    put_integration(
        app,
        &org,
        "sendgrid",
        json!({
            "api_key": "SG.test-key-0123456789abcdef",
            "from_email": "hello@acme.example",
            "event_webhook_public_key": signer.public_key(),
        }),
    )
    .await;
    let (id, secret) = source(app, &org, "sendgrid").await;
    (org, id, secret)
}

#[tokio::test]
async fn emails_go_through_sendgrid_and_events_move_and_suppress_once_each() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let signer = SendgridSigner::new();
    let (org, source_id, _) = sendgrid_org(&app, &signer).await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .and(header(
            "authorization",
            "Bearer SG.test-key-0123456789abcdef",
        ))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "sgmsg0001"))
        .expect(1)
        .mount(&fake)
        .await;
    app.post_lead(
        &org,
        json!({ "name": "Jane", "email": "jane@example.com", "zip": "94105" }),
    )
    .await;
    app.drain().await;
    let sent = fake.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1, "{:?}", lead_messages(&app, &org).await);
    let mail: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(
        mail["personalizations"][0]["to"][0]["email"],
        "jane@example.com"
    );
    assert_eq!(mail["from"]["email"], "hello@acme.example");
    let ours = mail["personalizations"][0]["custom_args"]["leadline_message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let messages = lead_messages(&app, &org).await;
    assert_eq!(messages[0]["id"], ours.as_str());
    assert_eq!(messages[0]["provider_message_id"], "sgmsg0001");
    assert_eq!(messages[0]["status"], "sent");

    let events_path = format!("{}/hooks/sendgrid/{source_id}/events", app.base);
    let post = |body: String, signature: Option<String>| {
        let ts = domain::clock::wall_clock_now().as_second().to_string();
        let sig = signature.unwrap_or_else(|| signer.sign(&ts, &body));
        app.client
            .post(&events_path)
            .header("X-Twilio-Email-Event-Webhook-Signature", sig)
            .header("X-Twilio-Email-Event-Webhook-Timestamp", ts)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let delivered = json!([{
        "email": "jane@example.com", "timestamp": 1772647200, "event": "delivered",
        "sg_event_id": "ZGVsaXZlcmVk", "sg_message_id": "sgmsg0001.filter0001.1.0",
        "leadline_message_id": ours, "response": "250 OK"
    }])
    .to_string();
    let forged = post(delivered.clone(), Some(signer.sign("1", "other")))
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert_eq!(post(delivered.clone(), None).await.unwrap().status(), 204);
    assert_eq!(lead_messages(&app, &org).await[0]["status"], "delivered");

    // A click warms the lead, and changes nothing about the message.
    let engagement = || async {
        let leads: Value = app
            .get(&org, "/api/v1/leads")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        leads["data"][0]["engagement"].clone()
    };
    assert_eq!(engagement().await, "cold");
    let click = json!([{
        "email": "jane@example.com", "timestamp": 1772647250, "event": "click",
        "sg_event_id": "Y2xpY2s", "sg_message_id": "sgmsg0001.filter0001.1.0",
        "leadline_message_id": ours, "url": "https://acme.example/quote"
    }])
    .to_string();
    assert_eq!(post(click, None).await.unwrap().status(), 204);
    assert_eq!(engagement().await, "warm");
    assert_eq!(lead_messages(&app, &org).await[0]["status"], "delivered");

    // A spam report suppresses the address; the same event again does nothing more.
    let spam = json!([{
        "email": "jane@example.com", "timestamp": 1772647300, "event": "spamreport",
        "sg_event_id": "c3BhbQ", "sg_message_id": "sgmsg0001.filter0001.1.0",
        "leadline_message_id": ours
    }, { "not": "an event" }])
    .to_string();
    for _ in 0..2 {
        assert_eq!(post(spam.clone(), None).await.unwrap().status(), 204);
    }
    let dnc: Value = app
        .get(&org, "/api/v1/compliance/dnc")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = dnc.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["reason"], "provider:spamreport");
}

fn multipart(fields: &[(&str, &str)]) -> (String, String) {
    let boundary = "xYzZY";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn inbound_parse_joins_email_replies_to_the_thread_with_the_source_token() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let signer = SendgridSigner::new();
    let (org, source_id, secret) = sendgrid_org(&app, &signer).await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "sgmsg0002"))
        .mount(&fake)
        .await;
    app.post_lead(
        &org,
        json!({ "name": "Jane", "email": "jane@example.com", "zip": "94105" }),
    )
    .await;
    app.drain().await;

    let (content_type, body) = multipart(&[
        ("from", "Jane Doe <jane@example.com>"),
        ("to", "replies@acme.example"),
        ("subject", "Re: Thanks for contacting Acme"),
        (
            "text",
            "Tuesday works for me.\n\nOn Wed, Mar 4, 2026 Acme wrote:\n> Thanks",
        ),
        (
            "headers",
            "Message-ID: <abc@mail.example.com>\nSubject: Re: Thanks",
        ),
        (
            "envelope",
            r#"{"to":["replies@acme.example"],"from":"jane@example.com"}"#,
        ),
    ]);
    let url = |token: &str| {
        format!(
            "{}/hooks/sendgrid/{source_id}/inbound?token={token}",
            app.base
        )
    };
    let wrong = app
        .client
        .post(url("llwh_wrong"))
        .header("content-type", &content_type)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    for _ in 0..2 {
        let res = app
            .client
            .post(url(&secret))
            .header("content-type", &content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    let inbound = app.messages(&org, "direction=inbound").await;
    assert_eq!(inbound.len(), 1);
    assert!(inbound[0]["lead_id"].is_string());
    let text = inbound[0]["body"].as_str().unwrap();
    assert!(text.contains("Tuesday works for me."), "{text}");
    assert!(!text.contains("> Thanks"), "quoted history is cut: {text}");
}

#[tokio::test]
async fn meta_leads_are_fetched_from_the_graph_api_with_their_consent() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let org = app.org("Acme Roofing").await;
    put_integration(
        &app,
        &org,
        "meta",
        json!({
            "app_secret": "test_app_secret_0123",
            "verify_token": "verify-me-please",
            "page_access_token": "EAAB-page-token-0123456789",
        }),
    )
    .await;
    let (source_id, _) = source(&app, &org, "meta").await;
    let hook = format!("{}/hooks/meta/{source_id}", app.base);

    // The subscription handshake answers our token only.
    let ok = app
        .client
        .get(format!(
            "{hook}?hub.mode=subscribe&hub.verify_token=verify-me-please&hub.challenge=1158201444"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let bad = app
        .client
        .get(format!(
            "{hook}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);

    for (id, name, phone) in [
        ("900001", "Jane Doe", "+14155552671"),
        ("900002", "John Roe", "(415) 555-2672"),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/v21.0/{id}")))
            .and(query_param("access_token", "EAAB-page-token-0123456789"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": id, "created_time": "2026-03-04T17:59:00+0000", "form_id": "77001",
                "ad_id": "55001",
                "field_data": [
                    { "name": "full_name", "values": [name] },
                    { "name": "phone_number", "values": [phone] },
                    { "name": "zip_code", "values": ["94105"] },
                    { "name": "what_service_do_you_need?", "values": ["Roof repair"] }
                ],
                "custom_disclaimer_responses": [{ "checkbox_key": "sms_ok", "is_checked": "1" }]
            })))
            .expect(1)
            .mount(&fake)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/v21.0/77001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "77001", "name": "Spring roof offer",
            "legal_content": { "id": "1", "custom_disclaimer": {
                "title": "Consent",
                "body": { "text": "By submitting you agree Acme Roofing may text you." },
                "checkboxes": [{ "key": "sms_ok", "text": "Yes, text me", "is_required": true }]
            }}
        })))
        .mount(&fake)
        .await;

    // Two entries, one change each: both are taken.
    let delivery = json!({ "object": "page", "entry": [
        { "id": "138124712925158", "time": 1772647140, "changes": [
            { "field": "leadgen", "value": { "leadgen_id": "900001", "form_id": "77001", "page_id": "138124712925158" } } ] },
        { "id": "138124712925158", "time": 1772647141, "changes": [
            { "field": "leadgen", "value": { "leadgen_id": "900002", "form_id": "77001", "page_id": "138124712925158" } },
            { "field": "feed", "value": {} } ] }
    ]})
    .to_string();
    let sign = |body: &str| {
        use hmac_sig::sign;
        sign("test_app_secret_0123", body)
    };
    let unsigned = app
        .client
        .post(&hook)
        .body(delivery.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    for _ in 0..2 {
        let res = app
            .client
            .post(&hook)
            .header("X-Hub-Signature-256", sign(&delivery))
            .header("content-type", "application/json")
            .body(delivery.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    app.drain().await;
    let leads: Value = app
        .get(&org, "/api/v1/leads")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let leads = leads["data"].as_array().unwrap();
    assert_eq!(leads.len(), 2);
    assert!(
        leads
            .iter()
            .all(|l| l["source"] == "facebook" && l["zip"] == "94105")
    );
    let jane = leads.iter().find(|l| l["name"] == "Jane Doe").unwrap();
    assert_eq!(
        jane["details"],
        json!({ "what_service_do_you_need?": "Roof repair" }),
        "the form's custom question is kept with the lead"
    );
    let consent: Value = app
        .get(
            &org,
            &format!(
                "/api/v1/compliance/consent/{}",
                jane["id"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = consent.to_string();
    assert!(text.contains("Acme Roofing may text you"), "{text}");
    assert!(text.contains("[x] Yes, text me"), "{text}");
}

/// HMAC-SHA256 as Meta signs.
mod hmac_sig {
    pub fn sign(secret: &str, body: &str) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, body.as_bytes());
        format!("sha256={}", hex_encode(tag.as_ref()))
    }

    fn hex_encode(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[tokio::test]
async fn integrations_are_write_only_validated_by_field_and_per_organisation() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let org = app.org("Acme").await;
    let other = app.org("Other").await;
    let put = |org: &Org, provider: &str, body: Value| {
        app.client
            .put(format!("{}/api/v1/integrations/{provider}", app.base))
            .bearer_auth(&org.key)
            .json(&body)
            .send()
    };
    let res = put(
        &org,
        "twilio",
        json!({ "account_sid": "AC123", "auth_token": "short", "from": "555" }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    let p = problem(res).await;
    assert_eq!(fields(&p), ["account_sid", "auth_token", "from"]);
    let res = put(&org, "twilio", json!({ "account_sid": SID }))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = put(
        &org,
        "sendgrid",
        json!({
            "api_key": "SG.x", "from_email": "nope", "event_webhook_public_key": "AAAA"
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        fields(&problem(res).await),
        ["api_key", "from_email", "event_webhook_public_key"]
    );
    assert_eq!(put(&org, "stripe", json!({})).await.unwrap().status(), 404);

    let res = put(
        &org,
        "twilio",
        json!({ "account_sid": SID, "auth_token": TOKEN, "messaging_service_sid": "MGfedcba9876543210fedcba9876543210" }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains(TOKEN) && !text.contains(SID), "{text}");
    let listed = app
        .get(&org, "/api/v1/integrations")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(TOKEN), "{listed}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["provider"], "twilio");
    assert_eq!(listed[0]["set"], true);
    assert_eq!(listed[0]["hints"]["auth_token"], "••••cdef");
    let theirs: Value = app
        .get(&other, "/api/v1/integrations")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        theirs[0]["set"], false,
        "another organisation sees nothing of it"
    );

    // Sent through the Messaging Service; the test message reports what Twilio said.
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .and(body_string_contains(
            "MessagingServiceSid=MGfedcba9876543210fedcba9876543210",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(created(
            "SM00000000000000000000000000000009",
            "+14155552671",
            "test",
        )))
        .expect(1)
        .mount(&fake)
        .await;
    let res = app
        .post(
            &org,
            "/api/v1/integrations/twilio/test",
            &json!({ "to": "+14155552671" }),
        )
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["outcome"], "sent", "{body}");
    assert_eq!(
        body["provider_message_id"],
        "SM00000000000000000000000000000009"
    );
    let res = app
        .post(
            &other,
            "/api/v1/integrations/twilio/test",
            &json!({ "to": "+14155552671" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "not set up in the other organisation");

    let res = app
        .client
        .delete(format!("{}/api/v1/integrations/twilio", app.base))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // Back on the sandbox.
    app.post_lead(&org, json!({ "phone": "+14155552673" }))
        .await;
    app.drain().await;
    let messages = app.messages(&org, "to=%2B14155552673").await;
    assert_eq!(messages[0]["provider"], "sandbox");
}

#[tokio::test]
async fn the_email_sender_name_follows_the_business_name() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let signer = SendgridSigner::new();
    let (org, _, _) = sendgrid_org(&app, &signer).await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "sgmsg0003"))
        .expect(2)
        .mount(&fake)
        .await;
    let from_name = |n: usize| {
        let fake = &fake;
        async move {
            let sent = fake.received_requests().await.unwrap();
            let mail: Value = serde_json::from_slice(&sent[n].body).unwrap();
            mail["from"]["name"].as_str().unwrap_or_default().to_owned()
        }
    };
    let res = app
        .client
        .put(format!("{}/api/v1/settings", app.base))
        .bearer_auth(&org.key)
        .json(&json!({ "business_name": "Acme Roofing" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.post_lead(&org, json!({ "email": "jane@example.com", "zip": "94105" }))
        .await;
    app.drain().await;
    assert_eq!(from_name(0).await, "Acme Roofing");

    let res = app
        .client
        .put(format!("{}/api/v1/settings", app.base))
        .bearer_auth(&org.key)
        .json(&json!({ "business_name": "Acme Roofing & Gutters" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.post_lead(&org, json!({ "email": "john@example.com", "zip": "94105" }))
        .await;
    app.drain().await;
    assert_eq!(from_name(1).await, "Acme Roofing & Gutters");
}

/// GoHighLevel's key in these tests (configured as the published one).
fn ghl_signer() -> GhlSigner {
    GhlSigner::new(42)
}

async fn ghl_post(app: &TestApp, source_id: &str, body: &Value, signature: Option<&str>) -> u16 {
    let body = body.to_string();
    app.client
        .post(format!("{}/hooks/ghl/{source_id}", app.base))
        .header("content-type", "application/json")
        .header(
            "x-ghl-signature",
            signature.map_or_else(|| ghl_signer().sign(body.as_bytes()), str::to_owned),
        )
        .header("x-wh-signature", "N/A")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn leads(app: &TestApp, org: &Org) -> Vec<Value> {
    let leads: Value = app
        .get(org, "/api/v1/leads")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    leads["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn gohighlevel_contacts_become_leads_and_inbound_messages_join_their_thread() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let (org, _) = twilio_org(&app).await;
    put_integration(
        &app,
        &org,
        "ghl",
        json!({ "location_id": "ve9EPM428h8vShlRW1KT" }),
    )
    .await;
    let (source_id, _) = source(&app, &org, "ghl").await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(ResponseTemplate::new(201).set_body_json(created(
            "SM00000000000000000000000000000009",
            "+14155552671",
            "Hi",
        )))
        .mount(&fake)
        .await;
    let now = domain::clock::wall_clock_now();
    let contact = |webhook: &str, id: &str, phone: &str, dnd: bool| {
        json!({
            "type": "ContactCreate", "locationId": "ve9EPM428h8vShlRW1KT", "id": id,
            "firstName": "Jane", "lastName": "Doe", "email": format!("{id}@example.com"),
            "phone": phone, "postalCode": "94105", "city": "San Francisco", "state": "CA",
            "dnd": dnd, "tags": ["roof"], "dateAdded": "2026-03-04T17:59:00.000Z",
            "customFields": [], "timestamp": now.to_string(), "webhookId": webhook,
        })
    };

    // Refused: no signature, a wrong one, a stale timestamp, a body changed after signing.
    let jane = contact("wh-1", "c1", "+14155552671", false);
    assert_eq!(ghl_post(&app, &source_id, &jane, Some("N/A")).await, 401);
    assert_eq!(ghl_post(&app, &source_id, &jane, Some("AAAA")).await, 401);
    let mut stale = jane.clone();
    stale["timestamp"] = json!(
        now.checked_sub(jiff::SignedDuration::from_mins(6))
            .unwrap()
            .to_string()
    );
    assert_eq!(ghl_post(&app, &source_id, &stale, None).await, 401);
    let signed = ghl_signer().sign(jane.to_string().as_bytes());
    let mut changed = jane.clone();
    changed["phone"] = json!("+14155550000");
    assert_eq!(
        ghl_post(&app, &source_id, &changed, Some(&signed)).await,
        401
    );
    assert!(
        leads(&app, &org).await.is_empty(),
        "nothing refused was taken"
    );

    // Taken once, however often GoHighLevel delivers it; answered through Twilio.
    for _ in 0..2 {
        assert_eq!(ghl_post(&app, &source_id, &jane, None).await, 200);
    }
    // Another location's event (signed by GoHighLevel all the same) is not this organisation's.
    let mut other = contact("wh-2", "c2", "+14155552672", false);
    other["locationId"] = json!("someOtherLocation01");
    assert_eq!(ghl_post(&app, &source_id, &other, None).await, 200);
    // A contact marked Do Not Disturb is a lead that is never messaged.
    let quiet = contact("wh-3", "c3", "+14155552673", true);
    assert_eq!(ghl_post(&app, &source_id, &quiet, None).await, 200);
    app.drain().await;

    let all = leads(&app, &org).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.iter()
            .all(|l| l["source"] == "gohighlevel" && l["name"] == "Jane Doe")
    );
    let sent = app.messages(&org, "direction=outbound").await;
    let delivered: Vec<&Value> = sent.iter().filter(|m| m["status"] == "sent").collect();
    assert_eq!(
        delivered.len(),
        1,
        "only the contact without DND is texted: {sent:?}"
    );
    assert_eq!(delivered[0]["to"], "+14155552671");
    let to_twilio = fake.received_requests().await.unwrap();
    assert_eq!(to_twilio.len(), 1);

    // Her reply, through GoHighLevel's conversation, joins her thread; STOP suppresses.
    let reply = |webhook: &str, message: &str, text: &str| {
        json!({
            "type": "InboundMessage", "locationId": "ve9EPM428h8vShlRW1KT", "attachments": [],
            "body": text, "contactId": "c1", "contentType": "text/plain",
            "conversationId": "conv1", "dateAdded": "2026-03-04T18:01:00.000Z",
            "direction": "inbound", "messageType": "SMS", "status": "delivered",
            "messageId": message, "from": "+14155552671", "to": "+15005550006",
            "timestamp": now.to_string(), "webhookId": webhook,
        })
    };
    assert_eq!(
        ghl_post(
            &app,
            &source_id,
            &reply("wh-4", "m1", "Yes, Tuesday works"),
            None
        )
        .await,
        200
    );
    // The same message in a new delivery (a new webhookId) is still taken once.
    assert_eq!(
        ghl_post(
            &app,
            &source_id,
            &reply("wh-5", "m1", "Yes, Tuesday works"),
            None
        )
        .await,
        200
    );
    let inbound = app.messages(&org, "direction=inbound").await;
    assert_eq!(inbound.len(), 1, "{inbound:?}");
    let jane_id = all.iter().find(|l| l["phone"] == "+14155552671").unwrap()["id"].clone();
    assert_eq!(inbound[0]["lead_id"], jane_id);
    // A call or a chat message is not a channel Leadline answers on.
    let mut call = reply("wh-6", "m2", "");
    call["messageType"] = json!("CALL");
    assert_eq!(ghl_post(&app, &source_id, &call, None).await, 200);
    assert_eq!(app.messages(&org, "direction=inbound").await.len(), 1);
}

#[tokio::test]
async fn a_text_from_a_stranger_makes_them_a_lead_and_is_answered() {
    let fake = MockServer::start().await;
    let app = app_with_fakes(&fake).await;
    let (org, source_id) = twilio_org(&app).await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(ResponseTemplate::new(201).set_body_json(created(
            "SM00000000000000000000000000000010",
            "+14155552690",
            "Hi",
        )))
        .mount(&fake)
        .await;
    let hook = format!("/hooks/twilio/{source_id}");
    let text = |sid: &'static str, from: &'static str, body: &'static str| {
        [
            ("MessageSid", sid),
            ("From", from),
            ("To", "+15005550006"),
            ("Body", body),
            ("SmsStatus", "received"),
        ]
    };
    let res = twilio_post(
        &app,
        &hook,
        &text(
            "SMin0000000000000000000000000010",
            "+14155552690",
            "Do you fix gutters?",
        ),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    // A stranger's STOP is a suppression, not a lead.
    let res = twilio_post(
        &app,
        &hook,
        &text("SMin0000000000000000000000000011", "+14155552691", "STOP"),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    app.drain().await;

    let all = leads(&app, &org).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["phone"], "+14155552690");
    assert_eq!(all[0]["source"], "inbound_sms");
    let inbound = app.messages(&org, "direction=inbound").await;
    let question = inbound
        .iter()
        .find(|m| m["from"] == "+14155552690")
        .unwrap();
    assert_eq!(question["lead_id"], all[0]["id"]);
    let answered: Vec<Value> = app
        .messages(&org, "direction=outbound")
        .await
        .into_iter()
        .filter(|m| m["to"] == "+14155552690")
        .collect();
    assert_eq!(answered.len(), 1, "the first response, once: {answered:?}");
}
