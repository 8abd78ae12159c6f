//! The OpenAPI document describes every endpoint the router serves.

mod common;

use std::collections::BTreeSet;

use common::spawn_app;
use serde_json::Value;

/// Every operation the API serves. Adding a route means adding it here and to the document;
/// the router registers routes only through utoipa-axum's `routes!`, which documents them.
const SERVED: &[(&str, &str)] = &[
    ("delete", "/api/v1/api-keys/{id}"),
    ("delete", "/api/v1/auth/sessions/{id}"),
    ("get", "/api/v1/api-keys"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/auth/sessions"),
    ("get", "/api/v1/jobs"),
    ("get", "/api/v1/leads"),
    ("get", "/api/v1/leads/{id}"),
    ("patch", "/api/v1/leads/{id}"),
    ("get", "/api/v1/sequences"),
    ("post", "/api/v1/sequences"),
    ("get", "/api/v1/sequences/{id}"),
    ("put", "/api/v1/sequences/{id}"),
    ("delete", "/api/v1/sequences/{id}"),
    ("post", "/api/v1/sequences/{id}/enrolments"),
    ("post", "/api/v1/sequences/{id}/simulate"),
    ("get", "/api/v1/leads/{id}/enrolments"),
    ("post", "/api/v1/enrolments/{id}/exit"),
    ("post", "/api/v1/leads/{id}/messages"),
    ("post", "/api/v1/templates/preview"),
    ("get", "/api/v1/leads/{id}/timeline"),
    ("post", "/api/v1/leads/{id}/notes"),
    ("post", "/api/v1/leads/{id}/appointments"),
    ("get", "/api/v1/leads/{id}/appointments"),
    ("put", "/api/v1/appointments/{id}"),
    ("post", "/api/v1/appointments/{id}/cancel"),
    ("post", "/api/v1/recovery/run"),
    ("get", "/api/v1/ai/writer"),
    ("put", "/api/v1/ai/writer"),
    ("delete", "/api/v1/ai/writer"),
    ("get", "/api/v1/ai/usage"),
    ("get", "/api/v1/messages"),
    ("get", "/api/v1/settings"),
    ("get", "/api/v1/sandbox/account-emails"),
    ("get", "/api/v1/support-grants"),
    ("post", "/api/v1/support-grants"),
    ("delete", "/api/v1/support-grants/{id}"),
    ("get", "/api/v1/platform/organisations"),
    ("post", "/api/v1/platform/organisations"),
    ("post", "/api/v1/platform/organisations/{id}/suspend"),
    ("post", "/api/v1/platform/organisations/{id}/resume"),
    ("get", "/api/v1/platform/health"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/api/v1/api-keys"),
    ("post", "/api/v1/auth/invitations/accept"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/password"),
    ("post", "/api/v1/auth/password/forgot"),
    ("post", "/api/v1/auth/password/reset"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/signup"),
    ("post", "/api/v1/invitations"),
    ("post", "/api/v1/leads"),
    ("post", "/api/v1/sandbox/clock"),
    ("post", "/api/v1/sandbox/inbound"),
    ("put", "/api/v1/settings"),
    ("get", "/api/v1/sources"),
    ("post", "/api/v1/sources"),
    ("get", "/api/v1/sources/{id}"),
    ("patch", "/api/v1/sources/{id}"),
    ("delete", "/api/v1/sources/{id}"),
    ("post", "/api/v1/sources/{id}/rotate-secret"),
    ("post", "/hooks/form/{source_id}"),
    ("get", "/api/v1/integrations"),
    ("put", "/api/v1/integrations/{provider}"),
    ("delete", "/api/v1/integrations/{provider}"),
    ("post", "/api/v1/integrations/{provider}/test"),
    ("post", "/hooks/twilio/{source_id}"),
    ("post", "/hooks/twilio/{source_id}/status"),
    ("post", "/hooks/twilio/{source_id}/voice"),
    ("post", "/hooks/twilio/{source_id}/voice/done"),
    ("post", "/hooks/sendgrid/{source_id}/events"),
    ("post", "/hooks/sendgrid/{source_id}/inbound"),
    ("get", "/hooks/meta/{source_id}"),
    ("post", "/hooks/meta/{source_id}"),
    ("post", "/hooks/ghl/{source_id}"),
    ("options", "/hooks/form/{source_id}"),
    ("get", "/api/v1/leads/{id}/compliance"),
    ("post", "/api/v1/compliance/check"),
    ("get", "/api/v1/compliance/reviews"),
    ("post", "/api/v1/compliance/reviews/{id}"),
    ("get", "/api/v1/compliance/dnc"),
    ("post", "/api/v1/compliance/dnc"),
    ("post", "/api/v1/compliance/dnc/import"),
    ("post", "/api/v1/compliance/dnc/remove"),
    ("get", "/api/v1/compliance/dnc-registry"),
    ("put", "/api/v1/compliance/dnc-registry"),
    ("delete", "/api/v1/leads/{id}"),
    ("get", "/api/v1/compliance/consent/{id}"),
    ("get", "/u/{token}"),
    ("post", "/u/{token}"),
];

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

#[tokio::test]
async fn the_document_lists_exactly_the_served_operations() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented = operations(&doc);
    let served: BTreeSet<_> = SERVED
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented, served,
        "a route is missing from the OpenAPI document, or this list is stale"
    );
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    assert!(doc["components"]["securitySchemes"]["session"].is_object());
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = spawn_app().await;
    // Hooks are reached through a source: a signed one, so that an unsigned request is 401
    // and a preflight (no browser origins) 403.
    let org = app.org("Acme").await;
    // One source of each kind; a provider's hooks answer 401 without its integration.
    let mut sources = std::collections::BTreeMap::new();
    for kind in domain::SourceKind::ALL {
        let source = app
            .store
            .create_source(
                domain::Tenant::from_authenticated(org.id),
                store::NewSource {
                    id: domain::SourceId::new(),
                    kind,
                    name: "site".into(),
                    settings: match kind {
                        domain::SourceKind::Form => serde_json::json!({ "mode": "signed" }),
                        _ => serde_json::json!({}),
                    },
                    secret: secrecy::SecretString::from("llwh_test".to_owned()),
                    created_at: app.engine.clock.wall_now(),
                },
            )
            .await
            .unwrap();
        sources.insert(kind.as_str(), source.id.to_string());
    }
    // An unsubscribe link is reached through a signed token (of a message that does not exist:
    // the page and the one-click answer are the same).
    let link = app
        .engine
        .config
        .links
        .as_ref()
        .unwrap()
        .unsubscribe_url(org.id, domain::MessageId::new());
    let token = link.rsplit('/').next().unwrap().to_owned();
    let doc = web::openapi();
    let doc = serde_json::to_value(doc).unwrap();
    for (method, path) in operations(&doc) {
        let url = format!(
            "{}{}",
            app.base,
            path.replace("{id}", "01a203e8-0f02-773d-af22-5b50101bd3cb")
                .replace(
                    "{source_id}",
                    sources
                        .iter()
                        .find(|(kind, _)| path.starts_with(&format!("/hooks/{kind}/")))
                        .map_or("none", |(_, id)| id.as_str())
                )
                .replace("{token}", &token)
        );
        let res = app
            .client
            .request(method.to_uppercase().parse().unwrap(), &url)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        // Unauthenticated: 401 for API routes and signed hooks, 403 for a preflight no origin
        // may make, 200 for health. Never the router's 404 or 405.
        assert!(
            status == 401
                || status == 200
                || status == 415
                || (status == 403 && method == "options")
                // Meta's handshake refuses a wrong verify token with 403, as Meta expects.
                || (status == 403 && path.starts_with("/hooks/meta/")),
            "{method} {path}: {status} {body}"
        );
    }
}
