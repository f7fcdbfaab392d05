//! `/scim/v2/Users`: the User resource in and out, and its handlers.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::accounts::provisioning::{self, Filter, Profile, Provisioned};
use crate::lifecycle;
use crate::scim::patch;
use crate::scim::{
    Body, Client, ENTERPRISE_SCHEMA, LIST_SCHEMA, Scim, ScimError, ScimResult, USER_SCHEMA,
    base_url,
};
use crate::state::AppState;

/// How many accounts a page holds when the client does not say.
const DEFAULT_COUNT: i64 = 100;

fn parse_id(raw: &str) -> ScimResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ScimError::not_found())
}

fn instant(at: time::OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// The SCIM representation of an account.
pub fn resource(base: &str, user: &Provisioned) -> Value {
    let mut out = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "id": user.id,
        "userName": user.user_name,
        "displayName": user.display_name,
        "emails": [{ "value": user.email, "type": "work" }],
        "active": user.active,
        "meta": {
            "resourceType": "User",
            "created": instant(user.created_at),
            "lastModified": instant(user.updated_at),
            "location": format!("{base}/Users/{}", user.id),
        },
    });
    if let Some(external_id) = &user.external_id {
        out["externalId"] = json!(external_id);
    }
    let mut name = serde_json::Map::new();
    if let Some(given) = &user.given_name {
        name.insert("givenName".into(), json!(given));
    }
    if let Some(family) = &user.family_name {
        name.insert("familyName".into(), json!(family));
    }
    if !name.is_empty() {
        out["name"] = Value::Object(name);
    }
    if let Some(location) = &user.location {
        out["addresses"] = json!([{ "type": "work", "locality": location }]);
    }
    if let Some(department) = &user.department {
        out[ENTERPRISE_SCHEMA] = json!({ "department": department });
    }
    out
}

fn reply(state: &AppState, status: StatusCode, user: &Provisioned) -> Response {
    let base = base_url(state);
    let mut response = Scim(status, resource(&base, user)).into_response();
    if status == StatusCode::CREATED
        && let Ok(location) = format!("{base}/Users/{}", user.id).parse()
    {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    response
}

/// A whole User resource (POST, PUT) as a profile.
pub fn profile_from(body: &Value) -> ScimResult<Profile> {
    let mut profile = Profile {
        active: true,
        ..Profile::default()
    };
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
    for (key, value) in object {
        if key.eq_ignore_ascii_case("schemas")
            || key.eq_ignore_ascii_case("id")
            || key.eq_ignore_ascii_case("meta")
        {
            continue;
        }
        patch::set(&mut profile, key, value)?;
    }
    if profile.user_name.trim().is_empty() {
        return Err(ScimError::bad("invalidValue", "userName is required"));
    }
    Ok(profile)
}

pub async fn create(
    State(state): State<AppState>,
    Client(client): Client,
    Body(body): Body,
) -> ScimResult<Response> {
    let profile = profile_from(&body)?;
    let user = provisioning::create(&state.pool, &client, &profile).await?;
    Ok(reply(&state, StatusCode::CREATED, &user))
}

pub async fn read(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ScimResult<Scim<Value>> {
    let id = parse_id(&id)?;
    let params = ListParams::parse(query.as_deref())?;
    let user = provisioning::find(&state.pool, &client, id)
        .await?
        .ok_or_else(ScimError::not_found)?;
    Ok(Scim(
        StatusCode::OK,
        params.project(resource(&base_url(&state), &user)),
    ))
}

pub async fn replace(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
    Body(body): Body,
) -> ScimResult<Response> {
    let id = parse_id(&id)?;
    let profile = profile_from(&body)?;
    let user = lifecycle::provision_update(&state.pool, &client, id, |_| Ok(profile)).await?;
    Ok(reply(&state, StatusCode::OK, &user))
}

pub async fn patch(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
    Body(body): Body,
) -> ScimResult<Response> {
    let id = parse_id(&id)?;
    let operations = patch::parse(&body)?;
    let mut failure = None;
    let result = lifecycle::provision_update(&state.pool, &client, id, |mut profile| {
        match patch::apply(&mut profile, &operations) {
            Ok(()) => Ok(profile),
            Err(error) => {
                failure = Some(error);
                // Any error rolls the transaction back; the SCIM error is answered below.
                Err(crate::error::AppError::bad_request("patch"))
            }
        }
    })
    .await;
    if let Some(error) = failure {
        return Err(error);
    }
    Ok(reply(&state, StatusCode::OK, &result?))
}

pub async fn delete(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
) -> ScimResult<StatusCode> {
    let id = parse_id(&id)?;
    lifecycle::deprovision(&state.pool, &client, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `filter=userName eq "…"` or `filter=externalId eq "…"`; anything else is refused.
pub fn parse_filter(raw: &str) -> ScimResult<Filter> {
    let invalid = || {
        ScimError::bad(
            "invalidFilter",
            "supported filters: userName eq \"…\" and externalId eq \"…\"",
        )
    };
    let raw = raw.trim();
    let (attribute, rest) = raw.split_once(char::is_whitespace).ok_or_else(invalid)?;
    let (operator, literal) = rest
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(invalid)?;
    if !operator.eq_ignore_ascii_case("eq") {
        return Err(invalid());
    }
    let value: String = serde_json::from_str(literal.trim()).map_err(|_| invalid())?;
    if attribute.eq_ignore_ascii_case("userName")
        || attribute.eq_ignore_ascii_case(&format!("{USER_SCHEMA}:userName"))
    {
        Ok(Filter::UserName(value))
    } else if attribute.eq_ignore_ascii_case("externalId") {
        Ok(Filter::ExternalId(value))
    } else {
        Err(invalid())
    }
}

fn integer(name: &str, raw: &str) -> ScimResult<i64> {
    raw.trim()
        .parse()
        .map_err(|_| ScimError::bad("invalidValue", format!("{name} must be an integer")))
}

/// The query parameters of a read or a list (RFC 7644 §3.4.2, §3.9).
#[derive(Debug, Default)]
pub struct ListParams {
    filter: Option<Filter>,
    start_index: i64,
    count: i64,
    /// `attributes`: only these (and `id`, `schemas`) are returned.
    attributes: Vec<String>,
    /// `excludedAttributes`: these are left out.
    excluded: Vec<String>,
}

fn names(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

impl ListParams {
    pub fn parse(query: Option<&str>) -> ScimResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|_| ScimError::bad("invalidSyntax", "the query string is malformed"))?;
        let mut params = ListParams {
            start_index: 1,
            count: DEFAULT_COUNT,
            ..ListParams::default()
        };
        for (key, value) in &pairs {
            if key.eq_ignore_ascii_case("filter") {
                params.filter = Some(parse_filter(value)?);
            } else if key.eq_ignore_ascii_case("startIndex") {
                params.start_index = integer("startIndex", value)?;
            } else if key.eq_ignore_ascii_case("count") {
                params.count = integer("count", value)?;
            } else if key.eq_ignore_ascii_case("attributes") {
                params.attributes = names(value);
            } else if key.eq_ignore_ascii_case("excludedAttributes") {
                params.excluded = names(value);
            }
        }
        Ok(params)
    }

    /// Keeps or drops the top-level attributes named (a sub-attribute's path names its
    /// attribute; the extension's attributes are named by their full path).
    pub fn project(&self, mut resource: Value) -> Value {
        if self.attributes.is_empty() && self.excluded.is_empty() {
            return resource;
        }
        let top = |path: &str| -> String {
            let path = path
                .strip_prefix(&format!("{}:", USER_SCHEMA.to_ascii_lowercase()))
                .unwrap_or(path);
            if path.starts_with(&ENTERPRISE_SCHEMA.to_ascii_lowercase()) {
                ENTERPRISE_SCHEMA.to_ascii_lowercase()
            } else {
                path.split(['.', '[']).next().unwrap_or(path).to_string()
            }
        };
        let wanted: Vec<String> = self.attributes.iter().map(|a| top(a)).collect();
        let unwanted: Vec<&String> = self.excluded.iter().collect();
        if let Some(object) = resource.as_object_mut() {
            object.retain(|key, _| {
                let key = key.to_ascii_lowercase();
                if matches!(key.as_str(), "id" | "schemas") {
                    return true;
                }
                if !wanted.is_empty() && !wanted.contains(&key) {
                    return false;
                }
                !unwanted.iter().any(|u| **u == key)
            });
        }
        resource
    }
}

pub async fn list(
    State(state): State<AppState>,
    Client(client): Client,
    RawQuery(query): RawQuery,
) -> ScimResult<Scim<Value>> {
    let params = ListParams::parse(query.as_deref())?;
    let page = provisioning::list(
        &state.pool,
        &client,
        params.filter.as_ref(),
        params.start_index,
        params.count,
    )
    .await?;
    let base = base_url(&state);
    let resources: Vec<Value> = page
        .items
        .iter()
        .map(|u| params.project(resource(&base, u)))
        .collect();
    Ok(Scim(
        StatusCode::OK,
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": page.total,
            "startIndex": page.start_index,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_filters_parse_and_others_are_refused() {
        assert_eq!(
            parse_filter(r#"userName eq "Ada@Example.com""#).unwrap(),
            Filter::UserName("Ada@Example.com".into())
        );
        assert_eq!(
            parse_filter(r#"externalId EQ "a \"b\"""#).unwrap(),
            Filter::ExternalId("a \"b\"".into())
        );
        for bad in [
            "",
            "userName",
            r#"userName co "a""#,
            r#"displayName eq "a""#,
            "userName eq ada",
        ] {
            let error = parse_filter(bad).unwrap_err();
            assert_eq!(error.scim_type, Some("invalidFilter"), "{bad}");
        }
    }
}
