//! Tenancy by construction, checked route by route: organisation B's credentials against
//! organisation A's data get 404 for ids and never see A's rows in lists. The last test walks
//! the OpenAPI document (every served route is in it) and fails when an authenticated route has
//! no case here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{Org, TestApp, spawn_app};
use domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// Every authenticated route, with the case below that covers it.
const CASES: &[(&str, &str, &str)] = &[
    (
        "post",
        "/api/v1/leads/{id}/messages",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/templates/preview",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "patch",
        "/api/v1/leads/{id}",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/sequences",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/sequences",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/sequences/{id}",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "put",
        "/api/v1/sequences/{id}",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "delete",
        "/api/v1/sequences/{id}",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/sequences/{id}/enrolments",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/sequences/{id}/simulate",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/leads/{id}/enrolments",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/enrolments/{id}/exit",
        "sequences_and_runs_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/leads/{id}/timeline",
        "timelines_appointments_and_recovery_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/leads/{id}/notes",
        "timelines_appointments_and_recovery_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/leads/{id}/appointments",
        "timelines_appointments_and_recovery_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/leads/{id}/appointments",
        "timelines_appointments_and_recovery_belong_to_one_organisation",
    ),
    (
        "put",
        "/api/v1/appointments/{id}",
        "timelines_appointments_and_recovery_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/appointments/{id}/cancel",
        "timelines_appointments_and_recovery_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/recovery/run",
        "timelines_appointments_and_recovery_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/ai/writer",
        "ai_writers_belong_to_one_organisation",
    ),
    (
        "put",
        "/api/v1/ai/writer",
        "ai_writers_belong_to_one_organisation",
    ),
    (
        "delete",
        "/api/v1/ai/writer",
        "ai_writers_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/ai/usage",
        "ai_writers_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/integrations",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "put",
        "/api/v1/integrations/{provider}",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "delete",
        "/api/v1/integrations/{provider}",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/integrations/{provider}/test",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/hooks/twilio/{source_id}",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/hooks/twilio/{source_id}/status",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/hooks/twilio/{source_id}/voice",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/hooks/twilio/{source_id}/voice/done",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/hooks/sendgrid/{source_id}/events",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/hooks/sendgrid/{source_id}/inbound",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "get",
        "/hooks/meta/{source_id}",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/hooks/meta/{source_id}",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/hooks/ghl/{source_id}",
        "integrations_and_provider_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/invitations",
        "invitations_join_only_the_inviting_organisation",
    ),
    (
        "get",
        "/api/v1/settings",
        "settings_are_the_organisations_own",
    ),
    (
        "put",
        "/api/v1/settings",
        "settings_are_the_organisations_own",
    ),
    (
        "get",
        "/api/v1/leads",
        "lists_never_show_another_organisations_rows",
    ),
    (
        "post",
        "/api/v1/leads",
        "intake_of_the_same_person_makes_a_separate_lead",
    ),
    (
        "get",
        "/api/v1/leads/{id}",
        "ids_of_another_organisation_are_not_found",
    ),
    (
        "get",
        "/api/v1/messages",
        "lists_never_show_another_organisations_rows",
    ),
    (
        "get",
        "/api/v1/jobs",
        "lists_never_show_another_organisations_rows",
    ),
    (
        "get",
        "/api/v1/audit",
        "lists_never_show_another_organisations_rows",
    ),
    (
        "post",
        "/api/v1/sandbox/inbound",
        "inbound_messages_reach_only_the_receiving_organisation",
    ),
    // The sandbox clock is the process's, not an organisation's: it holds no tenant data.
    (
        "post",
        "/api/v1/sandbox/clock",
        "the_sandbox_clock_holds_no_tenant_data",
    ),
    (
        "get",
        "/api/v1/auth/sessions",
        "sessions_and_keys_of_another_organisation_are_out_of_reach",
    ),
    (
        "delete",
        "/api/v1/auth/sessions/{id}",
        "sessions_and_keys_of_another_organisation_are_out_of_reach",
    ),
    (
        "post",
        "/api/v1/auth/logout",
        "sessions_and_keys_of_another_organisation_are_out_of_reach",
    ),
    (
        "post",
        "/api/v1/auth/password",
        "sessions_and_keys_of_another_organisation_are_out_of_reach",
    ),
    (
        "get",
        "/api/v1/api-keys",
        "sessions_and_keys_of_another_organisation_are_out_of_reach",
    ),
    (
        "post",
        "/api/v1/api-keys",
        "sessions_and_keys_of_another_organisation_are_out_of_reach",
    ),
    (
        "delete",
        "/api/v1/api-keys/{id}",
        "sessions_and_keys_of_another_organisation_are_out_of_reach",
    ),
    (
        "get",
        "/api/v1/support-grants",
        "support_grants_open_only_the_granting_organisation",
    ),
    (
        "post",
        "/api/v1/support-grants",
        "support_grants_open_only_the_granting_organisation",
    ),
    (
        "delete",
        "/api/v1/support-grants/{id}",
        "support_grants_open_only_the_granting_organisation",
    ),
    (
        "get",
        "/api/v1/sources",
        "sources_and_their_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/sources",
        "sources_and_their_hooks_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/sources/{id}",
        "sources_and_their_hooks_belong_to_one_organisation",
    ),
    (
        "patch",
        "/api/v1/sources/{id}",
        "sources_and_their_hooks_belong_to_one_organisation",
    ),
    (
        "delete",
        "/api/v1/sources/{id}",
        "sources_and_their_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/sources/{id}/rotate-secret",
        "sources_and_their_hooks_belong_to_one_organisation",
    ),
    (
        "post",
        "/hooks/form/{source_id}",
        "sources_and_their_hooks_belong_to_one_organisation",
    ),
    (
        "options",
        "/hooks/form/{source_id}",
        "sources_and_their_hooks_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/leads/{id}/compliance",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "delete",
        "/api/v1/leads/{id}",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/compliance/consent/{id}",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/compliance/check",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/compliance/reviews",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/compliance/reviews/{id}",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/compliance/dnc",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/compliance/dnc",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/compliance/dnc/import",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "post",
        "/api/v1/compliance/dnc/remove",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "get",
        "/api/v1/compliance/dnc-registry",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "put",
        "/api/v1/compliance/dnc-registry",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "get",
        "/u/{token}",
        "compliance_records_belong_to_one_organisation",
    ),
    (
        "post",
        "/u/{token}",
        "compliance_records_belong_to_one_organisation",
    ),
    // The platform desk is outside every organisation: no member or key of any reaches it.
    (
        "get",
        "/api/v1/platform/organisations",
        "the_platform_desk_is_closed_to_every_organisation",
    ),
    (
        "post",
        "/api/v1/platform/organisations",
        "the_platform_desk_is_closed_to_every_organisation",
    ),
    (
        "post",
        "/api/v1/platform/organisations/{id}/suspend",
        "the_platform_desk_is_closed_to_every_organisation",
    ),
    (
        "post",
        "/api/v1/platform/organisations/{id}/resume",
        "the_platform_desk_is_closed_to_every_organisation",
    ),
    (
        "get",
        "/api/v1/platform/health",
        "the_platform_desk_is_closed_to_every_organisation",
    ),
];

/// Two organisations; A has a lead with an answer, a job and audit entries.
async fn two_orgs() -> (TestApp, Org, Org, Value) {
    let app = spawn_app().await;
    let a = app.org("Alpha Roofing").await;
    let b = app.org("Beta Plumbing").await;
    let res = app
        .post_lead(
            &a,
            json!({ "name": "Ann", "phone": "+14155552671", "email": "ann@example.com" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let lead: Value = res.json().await.unwrap();
    app.drain().await;
    app.member(&a, "owner@alpha.test", Role::Owner, PASSWORD)
        .await;
    app.member(&b, "owner@beta.test", Role::Owner, PASSWORD)
        .await;
    // A's owner signs in: a session and audit entries in A.
    app.session("owner@alpha.test", PASSWORD).await;
    (app, a, b, lead)
}

async fn json_of(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn ids_of_another_organisation_are_not_found() {
    let (app, a, b, lead) = two_orgs().await;
    let path = format!("/api/v1/leads/{}", lead["id"].as_str().unwrap());
    assert_eq!(app.get(&a, &path).send().await.unwrap().status(), 200);
    assert_eq!(app.get(&b, &path).send().await.unwrap().status(), 404);
    let b_owner = app.session("owner@beta.test", PASSWORD).await;
    let res = app
        .with_bearer(
            Method::GET,
            &path,
            b_owner["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        404,
        "a session of B is no better than B's key"
    );
}

#[tokio::test]
async fn lists_never_show_another_organisations_rows() {
    let (app, a, b, _lead) = two_orgs().await;
    for path in [
        "/api/v1/leads",
        "/api/v1/messages",
        "/api/v1/jobs",
        "/api/v1/audit",
    ] {
        let ids = |v: &Value| -> BTreeSet<String> {
            v.get("data")
                .and_then(Value::as_array)
                .or_else(|| v.as_array())
                .map(|rows| {
                    rows.iter()
                        .map(|r| r["id"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let seen_by_a = ids(&json_of(app.get(&a, path).send().await.unwrap()).await);
        let seen_by_b = ids(&json_of(app.get(&b, path).send().await.unwrap()).await);
        assert!(!seen_by_a.is_empty(), "{path}: A sees its own rows");
        assert!(
            seen_by_a.is_disjoint(&seen_by_b),
            "{path}: B sees A's rows: {:?}",
            seen_by_a.intersection(&seen_by_b).collect::<Vec<_>>()
        );
        if path != "/api/v1/audit" {
            // B has no leads, messages or jobs of its own. (Its audit log has its own reads.)
            assert!(seen_by_b.is_empty(), "{path}: {seen_by_b:?}");
        }
    }
    // Filters by A's person's address find nothing in B.
    for path in [
        "/api/v1/leads?phone=%2B14155552671",
        "/api/v1/messages?to=%2B14155552671",
    ] {
        let seen = json_of(app.get(&b, path).send().await.unwrap()).await;
        assert_eq!(seen["data"].as_array().unwrap().len(), 0, "{path}");
    }
}

#[tokio::test]
async fn intake_of_the_same_person_makes_a_separate_lead() {
    let (app, _a, b, lead) = two_orgs().await;
    let res = app
        .post_lead(&b, json!({ "name": "Ann", "phone": "+14155552671" }))
        .await;
    assert_eq!(res.status(), 201, "a new lead in B, not a touch of A's");
    let theirs: Value = res.json().await.unwrap();
    assert_ne!(theirs["id"], lead["id"]);
}

#[tokio::test]
async fn inbound_messages_reach_only_the_receiving_organisation() {
    let (app, a, b, lead) = two_orgs().await;
    let res = app
        .post(
            &b,
            "/api/v1/sandbox/inbound",
            &json!({ "from": "+14155552671", "body": "STOP" }),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    app.drain().await;
    let path = format!("/api/v1/leads/{}", lead["id"].as_str().unwrap());
    let after = json_of(app.get(&a, &path).send().await.unwrap()).await;
    assert_ne!(
        after["status"], "opted_out",
        "B's STOP does not opt out A's lead"
    );
}

#[tokio::test]
async fn the_sandbox_clock_holds_no_tenant_data() {
    let (app, _a, b, _lead) = two_orgs().await;
    let res = app
        .post(
            &b,
            "/api/v1/sandbox/clock",
            &json!({ "set": "2026-03-05T18:00:00Z" }),
        )
        .send()
        .await
        .unwrap();
    let body = json_of(res).await;
    let keys: BTreeSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.iter()
            .all(|k| !k.contains("lead") && !k.contains("message")),
        "{body}"
    );
}

#[tokio::test]
async fn sessions_and_keys_of_another_organisation_are_out_of_reach() {
    let (app, a, b, _lead) = two_orgs().await;
    let alpha = app.session("owner@alpha.test", PASSWORD).await;
    let beta = app.session("owner@beta.test", PASSWORD).await;
    let beta_access = beta["access_token"].as_str().unwrap();

    // B's sessions list shows only B's user's sessions.
    let sessions: Vec<Value> = app
        .with_bearer(Method::GET, "/api/v1/auth/sessions", beta_access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(sessions.iter().all(|s| s["id"] != alpha["session_id"]));
    // Revoking A's session with B's token: not found, and A's session lives on.
    let path = format!(
        "/api/v1/auth/sessions/{}",
        alpha["session_id"].as_str().unwrap()
    );
    let res = app
        .with_bearer(Method::DELETE, &path, beta_access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // B signs out and changes its password: A's session is untouched.
    let res = app
        .with_bearer(Method::POST, "/api/v1/auth/password", beta_access)
        .json(&json!({ "current_password": PASSWORD, "new_password": "beta's new passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .with_bearer(Method::POST, "/api/v1/auth/logout", beta_access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let alpha_access = alpha["access_token"].as_str().unwrap();
    let res = app
        .with_bearer(Method::GET, "/api/v1/auth/sessions", alpha_access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "A's session lives on");

    // API keys: B lists none of A's, cannot revoke A's, and keys it creates are B's.
    let beta = app
        .session("owner@beta.test", "beta's new passphrase")
        .await;
    let beta_access = beta["access_token"].as_str().unwrap();
    let a_keys: Vec<Value> = app
        .with_bearer(Method::GET, "/api/v1/api-keys", alpha_access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b_keys: Vec<Value> = app
        .with_bearer(Method::GET, "/api/v1/api-keys", beta_access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a_ids: BTreeSet<String> = a_keys
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!a_ids.is_empty());
    assert!(
        b_keys
            .iter()
            .all(|k| !a_ids.contains(k["id"].as_str().unwrap()))
    );
    let a_key_id = a_keys[0]["id"].as_str().unwrap();
    let res = app
        .with_bearer(
            Method::DELETE,
            &format!("/api/v1/api-keys/{a_key_id}"),
            beta_access,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        app.get(&a, "/api/v1/leads").send().await.unwrap().status(),
        200,
        "A's key still works"
    );
    let created: Value = app
        .with_bearer(Method::POST, "/api/v1/api-keys", beta_access)
        .json(&json!({ "name": "zapier", "scopes": ["leads:read"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b_new = Org {
        id: b.id,
        key: created["secret"].as_str().unwrap().to_owned(),
    };
    let seen = json_of(app.get(&b_new, "/api/v1/leads").send().await.unwrap()).await;
    assert_eq!(
        seen["data"].as_array().unwrap().len(),
        0,
        "the new key is B's"
    );
}

#[tokio::test]
async fn settings_are_the_organisations_own() {
    let (app, a, b, _lead) = two_orgs().await;
    let res = app
        .client
        .put(format!("{}/api/v1/settings", app.base))
        .bearer_auth(&b.key)
        .json(&json!({ "business_name": "Beta Plumbing & Heating", "secrets": { "tax_id": "12-3456789" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen_by_a = json_of(app.get(&a, "/api/v1/settings").send().await.unwrap()).await;
    assert_eq!(seen_by_a["name"], "Alpha Roofing");
    assert_eq!(seen_by_a["business_name"], "Alpha Roofing");
    assert_eq!(seen_by_a["secrets"]["tax_id"]["set"], false);
    let seen_by_b = json_of(app.get(&b, "/api/v1/settings").send().await.unwrap()).await;
    assert_eq!(seen_by_b["business_name"], "Beta Plumbing & Heating");
}

#[tokio::test]
async fn invitations_join_only_the_inviting_organisation() {
    let (app, a, b, _lead) = two_orgs().await;
    let beta = app.session("owner@beta.test", PASSWORD).await;
    let res = app
        .with_bearer(
            Method::POST,
            "/api/v1/invitations",
            beta["access_token"].as_str().unwrap(),
        )
        .json(&json!({ "email": "new.hire@example.com", "role": "agent" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let email = app.provider.sent().pop().unwrap();
    let token = email
        .body
        .lines()
        .find(|l| l.len() == 43)
        .unwrap()
        .to_owned();
    let res = app
        .client
        .post(format!("{}/api/v1/auth/invitations/accept", app.base))
        .json(&json!({ "token": token, "password": "a new hire's passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let joined: Value = res.json().await.unwrap();
    assert_eq!(joined["organisation_id"], b.id.to_string());
    assert_ne!(joined["organisation_id"], a.id.to_string());
    let res = app
        .with_bearer(
            Method::GET,
            "/api/v1/leads",
            joined["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    let leads: Value = res.json().await.unwrap();
    assert_eq!(
        leads["data"].as_array().unwrap().len(),
        0,
        "none of A's leads"
    );
}

#[tokio::test]
async fn support_grants_open_only_the_granting_organisation() {
    let (app, a, b, _lead) = two_orgs().await;
    app.operator("ops@leadline.test", PASSWORD).await;
    let ops = app.session("ops@leadline.test", PASSWORD).await;
    let ops = ops["access_token"].as_str().unwrap().to_owned();
    let alpha = app.session("owner@alpha.test", PASSWORD).await;
    let beta = app.session("owner@beta.test", PASSWORD).await;
    let alpha = alpha["access_token"].as_str().unwrap();
    let beta = beta["access_token"].as_str().unwrap();

    // B grants support access: it opens B, not A.
    let res = app
        .with_bearer(Method::POST, "/api/v1/support-grants", beta)
        .json(&json!({ "reason": "B's replies are missing" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let b_grant: Value = res.json().await.unwrap();
    let as_operator_in = |org: &Org| {
        app.with_bearer(Method::GET, "/api/v1/leads", &ops)
            .header("X-Leadline-Organisation", org.id.to_string())
    };
    assert_eq!(as_operator_in(&b).send().await.unwrap().status(), 200);
    assert_eq!(
        as_operator_in(&a).send().await.unwrap().status(),
        404,
        "A gave no grant: to the operator, A's data does not exist"
    );
    // A's owner neither sees nor revokes B's grant.
    let listed = json_of(
        app.with_bearer(Method::GET, "/api/v1/support-grants", alpha)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 0);
    let path = format!("/api/v1/support-grants/{}", b_grant["id"].as_str().unwrap());
    let res = app
        .with_bearer(Method::DELETE, &path, alpha)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(as_operator_in(&b).send().await.unwrap().status(), 200);
    // Access under B's grant is in B's audit log, not A's.
    let b_audit = json_of(app.get(&b, "/api/v1/audit").send().await.unwrap()).await;
    let a_audit = json_of(app.get(&a, "/api/v1/audit").send().await.unwrap()).await;
    let accesses = |audit: &Value| {
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "support.access")
            .count()
    };
    assert_eq!(accesses(&b_audit), 2);
    assert_eq!(accesses(&a_audit), 0);
}

#[tokio::test]
async fn the_platform_desk_is_closed_to_every_organisation() {
    let (app, a, _b, _lead) = two_orgs().await;
    let owner = app.session("owner@alpha.test", PASSWORD).await;
    let owner = owner["access_token"].as_str().unwrap();
    let suspend = format!("/api/v1/platform/organisations/{}/suspend", a.id);
    let resume = format!("/api/v1/platform/organisations/{}/resume", a.id);
    let routes = [
        (Method::GET, "/api/v1/platform/organisations"),
        (Method::POST, "/api/v1/platform/organisations"),
        (Method::POST, suspend.as_str()),
        (Method::POST, resume.as_str()),
        (Method::GET, "/api/v1/platform/health"),
    ];
    for (method, path) in routes {
        for credential in [owner, a.key.as_str()] {
            let res = app
                .with_bearer(method.clone(), path, credential)
                .json(&json!({ "name": "Mine now", "owner_email": "x@example.com" }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 403, "{method} {path}");
        }
    }
    // Nothing changed: A is not suspended and no organisation was created.
    assert_eq!(
        app.get(&a, "/api/v1/leads").send().await.unwrap().status(),
        200
    );
    assert_eq!(app.store.list_tenants().await.unwrap().len(), 2);
}

#[tokio::test]
async fn sources_and_their_hooks_belong_to_one_organisation() {
    let (app, a, b, _) = two_orgs().await;
    let res = app
        .post(
            &a,
            "/api/v1/sources",
            &json!({ "kind": "form", "name": "A's site", "settings": {
                "mode": "browser", "allowed_origins": ["https://a.example"] } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let source: Value = res.json().await.unwrap();
    let id = source["id"].as_str().unwrap();
    let path = format!("/api/v1/sources/{id}");

    // B neither lists, reads, changes, rotates nor revokes A's source.
    let listed = json_of(app.get(&b, "/api/v1/sources").send().await.unwrap()).await;
    assert_eq!(listed, json!([]));
    assert_eq!(app.get(&b, &path).send().await.unwrap().status(), 404);
    let patch = app
        .with_bearer(Method::PATCH, &path, &b.key)
        .json(&json!({ "name": "taken" }))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 404);
    let rotate = app
        .post(&b, &format!("{path}/rotate-secret"), &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotate.status(), 404);
    let delete = app
        .with_bearer(Method::DELETE, &path, &b.key)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404);
    // B's own source is B's alone.
    let b_source = app
        .post(
            &b,
            "/api/v1/sources",
            &json!({ "kind": "form", "name": "B's site", "settings": { "mode": "signed" } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(b_source.status(), 201);
    let listed = json_of(app.get(&a, "/api/v1/sources").send().await.unwrap()).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id);

    // A's hook puts the lead into A, never B.
    let a_before = json_of(app.get(&a, "/api/v1/leads").send().await.unwrap()).await["data"]
        .as_array()
        .unwrap()
        .len();
    let hook = format!("{}/hooks/form/{id}", app.base);
    let preflight = app
        .client
        .request(Method::OPTIONS, &hook)
        .header("origin", "https://a.example")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let res = app
        .client
        .post(&hook)
        .header("origin", "https://a.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("phone=%2B1+312+555+0177")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let a_leads = json_of(app.get(&a, "/api/v1/leads").send().await.unwrap()).await;
    assert_eq!(a_leads["data"].as_array().unwrap().len(), a_before + 1);
    let b_leads = json_of(app.get(&b, "/api/v1/leads").send().await.unwrap()).await;
    assert_eq!(b_leads["data"], json!([]));
}

#[tokio::test]
async fn compliance_records_belong_to_one_organisation() {
    let (app, a, b, lead) = two_orgs().await;
    // B has its own lead with the same email.
    let res = app
        .post_lead(&b, json!({ "name": "Ann", "email": "ann@example.com" }))
        .await;
    assert_eq!(res.status(), 201);
    let check = |org: &Org, body: Value| {
        let req = app.post(org, "/api/v1/compliance/check", &body);
        async move { json_of(req.send().await.unwrap()).await }
    };
    // B's dry run does not see A's lead, consent or registry.
    let seen = check(
        &b,
        json!({ "to": "+14155552671", "purpose": "transactional" }),
    )
    .await;
    assert_eq!(seen["lead_id"], Value::Null);
    assert_eq!(seen["reasons"][0]["rule"], "consent.prior_express");
    let id = lead["id"].as_str().unwrap();
    let res = app
        .get(&b, &format!("/api/v1/leads/{id}/compliance"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app
        .get(&b, &format!("/api/v1/compliance/consent/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app
        .client
        .delete(format!("{}/api/v1/leads/{id}", app.base))
        .bearer_auth(&b.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "B cannot erase A's lead");
    assert!(
        app.get(&a, &format!("/api/v1/leads/{id}"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );

    // A's review queue is A's.
    let res = app
        .post(
            &a,
            "/api/v1/sandbox/inbound",
            &json!({ "from": "+14155552671", "body": "please stop texting me" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let reviews = json_of(
        app.get(&a, "/api/v1/compliance/reviews")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let review = reviews[0]["id"].as_str().unwrap();
    let theirs = json_of(
        app.get(&b, "/api/v1/compliance/reviews?state=all")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(theirs, json!([]));
    let res = app
        .post(
            &b,
            &format!("/api/v1/compliance/reviews/{review}"),
            &json!({ "resolution": "dismissed" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // A's do-not-call list is A's: B neither sees it nor lifts from it, and B's own entry for
    // the same address is B's.
    let a_list = json_of(app.get(&a, "/api/v1/compliance/dnc").send().await.unwrap()).await;
    assert_eq!(
        a_list.as_array().unwrap().len(),
        2,
        "A's lead opted out on both addresses"
    );
    assert_eq!(
        json_of(app.get(&b, "/api/v1/compliance/dnc").send().await.unwrap()).await,
        json!([])
    );
    let res = app
        .post(
            &b,
            "/api/v1/compliance/dnc/remove",
            &json!({ "address": "+14155552671" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app
        .post(
            &b,
            "/api/v1/compliance/dnc",
            &json!({ "address": "+14155550000" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(format!("{}/api/v1/compliance/dnc/import", app.base))
        .bearer_auth(&b.key)
        .header("content-type", "text/csv")
        .body("+14155550001\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        json_of(app.get(&a, "/api/v1/compliance/dnc").send().await.unwrap()).await,
        a_list
    );

    // A's registry snapshot is A's.
    let res = app
        .client
        .put(format!(
            "{}/api/v1/compliance/dnc-registry?taken_at=2026-03-01T00:00:00Z",
            app.base
        ))
        .bearer_auth(&a.key)
        .body("4155552671\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let view = json_of(
        app.get(&b, "/api/v1/compliance/dnc-registry")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(view["snapshot"], Value::Null);

    // An unsubscribe link names one organisation: B's link never touches A's list.
    let link = app
        .engine
        .config
        .links
        .as_ref()
        .unwrap()
        .unsubscribe_url(b.id, domain::MessageId::new());
    assert_eq!(app.client.get(&link).send().await.unwrap().status(), 200);
    // A token re-signed for another organisation does not exist: flipping the organisation
    // bytes breaks the signature.
    let token = link.rsplit('/').next().unwrap();
    let mut bytes = token.as_bytes().to_vec();
    bytes[0] = if bytes[0] == b'A' { b'B' } else { b'A' };
    let forged = format!("{}/u/{}", app.base, String::from_utf8(bytes).unwrap());
    assert_eq!(app.client.post(&forged).send().await.unwrap().status(), 404);
    let res = app.client.post(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let in_a = check(
        &a,
        json!({ "to": "ann@example.com", "purpose": "transactional" }),
    )
    .await;
    assert!(
        !in_a["reasons"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("unsubscribe")
    );
    assert_eq!(
        json_of(app.get(&a, "/api/v1/compliance/dnc").send().await.unwrap()).await,
        a_list
    );
}

/// Each organisation's integration keys open only its own sources' hooks.
#[tokio::test]
async fn integrations_and_provider_hooks_belong_to_one_organisation() {
    let (app, a, b, _) = two_orgs().await;
    let a_token = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let b_token = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let a_signer = common::SendgridSigner::new();
    let b_signer = common::SendgridSigner::new();
    // GoHighLevel keys of each organisation's own (a test cannot sign as GoHighLevel).
    let ghl_pem = |seed: u8| common::GhlSigner::new(seed).public_pem();
    for (org, token, signer, secret, seed) in [
        (&a, a_token, &a_signer, "a-app-secret-0000", 1u8),
        (&b, b_token, &b_signer, "b-app-secret-0000", 2u8),
    ] {
        for (provider, body) in [
            (
                "ghl",
                json!({ "location_id": format!("loc{seed}"), "webhook_ed25519_key": ghl_pem(seed) }),
            ),
            (
                "twilio",
                json!({ "account_sid": format!("AC{token}"), "auth_token": token, "from": "+15005550006" }),
            ),
            (
                "sendgrid",
                json!({ "api_key": format!("SG.{token}"), "from_email": "hi@example.com", "event_webhook_public_key": signer.public_key() }),
            ),
            (
                "meta",
                json!({ "app_secret": secret, "verify_token": format!("verify-{secret}"), "page_access_token": format!("EAAB{token}") }),
            ),
        ] {
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
    }
    // Each sees its own, masked.
    let a_list = json_of(app.get(&a, "/api/v1/integrations").send().await.unwrap()).await;
    let b_list = json_of(app.get(&b, "/api/v1/integrations").send().await.unwrap()).await;
    assert_eq!(a_list[0]["hints"]["auth_token"], "••••aaaa");
    assert_eq!(b_list[0]["hints"]["auth_token"], "••••bbbb");
    // B removing its Twilio leaves A's, and B's test has nothing to send through.
    let res = app
        .client
        .delete(format!("{}/api/v1/integrations/twilio", app.base))
        .bearer_auth(&b.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let a_list = json_of(app.get(&a, "/api/v1/integrations").send().await.unwrap()).await;
    assert_eq!(a_list[0]["set"], true);
    let res = app
        .post(
            &b,
            "/api/v1/integrations/twilio/test",
            &json!({ "to": "+14155552671" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);

    let mut ids = std::collections::BTreeMap::new();
    for kind in ["twilio", "sendgrid", "meta", "ghl"] {
        let res = app
            .post(
                &a,
                "/api/v1/sources",
                &json!({ "kind": kind, "name": kind, "settings": {} }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        ids.insert(
            kind,
            (
                body["id"].as_str().unwrap().to_owned(),
                body["secret"].as_str().unwrap().to_owned(),
            ),
        );
    }
    let (twilio, _) = &ids["twilio"];
    let params = [
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("CallSid", "CA00000000000000000000000000000001"),
        ("From", "+14155552671"),
        ("To", "+15005550006"),
        ("Body", "hello"),
        ("MessageStatus", "delivered"),
        ("DialCallStatus", "completed"),
    ];
    for path in ["", "/status", "/voice", "/voice/done"] {
        let url = format!("{}/hooks/twilio/{twilio}{path}", app.base);
        let pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (token, expected) in [(b_token, 401), (a_token, 200)] {
            let res = app
                .client
                .post(&url)
                .header(
                    "X-Twilio-Signature",
                    providers::twilio::signature(token, &url, &pairs),
                )
                .form(&pairs)
                .send()
                .await
                .unwrap();
            assert!(
                if expected == 401 {
                    res.status() == 401
                } else {
                    res.status().is_success()
                },
                "{path}: {} signed with {token}",
                res.status()
            );
        }
    }
    // The text A's hook took is A's; B has no inbound message.
    let b_inbound = app.messages(&b, "direction=inbound").await;
    assert!(b_inbound.is_empty());
    assert_eq!(app.messages(&a, "direction=inbound").await.len(), 1);

    let (sendgrid, a_secret) = &ids["sendgrid"];
    let events = format!("{}/hooks/sendgrid/{sendgrid}/events", app.base);
    let body = json!([{ "email": "x@example.com", "event": "delivered", "sg_event_id": "e1" }])
        .to_string();
    let ts = domain::clock::wall_clock_now().as_second().to_string();
    for (signer, expected) in [(&b_signer, 401), (&a_signer, 204)] {
        let res = app
            .client
            .post(&events)
            .header(
                "X-Twilio-Email-Event-Webhook-Signature",
                signer.sign(&ts, &body),
            )
            .header("X-Twilio-Email-Event-Webhook-Timestamp", &ts)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }
    // B's source secret does not open A's parse hook.
    let b_source: Value = app
        .post(
            &b,
            "/api/v1/sources",
            &json!({ "kind": "sendgrid", "name": "b", "settings": {} }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (token, expected) in [
        (b_source["secret"].as_str().unwrap(), 401),
        (a_secret.as_str(), 204),
    ] {
        let res = app
            .client
            .post(format!("{}/hooks/sendgrid/{sendgrid}/inbound?token={token}", app.base))
            .header("content-type", "multipart/form-data; boundary=b")
            .body("--b\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\nx@example.com\r\n--b--\r\n")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }

    let (meta, _) = &ids["meta"];
    let hook = format!("{}/hooks/meta/{meta}", app.base);
    for (token, expected) in [
        ("verify-b-app-secret-0000", 403),
        ("verify-a-app-secret-0000", 200),
    ] {
        let res = app
            .client
            .get(format!(
                "{hook}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=42"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }
    let delivery = json!({ "object": "page", "entry": [] }).to_string();
    for (secret, expected) in [("b-app-secret-0000", 401), ("a-app-secret-0000", 200)] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, delivery.as_bytes());
        let sig: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let res = app
            .client
            .post(&hook)
            .header("X-Hub-Signature-256", format!("sha256={sig}"))
            .body(delivery.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }

    // GoHighLevel: A's hook takes what A's key signed, for A's location only.
    let (ghl, _) = &ids["ghl"];
    let hook = format!("{}/hooks/ghl/{ghl}", app.base);
    let contact = |location: &str, webhook: &str, phone: &str| {
        json!({
            "type": "ContactCreate", "locationId": location, "id": webhook, "phone": phone,
            "timestamp": domain::clock::wall_clock_now().to_string(), "webhookId": webhook,
        })
        .to_string()
    };
    for (seed, body, expected) in [
        (2u8, contact("loc1", "w1", "+14155550101"), 401),
        (1u8, contact("loc2", "w2", "+14155550102"), 200),
        (1u8, contact("loc1", "w3", "+14155550103"), 200),
    ] {
        let sig = common::GhlSigner::new(seed).sign(body.as_bytes());
        let res = app
            .client
            .post(&hook)
            .header("x-ghl-signature", sig)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }
    let phones = |org| {
        let app = &app;
        async move {
            let leads = json_of(app.get(org, "/api/v1/leads").send().await.unwrap()).await;
            leads["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["phone"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let a_phones = phones(&a).await;
    assert!(
        a_phones.contains(&"+14155550103".to_owned()),
        "{a_phones:?}"
    );
    assert!(
        !a_phones
            .iter()
            .any(|p| p == "+14155550101" || p == "+14155550102")
    );
    assert!(
        !phones(&b)
            .await
            .iter()
            .any(|p| p.starts_with("+1415555010"))
    );
}

#[tokio::test]
async fn every_authenticated_route_has_a_cross_tenant_case() {
    let doc = serde_json::to_value(web::openapi()).unwrap();
    let covered: BTreeSet<(String, String)> = CASES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let open = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            let authenticated =
                !open && !path.starts_with("/healthz") && !path.starts_with("/readyz");
            if authenticated && !covered.contains(&(method.clone(), path.clone())) {
                missing.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "authenticated routes without a cross-tenant case in tests/tenancy.rs: {missing:?}"
    );
}

#[tokio::test]
async fn sequences_and_runs_belong_to_one_organisation() {
    let (app, a, b, lead) = two_orgs().await;
    let body = json!({
        "name": "Follow-up",
        "steps": [{ "channel": "sms", "delay": "P1D", "purpose": "informational", "template": "Hi" }]
    });
    let res = app
        .post(&a, "/api/v1/sequences", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let seq: Value = res.json().await.unwrap();
    let id = seq["id"].as_str().unwrap();
    let res = app
        .post(
            &a,
            &format!("/api/v1/sequences/{id}/enrolments"),
            &json!({ "lead_id": lead["id"] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let run: Value = res.json().await.unwrap();
    let run_id = run["id"].as_str().unwrap();

    // B sees none of it, and reaching for it by id is 404 (or, for A's lead in B's body, 422).
    let listed = json_of(app.get(&b, "/api/v1/sequences").send().await.unwrap()).await;
    assert!(listed["data"].as_array().unwrap().is_empty());
    let lead_id = lead["id"].as_str().unwrap();
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/sequences/{id}"), None),
        (
            Method::PUT,
            format!("/api/v1/sequences/{id}"),
            Some(body.clone()),
        ),
        (Method::DELETE, format!("/api/v1/sequences/{id}"), None),
        (
            Method::POST,
            format!("/api/v1/sequences/{id}/enrolments"),
            Some(json!({ "lead_id": lead_id })),
        ),
        (
            Method::POST,
            format!("/api/v1/sequences/{id}/simulate"),
            Some(json!({ "lead_id": lead_id })),
        ),
        (
            Method::GET,
            format!("/api/v1/leads/{lead_id}/enrolments"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/enrolments/{run_id}/exit"),
            Some(json!({})),
        ),
    ] {
        let mut req = app.with_bearer(method.clone(), &path, &b.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 404, "{method} {path}");
    }
    // B's own sequence cannot take A's lead.
    let res = app
        .post(&b, "/api/v1/sequences", &body)
        .send()
        .await
        .unwrap();
    let b_seq: Value = res.json().await.unwrap();
    let res = app
        .post(
            &b,
            &format!(
                "/api/v1/sequences/{}/enrolments",
                b_seq["id"].as_str().unwrap()
            ),
            &json!({ "lead_id": lead_id }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    // B cannot preview a template as A's lead.
    let res = app
        .post(
            &b,
            "/api/v1/templates/preview",
            &json!({ "template": "Hi {{ first_name }}", "lead_id": lead_id }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    // A's run is untouched.
    let runs = json_of(
        app.get(&a, &format!("/api/v1/leads/{lead_id}/enrolments"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(runs["data"][0]["state"], "active");
}

#[tokio::test]
async fn timelines_appointments_and_recovery_belong_to_one_organisation() {
    let (app, a, b, lead) = two_orgs().await;
    let lead_id = lead["id"].as_str().unwrap();
    let res = app
        .post(
            &a,
            &format!("/api/v1/leads/{lead_id}/appointments"),
            &json!({ "starts_at": "2026-03-10T15:00:00Z", "ends_at": "2026-03-10T16:00:00Z",
                     "time_zone": "America/Los_Angeles", "location": "1 Alpha Way" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let appointment: Value = res.json().await.unwrap();
    let appointment_id = appointment["id"].as_str().unwrap();
    let res = app
        .post(
            &a,
            &format!("/api/v1/leads/{lead_id}/notes"),
            &json!({ "text": "Alpha's note" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let slot = json!({ "starts_at": "2026-03-11T15:00:00Z", "ends_at": "2026-03-11T16:00:00Z" });
    for (method, path, body) in [
        (
            Method::GET,
            format!("/api/v1/leads/{lead_id}/timeline"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/leads/{lead_id}/notes"),
            Some(json!({ "text": "Beta's note" })),
        ),
        (
            Method::POST,
            format!("/api/v1/leads/{lead_id}/appointments"),
            Some(slot.clone()),
        ),
        (
            Method::GET,
            format!("/api/v1/leads/{lead_id}/appointments"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/appointments/{appointment_id}"),
            Some(slot.clone()),
        ),
        (
            Method::POST,
            format!("/api/v1/appointments/{appointment_id}/cancel"),
            Some(json!({})),
        ),
    ] {
        let mut req = app.with_bearer(method.clone(), &path, &b.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 404, "{method} {path}");
    }
    // A's appointment is untouched, and only A's note is on A's timeline.
    let list = json_of(
        app.get(&a, &format!("/api/v1/leads/{lead_id}/appointments"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["data"][0]["state"], "scheduled");
    assert_eq!(list["data"][0]["revision"], 1);
    let timeline = json_of(
        app.get(&a, &format!("/api/v1/leads/{lead_id}/timeline"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let notes: Vec<&str> = timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "note")
        .map(|e| e["event"]["note"].as_str().unwrap())
        .collect();
    assert_eq!(notes, ["Alpha's note"]);

    // B's recovery pass reaches none of A's leads, whatever A's rules.
    let res = app
        .post(
            &a,
            "/api/v1/sequences",
            &json!({ "name": "Win back", "steps": [{ "channel": "sms", "delay": "PT0S",
                     "purpose": "marketing", "template": "Still there?" }] }),
        )
        .send()
        .await
        .unwrap();
    let seq: Value = res.json().await.unwrap();
    let res = app
        .client
        .put(format!("{}/api/v1/settings", app.base))
        .bearer_auth(&a.key)
        .json(&json!({ "recovery": [{ "status": "contacted", "silent_for": "PT1H", "sequence_id": seq["id"] }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .put(format!("{}/api/v1/settings", app.base))
        .bearer_auth(&b.key)
        .json(&json!({ "recovery": [{ "status": "contacted", "silent_for": "PT1H", "sequence_id": seq["id"] }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "A's sequence is no sequence of B's");
    // A's quiet lead (the first one is booked now).
    let res = app
        .post_lead(&a, json!({ "name": "Al", "phone": "+14155552672" }))
        .await;
    assert_eq!(res.status(), 201);
    app.drain().await;
    app.clock.advance(jiff::SignedDuration::from_hours(3 * 24));
    let report = json_of(
        app.post(&b, "/api/v1/recovery/run", &json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(report["started"], 0);
    let report = json_of(
        app.post(&a, "/api/v1/recovery/run", &json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(report["started"], 1, "A's own pass finds A's quiet lead");
}

#[tokio::test]
async fn ai_writers_belong_to_one_organisation() {
    let (app, a, b, _) = two_orgs().await;
    let put = |org: &Org, key: &str| {
        app.client
            .put(format!("{}/api/v1/ai/writer", app.base))
            .bearer_auth(&org.key)
            .json(
                &json!({ "api_key": key, "model": "claude-test-1", "monthly_token_budget": 1000 }),
            )
            .send()
    };
    assert_eq!(
        put(&a, "sk-ant-alpha-0123456789abcdef")
            .await
            .unwrap()
            .status(),
        200
    );
    let writer = |org| {
        let app = &app;
        async move { json_of(app.get(org, "/api/v1/ai/writer").send().await.unwrap()).await }
    };
    assert_eq!(writer(&b).await["enabled"], false, "B sees no writer");
    let usage = json_of(app.get(&b, "/api/v1/ai/usage").send().await.unwrap()).await;
    assert!(usage["recent"].as_array().unwrap().is_empty());
    assert!(usage["monthly_token_budget"].is_null());
    // B setting and removing its own writer leaves A's alone.
    assert_eq!(
        put(&b, "sk-ant-beta-0123456789abcdefgh")
            .await
            .unwrap()
            .status(),
        200
    );
    let res = app
        .client
        .delete(format!("{}/api/v1/ai/writer", app.base))
        .bearer_auth(&b.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let a_writer = writer(&a).await;
    assert_eq!(a_writer["enabled"], true);
    assert_eq!(a_writer["api_key_hint"], "••••cdef");
    assert_eq!(writer(&b).await["enabled"], false);
}
