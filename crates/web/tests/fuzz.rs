//! Thousands of random and mutated requests at every endpoint: never a 5xx, always a problem
//! body for errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::spawn_app;
use serde_json::{Value, json};

fn random_value(rng: &mut fastrand::Rng, depth: u32) -> Value {
    match rng.u8(0..if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.bool()),
        2 => json!(rng.i64(..)),
        3 => json!(rng.f64() * 1e12),
        4 => Value::String(random_string(rng)),
        5 => Value::Array(
            (0..rng.usize(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.usize(0..4) {
                m.insert(random_string(rng), random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

fn random_string(rng: &mut fastrand::Rng) -> String {
    const SAMPLES: &[&str] = &[
        "",
        " ",
        "3125550142",
        "+13125550142",
        "+44 20 7946 0958",
        "jane@example.com",
        "STOP",
        "P1D",
        "PT-5M",
        "2026-03-04T18:00:00Z",
        "9999-12-31T23:59:59Z",
        "America/Chicago",
        "transactional",
        "marketing",
        "\u{0}",
        "\u{202e}evil",
        "<script>",
        "'; DROP TABLE leads; --",
        "🙂",
        "sms",
        "email",
        "fax",
    ];
    if rng.bool() {
        SAMPLES[rng.usize(..SAMPLES.len())].to_owned()
    } else {
        (0..rng.usize(0..40)).map(|_| rng.char(..)).collect()
    }
}

fn valid_lead(rng: &mut fastrand::Rng) -> Value {
    json!({
        "name": "Jane Doe",
        "phone": format!("312555{:04}", rng.u32(0..10_000)),
        "email": "jane@example.com",
        "source": "web_form",
        "consent": { "disclosure_text": "I agree", "purposes": ["transactional"], "timestamp": "2026-03-04T17:00:00Z" }
    })
}

/// A valid body with one field replaced, removed or added.
fn mutate(rng: &mut fastrand::Rng, mut body: Value) -> Value {
    let Value::Object(map) = &mut body else {
        return body;
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    match rng.u8(0..3) {
        0 if !keys.is_empty() => {
            let key = &keys[rng.usize(..keys.len())];
            map.insert(key.clone(), random_value(rng, 0));
        }
        1 if !keys.is_empty() => {
            map.remove(&keys[rng.usize(..keys.len())]);
        }
        _ => {
            map.insert(random_string(rng), random_value(rng, 0));
        }
    }
    body
}

fn mangle_bytes(rng: &mut fastrand::Rng, bytes: &mut Vec<u8>) {
    for _ in 0..rng.usize(1..4) {
        if bytes.is_empty() {
            bytes.push(rng.u8(..));
            continue;
        }
        let at = rng.usize(..bytes.len());
        match rng.u8(0..3) {
            0 => bytes[at] = rng.u8(..),
            1 => bytes.truncate(at),
            _ => bytes.insert(at, rng.u8(..)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_input_never_breaks_the_server() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let mut rng = fastrand::Rng::with_seed(0x1ead_11e5);
    let posts = [
        "/api/v1/leads",
        "/api/v1/sandbox/inbound",
        "/api/v1/sandbox/clock",
    ];
    let gets = ["/api/v1/leads", "/api/v1/messages", "/api/v1/jobs"];
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..3000 {
        let res = match i % 4 {
            // A valid lead, mutated field by field.
            0 | 1 => {
                let path = posts[rng.usize(..posts.len())];
                let base = match path {
                    "/api/v1/leads" => valid_lead(&mut rng),
                    "/api/v1/sandbox/inbound" => {
                        json!({ "from": "3125550142", "body": "hello", "channel": "sms" })
                    }
                    _ => json!({ "advance": "PT1M" }),
                };
                let body = mutate(&mut rng, base);
                app.post(&org, path, &body).send().await.unwrap()
            }
            // Raw bytes: broken JSON, odd content types.
            2 => {
                let path = posts[rng.usize(..posts.len())];
                let mut bytes = serde_json::to_vec(&valid_lead(&mut rng)).unwrap();
                mangle_bytes(&mut rng, &mut bytes);
                let content_type = [
                    "application/json",
                    "application/problem+json",
                    "text/plain",
                    "application/x-www-form-urlencoded",
                ][rng.usize(..4)];
                app.client
                    .post(format!("{}{path}", app.base))
                    .bearer_auth(&org.key)
                    .header("content-type", content_type)
                    .body(bytes)
                    .send()
                    .await
                    .unwrap()
            }
            // Query strings and path ids.
            _ => {
                let path = gets[rng.usize(..gets.len())];
                let params = [
                    "status",
                    "source",
                    "phone",
                    "email",
                    "cursor",
                    "limit",
                    "lead_id",
                    "to",
                    "direction",
                    "state",
                    "x",
                ];
                let mut query = String::new();
                for _ in 0..rng.usize(0..4) {
                    let value: String = url_encode(&random_string(&mut rng));
                    query.push_str(&format!("{}={}&", params[rng.usize(..params.len())], value));
                }
                let url = if rng.u8(0..5) == 0 {
                    format!(
                        "{}/api/v1/leads/{}",
                        app.base,
                        url_encode(&random_string(&mut rng))
                    )
                } else {
                    format!("{}{path}?{query}", app.base)
                };
                app.client
                    .get(url)
                    .bearer_auth(&org.key)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let status = res.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        assert!(
            status < 500,
            "request {i} got {status}: {}",
            res.text().await.unwrap_or_default()
        );
        if status >= 400 {
            assert_eq!(
                res.headers()["content-type"],
                "application/problem+json",
                "request {i}"
            );
        }
        // Keep the clock from drifting out of range.
        if i % 500 == 0 {
            app.clock.set("2026-03-04T18:00:00Z".parse().unwrap());
        }
    }
    // The mix exercised both acceptance and refusal.
    assert!(
        statuses.keys().any(|s| *s < 300) && statuses.keys().any(|s| *s >= 400),
        "{statuses:?}"
    );
    app.drain().await;
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_input_to_sign_in_and_settings_never_breaks_the_server() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    app.member(
        &org,
        "owner@acme.test",
        domain::Role::Owner,
        "correct horse battery staple",
    )
    .await;
    let session = app
        .session("owner@acme.test", "correct horse battery staple")
        .await;
    let access = session["access_token"].as_str().unwrap().to_owned();
    let mut rng = fastrand::Rng::with_seed(0x5e55_1075);
    let bodies: [(&str, Value); 8] = [
        (
            "/api/v1/auth/login",
            json!({ "email": "owner@acme.test", "password": "guess" }),
        ),
        ("/api/v1/auth/refresh", json!({ "refresh_token": "x" })),
        (
            "/api/v1/auth/password/forgot",
            json!({ "email": "owner@acme.test" }),
        ),
        (
            "/api/v1/auth/password/reset",
            json!({ "token": "x", "new_password": "a long new password" }),
        ),
        (
            "/api/v1/auth/invitations/accept",
            json!({ "token": "x", "password": "a long new password" }),
        ),
        (
            "/api/v1/auth/signup",
            json!({ "organisation_name": "X", "email": "x@example.com", "password": "a long password" }),
        ),
        (
            "/api/v1/api-keys",
            json!({ "name": "zapier", "scopes": ["leads:read"] }),
        ),
        (
            "/api/v1/invitations",
            json!({ "email": "new@example.com", "role": "agent" }),
        ),
    ];
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..800 {
        let res = match i % 4 {
            0 | 1 => {
                let (path, base) = &bodies[rng.usize(..bodies.len())];
                let body = mutate(&mut rng, base.clone());
                app.client
                    .post(format!("{}{path}", app.base))
                    .bearer_auth(&access)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
            2 => {
                let body = mutate(
                    &mut rng,
                    json!({ "business_name": "Acme", "secrets": { "tax_id": "12-3456789" } }),
                );
                app.client
                    .put(format!("{}/api/v1/settings", app.base))
                    .bearer_auth(&access)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
            // A mangled access token: never accepted, never a 5xx.
            _ => {
                let mut bytes = access.clone().into_bytes();
                mangle_bytes(&mut rng, &mut bytes);
                let token = String::from_utf8_lossy(&bytes).into_owned();
                let path =
                    ["/api/v1/auth/sessions", "/api/v1/leads", "/api/v1/settings"][rng.usize(..3)];
                let res = app
                    .client
                    .get(format!("{}{path}", app.base))
                    .header("authorization", format!("Bearer {token}"))
                    .send()
                    .await;
                match res {
                    Ok(res) => {
                        if token != access {
                            assert!(
                                res.status() == 401 || res.status() == 403,
                                "a mangled token got {}",
                                res.status()
                            );
                        }
                        res
                    }
                    // A header value the client itself refuses to send.
                    Err(_) => continue,
                }
            }
        };
        let status = res.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        assert!(
            status < 500,
            "request {i} got {status}: {}",
            res.text().await.unwrap_or_default()
        );
    }
    assert!(
        statuses.keys().any(|s| (400..500).contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_input_to_compliance_never_breaks_the_server() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let mut rng = fastrand::Rng::with_seed(0xc0_11_5e_17);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..1500 {
        let (res, html) = match i % 6 {
            // The dry run, a valid body mutated.
            0 => {
                let base = json!({ "to": "3125550142", "purpose": "marketing", "channel": "sms",
                                   "at": "2026-03-04T18:00:00Z" });
                let body = mutate(&mut rng, base);
                (
                    app.post(&org, "/api/v1/compliance/check", &body)
                        .send()
                        .await
                        .unwrap(),
                    false,
                )
            }
            // A do-not-call CSV, mangled.
            1 => {
                let mut bytes = b"name,address\nJoe,312-555-0100\nBo,bo@example.com\n".to_vec();
                mangle_bytes(&mut rng, &mut bytes);
                (
                    app.client
                        .post(format!("{}/api/v1/compliance/dnc/import", app.base))
                        .bearer_auth(&org.key)
                        .header("content-type", "text/csv")
                        .body(bytes)
                        .send()
                        .await
                        .unwrap(),
                    false,
                )
            }
            // A registry file, mangled, with a random snapshot time.
            2 => {
                let mut bytes = b"2125550199\n3125550100\n".to_vec();
                mangle_bytes(&mut rng, &mut bytes);
                let taken = url_encode(&random_string(&mut rng));
                (
                    app.client
                        .put(format!(
                            "{}/api/v1/compliance/dnc-registry?taken_at={taken}",
                            app.base
                        ))
                        .bearer_auth(&org.key)
                        .body(bytes)
                        .send()
                        .await
                        .unwrap(),
                    false,
                )
            }
            // Addresses for the list, and review resolutions on random ids.
            3 => {
                let body = json!({ "address": random_value(&mut rng, 0) });
                let path = if rng.bool() {
                    "/api/v1/compliance/dnc".to_owned()
                } else {
                    format!(
                        "/api/v1/compliance/reviews/{}",
                        url_encode(&random_string(&mut rng))
                    )
                };
                (app.post(&org, &path, &body).send().await.unwrap(), false)
            }
            // Query strings.
            4 => {
                let path = ["/api/v1/compliance/dnc", "/api/v1/compliance/reviews"][rng.usize(..2)];
                let mut query = String::new();
                for _ in 0..rng.usize(0..3) {
                    let key = ["format", "include_lifted", "state", "x"][rng.usize(..4)];
                    query.push_str(&format!("{key}={}&", url_encode(&random_string(&mut rng))));
                }
                (
                    app.get(&org, &format!("{path}?{query}"))
                        .send()
                        .await
                        .unwrap(),
                    false,
                )
            }
            // Unsubscribe tokens: random, unauthenticated, both methods.
            _ => {
                let token = url_encode(&random_string(&mut rng));
                let url = format!("{}/u/{token}", app.base);
                let req = if rng.bool() {
                    app.client.post(url)
                } else {
                    app.client.get(url)
                };
                (req.send().await.unwrap(), true)
            }
        };
        let status = res.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        assert!(
            status < 500,
            "request {i} got {status}: {}",
            res.text().await.unwrap_or_default()
        );
        if status >= 400 && !html {
            assert_eq!(
                res.headers()["content-type"],
                "application/problem+json",
                "request {i}"
            );
        }
    }
    assert!(
        statuses.keys().any(|s| *s < 300) && statuses.keys().any(|s| *s >= 400),
        "{statuses:?}"
    );
}

/// Sets an organisation's integration, or fails the test.
async fn integrate(app: &common::TestApp, org: &common::Org, provider: &str, body: Value) {
    let res = app
        .client
        .put(format!("{}/api/v1/integrations/{provider}", app.base))
        .bearer_auth(&org.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{provider}");
}

/// Provider deliveries, mutated and then signed correctly, so that what is fuzzed is the
/// parsing and handling behind each signature check, not only the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_signed_provider_deliveries_never_break_the_server() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let token = "0123456789abcdef0123456789abcdef";
    let sendgrid = common::SendgridSigner::new();
    let ghl = common::GhlSigner::new(7);
    let meta_secret = "fuzz-app-secret-0123";
    integrate(
        &app,
        &org,
        "twilio",
        json!({ "account_sid": format!("AC{token}"), "auth_token": token, "from": "+15005550006" }),
    )
    .await;
    integrate(&app, &org, "sendgrid", json!({ "api_key": "SG.fuzz-key-0123456789", "from_email": "hi@example.com", "event_webhook_public_key": sendgrid.public_key() })).await;
    integrate(&app, &org, "meta", json!({ "app_secret": meta_secret, "verify_token": "verify-fuzz-0", "page_access_token": "EAAB-fuzz-token-0123456789" })).await;
    integrate(
        &app,
        &org,
        "ghl",
        json!({ "location_id": "loc1", "webhook_ed25519_key": ghl.public_pem() }),
    )
    .await;
    let mut ids = std::collections::BTreeMap::new();
    for kind in ["twilio", "sendgrid", "meta", "ghl"] {
        let res = app
            .post(
                &org,
                "/api/v1/sources",
                &json!({ "kind": kind, "name": kind, "settings": {} }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        ids.insert(kind, body["id"].as_str().unwrap().to_owned());
    }
    let mut rng = fastrand::Rng::with_seed(0xfeed_5eed);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..1600 {
        let now = domain::clock::wall_clock_now();
        let request = match i % 4 {
            0 => {
                // Twilio: a form, its pairs mutated; signed over the URL and the pairs as sent.
                let path = ["", "/status", "/voice", "/voice/done"][rng.usize(..4)];
                let url = format!("{}/hooks/twilio/{}{path}", app.base, ids["twilio"]);
                let base = json!({
                    "MessageSid": "SM00000000000000000000000000000001", "CallSid": "CA00000000000000000000000000000001",
                    "From": "+14155552671", "To": "+15005550006", "Body": "hello",
                    "MessageStatus": "delivered", "ErrorCode": "30003", "DialCallStatus": "no-answer",
                    "CallStatus": "ringing", "SmsStatus": "received",
                });
                let Value::Object(map) = mutate(&mut rng, base) else {
                    unreachable!()
                };
                let pairs: Vec<(String, String)> = map
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                    .collect();
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&pairs)
                    .finish();
                let parsed: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                app.client
                    .post(&url)
                    .header(
                        "X-Twilio-Signature",
                        providers::twilio::signature(token, &url, &parsed),
                    )
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
            }
            1 => {
                // SendGrid events: a batch, mutated or mangled; signed over timestamp + bytes.
                let kind = [
                    "delivered",
                    "bounce",
                    "dropped",
                    "spamreport",
                    "unsubscribe",
                    "group_unsubscribe",
                    "open",
                ][rng.usize(..7)];
                let ours = random_string(&mut rng);
                let event = mutate(
                    &mut rng,
                    json!({ "email": "jane@example.com", "event": kind,
                            "sg_event_id": format!("e{i}"), "sg_message_id": "abc.filter", "leadline_message_id": ours, "reason": "550", "type": "bounce" }),
                );
                let mut bytes = serde_json::to_vec(&json!([event])).unwrap();
                if rng.bool() {
                    mangle_bytes(&mut rng, &mut bytes);
                }
                let ts = now.as_second().to_string();
                app.client
                    .post(format!(
                        "{}/hooks/sendgrid/{}/events",
                        app.base, ids["sendgrid"]
                    ))
                    .header(
                        "X-Twilio-Email-Event-Webhook-Signature",
                        sendgrid.sign_bytes(&ts, &bytes),
                    )
                    .header("X-Twilio-Email-Event-Webhook-Timestamp", ts)
                    .body(bytes)
            }
            2 => {
                // Meta: a delivery with random entries and changes.
                let leadgen = random_string(&mut rng);
                let change = mutate(
                    &mut rng,
                    json!({ "field": "leadgen", "value": { "leadgen_id": leadgen, "form_id": "1", "page_id": "2" } }),
                );
                let entry = mutate(
                    &mut rng,
                    json!({ "id": "1", "time": 1, "changes": [change] }),
                );
                let mut bytes = serde_json::to_vec(
                    &json!({ "object": "page", "entry": [entry, random_value(&mut rng, 0)] }),
                )
                .unwrap();
                if rng.u8(0..3) == 0 {
                    mangle_bytes(&mut rng, &mut bytes);
                }
                let key =
                    aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, meta_secret.as_bytes());
                let tag = aws_lc_rs::hmac::sign(&key, &bytes);
                let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                app.client
                    .post(format!("{}/hooks/meta/{}", app.base, ids["meta"]))
                    .header("X-Hub-Signature-256", format!("sha256={hex}"))
                    .body(bytes)
            }
            _ => {
                // GoHighLevel: contacts and messages, mutated; signed with the integration's key.
                let channel = ["SMS", "Email", "CALL", "x"][rng.usize(..4)];
                let base = if rng.bool() {
                    json!({ "type": "ContactCreate", "locationId": "loc1", "id": random_string(&mut rng), "phone": random_string(&mut rng),
                            "email": random_string(&mut rng), "firstName": random_string(&mut rng), "dnd": rng.bool(), "timezone": random_string(&mut rng),
                            "timestamp": now.to_string(), "webhookId": format!("w{i}") })
                } else {
                    json!({ "type": "InboundMessage", "locationId": "loc1", "messageType": channel, "direction": "inbound",
                            "body": random_string(&mut rng), "from": random_string(&mut rng), "messageId": random_string(&mut rng),
                            "timestamp": now.to_string(), "webhookId": format!("w{i}") })
                };
                let mut bytes = serde_json::to_vec(&mutate(&mut rng, base)).unwrap();
                if rng.u8(0..4) == 0 {
                    mangle_bytes(&mut rng, &mut bytes);
                }
                app.client
                    .post(format!("{}/hooks/ghl/{}", app.base, ids["ghl"]))
                    .header("x-ghl-signature", ghl.sign(&bytes))
                    .body(bytes)
            }
        };
        let res = request.send().await.unwrap();
        let status = res.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        assert!(
            status < 500,
            "request {i} got {status}: {}",
            res.text().await.unwrap_or_default()
        );
        if status >= 400 {
            assert_eq!(
                res.headers()["content-type"],
                "application/problem+json",
                "request {i}"
            );
        }
    }
    assert!(
        statuses.keys().any(|s| *s < 300) && statuses.keys().any(|s| *s >= 400),
        "{statuses:?}"
    );
    // Jobs are left queued: those that call a provider would reach for the real one.
}
