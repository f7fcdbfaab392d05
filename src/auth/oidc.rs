//! Single sign-on with OpenID Connect: the authorization code flow with PKCE, `state` and
//! `nonce`, done by the `openidconnect` crate (nothing of the protocol is written here).
//!
//! [`SingleSignOn::start`] finds the provider by discovery from `oidc.issuer` (once, then
//! kept; while it fails, tried again by a sign-in at least 5 seconds after the last try),
//! keeps the nonce and PKCE verifier of the attempt under the SHA-256 of its `state`, and
//! answers the provider's address to send the browser to, and the state for the browser's
//! cookie; each start is counted for its client address first (`auth::throttle`), so that the
//! attempts waiting from one address are bounded. [`SingleSignOn::finish`] takes the attempt back (once, within ten minutes, only with
//! the browser's cookie matching `state`), exchanges the code, has the library verify the ID
//! token (issuer, audience, signature from the provider's keys, expiry, nonce; on an unknown
//! key the provider's keys are fetched again, once, for key rotation), checks `at_hash`, and
//! answers the account `accounts::identities` signs in. An attempt taken back gives its client
//! address its start back, however the sign-in ends.
//!
//! The HTTP client never follows redirects (a provider's answer cannot send this server to
//! another address) and, for an https issuer, speaks https only.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdTokenVerifier, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope, SignatureVerificationError, StandardErrorResponse,
    StandardTokenResponse, TokenResponse, UserInfoClaims, UserInfoError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::accounts::identities::{self, ProviderIdentity, Refusal, SignIn};
use crate::auth::throttle::{self, ClientAction};
use crate::auth::web_session::constant_time_eq;
use crate::config::{AuthSettings, Settings};
use crate::error::AppError;

/// How long a sign-in may stay at the provider before its callback is refused.
pub const ATTEMPT_SECS: i64 = 600;

/// Claims beyond the standard ones that a provider may send: Entra ID's `xms_edov` ("email
/// domain owner verified"), its way of saying what `email_verified` says elsewhere.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExtraClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    xms_edov: Option<serde_json::Value>,
}

impl AdditionalClaims for ExtraClaims {}

impl ExtraClaims {
    /// Whether the provider vouches for the email's domain (`true`, `"true"` or `1`).
    fn email_domain_verified(&self) -> bool {
        match &self.xms_edov {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "true" || s == "1",
            Some(serde_json::Value::Number(n)) => n.as_u64() == Some(1),
            _ => false,
        }
    }
}

type IdTokenFields = openidconnect::IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type IdToken = openidconnect::IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type IdTokenClaims = openidconnect::IdTokenClaims<ExtraClaims, CoreGenderClaim>;

/// A client made from the provider's discovery document: its authorization endpoint is known;
/// the token and user info endpoints are checked when used.
type Client = openidconnect::Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<IdTokenFields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The signature algorithms accepted for ID tokens: the asymmetric ones.
const ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Why a sign-in through the provider did not sign anyone in.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// Discovery, the token exchange or the user info request could not reach the provider.
    #[error("the identity provider cannot be reached")]
    Unavailable,
    /// No sign-in of this browser is waiting with this `state`: missing or different cookie,
    /// unknown, already used, or older than ten minutes.
    #[error("no sign-in of this browser is waiting with this state")]
    UnknownAttempt,
    /// The provider answered with an error (the person cancelled, or was not allowed).
    #[error("the identity provider did not sign the person in")]
    Denied,
    /// The provider refused the code, or its answer did not verify.
    #[error("the identity provider's answer was refused")]
    Rejected,
    /// The identity verified, and no account may be signed in with it.
    #[error("the identity signs no one in: {0:?}")]
    Refused(Refusal),
    #[error(transparent)]
    App(#[from] AppError),
}

/// The provider's redirect back to us, as the browser brought it.
#[derive(Debug, Default)]
pub struct Callback<'a> {
    /// The state kept in the browser's cookie when the sign-in started.
    pub cookie_state: Option<&'a str>,
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    /// The provider's `error` (such as `access_denied`), instead of a code.
    pub error: Option<&'a str>,
    /// The issuer the provider names (RFC 9207), when it does.
    pub iss: Option<&'a str>,
}

/// A sign-in under way: where to send the browser, and the state for its cookie.
pub struct Started {
    pub url: String,
    pub state: SecretString,
}

/// The configured provider; cheap to clone.
#[derive(Clone)]
pub struct SingleSignOn {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    display_name: String,
    http: reqwest::Client,
    discovered: Mutex<Discovered>,
}

/// What discovery found last, and when it last failed.
#[derive(Default)]
struct Discovered {
    /// The client made from the last discovery; `None` until one succeeds.
    client: Option<Arc<Client>>,
    /// While the provider is away, sign-ins within this long of a failed discovery are told so
    /// at once instead of queueing for another try each.
    failed_at: Option<Instant>,
}

/// How long after a failed discovery the next one is tried.
const RETRY_DISCOVERY_AFTER: Duration = Duration::from_secs(5);

/// An error with its causes, for the log (the library's errors name the step; their sources
/// say what went wrong).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn digest(state: &str) -> Vec<u8> {
    Sha256::digest(state.as_bytes()).to_vec()
}

impl SingleSignOn {
    /// The provider of the settings, or `None` when single sign-on is not configured.
    pub fn new(settings: &Settings) -> anyhow::Result<Option<Self>> {
        let oidc = &settings.oidc;
        let (Some(issuer), Some(client_id), Some(secret), Some(display_name)) = (
            &oidc.issuer,
            &oidc.client_id,
            &oidc.client_secret,
            &oidc.display_name,
        ) else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            // Following redirects would let a provider's answer point this server elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(issuer.starts_with("https://"))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("belong/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Some(Self {
            inner: Arc::new(Inner {
                issuer: IssuerUrl::new(issuer.clone())?,
                client_id: ClientId::new(client_id.clone()),
                client_secret: ClientSecret::new(secret.expose_secret().to_string()),
                redirect: RedirectUrl::new(settings.oidc_redirect_url())?,
                display_name: display_name.clone(),
                http,
                discovered: Mutex::new(Discovered::default()),
            }),
        }))
    }

    /// How the pages name the provider: "Sign in with <display name>".
    pub fn display_name(&self) -> &str {
        &self.inner.display_name
    }

    /// Finds the provider now (at startup), so that a wrong issuer shows in the log at once.
    pub async fn discover(&self) -> Result<(), SsoError> {
        self.client(None).await.map(|_| ())
    }

    /// The client of the last discovery; a new discovery when there is none yet, or when the
    /// one in hand is `stale` (its keys did not verify a token) and no one replaced it since.
    /// One discovery at a time; within [`RETRY_DISCOVERY_AFTER`] of a failed one, none.
    async fn client(&self, stale: Option<&Arc<Client>>) -> Result<Arc<Client>, SsoError> {
        let mut discovered = self.inner.discovered.lock().await;
        if let Some(current) = discovered.client.as_ref() {
            if stale.is_none_or(|stale| !Arc::ptr_eq(stale, current)) {
                return Ok(current.clone());
            }
        }
        if discovered
            .failed_at
            .is_some_and(|at| at.elapsed() < RETRY_DISCOVERY_AFTER)
        {
            return Err(SsoError::Unavailable);
        }
        let metadata =
            match CoreProviderMetadata::discover_async(self.inner.issuer.clone(), &self.inner.http)
                .await
            {
                Ok(metadata) => metadata,
                Err(error) => {
                    tracing::warn!(error = %causes(&error), issuer = %self.inner.issuer.as_str(),
                        "the identity provider's discovery document or keys could not be read");
                    discovered.failed_at = Some(Instant::now());
                    return Err(SsoError::Unavailable);
                }
            };
        let client = Arc::new(
            Client::from_provider_metadata(
                metadata,
                self.inner.client_id.clone(),
                Some(self.inner.client_secret.clone()),
            )
            .set_redirect_uri(self.inner.redirect.clone()),
        );
        *discovered = Discovered {
            client: Some(client.clone()),
            failed_at: None,
        };
        Ok(client)
    }

    /// Starts a sign-in: the provider's authorization address (with PKCE, state and nonce)
    /// and the state the browser keeps in its cookie. Attempts past their time are pruned.
    /// Past `auth.max_pending_sso_logins_per_client` attempts from `from` that have not come
    /// back within their ten minutes, 429 (nothing is written).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn start(
        &self,
        pool: &PgPool,
        settings: &AuthSettings,
        from: IpAddr,
    ) -> Result<Started, SsoError> {
        let client = self.client(None).await?;
        throttle::reserve_client(pool, from, ClientAction::SingleSignOn, settings).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        sqlx::query!(
            "DELETE FROM oidc_logins WHERE created_at <= now() - make_interval(secs => $1)",
            ATTEMPT_SECS as f64
        )
        .execute(pool)
        .await
        .map_err(AppError::from)?;
        sqlx::query!(
            "INSERT INTO oidc_logins (state_hash, nonce, pkce_verifier) VALUES ($1, $2, $3)",
            digest(state.secret()),
            nonce.secret(),
            verifier.secret()
        )
        .execute(pool)
        .await
        .map_err(AppError::from)?;
        Ok(Started {
            url: url.to_string(),
            state: SecretString::from(state.secret().clone()),
        })
    }

    /// Finishes a sign-in from the provider's redirect (brought from `from`): the account it
    /// signs in.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn finish(
        &self,
        pool: &PgPool,
        settings: &Settings,
        from: IpAddr,
        callback: Callback<'_>,
    ) -> Result<Uuid, SsoError> {
        let (Some(state), Some(cookie)) = (callback.state, callback.cookie_state) else {
            return Err(SsoError::UnknownAttempt);
        };
        // The state must be the one this browser was given: a code cannot be planted in
        // someone else's browser.
        if !constant_time_eq(state.as_bytes(), cookie.as_bytes()) {
            return Err(SsoError::UnknownAttempt);
        }
        // Taken once: a second use of the same state finds nothing.
        let attempt = sqlx::query!(
            r#"DELETE FROM oidc_logins WHERE state_hash = $1
               RETURNING nonce, pkce_verifier,
                         created_at > now() - make_interval(secs => $2) AS "fresh!""#,
            digest(state),
            ATTEMPT_SECS as f64
        )
        .fetch_optional(pool)
        .await
        .map_err(AppError::from)?
        .filter(|a| a.fresh)
        .ok_or(SsoError::UnknownAttempt)?;
        // The attempt waits no more: its start no longer counts, however this ends.
        throttle::refund_client(pool, from, ClientAction::SingleSignOn).await?;
        if let Some(error) = callback.error {
            let error: String = error
                .chars()
                .take(64)
                .filter(char::is_ascii_graphic)
                .collect();
            tracing::info!(%error, "the identity provider answered with an error");
            return Err(SsoError::Denied);
        }
        if callback
            .iss
            .is_some_and(|iss| iss != self.inner.issuer.as_str())
        {
            tracing::warn!("the callback names another issuer than the configured one");
            return Err(SsoError::Rejected);
        }
        let code = callback
            .code
            .filter(|c| !c.is_empty())
            .ok_or(SsoError::Rejected)?;
        let identity = self
            .verify(code, attempt.pkce_verifier, Nonce::new(attempt.nonce))
            .await?;
        match identities::sign_in(pool, settings, &identity).await? {
            SignIn::User(id) => Ok(id),
            SignIn::Refused(refusal) => {
                tracing::info!(?refusal, "a verified identity was refused");
                Err(SsoError::Refused(refusal))
            }
        }
    }

    /// Exchanges the code and verifies what comes back: who the provider says signed in.
    async fn verify(
        &self,
        code: &str,
        verifier: String,
        nonce: Nonce,
    ) -> Result<ProviderIdentity, SsoError> {
        let mut client = self.client(None).await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|error| {
                tracing::warn!(error = %causes(&error), "the provider names no token endpoint");
                SsoError::Unavailable
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.inner.http)
            .await
            .map_err(|error| match error {
                RequestTokenError::Request(error) => {
                    tracing::warn!(error = %causes(&error), "the token endpoint could not be reached");
                    SsoError::Unavailable
                }
                other => {
                    tracing::warn!(error = %causes(&other), "the token endpoint refused the code");
                    SsoError::Rejected
                }
            })?;
        let id_token = response.id_token().ok_or_else(|| {
            tracing::warn!("the token endpoint answered no ID token");
            SsoError::Rejected
        })?;
        let claims = match self.claims(&client, id_token, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The provider may have rotated its keys: fetch them again, once.
                client = self.client(Some(&client)).await?;
                self.claims(&client, id_token, &nonce)
            }
            other => other,
        }
        .map_err(|error| {
            tracing::warn!(error = %causes(&error), "the ID token did not verify");
            SsoError::Rejected
        })?;
        // The access token must be the one the ID token was issued with (`at_hash`).
        if let Some(expected) = claims.access_token_hash() {
            let verifier = self.verifier(&client);
            let actual = id_token
                .signing_alg()
                .ok()
                .zip(id_token.signing_key(&verifier).ok())
                .and_then(|(alg, key)| {
                    AccessTokenHash::from_token(response.access_token(), alg, key).ok()
                });
            if actual.as_ref() != Some(expected) {
                tracing::warn!("the ID token's at_hash does not match the access token");
                return Err(SsoError::Rejected);
            }
        }
        let mut identity = ProviderIdentity {
            issuer: self.inner.issuer.as_str().to_string(),
            subject: claims.subject().as_str().to_string(),
            email: claims.email().map(|e| e.as_str().to_string()),
            email_verified: claims.email_verified() == Some(true)
                || claims.additional_claims().email_domain_verified(),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string()),
        };
        // Providers that keep the profile out of the ID token answer it at user info, for the
        // same subject.
        if identity.email.is_none() {
            if let Ok(request) = client.user_info(
                response.access_token().clone(),
                Some(claims.subject().clone()),
            ) {
                let info: UserInfoClaims<ExtraClaims, CoreGenderClaim> = request
                    .request_async(&self.inner.http)
                    .await
                    .map_err(|error| {
                        tracing::warn!(error = %causes(&error), "user info could not be read");
                        match error {
                            UserInfoError::Request(_) => SsoError::Unavailable,
                            _ => SsoError::Rejected,
                        }
                    })?;
                identity.email = info.email().map(|e| e.as_str().to_string());
                identity.email_verified = info.email_verified() == Some(true)
                    || info.additional_claims().email_domain_verified();
                if identity.name.is_none() {
                    identity.name = info
                        .name()
                        .and_then(|n| n.get(None))
                        .map(|n| n.as_str().to_string());
                }
            }
        }
        Ok(identity)
    }

    fn verifier<'a>(&self, client: &'a Client) -> IdTokenVerifier<'a, CoreJsonWebKey> {
        client.id_token_verifier().set_allowed_algs(ALGORITHMS)
    }

    fn claims(
        &self,
        client: &Client,
        id_token: &IdToken,
        nonce: &Nonce,
    ) -> Result<IdTokenClaims, ClaimsVerificationError> {
        id_token.claims(&self.verifier(client), nonce).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_says_an_email_is_verified_with_xms_edov() {
        let claims = |json: &str| serde_json::from_str::<ExtraClaims>(json).unwrap();
        assert!(claims(r#"{"xms_edov": true}"#).email_domain_verified());
        assert!(claims(r#"{"xms_edov": "1"}"#).email_domain_verified());
        assert!(claims(r#"{"xms_edov": 1}"#).email_domain_verified());
        assert!(!claims(r#"{"xms_edov": false}"#).email_domain_verified());
        assert!(!claims(r#"{"xms_edov": "0"}"#).email_domain_verified());
        assert!(!claims("{}").email_domain_verified());
    }
}
