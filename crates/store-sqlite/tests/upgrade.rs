//! Upgrading a database that is in use: migrations that rebuild a table keep its rows and the
//! rows that reference it.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use domain::{SessionId, Tenant, UserId};
use sqlx::sqlite::SqliteConnectOptions;
use store::{NewRefreshToken, RefreshOutcome, Store, TenantSettings};
use store_sqlite::SqliteStore;

/// Applies this crate's migrations numbered up to `last` to the database at `db`.
async fn migrate_up_to(db: &Path, last: i64) {
    let staged = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version <= last {
            std::fs::copy(&path, staged.path().join(&name)).unwrap();
        }
    }
    let pool = sqlx::SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(db)
            .create_if_missing(true)
            .foreign_keys(true),
    )
    .await
    .unwrap();
    sqlx::migrate::Migrator::new(staged.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test]
async fn sessions_survive_the_migration_that_lets_operators_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("leadline.db");
    let url = format!("sqlite:{}", db.display());
    let cipher = crypto::Cipher::new(crypto::KeyRing::generate());
    let now = domain::clock::wall_clock_now();

    // A database as release 0005 left it, with a member signed in.
    migrate_up_to(&db, 5).await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (tenant, user, session) = (domain::TenantId::new(), UserId::new(), SessionId::new());
    sqlx::query("INSERT INTO tenants (id, name, settings, created_at) VALUES (?, 'Acme', ?, 0)")
        .bind(tenant.as_uuid())
        .bind(serde_json::to_string(&TenantSettings::default()).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (id, email_ct, email_bidx, password_hash, must_change_password, \
         operator, created_at, password_changed_at) VALUES (?, x'00', x'01', 'h', 0, 0, 0, 0)",
    )
    .bind(user.as_uuid())
    .execute(&pool)
    .await
    .unwrap();
    let expires = (now + jiff::SignedDuration::from_hours(24)).as_microsecond();
    sqlx::query(
        "INSERT INTO sessions (id, user_id, tenant_id, created_at, last_used_at, expires_at, \
         user_agent) VALUES (?, ?, ?, 0, 0, ?, 'Firefox')",
    )
    .bind(session.as_uuid())
    .bind(user.as_uuid())
    .bind(tenant.as_uuid())
    .bind(expires)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) \
         VALUES (?, ?, 0, ?)",
    )
    .bind(crypto::sha256(b"the live token").to_vec())
    .bind(session.as_uuid())
    .bind(expires)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    // This release opens it: the session is still live and its token still rotates.
    let store = SqliteStore::open(&url, cipher).await.unwrap();
    assert!(store.migrations_current().await.unwrap());
    let live = store.get_live_session(session, now).await.unwrap().unwrap();
    assert_eq!(live.tenant_id, Some(tenant));
    let outcome = store
        .refresh_session(
            &crypto::sha256(b"the live token"),
            NewRefreshToken {
                session_id: SessionId::new(),
                user_id: UserId::new(),
                tenant_id: None,
                token_hash: crypto::sha256(b"the next token").to_vec(),
                created_at: now,
                expires_at: now + jiff::SignedDuration::from_hours(24),
                user_agent: "Firefox".into(),
                ip: None,
            },
            now,
        )
        .await
        .unwrap();
    let RefreshOutcome::Rotated(rotated) = outcome else {
        panic!("the kept token rotates: {outcome:?}")
    };
    assert_eq!(rotated.id, session);
    assert_eq!(rotated.tenant_id, Some(tenant));
    let sessions = store
        .list_sessions(user, Some(Tenant::from_authenticated(tenant)), now)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
}
