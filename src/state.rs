//! The state every front door shares, and the pieces extractors take from it with `FromRef`.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::accounts::password::Hasher;
use crate::auth::oidc::SingleSignOn;
use crate::auth::principals::Principals;
use crate::auth::token::AccessTokens;
use crate::config::Settings;
use crate::events::calendar::FeedKey;
use crate::metrics::Metrics;
use crate::reports::export::Exports;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub tokens: AccessTokens,
    pub principals: Principals,
    pub feeds: FeedKey,
    pub hasher: Hasher,
    pub metrics: Metrics,
    pub exports: Exports,
    /// Single sign-on, when configured.
    pub sso: Option<SingleSignOn>,
}

impl AppState {
    pub fn new(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let metrics = Metrics::default();
        Ok(Self {
            tokens: AccessTokens::new(&settings.auth),
            principals: Principals::new(
                std::time::Duration::from_secs(settings.auth.principal_cache_ttl_secs),
                metrics.clone(),
            ),
            feeds: FeedKey::new(settings.auth.jwt_secret.as_ref()),
            hasher: Hasher::new(
                settings.max_concurrent_hashes(),
                Some(settings.auth.max_hash_wait()),
            )?,
            metrics,
            exports: Exports::new(
                settings.reports.max_concurrent_exports,
                std::time::Duration::from_secs(settings.reports.export_stall_secs),
            ),
            sso: SingleSignOn::new(&settings)?,
            settings: Arc::new(settings),
            pool,
        })
    }
}
