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

pub async fn org_list(config: &Config, json: bool) -> anyhow::Result<()> {
    let ring = open_key_ring(config)?;
    let store = open_store(config, ring.cipher).await?;
    let orgs = store.list_tenants().await?;
    if json {
        let list: Vec<_> = orgs
            .iter()
            .map(|o| {
                serde_json::json!({
                    "id": o.id,
                    "name": o.name,
                    "created_at": o.created_at,
                    "suspended_at": o.suspended_at,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        for o in &orgs {
            let state = if o.suspended_at.is_some() {
                "suspended"
            } else {
                "active"
            };
            println!("{}  {state:9}  {}", o.id, o.name);
        }
    }
    Ok(())
}

/// Suspends or resumes an organisation, and records it in the platform's audit chain.
pub async fn org_suspend(config: &Config, id: &str, suspend: bool) -> anyhow::Result<()> {
    let id: TenantId = id
        .parse()
        .with_context(|| format!("{id:?} is not an organisation id"))?;
    let ring = open_key_ring(config)?;
    let store = open_store(config, ring.cipher).await?;
    let now = domain::clock::wall_clock_now();
    match store.set_tenant_suspended(id, suspend.then_some(now)).await {
        Ok(()) => {}
        Err(store::DbError::NotFound) => bail!("no organisation with id {id}"),
        Err(e) => return Err(e.into()),
    }
    let action = if suspend {
        "organisation.suspend"
    } else {
        "organisation.resume"
    };
    store
        .append_audit(store::NewAuditEntry {
            id: domain::AuditId::new(),
            tenant_id: None,
            at: now,
            actor_kind: store::ActorKind::Operator,
            actor_id: "cli".to_owned(),
            action: action.to_owned(),
            target_kind: "organisation".to_owned(),
            target_id: id.to_string(),
            ip: None,
            correlation_id: String::new(),
            detail: serde_json::json!({}),
        })
        .await?;
    println!(
        "Organisation {id} is {}.",
        if suspend { "suspended" } else { "active again" }
    );
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

/// Reads the first line of standard input, without its line ending.
fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub async fn user_create(
    config: &Config,
    org: &str,
    email: &str,
    role: &str,
    json: bool,
) -> anyhow::Result<()> {
    let org: TenantId = org
        .parse()
        .with_context(|| format!("--org {org:?} is not an organisation id"))?;
    let email = domain::Email::parse(email)
        .map_err(|e| anyhow::anyhow!("--email {email:?} is not an email address: {e}"))?;
    let role = domain::Role::parse(role).with_context(|| {
        format!("--role {role:?} is not a role (owner, admin, manager, agent or viewer)")
    })?;
    let password = read_password_line()?;
    let ring = open_key_ring(config)?;
    let store = open_store(config, ring.cipher).await?;
    let tenant = store
        .get_tenant(org)
        .await?
        .with_context(|| format!("no organisation with id {org}"))?;
    if let Some(problem) = web::routes::auth::password_problem(&password, &email, &[&tenant.name]) {
        bail!("the password {problem}");
    }
    let user = create_member(store.as_ref(), &tenant, email, role, &password, false).await?;
    if json {
        println!("{}", serde_json::json!({ "id": user }));
    } else {
        println!("Created user {user} ({role} of {:?})", tenant.name);
    }
    Ok(())
}

/// `leadline user create --operator`: a platform operator, recorded in the platform's audit
/// chain.
pub async fn operator_create(config: &Config, email: &str, json: bool) -> anyhow::Result<()> {
    let email = domain::Email::parse(email)
        .map_err(|e| anyhow::anyhow!("--email {email:?} is not an email address: {e}"))?;
    let password = read_password_line()?;
    if let Some(problem) = web::routes::auth::password_problem(&password, &email, &[]) {
        bail!("the password {problem}");
    }
    let ring = open_key_ring(config)?;
    let store = open_store(config, ring.cipher).await?;
    let user = create_user(store.as_ref(), None, email, &password, false).await?;
    if json {
        println!("{}", serde_json::json!({ "id": user }));
    } else {
        println!("Created platform operator {user}");
    }
    Ok(())
}

/// Creates a user with `role` in `tenant`, and records it in the organisation's audit log.
pub async fn create_member(
    store: &dyn store::Store,
    tenant: &store::TenantRecord,
    email: domain::Email,
    role: domain::Role,
    password: &str,
    must_change_password: bool,
) -> anyhow::Result<domain::UserId> {
    create_user(
        store,
        Some((tenant, role)),
        email,
        password,
        must_change_password,
    )
    .await
}

/// Creates a member of an organisation with a role, or (`seat` = `None`) a platform operator,
/// and records it in the organisation's audit chain (the platform's for an operator).
async fn create_user(
    store: &dyn store::Store,
    seat: Option<(&store::TenantRecord, domain::Role)>,
    email: domain::Email,
    password: &str,
    must_change_password: bool,
) -> anyhow::Result<domain::UserId> {
    let now = domain::clock::wall_clock_now();
    let hash = crypto::hash_password(password).context("hashing the password")?;
    let user = match store
        .create_user(store::NewUser {
            id: domain::UserId::new(),
            email,
            password_hash: hash,
            must_change_password,
            operator: seat.is_none(),
            created_at: now,
        })
        .await
    {
        Ok(user) => user,
        Err(store::DbError::Conflict(_)) => bail!("a user with that email exists already"),
        Err(e) => return Err(e.into()),
    };
    let (tenant_id, action, detail) = match seat {
        Some((tenant, role)) => {
            let scope = Tenant::from_authenticated(tenant.id);
            store.add_membership(scope, user.id, role, now).await?;
            (
                Some(tenant.id),
                "user.create",
                serde_json::json!({ "role": role }),
            )
        }
        None => (None, "operator.create", serde_json::json!({})),
    };
    store
        .append_audit(store::NewAuditEntry {
            id: domain::AuditId::new(),
            tenant_id,
            at: now,
            actor_kind: store::ActorKind::System,
            actor_id: "cli".to_owned(),
            action: action.to_owned(),
            target_kind: "user".to_owned(),
            target_id: user.id.to_string(),
            ip: None,
            correlation_id: String::new(),
            detail,
        })
        .await?;
    Ok(user.id)
}

/// `leadline audit verify`: every chain, from its first entry, page by page.
pub async fn audit_verify(config: &Config) -> anyhow::Result<()> {
    let ring = open_key_ring(config)?;
    let store = open_store(config, ring.cipher).await?;
    let mut entries = 0usize;
    let chains = store.audit_chains().await?;
    for chain in &chains {
        let key = chain.key();
        let mut prev: Option<(i64, Vec<u8>)> = None;
        loop {
            let after = prev.as_ref().map_or(0, |(seq, _)| *seq);
            let page = store.audit_chain_page(*chain, after, 500).await?;
            if page.is_empty() {
                break;
            }
            entries += page.len();
            match store::codec_identity::verify_chain_segment(&key, &page, prev) {
                Ok(last) => prev = last,
                Err(broken) => bail!(
                    "the audit chain {key} is broken at entry {} (id {}): {}",
                    broken.seq,
                    broken.id,
                    broken.reason
                ),
            }
        }
    }
    println!(
        "The audit log holds together: {entries} entries in {} chains verified.",
        chains.len()
    );
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
            // A merged list keeps the tag of the list it replaced; its elements keep their own.
            let element = figment
                .find_value(prefix)
                .ok()
                .and_then(|v| v.into_array())
                .and_then(|items| items.into_iter().next())
                .and_then(|first| figment.get_metadata(first.tag()).cloned());
            let source = element
                .or_else(|| figment.find_metadata(prefix).cloned())
                .map(|m| match &m.source {
                    Some(source) => format!("{} ({source})", m.name),
                    None => m.name.to_string(),
                })
                .unwrap_or_else(|| "default".to_owned());
            println!("{prefix} = {other}    # from {source}");
        }
    }
}
