//! The test harness: the real app on 127.0.0.1:0 with its own temporary database, a sandbox
//! clock and provider, and a `drain` that runs due jobs (no sleeps, no background runner).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine as _;

use domain::{Tenant, TenantId};
use engine::{Engine, EngineConfig, SandboxClock};
use providers::sandbox::SandboxProvider;
use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use store::{NewApiKey, Store, TenantSettings};

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub engine: Arc<Engine>,
    pub clock: Arc<SandboxClock>,
    pub provider: Arc<SandboxProvider>,
    pub store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

/// An organisation with an API key.
pub struct Org {
    pub id: TenantId,
    pub key: String,
}

pub struct Options {
    pub sandbox: bool,
    pub metrics_token: Option<&'static str>,
    pub cors_origins: Vec<&'static str>,
    pub hsts: bool,
    pub signup_open: bool,
    pub budgets: web::budget::Budgets,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Where the providers' APIs are (wiremock fakes in provider tests).
    pub endpoints: engine::integrations::Endpoints,
    /// How long a claimed job stays leased.
    pub lease: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sandbox: true,
            metrics_token: None,
            cors_origins: Vec::new(),
            hsts: false,
            signup_open: false,
            budgets: web::budget::Budgets::default(),
            trusted_proxies: Vec::new(),
            endpoints: engine::integrations::Endpoints::default(),
            lease: EngineConfig::default().lease,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("leadline.db").display());
    let cipher = crypto::Cipher::new(crypto::KeyRing::generate());
    let store: Arc<dyn Store> = Arc::new(
        store_sqlite::SqliteStore::open(&url, cipher.clone())
            .await
            .unwrap(),
    );
    let clock = Arc::new(SandboxClock::new());
    // A Wednesday at noon in Chicago: inside every US window.
    clock.set("2026-03-04T18:00:00Z".parse().unwrap());
    let provider = Arc::new(SandboxProvider::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = EngineConfig {
        max_attempts: 3,
        links: Some(engine::assess::Links {
            base_url: format!("http://{addr}"),
            cipher: cipher.clone(),
        }),
        endpoints: options.endpoints.clone(),
        lease: options.lease,
        ..EngineConfig::default()
    };
    let engine = Engine::new(
        store.clone(),
        clock.clone(),
        provider.clone(),
        provider.clone(),
        config,
    );
    let sandbox = options.sandbox.then(|| web::Sandbox {
        clock: clock.clone(),
        provider: provider.clone(),
    });
    let mut state = web::AppState::new(engine.clone(), cipher, sandbox);
    state.metrics_token = options
        .metrics_token
        .map(|t| secrecy::SecretString::from(t.to_owned()));
    state.auth.signup_open = options.signup_open;
    state.budgets = options.budgets;
    state.auth.trusted_proxies = options.trusted_proxies;
    state.auth.public_base_url = format!("http://{addr}");
    state.http = web::HttpSecurity {
        cors_origins: options
            .cors_origins
            .iter()
            .map(|o| axum::http::HeaderValue::from_static(o))
            .collect(),
        hsts: options.hsts,
    };
    state.prometheus = Some(
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle(),
    );
    tokio::spawn(async move {
        axum::serve(
            listener,
            web::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    TestApp {
        base: format!("http://{addr}"),
        client: Client::new(),
        engine,
        clock,
        provider,
        store,
        _dir: dir,
    }
}

impl TestApp {
    /// A fresh organisation and an API key with `scopes` (all when empty).
    pub async fn org_with_scopes(&self, name: &str, scopes: &[&str]) -> Org {
        let settings = TenantSettings {
            business_name: name.to_owned(),
            support_contact: "help@example.com".into(),
            ..TenantSettings::default()
        };
        let org = self
            .store
            .create_tenant(name, &settings, self.engine.clock.now())
            .await
            .unwrap();
        let generated = crypto::generate_api_key();
        let scopes = if scopes.is_empty() {
            store::API_SCOPES.to_vec()
        } else {
            scopes.to_vec()
        };
        self.store
            .create_api_key(
                Tenant::from_authenticated(org.id),
                NewApiKey {
                    id: domain::ApiKeyId::new(),
                    name: "test".into(),
                    prefix: generated.prefix.clone(),
                    hash: generated.hash.to_vec(),
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                    created_at: self.engine.clock.now(),
                },
            )
            .await
            .unwrap();
        Org {
            id: org.id,
            key: generated.secret,
        }
    }

    pub async fn org(&self, name: &str) -> Org {
        self.org_with_scopes(name, &[]).await
    }

    /// A user with `role` in `org`, signing in with `password`.
    pub async fn member(&self, org: &Org, email: &str, role: domain::Role, password: &str) {
        let user = self
            .store
            .create_user(store::NewUser {
                id: domain::UserId::new(),
                email: domain::Email::parse(email).unwrap(),
                password_hash: crypto::hash_password(password).unwrap(),
                must_change_password: false,
                operator: false,
                created_at: self.engine.clock.now(),
            })
            .await
            .unwrap();
        self.store
            .add_membership(
                Tenant::from_authenticated(org.id),
                user.id,
                role,
                self.engine.clock.now(),
            )
            .await
            .unwrap();
    }

    /// A platform operator, outside every organisation, signing in with `password`.
    pub async fn operator(&self, email: &str, password: &str) {
        self.store
            .create_user(store::NewUser {
                id: domain::UserId::new(),
                email: domain::Email::parse(email).unwrap(),
                password_hash: crypto::hash_password(password).unwrap(),
                must_change_password: false,
                operator: true,
                created_at: self.engine.clock.now(),
            })
            .await
            .unwrap();
    }

    /// A POST of `body` as JSON without credentials (sign-in, refresh, resets, invitations).
    pub async fn post_open(&self, path: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Signs in; the raw answer.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_open(
            "/api/v1/auth/login",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Signs in and returns the token answer, asserting success.
    pub async fn session(&self, email: &str, password: &str) -> Value {
        let res = self.login(email, password).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// The single-use code in the last email the sandbox sent to `to`.
    pub fn emailed_code(&self, to: &str) -> String {
        let email = self
            .provider
            .sent()
            .into_iter()
            .rev()
            .find(|m| m.to == to)
            .expect("an email was sent");
        email
            .body
            .lines()
            .map(str::trim)
            .find(|l| l.len() == 43 && !l.contains(' '))
            .expect("the email carries a code")
            .to_owned()
    }

    /// A request with a bearer credential (API key or access token).
    pub fn with_bearer(&self, method: reqwest::Method, path: &str, bearer: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(bearer)
    }

    pub fn get(&self, org: &Org, path: &str) -> RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&org.key)
    }

    pub fn post(&self, org: &Org, path: &str, body: &Value) -> RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&org.key)
            .json(body)
    }

    pub async fn post_lead(&self, org: &Org, body: Value) -> Response {
        self.post(org, "/api/v1/leads", &body).send().await.unwrap()
    }

    /// Runs every job due now; returns how many ran.
    pub async fn drain(&self) -> usize {
        engine::runner::drain(&self.engine).await
    }

    pub async fn messages(&self, org: &Org, query: &str) -> Vec<Value> {
        let res = self
            .get(org, &format!("/api/v1/messages?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["data"].as_array().unwrap().clone()
    }

    pub async fn set_clock(&self, org: &Org, at: &str) {
        let res = self
            .post(org, "/api/v1/sandbox/clock", &json!({ "set": at }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

/// The problem+json body of an error answer, after checking its content type and correlation id.
pub async fn problem(res: Response) -> Value {
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "status {}",
        res.status()
    );
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["correlation_id"], request_id.as_str(), "{body}");
    body
}

pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A P-256 key pair as SendGrid's: the private key signs, the public key (base64 DER) is what
/// the integration is given.
pub struct SendgridSigner(aws_lc_rs::signature::EcdsaKeyPair);

impl SendgridSigner {
    pub fn new() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &rng,
        )
        .unwrap();
        Self(
            aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                pkcs8.as_ref(),
            )
            .unwrap(),
        )
    }

    pub fn public_key(&self) -> String {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair;
        let der: aws_lc_rs::encoding::PublicKeyX509Der = self.0.public_key().as_der().unwrap();
        base64::engine::general_purpose::STANDARD.encode(der.as_ref())
    }

    pub fn sign(&self, timestamp: &str, body: &str) -> String {
        self.sign_bytes(timestamp, body.as_bytes())
    }

    pub fn sign_bytes(&self, timestamp: &str, body: &[u8]) -> String {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut signed = timestamp.as_bytes().to_vec();
        signed.extend_from_slice(body);
        base64::engine::general_purpose::STANDARD
            .encode(self.0.sign(&rng, &signed).unwrap().as_ref())
    }
}

/// An Ed25519 key pair standing in for GoHighLevel's: the public key is configured (or set in
/// an integration), the private key signs `x-ghl-signature`.
pub struct GhlSigner(aws_lc_rs::signature::Ed25519KeyPair);

impl GhlSigner {
    pub fn new(seed: u8) -> Self {
        Self(aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap())
    }

    /// The public key as a PEM SubjectPublicKeyInfo.
    pub fn public_pem(&self) -> String {
        use aws_lc_rs::signature::KeyPair;
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(self.0.public_key().as_ref());
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(spki)
        )
    }

    pub fn sign(&self, body: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.sign(body).as_ref())
    }
}

/// A browser without JavaScript, for the dashboard: keeps its cookies, follows no redirects,
/// and sends forms with the page's CSRF token.
pub struct Visitor {
    pub base: String,
    client: Client,
    cookies: std::sync::Mutex<Vec<(String, String)>>,
}

impl Visitor {
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: app.base.clone(),
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: std::sync::Mutex::default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The value of a cookie the site set, if it is still set.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// Sets a cookie as if the site had (to present a forged or stale one).
    pub fn set_cookie(&self, name: &str, value: &str) {
        let mut jar = self.cookies.lock().unwrap();
        jar.retain(|(k, _)| k != name);
        jar.push((name.to_owned(), value.to_owned()));
    }

    fn keep(&self, res: &Response) {
        let mut jar = self.cookies.lock().unwrap();
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            jar.retain(|(name, _)| name != k);
            if !attrs.contains("Max-Age=0") {
                jar.push((k.to_owned(), val.to_owned()));
            }
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }

    /// The page's body, asserting its status.
    pub async fn page(&self, path: &str, status: u16) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), status, "GET {path}");
        res.text().await.unwrap()
    }

    /// Posts `fields` as a form, as a browser on this site would (same-origin fetch metadata).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }

    /// Signs in through the form; the answer to the form's POST.
    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        let form = self.page("/app/login", 200).await;
        let csrf = csrf_of(&form);
        self.post(
            "/app/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    hidden_of(html, "csrf")
}

/// The value of the page's first hidden field `name`.
pub fn hidden_of(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the page has the field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Where a redirect points.
pub fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_owned()
}
