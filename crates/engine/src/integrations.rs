//! Organisations' provider accounts, and which provider carries each organisation's messages.
//!
//! An integration is the organisation's credentials for one provider, sealed as one secret
//! (`integration.{kind}`, see `Store::set_tenant_secrets`) and never shown again. With a Twilio
//! integration set, the organisation's texts go through its Twilio account; with a SendGrid
//! one, its emails through SendGrid; otherwise through the engine's default providers (the
//! sandbox). The [`Route`] of an organisation is cached for [`ROUTE_TTL`]: a change made on
//! this instance applies at once, one made on another within that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{SourceKind, Tenant, TenantId};
use providers::{EmailProvider, SmsProvider, sendgrid, twilio};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Engine;

/// How long an organisation's route is used before its integrations are read again.
pub const ROUTE_TTL: Duration = Duration::from_secs(10);

/// Where the providers' APIs are (production by default, local fakes in tests), and the keys
/// providers sign their webhooks with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub twilio_api_base: String,
    pub sendgrid_api_base: String,
    pub meta_graph_base: String,
    pub anthropic_api_base: String,
    /// GoHighLevel's published webhook keys (PEM), unless an integration names its own.
    pub ghl_ed25519_public_key: Option<String>,
    pub ghl_rsa_public_key: Option<String>,
}

impl Default for Endpoints {
    /// The providers' production APIs, and no webhook keys.
    fn default() -> Self {
        Self {
            twilio_api_base: twilio::API_BASE.to_owned(),
            sendgrid_api_base: sendgrid::API_BASE.to_owned(),
            meta_graph_base: providers::meta::GRAPH_BASE.to_owned(),
            anthropic_api_base: "https://api.anthropic.com".to_owned(),
            ghl_ed25519_public_key: None,
            ghl_rsa_public_key: None,
        }
    }
}

/// One provider's settings for an organisation.
pub trait Integration: Serialize + DeserializeOwned {
    const KIND: SourceKind;
}

/// The secret an integration is sealed under.
pub fn secret_name(kind: SourceKind) -> String {
    format!("integration.{kind}")
}

/// A Twilio account. Exactly one of `from` and `messaging_service_sid`.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioIntegration {
    /// `AC` and 32 hex digits.
    pub account_sid: String,
    pub auth_token: String,
    /// A number of the account, E.164.
    #[serde(default)]
    pub from: Option<String>,
    /// `MG` and 32 hex digits: Twilio picks the number.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// Where calls to the business number are forwarded (E.164); without it every call is
    /// missed and answered by text.
    #[serde(default)]
    pub forward_calls_to: Option<String>,
    /// How long a forwarded call rings before it counts as missed (5 to 60 s, default 20).
    #[serde(default)]
    pub ring_seconds: Option<u32>,
}

impl Integration for TwilioIntegration {
    const KIND: SourceKind = SourceKind::Twilio;
}

impl TwilioIntegration {
    pub fn sender(&self) -> twilio::Sender {
        match (&self.messaging_service_sid, &self.from) {
            (Some(mg), _) => twilio::Sender::MessagingService(mg.clone()),
            (None, from) => twilio::Sender::From(from.clone().unwrap_or_default()),
        }
    }
}

/// A SendGrid account.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendgridIntegration {
    pub api_key: String,
    /// A verified sender of the account.
    pub from_email: String,
    /// The Event Webhook's verification key (base64 DER, from SendGrid's Mail Settings).
    pub event_webhook_public_key: String,
    /// The Inbound Parse security policy's key, when the parse webhook is signed; without it
    /// the parse URL's token authenticates.
    #[serde(default)]
    pub inbound_parse_public_key: Option<String>,
}

impl Integration for SendgridIntegration {
    const KIND: SourceKind = SourceKind::Sendgrid;
}

/// A Meta app and page.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetaIntegration {
    pub app_secret: String,
    /// Chosen by you, typed into the app's webhook settings.
    pub verify_token: String,
    /// A page access token with `leads_retrieval`.
    pub page_access_token: String,
}

impl Integration for MetaIntegration {
    const KIND: SourceKind = SourceKind::Meta;
}

/// A GoHighLevel location (sub-account), whose webhook events become leads and replies.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GhlIntegration {
    /// The location whose events are taken; a signed event of another location is ignored.
    pub location_id: String,
    /// GoHighLevel's Ed25519 public key (PEM) for `x-ghl-signature`, when it differs from the
    /// one in configuration (`providers.ghl.ed25519_public_key`).
    #[serde(default)]
    pub webhook_ed25519_key: Option<String>,
    /// GoHighLevel's RSA public key (PEM) for the legacy `x-wh-signature`, when it differs from
    /// the one in configuration (`providers.ghl.rsa_public_key`).
    #[serde(default)]
    pub webhook_public_key: Option<String>,
}

impl GhlIntegration {
    /// The keys a delivery for this location may be signed with: the integration's own, else
    /// the configured ones. A key that does not read is left out (they are checked when set).
    pub fn keys(&self, endpoints: &Endpoints) -> providers::ghl::Keys {
        let pick = |own: &Option<String>, configured: &Option<String>| {
            own.clone().or_else(|| configured.clone())
        };
        providers::ghl::Keys {
            ed25519: pick(&self.webhook_ed25519_key, &endpoints.ghl_ed25519_public_key)
                .and_then(|pem| providers::ghl::Ed25519Key::parse_pem(&pem).ok()),
            rsa: pick(&self.webhook_public_key, &endpoints.ghl_rsa_public_key)
                .and_then(|pem| providers::ghl::RsaKey::parse_pem(&pem).ok()),
        }
    }
}

impl Integration for GhlIntegration {
    const KIND: SourceKind = SourceKind::Ghl;
}

/// The settings of a provider source (Twilio, SendGrid, Meta, GoHighLevel).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderSourceSettings {
    /// The lead source its leads are filed under (default: `facebook`, `gohighlevel`,
    /// `missed_call`, ...).
    #[serde(default)]
    pub lead_source: Option<String>,
    /// What a consent the provider's form collected covers (Meta's custom disclaimer):
    /// `transactional`, `informational`, `marketing`. Default: transactional and
    /// informational; add marketing only when the disclaimer's words say so.
    #[serde(default)]
    pub consent_purposes: Option<Vec<domain::Purpose>>,
}

impl ProviderSourceSettings {
    pub fn purposes(&self) -> Vec<domain::Purpose> {
        self.consent_purposes
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| {
                vec![
                    domain::Purpose::Transactional,
                    domain::Purpose::Informational,
                ]
            })
    }
}

/// The integration of kind `T` among an organisation's opened secrets.
fn read<T: Integration>(
    secrets: &std::collections::BTreeMap<String, String>,
) -> Result<Option<T>, store::DbError> {
    secrets
        .get(&secret_name(T::KIND))
        .map(|raw| {
            serde_json::from_str(raw)
                .map_err(|e| unreadable(&format!("integration {}", T::KIND), &e))
        })
        .transpose()
}

/// A sealed setting that no longer reads. Only where it failed: serde's message can quote the
/// value, and the value is a secret.
pub(crate) fn unreadable(what: &str, e: &serde_json::Error) -> store::DbError {
    store::DbError::corrupt(format!(
        "{what} does not read (line {}, column {})",
        e.line(),
        e.column()
    ))
}

/// The providers that carry one organisation's messages.
#[derive(Debug, Clone)]
pub struct Route {
    pub sms: Arc<dyn SmsProvider>,
    pub email: Arc<dyn EmailProvider>,
}

struct Cached {
    read_at: Instant,
    /// What the route was built from, so an unchanged reading keeps the route (and its
    /// circuit breakers).
    fingerprint: [u8; 32],
    route: Arc<Route>,
}

/// The routes of organisations, and the HTTP client of provider calls.
pub(crate) struct Routes {
    http: reqwest::Client,
    cache: Mutex<HashMap<TenantId, Cached>>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes").finish_non_exhaustive()
    }
}

impl Routes {
    pub(crate) fn new() -> Self {
        Self {
            http: providers::http::client(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Cached>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Engine {
    /// The HTTP client of provider calls (timeouts set, redirects refused).
    pub fn http(&self) -> &reqwest::Client {
        &self.routes.http
    }

    /// The organisation's integration of kind `T`, opened; `None` when not set. A stored
    /// value that no longer reads is a fault, not "not set".
    pub async fn integration<T: Integration>(
        &self,
        tenant: Tenant,
    ) -> Result<Option<T>, store::DbError> {
        read(&self.store.get_tenant_secrets(tenant).await?)
    }

    /// Sets (`Some`) or removes (`None`) an integration; the organisation's route is rebuilt
    /// on its next message.
    pub async fn set_integration<T: Integration>(
        &self,
        tenant: Tenant,
        value: Option<&T>,
    ) -> Result<(), store::DbError> {
        let raw = value
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| store::DbError::corrupt(e.to_string()))?;
        self.store
            .set_tenant_secrets(
                tenant,
                &[(secret_name(T::KIND), raw)],
                self.clock.wall_now(),
            )
            .await?;
        self.forget_route(tenant);
        Ok(())
    }

    /// Forgets the organisation's route here, so its next message reads its integrations,
    /// sources and brand again (after a source is created or revoked, the status callback
    /// changes; after a settings change, the brand SendGrid shows).
    pub fn forget_route(&self, tenant: Tenant) {
        self.routes.lock().remove(&tenant.id());
    }

    /// The providers that carry the organisation's messages now.
    pub async fn route(&self, tenant: Tenant) -> Result<Arc<Route>, store::DbError> {
        if let Some(c) = self.routes.lock().get(&tenant.id())
            && c.read_at.elapsed() < ROUTE_TTL
        {
            return Ok(c.route.clone());
        }
        let secrets = self.store.get_tenant_secrets(tenant).await?;
        let twilio: Option<TwilioIntegration> = read(&secrets)?;
        let sendgrid: Option<SendgridIntegration> = read(&secrets)?;
        let callback = match twilio {
            Some(_) => self.status_callback(tenant).await?,
            None => None,
        };
        // The brand is SendGrid's display name.
        let brand = match sendgrid {
            Some(_) => self
                .store
                .get_tenant(tenant.id())
                .await?
                .map(|t| t.brand().to_owned()),
            None => None,
        };
        let part = |kind| secrets.get(&secret_name(kind)).map_or("", String::as_str);
        let fingerprint = crypto::sha256(
            [
                part(SourceKind::Twilio),
                part(SourceKind::Sendgrid),
                callback.as_deref().unwrap_or_default(),
                brand.as_deref().unwrap_or_default(),
            ]
            .join("\u{0}")
            .as_bytes(),
        );
        if let Some(c) = self.routes.lock().get_mut(&tenant.id())
            && c.fingerprint == fingerprint
        {
            c.read_at = Instant::now();
            return Ok(c.route.clone());
        }
        let endpoints = &self.config.endpoints;
        let sms: Arc<dyn SmsProvider> = match twilio {
            Some(t) => Arc::new(twilio::Client::new(
                self.routes.http.clone(),
                &endpoints.twilio_api_base,
                twilio::Account {
                    sender: t.sender(),
                    account_sid: t.account_sid,
                    auth_token: t.auth_token,
                },
                callback,
            )),
            None => self.sms.clone(),
        };
        let email: Arc<dyn EmailProvider> = match sendgrid {
            Some(s) => Arc::new(sendgrid::Client::new(
                self.routes.http.clone(),
                &endpoints.sendgrid_api_base,
                sendgrid::Account {
                    api_key: s.api_key,
                    from_email: s.from_email,
                    from_name: brand,
                },
                self.clock.clone(),
            )),
            None => self.email.clone(),
        };
        let route = Arc::new(Route { sms, email });
        self.routes.lock().insert(
            tenant.id(),
            Cached {
                read_at: Instant::now(),
                fingerprint,
                route: route.clone(),
            },
        );
        Ok(route)
    }

    /// Where Twilio reports what became of the organisation's texts: the status hook of its
    /// first live Twilio source, when there is one and Leadline knows its public address.
    async fn status_callback(&self, tenant: Tenant) -> Result<Option<String>, store::DbError> {
        let Some(links) = &self.config.links else {
            return Ok(None);
        };
        let sources = self.store.list_sources(tenant).await?;
        Ok(sources
            .into_iter()
            .find(|s| s.kind == SourceKind::Twilio && s.revoked_at.is_none())
            .map(|s| format!("{}/hooks/twilio/{}/status", links.base_url, s.id)))
    }
}
