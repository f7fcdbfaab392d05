//! Forms: the urlencoded body of a POST, with its CSRF token checked against the session in
//! constant time before the handler sees it, and the errors a form is shown again with.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use sqlx::PgPool;
use std::sync::Arc;

use crate::auth::principals::Principals;
use crate::config::Settings;
use crate::error::{AppError, FieldError};
use crate::web::PageError;
use crate::web::session::Signed;

/// A signed-in person's form post whose CSRF token matched their session.
pub struct Post<T> {
    pub signed: Signed,
    pub form: T,
}

/// A form post of someone not signed in (sign-in, registration): the cross-origin check of
/// every POST guards it, and there is no session to hold a token yet.
pub struct PublicForm<T>(pub T);

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PageError> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|_| PageError::App(AppError::bad_request("the form could not be read")))
}

async fn body(req: Request) -> Result<axum::body::Bytes, PageError> {
    axum::body::Bytes::from_request(req, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                PageError::App(AppError::PayloadTooLarge)
            } else {
                PageError::App(AppError::bad_request("the form could not be read"))
            }
        })
}

#[derive(serde::Deserialize)]
struct Token {
    #[serde(default)]
    csrf: String,
}

impl<T, S> FromRequest<S> for Post<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    PgPool: FromRef<S>,
    Arc<Settings>: FromRef<S>,
    Principals: FromRef<S>,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body_stream) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let bytes = body(Request::from_parts(parts, body_stream)).await?;
        let token: Token = parse(&bytes)?;
        if !signed.session.csrf_matches(&token.csrf) {
            tracing::warn!("a form post without its session's CSRF token was refused");
            return Err(PageError::Csrf);
        }
        Ok(Post {
            signed,
            form: parse(&bytes)?,
        })
    }
}

impl<T, S> FromRequest<S> for PublicForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(PublicForm(parse(&body(req).await?)?))
    }
}

/// One field of a form, as `_fields.html` draws it: a text input of some `kind`, a
/// `textarea`, or `radios` with their options.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub value: String,
    pub options: Vec<Choice>,
}

/// One radio of a `radios` field.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

impl Field {
    pub fn new(
        name: &'static str,
        label: &'static str,
        kind: &'static str,
        value: impl Into<String>,
    ) -> Self {
        Self {
            name,
            label,
            hint: "",
            kind,
            autocomplete: "",
            value: value.into(),
            options: Vec::new(),
        }
    }

    pub fn hint(mut self, hint: &'static str) -> Self {
        self.hint = hint;
        self
    }

    pub fn autocomplete(mut self, autocomplete: &'static str) -> Self {
        self.autocomplete = autocomplete;
        self
    }

    /// The radios of the field; the one equal to its value is checked.
    pub fn options(mut self, options: &[(&'static str, &'static str)]) -> Self {
        self.options = options
            .iter()
            .map(|(value, label)| Choice {
                value,
                label,
                checked: self.value == *value,
            })
            .collect();
        self
    }
}

/// What is wrong with a form, field by field, in the words shown beside each field.
#[derive(Debug, Default, Clone)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn none() -> Self {
        Self(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message for a field, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// A domain's validation errors in the form's words; any other error is passed on.
    pub fn from_app(error: AppError) -> Result<Self, PageError> {
        match error {
            AppError::Validation(errors) => Ok(Self(
                errors
                    .into_iter()
                    .map(|e| {
                        let message = message_for(&e.field, &e.message);
                        FieldError::new(e.field, message)
                    })
                    .collect(),
            )),
            other => Err(PageError::App(other)),
        }
    }
}

/// A field's name as a form labels it.
pub fn label_for(field: &str) -> String {
    let label = match field {
        "email" => "Email address",
        "password" => "Password",
        "display_name" => "Name",
        "type" => "Member or ally",
        "visibility" => "Who can see you",
        "starts_at" => "Start",
        "ends_at" => "End",
        "online_url" => "Online link",
        "consent_version" => "Privacy notice",
        "text" => "Text of the notice",
        other => {
            return super::sentence(&other.replace('_', " "))
                .trim_end_matches('.')
                .to_string();
        }
    };
    label.to_string()
}

/// A domain message ("is required") as a sentence naming its field ("Email address is
/// required."); messages that are already sentences are kept.
pub fn message_for(field: &str, message: &str) -> String {
    if message.chars().next().is_some_and(char::is_uppercase) {
        super::sentence(message)
    } else {
        super::sentence(&format!("{} {message}", label_for(field)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_their_field() {
        assert_eq!(
            message_for("email", "is required"),
            "Email address is required."
        );
        assert_eq!(message_for("title", "is too long"), "Title is too long.");
        assert_eq!(
            message_for("ends_at", "Enter an end time after the start time"),
            "Enter an end time after the start time."
        );
    }
}
