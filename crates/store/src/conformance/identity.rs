//! Identity scenarios: users, memberships, sessions, rate limits, the audit log.

use std::collections::HashSet;

use domain::{AuditId, Role, SessionId, UserId};

use super::*;
use crate::codec_identity::verify_chain_segment;

fn new_user(address: &str) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: email(address),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        must_change_password: false,
        operator: false,
        created_at: t0(),
    }
}

fn token(session: SessionId, user: UserId, tenant: Tenant, secret: &str) -> NewRefreshToken {
    NewRefreshToken {
        session_id: session,
        user_id: user,
        tenant_id: Some(tenant.id()),
        token_hash: crypto::sha256(secret.as_bytes()).to_vec(),
        created_at: t0(),
        expires_at: t0() + secs(30 * 86_400),
        user_agent: "Firefox on Linux".to_owned(),
        ip: Some("203.0.113.7".to_owned()),
    }
}

fn hash(secret: &str) -> Vec<u8> {
    crypto::sha256(secret.as_bytes()).to_vec()
}

async fn member(store: &S, tenant: Tenant, address: &str, role: Role) -> UserRecord {
    let user = store.create_user(new_user(address)).await.unwrap();
    store
        .add_membership(tenant, user.id, role, t0())
        .await
        .unwrap();
    user
}

pub async fn users_are_unique_by_email(store: S) {
    let created = store
        .create_user(new_user("Owner@Example.com"))
        .await
        .unwrap();
    let found = store
        .find_user_by_email(&email("owner@example.com"))
        .await
        .unwrap()
        .expect("found by email, whatever its case");
    assert_eq!(found, created);
    assert_eq!(store.get_user(created.id).await.unwrap(), Some(created));
    assert!(
        store
            .find_user_by_email(&email("other@example.com"))
            .await
            .unwrap()
            .is_none()
    );
    let again = store.create_user(new_user("owner@example.com")).await;
    assert!(matches!(again, Err(DbError::Conflict(_))), "{again:?}");
}

pub async fn memberships_are_per_organisation(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let user = member(&store, a, "agent@example.com", Role::Agent).await;
    let m = store.get_membership(a, user.id).await.unwrap().unwrap();
    assert_eq!(
        (m.role, m.user_id, m.tenant_id),
        (Role::Agent, user.id, a.id())
    );
    assert!(store.get_membership(b, user.id).await.unwrap().is_none());
    let twice = store.add_membership(a, user.id, Role::Admin, t0()).await;
    assert!(matches!(twice, Err(DbError::Conflict(_))), "{twice:?}");
    store
        .add_membership(b, user.id, Role::Viewer, t0() + secs(1))
        .await
        .unwrap();
    let all: Vec<_> = store
        .list_memberships(user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.tenant_id, m.role))
        .collect();
    assert_eq!(all, vec![(a.id(), Role::Agent), (b.id(), Role::Viewer)]);
}

pub async fn refresh_tokens_rotate_once_and_reuse_revokes_the_session(store: S) {
    let t = tenant(&store, "A").await;
    let user = member(&store, t, "u@example.com", Role::Manager).await;
    let session = SessionId::new();
    let started = store
        .create_session(token(session, user.id, t, "first"))
        .await
        .unwrap();
    assert_eq!(started.ip.as_deref(), Some("203.0.113.7"));

    let later = t0() + secs(60);
    let rotated = store
        .refresh_session(
            &hash("first"),
            token(SessionId::new(), user.id, t, "second"),
            later,
        )
        .await
        .unwrap();
    let RefreshOutcome::Rotated(live) = rotated else {
        panic!("a live token rotates: {rotated:?}")
    };
    assert_eq!(
        live.id, session,
        "the session keeps its id across rotations"
    );
    assert_eq!(live.last_used_at, later);

    // The first token again: someone kept a copy. The whole session ends.
    let reused = store
        .refresh_session(&hash("first"), token(session, user.id, t, "third"), later)
        .await
        .unwrap();
    assert_eq!(
        reused,
        RefreshOutcome::Reused {
            session_id: session,
            user_id: user.id,
            tenant_id: Some(t.id())
        }
    );
    assert!(
        store
            .get_live_session(session, later)
            .await
            .unwrap()
            .is_none()
    );
    let after = store
        .refresh_session(&hash("second"), token(session, user.id, t, "fourth"), later)
        .await
        .unwrap();
    assert!(
        !matches!(after, RefreshOutcome::Rotated(_)),
        "the newest token of a revoked session no longer works: {after:?}"
    );
    let unknown = store
        .refresh_session(&hash("never"), token(session, user.id, t, "fifth"), later)
        .await
        .unwrap();
    assert_eq!(unknown, RefreshOutcome::Invalid);
}

pub async fn expired_refresh_tokens_are_invalid(store: S) {
    let t = tenant(&store, "A").await;
    let user = member(&store, t, "u@example.com", Role::Agent).await;
    let session = SessionId::new();
    store
        .create_session(token(session, user.id, t, "first"))
        .await
        .unwrap();
    let much_later = t0() + secs(31 * 86_400);
    let outcome = store
        .refresh_session(&hash("first"), token(session, user.id, t, "n"), much_later)
        .await
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::Invalid);
    assert!(
        store
            .get_live_session(session, much_later)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn concurrent_refreshes_of_one_token_rotate_once(store: S) {
    let t = tenant(&store, "A").await;
    let user = member(&store, t, "u@example.com", Role::Agent).await;
    let session = SessionId::new();
    store
        .create_session(token(session, user.id, t, "first"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .refresh_session(
                    &hash("first"),
                    token(session, user.id, t, &format!("next-{i}")),
                    t0() + secs(1),
                )
                .await
                .unwrap()
        }));
    }
    let mut rotated = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), RefreshOutcome::Rotated(_)) {
            rotated += 1;
        }
    }
    assert!(rotated <= 1, "{rotated} presentations of one token rotated");
}

pub async fn sessions_list_revoke_and_end_with_a_new_password(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let user = member(&store, a, "u@example.com", Role::Owner).await;
    let other = member(&store, a, "v@example.com", Role::Agent).await;
    let (s1, s2, s3) = (SessionId::new(), SessionId::new(), SessionId::new());
    for (s, secret) in [(s1, "one"), (s2, "two"), (s3, "three")] {
        store
            .create_session(token(s, user.id, a, secret))
            .await
            .unwrap();
    }
    let theirs = SessionId::new();
    store
        .create_session(token(theirs, other.id, a, "theirs"))
        .await
        .unwrap();
    let now = t0() + secs(10);
    let listed: HashSet<_> = store
        .list_sessions(user.id, Some(a), now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, HashSet::from([s1, s2, s3]));
    assert!(
        store
            .list_sessions(user.id, Some(b), now)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        !store.revoke_session(user.id, theirs, now).await.unwrap(),
        "nobody revokes another user's session"
    );
    assert!(store.get_live_session(theirs, now).await.unwrap().is_some());
    assert!(store.revoke_session(user.id, s1, now).await.unwrap());
    assert!(!store.revoke_session(user.id, s1, now).await.unwrap());
    assert!(store.get_live_session(s1, now).await.unwrap().is_none());

    store
        .set_password(user.id, "$argon2id$new", false, Some(s2), now)
        .await
        .unwrap();
    let left: Vec<_> = store
        .list_sessions(user.id, Some(a), now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![s2], "a new password ends every other session");
    assert!(store.get_live_session(theirs, now).await.unwrap().is_some());
    let changed = store.get_user(user.id).await.unwrap().unwrap();
    assert_eq!(changed.password_hash, "$argon2id$new");
    assert_eq!(changed.password_changed_at, now);
    let missing = store
        .set_password(UserId::new(), "x", false, None, now)
        .await;
    assert!(matches!(missing, Err(DbError::NotFound)), "{missing:?}");
}

pub async fn rate_limit_windows_count_and_expire(store: S) {
    let w1 = t0();
    let w2 = t0() + secs(900);
    let exp = |w: Timestamp| w + secs(900);
    for expected in 1..=3 {
        assert_eq!(
            store
                .rate_limit_add("login:x", w1, exp(w1), 1)
                .await
                .unwrap(),
            expected
        );
    }
    assert_eq!(
        store
            .rate_limit_add("login:x", w1, exp(w1), 0)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .rate_limit_add("login:y", w1, exp(w1), 0)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .rate_limit_add("login:x", w2, exp(w2), 1)
            .await
            .unwrap(),
        1
    );
    // The old window expired when the new one began: reading it again finds nothing.
    assert_eq!(
        store
            .rate_limit_add("login:x", w1, exp(w1), 0)
            .await
            .unwrap(),
        0
    );
}

fn audit(tenant: Option<Tenant>, action: &str, at: Timestamp) -> NewAuditEntry {
    NewAuditEntry {
        id: AuditId::new(),
        tenant_id: tenant.map(|t| t.id()),
        at,
        actor_kind: ActorKind::User,
        actor_id: "user-1".to_owned(),
        action: action.to_owned(),
        target_kind: "lead".to_owned(),
        target_id: "lead-1".to_owned(),
        ip: Some("198.51.100.4".to_owned()),
        correlation_id: "req-1".to_owned(),
        detail: serde_json::json!({"fields": ["name", "phone"], "count": 2}),
    }
}

async fn whole_chain(store: &S, chain: AuditChain) -> Vec<AuditEntry> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |e: &AuditEntry| e.seq);
        let page = store.audit_chain_page(chain, after, 7).await.unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

pub async fn audit_chains_link_entries_per_organisation(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    for i in 0..3 {
        store
            .append_audit(audit(Some(a), &format!("lead.read.{i}"), t0() + secs(i)))
            .await
            .unwrap();
    }
    store
        .append_audit(audit(Some(b), "lead.read", t0()))
        .await
        .unwrap();
    let first_platform = store
        .append_audit(audit(None, "org.create", t0()))
        .await
        .unwrap();
    assert_eq!(first_platform.seq, 1);
    assert_eq!(first_platform.prev_hash, vec![0u8; 32]);

    let newest = store
        .list_audit(AuditChain::Tenant(a.id()), None, 2)
        .await
        .unwrap();
    let actions: Vec<_> = newest.iter().map(|e| e.entry.action.as_str()).collect();
    assert_eq!(actions, ["lead.read.2", "lead.read.1"]);
    let older = store
        .list_audit(AuditChain::Tenant(a.id()), Some(newest[1].seq), 10)
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(
        older[0].entry,
        audit_like(&older[0].entry, Some(a), "lead.read.0")
    );

    let chain_a = whole_chain(&store, AuditChain::Tenant(a.id())).await;
    assert_eq!(chain_a.len(), 3);
    assert_eq!(chain_a[1].prev_hash, chain_a[0].hash);
    verify_chain_segment(&a.id().to_string(), &chain_a, None).expect("chain A holds");
    let chains: HashSet<_> = store.audit_chains().await.unwrap().into_iter().collect();
    assert_eq!(
        chains,
        HashSet::from([
            AuditChain::Tenant(a.id()),
            AuditChain::Tenant(b.id()),
            AuditChain::Platform
        ])
    );
}

/// `entry` as [`audit`] would have made it, keeping its id and time.
fn audit_like(entry: &NewAuditEntry, tenant: Option<Tenant>, action: &str) -> NewAuditEntry {
    NewAuditEntry {
        id: entry.id,
        at: entry.at,
        ..audit(tenant, action, entry.at)
    }
}

pub async fn concurrent_audit_appends_keep_one_unbroken_chain(store: S) {
    let a = tenant(&store, "A").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(audit(Some(a), &format!("a{i}"), t0()))
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let chain = whole_chain(&store, AuditChain::Tenant(a.id())).await;
    assert_eq!(chain.len(), 24);
    verify_chain_segment(&a.id().to_string(), &chain, None).expect("one unbroken chain");
}

pub async fn organisation_secrets_are_sealed_per_organisation(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    store
        .set_tenant_secrets(
            a,
            &[
                ("tax_id".to_owned(), Some("12-3456789".to_owned())),
                ("sendgrid_api_key".to_owned(), Some("SG.secret".to_owned())),
            ],
            t0(),
        )
        .await
        .unwrap();
    store
        .set_tenant_secrets(
            a,
            &[
                ("sendgrid_api_key".to_owned(), Some("SG.rotated".to_owned())),
                ("tax_id".to_owned(), None),
            ],
            t0() + secs(1),
        )
        .await
        .unwrap();
    let secrets = store.get_tenant_secrets(a).await.unwrap();
    assert_eq!(
        secrets.into_iter().collect::<Vec<_>>(),
        vec![("sendgrid_api_key".to_owned(), "SG.rotated".to_owned())]
    );
    assert!(store.get_tenant_secrets(b).await.unwrap().is_empty());
}

fn one_time(tenant: Option<Tenant>, kind: OneTimeKind, secret: &str) -> NewOneTimeToken {
    NewOneTimeToken {
        id: uuid::Uuid::now_v7(),
        kind,
        token_hash: hash(secret),
        user_id: None,
        tenant_id: tenant.map(|t| t.id()),
        email: email("Invitee@Example.com"),
        role: Some(Role::Agent),
        created_by: None,
        created_at: t0(),
        expires_at: t0() + secs(3600),
    }
}

pub async fn one_time_tokens_work_once_and_expire(store: S) {
    let a = tenant(&store, "A").await;
    let invite = one_time(Some(a), OneTimeKind::Invitation, "invite");
    store.create_one_time_token(invite.clone()).await.unwrap();
    let now = t0() + secs(60);
    let found = store
        .find_one_time_token(&hash("invite"), OneTimeKind::Invitation, now)
        .await
        .unwrap()
        .expect("an unused token is found");
    assert_eq!(found.email, email("invitee@example.com"));
    assert_eq!(
        (found.role, found.tenant_id),
        (Some(Role::Agent), Some(a.id()))
    );
    assert!(
        store
            .find_one_time_token(&hash("invite"), OneTimeKind::PasswordReset, now)
            .await
            .unwrap()
            .is_none(),
        "a token works only for its own kind"
    );
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .redeem_one_time_token(&hash("invite"), OneTimeKind::Invitation, now)
                .await
                .unwrap()
        }));
    }
    let mut redeemed = 0;
    for task in tasks {
        if let Some(t) = task.await.unwrap() {
            assert_eq!(t.used_at, Some(now));
            redeemed += 1;
        }
    }
    assert_eq!(redeemed, 1, "exactly one redemption wins");
    assert!(
        store
            .find_one_time_token(&hash("invite"), OneTimeKind::Invitation, now)
            .await
            .unwrap()
            .is_none()
    );

    let reset = one_time(None, OneTimeKind::PasswordReset, "reset");
    store.create_one_time_token(reset).await.unwrap();
    let late = t0() + secs(3601);
    assert!(
        store
            .redeem_one_time_token(&hash("reset"), OneTimeKind::PasswordReset, late)
            .await
            .unwrap()
            .is_none(),
        "an expired token does not work"
    );
}

pub async fn suspended_organisations_are_marked_and_their_keys_say_so(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    for t in [a, b] {
        store
            .create_api_key(
                t,
                NewApiKey {
                    id: domain::ApiKeyId::new(),
                    name: "k".into(),
                    prefix: format!("ll_{}", t.id().as_uuid().simple()),
                    hash: vec![1; 32],
                    scopes: vec!["leads:read".into()],
                    created_at: t0(),
                },
            )
            .await
            .unwrap();
    }
    let key_of = |t: Tenant| format!("ll_{}", t.id().as_uuid().simple());
    store
        .set_tenant_suspended(a.id(), Some(t0() + secs(5)))
        .await
        .unwrap();
    let org = store.get_tenant(a.id()).await.unwrap().unwrap();
    assert_eq!(org.suspended_at, Some(t0() + secs(5)));
    let key = store
        .find_api_key_by_prefix(&key_of(a))
        .await
        .unwrap()
        .unwrap();
    assert!(key.tenant_suspended);
    let other = store
        .find_api_key_by_prefix(&key_of(b))
        .await
        .unwrap()
        .unwrap();
    assert!(!other.tenant_suspended, "only A is suspended");
    store.set_tenant_suspended(a.id(), None).await.unwrap();
    let key = store
        .find_api_key_by_prefix(&key_of(a))
        .await
        .unwrap()
        .unwrap();
    assert!(!key.tenant_suspended);
    let missing = store
        .set_tenant_suspended(domain::TenantId::new(), Some(t0()))
        .await;
    assert!(matches!(missing, Err(DbError::NotFound)), "{missing:?}");
}

pub async fn operator_sessions_belong_to_no_organisation(store: S) {
    let a = tenant(&store, "Acme").await;
    let operator = store
        .create_user(NewUser {
            operator: true,
            ..new_user("ops@leadline.example")
        })
        .await
        .unwrap();
    assert!(operator.operator);
    let session = SessionId::new();
    let first = NewRefreshToken {
        tenant_id: None,
        ..token(session, operator.id, a, "ops-first")
    };
    let created = store.create_session(first).await.unwrap();
    assert_eq!(created.tenant_id, None);
    let live = store
        .get_live_session(session, t0())
        .await
        .unwrap()
        .expect("live");
    assert_eq!(live.tenant_id, None);
    assert_eq!(
        live.ip.as_deref(),
        Some("203.0.113.7"),
        "the address opens under the platform scope"
    );
    // Listed among the platform's sessions, never an organisation's.
    let platform = store.list_sessions(operator.id, None, t0()).await.unwrap();
    assert_eq!(platform.len(), 1);
    assert!(
        store
            .list_sessions(operator.id, Some(a), t0())
            .await
            .unwrap()
            .is_empty()
    );
    // Rotation keeps it the platform's.
    let RefreshOutcome::Rotated(rotated) = store
        .refresh_session(
            &hash("ops-first"),
            token(SessionId::new(), UserId::new(), a, "ops-second"),
            t0() + secs(60),
        )
        .await
        .unwrap()
    else {
        panic!("the live token rotates")
    };
    assert_eq!(rotated.tenant_id, None);
    let reused = store
        .refresh_session(
            &hash("ops-first"),
            token(SessionId::new(), UserId::new(), a, "ops-third"),
            t0() + secs(120),
        )
        .await
        .unwrap();
    assert_eq!(
        reused,
        RefreshOutcome::Reused {
            session_id: session,
            user_id: operator.id,
            tenant_id: None
        }
    );
    // A member's sessions in an organisation are not the platform's.
    let owner = member(&store, a, "owner@acme.example", Role::Owner).await;
    store
        .create_session(token(SessionId::new(), owner.id, a, "owner-first"))
        .await
        .unwrap();
    assert!(
        store
            .list_sessions(owner.id, None, t0())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn support_grants_are_per_organisation_and_end(store: S) {
    let a = tenant(&store, "Acme").await;
    let b = tenant(&store, "Bravo").await;
    let owner = member(&store, a, "owner@acme.example", Role::Owner).await;
    let grant = |role: Role, hours: i64, at: Timestamp| NewSupportGrant {
        id: domain::SupportGrantId::new(),
        role,
        reason: "cannot see replies".to_owned(),
        granted_by: owner.id,
        created_at: at,
        expires_at: at + secs(hours * 3600),
    };
    assert_eq!(store.live_support_grant(a.id(), t0()).await.unwrap(), None);
    let viewer = store
        .create_support_grant(a, grant(Role::Viewer, 24, t0()))
        .await
        .unwrap();
    assert_eq!(viewer.tenant_id, a.id());
    assert!(viewer.is_live(t0()));
    let manager = store
        .create_support_grant(a, grant(Role::Manager, 1, t0() + secs(10)))
        .await
        .unwrap();
    // The strongest live grant answers; after it expires, the weaker one.
    let live = store
        .live_support_grant(a.id(), t0() + secs(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.id, manager.id);
    let later = t0() + secs(2 * 3600);
    let live = store
        .live_support_grant(a.id(), later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.id, viewer.id);
    // Another organisation neither sees nor revokes A's grants.
    assert!(store.list_support_grants(b).await.unwrap().is_empty());
    assert_eq!(store.live_support_grant(b.id(), t0()).await.unwrap(), None);
    assert!(
        !store
            .revoke_support_grant(b, viewer.id, later)
            .await
            .unwrap()
    );
    // Revoked: no longer live, still listed, and not revoked twice.
    assert!(
        store
            .revoke_support_grant(a, viewer.id, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_support_grant(a, viewer.id, later)
            .await
            .unwrap()
    );
    assert_eq!(store.live_support_grant(a.id(), later).await.unwrap(), None);
    let listed = store.list_support_grants(a).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, manager.id, "newest first");
    assert_eq!(listed[1].revoked_at, Some(later));
}

pub async fn staged_audit_entries_join_their_chains_in_order(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    store
        .append_audit(audit(Some(a), "direct.0", t0()))
        .await
        .unwrap();
    let staged: Vec<NewAuditEntry> = (0..5)
        .map(|i| {
            let org = if i % 2 == 0 { a } else { b };
            audit(Some(org), &format!("staged.{i}"), t0() + secs(i))
        })
        .collect();
    store.stage_audit(staged.clone()).await.unwrap();
    assert!(store.staged_audit_count().await.unwrap() <= 5);
    // Part, then a direct append in between, then the rest (a backend may have chained them
    // already): each chain keeps the staging order, and holds.
    assert!(store.chain_staged_audit(2).await.unwrap() <= 2);
    store
        .append_audit(audit(Some(a), "direct.1", t0() + secs(10)))
        .await
        .unwrap();
    store.chain_staged_audit(100).await.unwrap();
    assert_eq!(store.chain_staged_audit(100).await.unwrap(), 0);
    assert_eq!(store.staged_audit_count().await.unwrap(), 0);

    let chain_a = whole_chain(&store, AuditChain::Tenant(a.id())).await;
    let actions: Vec<_> = chain_a.iter().map(|e| e.entry.action.as_str()).collect();
    assert_eq!(actions.len(), 5);
    assert_eq!(actions[0], "direct.0");
    let staged_order: Vec<_> = actions
        .iter()
        .filter(|a| a.starts_with("staged."))
        .collect();
    assert_eq!(staged_order, [&"staged.0", &"staged.2", &"staged.4"]);
    verify_chain_segment(&a.id().to_string(), &chain_a, None).expect("chain A holds");
    let chain_b = whole_chain(&store, AuditChain::Tenant(b.id())).await;
    assert_eq!(chain_b.len(), 2);
    verify_chain_segment(&b.id().to_string(), &chain_b, None).expect("chain B holds");
    // Chained as staged: the address opens, the detail is whole.
    assert_eq!(chain_b[0].entry, staged[1]);

    // Intake stages its own entry in its transaction: a new lead, then a touch; a replay none.
    let context = AuditContext {
        actor_kind: ActorKind::ApiKey,
        actor_id: "key-1".to_owned(),
        ip: Some("198.51.100.9".to_owned()),
        correlation_id: "req-9".to_owned(),
    };
    let with_audit = |lead: NewLead| IntakeRequest {
        audit: Some(context.clone()),
        idempotency: Some(IdempotencyClaim {
            key: "k".to_owned(),
            request_hash: [1; 32],
        }),
        ..intake_req(b, lead, t0())
    };
    let created = store
        .intake(b, with_audit(new_lead("Ann", Some("+14155552671"), None)))
        .await
        .unwrap();
    let replayed = store
        .intake(b, with_audit(new_lead("Ann", Some("+14155552671"), None)))
        .await
        .unwrap();
    assert!(replayed.replayed);
    let touched = store
        .intake(
            b,
            IntakeRequest {
                audit: Some(context.clone()),
                ..intake_req(b, new_lead("Ann", Some("+14155552671"), None), t0())
            },
        )
        .await
        .unwrap();
    assert!(!touched.created);
    store.chain_staged_audit(100).await.unwrap();
    let newest = store
        .list_audit(AuditChain::Tenant(b.id()), None, 2)
        .await
        .unwrap();
    let seen: Vec<_> = newest
        .iter()
        .map(|e| (e.entry.action.as_str(), e.entry.target_id.clone()))
        .collect();
    let lead = created.lead.id.to_string();
    assert_eq!(seen, [("lead.touch", lead.clone()), ("lead.create", lead)]);
    assert_eq!(newest[1].entry.actor_kind, ActorKind::ApiKey);
    assert_eq!(newest[1].entry.ip.as_deref(), Some("198.51.100.9"));
    assert_eq!(newest[1].entry.correlation_id, "req-9");
}

pub async fn concurrent_chainers_append_each_staged_entry_once(store: S) {
    let a = tenant(&store, "A").await;
    let entries: Vec<NewAuditEntry> = (0..60)
        .map(|i| audit(Some(a), &format!("staged.{i}"), t0() + secs(i)))
        .collect();
    store.stage_audit(entries).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut total = 0;
            loop {
                let n = store.chain_staged_audit(7).await.unwrap();
                total += n;
                if n == 0 && store.staged_audit_count().await.unwrap() == 0 {
                    return total;
                }
            }
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert!(
        total <= 60,
        "no entry chained twice ({total} chains for 60)"
    );
    let chain = whole_chain(&store, AuditChain::Tenant(a.id())).await;
    assert_eq!(chain.len(), 60, "each staged entry chained exactly once");
    verify_chain_segment(&a.id().to_string(), &chain, None).expect("one unbroken chain");
}
