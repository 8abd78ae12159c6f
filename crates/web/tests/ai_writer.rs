//! The AI writer against a fake of the Anthropic Messages API with its real request and
//! response shapes: drafts used and cached, no personal data in the prompt, the guard and the
//! budget falling back to the template, failures never holding a message, costs recorded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Options, Org, TestApp, fields, problem, spawn_app_with};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-ant-api03-test-0123456789abcdef";

async fn app(fake: &MockServer) -> TestApp {
    spawn_app_with(Options {
        endpoints: engine::integrations::Endpoints {
            anthropic_api_base: fake.uri(),
            ..engine::integrations::Endpoints::default()
        },
        ..Options::default()
    })
    .await
}

/// A Messages API answer of `text`.
fn answer(text: &str, input: u64, output: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-test-1",
        "content": [{ "type": "text", "text": text }],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": { "input_tokens": input, "output_tokens": output }
    }))
}

/// An organisation with the writer set, and a sequence whose only step asks for a draft.
async fn organisation(app: &TestApp, budget: u64) -> Org {
    let org = app.org("Acme Roofing").await;
    let res = app
        .client
        .put(format!("{}/api/v1/ai/writer", app.base))
        .bearer_auth(&org.key)
        .json(&json!({ "api_key": KEY, "model": "claude-test-1", "monthly_token_budget": budget }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["api_key_hint"], "••••cdef");
    assert!(!view.to_string().contains(KEY), "the key is never shown");
    let res = app
        .post(
            &org,
            "/api/v1/sequences",
            &json!({
                "name": "Nudge",
                "steps": [{ "channel": "sms", "delay": "PT1H", "purpose": "informational",
                            "template": "Hi {{ first_name }}, still want that quote?",
                            "ai": { "brief": "Ask kindly whether they still want the roof quote." } }],
                "enrol": { "sources": ["web_form", "referral"] }
            }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    org
}

async fn lead(app: &TestApp, org: &Org, name: &str, phone: &str, source: &str) {
    let res = app
        .post_lead(
            org,
            json!({ "name": name, "phone": phone, "email": format!("{phone}@example.com"), "source": source }),
        )
        .await;
    assert_eq!(res.status(), 201);
}

/// The step's texts sent so far (first answers left out).
async fn nudges(app: &TestApp, org: &Org) -> Vec<String> {
    app.messages(org, "direction=outbound&limit=100")
        .await
        .into_iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .filter(|b| !b.contains("thanks for reaching out"))
        .collect()
}

async fn usage(app: &TestApp, org: &Org) -> Value {
    let res = app.get(org, "/api/v1/ai/usage").send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn drafts_are_written_without_personal_data_cached_and_costed() {
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(answer(
            "Hi {{ first_name }}, it's {{ business_name }}. Still keen on that roof quote? Happy to help whenever suits.",
            180,
            30,
        ))
        .expect(1)
        .mount(&fake)
        .await;
    let app = app(&fake).await;
    let org = organisation(&app, 100_000).await;
    lead(&app, &org, "Jane Doe", "+13125550141", "web_form").await;
    lead(&app, &org, "Omar Diaz", "+13125550142", "web_form").await;
    app.drain().await;
    app.set_clock(&org, "2026-03-04T19:00:05Z").await;
    app.drain().await;

    let sent = nudges(&app, &org).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter()
            .any(|b| b.starts_with("Hi Jane, it's Acme Roofing. Still keen")),
        "{sent:?}"
    );
    assert!(
        sent.iter()
            .any(|b| b.starts_with("Hi Omar, it's Acme Roofing.")),
        "{sent:?}"
    );
    assert!(
        sent.iter().all(|b| b.ends_with("Reply STOP to opt out.")),
        "{sent:?}"
    );

    // One call for both leads (same context), and nothing in it that names either.
    let requests = fake.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["model"], "claude-test-1");
    assert!(body["max_tokens"].as_u64().unwrap() > 0);
    assert_eq!(body["messages"][0]["role"], "user");
    assert!(
        body["system"]
            .as_str()
            .unwrap()
            .contains("{{ first_name }}")
    );
    let text = body.to_string();
    for personal in ["Jane", "Omar", "Doe", "Diaz", "3125550141", "example.com"] {
        assert!(!text.contains(personal), "{personal} in the prompt: {text}");
    }
    assert!(text.contains("web_form") && text.contains("Acme Roofing"));

    let used = usage(&app, &org).await;
    assert_eq!(used["input_tokens"], 180);
    assert_eq!(used["output_tokens"], 30);
    // 180 at $3/MTok + 30 at $15/MTok = $0.00099
    assert!(
        (used["cost_usd"].as_f64().unwrap() - 0.00099).abs() < 1e-9,
        "{used}"
    );
    let outcomes: Vec<(String, bool)> = used["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["outcome"].as_str().unwrap().to_owned(),
                g["cached"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes.contains(&("used".to_owned(), true))
            && outcomes.contains(&("used".to_owned(), false))
    );
}

#[tokio::test]
async fn refused_drafts_failures_and_spent_budgets_send_the_template() {
    let fake = MockServer::start().await;
    // First call: a draft with a link (refused); second: Anthropic overloaded.
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(answer(
            "Hi {{ first_name }}, book at acme-roofing.com today!",
            150,
            20,
        ))
        .up_to_n_times(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(529).set_body_json(json!({
            "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" }
        })))
        .mount(&fake)
        .await;
    let app = app(&fake).await;
    // The first call's 170 tokens spend the budget.
    let org = organisation(&app, 160).await;
    lead(&app, &org, "Jane Doe", "+13125550151", "web_form").await;
    app.drain().await;
    app.set_clock(&org, "2026-03-04T19:00:05Z").await;
    app.drain().await;
    assert_eq!(
        nudges(&app, &org).await,
        ["Hi Jane, still want that quote?"]
    );

    // Over budget: no call at all for the next lead (another source, so no cache either).
    lead(&app, &org, "Omar Diaz", "+13125550152", "referral").await;
    app.drain().await;
    app.set_clock(&org, "2026-03-04T20:00:10Z").await;
    app.drain().await;
    assert_eq!(fake.received_requests().await.unwrap().len(), 1);
    let used = usage(&app, &org).await;
    let outcomes: Vec<&str> = used["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["budget", "guard:link"]);

    // A raised budget: the call fails (529), and the template still goes at once.
    let res = app
        .client
        .put(format!("{}/api/v1/ai/writer", app.base))
        .bearer_auth(&org.key)
        .json(&json!({ "api_key": KEY, "model": "claude-test-1", "monthly_token_budget": 100000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    lead(&app, &org, "Ana Ruiz", "+13125550153", "referral").await;
    app.drain().await;
    app.set_clock(&org, "2026-03-04T21:00:15Z").await;
    app.drain().await;
    let sent = nudges(&app, &org).await;
    assert!(
        sent.contains(&"Hi Ana, still want that quote?".to_owned()),
        "{sent:?}"
    );
    let used = usage(&app, &org).await;
    assert_eq!(used["recent"][0]["outcome"], "error:overloaded_error");
}

#[tokio::test]
async fn writer_settings_are_checked_and_removable() {
    let fake = MockServer::start().await;
    let app = app(&fake).await;
    let org = app.org("Acme").await;
    let put = |body: Value| {
        app.client
            .put(format!("{}/api/v1/ai/writer", app.base))
            .bearer_auth(&org.key)
            .json(&body)
            .send()
    };
    let res =
        put(json!({ "api_key": "short", "model": "no spaces allowed", "monthly_token_budget": 0 }))
            .await
            .unwrap();
    assert_eq!(
        fields(&problem(res).await),
        ["api_key", "model", "monthly_token_budget"]
    );
    let res = put(json!({ "api_key": KEY, "model": "m", "monthly_token_budget": 10, "extra": 1 }))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = app
        .client
        .delete(format!("{}/api/v1/ai/writer", app.base))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let view: Value = app
        .get(&org, "/api/v1/ai/writer")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["enabled"], false);
    let res = app
        .post(
            &org,
            "/api/v1/sequences",
            &json!({ "name": "x", "steps": [{ "channel": "sms", "delay": "PT1H",
                     "purpose": "informational", "template": "Hi", "ai": { "brief": " " } }] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res).await), ["steps[0].ai.brief"]);
}
