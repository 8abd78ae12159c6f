//! Who may see what: API keys, scopes, tenants, and answers for paths that do not exist.

mod common;

use common::{Options, fields, problem, spawn_app, spawn_app_with};
use serde_json::{Value, json};

#[tokio::test]
async fn requests_without_a_valid_key_are_refused() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let url = format!("{}/api/v1/leads", app.base);
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    problem(res).await;
    let wrong = format!("{}x", &org.key[..org.key.len() - 1]);
    for key in [
        wrong.as_str(),
        "ll_nonexistent0_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "garbage",
        "",
    ] {
        let res = app.client.get(&url).bearer_auth(key).send().await.unwrap();
        assert_eq!(res.status(), 401, "{key}");
    }
    assert_eq!(
        app.get(&org, "/api/v1/leads")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn revoked_keys_stop_working() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let keys = app
        .store
        .list_api_keys(domain::Tenant::from_authenticated(org.id))
        .await
        .unwrap();
    app.store
        .revoke_api_key(
            domain::Tenant::from_authenticated(org.id),
            keys[0].id,
            app.engine.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        app.get(&org, "/api/v1/leads")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn scopes_limit_what_a_key_can_do() {
    let app = spawn_app().await;
    let reader = app.org_with_scopes("Acme", &["leads:read"]).await;
    let res = app
        .post_lead(&reader, json!({ "phone": "3125550142" }))
        .await;
    assert_eq!(res.status(), 403);
    assert!(
        problem(res).await["detail"]
            .as_str()
            .unwrap()
            .contains("leads:write")
    );
    assert_eq!(
        app.get(&reader, "/api/v1/leads")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.get(&reader, "/api/v1/messages")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        app.post(
            &reader,
            "/api/v1/sandbox/clock",
            &json!({ "advance": "PT1H" })
        )
        .send()
        .await
        .unwrap()
        .status(),
        403
    );
}

#[tokio::test]
async fn another_organisations_data_is_not_found() {
    let app = spawn_app().await;
    let a = app.org("A").await;
    let b = app.org("B").await;
    let lead: Value = app
        .post_lead(&a, json!({ "name": "Jane", "phone": "3125550142" }))
        .await
        .json()
        .await
        .unwrap();
    let id = lead["id"].as_str().unwrap();
    app.drain().await;
    let res = app
        .get(&b, &format!("/api/v1/leads/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["type"], "/problems/not-found");
    let list: Value = app
        .get(&b, "/api/v1/leads")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["data"].as_array().unwrap().is_empty());
    let list: Value = app
        .get(&b, "/api/v1/leads?phone=3125550142")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["data"].as_array().unwrap().is_empty());
    assert!(app.messages(&b, &format!("lead_id={id}")).await.is_empty());
    assert!(app.messages(&b, "").await.is_empty());
    let jobs: Value = app
        .get(&b, "/api/v1/jobs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(jobs.as_array().unwrap().is_empty());
    // B's inbound from Jane's number does not touch A's lead.
    let res = app
        .post(
            &b,
            "/api/v1/sandbox/inbound",
            &json!({ "from": "3125550142", "body": "STOP" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let inbound: Value = res.json().await.unwrap();
    assert!(inbound["message"]["lead_id"].is_null());
    let detail: Value = app
        .get(&a, &format!("/api/v1/leads/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["status"], "contacted",
        "A's lead is untouched by B's opt-out"
    );
    // And the same person posted to B is B's own lead.
    assert_eq!(
        app.post_lead(&b, json!({ "phone": "3125550142" }))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn malformed_ids_unknown_paths_and_methods_are_problems() {
    let app = spawn_app().await;
    let org = app.org("Acme").await;
    let res = app
        .get(&org, "/api/v1/leads/not-a-uuid")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let p = problem(res).await;
    assert_eq!(p["type"], "/problems/malformed-id");
    assert_eq!(fields(&p), ["id"]);
    let res = app
        .get(&org, "/api/v1/leads/01a203e8-0f02-773d-af22-5b50101bd3cb")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app.get(&org, "/api/v1/nothing-here").send().await.unwrap();
    assert_eq!(res.status(), 404);
    problem(res).await;
    let res = app
        .client
        .delete(format!("{}/api/v1/leads", app.base))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert!(res.headers().contains_key("allow"));
    assert_eq!(problem(res).await["type"], "/problems/method-not-allowed");
}

#[tokio::test]
async fn a_clients_request_id_is_kept() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/api/v1/leads", app.base))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-42");
    assert_eq!(problem(res).await["correlation_id"], "trace-42");
    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id with spaces");
}

#[tokio::test]
async fn the_sandbox_is_refused_in_production() {
    let app = spawn_app_with(Options {
        sandbox: false,
        ..Options::default()
    })
    .await;
    let org = app.org("Acme").await;
    for (path, body) in [
        ("/api/v1/sandbox/clock", json!({ "advance": "P1D" })),
        (
            "/api/v1/sandbox/inbound",
            json!({ "from": "3125550142", "body": "hi" }),
        ),
    ] {
        let res = app.post(&org, path, &body).send().await.unwrap();
        assert_eq!(res.status(), 403, "{path}");
        assert!(
            problem(res).await["detail"]
                .as_str()
                .unwrap()
                .contains("production")
        );
    }
}

#[tokio::test]
async fn metrics_are_never_open_on_the_public_listener() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "no token configured: not served here");
    let app = spawn_app_with(Options {
        metrics_token: Some("s3cret-token-for-metrics-scrapes"),
        ..Options::default()
    })
    .await;
    let url = format!("{}/metrics", app.base);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let res = app
        .client
        .get(&url)
        .bearer_auth("s3cret-token-for-metrics-scrapes")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "status": "ok", "database": "ok", "migrations": "current" })
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = common::spawn_app_with(common::Options {
        hsts: true,
        ..common::Options::default()
    })
    .await;
    let org = app.org("Acme").await;
    let ok = app.get(&org, "/api/v1/leads").send().await.unwrap();
    let missing = app
        .client
        .get(format!("{}/nowhere", app.base))
        .send()
        .await
        .unwrap();
    let refused = app
        .client
        .get(format!("{}/api/v1/leads", app.base))
        .send()
        .await
        .unwrap();
    for res in [ok, missing, refused] {
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{}", res.status());
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(
            h["strict-transport-security"],
            "max-age=31536000; includeSubDomains"
        );
    }
}

#[tokio::test]
async fn cross_origin_calls_only_from_configured_origins() {
    let app = common::spawn_app_with(common::Options {
        cors_origins: vec!["https://app.acme.test"],
        ..common::Options::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/leads", app.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.acme.test").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.acme.test"
    );
    assert!(
        allowed
            .headers()
            .get("access-control-allow-credentials")
            .is_none(),
        "no credentials cross-origin"
    );
    let other = preflight("https://evil.test").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Without configuration, no origin is allowed.
    let closed = common::spawn_app().await;
    let res = closed
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/leads", closed.base),
        )
        .header("origin", "https://app.acme.test")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn request_budgets_hold_per_key_and_per_organisation() {
    let app = common::spawn_app_with(common::Options {
        budgets: web::budget::Budgets {
            per_api_key: 3,
            per_organisation: 5,
        },
        ..common::Options::default()
    })
    .await;
    let org = app.org("Acme").await;
    for _ in 0..3 {
        assert_eq!(
            app.get(&org, "/api/v1/leads")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let res = app.get(&org, "/api/v1/leads").send().await.unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body = common::problem(res).await;
    assert_eq!(body["type"], "/problems/rate-limited");

    // A second key of the same organisation has its own budget, but shares the organisation's.
    let second = common::Org {
        id: org.id,
        key: {
            let generated = crypto::generate_api_key();
            app.store
                .create_api_key(
                    domain::Tenant::from_authenticated(org.id),
                    store::NewApiKey {
                        id: domain::ApiKeyId::new(),
                        name: "second".into(),
                        prefix: generated.prefix.clone(),
                        hash: generated.hash.to_vec(),
                        scopes: vec!["leads:read".into()],
                        created_at: app.engine.clock.now(),
                    },
                )
                .await
                .unwrap();
            generated.secret
        },
    };
    // The organisation has spent 3 (the refused one does not count): 2 more, then refused.
    for _ in 0..2 {
        assert_eq!(
            app.get(&second, "/api/v1/leads")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(
        app.get(&second, "/api/v1/leads")
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    // Another organisation is untouched.
    let other = app.org("Other").await;
    assert_eq!(
        app.get(&other, "/api/v1/leads")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn request_budgets_are_shared_between_instances() {
    // Two processes' counters on one database.
    let app = common::spawn_app().await;
    let a = web::budget::BudgetCounters::default();
    let b = web::budget::BudgetCounters::default();
    let now: jiff::Timestamp = "2026-03-04T18:00:10Z".parse().unwrap();
    for _ in 0..4 {
        assert!(a.take("budget:key:k", 5, now).is_ok());
    }
    assert!(
        b.take("budget:key:k", 5, now).is_ok(),
        "b has not heard from a yet"
    );
    a.flush(app.store.as_ref(), now).await;
    b.flush(app.store.as_ref(), now).await;
    assert!(
        b.take("budget:key:k", 5, now).is_err(),
        "after sharing, both know 5 are spent"
    );
    a.flush(app.store.as_ref(), now).await;
    assert!(a.take("budget:key:k", 5, now).is_err());
}

#[tokio::test]
async fn a_suspended_organisation_is_refused_until_resumed() {
    let app = common::spawn_app().await;
    let org = app.org("Acme").await;
    let other = app.org("Other").await;
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
    app.store
        .set_tenant_suspended(org.id, Some(app.engine.clock.now()))
        .await
        .unwrap();

    let by_key = common::problem(app.get(&org, "/api/v1/leads").send().await.unwrap()).await;
    assert_eq!(by_key["type"], "/problems/organisation-suspended");
    let by_session = app
        .with_bearer(reqwest::Method::GET, "/api/v1/leads", &access)
        .send()
        .await
        .unwrap();
    assert_eq!(by_session.status(), 403);
    let login = app
        .login("owner@acme.test", "correct horse battery staple")
        .await;
    assert_eq!(login.status(), 403);
    assert_eq!(
        app.get(&other, "/api/v1/leads")
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "others carry on"
    );

    app.store.set_tenant_suspended(org.id, None).await.unwrap();
    assert_eq!(
        app.get(&org, "/api/v1/leads")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
