//! The management subcommands.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use domain::{ApiKeyId, Tenant, TenantId};
use store::{API_SCOPES, NewApiKey, TenantSettings};

use crate::config::{Config, Overrides, figment};
use crate::wiring::{open_key_ring, open_store};

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let ring = open_key_ring(config)?;
    let store = open_store(config, ring.cipher).await?;
    if !store.migrations_current().await? {
        bail!("migrations did not apply");
    }
    println!("Migrations are current ({}).", store.backend());
    Ok(())
}

pub async fn org_create(config: &Config, name: &str, json: bool) -> anyhow::Result<()> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        bail!("the organisation name must be 1 to 200 characters");
    }
    let ring = open_key_ring(config)?;
    let store = open_store(config, ring.cipher).await?;
    let org = store
        .create_tenant(
            name,
            &org_settings(config, name),
            domain::clock::wall_clock_now(),
        )
        .await?;
    if json {
        println!("{}", serde_json::json!({ "id": org.id }));
    } else {
        println!("Created organisation {:?} with id {}", org.name, org.id);
    }
    Ok(())
}

/// The settings a new organisation starts with: its name as the business name, the configured
/// default region.
pub fn org_settings(config: &Config, name: &str) -> TenantSettings {
    TenantSettings {
        business_name: name.to_owned(),
        default_region: config.default_region.to_ascii_uppercase(),
        ..TenantSettings::default()
    }
}

/// Creates an API key for `org` and returns (id, full key).
pub async fn create_key(
    store: &dyn store::Store,
    org: TenantId,
    name: &str,
    scopes: Vec<String>,
) -> anyhow::Result<(ApiKeyId, String)> {
    let scopes = if scopes.is_empty() {
        API_SCOPES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        scopes
    };
    if let Some(unknown) = scopes.iter().find(|s| !API_SCOPES.contains(&s.as_str())) {
        bail!(
            "unknown scope {unknown:?} (known: {})",
            API_SCOPES.join(", ")
        );
    }
    let generated = crypto::generate_api_key();
    let key = NewApiKey {
        id: ApiKeyId::new(),
        name: name.to_owned(),
        prefix: generated.prefix.clone(),
        hash: generated.hash.to_vec(),
        scopes,
        created_at: domain::clock::wall_clock_now(),
    };
    let record = store
        .create_api_key(Tenant::from_authenticated(org), key)
        .await?;
    Ok((record.id, generated.secret))
}

pub async fn api_key_create(
    config: &Config,
    org: &str,
    name: &str,
    scopes: Vec<String>,
    json: bool,
) -> anyhow::Result<()> {
    let org: TenantId = org
        .parse()
        .with_context(|| format!("--org {org:?} is not an organisation id"))?;
    let ring = open_key_ring(config)?;
    let store = open_store(config, ring.cipher).await?;
    if store.get_tenant(org).await?.is_none() {
        bail!("no organisation with id {org}");
    }
    let (id, key) = create_key(store.as_ref(), org, name, scopes).await?;
    if json {
        println!("{}", serde_json::json!({ "id": id, "key": key }));
    } else {
        println!("API key {id} (shown once, keep it safe):\n{key}");
    }
    Ok(())
}

pub fn keys_init(config: &Config) -> anyhow::Result<()> {
    let path = config.key_ring_path();
    crate::wiring::ensure_private_dir(path.parent().unwrap_or(Path::new(".")))?;
    crypto::KeyRing::create(&path).with_context(|| format!("creating {}", path.display()))?;
    println!(
        "Created the key ring {} (owner-only). Back it up: without it the data cannot be read.",
        path.display()
    );
    Ok(())
}

pub fn keys_rotate(config: &Config) -> anyhow::Result<()> {
    let path = config.key_ring_path();
    let mut ring =
        crypto::KeyRing::load(&path).with_context(|| format!("loading {}", path.display()))?;
    let id = ring.rotate();
    ring.save(&path)
        .with_context(|| format!("saving {}", path.display()))?;
    println!(
        "Data key {id} is now active; earlier keys still open existing data. Restart Leadline to use it."
    );
    Ok(())
}

/// `leadline config check`: validate, then show each value and where it came from.
pub fn config_check(config_file: Option<&Path>, overrides: &Overrides) -> ExitCode {
    let figment = match figment(config_file, overrides) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("leadline: {e:#}");
            return ExitCode::from(2);
        }
    };
    match Config::from_figment(&figment) {
        Ok(config) => {
            println!("Configuration is valid.\n");
            let shown = serde_json::to_value(config.redacted()).unwrap_or_default();
            print_values(&figment, "", &shown);
            println!("\ndatabase: {}", config.redacted().database_url());
            println!("key ring: {}", config.key_ring_path().display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Configuration is invalid:\n{e:#}");
            ExitCode::from(2)
        }
    }
}

fn print_values(figment: &figment2::Figment, prefix: &str, value: &serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                print_values(figment, &key, v);
            }
        }
        other => {
            let source = figment
                .find_metadata(prefix)
                .map(|m| match &m.source {
                    Some(source) => format!("{} ({source})", m.name),
                    None => m.name.to_string(),
                })
                .unwrap_or_else(|| "default".to_owned());
            println!("{prefix} = {other}    # from {source}");
        }
    }
}
