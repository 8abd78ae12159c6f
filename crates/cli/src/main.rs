//! `leadline`: the one binary. `leadline serve` runs everything; the other subcommands manage
//! a deployment.

mod commands;
mod config;
mod serve;
mod wiring;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Overrides};

/// Leadline answers every lead within a second, follows up, and keeps messaging law.
#[derive(Debug, Parser)]
#[command(name = "leadline", version, about)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes. The same keys work in leadline.toml and as LEADLINE_*
/// environment variables.
#[derive(Debug, Args)]
struct Global {
    /// Where Leadline keeps its database and key ring.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// `sqlite:PATH` or `postgres://...` (default: SQLite in the data dir).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// A configuration file (default: ./leadline.toml when present).
    #[arg(long, global = true, value_name = "FILE", env = "LEADLINE_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API, the workers and the scheduler in one process.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// API keys.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Users who sign in.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The key ring that seals personal data.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organisation.
    Create {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List every organisation, with whether it is suspended.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Suspend an organisation: its API keys and members are refused; its data is kept.
    Suspend {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Lift a suspension.
    Resume {
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Create an API key; the key is shown once.
    Create {
        #[arg(long, value_name = "ID")]
        org: String,
        #[arg(long, default_value = "default")]
        name: String,
        /// A scope to grant (repeatable). Default: all scopes.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user with a role in an organisation, or a platform operator (`--operator`); the
    /// password is read from standard input.
    Create {
        #[arg(
            long,
            value_name = "ID",
            required_unless_present = "operator",
            conflicts_with = "operator"
        )]
        org: Option<String>,
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// owner, admin, manager, agent or viewer.
        #[arg(
            long,
            value_name = "ROLE",
            required_unless_present = "operator",
            conflicts_with = "operator"
        )]
        role: Option<String>,
        /// A platform operator, outside every organisation: manages organisations and sees the
        /// system's health, and reads an organisation's data only under its support grant.
        #[arg(long)]
        operator: bool,
        /// Read the password from standard input (its first line). Required: passwords are
        /// never taken as arguments, which other users of the machine can see.
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute every chain of the audit log and name the first broken entry.
    Verify,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and show each value with where it came from.
    Check,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create the key ring file (owner-only permissions).
    Init,
    /// Add a new data key and make it the one new data is sealed with.
    Rotate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        data_dir: cli.global.data_dir.clone(),
        database_url: cli.global.database_url.clone(),
        bind: match &cli.command {
            Command::Serve { bind } => bind.clone(),
            _ => None,
        },
    };
    if let Command::Config {
        command: ConfigCommand::Check,
    } = &cli.command
    {
        return commands::config_check(cli.global.config.as_deref(), &overrides);
    }
    let config = match Config::load(cli.global.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("leadline: invalid configuration\n{e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("leadline: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => serve::serve(config).await,
            Command::Migrate => commands::migrate(&config).await,
            Command::Org {
                command: OrgCommand::Create { name, json },
            } => commands::org_create(&config, &name, json).await,
            Command::Org {
                command: OrgCommand::List { json },
            } => commands::org_list(&config, json).await,
            Command::Org {
                command: OrgCommand::Suspend { id },
            } => commands::org_suspend(&config, &id, true).await,
            Command::Org {
                command: OrgCommand::Resume { id },
            } => commands::org_suspend(&config, &id, false).await,
            Command::ApiKey {
                command:
                    ApiKeyCommand::Create {
                        org,
                        name,
                        scopes,
                        json,
                    },
            } => commands::api_key_create(&config, &org, &name, scopes, json).await,
            Command::User {
                command:
                    UserCommand::Create {
                        org,
                        email,
                        role,
                        operator,
                        password_stdin: _,
                        json,
                    },
            } => match (org, role) {
                (Some(org), Some(role)) if !operator => {
                    commands::user_create(&config, &org, &email, &role, json).await
                }
                _ => commands::operator_create(&config, &email, json).await,
            },
            Command::Audit {
                command: AuditCommand::Verify,
            } => commands::audit_verify(&config).await,
            Command::Keys {
                command: KeysCommand::Init,
            } => commands::keys_init(&config),
            Command::Keys {
                command: KeysCommand::Rotate,
            } => commands::keys_rotate(&config),
            Command::Config { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leadline: {e:#}");
            ExitCode::FAILURE
        }
    }
}
