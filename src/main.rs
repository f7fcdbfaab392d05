//! The `belong` command: serve (default), migrate, seed, admin, scim-token.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use belong::accounts::password::{Hasher, NewPassword};
use belong::config::Settings;
use belong::db::cluster::DevCluster;
use belong::startup::{AppState, Application, shutdown_signal};
use belong::{db, seed, telemetry};

#[derive(Parser)]
#[command(name = "belong", version, about = "Run Business Resource Groups")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, then serve (the default). Without DATABASE_URL: a private cluster with demo data.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Load data.
    Seed {
        /// The demo groups and accounts (idempotent).
        #[arg(long, conflicts_with = "synthetic")]
        demo: bool,
        /// A synthetic organisation for benchmarks (see docs/performance.md): employees
        /// synthetic-NNNNNN@synthetic.example, password "belong-synthetic-password".
        #[arg(long)]
        synthetic: bool,
        /// With --synthetic: how many employees.
        #[arg(long, default_value_t = 50_000)]
        employees: u32,
        /// With --synthetic: how many groups.
        #[arg(long, default_value_t = 100)]
        groups: u32,
        /// With --synthetic: how many memberships (at most employees x groups).
        #[arg(long, default_value_t = 200_000)]
        memberships: u64,
    },
    /// Administration from the command line.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Bearer tokens of provisioning clients (SCIM 2.0 under /scim/v2).
    ScimToken {
        #[command(subcommand)]
        command: ScimTokenCommand,
    },
}

#[derive(Subcommand)]
enum ScimTokenCommand {
    /// Make a token and print it once (only its SHA-256 digest is kept).
    Create {
        /// What the token is for, e.g. "entra-id"; one live token per name.
        #[arg(long)]
        name: String,
    },
    /// Revoke the live token of that name; the next request with it answers 401.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin, or promote an existing user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "belong stopped");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The database to use: `DATABASE_URL`, or the private cluster (started or reused).
async fn database(settings: &mut Settings) -> anyhow::Result<Option<DevCluster>> {
    if settings.database.url.is_some() {
        return Ok(None);
    }
    let dir = settings.database.data_dir.clone();
    let cluster = tokio::task::spawn_blocking(move || DevCluster::start_or_reuse(&dir)).await??;
    db::ensure_database(&cluster.url("postgres"), "belong", None).await?;
    settings.database.url = Some(SecretString::from(cluster.url("belong")));
    Ok(Some(cluster))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load()?;
    telemetry::init(&settings.log);
    let cluster = database(&mut settings).await?;
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings, cluster.is_some()).await,
        Command::Migrate => {
            let pool = db::connect(&settings.database).await?;
            db::migrate(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed {
            demo,
            synthetic,
            employees,
            groups,
            memberships,
        } => {
            anyhow::ensure!(
                demo || synthetic,
                "say what to load: `belong seed --demo` or `belong seed --synthetic`"
            );
            let pool = db::connect(&settings.database).await?;
            db::migrate(&pool).await?;
            // A tool's hashes wait for a slot as long as it takes.
            let hasher = Hasher::new(settings.max_concurrent_hashes(), None)?;
            if synthetic {
                let size = seed::synthetic::Size {
                    employees,
                    groups,
                    memberships,
                };
                report_synthetic(seed::synthetic::load(&pool, &hasher, size).await?);
            } else {
                seed::demo(&pool, &hasher).await?;
                println!("demo data loaded");
            }
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    display_name,
                },
        } => create_admin(&settings, &email, &display_name).await,
        Command::ScimToken { command } => scim_token(&settings, command).await,
    };
    if let Some(cluster) = cluster {
        tokio::task::spawn_blocking(move || cluster.stop()).await??;
    }
    result
}

async fn serve(settings: Settings, demo: bool) -> anyhow::Result<()> {
    let pool = db::connect(&settings.database).await?;
    db::migrate(&pool).await?;
    let state = AppState::new(settings, pool.clone())?;
    if let Some(sso) = state.sso.clone() {
        // Finds the provider now, so that a wrong issuer shows in the log at once; a failure
        // is retried at the next sign-in.
        tokio::spawn(async move {
            if sso.discover().await.is_ok() {
                tracing::info!("single sign-on: the identity provider was found");
            }
        });
    }
    if demo {
        seed::demo(&pool, &state.hasher).await?;
    }
    let app = Application::bind(state).await?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, "belong is listening");
    println!("belong is ready");
    println!("  pages:    http://{addr}/");
    println!("  API docs: http://{addr}/api/docs");
    if demo {
        println!("  demo sign-ins (password {:?}):", seed::DEMO_PASSWORD);
        for (email, can) in seed::ACCOUNTS {
            println!("    {email:<26} {can}");
        }
    }
    app.serve(shutdown_signal()).await?;
    pool.close().await;
    Ok(())
}

fn report_synthetic(outcome: seed::synthetic::Outcome) {
    use seed::synthetic::{EMAIL_DOMAIN, Outcome, SYNTHETIC_PASSWORD, email};
    match outcome {
        Outcome::Loaded { size, elapsed } => println!(
            "synthetic organisation loaded in {:.1} s: {} employees ({} to {}), {} groups, \
             {} memberships; every employee's password is {SYNTHETIC_PASSWORD:?}",
            elapsed.as_secs_f64(),
            size.employees,
            email(1),
            email(size.employees),
            size.groups,
            size.memberships
        ),
        Outcome::AlreadyLoaded {
            employees,
            groups,
            memberships,
        } => println!(
            "the synthetic organisation is already loaded ({employees} employees @{EMAIL_DOMAIN}, \
             {groups} groups, {memberships} memberships now); nothing to do"
        ),
    }
}

async fn scim_token(settings: &Settings, command: ScimTokenCommand) -> anyhow::Result<()> {
    use belong::accounts::provisioning;
    let pool = db::connect(&settings.database).await?;
    db::migrate(&pool).await?;
    match command {
        ScimTokenCommand::Create { name } => {
            let token = provisioning::create_token(&pool, &name).await?;
            eprintln!(
                "SCIM token {:?} made; it is shown only now. Give the identity provider the \
                 address {}/scim/v2 and this token:",
                name.trim(),
                settings.server.public_url
            );
            println!("{}", token.expose_secret());
        }
        ScimTokenCommand::Revoke { name } => {
            anyhow::ensure!(
                provisioning::revoke_token(&pool, &name).await?,
                "no live SCIM token is named {name:?}"
            );
            println!("SCIM token {:?} revoked", name.trim());
        }
    }
    Ok(())
}

async fn create_admin(settings: &Settings, email: &str, display_name: &str) -> anyhow::Result<()> {
    let pool = db::connect(&settings.database).await?;
    db::migrate(&pool).await?;
    eprintln!("password for {email} (12 to 128 characters), then Enter:");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password")?;
    let password = SecretString::from(line.trim_end_matches(['\r', '\n']).to_string());
    let password = NewPassword::parse(password).map_err(|e| anyhow::anyhow!("the password {e}"))?;
    let hasher = Hasher::new(1, None)?;
    let id =
        belong::accounts::bootstrap_admin(&pool, &hasher, email, display_name, &password).await?;
    drop(password);
    println!("{email} is an admin (user id {id})");
    Ok(())
}
