//! The connection pool, migrations, notices between instances, and the private development cluster.

pub mod cluster;
pub mod notices;

use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseSettings;

/// Every migration of the project, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A connection idle for longer than this is pinged before it is handed out; one used a moment
/// ago is not, so a one-query request costs one round trip instead of two.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// A pool whose acquire timeout is short, so an overloaded or absent database turns into a
/// quick 503 rather than requests piling up.
pub fn pool_options(settings: &DatabaseSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    use sqlx::Connection;
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

pub fn connect_options(url: &str) -> anyhow::Result<PgConnectOptions> {
    url.parse::<PgConnectOptions>()
        .context("DATABASE_URL is not a valid PostgreSQL URL")
        .map(|o| o.application_name("belong"))
}

/// Connects to the configured database (the caller has resolved a URL by now).
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let url = settings
        .url
        .as_ref()
        .context("no database URL was resolved")?;
    let options = connect_options(url.expose_secret())?;
    let pool = pool_options(settings)
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")?;
    Ok(pool)
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}

/// Creates a database on the server behind `admin_url` unless it exists, optionally as a
/// copy of a template. The names are ours (never a client's), quoted as identifiers.
pub async fn ensure_database(
    admin_url: &str,
    name: &str,
    template: Option<&str>,
) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect_with(&connect_options(admin_url)?)
        .await
        .context("connecting to the PostgreSQL server")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let mut statement = format!("CREATE DATABASE {}", quote_ident(name));
        if let Some(template) = template {
            statement.push_str(&format!(" TEMPLATE {}", quote_ident(template)));
        }
        sqlx::raw_sql(&statement)
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating the database {name}"))?;
    }
    conn.close().await?;
    Ok(())
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, _) = url
        .split_once('?')
        .map(|(b, q)| (b, Some(q)))
        .unwrap_or((url, None));
    let query = url
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let slash = base
        .rfind('/')
        .filter(|i| *i > "postgres://".len())
        .context("the database URL has no database name")?;
    Ok(format!("{}/{database}{query}", &base[..slash]))
}
