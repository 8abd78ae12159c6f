//! Configuration: embedded defaults, then `leadline.toml` (or `--config FILE`), then `LEADLINE_*`
//! environment variables (`__` separates sections: `LEADLINE_JOBS__CONCURRENCY`), then the global
//! command-line options. Validated at start with messages that name the key and the fix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment2::Figment;
use figment2::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Values that only ever belong on a laptop. Production refuses any of them as a secret.
pub const DEVELOPMENT_SECRETS: &[&str] = &[
    "change-me",
    "changeme",
    "dev",
    "development",
    "secret",
    "password",
    "test",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Sandbox providers, the movable clock and the sandbox endpoints. The default.
    Sandbox,
    /// Real providers only; refuses anything meant for a laptop.
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signup {
    /// Users join by invitation only.
    Closed,
    /// Anyone may create an organisation (`POST /api/v1/auth/signup`).
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mode: Mode,
    pub data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://...`. Empty: SQLite in the data dir.
    pub database_url: String,
    /// PostgreSQL connections per process, all opened at start. Ignored for SQLite.
    pub database_pool_size: u32,
    pub bind: String,
    /// Empty: `keyring.json` in the data dir.
    pub key_ring_file: String,
    /// The address providers and people use to reach this server.
    pub public_base_url: String,
    /// Region for numbers typed without a country code, for new organisations.
    pub default_region: String,
    /// The email of the owner the first start creates.
    pub first_owner_email: String,
    /// `closed` (users join by invitation) or `open` (anyone may create an organisation).
    pub signup: Signup,
    /// The sender of account emails (password resets, invitations).
    pub system_email_from: String,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub jobs: JobsConfig,
    pub http: HttpConfig,
    pub limits: LimitsConfig,
    pub providers: ProvidersConfig,
}

/// The providers: where their APIs are (production by default; tests and staging point them at
/// fakes, `LEADLINE_PROVIDERS__TWILIO__API_BASE=http://127.0.0.1:9000`), the platform's own
/// accounts that carry the messages of organisations without an integration of their own, and
/// the keys providers sign their webhooks with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvidersConfig {
    pub twilio: TwilioConfig,
    pub sendgrid: SendgridConfig,
    pub meta: GraphBase,
    pub anthropic: ApiBase,
    pub ghl: GhlConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiBase {
    pub api_base: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphBase {
    pub graph_base: String,
}

/// Twilio: its API, and the platform's account (empty: none; organisations bring their own).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioConfig {
    pub api_base: String,
    pub account_sid: String,
    pub auth_token: String,
    /// The platform's number (E.164), or else
    pub from: String,
    /// its Messaging Service.
    pub messaging_service_sid: String,
}

/// SendGrid: its API, and the platform's account, which sends account emails (sign-up, password
/// reset) and the emails of organisations without their own. Production needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendgridConfig {
    pub api_base: String,
    pub api_key: String,
    /// A verified sender of the account.
    pub from_email: String,
    /// The display name of the platform's emails.
    pub from_name: String,
}

/// GoHighLevel's published webhook keys (PEM), from its Webhook Integration Guide.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GhlConfig {
    /// For `x-ghl-signature` (Ed25519).
    pub ed25519_public_key: String,
    /// For the legacy `x-wh-signature` (RSA).
    pub rsa_public_key: String,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            api_base: providers::twilio::API_BASE.to_owned(),
            account_sid: String::new(),
            auth_token: String::new(),
            from: String::new(),
            messaging_service_sid: String::new(),
        }
    }
}

impl Default for SendgridConfig {
    fn default() -> Self {
        Self {
            api_base: providers::sendgrid::API_BASE.to_owned(),
            api_key: String::new(),
            from_email: String::new(),
            from_name: "Leadline".to_owned(),
        }
    }
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        let e = engine::integrations::Endpoints::default();
        Self {
            twilio: TwilioConfig::default(),
            sendgrid: SendgridConfig::default(),
            meta: GraphBase {
                graph_base: e.meta_graph_base,
            },
            anthropic: ApiBase {
                api_base: e.anthropic_api_base,
            },
            ghl: GhlConfig::default(),
        }
    }
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl ProvidersConfig {
    pub fn endpoints(&self) -> engine::integrations::Endpoints {
        engine::integrations::Endpoints {
            twilio_api_base: self.twilio.api_base.trim_end_matches('/').to_owned(),
            sendgrid_api_base: self.sendgrid.api_base.trim_end_matches('/').to_owned(),
            meta_graph_base: self.meta.graph_base.trim_end_matches('/').to_owned(),
            anthropic_api_base: self.anthropic.api_base.trim_end_matches('/').to_owned(),
            ghl_ed25519_public_key: some(&self.ghl.ed25519_public_key),
            ghl_rsa_public_key: some(&self.ghl.rsa_public_key),
        }
    }

    /// The platform's Twilio account, when one is configured.
    pub fn twilio_account(&self) -> Option<providers::twilio::Account> {
        let t = &self.twilio;
        some(&t.account_sid)?;
        Some(providers::twilio::Account {
            account_sid: t.account_sid.trim().to_owned(),
            auth_token: t.auth_token.trim().to_owned(),
            sender: match some(&t.messaging_service_sid) {
                Some(mg) => providers::twilio::Sender::MessagingService(mg),
                None => providers::twilio::Sender::From(t.from.trim().to_owned()),
            },
        })
    }

    /// The platform's SendGrid account, when one is configured.
    pub fn sendgrid_account(&self) -> Option<providers::sendgrid::Account> {
        let s = &self.sendgrid;
        some(&s.api_key)?;
        Some(providers::sendgrid::Account {
            api_key: s.api_key.trim().to_owned(),
            from_email: s.from_email.trim().to_owned(),
            from_name: some(&s.from_name),
        })
    }

    /// Checks the accounts and keys: every part of an account given, keys that read.
    fn validate(&self) -> anyhow::Result<()> {
        let t = &self.twilio;
        let twilio_parts = [
            &t.account_sid,
            &t.auth_token,
            &t.from,
            &t.messaging_service_sid,
        ];
        if twilio_parts.iter().any(|p| !p.trim().is_empty()) {
            let sid = t.account_sid.trim();
            if !(sid.len() == 34 && sid.starts_with("AC")) {
                bail!(
                    "providers.twilio.account_sid must be AC and 32 hex digits (fix: the Account SID from the Twilio console)"
                );
            }
            if t.auth_token.trim().len() != 32 {
                bail!(
                    "providers.twilio.auth_token must be the account's 32-character auth token (fix: from the Twilio console)"
                );
            }
            match (some(&t.from), some(&t.messaging_service_sid)) {
                (Some(from), None) if domain::Phone::parse_e164(&from).is_ok() => {}
                (None, Some(mg)) if mg.len() == 34 && mg.starts_with("MG") => {}
                _ => bail!(
                    "providers.twilio needs exactly one of from (an E.164 number) and messaging_service_sid (MG...) (fix: set one)"
                ),
            }
        }
        let s = &self.sendgrid;
        if some(&s.api_key).is_some() != some(&s.from_email).is_some() {
            bail!(
                "providers.sendgrid needs both api_key and from_email, or neither (fix: set the other)"
            );
        }
        if let Some(from) = some(&s.from_email)
            && domain::Email::parse(&from).is_err()
        {
            bail!(
                "providers.sendgrid.from_email = {from:?} is not an email address (fix: a verified sender of the account)"
            );
        }
        if let Some(pem) = some(&self.ghl.ed25519_public_key)
            && providers::ghl::Ed25519Key::parse_pem(&pem).is_err()
        {
            bail!(
                "providers.ghl.ed25519_public_key is not an Ed25519 public key (fix: paste the PEM block from GoHighLevel's webhook guide)"
            );
        }
        if let Some(pem) = some(&self.ghl.rsa_public_key)
            && providers::ghl::RsaKey::parse_pem(&pem).is_err()
        {
            bail!(
                "providers.ghl.rsa_public_key is not an RSA public key (fix: paste the PEM block from GoHighLevel's webhook guide)"
            );
        }
        Ok(())
    }
}

/// Request budgets per minute, shared by every instance; 0 turns one off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub api_key_per_minute: u64,
    pub organisation_per_minute: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter: `info`, `leadline=debug,info`.
    pub level: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// A separate listener for `/metrics` (e.g. `127.0.0.1:9090`). Empty: none.
    pub bind: String,
    /// Bearer token for `/metrics` on the public listener. Empty: not served there.
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    pub concurrency: usize,
    pub max_attempts: i32,
    pub lease_seconds: u64,
    pub backoff_base_ms: u64,
    pub backoff_cap_seconds: u64,
    pub idle_poll_ms: u64,
    pub shutdown_grace_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub request_timeout_seconds: u64,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed. Empty: the peer's
    /// address is the client's.
    pub trusted_proxies: Vec<String>,
    /// Exact origins (`https://app.example.com`) allowed to call the API from a browser.
    pub cors_origins: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Sandbox,
            data_dir: PathBuf::from("./leadline-data"),
            database_url: String::new(),
            database_pool_size: store_postgres::DEFAULT_POOL_SIZE,
            bind: "127.0.0.1:8080".to_owned(),
            key_ring_file: String::new(),
            public_base_url: String::new(),
            default_region: "US".to_owned(),
            first_owner_email: "owner@leadline.local".to_owned(),
            signup: Signup::Closed,
            system_email_from: "no-reply@leadline.invalid".to_owned(),
            log: LogConfig {
                format: LogFormat::Pretty,
                level: "info".to_owned(),
            },
            metrics: MetricsConfig {
                bind: String::new(),
                token: String::new(),
            },
            jobs: JobsConfig {
                concurrency: 128,
                max_attempts: 8,
                lease_seconds: 60,
                backoff_base_ms: 2000,
                backoff_cap_seconds: 3600,
                idle_poll_ms: 5000,
                shutdown_grace_seconds: 20,
            },
            limits: LimitsConfig {
                api_key_per_minute: 6_000,
                organisation_per_minute: 18_000,
            },
            http: HttpConfig {
                request_timeout_seconds: 30,
                trusted_proxies: Vec::new(),
                cors_origins: Vec::new(),
            },
            providers: ProvidersConfig::default(),
        }
    }
}

/// The top-level keys; `LEADLINE_*` variables outside them (`LEADLINE_TEST_POSTGRES_URL`) are
/// not configuration.
const KEYS: &[&str] = &[
    "mode",
    "data_dir",
    "database_url",
    "database_pool_size",
    "first_owner_email",
    "signup",
    "system_email_from",
    "bind",
    "key_ring_file",
    "public_base_url",
    "default_region",
    "log",
    "metrics",
    "jobs",
    "http",
    "limits",
    "providers",
];

/// Overrides from the command line.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
}

/// The layered sources, for `config check` to explain where each value came from.
pub fn figment(config_file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Figment> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    match config_file {
        Some(path) => {
            if !path.exists() {
                bail!(
                    "--config {}: no such file (fix: give the path of a leadline.toml, or drop --config)",
                    path.display()
                );
            }
            figment = figment.merge(Toml::file(path));
        }
        None => figment = figment.merge(Toml::file("leadline.toml")),
    }
    // Keys reach the filter before figment lowercases them.
    let env = Env::prefixed("LEADLINE_").split("__").filter(|key| {
        let top = key
            .as_str()
            .split('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        KEYS.contains(&top.as_str())
    });
    Ok(figment
        .merge(env)
        .merge(Serialized::defaults(overrides.clone())))
}

impl Config {
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        Self::from_figment(&figment(config_file, overrides)?)
    }

    /// Extracts and validates the configuration from already layered sources.
    pub fn from_figment(figment: &Figment) -> anyhow::Result<Self> {
        let config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!(explain(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// `http.cors_origins`, checked: exact `scheme://host[:port]` origins, https in production.
    pub fn cors_origins(&self) -> anyhow::Result<Vec<axum::http::HeaderValue>> {
        self.http
            .cors_origins
            .iter()
            .map(|origin| {
                let o = origin.trim();
                let scheme_ok = o.starts_with("https://")
                    || (self.mode == Mode::Sandbox && o.starts_with("http://"));
                let rest = o.split_once("://").map_or("", |(_, r)| r);
                if !scheme_ok || rest.is_empty() || rest.contains(['/', '*', ' ']) {
                    bail!(
                        "http.cors_origins: {origin:?} is not an allowed origin (fix: an exact origin such as \"https://app.example.com\"; no wildcard, no path{})",
                        if self.mode == Mode::Production { ", https only in production" } else { "" }
                    );
                }
                axum::http::HeaderValue::from_str(o)
                    .map_err(|_| anyhow::anyhow!("http.cors_origins: {origin:?} is not a valid header value"))
            })
            .collect()
    }

    /// `http.trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<std::net::IpAddr>> {
        self.http
            .trusted_proxies
            .iter()
            .map(|p| {
                p.trim().parse().map_err(|_| {
                    anyhow::anyhow!(
                        "http.trusted_proxies: {p:?} is not an IP address (fix: e.g. [\"10.0.0.2\"])"
                    )
                })
            })
            .collect()
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite:{}", self.data_dir.join("leadline.db").display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn key_ring_path(&self) -> PathBuf {
        if self.key_ring_file.is_empty() {
            self.data_dir.join("keyring.json")
        } else {
            PathBuf::from(&self.key_ring_file)
        }
    }

    pub fn bind_addr(&self) -> anyhow::Result<SocketAddr> {
        self.bind.parse().with_context(|| {
            format!(
                "bind = {:?} is not an address (fix: e.g. bind = \"127.0.0.1:8080\")",
                self.bind
            )
        })
    }

    pub fn metrics_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        if self.metrics.bind.is_empty() {
            return Ok(None);
        }
        self.metrics
            .bind
            .parse()
            .map(Some)
            .with_context(|| format!("metrics.bind = {:?} is not an address (fix: e.g. \"127.0.0.1:9090\", or leave it empty)", self.metrics.bind))
    }

    pub fn metrics_token(&self) -> Option<SecretString> {
        (!self.metrics.token.is_empty()).then(|| SecretString::from(self.metrics.token.clone()))
    }

    /// Checks every value; the message names the key and the fix.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.bind_addr()?;
        self.metrics_addr()?;
        let p = &self.providers;
        p.validate()?;
        for (key, url) in [
            ("providers.twilio.api_base", &p.twilio.api_base),
            ("providers.sendgrid.api_base", &p.sendgrid.api_base),
            ("providers.meta.graph_base", &p.meta.graph_base),
            ("providers.anthropic.api_base", &p.anthropic.api_base),
        ] {
            let secure = url.starts_with("https://");
            if !(secure || url.starts_with("http://")) || url.parse::<axum::http::Uri>().is_err() {
                bail!(
                    "{key} = {url:?} is not an http(s) URL (fix: e.g. \"https://api.twilio.com\")"
                );
            }
            if self.mode == Mode::Production && !secure {
                bail!(
                    "{key} = {url:?}: production sends credentials only over https (fix: an https:// URL)"
                );
            }
        }
        let url = self.database_url();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!(
                "database_url = {url:?} is not supported (fix: \"sqlite:PATH\" or \"postgres://USER@HOST/DB\")"
            );
        }
        if self.default_region.len() != 2
            || !self.default_region.chars().all(|c| c.is_ascii_alphabetic())
        {
            bail!(
                "default_region = {:?} is not an ISO 3166 country code (fix: e.g. \"US\")",
                self.default_region
            );
        }
        if matches!(
            domain::Phone::parse("+12015550123", &self.default_region),
            Err(domain::PhoneError::UnknownRegion(_))
        ) {
            bail!(
                "default_region = {:?} is not an ISO 3166 country code (fix: e.g. \"US\")",
                self.default_region
            );
        }
        let url = &self.public_base_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            bail!(
                "public_base_url = {:?} must start with https:// (fix: the address providers reach this server at)",
                self.public_base_url
            );
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| {
            anyhow::anyhow!(
                "log.level = {:?} is not a tracing filter: {e} (fix: e.g. \"info\")",
                self.log.level
            )
        })?;
        self.trusted_proxies()?;
        self.cors_origins()?;
        if domain::Email::parse(&self.system_email_from).is_err() {
            bail!(
                "system_email_from = {:?} is not an email address (fix: e.g. \"no-reply@yourcompany.com\")",
                self.system_email_from
            );
        }
        if domain::Email::parse(&self.first_owner_email).is_err() {
            bail!(
                "first_owner_email = {:?} is not an email address (fix: e.g. \"you@yourcompany.com\")",
                self.first_owner_email
            );
        }
        if !(2..=500).contains(&self.database_pool_size) {
            bail!(
                "database_pool_size = {} must be from 2 to 500 (fix: e.g. 32, and keep the sum over all processes below PostgreSQL's max_connections)",
                self.database_pool_size
            );
        }
        let j = &self.jobs;
        if j.concurrency == 0 || j.concurrency > 1024 {
            bail!(
                "jobs.concurrency = {} must be from 1 to 1024 (fix: e.g. 128)",
                j.concurrency
            );
        }
        if !(1..=100).contains(&j.max_attempts) {
            bail!(
                "jobs.max_attempts = {} must be from 1 to 100 (fix: e.g. 8)",
                j.max_attempts
            );
        }
        if j.lease_seconds < 5 {
            bail!(
                "jobs.lease_seconds = {} is too short (fix: at least 5; longer than the slowest provider call)",
                j.lease_seconds
            );
        }
        if j.backoff_base_ms == 0 || j.backoff_cap_seconds == 0 || j.idle_poll_ms == 0 {
            bail!(
                "jobs.backoff_base_ms, jobs.backoff_cap_seconds and jobs.idle_poll_ms must be above 0 (fix: e.g. 2000, 3600 and 5000)"
            );
        }
        if self.http.request_timeout_seconds == 0 {
            bail!("http.request_timeout_seconds must be above 0 (fix: e.g. 30)");
        }
        if self.mode == Mode::Production {
            self.validate_production()?;
        }
        Ok(())
    }

    fn validate_production(&self) -> anyhow::Result<()> {
        if self.public_base_url.is_empty() || !self.public_base_url.starts_with("https://") {
            bail!(
                "mode = \"production\" needs public_base_url = \"https://...\" (fix: the address providers reach this server at)"
            );
        }
        let token = self.metrics.token.as_str();
        if !token.is_empty()
            && (token.len() < 24
                || DEVELOPMENT_SECRETS.contains(&token.to_ascii_lowercase().as_str()))
        {
            bail!(
                "metrics.token is a development value or shorter than 24 characters (fix: a long random token, e.g. `openssl rand -hex 32`)"
            );
        }
        if !self.key_ring_path().exists() {
            bail!(
                "mode = \"production\" needs an existing key ring at {} (fix: create it once with `leadline keys init`, or set key_ring_file; production never creates one by itself)",
                self.key_ring_path().display()
            );
        }
        // Account emails (sign-up, password reset) go through the platform's account; texts of an
        // organisation without its own Twilio account fail until it sets one.
        if self.providers.sendgrid_account().is_none() {
            bail!(
                "mode = \"production\" needs the platform's email account: providers.sendgrid.api_key and from_email (fix: set them, e.g. LEADLINE_PROVIDERS__SENDGRID__API_KEY)"
            );
        }
        Ok(())
    }

    /// The configuration with secrets masked, for `config check`.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        for secret in [
            &mut c.metrics.token,
            &mut c.providers.twilio.auth_token,
            &mut c.providers.sendgrid.api_key,
        ] {
            if !secret.is_empty() {
                *secret = "********".to_owned();
            }
        }
        if let Some(at) = c.database_url.find('@')
            && let Some(scheme_end) = c.database_url.find("://")
            && let Some(colon) = c.database_url[scheme_end + 3..at].find(':')
        {
            let start = scheme_end + 3 + colon + 1;
            c.database_url.replace_range(start..at, "********");
        }
        c
    }
}

/// figment's errors name the key; add the fix.
fn explain(e: &figment2::Error) -> String {
    let mut out = Vec::new();
    for err in e.clone() {
        let key = err.path.join(".");
        let key = if key.is_empty() {
            "(top level)".to_owned()
        } else {
            key
        };
        let source = err
            .metadata
            .as_ref()
            .map(|m| m.name.to_string())
            .unwrap_or_default();
        out.push(format!("configuration key `{key}`: {} [{source}] (fix: see leadline.example.toml for its allowed values)", err.kind));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_toml(toml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("leadline.toml");
        std::fs::write(&path, toml)?;
        Config::load(Some(&path), &Overrides::default())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = load_toml("").unwrap();
        assert_eq!(c.mode, Mode::Sandbox);
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert!(
            c.database_url().starts_with("sqlite:") && c.database_url().ends_with("leadline.db")
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = load_toml("bnid = \"0.0.0.0:1\"").unwrap_err().to_string();
        assert!(err.contains("bnid"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        for (toml, key) in [
            ("bind = \"nowhere\"", "bind"),
            ("database_url = \"mysql://x\"", "database_url"),
            ("[jobs]\nconcurrency = 0", "jobs.concurrency"),
            ("database_pool_size = 1", "database_pool_size"),
            ("[http]\ncors_origins = [\"*\"]", "http.cors_origins"),
            (
                "[http]\ntrusted_proxies = [\"proxy\"]",
                "http.trusted_proxies",
            ),
            ("first_owner_email = \"nobody\"", "first_owner_email"),
            ("mode = \"staging\"", "mode"),
            ("[log]\nlevel = \"[\"", "log.level"),
        ] {
            let err = load_toml(toml).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("fix"), "{toml}: {err}");
        }
    }

    #[test]
    fn production_refuses_laptop_settings() {
        let err = load_toml("mode = \"production\"").unwrap_err().to_string();
        assert!(err.contains("public_base_url"), "{err}");
        let err = load_toml("mode = \"production\"\npublic_base_url = \"https://leads.example.com\"\n[metrics]\ntoken = \"change-me\"").unwrap_err().to_string();
        assert!(err.contains("metrics.token"), "{err}");
        let err = load_toml("mode = \"production\"\npublic_base_url = \"https://leads.example.com\"\nkey_ring_file = \"/nonexistent/keyring.json\"").unwrap_err().to_string();
        assert!(err.contains("key ring"), "{err}");
    }

    #[test]
    fn secrets_are_masked_for_display() {
        let c = load_toml("database_url = \"postgres://app:hunter2@db.internal/leadline\"\n[metrics]\ntoken = \"abc\"\n[providers.twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = \"fedcba9876543210fedcba9876543210\"\nfrom = \"+15005550006\"\n[providers.sendgrid]\napi_key = \"SG.secret-key\"\nfrom_email = \"hi@example.com\"").unwrap();
        let shown = serde_json::to_string(&c.redacted()).unwrap();
        for secret in ["hunter2", "\"abc\"", "fedcba9876543210", "SG.secret-key"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
    }

    #[test]
    fn the_platform_accounts_are_checked_whole() {
        for (toml, says) in [
            (
                "[providers.twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"",
                "providers.twilio.auth_token",
            ),
            (
                "[providers.twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = \"fedcba9876543210fedcba9876543210\"",
                "exactly one of from",
            ),
            (
                "[providers.twilio]\naccount_sid = \"SK0123\"",
                "providers.twilio.account_sid",
            ),
            (
                "[providers.sendgrid]\napi_key = \"SG.x\"",
                "both api_key and from_email",
            ),
            (
                "[providers.sendgrid]\napi_key = \"SG.x\"\nfrom_email = \"nobody\"",
                "providers.sendgrid.from_email",
            ),
            (
                "[providers.ghl]\ned25519_public_key = \"not a key\"",
                "providers.ghl.ed25519_public_key",
            ),
        ] {
            let err = load_toml(toml).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains("fix"), "{toml}: {err}");
        }
        let c = load_toml("[providers.twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = \"fedcba9876543210fedcba9876543210\"\nmessaging_service_sid = \"MG0123456789abcdef0123456789abcdef\"").unwrap();
        let account = c.providers.twilio_account().unwrap();
        assert_eq!(
            account.sender,
            providers::twilio::Sender::MessagingService(
                "MG0123456789abcdef0123456789abcdef".into()
            )
        );
        assert!(c.providers.sendgrid_account().is_none());
    }

    #[test]
    fn production_needs_the_platform_email_account_and_then_starts() {
        let dir = tempfile::tempdir().unwrap();
        let ring = dir.path().join("keyring.json");
        std::fs::write(&ring, "{}").unwrap();
        let base = format!(
            "mode = \"production\"\npublic_base_url = \"https://leads.example.com\"\nkey_ring_file = {:?}\n",
            ring.display().to_string()
        );
        let err = load_toml(&base).unwrap_err().to_string();
        assert!(err.contains("providers.sendgrid"), "{err}");
        let c = load_toml(&format!(
            "{base}[providers.sendgrid]\napi_key = \"SG.x\"\nfrom_email = \"hi@example.com\""
        ))
        .unwrap();
        assert_eq!(c.mode, Mode::Production);
        assert!(c.providers.twilio_account().is_none());
    }
}
