//! Password resets, invitations and signup.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{problem, spawn_app};
use domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn a_reset_code_works_once_and_ends_every_session() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    app.member(&org, "olga@acme.test", Role::Owner, PASSWORD)
        .await;
    let before = app.session("olga@acme.test", PASSWORD).await;

    // The same answer for an account and for no account; only the account gets mail.
    let sent_before = app.provider.sent().len();
    for email in ["olga@acme.test", "nobody@acme.test"] {
        let res = app
            .post_open("/api/v1/auth/password/forgot", json!({ "email": email }))
            .await;
        assert_eq!(res.status(), 202);
    }
    assert_eq!(app.provider.sent().len(), sent_before + 1);
    let code = app.emailed_code("olga@acme.test");

    let weak = problem(
        app.post_open(
            "/api/v1/auth/password/reset",
            json!({ "token": code, "new_password": "short" }),
        )
        .await,
    )
    .await;
    assert_eq!(weak["errors"][0]["field"], "new_password");
    let res = app
        .post_open(
            "/api/v1/auth/password/reset",
            json!({ "token": code, "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(
        res.status(),
        204,
        "a refused password does not use the code up"
    );
    let again = problem(
        app.post_open(
            "/api/v1/auth/password/reset",
            json!({ "token": code, "new_password": "yet another passphrase" }),
        )
        .await,
    )
    .await;
    assert_eq!(again["errors"][0]["field"], "token");

    let res = app
        .client
        .post(format!("{}/api/v1/auth/refresh", app.base))
        .json(&json!({ "refresh_token": before["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a reset ends every session");
    assert_eq!(app.login("olga@acme.test", PASSWORD).await.status(), 401);
    assert_eq!(
        app.login("olga@acme.test", "a brand new passphrase")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn invitations_make_members_and_only_admins_invite() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    app.member(&org, "admin@acme.test", Role::Admin, PASSWORD)
        .await;
    app.member(&org, "agent@acme.test", Role::Agent, PASSWORD)
        .await;
    let admin = app.session("admin@acme.test", PASSWORD).await;
    let agent = app.session("agent@acme.test", PASSWORD).await;
    let invite = |token: &Value, email: &str, role: &str| {
        app.with_bearer(
            Method::POST,
            "/api/v1/invitations",
            token["access_token"].as_str().unwrap(),
        )
        .json(&json!({ "email": email, "role": role }))
        .send()
    };
    assert_eq!(
        invite(&agent, "x@example.com", "viewer")
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        invite(&admin, "x@example.com", "owner")
            .await
            .unwrap()
            .status(),
        403,
        "an admin cannot make owners"
    );
    let res = invite(&admin, "Nina.New@example.com", "manager")
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let code = app.emailed_code("nina.new@example.com");

    // A password equal to the organisation's name is refused, and the code survives it.
    let bad = problem(
        app.post_open(
            "/api/v1/auth/invitations/accept",
            json!({ "token": code, "password": "acme roofing" }),
        )
        .await,
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "password");
    let res = app
        .post_open(
            "/api/v1/auth/invitations/accept",
            json!({ "token": code, "password": "nina's own passphrase" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let joined: Value = res.json().await.unwrap();
    assert_eq!(joined["role"], "manager");
    assert_eq!(joined["organisation_id"], org.id.to_string());
    let twice = app
        .post_open(
            "/api/v1/auth/invitations/accept",
            json!({ "token": code, "password": "nina's own passphrase" }),
        )
        .await;
    assert_eq!(twice.status(), 422, "an invitation works once");

    // An existing account joins a second organisation with its own password.
    let other = app.org("Other Co").await;
    app.member(&other, "owner@other.test", Role::Owner, PASSWORD)
        .await;
    let owner = app.session("owner@other.test", PASSWORD).await;
    let res = app
        .with_bearer(
            Method::POST,
            "/api/v1/invitations",
            owner["access_token"].as_str().unwrap(),
        )
        .json(&json!({ "email": "nina.new@example.com", "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let code = app.emailed_code("nina.new@example.com");
    let wrong = app
        .post_open(
            "/api/v1/auth/invitations/accept",
            json!({ "token": code, "password": "not nina's password" }),
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let res = app
        .post_open(
            "/api/v1/auth/invitations/accept",
            json!({ "token": code, "password": "nina's own passphrase" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let second: Value = res.json().await.unwrap();
    assert_eq!(second["organisation_id"], other.id.to_string());
    assert_eq!(second["role"], "viewer");
}

#[tokio::test]
async fn signup_is_closed_unless_opened_and_limited_per_address() {
    let closed = spawn_app().await;
    let body = json!({
        "organisation_name": "Zed Plumbing",
        "email": "zed@example.com",
        "password": "zed's long passphrase"
    });
    assert_eq!(
        problem(closed.post_open("/api/v1/auth/signup", body.clone()).await).await["status"],
        403
    );

    let app = common::spawn_app_with(common::Options {
        signup_open: true,
        ..common::Options::default()
    })
    .await;
    let res = app.post_open("/api/v1/auth/signup", body).await;
    assert_eq!(res.status(), 201);
    let owner: Value = res.json().await.unwrap();
    assert_eq!(owner["role"], "owner");
    let res = app
        .with_bearer(
            Method::GET,
            "/api/v1/settings",
            owner["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    let settings: Value = res.json().await.unwrap();
    assert_eq!(settings["name"], "Zed Plumbing");
    let taken = problem(
        app.post_open("/api/v1/auth/signup",
            json!({ "organisation_name": "Zed Two", "email": "zed@example.com", "password": "another passphrase" }),
        )
        .await,
    )
    .await;
    assert_eq!(taken["errors"][0]["field"], "email");
    // Three signups per address per hour, the refused ones included.
    let res = app.post_open("/api/v1/auth/signup",
        json!({ "organisation_name": "Three", "email": "three@example.com", "password": "third passphrase" }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let res = app.post_open("/api/v1/auth/signup",
        json!({ "organisation_name": "Four", "email": "four@example.com", "password": "fourth passphrase" }),
    )
    .await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn the_sandbox_shows_account_emails_to_this_machine_only() {
    let app = common::spawn_app_with(common::Options {
        // The harness connects from 127.0.0.1; as a trusted proxy, it can speak for a remote
        // client through X-Forwarded-For.
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..common::Options::default()
    })
    .await;
    let org = app.org("Acme").await;
    app.member(&org, "olga@acme.test", Role::Owner, PASSWORD)
        .await;
    // A lead's email is not an account email.
    let res = app
        .post_lead(&org, json!({ "name": "Ann", "email": "ann@example.com" }))
        .await;
    assert_eq!(res.status(), 201);
    app.drain().await;
    let res = app
        .post_open(
            "/api/v1/auth/password/forgot",
            json!({ "email": "olga@acme.test" }),
        )
        .await;
    assert_eq!(res.status(), 202);

    let outbox = |query: &str| {
        app.client
            .get(format!("{}/api/v1/sandbox/account-emails{query}", app.base))
    };
    let emails: Vec<Value> = outbox("").send().await.unwrap().json().await.unwrap();
    assert_eq!(emails.len(), 1, "only the account email: {emails:?}");
    assert_eq!(emails[0]["to"], "olga@acme.test");
    let code = app.emailed_code("olga@acme.test");
    assert!(emails[0]["body"].as_str().unwrap().contains(&code));
    let none: Vec<Value> = outbox("?to=ann@example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none.is_empty());
    // From another machine: refused.
    let res = outbox("")
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // In production mode there is no sandbox to show.
    let production = common::spawn_app_with(common::Options {
        sandbox: false,
        ..common::Options::default()
    })
    .await;
    let res = production
        .client
        .get(format!("{}/api/v1/sandbox/account-emails", production.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
