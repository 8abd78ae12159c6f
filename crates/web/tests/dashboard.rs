//! The dashboard as a browser without JavaScript sees it: signing in, the lead pages, the role
//! matrix, CSRF refusals, escaping, and tenancy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestApp, Visitor, csrf_of, hidden_of, location, spawn_app};
use domain::Role;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

async fn lead(app: &TestApp, org: &common::Org, name: &str) -> String {
    let res = app
        .post_lead(
            org,
            json!({
                "name": name,
                "phone": "(312) 555-0142",
                "source": "web_form",
                "consent": {
                    "disclosure_text": "By submitting you agree to receive texts from Acme Roofing.",
                    "page_url": "https://acme.example/quote",
                    "purposes": ["transactional", "marketing"]
                }
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn signed_in(app: &TestApp, org: &common::Org, email: &str, role: Role) -> Visitor {
    app.member(org, email, role, PASSWORD).await;
    let visitor = Visitor::new(app);
    let res = visitor.sign_in(email, PASSWORD).await;
    assert_eq!(res.status(), 303, "signing in as {email}");
    visitor
}

#[tokio::test]
async fn a_member_signs_in_sees_the_lead_answered_and_signs_out() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    app.member(&org, "agent@acme.example", Role::Agent, PASSWORD)
        .await;
    let id = lead(&app, &org, "Jane Doe").await;
    app.drain().await;

    let visitor = Visitor::new(&app);
    // Not signed in: to the sign-in page, and back after.
    let res = visitor.get("/app/leads?status=new").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res),
        "/app/login?next=%2Fapp%2Fleads%3Fstatus%3Dnew"
    );

    let form = visitor.page("/app/login?next=%2Fapp%2Fleads", 200).await;
    assert!(form.contains("<label for=\"email\">Email</label>"));
    let csrf = csrf_of(&form);
    let wrong = visitor
        .post(
            "/app/login",
            &[
                ("csrf", &csrf),
                ("email", "agent@acme.example"),
                ("password", "not it at all"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Invalid email or password.")
    );

    let res = visitor
        .post(
            "/app/login",
            &[
                ("csrf", &csrf),
                ("email", "agent@acme.example"),
                ("password", PASSWORD),
                ("next", "/app/leads"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/app/leads");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ll_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/app"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain http here: {cookie}");

    let res = visitor.get("/app/leads").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let list = res.text().await.unwrap();
    assert!(list.contains("Jane Doe"));
    assert!(
        list.contains("status-contacted"),
        "the first answer moved it on"
    );

    let page = visitor.page(&format!("/app/leads/{id}"), 200).await;
    assert!(
        page.contains("SMS to the lead"),
        "the first answer is on the timeline"
    );
    assert!(page.contains("Acme Roofing"));

    // Signing out ends the session itself: the old cookie is no good afterwards.
    let old = visitor.cookie("ll_session").unwrap();
    let res = visitor
        .post("/app/logout", &[("csrf", &csrf_of(&page))])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(visitor.cookie("ll_session"), None);
    visitor.set_cookie("ll_session", &old);
    let res = visitor.get("/app/leads").await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/app/login"));
}

#[tokio::test]
async fn sign_in_failures_are_limited_with_the_wait_shown() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    app.member(&org, "agent@acme.example", Role::Agent, PASSWORD)
        .await;
    let visitor = Visitor::new(&app);
    let csrf = csrf_of(&visitor.page("/app/login", 200).await);
    for _ in 0..5 {
        let res = visitor
            .post(
                "/app/login",
                &[
                    ("csrf", &csrf),
                    ("email", "agent@acme.example"),
                    ("password", "wrong guess 123"),
                ],
            )
            .await;
        assert_eq!(res.status(), 401);
    }
    // Even the right password now waits: the limit is per email, in the database.
    let res = visitor
        .post(
            "/app/login",
            &[
                ("csrf", &csrf),
                ("email", "agent@acme.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Too many failed attempts. Try again in"),
        "{page}"
    );
    assert!(page.contains("minute"));
}

#[tokio::test]
async fn hostile_names_and_notes_are_shown_as_text() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let id = lead(&app, &org, "<script>alert(1)</script> \"Bobby\" & co").await;
    app.drain().await;
    let visitor = signed_in(&app, &org, "agent@acme.example", Role::Agent).await;
    let page = visitor.page(&format!("/app/leads/{id}"), 200).await;
    let res = visitor
        .post(
            &format!("/app/leads/{id}/notes"),
            &[
                ("csrf", &csrf_of(&page)),
                ("text", "<img src=x onerror=alert(2)> called back"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/app/leads/{id}?done=note"));

    for path in [
        "/app/leads".to_owned(),
        format!("/app/leads/{id}?done=note"),
    ] {
        let html = visitor.page(&path, 200).await;
        assert!(
            !html.contains("<script>alert"),
            "{path} runs the lead's name"
        );
        assert!(!html.contains("<img src=x"), "{path} runs the note");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("&lt;script&gt;"),
            "{path}: {html}"
        );
    }
    let detail = visitor.page(&format!("/app/leads/{id}"), 200).await;
    assert!(
        detail.contains("called back"),
        "the note is on the timeline"
    );
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_write_even_by_forging_the_form() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let id = lead(&app, &org, "Jane Doe").await;
    app.drain().await;
    let sent_before = app.provider.sent().len();

    let viewer = signed_in(&app, &org, "viewer@acme.example", Role::Viewer).await;
    let page = viewer.page(&format!("/app/leads/{id}"), 200).await;
    assert!(
        !page.contains("id=\"send-form\""),
        "a viewer is offered no send button"
    );
    assert!(!page.contains("/status\""), "nor a status change");
    let csrf = csrf_of(&page);
    for (path, fields) in [
        (
            format!("/app/leads/{id}/messages"),
            vec![
                ("csrf", csrf.as_str()),
                ("channel", "sms"),
                ("purpose", "transactional"),
                ("body", "Hi"),
            ],
        ),
        (
            format!("/app/leads/{id}/status"),
            vec![("csrf", csrf.as_str()), ("status", "won")],
        ),
        (
            format!("/app/leads/{id}/notes"),
            vec![("csrf", csrf.as_str()), ("text", "x")],
        ),
    ] {
        let res = viewer.post(&path, &fields).await;
        assert_eq!(res.status(), 403, "{path}");
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("the viewer role cannot do this")
        );
    }
    assert_eq!(app.provider.sent().len(), sent_before, "nothing was sent");

    // An agent sends, and the message goes once however often the form is posted.
    let agent = signed_in(&app, &org, "agent@acme.example", Role::Agent).await;
    let page = agent.page(&format!("/app/leads/{id}"), 200).await;
    assert!(page.contains("id=\"send-form\""));
    assert!(
        page.contains("goes now"),
        "the compliance answer is shown before sending"
    );
    let key = hidden_of(&page, "idempotency_key");
    assert_eq!(key.len(), 36, "a fresh key in the form");
    let fields = [
        ("csrf", csrf_of(&page)),
        ("idempotency_key", key),
        ("channel", "sms".to_owned()),
        ("purpose", "transactional".to_owned()),
        (
            "body",
            "We can come Thursday at 9. Does that suit?".to_owned(),
        ),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for _ in 0..2 {
        let res = agent
            .post(&format!("/app/leads/{id}/messages"), &fields)
            .await;
        assert_eq!(res.status(), 303);
        assert_eq!(
            location(&res),
            format!("/app/leads/{id}?done=sending#conversation")
        );
    }
    app.drain().await;
    let thursday: Vec<_> = app
        .provider
        .sent()
        .into_iter()
        .filter(|m| m.body.contains("Thursday at 9"))
        .collect();
    assert_eq!(
        thursday.len(),
        1,
        "sent once: {:?}",
        thursday
            .iter()
            .map(|m| (&m.to, &m.body))
            .collect::<Vec<_>>()
    );
    let after = agent
        .page(&format!("/app/leads/{id}?done=sending"), 200)
        .await;
    assert!(after.contains("Message accepted: it is being sent now."));
    assert!(after.contains("We can come Thursday at 9."));
}

#[tokio::test]
async fn a_refused_message_comes_back_with_its_errors_and_the_draft() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let id = lead(&app, &org, "Jane Doe").await;
    app.drain().await;
    let agent = signed_in(&app, &org, "agent@acme.example", Role::Agent).await;
    let page = agent.page(&format!("/app/leads/{id}"), 200).await;
    let res = agent
        .post(
            &format!("/app/leads/{id}/messages"),
            &[
                ("csrf", &csrf_of(&page)),
                ("channel", "sms"),
                ("purpose", "transactional"),
                ("subject", "Hello"),
                ("body", "Draft kept <b>here</b>"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("subject: is for email only"), "{html}");
    assert!(
        html.contains("Draft kept &#60;b&#62;here&#60;/b&#62;")
            || html.contains("Draft kept &lt;b&gt;here"),
        "{html}"
    );
}

#[tokio::test]
async fn forms_without_this_sessions_token_or_from_another_site_are_refused() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let id = lead(&app, &org, "Jane Doe").await;
    let agent = signed_in(&app, &org, "agent@acme.example", Role::Agent).await;
    let other = signed_in(&app, &org, "other@acme.example", Role::Agent).await;
    let others_token = csrf_of(&other.page("/app/leads", 200).await);
    let path = format!("/app/leads/{id}/notes");

    let res = agent.post(&path, &[("text", "no token")]).await;
    assert_eq!(res.status(), 403);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The form could not be accepted")
    );
    let res = agent
        .post(
            &path,
            &[("csrf", &others_token), ("text", "someone else's token")],
        )
        .await;
    assert_eq!(res.status(), 403);

    // A planted sign-in CSRF cookie never stands for the session's token.
    agent.set_cookie("ll_login_csrf", "planted-planted-planted-planted-planted");
    let res = agent
        .post(
            &path,
            &[
                ("csrf", "planted-planted-planted-planted-planted"),
                ("text", "planted"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);

    // A cross-site POST is refused before it reaches the form, token or not.
    let own = csrf_of(&agent.page("/app/leads", 200).await);
    let res = reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .header(
            "cookie",
            format!("ll_session={}", agent.cookie("ll_session").unwrap()),
        )
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={own}&text=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let timeline: Value = app
        .get(&org, &format!("/api/v1/leads/{id}/timeline"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        timeline["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] != "note"),
        "no note was added"
    );
    // The sign-in form is protected too: no token, no sign-in.
    let res = Visitor::new(&app)
        .post(
            "/app/login",
            &[("email", "agent@acme.example"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn another_organisations_lead_is_not_found_and_cookies_are_not_bearer_tokens() {
    let app = spawn_app().await;
    let acme = app.org("Acme Roofing").await;
    let other = app.org("Other Co").await;
    let theirs = lead(&app, &other, "Their Lead").await;
    let agent = signed_in(&app, &acme, "agent@acme.example", Role::Agent).await;
    let res = agent.get(&format!("/app/leads/{theirs}")).await;
    assert_eq!(res.status(), 404);
    assert!(!res.text().await.unwrap().contains("Their Lead"));
    let list = agent.page("/app/leads", 200).await;
    assert!(!list.contains("Their Lead"));
    let page = agent.page("/app/leads", 200).await;
    let res = agent
        .post(
            &format!("/app/leads/{theirs}/notes"),
            &[("csrf", &csrf_of(&page)), ("text", "x")],
        )
        .await;
    assert_eq!(res.status(), 404);

    // The cookie's token is for the dashboard only; an API token is no cookie.
    let cookie = agent.cookie("ll_session").unwrap();
    let res = app
        .with_bearer(reqwest::Method::GET, "/api/v1/leads", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    app.member(&acme, "api@acme.example", Role::Agent, PASSWORD)
        .await;
    let tokens = app.session("api@acme.example", PASSWORD).await;
    let forged = Visitor::new(&app);
    forged.set_cookie("ll_session", tokens["access_token"].as_str().unwrap());
    let res = forged.get("/app/leads").await;
    assert_eq!(res.status(), 303);
    assert!(
        forged.cookie("ll_session").is_none(),
        "the bad cookie is cleared"
    );
}

#[tokio::test]
async fn a_search_finds_a_lead_by_phone_or_email_and_says_what_it_could_not_read() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    lead(&app, &org, "Jane Doe").await;
    let res = app
        .post_lead(
            &org,
            json!({ "name": "Bo Email", "email": "bo@example.com" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let viewer = signed_in(&app, &org, "viewer@acme.example", Role::Viewer).await;
    let by_phone = viewer.page("/app/leads?q=312-555-0142", 200).await;
    assert!(by_phone.contains("Jane Doe") && !by_phone.contains("Bo Email"));
    let by_email = viewer.page("/app/leads?q=BO%40example.com", 200).await;
    assert!(by_email.contains("Bo Email") && !by_email.contains("Jane Doe"));
    let filtered = viewer.page("/app/leads?status=won", 200).await;
    assert!(filtered.contains("No leads match."));
    let bad = viewer.get("/app/leads?q=not-a-number").await;
    assert_eq!(bad.status(), 422);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("Not a phone number or email address")
    );
}

#[tokio::test]
async fn the_answer_before_sending_says_when_quiet_hours_hold_a_message() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let id = lead(&app, &org, "Jane Doe").await;
    app.drain().await;
    // 11 pm in Chicago (the lead's area code): federal quiet hours.
    app.clock.set("2026-03-05T05:00:00Z".parse().unwrap());
    let agent = signed_in(&app, &org, "agent@acme.example", Role::Agent).await;
    let page = agent.page(&format!("/app/leads/{id}"), 200).await;
    assert!(page.contains("waits until 2026-03-05 14:00 UTC"), "{page}");
}

#[tokio::test]
async fn operators_have_their_own_pages_and_members_cannot_open_them() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    app.operator("ops@leadline.example", PASSWORD).await;
    let ops = Visitor::new(&app);
    let res = ops.sign_in("ops@leadline.example", PASSWORD).await;
    assert_eq!(location(&res), "/app/platform");
    let page = ops.page("/app/platform", 200).await;
    assert!(page.contains("Acme Roofing"));
    let res = ops
        .post(
            &format!("/app/platform/organisations/{}/suspend", org.id),
            &[("csrf", &csrf_of(&page))],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(
        ops.page("/app/platform?done=suspended", 200)
            .await
            .contains("suspended")
    );
    let res = ops.get("/app/leads").await;
    assert_eq!(
        res.status(),
        403,
        "an operator reads no organisation's leads here"
    );

    let other = app.org("Other Co").await;
    let member = signed_in(&app, &other, "owner@other.example", Role::Owner).await;
    assert_eq!(member.get("/app/platform").await.status(), 403);
}

#[tokio::test]
async fn assets_are_served_by_content_hash_and_cached_for_good() {
    let app = spawn_app().await;
    let visitor = Visitor::new(&app);
    let page = visitor.page("/app/login", 200).await;
    let css = page
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        css.starts_with("/app/assets/app-") && css.ends_with(".css"),
        "{css}"
    );
    let res = visitor.get(&css).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(visitor.get("/app/assets/app-0000.css").await.status(), 404);
    // No inline script or style anywhere: the policy would refuse it.
    assert!(!page.contains("<script>") && !page.contains("style="));
}

#[tokio::test]
async fn a_generated_password_is_replaced_before_anything_else() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let user = app
        .store
        .create_user(store::NewUser {
            id: domain::UserId::new(),
            email: domain::Email::parse("owner@acme.example").unwrap(),
            password_hash: crypto::hash_password("generated-0123456789").unwrap(),
            must_change_password: true,
            operator: false,
            created_at: app.engine.clock.now(),
        })
        .await
        .unwrap();
    app.store
        .add_membership(
            domain::Tenant::from_authenticated(org.id),
            user.id,
            Role::Owner,
            app.engine.clock.now(),
        )
        .await
        .unwrap();
    let owner = Visitor::new(&app);
    assert_eq!(
        owner
            .sign_in("owner@acme.example", "generated-0123456789")
            .await
            .status(),
        303
    );
    let res = owner.get("/app/leads").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/app/password");
    let form = owner.page("/app/password", 200).await;
    assert!(form.contains("Your password was generated for you."));
    let csrf = csrf_of(&form);
    let res = owner
        .post(
            "/app/password",
            &[
                ("csrf", &csrf),
                ("current_password", "generated-0123456789"),
                ("new_password", PASSWORD),
                ("confirm_password", "something else entirely"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("does not match the new password")
    );
    let res = owner
        .post(
            "/app/password",
            &[
                ("csrf", &csrf),
                ("current_password", "generated-0123456789"),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("new_password: must be at least 12 characters")
    );
    let res = owner
        .post(
            "/app/password",
            &[
                ("csrf", &csrf),
                ("current_password", "generated-0123456789"),
                ("new_password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/app/leads");
    assert_eq!(
        owner.get("/app/leads").await.status(),
        200,
        "the same session goes on"
    );
    let again = Visitor::new(&app);
    assert_eq!(
        again
            .sign_in("owner@acme.example", "generated-0123456789")
            .await
            .status(),
        401
    );
    assert_eq!(
        again.sign_in("owner@acme.example", PASSWORD).await.status(),
        303
    );
}

async fn reply(app: &TestApp, org: &common::Org, body: &str) {
    let res = app
        .post(
            org,
            "/api/v1/sandbox/inbound",
            &json!({ "from": "+13125550142", "body": body }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    app.drain().await;
}

#[tokio::test]
async fn the_inbox_shows_replies_and_an_agent_settles_an_opt_out_review() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let id = lead(&app, &org, "Jane Doe").await;
    app.drain().await;
    reply(&app, &org, "Thursday works <i>fine</i>").await;
    reply(&app, &org, "please stop texting me").await;

    let viewer = signed_in(&app, &org, "viewer@acme.example", Role::Viewer).await;
    let page = viewer.page("/app/inbox", 200).await;
    assert!(
        page.contains("Thursday works &#60;i&#62;fine&#60;/i&#62;")
            || page.contains("Thursday works &lt;i&gt;")
    );
    assert!(page.contains(&format!("/app/leads/{id}")));
    assert!(page.contains("en.stop_contacting"), "{page}");
    assert!(
        !page.contains("It is an opt-out"),
        "a viewer decides nothing"
    );
    let review = page
        .split("/app/inbox/reviews/")
        .nth(1)
        .map(|s| s.split('"').next().unwrap().to_owned());
    assert!(review.is_none(), "no form for a viewer");

    let agent = signed_in(&app, &org, "agent@acme.example", Role::Agent).await;
    let page = agent.page("/app/inbox", 200).await;
    assert!(page.contains("please stop texting me"));
    let review = page
        .split("action=\"/app/inbox/reviews/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let forged = viewer
        .post(
            &format!("/app/inbox/reviews/{review}"),
            &[
                ("csrf", &csrf_of(&viewer.page("/app/inbox", 200).await)),
                ("resolution", "dismissed"),
            ],
        )
        .await;
    assert_eq!(forged.status(), 403);
    let res = agent
        .post(
            &format!("/app/inbox/reviews/{review}"),
            &[("csrf", &csrf_of(&page)), ("resolution", "dismissed")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/app/inbox?done=dismissed");
    let after = agent.page("/app/inbox?done=dismissed", 200).await;
    assert!(after.contains("the opt-out it caused is lifted"));
    assert!(after.contains("Nothing waiting."));
    // The lead can be written to again.
    let lead_page = agent.page(&format!("/app/leads/{id}"), 200).await;
    assert!(lead_page.contains("goes now"), "{lead_page}");
}

#[tokio::test]
async fn the_audit_log_is_for_admins_and_shows_who_read_what() {
    let app = spawn_app().await;
    let org = app.org("Acme Roofing").await;
    let id = lead(&app, &org, "Jane Doe").await;
    let agent = signed_in(&app, &org, "agent@acme.example", Role::Agent).await;
    agent.page(&format!("/app/leads/{id}"), 200).await;
    let nav = agent.page("/app/leads", 200).await;
    assert!(
        !nav.contains("/app/audit"),
        "an agent is not offered the audit log"
    );
    assert_eq!(agent.get("/app/audit").await.status(), 403);

    let admin = signed_in(&app, &org, "admin@acme.example", Role::Admin).await;
    let page = admin.page("/app/audit", 200).await;
    assert!(page.contains("Audit log</a>"), "in the admin's navigation");
    assert!(
        page.contains("lead.read"),
        "the agent's read of the lead is there"
    );
    assert!(page.contains(&format!("lead {id}")));
    assert!(page.contains("auth.login"));
}
