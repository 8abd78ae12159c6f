//! The logs of a whole session carry no phone, email, name, message body, API key, password or
//! token.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::spawn_app;
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_session_logs_no_personal_data_or_secrets() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .init();

    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let res = app
        .post_lead(&org, json!({ "name": "Zelda Quuxington", "phone": "(415) 555-2671", "email": "zelda.quux@example.com", "address": "742 Evergreen Terrace" }))
        .await;
    assert_eq!(res.status(), 201);
    app.drain().await;
    app.post(
        &org,
        "/api/v1/sandbox/inbound",
        &json!({ "from": "4155552671", "body": "Secret reply text STOP please" }),
    )
    .send()
    .await
    .unwrap();
    app.post(
        &org,
        "/api/v1/sandbox/inbound",
        &json!({ "from": "4155552671", "body": "stop" }),
    )
    .send()
    .await
    .unwrap();
    app.drain().await;
    app.get(&org, "/api/v1/leads?phone=4155552671")
        .send()
        .await
        .unwrap();
    app.get(&org, "/api/v1/messages?to=zelda.quux%40example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.provider.sent().len(),
        2,
        "first response and opt-out confirmation"
    );

    // A user's session: failed and good sign-ins, a refresh, a reused token, a new password.
    let password = "Hunter2 is not a passphrase";
    let new_password = "Xylophone marmalade 77";
    app.member(
        &org,
        "olga.owner@example.com",
        domain::Role::Owner,
        password,
    )
    .await;
    assert_eq!(
        app.login("olga.owner@example.com", "Wrong password 123")
            .await
            .status(),
        401
    );
    let tokens = app.session("olga.owner@example.com", password).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        app.client
            .post(format!("{}/api/v1/auth/refresh", app.base))
            .json(&json!({ "refresh_token": token }))
            .send()
    };
    let rotated: serde_json::Value = refresh(refresh_token.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    let second_access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_eq!(refresh(refresh_token.clone()).await.unwrap().status(), 401);
    let again = app.session("olga.owner@example.com", password).await;
    let res = app
        .with_bearer(
            reqwest::Method::POST,
            "/api/v1/auth/password",
            again["access_token"].as_str().unwrap(),
        )
        .json(&json!({ "current_password": password, "new_password": new_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    // A web form's source: its secret, a signed submission, a forged one.
    let source: serde_json::Value = app
        .post(
            &org,
            "/api/v1/sources",
            &json!({ "kind": "form", "name": "Website", "settings": { "mode": "signed" } }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let source_secret = source["secret"].as_str().unwrap().to_owned();
    let hook = format!("{}/hooks/form/{}", app.base, source["id"].as_str().unwrap());
    let form_body =
        r#"{"name":"Yorick Vandersloot","phone":"212-555-0187","email":"yorick.v@example.org"}"#;
    let now = app.engine.clock.wall_now().as_second();
    for secret in [source_secret.as_str(), "llwh_forged"] {
        let signature = providers::form::sign(secret.as_bytes(), now, form_body.as_bytes());
        app.client
            .post(&hook)
            .header("content-type", "application/json")
            .header("leadline-signature", signature)
            .body(form_body)
            .send()
            .await
            .unwrap();
    }

    // Compliance: a dry run, a free-text opt-out, the do-not-call list in and out, a registry
    // snapshot, a one-click unsubscribe, an erasure.
    app.post(
        &org,
        "/api/v1/compliance/check",
        &json!({ "to": "(646) 555-0123", "purpose": "marketing" }),
    )
    .send()
    .await
    .unwrap();
    app.post(
        &org,
        "/api/v1/sandbox/inbound",
        &json!({ "from": "2125550187", "body": "Wilhelmina says please stop texting me" }),
    )
    .send()
    .await
    .unwrap();
    app.client
        .post(format!("{}/api/v1/compliance/dnc/import", app.base))
        .bearer_auth(&org.key)
        .header("content-type", "text/csv")
        .body("address\nxavier.dnc@example.net\n(718) 555-0144\n")
        .send()
        .await
        .unwrap();
    app.get(&org, "/api/v1/compliance/dnc?format=csv")
        .send()
        .await
        .unwrap();
    app.client
        .put(format!(
            "{}/api/v1/compliance/dnc-registry?taken_at=2026-03-01T00:00:00Z",
            app.base
        ))
        .bearer_auth(&org.key)
        .body("9175550166\n")
        .send()
        .await
        .unwrap();
    let link = app
        .engine
        .config
        .links
        .as_ref()
        .unwrap()
        .unsubscribe_url(org.id, domain::MessageId::new());
    app.client.post(&link).send().await.unwrap();
    let zelda: serde_json::Value = app
        .get(&org, "/api/v1/leads?phone=4155552671")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let zelda = zelda["data"][0]["id"].as_str().unwrap().to_owned();
    let res = app
        .client
        .delete(format!("{}/api/v1/leads/{zelda}", app.base))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token = link.rsplit('/').next().unwrap().to_owned();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("webhook refused"),
        "the forged post was logged"
    );
    assert!(logs.contains("lead taken"), "the capture works");
    assert!(
        logs.contains("+1******2671"),
        "masked numbers are how we refer to people"
    );
    for secret in [
        "4155552671",
        "555-2671",
        "zelda.quux@example.com",
        "Zelda",
        "Quuxington",
        "Evergreen",
        "Secret reply text",
        &org.key,
        "olga.owner",
        password,
        "Wrong password 123",
        new_password,
        &refresh_token,
        &access_token,
        &second_refresh,
        &second_access,
        &source_secret,
        "Yorick",
        "Vandersloot",
        "2125550187",
        "212-555-0187",
        "yorick.v@example.org",
        "6465550123",
        "555-0123",
        "Wilhelmina",
        "xavier.dnc",
        "7185550144",
        "555-0144",
        "9175550166",
        &token,
    ] {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }
}
