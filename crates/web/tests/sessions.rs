//! Signing in, rotating refresh tokens, signing out, roles, rate limits and the audit log, over
//! HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{problem, spawn_app};
use domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

async fn refresh(app: &common::TestApp, token: &str) -> reqwest::Response {
    app.post_open("/api/v1/auth/refresh", json!({ "refresh_token": token }))
        .await
}

#[tokio::test]
async fn a_member_signs_in_and_uses_the_api_with_an_access_token() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    app.member(&org, "agent@acme.test", Role::Agent, PASSWORD)
        .await;
    let tokens = app.session("Agent@Acme.test", PASSWORD).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["role"], "agent");
    assert_eq!(tokens["organisation_id"], org.id.to_string());
    let access = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(refresh_token.len(), 43, "256 random bits, base64url");

    let res = app
        .with_bearer(Method::POST, "/api/v1/leads", access)
        .json(&json!({ "name": "Ann", "phone": "+14155552671" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "an agent works leads");
    let res = app
        .with_bearer(Method::GET, "/api/v1/jobs", access)
        .send()
        .await
        .unwrap();
    let body = problem(res).await;
    assert_eq!(
        body["status"], 403,
        "jobs are for managers and above: {body}"
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    app.member(&org, "owner@acme.test", Role::Owner, PASSWORD)
        .await;
    let wrong = problem(app.login("owner@acme.test", "not the password").await).await;
    let unknown = problem(app.login("nobody@acme.test", PASSWORD).await).await;
    for body in [&wrong, &unknown] {
        assert_eq!(body["status"], 401);
        assert_eq!(body["type"], "/problems/invalid-credentials");
    }
    assert_eq!(wrong["title"], unknown["title"]);
    assert_eq!(wrong.get("detail"), unknown.get("detail"));
}

#[tokio::test]
async fn each_refresh_token_works_once_and_reuse_ends_the_session() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    app.member(&org, "m@acme.test", Role::Manager, PASSWORD)
        .await;
    let first = app.session("m@acme.test", PASSWORD).await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();

    let res = refresh(&app, &r1).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    assert_eq!(second["session_id"], first["session_id"]);
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    let access = second["access_token"].as_str().unwrap().to_owned();
    let ok = app
        .with_bearer(Method::GET, "/api/v1/leads", &access)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // The old token again: a thief or a replay. The session ends, new tokens included.
    assert_eq!(refresh(&app, &r1).await.status(), 401);
    assert_eq!(refresh(&app, &r2).await.status(), 401);
    let after = app
        .with_bearer(Method::GET, "/api/v1/leads", &access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        401,
        "the access token dies with its session"
    );

    // The owner sees it in the audit log.
    app.member(&org, "owner@acme.test", Role::Owner, PASSWORD)
        .await;
    let owner = app.session("owner@acme.test", PASSWORD).await;
    let res = app
        .with_bearer(
            Method::GET,
            "/api/v1/audit",
            owner["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let audit: Value = res.json().await.unwrap();
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"auth.refresh_reuse"), "{actions:?}");
    let reuse = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "auth.refresh_reuse")
        .unwrap();
    assert_eq!(reuse["target_id"], first["session_id"]);
    assert_eq!(reuse["ip"], "127.0.0.1");
}

#[tokio::test]
async fn logout_sessions_and_a_new_password_end_sessions() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    app.member(&org, "a@acme.test", Role::Admin, PASSWORD).await;
    let laptop = app.session("a@acme.test", PASSWORD).await;
    let phone = app.session("a@acme.test", PASSWORD).await;
    let tablet = app.session("a@acme.test", PASSWORD).await;
    let laptop_access = laptop["access_token"].as_str().unwrap();

    let res = app
        .with_bearer(Method::GET, "/api/v1/auth/sessions", laptop_access)
        .send()
        .await
        .unwrap();
    let sessions: Vec<Value> = res.json().await.unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);

    // Revoke the phone from the laptop.
    let path = format!(
        "/api/v1/auth/sessions/{}",
        phone["session_id"].as_str().unwrap()
    );
    let res = app
        .with_bearer(Method::DELETE, &path, laptop_access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .with_bearer(Method::DELETE, &path, laptop_access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let phone_use = app
        .with_bearer(
            Method::GET,
            "/api/v1/auth/sessions",
            phone["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(phone_use.status(), 401);

    // A weak new password is refused, naming the field; a good one ends the tablet's session.
    let change = |current: &str, new: &str| {
        app.with_bearer(Method::POST, "/api/v1/auth/password", laptop_access)
            .json(&json!({ "current_password": current, "new_password": new }))
    };
    let weak = problem(change(PASSWORD, "short").send().await.unwrap()).await;
    assert_eq!(weak["errors"][0]["field"], "new_password");
    let wrong = problem(
        change("not mine at all", "a much better passphrase")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(wrong["errors"][0]["field"], "current_password");
    let res = change(PASSWORD, "a much better passphrase")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        refresh(&app, tablet["refresh_token"].as_str().unwrap())
            .await
            .status(),
        401,
        "other sessions end with a new password"
    );
    assert_eq!(app.login("a@acme.test", PASSWORD).await.status(), 401);
    assert_eq!(
        app.login("a@acme.test", "a much better passphrase")
            .await
            .status(),
        200
    );

    // Logout ends the laptop's own session.
    let res = app
        .with_bearer(Method::POST, "/api/v1/auth/logout", laptop_access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        refresh(&app, laptop["refresh_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_email() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    app.member(&org, "v@acme.test", Role::Viewer, PASSWORD)
        .await;
    for _ in 0..5 {
        assert_eq!(
            app.login("v@acme.test", "wrong password!").await.status(),
            401
        );
    }
    let res = app.login("v@acme.test", PASSWORD).await;
    assert_eq!(
        res.status(),
        429,
        "even the right password waits out the window"
    );
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // Another account from the same address is not locked by these five.
    app.member(&org, "w@acme.test", Role::Viewer, PASSWORD)
        .await;
    assert_eq!(app.login("w@acme.test", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn forged_and_api_key_tokens_do_not_open_sessions() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    for bearer in [
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.",
        "not-a-token",
        org.key.as_str(),
    ] {
        let res = app
            .with_bearer(Method::GET, "/api/v1/auth/sessions", bearer)
            .send()
            .await
            .unwrap();
        assert!(
            matches!(res.status().as_u16(), 401 | 403),
            "{bearer}: {}",
            res.status()
        );
    }
}

#[tokio::test]
async fn reads_of_personal_data_and_changes_are_in_the_audit_log() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let lead: Value = app
        .post_lead(&org, json!({ "name": "Ann", "phone": "+14155552671" }))
        .await
        .json()
        .await
        .unwrap();
    let lead_id = lead["id"].as_str().unwrap();
    let res = app
        .get(&org, &format!("/api/v1/leads/{lead_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.get(&org, "/api/v1/messages").send().await.unwrap();
    app.member(&org, "owner@acme.test", Role::Owner, PASSWORD)
        .await;
    let owner = app.session("owner@acme.test", PASSWORD).await;
    let access = owner["access_token"].as_str().unwrap();
    let created = app
        .with_bearer(Method::POST, "/api/v1/api-keys", access)
        .json(&json!({ "name": "zapier", "scopes": ["leads:write"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let audit: Value = app
        .with_bearer(Method::GET, "/api/v1/audit?limit=50", access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit["data"].as_array().unwrap();
    let find = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {entries:?}"))
    };
    let read = find("lead.read");
    assert_eq!(read["actor_kind"], "api_key");
    assert_eq!(read["target_id"], lead_id);
    assert_eq!(read["ip"], "127.0.0.1");
    assert!(
        read["correlation_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    find("message.list");
    find("auth.login");
    assert_eq!(find("api_key.create")["actor_kind"], "user");
    // Newest first, each linked to the one before it.
    for pair in entries.windows(2) {
        assert_eq!(pair[0]["prev_hash"], pair[1]["hash"]);
        assert_eq!(
            pair[0]["seq"].as_i64().unwrap(),
            pair[1]["seq"].as_i64().unwrap() + 1
        );
    }
    // An agent may not read the audit log.
    app.member(&org, "agent@acme.test", Role::Agent, PASSWORD)
        .await;
    let agent = app.session("agent@acme.test", PASSWORD).await;
    let res = app
        .with_bearer(
            Method::GET,
            "/api/v1/audit",
            agent["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
