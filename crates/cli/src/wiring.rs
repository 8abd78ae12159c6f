//! Building the parts from configuration: key ring, store, providers, engine.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crypto::{Cipher, KeyRing};
use store::Store;

use crate::config::{Config, Mode};

/// What opening the key ring did.
pub struct Opened {
    pub cipher: Cipher,
    pub created: bool,
}

/// Opens the key ring; in sandbox mode creates it when missing (owner-only permissions).
pub fn open_key_ring(config: &Config) -> anyhow::Result<Opened> {
    let path = config.key_ring_path();
    if config.mode == Mode::Production {
        let ring = KeyRing::load(&path)
            .with_context(|| format!("loading the key ring {}", path.display()))?;
        return Ok(Opened {
            cipher: Cipher::new(ring),
            created: false,
        });
    }
    ensure_private_dir(path.parent().unwrap_or(Path::new(".")))?;
    let (ring, created) = KeyRing::load_or_create(&path)
        .with_context(|| format!("opening the key ring {}", path.display()))?;
    Ok(Opened {
        cipher: Cipher::new(ring),
        created,
    })
}

/// Creates `dir` (and parents) readable only by its owner when it is new.
pub fn ensure_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    Ok(())
}

/// Opens the store named by `database_url`, applying pending migrations.
pub async fn open_store(config: &Config, cipher: Cipher) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        if config.database_url.is_empty() {
            ensure_private_dir(&config.data_dir)?;
        }
        let store = store_sqlite::SqliteStore::open(&url, cipher)
            .await
            .context("opening the SQLite database")?;
        Ok(Arc::new(store))
    } else {
        let store = store_postgres::PostgresStore::connect(&url, cipher, config.database_pool_size)
            .await
            .context("connecting to PostgreSQL")?;
        Ok(Arc::new(store))
    }
}

pub fn engine_config(config: &Config) -> engine::EngineConfig {
    let j = &config.jobs;
    engine::EngineConfig {
        worker_concurrency: j.concurrency,
        lease: Duration::from_secs(j.lease_seconds),
        max_attempts: j.max_attempts,
        backoff_base: Duration::from_millis(j.backoff_base_ms),
        backoff_cap: Duration::from_secs(j.backoff_cap_seconds),
        idle_poll: Duration::from_millis(j.idle_poll_ms),
        shutdown_grace: Duration::from_secs(j.shutdown_grace_seconds),
        links: None,
        endpoints: config.providers.endpoints(),
    }
}
