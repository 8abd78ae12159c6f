//! Settings: validated field by field, 50 KiB at most, secrets write-only and masked, changes
//! audited without values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{problem, spawn_app};
use domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn settings_change_with_validation_and_secrets_stay_hidden() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let put = |body: Value| {
        app.client
            .put(format!("{}/api/v1/settings", app.base))
            .bearer_auth(&org.key)
            .json(&body)
            .send()
    };
    let res = put(json!({
        "first_response_sms": "Hi {{ first_name }}, {{ business_name }} here. Reply STOP to opt out.",
        "sms_from": "+14155550100",
        "secrets": { "tax_id": "12-3456789" }
    }))
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let shown: Value = res.json().await.unwrap();
    assert_eq!(shown["sms_from"], "+14155550100");
    assert_eq!(shown["secrets"]["tax_id"]["hint"], "***-**-6789");
    let text = shown.to_string();
    assert!(!text.contains("12-3456789"), "{text}");
    // Provider credentials are integrations, not settings.
    let res = put(json!({ "secrets": { "sendgrid_api_key": "SG.very-secret-value" } }))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("/api/v1/integrations"));

    // Every invalid field is named; nothing is changed.
    let bad = problem(
        put(json!({
            "first_response_sms": "Hi {{ first_name",
            "email_from": "not an email",
            "default_region": "usa",
            "secrets": { "tax_id": "12", "root_password": "x" }
        }))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(bad["status"], 422);
    let fields: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "first_response_sms",
        "email_from",
        "default_region",
        "secrets.tax_id",
        "secrets.root_password",
    ] {
        assert!(fields.contains(&f), "{f} not named in {fields:?}");
    }
    let unknown = problem(put(json!({ "colour": "blue" })).await.unwrap()).await;
    assert_eq!(unknown["status"], 422);
    let after: Value = app
        .get(&org, "/api/v1/settings")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        after["secrets"]["tax_id"]["hint"], "***-**-6789",
        "unchanged"
    );

    // A secret is removed with null.
    let res = put(json!({ "secrets": { "tax_id": null } })).await.unwrap();
    let shown: Value = res.json().await.unwrap();
    assert_eq!(shown["secrets"]["tax_id"]["set"], false);

    // Over 50 KiB: refused as too large.
    let big = "x".repeat(51 * 1024);
    let res = put(json!({ "support_contact": big })).await.unwrap();
    assert_eq!(problem(res).await["status"], 413);

    // The audit log names the fields and secrets changed, never their values.
    app.member(&org, "owner@acme.test", Role::Owner, PASSWORD)
        .await;
    let owner = app.session("owner@acme.test", PASSWORD).await;
    let audit: Value = app
        .with_bearer(
            Method::GET,
            "/api/v1/audit",
            owner["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = audit.to_string();
    assert!(text.contains("settings.update") && text.contains("secrets_set"));
    assert!(!text.contains("12-3456789") && !text.contains("very-secret"));
}

#[tokio::test]
async fn only_admins_change_settings_and_agents_cannot_read_them() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    for (email, role, read, write) in [
        ("agent@acme.test", Role::Agent, 403, 403),
        ("manager@acme.test", Role::Manager, 200, 403),
        ("admin@acme.test", Role::Admin, 200, 200),
    ] {
        app.member(&org, email, role, PASSWORD).await;
        let token = app.session(email, PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let res = app
            .with_bearer(Method::GET, "/api/v1/settings", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), read, "{role} reads");
        let res = app
            .with_bearer(Method::PUT, "/api/v1/settings", &token)
            .json(&json!({ "support_contact": "call 555-0100" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), write, "{role} writes");
    }
    // A key without the scope is refused too.
    let reader = app.org_with_scopes("Other", &["leads:read"]).await;
    let res = app.get(&reader, "/api/v1/settings").send().await.unwrap();
    assert_eq!(res.status(), 403);
}
