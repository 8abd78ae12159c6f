//! Inbound source scenarios.

use domain::{SourceId, SourceKind};
use secrecy::{ExposeSecret, SecretString};

use super::*;

fn new_source(name: &str, secret: &str) -> NewSource {
    NewSource {
        id: SourceId::new(),
        kind: SourceKind::Form,
        name: name.to_owned(),
        settings: serde_json::json!({ "mode": "signed" }),
        secret: SecretString::from(secret.to_owned()),
        created_at: t0(),
    }
}

fn exposed(secrets: Vec<&SecretString>) -> Vec<String> {
    secrets
        .into_iter()
        .map(|s| s.expose_secret().to_owned())
        .collect()
}

pub async fn sources_belong_to_one_organisation(store: S) {
    let a = tenant(&store, "Acme").await;
    let b = tenant(&store, "Bravo").await;
    let created = store
        .create_source(a, new_source("Website", "secret-one"))
        .await
        .unwrap();
    assert_eq!(created.tenant_id, a.id());
    assert_eq!(created.kind, SourceKind::Form);
    assert_eq!(created.settings["mode"], "signed");
    assert_eq!(created.secret.expose_secret(), "secret-one");
    assert!(created.previous_secret.is_none());
    assert!(!created.tenant_suspended);

    // The webhook's lookup finds it by id alone, with its organisation.
    let found = store.find_source(created.id).await.unwrap().unwrap();
    assert_eq!(found.tenant_id, a.id());
    assert_eq!(found.secret.expose_secret(), "secret-one");

    // Another organisation neither sees, changes nor revokes it.
    assert!(store.get_source(b, created.id).await.unwrap().is_none());
    assert!(store.list_sources(b).await.unwrap().is_empty());
    let rename = SourceUpdate {
        name: Some("Taken".to_owned()),
        ..SourceUpdate::default()
    };
    assert!(
        store
            .update_source(b, created.id, rename, t0())
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.revoke_source(b, created.id, t0()).await.unwrap());
    assert_eq!(
        store.get_source(a, created.id).await.unwrap().unwrap().name,
        "Website"
    );

    // A suspended organisation's sources say so.
    store
        .set_tenant_suspended(a.id(), Some(t0()))
        .await
        .unwrap();
    assert!(
        store
            .find_source(created.id)
            .await
            .unwrap()
            .unwrap()
            .tenant_suspended
    );
}

pub async fn source_secrets_rotate_with_a_grace_period(store: S) {
    let a = tenant(&store, "Acme").await;
    let source = store
        .create_source(a, new_source("Website", "first"))
        .await
        .unwrap();
    let grace_until = t0() + secs(86_400);
    let rotated = store
        .update_source(
            a,
            source.id,
            SourceUpdate {
                rotate_secret: Some((SecretString::from("second".to_owned()), grace_until)),
                ..SourceUpdate::default()
            },
            t0() + secs(5),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.secret.expose_secret(), "second");
    assert_eq!(
        exposed(rotated.secrets_at(t0() + secs(60))),
        ["second", "first"]
    );
    assert_eq!(exposed(rotated.secrets_at(grace_until)), ["second"]);
    assert_eq!(rotated.updated_at, t0() + secs(5));

    // A change of settings keeps both secrets.
    let changed = store
        .update_source(
            a,
            source.id,
            SourceUpdate {
                name: Some("Landing page".to_owned()),
                settings: Some(serde_json::json!({ "mode": "browser" })),
                rotate_secret: None,
            },
            t0() + secs(6),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.name, "Landing page");
    assert_eq!(changed.settings["mode"], "browser");
    assert_eq!(
        exposed(changed.secrets_at(t0() + secs(60))),
        ["second", "first"]
    );

    // A second rotation keeps only the secret it replaces.
    let again = store
        .update_source(
            a,
            source.id,
            SourceUpdate {
                rotate_secret: Some((SecretString::from("third".to_owned()), grace_until)),
                ..SourceUpdate::default()
            },
            t0() + secs(7),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        exposed(again.secrets_at(t0() + secs(60))),
        ["third", "second"]
    );

    // Revoked: listed, found (so the webhook can refuse it), never changed again.
    let second = store
        .create_source(a, new_source("Partner", "other"))
        .await
        .unwrap();
    assert!(
        store
            .revoke_source(a, source.id, t0() + secs(8))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_source(a, source.id, t0() + secs(9))
            .await
            .unwrap()
    );
    assert!(
        store
            .update_source(a, source.id, SourceUpdate::default(), t0() + secs(9))
            .await
            .unwrap()
            .is_none()
    );
    let listed = store.list_sources(a).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [source.id, second.id],
        "oldest first"
    );
    assert_eq!(listed[0].revoked_at, Some(t0() + secs(8)));
    assert_eq!(
        store
            .find_source(source.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t0() + secs(8))
    );
}
