//! Sources and the form webhook, as a business wires up its website: a signed source for its
//! server, a browser source for a plain HTML form.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Org, TestApp, fields, problem, spawn_app};
use providers::form::sign;
use reqwest::{Method, Response};
use serde_json::{Value, json};

const ORIGIN: &str = "https://www.acme-roofing.example";

async fn create_source(app: &TestApp, org: &Org, settings: Value) -> Value {
    let res = app
        .post(
            org,
            "/api/v1/sources",
            &json!({ "kind": "form", "name": "Website", "settings": settings }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

fn path_of(source: &Value) -> String {
    format!("/hooks/form/{}", source["id"].as_str().unwrap())
}

/// Posts `body` to a signed source, signed with `secret` at `t` (now when `None`).
async fn post_signed(
    app: &TestApp,
    source: &Value,
    secret: &str,
    t: Option<i64>,
    body: &str,
) -> Response {
    let t = t.unwrap_or_else(|| app.engine.clock.wall_now().as_second());
    app.client
        .post(format!("{}{}", app.base, path_of(source)))
        .header("content-type", "application/json")
        .header(
            "leadline-signature",
            sign(secret.as_bytes(), t, body.as_bytes()),
        )
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// A client that shows redirects instead of following them, as a test of a browser form needs.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn leads(app: &TestApp, org: &Org) -> Vec<Value> {
    let body: Value = app
        .get(org, "/api/v1/leads")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().clone()
}

/// The lead of `id` (a JSON string), with its consent events.
async fn lead_detail(app: &TestApp, org: &Org, id: &Value) -> Value {
    app.get(org, &format!("/api/v1/leads/{}", id.as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_signed_submission_is_answered_once_and_its_replay_sends_nothing() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let source = create_source(&app, &org, json!({ "mode": "signed" })).await;
    let secret = source["secret"].as_str().unwrap();
    assert!(secret.starts_with("llwh_"), "{source}");
    assert!(source["url"].as_str().unwrap().ends_with(&path_of(&source)));

    let body = r#"{"first_name":"Jane","last_name":"Doe","phone":"(512) 555-0142","email":"jane@example.com","message":"roof leak"}"#;
    let t = app.engine.clock.wall_now().as_second();
    let res = post_signed(&app, &source, secret, Some(t), body).await;
    assert_eq!(res.status(), 201);
    let taken: Value = res.json().await.unwrap();
    assert_eq!(taken["created"], true);
    let lead_id = taken["lead_id"].as_str().unwrap().to_owned();

    app.drain().await;
    let sent = app.provider.sent();
    assert_eq!(sent.len(), 1, "answered at once");
    assert_eq!(sent[0].to, "+15125550142");

    // The same delivery again (a sender's retry, or an attacker's replay): the first answer,
    // no second lead, no second text.
    let res = post_signed(&app, &source, secret, Some(t), body).await;
    assert_eq!(res.status(), 200);
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["lead_id"], lead_id.as_str());
    app.drain().await;
    assert_eq!(app.provider.sent().len(), 1);

    let listed = leads(&app, &org).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "Jane Doe");
    assert_eq!(listed[0]["source"], "web_form");
    assert_eq!(
        listed[0]["details"],
        json!({ "message": "roof leak" }),
        "a field Leadline has no place for is kept as an answer"
    );

    // The audit log names the source as the actor.
    let audit: Value = app
        .get(&org, "/api/v1/audit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "lead.create")
        .expect("lead.create entry");
    assert_eq!(entry["actor_kind"], "source");
    assert_eq!(entry["actor_id"], source["id"]);
}

#[tokio::test]
async fn missing_wrong_stale_or_tampered_signatures_get_401_and_keep_nothing() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let source = create_source(&app, &org, json!({ "mode": "signed" })).await;
    let secret = source["secret"].as_str().unwrap();
    let body = r#"{"phone":"5125550142"}"#;
    let now = app.engine.clock.wall_now().as_second();

    let unsigned = app
        .client
        .post(format!("{}{}", app.base, path_of(&source)))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let mut answers = vec![unsigned];
    answers.push(post_signed(&app, &source, "llwh_not-the-secret", None, body).await);
    // Six minutes off either way (the exact five-minute edge is a unit test of the checker; a
    // second may tick between signing here and checking there).
    answers.push(post_signed(&app, &source, secret, Some(now - 360), body).await);
    answers.push(post_signed(&app, &source, secret, Some(now + 360), body).await);
    // Signed for one body, sent with another.
    let header = sign(secret.as_bytes(), now, body.as_bytes());
    answers.push(
        app.client
            .post(format!("{}{}", app.base, path_of(&source)))
            .header("content-type", "application/json")
            .header("leadline-signature", header)
            .body(r#"{"phone":"5125550199"}"#)
            .send()
            .await
            .unwrap(),
    );
    for (i, res) in answers.into_iter().enumerate() {
        assert_eq!(res.status(), 401, "case {i}");
        let problem = problem(res).await;
        assert!(
            problem.get("detail").is_none(),
            "says nothing of why: {problem}"
        );
    }
    assert!(leads(&app, &org).await.is_empty());
    app.drain().await;
    assert!(app.provider.sent().is_empty());
}

#[tokio::test]
async fn a_rotated_secret_works_beside_the_old_one_and_a_revoked_source_is_gone() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let source = create_source(&app, &org, json!({ "mode": "signed" })).await;
    let old = source["secret"].as_str().unwrap();
    let path = format!("/api/v1/sources/{}", source["id"].as_str().unwrap());

    let res = app
        .post(&org, &format!("{path}/rotate-secret"), &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_valid_until"].is_string());

    let first = post_signed(&app, &source, new, None, r#"{"phone":"5125550101"}"#).await;
    assert_eq!(first.status(), 201);
    let second = post_signed(&app, &source, old, None, r#"{"phone":"5125550102"}"#).await;
    assert_eq!(second.status(), 201, "the old secret still works for a day");

    // The listing shows no secret, and the grace period.
    let listed: Value = app
        .get(&org, "/api/v1/sources")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("secret").is_none());
    assert_eq!(
        listed[0]["previous_secret_valid_until"],
        rotated["previous_secret_valid_until"]
    );

    let res = app
        .with_bearer(Method::DELETE, &path, &org.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let gone = post_signed(&app, &source, new, None, r#"{"phone":"5125550103"}"#).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(leads(&app, &org).await.len(), 2);
}

fn browser_settings() -> Value {
    json!({
        "mode": "browser",
        "allowed_origins": [ORIGIN],
        "honeypot_field": "website",
        "field_map": { "cust_tel": "phone" },
        "consent": {
            "field": "sms_ok",
            "disclosure_text": "I agree to receive texts from Acme Roofing about my request.",
            "seller": "Acme Roofing",
            "purposes": ["transactional"]
        },
        "redirect_url": "https://www.acme-roofing.example/thanks",
        "lead_source": "website"
    })
}

async fn post_browser(app: &TestApp, source: &Value, origin: Option<&str>, form: &str) -> Response {
    let mut req = browser()
        .post(format!("{}{}", app.base, path_of(source)))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("referer", "https://www.acme-roofing.example/quote")
        .header("user-agent", "Mozilla/5.0 (test)")
        .body(form.to_owned());
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_browser_form_from_an_allowed_origin_becomes_a_lead_with_consent_evidence() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let source = create_source(&app, &org, browser_settings()).await;

    let res = post_browser(
        &app,
        &source,
        Some(ORIGIN),
        "name=Jane+Doe&cust_tel=512-555-0142&sms_ok=on&website=&notes=hail",
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        "https://www.acme-roofing.example/thanks"
    );
    assert_eq!(res.headers()["access-control-allow-origin"], ORIGIN);

    let listed = leads(&app, &org).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["source"], "website");
    let detail = lead_detail(&app, &org, &listed[0]["id"]).await;
    let evidence = &detail["consent_events"][0]["evidence"];
    assert_eq!(
        evidence["disclosure_text"],
        "I agree to receive texts from Acme Roofing about my request."
    );
    assert_eq!(
        evidence["page_url"],
        "https://www.acme-roofing.example/quote"
    );
    assert_eq!(evidence["ip"], "127.0.0.1");
    assert_eq!(evidence["user_agent"], "Mozilla/5.0 (test)");
    assert_eq!(evidence["seller"], "Acme Roofing");
    app.drain().await;
    assert_eq!(app.provider.sent().len(), 1);
}

#[tokio::test]
async fn browser_forms_refuse_other_origins_and_drop_bots_quietly() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let source = create_source(&app, &org, browser_settings()).await;
    let form = "name=Jane&cust_tel=5125550142";

    for origin in [
        Some("https://evil.example"),
        Some("http://www.acme-roofing.example"),
        None,
    ] {
        let res = post_browser(&app, &source, origin, form).await;
        assert_eq!(res.status(), 403, "{origin:?}");
        assert!(res.headers().get("access-control-allow-origin").is_none());
    }
    // A bot fills the hidden field: it sees the thank-you page, and nothing is kept.
    let res = post_browser(
        &app,
        &source,
        Some(ORIGIN),
        &format!("{form}&website=buy.example"),
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(leads(&app, &org).await.is_empty());

    // The preflight of a fetch() from the allowed origin, and from another.
    let preflight = |origin: &'static str| {
        browser()
            .request(Method::OPTIONS, format!("{}{}", app.base, path_of(&source)))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight(ORIGIN).await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(ok.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(ok.headers()["access-control-allow-methods"], "POST");
    assert_eq!(
        preflight("https://evil.example").await.unwrap().status(),
        403
    );
}

#[tokio::test]
async fn browser_posts_from_one_address_are_limited() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let source = create_source(
        &app,
        &org,
        json!({ "mode": "browser", "allowed_origins": [ORIGIN] }),
    )
    .await;
    for i in 0..20 {
        let res = post_browser(
            &app,
            &source,
            Some(ORIGIN),
            &format!("phone=51255501{i:02}"),
        )
        .await;
        assert_eq!(res.status(), 201, "submission {i}");
    }
    let res = post_browser(&app, &source, Some(ORIGIN), "phone=5125550199").await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(leads(&app, &org).await.len(), 20);
}

#[tokio::test]
async fn bad_submissions_are_named_as_the_form_names_them() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let mut settings = browser_settings();
    settings["consent"]["required"] = json!(true);
    settings.as_object_mut().unwrap().remove("redirect_url");
    let source = create_source(&app, &org, settings).await;

    let res = post_browser(&app, &source, Some(ORIGIN), "cust_tel=12&sms_ok=on").await;
    assert_eq!(res.status(), 422);
    assert_eq!(fields(&problem(res).await), ["cust_tel"]);

    let res = post_browser(&app, &source, Some(ORIGIN), "cust_tel=5125550142").await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        fields(&problem(res).await),
        ["sms_ok"],
        "consent is required here"
    );

    let res = post_browser(&app, &source, Some(ORIGIN), "email=not-an-email&sms_ok=yes").await;
    assert_eq!(res.status(), 422);
    assert_eq!(fields(&problem(res).await), ["email"]);

    // Neither JSON nor form-encoded; broken JSON; too large.
    let raw = |content_type: &'static str, body: String| {
        browser()
            .post(format!("{}{}", app.base, path_of(&source)))
            .header("origin", ORIGIN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let res = raw("text/plain", "phone=5125550142".into()).await.unwrap();
    assert_eq!(res.status(), 415);
    let res = raw("application/json", "{\"phone\": ".into())
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        problem(res).await["detail"]
            .as_str()
            .unwrap()
            .contains("line 1")
    );
    let big = format!("phone=5125550142&notes={}", "x".repeat(70 * 1024));
    let res = raw("application/x-www-form-urlencoded", big).await.unwrap();
    assert_eq!(res.status(), 413);
    assert!(leads(&app, &org).await.is_empty());
}

#[tokio::test]
async fn signed_json_may_carry_the_apis_consent_evidence() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let source = create_source(&app, &org, json!({ "mode": "signed" })).await;
    let secret = source["secret"].as_str().unwrap();
    let body = json!({
        "phone": "5125550142",
        "consent": {
            "disclosure_text": "By submitting you agree to texts.",
            "ip": "198.51.100.7",
            "purposes": ["marketing"]
        }
    })
    .to_string();
    let res = post_signed(&app, &source, secret, None, &body).await;
    assert_eq!(res.status(), 201);
    let lead: Value = res.json().await.unwrap();
    let detail = lead_detail(&app, &org, &lead["lead_id"]).await;
    assert_eq!(
        detail["consent_events"][0]["evidence"]["ip"],
        "198.51.100.7"
    );

    let bad = json!({ "phone": "5125550143", "consent": { "purposes": ["spam"] } }).to_string();
    let res = post_signed(&app, &source, secret, None, &bad).await;
    assert_eq!(res.status(), 422);
    let problem = problem(res).await;
    assert_eq!(fields(&problem), ["consent"]);
    assert!(problem.to_string().contains("disclosure_text"), "{problem}");
}

#[tokio::test]
async fn source_settings_are_checked_and_only_admins_manage_sources() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let cases = [
        (
            json!({ "kind": "fax", "name": "x", "settings": {} }),
            vec!["kind"],
        ),
        (
            json!({ "kind": "ghl", "name": "x", "settings": { "lead_source": "x".repeat(51) } }),
            vec!["settings.lead_source"],
        ),
        (
            json!({ "kind": "twilio", "name": "x", "settings": { "lead_source": "" } }),
            vec!["settings.lead_source"],
        ),
        (
            json!({ "kind": "meta", "name": "x", "settings": { "consent_purposes": ["spam"] } }),
            vec!["settings.consent_purposes[0]"],
        ),
        (
            json!({ "kind": "form", "name": " ", "settings": { "mode": "signed" } }),
            vec!["name"],
        ),
        (
            json!({ "kind": "form", "name": "x", "settings": { "mode": "browser" } }),
            vec!["settings.allowed_origins"],
        ),
        (
            json!({ "kind": "form", "name": "x", "settings": { "mode": "signed", "colour": "red" } }),
            vec!["settings.colour"],
        ),
        (
            json!({ "kind": "form", "name": "x", "settings": { "mode": "browser", "allowed_origins": ["https://ok.example/page"] } }),
            vec!["settings.allowed_origins[0]"],
        ),
        (
            json!({ "kind": "form", "name": "x", "settings": { "mode": "signed", "field_map": { "tel": "fax" } } }),
            vec!["settings.field_map.tel"],
        ),
    ];
    for (body, expected) in cases {
        let res = app
            .post(&org, "/api/v1/sources", &body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{body}");
        assert_eq!(fields(&problem(res).await), expected, "{body}");
    }
    assert!(
        app.store
            .list_sources(domain::Tenant::from_authenticated(org.id))
            .await
            .unwrap()
            .is_empty()
    );

    // A key that may read settings lists sources but cannot make one.
    let reader = app.org_with_scopes("Reader", &["settings:read"]).await;
    let res = app
        .post(
            &reader,
            "/api/v1/sources",
            &json!({ "kind": "form", "name": "x", "settings": { "mode": "signed" } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.get(&reader, "/api/v1/sources")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A change replaces the settings, checked the same way.
    let source = create_source(&app, &org, json!({ "mode": "signed" })).await;
    let path = format!("/api/v1/sources/{}", source["id"].as_str().unwrap());
    let res = app
        .with_bearer(Method::PATCH, &path, &org.key)
        .json(&json!({ "settings": { "mode": "browser" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = app
        .with_bearer(Method::PATCH, &path, &org.key)
        .json(&json!({ "name": "Landing page", "settings": { "mode": "browser", "allowed_origins": [ORIGIN] } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["name"], "Landing page");
    assert_eq!(changed["settings"]["mode"], "browser");
    // Now a browser source: an unsigned post from the origin is taken.
    let res = post_browser(&app, &source, Some(ORIGIN), "phone=5125550142").await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn a_suspended_organisations_sources_are_refused() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let source = create_source(&app, &org, json!({ "mode": "signed" })).await;
    let secret = source["secret"].as_str().unwrap().to_owned();
    app.store
        .set_tenant_suspended(org.id, Some(app.engine.clock.wall_now()))
        .await
        .unwrap();
    let res = post_signed(&app, &source, &secret, None, r#"{"phone":"5125550142"}"#).await;
    assert_eq!(res.status(), 403);
    assert!(
        app.store
            .list_leads(
                domain::Tenant::from_authenticated(org.id),
                &Default::default()
            )
            .await
            .unwrap()
            .is_empty()
    );
}
