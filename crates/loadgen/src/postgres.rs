//! A throwaway PostgreSQL database per run, created and dropped with `psql`.

use std::process::Command;

use anyhow::{Context, bail};

/// `leadline_bench_<random>` on the server of the admin URL.
pub struct BenchDatabase {
    admin_url: String,
    name: String,
    /// The URL `leadline serve` connects with.
    pub url: String,
}

impl BenchDatabase {
    /// Creates a fresh database through `admin_url` (a database the user may `CREATE DATABASE` from).
    pub fn create(admin_url: &str) -> anyhow::Result<BenchDatabase> {
        let name = format!("leadline_bench_{}", uuid::Uuid::now_v7().simple());
        let mut url = reqwest::Url::parse(admin_url)
            .with_context(|| format!("--postgres-url {admin_url:?} is not a URL"))?;
        url.set_path(&format!("/{name}"));
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(BenchDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, closing any connection left open.
    pub fn drop_database(self) -> anyhow::Result<()> {
        psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
    }
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .args([
            "--no-psqlrc",
            "--quiet",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .context("Failed to run psql (is the PostgreSQL client installed?)")?;
    if !out.status.success() {
        bail!(
            "psql -c {sql:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
