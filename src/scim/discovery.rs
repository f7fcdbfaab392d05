//! The discovery documents: `ServiceProviderConfig`, `ResourceTypes` and `Schemas`
//! (RFC 7644 §4, RFC 7643 §5–7). They describe exactly what this service keeps and does.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::accounts::provisioning::MAX_PAGE;
use crate::scim::{
    ENTERPRISE_SCHEMA, LIST_SCHEMA, Scim, ScimError, ScimResult, USER_SCHEMA, base_url,
};
use crate::state::AppState;

fn attribute(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    })
}

fn user_schema(base: &str) -> Value {
    let mut user_name = attribute(
        "userName",
        "string",
        "The name the identity provider knows the person by; unique. When it is an email \
         address and emails is absent, it is the account's email.",
    );
    user_name["required"] = json!(true);
    user_name["uniqueness"] = json!("server");
    let mut display_name = attribute(
        "displayName",
        "string",
        "The name shown to colleagues (1 to 100 characters). When absent, the given and \
         family names make it, or else the email.",
    );
    display_name["required"] = json!(true);
    let mut name = attribute("name", "complex", "The parts of the person's name.");
    name["subAttributes"] = json!([
        attribute("givenName", "string", "Given name, at most 100 characters."),
        attribute(
            "familyName",
            "string",
            "Family name, at most 100 characters."
        ),
    ]);
    let mut emails = attribute(
        "emails",
        "complex",
        "The account's email address: the primary one, else the work one, else the first.",
    );
    emails["multiValued"] = json!(true);
    emails["required"] = json!(true);
    let mut kind = attribute("type", "string", "Always work.");
    kind["canonicalValues"] = json!(["work"]);
    let mut value = attribute("value", "string", "An email address.");
    value["required"] = json!(true);
    emails["subAttributes"] = json!([value, kind]);
    let mut active = attribute(
        "active",
        "boolean",
        "false deactivates the person as an admin would (memberships end, RSVPs are \
         cancelled); true reactivates the account, without restoring memberships.",
    );
    // Every account is active or not: the attribute cannot be removed.
    active["required"] = json!(true);
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "An employee's account.",
        "attributes": [user_name, name, display_name, emails, active],
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{USER_SCHEMA}"),
        },
    })
}

fn enterprise_schema(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": ENTERPRISE_SCHEMA,
        "name": "EnterpriseUser",
        "description": "The HR system's facts about an employee, used by HR's reports.",
        "attributes": [attribute("department", "string", "The department, at most 100 characters.")],
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{ENTERPRISE_SCHEMA}"),
        },
    })
}

fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "An employee's account.",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{ "schema": ENTERPRISE_SCHEMA, "required": false }],
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base}/ResourceTypes/User"),
        },
    })
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

pub async fn service_provider_config(State(state): State<AppState>) -> Scim<Value> {
    let base = base_url(&state);
    Scim(
        StatusCode::OK,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": MAX_PAGE },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": false },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A token made with `belong scim-token create --name N`, sent as \
                                Authorization: Bearer …",
                "primary": true,
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base}/ServiceProviderConfig"),
            },
        }),
    )
}

pub async fn resource_types(State(state): State<AppState>) -> Scim<Value> {
    Scim(
        StatusCode::OK,
        list(vec![user_resource_type(&base_url(&state))]),
    )
}

pub async fn resource_type(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ScimResult<Scim<Value>> {
    if id != "User" {
        return Err(ScimError::not_found());
    }
    Ok(Scim(StatusCode::OK, user_resource_type(&base_url(&state))))
}

pub async fn schemas(State(state): State<AppState>) -> Scim<Value> {
    let base = base_url(&state);
    Scim(
        StatusCode::OK,
        list(vec![user_schema(&base), enterprise_schema(&base)]),
    )
}

pub async fn schema(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ScimResult<Scim<Value>> {
    let base = base_url(&state);
    match id.as_str() {
        USER_SCHEMA => Ok(Scim(StatusCode::OK, user_schema(&base))),
        ENTERPRISE_SCHEMA => Ok(Scim(StatusCode::OK, enterprise_schema(&base))),
        _ => Err(ScimError::not_found()),
    }
}
