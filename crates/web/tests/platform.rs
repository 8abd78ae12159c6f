//! The platform operator: signs in outside every organisation, creates, lists, suspends and
//! resumes organisations, sees the system's health, and reaches an organisation's data only
//! under that organisation's live support grant, with every request in its audit log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestApp, fields, problem, spawn_app};
use domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

async fn operator_token(app: &TestApp) -> String {
    app.operator("ops@leadline.test", PASSWORD).await;
    let session = app.session("ops@leadline.test", PASSWORD).await;
    assert_eq!(session["operator"], true);
    assert_eq!(session["organisation_id"], Value::Null);
    assert_eq!(session["role"], Value::Null);
    session["access_token"].as_str().unwrap().to_owned()
}

async fn json_of(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::test]
async fn an_operator_creates_lists_suspends_and_resumes_organisations() {
    let app = spawn_app().await;
    let acme = app.org("Acme Roofing").await;
    let ops = operator_token(&app).await;

    let listed = json_of(
        app.with_bearer(Method::GET, "/api/v1/platform/organisations", &ops)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme Roofing"]);

    // A new organisation: its owner is invited by email and joins as owner.
    let res = app
        .with_bearer(Method::POST, "/api/v1/platform/organisations", &ops)
        .json(&json!({ "name": "Bravo Plumbing", "owner_email": "boss@bravo.test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["name"], "Bravo Plumbing");
    let code = app.emailed_code("boss@bravo.test");
    let res = app
        .post_open(
            "/api/v1/auth/invitations/accept",
            json!({ "token": code, "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let owner: Value = res.json().await.unwrap();
    assert_eq!(owner["organisation_id"], created["id"]);
    assert_eq!(owner["role"], "owner");

    // Bad input names the field.
    let res = app
        .with_bearer(Method::POST, "/api/v1/platform/organisations", &ops)
        .json(&json!({ "name": " ", "owner_email": "not an email" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let p = problem(res).await;
    assert!(fields(&p).contains(&"name".to_owned()), "{p}");

    // Suspension shuts the organisation's key out; resuming lets it back in.
    let suspend = format!("/api/v1/platform/organisations/{}/suspend", acme.id);
    let suspended = json_of(
        app.with_bearer(Method::POST, &suspend, &ops)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(suspended["suspended_at"].is_string());
    let res = app.get(&acme, "/api/v1/leads").send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        problem(res).await["type"],
        "/problems/organisation-suspended"
    );
    let resume = format!("/api/v1/platform/organisations/{}/resume", acme.id);
    let resumed = json_of(
        app.with_bearer(Method::POST, &resume, &ops)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(resumed["suspended_at"], Value::Null);
    assert_eq!(
        app.get(&acme, "/api/v1/leads")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let unknown = format!(
        "/api/v1/platform/organisations/{}/suspend",
        domain::TenantId::new()
    );
    let res = app
        .with_bearer(Method::POST, &unknown, &ops)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Each change is in the organisation's own audit log, by the operator.
    let audit = json_of(app.get(&acme, "/api/v1/audit").send().await.unwrap()).await;
    let actions: Vec<(&str, &str)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor_kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("organisation.suspend", "operator")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("organisation.resume", "operator")),
        "{actions:?}"
    );
}

#[tokio::test]
async fn an_operator_sees_system_health_but_no_tenant_data_without_a_grant() {
    let app = spawn_app().await;
    let acme = app.org("Acme Roofing").await;
    let res = app
        .post_lead(&acme, json!({ "name": "Ann", "phone": "+14155552671" }))
        .await;
    assert_eq!(res.status(), 201);
    let ops = operator_token(&app).await;

    let health = json_of(
        app.with_bearer(Method::GET, "/api/v1/platform/health", &ops)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database_backend"], "sqlite");
    assert_eq!(health["migrations_current"], true);
    assert_eq!(health["organisations"], 1);
    assert_eq!(
        health["queue_depth"], 1,
        "the lead's first answer is queued"
    );

    // Without naming an organisation: refused. Naming one without a grant: not found.
    let res = app
        .with_bearer(Method::GET, "/api/v1/leads", &ops)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .with_bearer(Method::GET, "/api/v1/leads", &ops)
        .header("X-Leadline-Organisation", acme.id.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app
        .with_bearer(Method::GET, "/api/v1/leads", &ops)
        .header("X-Leadline-Organisation", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Members' own endpoints are not the operator's.
    let res = app
        .with_bearer(Method::GET, "/api/v1/api-keys", &ops)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_support_grant_lets_operators_in_with_its_role_until_revoked() {
    let app = spawn_app().await;
    let acme = app.org("Acme Roofing").await;
    app.member(&acme, "owner@acme.test", Role::Owner, PASSWORD)
        .await;
    app.member(&acme, "admin@acme.test", Role::Admin, PASSWORD)
        .await;
    app.member(&acme, "agent@acme.test", Role::Agent, PASSWORD)
        .await;
    let res = app
        .post_lead(&acme, json!({ "name": "Ann", "phone": "+14155552671" }))
        .await;
    assert_eq!(res.status(), 201);
    let ops = operator_token(&app).await;
    let owner = app.session("owner@acme.test", PASSWORD).await;
    let owner = owner["access_token"].as_str().unwrap();
    let admin = app.session("admin@acme.test", PASSWORD).await;
    let admin = admin["access_token"].as_str().unwrap();
    let agent = app.session("agent@acme.test", PASSWORD).await;
    let agent = agent["access_token"].as_str().unwrap();
    let grant = |token: &str, body: Value| {
        app.with_bearer(Method::POST, "/api/v1/support-grants", token)
            .json(&body)
    };

    // Who may grant what.
    let res = grant(agent, json!({ "reason": "help" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "agents cannot let operators in");
    let res = grant(admin, json!({ "reason": "help", "role": "owner" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(fields(&problem(res).await), ["role"]);
    let res = grant(owner, json!({ "reason": "", "hours": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let mut named = fields(&problem(res).await);
    named.sort();
    assert_eq!(named, ["hours", "reason"]);

    // A viewer grant: the operator reads, and cannot write.
    let res = grant(
        admin,
        json!({ "reason": "replies are missing", "hours": 2 }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let viewer: Value = res.json().await.unwrap();
    assert_eq!(viewer["role"], "viewer");
    assert_eq!(viewer["live"], true);
    let in_acme = |method: Method, path: &str| {
        app.with_bearer(method, path, &ops)
            .header("X-Leadline-Organisation", acme.id.to_string())
    };
    let leads = json_of(in_acme(Method::GET, "/api/v1/leads").send().await.unwrap()).await;
    assert_eq!(leads["data"].as_array().unwrap().len(), 1);
    let res = in_acme(Method::POST, "/api/v1/leads")
        .json(&json!({ "name": "Bob", "phone": "+14155552672" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a viewer grant does not write");
    let res = in_acme(Method::GET, "/api/v1/settings")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "settings need a manager grant");

    // The platform's list shows the access the organisation gave.
    let listed = json_of(
        app.with_bearer(Method::GET, "/api/v1/platform/organisations", &ops)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed[0]["support_role"], "viewer");
    assert_eq!(listed[0]["support_access_until"], viewer["expires_at"]);

    // Every request under the grant is in the organisation's audit log, by the operator.
    let audit = json_of(app.get(&acme, "/api/v1/audit").send().await.unwrap()).await;
    let accesses: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "support.access")
        .collect();
    assert_eq!(accesses.len(), 3, "GET leads, POST leads and GET settings");
    assert!(accesses.iter().all(|e| e["actor_kind"] == "operator"));
    let refused = accesses
        .iter()
        .filter(|e| e["detail"]["allowed"] == false)
        .count();
    assert_eq!(refused, 2, "attempts beyond the grant are recorded too");
    assert!(
        accesses
            .iter()
            .any(|e| e["target_id"] == "GET /api/v1/leads"
                && e["detail"]["grant_id"] == viewer["id"])
    );

    // Revoked: the next request finds nothing.
    let path = format!("/api/v1/support-grants/{}", viewer["id"].as_str().unwrap());
    let res = app
        .with_bearer(Method::DELETE, &path, owner)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = in_acme(Method::GET, "/api/v1/leads").send().await.unwrap();
    assert_eq!(res.status(), 404);
    let grants = json_of(
        app.with_bearer(Method::GET, "/api/v1/support-grants", owner)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(grants[0]["live"], false);
    assert!(grants[0]["revoked_at"].is_string());
}

#[tokio::test]
async fn operators_sign_in_outside_organisations_and_manage_their_own_sessions() {
    let app = spawn_app().await;
    let acme = app.org("Acme Roofing").await;
    app.operator("ops@leadline.test", PASSWORD).await;
    // Naming an organisation at sign-in is refused: operators belong to none.
    let res = app
        .post_open(
            "/api/v1/auth/login",
            json!({
                "email": "ops@leadline.test",
                "password": PASSWORD,
                "organisation_id": acme.id.to_string(),
            }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let first = app.session("ops@leadline.test", PASSWORD).await;
    // Refresh keeps the session an operator's.
    let res = app
        .post_open(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": first["refresh_token"] }),
        )
        .await;
    let refreshed = json_of(res).await;
    assert_eq!(refreshed["operator"], true);
    let access = refreshed["access_token"].as_str().unwrap();
    let sessions = json_of(
        app.with_bearer(Method::GET, "/api/v1/auth/sessions", access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    assert_eq!(sessions[0]["current"], true);
    let res = app
        .with_bearer(Method::POST, "/api/v1/auth/logout", access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .with_bearer(Method::GET, "/api/v1/platform/health", access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "signed out");
}
