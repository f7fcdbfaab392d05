//! Layered settings: the built-in `config/default.toml`, then `config/default.toml` and
//! `config/$BELONG_ENV.toml` from disk, then `BELONG__SECTION__KEY` variables and `DATABASE_URL`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

const BUILT_IN_DEFAULTS: &str = include_str!("../config/default.toml");
/// The shortest signing secret accepted (HS256 wants at least the hash size).
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// Access tokens never live longer than this, whatever the settings say.
pub const MAX_ACCESS_TOKEN_TTL_SECS: u64 = 900;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("BELONG_ENV").as_deref() {
            Err(_) | Ok("") | Ok("development") | Ok("dev") => Ok(Self::Development),
            Ok("test") => Ok(Self::Test),
            Ok("production") | Ok("prod") => Ok(Self::Production),
            Ok(other) => {
                bail!("BELONG_ENV={other:?} is not known; use development, test or production")
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(skip, default = "default_environment")]
    pub environment: Environment,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub reports: ReportSettings,
    pub log: LogSettings,
    /// Single sign-on; absent or empty: password sign-in only.
    #[serde(default)]
    pub oidc: OidcSettings,
}

fn default_environment() -> Environment {
    Environment::Development
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    /// The address people reach the service at, for links handed out (calendar feeds).
    pub public_url: String,
    pub request_timeout_secs: u64,
    pub max_body_bytes: usize,
    pub shutdown_grace_secs: u64,
    /// The time a client has to send a request's head before its connection is closed.
    pub header_read_timeout_secs: u64,
    /// The largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Connections served at once; others wait to be accepted.
    pub max_connections: usize,
    /// Origins (`https://intranet.example.com`) whose pages may call the API from a browser;
    /// empty (the default): no cross-origin access at all.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Where `/metrics` is served; `None` (the default): nowhere. Never on `bind`.
    #[serde(default)]
    pub metrics_bind: Option<SocketAddr>,
    /// Reverse proxies whose `X-Forwarded-For` names the client; from anyone else the header
    /// is ignored and the socket's address is the client's.
    #[serde(default, deserialize_with = "ip_list")]
    pub trusted_proxies: Vec<IpAddr>,
}

/// A list of IP addresses; blanks (an empty variable) are skipped.
fn ip_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpAddr>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| {
                serde::de::Error::custom(format!(
                    "server.trusted_proxies: {s:?} is not an IP address"
                ))
            })
        })
        .collect()
}

impl ServerSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// From `DATABASE_URL`; `None` means "run the private development cluster".
    #[serde(default)]
    pub url: Option<SecretString>,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout_ms: u64,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    #[serde(default)]
    pub jwt_secret: Option<SecretString>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// `None`: open outside production, closed in production.
    #[serde(default)]
    pub allow_registration: Option<bool>,
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    pub max_failed_logins: u32,
    pub failed_login_window_secs: u64,
    /// Sign-ins from one client address within the window, whatever the emails, that failed or
    /// are under way (a successful one gives its attempt back; a refused one is not counted).
    pub max_failed_logins_per_client: u32,
    /// Registrations tried from one client address within the window.
    pub max_registrations_per_client: u32,
    /// Single sign-on starts from one client address still waiting for the provider's answer
    /// (counted for an attempt's ten minutes; a callback gives its start back).
    pub max_pending_sso_logins_per_client: u32,
    /// 0 means one per CPU core.
    pub max_concurrent_hashes: usize,
    /// How long a password check (sign-in, registration) waits for a hashing slot before it is
    /// answered 503 with `Retry-After`; 0: only a slot free at once. Below the request timeout.
    pub max_hash_wait_ms: u64,
    /// A web session ends after this many seconds without a request...
    pub web_session_idle_secs: u64,
    /// ...and in any case this many seconds after sign-in.
    pub web_session_max_secs: u64,
    /// How long a principal read from the database is served from memory at most, should a
    /// change's notice be lost unnoticed; 0 turns the cache off.
    pub principal_cache_ttl_secs: u64,
    /// Sign-in with an email and a password (pages and API). Only single sign-on may turn it
    /// off: `false` needs the `oidc` settings.
    #[serde(default = "yes")]
    pub password_login: bool,
}

fn yes() -> bool {
    true
}

impl AuthSettings {
    pub fn max_hash_wait(&self) -> Duration {
        Duration::from_millis(self.max_hash_wait_ms)
    }
}

/// Single sign-on with an OpenID Connect provider (Entra ID, Okta, Keycloak...): all four of
/// `issuer`, `client_id`, `client_secret` and `display_name`, or none.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OidcSettings {
    /// The provider's issuer, exactly as its discovery document names it.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// How the sign-in page names the provider: "Sign in with <display_name>".
    #[serde(default)]
    pub display_name: Option<String>,
    /// The first sign-in of someone without an account creates one (with the provider's
    /// verified email); otherwise only existing accounts are linked.
    #[serde(default)]
    pub create_users: bool,
}

impl OidcSettings {
    /// Whether single sign-on is configured (validation made it all or nothing).
    pub fn enabled(&self) -> bool {
        self.issuer.is_some()
    }

    /// Blank values count as unset; then all or nothing, and an issuer people can trust.
    fn validate(&mut self) -> anyhow::Result<()> {
        fn blank_is_none(value: &mut Option<String>) {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        blank_is_none(&mut self.issuer);
        blank_is_none(&mut self.client_id);
        blank_is_none(&mut self.display_name);
        if self
            .client_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().is_empty())
        {
            self.client_secret = None;
        }
        let set = [
            self.issuer.is_some(),
            self.client_id.is_some(),
            self.client_secret.is_some(),
            self.display_name.is_some(),
        ];
        if set.iter().all(|s| !s) {
            return Ok(());
        }
        if !set.iter().all(|s| *s) {
            bail!(
                "single sign-on needs all of BELONG__OIDC__ISSUER, BELONG__OIDC__CLIENT_ID, \
                 BELONG__OIDC__CLIENT_SECRET and BELONG__OIDC__DISPLAY_NAME (or none of them)"
            );
        }
        let issuer = self
            .issuer
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_string();
        if !issuer_is_acceptable(&issuer) {
            bail!(
                "BELONG__OIDC__ISSUER must be an https:// address (http:// only for a provider on \
                 this machine: 127.0.0.1, [::1] or localhost), without query or fragment"
            );
        }
        self.issuer = Some(issuer);
        if let Some(name) = &mut self.display_name {
            *name = name.trim().to_string();
            if name.chars().count() > 60 || name.chars().any(char::is_control) {
                bail!("BELONG__OIDC__DISPLAY_NAME must be at most 60 characters");
            }
        }
        Ok(())
    }
}

/// An issuer is https, or http on the loopback interface (a provider run for tests).
fn issuer_is_acceptable(issuer: &str) -> bool {
    let (secure, rest) = if let Some(rest) = issuer.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = issuer.strip_prefix("http://") {
        (false, rest)
    } else {
        return false;
    };
    if issuer.contains(['?', '#']) || issuer.chars().any(|c| c.is_whitespace()) {
        return false;
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return false;
    }
    secure
        || host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReportSettings {
    pub min_cell_size: u32,
    /// Current counts of `groups.csv` are rounded to the nearest multiple of this.
    pub round_to: u32,
    /// Downloads running at once in one instance; more are answered 429.
    pub max_concurrent_exports: usize,
    /// A download whose client reads nothing for this long is given up.
    pub export_stall_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Settings {
    /// Reads every layer for the environment named by `BELONG_ENV`.
    pub fn load() -> anyhow::Result<Self> {
        let environment = Environment::from_env()?;
        let dir = std::env::var_os("BELONG_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        let builder = config::Config::builder()
            .add_source(config::File::from_str(
                BUILT_IN_DEFAULTS,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from(dir.join("default.toml")).required(false))
            .add_source(
                config::File::from(dir.join(format!("{}.toml", environment.as_str())))
                    .required(false),
            )
            .add_source(
                config::Environment::with_prefix("BELONG")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("auth.allowed_email_domains")
                    .with_list_parse_key("server.cors_origins")
                    .with_list_parse_key("server.trusted_proxies")
                    .try_parsing(true),
            );
        let builder = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => builder.set_override("database.url", url)?,
            _ => builder,
        };
        let mut settings: Settings = builder
            .build()
            .context("reading the settings")?
            .try_deserialize()
            .context("reading the settings")?;
        settings.environment = environment;
        settings.validate()?;
        Ok(settings)
    }

    /// The settings must make sense before anything starts; the messages say what to set.
    pub fn validate(&mut self) -> anyhow::Result<()> {
        match &self.auth.jwt_secret {
            Some(secret) if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES => bail!(
                "BELONG__AUTH__JWT_SECRET is too short: it must be at least {MIN_JWT_SECRET_BYTES} bytes \
                 (for example the output of `openssl rand -base64 48`)"
            ),
            Some(_) => {}
            None if self.environment == Environment::Production => bail!(
                "BELONG__AUTH__JWT_SECRET is not set: in production set it to a random secret of at \
                 least {MIN_JWT_SECRET_BYTES} bytes (for example the output of `openssl rand -base64 48`)"
            ),
            None => {}
        }
        if self.environment == Environment::Production && self.database.url.is_none() {
            bail!(
                "DATABASE_URL is not set: in production belong never starts its private development \
                 cluster (nor loads demo accounts); set DATABASE_URL to your PostgreSQL server"
            );
        }
        if self.auth.access_token_ttl_secs == 0
            || self.auth.access_token_ttl_secs > MAX_ACCESS_TOKEN_TTL_SECS
        {
            bail!(
                "BELONG__AUTH__ACCESS_TOKEN_TTL_SECS must be between 1 and {MAX_ACCESS_TOKEN_TTL_SECS}"
            );
        }
        if self.auth.refresh_token_ttl_secs == 0 {
            bail!("BELONG__AUTH__REFRESH_TOKEN_TTL_SECS must be positive");
        }
        if self.auth.web_session_idle_secs == 0 || self.auth.web_session_max_secs == 0 {
            bail!(
                "BELONG__AUTH__WEB_SESSION_IDLE_SECS and BELONG__AUTH__WEB_SESSION_MAX_SECS must be positive"
            );
        }
        if self.auth.max_failed_logins == 0 {
            bail!("BELONG__AUTH__MAX_FAILED_LOGINS must be positive");
        }
        if self.server.header_read_timeout_secs == 0 {
            bail!("BELONG__SERVER__HEADER_READ_TIMEOUT_SECS must be positive");
        }
        if self.server.max_connections == 0 {
            bail!("BELONG__SERVER__MAX_CONNECTIONS must be positive");
        }
        if self.server.max_header_bytes < 8192 {
            bail!("BELONG__SERVER__MAX_HEADER_BYTES must be at least 8192");
        }
        if self.auth.max_failed_logins_per_client == 0
            || self.auth.max_registrations_per_client == 0
            || self.auth.max_pending_sso_logins_per_client == 0
        {
            bail!(
                "BELONG__AUTH__MAX_FAILED_LOGINS_PER_CLIENT, \
                 BELONG__AUTH__MAX_REGISTRATIONS_PER_CLIENT and \
                 BELONG__AUTH__MAX_PENDING_SSO_LOGINS_PER_CLIENT must be positive"
            );
        }
        let request_timeout_ms = self.server.request_timeout_secs.saturating_mul(1000);
        if self.auth.max_hash_wait_ms >= request_timeout_ms {
            bail!(
                "BELONG__AUTH__MAX_HASH_WAIT_MS must be below BELONG__SERVER__REQUEST_TIMEOUT_SECS \
                 ({request_timeout_ms} ms): a sign-in waiting that long for a hashing slot would \
                 time out before it could be told to try again"
            );
        }
        self.oidc.validate()?;
        if !self.auth.password_login && !self.oidc.enabled() {
            bail!(
                "BELONG__AUTH__PASSWORD_LOGIN=false needs single sign-on: set the BELONG__OIDC__* \
                 settings, or nobody could sign in"
            );
        }
        if self.database.max_connections == 0 {
            bail!("BELONG__DATABASE__MAX_CONNECTIONS must be positive");
        }
        self.server.public_url = self.server.public_url.trim_end_matches('/').to_string();
        if !(self.server.public_url.starts_with("http://")
            || self.server.public_url.starts_with("https://"))
        {
            bail!("BELONG__SERVER__PUBLIC_URL must start with http:// or https://");
        }
        self.server.cors_origins = self
            .server
            .cors_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect();
        for origin in &self.server.cors_origins {
            let scheme_ok = origin.starts_with("http://") || origin.starts_with("https://");
            let host = origin.split_once("://").map_or("", |(_, host)| host);
            if !scheme_ok || host.is_empty() || host.contains('/') || origin == "*" {
                bail!(
                    "BELONG__SERVER__CORS_ORIGINS: {origin:?} is not an origin; write each as \
                     scheme://host[:port], for example https://intranet.example.com"
                );
            }
        }
        if self
            .server
            .metrics_bind
            .is_some_and(|m| m == self.server.bind)
        {
            bail!(
                "BELONG__SERVER__METRICS_BIND must differ from BELONG__SERVER__BIND: metrics are \
                 never served on the public address"
            );
        }
        if self.reports.max_concurrent_exports == 0 || self.reports.export_stall_secs == 0 {
            bail!(
                "BELONG__REPORTS__MAX_CONCURRENT_EXPORTS and BELONG__REPORTS__EXPORT_STALL_SECS \
                 must be positive"
            );
        }
        if self.reports.min_cell_size == 0 {
            bail!("BELONG__REPORTS__MIN_CELL_SIZE must be positive");
        }
        if self.reports.round_to == 0 {
            bail!("BELONG__REPORTS__ROUND_TO must be positive (1 rounds nothing)");
        }
        self.auth.allowed_email_domains = self
            .auth
            .allowed_email_domains
            .iter()
            .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        Ok(())
    }

    /// Whether answers carry `Strict-Transport-Security`: people reach the service over https.
    pub fn https(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }

    /// Self-registration makes a password account: never while password sign-in is off.
    pub fn registration_open(&self) -> bool {
        self.auth.password_login
            && self
                .auth
                .allow_registration
                .unwrap_or(self.environment != Environment::Production)
    }

    /// Where the identity provider sends people back after they signed in.
    pub fn oidc_redirect_url(&self) -> String {
        format!("{}/auth/oidc/callback", self.server.public_url)
    }

    pub fn max_concurrent_hashes(&self) -> usize {
        match self.auth.max_concurrent_hashes {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            n => n,
        }
    }

    /// Settings for tests and tools: the built-in defaults, nothing from the environment.
    pub fn defaults_for(environment: Environment) -> anyhow::Result<Self> {
        let mut settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(
                BUILT_IN_DEFAULTS,
                config::FileFormat::Toml,
            ))
            .build()?
            .try_deserialize()?;
        settings.environment = environment;
        settings.validate()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::defaults_for(Environment::Development).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn production_refuses_to_start_without_a_database_url() {
        let mut s = settings();
        s.environment = Environment::Production;
        s.auth.jwt_secret = Some(SecretString::from("x".repeat(32)));
        let err = s
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn production_refuses_to_start_without_a_secret() {
        let mut s = settings();
        s.environment = Environment::Production;
        let err = s
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("BELONG__AUTH__JWT_SECRET"), "{err}");
    }

    #[test]
    fn a_short_secret_is_refused_everywhere() {
        let mut s = settings();
        s.auth.jwt_secret = Some(SecretString::from("too-short"));
        assert!(s.validate().is_err());
        s.auth.jwt_secret = Some(SecretString::from("x".repeat(32)));
        assert!(s.validate().is_ok());
    }

    #[test]
    fn registration_is_closed_in_production_unless_opened() {
        let mut s = settings();
        assert!(s.registration_open());
        s.environment = Environment::Production;
        assert!(!s.registration_open());
        s.auth.allow_registration = Some(true);
        assert!(s.registration_open());
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let mut s = settings();
        s.auth.jwt_secret = Some(SecretString::from("super-secret-signing-key-0123456789"));
        s.database.url = Some(SecretString::from("postgres://u:hunter2@db/belong"));
        let shown = format!("{s:?}");
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn cors_origins_must_be_origins_and_metrics_never_share_the_public_address() {
        let mut s = settings();
        s.server.cors_origins = vec!["https://intranet.example.com/".into()];
        assert!(s.validate().is_ok());
        assert_eq!(s.server.cors_origins, ["https://intranet.example.com"]);
        for bad in ["*", "intranet.example.com", "https://x.example.com/path"] {
            s.server.cors_origins = vec![bad.into()];
            assert!(s.validate().is_err(), "{bad}");
        }
        s.server.cors_origins = Vec::new();
        s.server.metrics_bind = Some(s.server.bind);
        assert!(s.validate().is_err());
    }

    fn with_sso(s: &mut Settings, issuer: &str) {
        s.oidc.issuer = Some(issuer.into());
        s.oidc.client_id = Some("belong".into());
        s.oidc.client_secret = Some(SecretString::from("client-secret-value"));
        s.oidc.display_name = Some("Contoso".into());
    }

    #[test]
    fn single_sign_on_is_all_or_nothing_over_https() {
        let mut s = settings();
        assert!(!s.oidc.enabled());
        with_sso(&mut s, "https://login.example.com/tenant/v2.0");
        assert!(s.validate().is_ok());
        assert!(s.oidc.enabled());
        s.oidc.display_name = Some(" ".into());
        let err = s
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("BELONG__OIDC__DISPLAY_NAME"), "{err}");
        with_sso(&mut s, "http://idp.example.com");
        assert!(s.validate().is_err());
        for loopback in [
            "http://127.0.0.1:8081",
            "http://localhost:9000/realms/x",
            "http://[::1]:80",
        ] {
            with_sso(&mut s, loopback);
            assert!(s.validate().is_ok(), "{loopback}");
        }
        for bad in [
            "ftp://idp.example.com",
            "https://",
            "https://idp.example.com?x=1",
            "idp",
        ] {
            with_sso(&mut s, bad);
            assert!(s.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn password_sign_in_can_be_turned_off_only_with_single_sign_on() {
        let mut s = settings();
        s.auth.password_login = false;
        let err = s
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("BELONG__AUTH__PASSWORD_LOGIN"), "{err}");
        with_sso(&mut s, "https://login.example.com");
        assert!(s.validate().is_ok());
        s.auth.allow_registration = Some(true);
        assert!(
            !s.registration_open(),
            "registration makes a password account"
        );
    }

    #[test]
    fn the_client_secret_is_never_shown() {
        let mut s = settings();
        with_sso(&mut s, "https://login.example.com");
        let shown = format!("{s:?}");
        assert!(!shown.contains("client-secret-value"), "{shown}");
    }

    #[test]
    fn a_sign_in_waits_for_a_hashing_slot_less_than_a_request_may_take() {
        let mut s = settings();
        assert_eq!(s.auth.max_hash_wait_ms, 3000);
        s.auth.max_hash_wait_ms = 0;
        assert!(s.validate().is_ok());
        s.auth.max_hash_wait_ms = s.server.request_timeout_secs * 1000;
        let err = s
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("BELONG__AUTH__MAX_HASH_WAIT_MS"), "{err}");
    }

    #[test]
    fn access_tokens_live_at_most_fifteen_minutes() {
        let mut s = settings();
        s.auth.access_token_ttl_secs = 3600;
        assert!(s.validate().is_err());
    }
}
