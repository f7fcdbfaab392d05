//! Single sign-on pages: the start (a redirect to the identity provider, with a cookie that
//! ties the attempt to this browser) and the provider's redirect back, which signs the person
//! in exactly as password sign-in does, or says in plain words why not. Without the `oidc`
//! settings both addresses are pages that do not exist.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;

use crate::accounts::identities::Refusal;
use crate::auth::client::ClientAddr;
use crate::auth::oidc::{ATTEMPT_SECS, Callback, SingleSignOn, SsoError};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::pages::auth::signed_in;
use crate::web::session;
use crate::web::{PageError, PageResult, problem_page, see_other};

/// The cookie holding the attempt's `state` (over https: `__Host-belong_oidc`).
const STATE_COOKIE: &str = "belong_oidc";

fn configured(state: &AppState) -> Result<&SingleSignOn, PageError> {
    state.sso.as_ref().ok_or(PageError::App(AppError::NotFound))
}

/// `GET /auth/oidc/login`: 303 to the provider.
pub async fn login(State(state): State<AppState>, ClientAddr(client): ClientAddr) -> PageResult {
    let sso = configured(&state)?;
    match sso.start(&state.pool, &state.settings.auth, client).await {
        Ok(started) => {
            let mut response = see_other(&started.url);
            response.headers_mut().insert(
                header::SET_COOKIE,
                session::cookie(
                    &state.settings,
                    STATE_COOKIE,
                    secrecy::ExposeSecret::expose_secret(&started.state),
                    Some(ATTEMPT_SECS as u64),
                ),
            );
            Ok(response)
        }
        Err(error) => failure(sso, error),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// `GET /auth/oidc/callback`: the provider's redirect. A session and 303 to `/`, or a page
/// saying what went wrong and no session.
pub async fn callback(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> PageResult {
    let sso = configured(&state)?;
    let cookie_state = session::read_cookie(&headers, &state.settings, STATE_COOKIE);
    let finished = sso
        .finish(
            &state.pool,
            &state.settings,
            client,
            Callback {
                cookie_state: cookie_state.as_deref(),
                state: query.state.as_deref(),
                code: query.code.as_deref(),
                error: query.error.as_deref(),
                iss: query.iss.as_deref(),
            },
        )
        .await;
    let mut response = match finished {
        Ok(user_id) => signed_in(&state, user_id, None).await?,
        Err(error) => failure(sso, error)?,
    };
    // The browser's attempt is over once its state came back; a callback with another state
    // (someone else's link) leaves it running.
    if cookie_state.is_some() && cookie_state == query.state {
        response.headers_mut().append(
            header::SET_COOKIE,
            session::cookie(&state.settings, STATE_COOKIE, "", Some(0)),
        );
    }
    Ok(response)
}

/// What a failed sign-in tells the person.
fn failure(sso: &SingleSignOn, error: SsoError) -> PageResult {
    let provider = sso.display_name();
    let (status, heading, message) = match error {
        SsoError::App(AppError::TooManyRequests { retry_after_secs }) => {
            let minutes = retry_after_secs.div_ceil(60).max(1);
            let mut page = problem_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-ins",
                format!(
                    "Too many sign-ins with {provider} have been started from your network and \
                     not finished. Wait {minutes} minute{} and try again.",
                    if minutes == 1 { "" } else { "s" }
                ),
            );
            page.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return Ok(page);
        }
        SsoError::App(error) => return Err(PageError::App(error)),
        SsoError::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable",
            format!("We could not reach {provider} to sign you in. Try again in a few minutes."),
        ),
        SsoError::UnknownAttempt => (
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "This sign-in was not started in this browser, was already used, or took longer \
             than 10 minutes. Start again from the sign-in page."
                .to_string(),
        ),
        SsoError::Denied => (
            StatusCode::FORBIDDEN,
            "You were not signed in",
            format!(
                "{provider} did not sign you in. If you cancelled, start again from the sign-in \
                 page. Otherwise ask your IT help desk whether you may use this service."
            ),
        ),
        SsoError::Rejected => (
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            format!(
                "The answer from {provider} could not be verified, so you were not signed in. \
                 Start again from the sign-in page. If this happens again, tell your administrator."
            ),
        ),
        SsoError::Refused(Refusal::Deactivated) => (
            StatusCode::FORBIDDEN,
            "Your account is deactivated",
            "Your account here has been deactivated, so you cannot sign in. If you think this \
             is a mistake, contact your administrator."
                .to_string(),
        ),
        SsoError::Refused(Refusal::NoAccount) => (
            StatusCode::FORBIDDEN,
            "You do not have an account yet",
            format!(
                "There is no account here with the email address {provider} gave us. Ask an \
                 administrator to create one for you."
            ),
        ),
        SsoError::Refused(Refusal::NoVerifiedEmail) => (
            StatusCode::FORBIDDEN,
            "Your email address could not be confirmed",
            format!(
                "{provider} did not confirm your email address, so we cannot tell which account \
                 is yours. Ask your administrator for help."
            ),
        ),
        SsoError::Refused(Refusal::DomainNotAllowed) => (
            StatusCode::FORBIDDEN,
            "Your email address cannot have an account here",
            "Accounts here are only for email addresses of the organisation's own domains."
                .to_string(),
        ),
        SsoError::Refused(Refusal::LinkedToAnother) => (
            StatusCode::FORBIDDEN,
            "This account belongs to someone else",
            format!(
                "The account with your email address is already linked to a different {provider} \
                 identity. Ask your administrator for help."
            ),
        ),
    };
    Ok(problem_page(status, heading, message))
}
