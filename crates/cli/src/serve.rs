//! `leadline serve`: the API, the job runner and the scheduler in one process.

use std::sync::Arc;

use anyhow::Context;
use domain::Clock;
use engine::{Engine, SandboxClock};
use metrics_exporter_prometheus::PrometheusBuilder;
use providers::sandbox::SandboxProvider;
use providers::{EmailProvider, SmsProvider};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, LogFormat, Mode};
use crate::wiring::{engine_config, open_key_ring, open_store};

fn init_tracing(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    }
    .map_err(|e| anyhow::anyhow!("starting the logger: {e}"))
}

/// The clock and the default providers the engine is built with.
type Parts = (Arc<dyn Clock>, Arc<dyn SmsProvider>, Arc<dyn EmailProvider>);

/// The real clock and the platform's own accounts, which carry the messages of organisations
/// without integrations of their own. Texts need Twilio: without a platform account, an
/// organisation's texts fail (`no_sms_provider`) until it sets its Twilio integration.
fn production_providers(config: &Config) -> anyhow::Result<Parts> {
    let clock: Arc<dyn Clock> = Arc::new(domain::SystemClock);
    let endpoints = config.providers.endpoints();
    let http = providers::http::client();
    let sms: Arc<dyn SmsProvider> = match config.providers.twilio_account() {
        // The platform's number has no source, so no status callback: its texts stay `sent`.
        Some(account) => Arc::new(providers::twilio::Client::new(
            http.clone(),
            &endpoints.twilio_api_base,
            account,
            None,
        )),
        None => {
            tracing::warn!("no platform Twilio account: organisations need their own to text");
            Arc::new(providers::NoSmsProvider)
        }
    };
    let account = config
        .providers
        .sendgrid_account()
        .context("production needs providers.sendgrid (validation should have said so)")?;
    let email: Arc<dyn EmailProvider> = Arc::new(providers::sendgrid::Client::new(
        http,
        &endpoints.sendgrid_api_base,
        account,
        clock.clone(),
    ));
    Ok((clock, sms, email))
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    init_tracing(&config)?;
    let addr = config.bind_addr()?;
    let data_dir_existed = config.data_dir.exists();
    let sqlite_default = config.database_url.is_empty();
    let db_file = config.data_dir.join("leadline.db");
    let db_existed = db_file.exists();

    let ring = open_key_ring(&config)?;
    let store = open_store(&config, ring.cipher.clone()).await?;
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    engine::metrics::describe();

    let sandbox = (config.mode == Mode::Sandbox).then(|| web::Sandbox {
        clock: Arc::new(SandboxClock::new()),
        provider: Arc::new(SandboxProvider::new()),
    });
    let (clock, sms, email): Parts = match &sandbox {
        Some(s) => (s.clock.clone(), s.provider.clone(), s.provider.clone()),
        None => production_providers(&config)?,
    };
    let mut engine_settings = engine_config(&config);
    // Unsubscribe links in emails point at the public address, or at this server's own.
    engine_settings.links = Some(engine::assess::Links {
        base_url: if config.public_base_url.is_empty() {
            format!("http://{addr}")
        } else {
            config.public_base_url.trim_end_matches('/').to_owned()
        },
        cipher: ring.cipher.clone(),
    });
    let engine = Engine::new(store.clone(), clock, sms, email, engine_settings);

    // The first start gets an organisation and its owner (and, in the sandbox, an API key to
    // try things with).
    let first_start = if store.list_tenants().await?.is_empty() {
        Some(first_start(&config, store.as_ref(), sandbox.is_some()).await?)
    } else {
        None
    };

    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} (fix: set --bind or bind = \"...\")"))?;
    let local = listener.local_addr()?;
    let mut state = web::AppState::new(engine.clone(), ring.cipher.clone(), sandbox);
    state.prometheus = Some(prometheus);
    state.metrics_token = config.metrics_token();
    state.request_timeout = std::time::Duration::from_secs(config.http.request_timeout_seconds);
    state.auth.trusted_proxies = config.trusted_proxies()?;
    state.http = web::HttpSecurity {
        cors_origins: config.cors_origins()?,
        hsts: config.public_base_url.starts_with("https://"),
    };
    if !config.public_base_url.is_empty() {
        state.auth.issuer = config.public_base_url.trim_end_matches('/').to_owned();
        state.auth.public_base_url = config.public_base_url.clone();
    }
    state.auth.signup_open = config.signup == crate::config::Signup::Open;
    state.budgets = web::budget::Budgets {
        per_api_key: config.limits.api_key_per_minute,
        per_organisation: config.limits.organisation_per_minute,
    };
    state.auth.email_from = config.system_email_from.clone();

    let shutdown = CancellationToken::new();
    let worker_id = format!("{}-{}", hostname(), uuid::Uuid::now_v7().simple());
    let runner = tokio::spawn(engine::runner::run(
        engine.clone(),
        worker_id,
        shutdown.child_token(),
    ));

    // Silent-lead recovery runs as a recurring job; every instance seeds the current slot's
    // (one per slot across the fleet).
    if let Err(e) = engine.seed_recovery().await {
        tracing::warn!(error = %e, "could not queue the recovery scan; it starts at the next restart");
    }

    let audit_chainer = tokio::spawn(engine::audit::run_chainer(
        engine.clone(),
        shutdown.child_token(),
    ));

    let budget_flusher = tokio::spawn(web::budget::run_flusher(
        state.budget_counters.clone(),
        store.clone(),
        engine.clock.clone(),
        shutdown.child_token(),
    ));

    let metrics_server = match config.metrics_addr()? {
        Some(metrics_addr) => {
            let metrics_listener = TcpListener::bind(metrics_addr)
                .await
                .with_context(|| format!("listening on metrics.bind {metrics_addr}"))?;
            let app = web::metrics_router(state.clone());
            let stop = shutdown.clone();
            Some(tokio::spawn(async move {
                axum::serve(metrics_listener, app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
            }))
        }
        None => None,
    };

    print_start(
        &config,
        local,
        data_dir_existed,
        sqlite_default && !db_existed,
        ring.created,
        first_start.as_ref(),
    );
    tokio::spawn(wait_for_signal(shutdown.clone()));
    let app = web::router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .await
    .context("serving HTTP")?;
    shutdown.cancel();
    if let Some(server) = metrics_server {
        server
            .await
            .context("metrics listener")?
            .context("serving metrics")?;
    }
    runner.await.context("job runner")?;
    audit_chainer.await.context("audit chainer")?;
    // The runner's last jobs may have staged entries after the chainer's final pass.
    engine::audit::chain_all(&engine).await;
    budget_flusher.await.context("request budget flusher")?;
    store.close().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: no new requests or jobs; finishing what is in flight");
    shutdown.cancel();
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "leadline".to_owned())
}

/// What the first start created.
struct FirstStart {
    org_name: String,
    owner_email: String,
    owner_password: String,
    api_key: Option<String>,
}

async fn first_start(
    config: &Config,
    store: &dyn store::Store,
    sandbox: bool,
) -> anyhow::Result<FirstStart> {
    let name = if sandbox {
        "Sandbox Home Services"
    } else {
        "Leadline"
    };
    let mut settings = crate::commands::org_settings(config, name);
    if sandbox {
        settings.support_contact = "support@example.com".to_owned();
    }
    let org = store
        .create_tenant(name, &settings, domain::clock::wall_clock_now())
        .await?;
    let email = domain::Email::parse(&config.first_owner_email)
        .map_err(|e| anyhow::anyhow!("first_owner_email: {e}"))?;
    // Generated, shown once, and refused for anything but choosing a new one.
    let password = crypto::random_token();
    crate::commands::create_member(
        store,
        &org,
        email.clone(),
        domain::Role::Owner,
        &password,
        true,
    )
    .await?;
    let api_key = if sandbox {
        Some(
            crate::commands::create_key(store, org.id, "first start", Vec::new())
                .await?
                .1,
        )
    } else {
        None
    };
    Ok(FirstStart {
        org_name: org.name,
        owner_email: email.as_str().to_owned(),
        owner_password: password,
        api_key,
    })
}

fn print_start(
    config: &Config,
    local: std::net::SocketAddr,
    data_dir_existed: bool,
    db_created: bool,
    ring_created: bool,
    first: Option<&FirstStart>,
) {
    let mode = match config.mode {
        Mode::Sandbox => "sandbox mode: messages are recorded, not sent",
        Mode::Production => "production mode",
    };
    println!("Leadline is listening on http://{local} ({mode}).");
    let mut created = Vec::new();
    if !data_dir_existed {
        created.push(format!("  data dir   {}", config.data_dir.display()));
    }
    if db_created {
        created.push(format!(
            "  database   {} (SQLite, WAL)",
            config.data_dir.join("leadline.db").display()
        ));
    }
    if ring_created {
        created.push(format!(
            "  key ring   {} (owner-only; back it up: without it the data cannot be read)",
            config.key_ring_path().display()
        ));
    }
    if !created.is_empty() {
        println!("\nCreated:\n{}", created.join("\n"));
    }
    if let Some(first) = first {
        println!(
            "  the organisation {:?} and its owner:\n\n    email     {}\n    password  {}  (shown once; choose a new one at first sign-in)\n",
            first.org_name, first.owner_email, first.owner_password
        );
        println!(
            "Sign in to the dashboard at http://{local}/app (it asks for a new password first),"
        );
        println!("or through the API:\n");
        println!(
            "  curl -s http://{local}/api/v1/auth/login -H 'Content-Type: application/json' \\\n    -d '{{\"email\": \"{}\", \"password\": \"{}\"}}'\n",
            first.owner_email, first.owner_password
        );
        println!(
            "  then POST /api/v1/auth/password with the access token to choose your own password.\n"
        );
    }
    if let Some(key) = first.and_then(|f| f.api_key.as_deref()) {
        println!("and its API key (shown once):\n\n    {key}\n");
        println!("Try it:\n");
        println!("  export LEADLINE_KEY={key}");
        println!(
            "  curl -s http://{local}/api/v1/leads -H \"Authorization: Bearer $LEADLINE_KEY\" -H 'Content-Type: application/json' \\\n    -d '{{\"name\": \"Jane Doe\", \"phone\": \"(415) 555-2671\", \"source\": \"web_form\"}}'"
        );
        println!(
            "  curl -s \"http://{local}/api/v1/messages\" -H \"Authorization: Bearer $LEADLINE_KEY\"\n"
        );
        println!("API reference: http://{local}/api/v1/openapi.json");
    }
}
