//! SCIM attribute paths and PATCH operations (RFC 7644 §3.5.2), in the dialects identity
//! providers send: Entra's capitalised `"op":"Replace"`, path-less value objects whose keys are
//! paths, booleans written as `"False"`; Okta's `{"op":"replace","value":{"active":false}}`.
//!
//! Operations apply to the account's [`Profile`]; the account rules are checked afterwards, by
//! `accounts::provisioning`. Attributes this service does not keep (phone numbers, titles, …)
//! are accepted and ignored, since identity providers send them by default.

use serde_json::Value;

use crate::accounts::provisioning::Profile;
use crate::scim::{ENTERPRISE_SCHEMA, PATCH_SCHEMA, ScimError, ScimResult, USER_SCHEMA, get_ci};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub op: Op,
    pub path: Option<String>,
    pub value: Value,
}

/// The operations of a PatchOp body.
pub fn parse(body: &Value) -> ScimResult<Vec<Operation>> {
    if let Some(schemas) = get_ci(body, "schemas") {
        let named = schemas
            .as_array()
            .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(PATCH_SCHEMA)));
        if !named {
            return Err(ScimError::bad(
                "invalidSyntax",
                format!("schemas must hold {PATCH_SCHEMA}"),
            ));
        }
    }
    let operations = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::bad("invalidSyntax", "Operations must be an array"))?;
    operations
        .iter()
        .enumerate()
        .map(|(i, operation)| {
            let op = match get_ci(operation, "op").and_then(Value::as_str) {
                Some(op) if op.eq_ignore_ascii_case("add") => Op::Add,
                Some(op) if op.eq_ignore_ascii_case("replace") => Op::Replace,
                Some(op) if op.eq_ignore_ascii_case("remove") => Op::Remove,
                _ => {
                    return Err(ScimError::bad(
                        "invalidSyntax",
                        format!("Operations[{i}].op must be add, replace or remove"),
                    ));
                }
            };
            let path = match get_ci(operation, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(path)) if !path.trim().is_empty() => {
                    Some(path.trim().to_string())
                }
                Some(_) => {
                    return Err(ScimError::bad(
                        "invalidPath",
                        format!("Operations[{i}].path must be an attribute path"),
                    ));
                }
            };
            let value = get_ci(operation, "value").cloned().unwrap_or(Value::Null);
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// Applies the operations in order.
pub fn apply(profile: &mut Profile, operations: &[Operation]) -> ScimResult<()> {
    for operation in operations {
        match (operation.op, &operation.path) {
            (Op::Remove, None) => {
                return Err(ScimError::bad("noTarget", "remove needs a path"));
            }
            (Op::Remove, Some(path)) => remove(profile, path)?,
            (_, Some(path)) => set(profile, path, &operation.value)?,
            (_, None) => {
                let object = operation.value.as_object().ok_or_else(|| {
                    ScimError::bad(
                        "invalidValue",
                        "an operation without a path needs an object as its value",
                    )
                })?;
                for (key, value) in object {
                    set(profile, key, value)?;
                }
            }
        }
    }
    Ok(())
}

/// A path split into its attribute, value filter and sub-attribute, the schema prefix gone.
#[derive(Debug, PartialEq)]
struct Target<'p> {
    attribute: String,
    filter: Option<&'p str>,
    sub: Option<String>,
    enterprise: bool,
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn target(path: &str) -> ScimResult<Target<'_>> {
    let invalid = || ScimError::bad("invalidPath", format!("cannot read the path {path:?}"));
    let (rest, enterprise) = if let Some(rest) = strip_prefix_ci(path, ENTERPRISE_SCHEMA) {
        (rest.strip_prefix(':').unwrap_or(rest), true)
    } else if let Some(rest) = strip_prefix_ci(path, USER_SCHEMA) {
        (rest.strip_prefix(':').ok_or_else(invalid)?, false)
    } else {
        (path, false)
    };
    let (attribute, filter, sub) = match rest.split_once('[') {
        Some((attribute, tail)) => {
            let (filter, after) = tail.split_once(']').ok_or_else(invalid)?;
            let sub = match after {
                "" => None,
                after => Some(after.strip_prefix('.').ok_or_else(invalid)?.to_string()),
            };
            (attribute.to_string(), Some(filter), sub)
        }
        None => match rest.split_once('.') {
            Some((attribute, sub)) => (attribute.to_string(), None, Some(sub.to_string())),
            None => (rest.to_string(), None, None),
        },
    };
    if (attribute.is_empty() && !enterprise) || sub.as_deref() == Some("") {
        return Err(invalid());
    }
    Ok(Target {
        attribute: attribute.to_ascii_lowercase(),
        filter,
        sub: sub.map(|s| s.to_ascii_lowercase()),
        enterprise,
    })
}

fn text(path: &str, value: &Value) -> ScimResult<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ScimError::bad(
            "invalidValue",
            format!("{path} must be a string"),
        )),
    }
}

fn boolean(path: &str, value: &Value) -> ScimResult<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::bad(
            "invalidValue",
            format!("{path} must be true or false"),
        )),
    }
}

/// The addresses of an `emails` array, the primary one first, then work ones.
fn emails_from(value: &Value) -> ScimResult<Vec<String>> {
    let invalid = || ScimError::bad("invalidValue", "emails must be an array of {\"value\": …}");
    let entries = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(entries) => entries.as_slice(),
        Value::Object(_) => std::slice::from_ref(value),
        _ => return Err(invalid()),
    };
    let mut ranked = Vec::new();
    for entry in entries {
        let address = get_ci(entry, "value")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        let primary =
            get_ci(entry, "primary").is_some_and(|p| boolean("primary", p).unwrap_or(false));
        let work = get_ci(entry, "type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("work"));
        let rank = if primary {
            0
        } else if work {
            1
        } else {
            2
        };
        ranked.push((rank, address.to_string()));
    }
    ranked.sort_by_key(|(rank, _)| *rank);
    Ok(ranked.into_iter().map(|(_, address)| address).collect())
}

/// The locality of the work address (or the first) of an `addresses` array.
fn locality_from(value: &Value) -> ScimResult<Option<String>> {
    let entries = match value {
        Value::Null => return Ok(None),
        Value::Array(entries) => entries.as_slice(),
        Value::Object(_) => std::slice::from_ref(value),
        _ => {
            return Err(ScimError::bad(
                "invalidValue",
                "addresses must be an array of objects",
            ));
        }
    };
    let work = entries.iter().find(|e| {
        get_ci(e, "type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("work"))
    });
    match work.or(entries.first()).and_then(|e| get_ci(e, "locality")) {
        Some(locality) => text("addresses.locality", locality),
        None => Ok(None),
    }
}

fn set_enterprise(profile: &mut Profile, sub: &str, value: &Value) -> ScimResult<()> {
    if sub.eq_ignore_ascii_case("department") {
        profile.department = text("department", value)?;
    }
    Ok(())
}

fn set_name(profile: &mut Profile, sub: &str, value: &Value) -> ScimResult<()> {
    match sub {
        "givenname" => profile.given_name = text("name.givenName", value)?,
        "familyname" => profile.family_name = text("name.familyName", value)?,
        _ => {}
    }
    Ok(())
}

/// Sets the attribute at `path` (add and replace; also each member of a whole resource).
pub fn set(profile: &mut Profile, path: &str, value: &Value) -> ScimResult<()> {
    let target = target(path)?;
    if target.enterprise {
        return match (target.attribute.as_str(), &target.sub) {
            ("", _) => match value {
                Value::Object(members) => {
                    for (key, member) in members {
                        set_enterprise(profile, key, member)?;
                    }
                    Ok(())
                }
                Value::Null => {
                    profile.department = None;
                    Ok(())
                }
                _ => Err(ScimError::bad(
                    "invalidValue",
                    format!("{ENTERPRISE_SCHEMA} must be an object"),
                )),
            },
            (attribute, None) => set_enterprise(profile, attribute, value),
            _ => Ok(()),
        };
    }
    match (target.attribute.as_str(), target.sub.as_deref()) {
        ("username", None) => {
            profile.user_name = text("userName", value)?.unwrap_or_default();
        }
        ("displayname", None) => profile.display_name = text("displayName", value)?,
        ("externalid", None) => profile.external_id = text("externalId", value)?,
        ("active", None) => profile.active = boolean("active", value)?,
        ("name", None) => match value {
            Value::Object(members) => {
                for (key, member) in members {
                    set_name(profile, &key.to_ascii_lowercase(), member)?;
                }
            }
            Value::Null => {
                profile.given_name = None;
                profile.family_name = None;
            }
            _ => return Err(ScimError::bad("invalidValue", "name must be an object")),
        },
        ("name", Some(sub)) => set_name(profile, sub, value)?,
        ("emails", None) => profile.emails = emails_from(value)?,
        ("emails", Some("value")) => {
            let address = text("emails.value", value)?;
            profile.emails = address.into_iter().collect();
        }
        ("addresses", None) => profile.location = locality_from(value)?,
        ("addresses", Some("locality")) => profile.location = text("addresses.locality", value)?,
        // `urn:…:enterprise:2.0:User:department` written as a key of a path-less value.
        (attribute, _) if attribute.starts_with("urn:") => {}
        _ => {}
    }
    Ok(())
}

/// Removes the attribute at `path`.
pub fn remove(profile: &mut Profile, path: &str) -> ScimResult<()> {
    let target = target(path)?;
    if target.enterprise {
        if target.attribute.is_empty() || target.attribute == "department" {
            profile.department = None;
        }
        return Ok(());
    }
    match (target.attribute.as_str(), target.sub.as_deref()) {
        ("username", _) => {
            return Err(ScimError::bad("mutability", "userName cannot be removed"));
        }
        ("active", _) => {
            return Err(ScimError::bad("mutability", "active cannot be removed"));
        }
        ("displayname", None) => profile.display_name = None,
        ("externalid", None) => profile.external_id = None,
        ("name", None) => {
            profile.given_name = None;
            profile.family_name = None;
        }
        ("name", Some(sub)) => set_name(profile, sub, &Value::Null)?,
        ("emails", _) => profile.emails.clear(),
        ("addresses", None | Some("locality")) => profile.location = None,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ada() -> Profile {
        Profile {
            user_name: "ada@example.com".into(),
            emails: vec!["ada@example.com".into()],
            display_name: Some("Ada".into()),
            active: true,
            ..Profile::default()
        }
    }

    fn patched(body: Value) -> ScimResult<Profile> {
        let mut profile = ada();
        apply(&mut profile, &parse(&body)?)?;
        Ok(profile)
    }

    #[test]
    fn entra_capitalised_ops_and_string_booleans() {
        let profile = patched(json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "ada@corp.example"},
                {"op": "Replace", "path": "name.givenName", "value": "Ada"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Research"},
                {"op": "Replace", "path": "addresses[type eq \"work\"].locality", "value": "London"},
                {"op": "Add", "path": "title", "value": "Countess"}
            ]
        }))
        .unwrap();
        assert!(!profile.active);
        assert_eq!(profile.emails, vec!["ada@corp.example".to_string()]);
        assert_eq!(profile.given_name.as_deref(), Some("Ada"));
        assert_eq!(profile.department.as_deref(), Some("Research"));
        assert_eq!(profile.location.as_deref(), Some("London"));
    }

    #[test]
    fn pathless_value_objects_of_okta_and_entra() {
        let profile = patched(json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "value": {"active": false}}]
        }))
        .unwrap();
        assert!(!profile.active);
        let profile = patched(json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "Replace", "value": {
                "displayName": "Ada L.",
                "name.familyName": "Lovelace",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Maths",
                "active": "True"
            }}]
        }))
        .unwrap();
        assert_eq!(profile.display_name.as_deref(), Some("Ada L."));
        assert_eq!(profile.family_name.as_deref(), Some("Lovelace"));
        assert_eq!(profile.department.as_deref(), Some("Maths"));
        assert!(profile.active);
    }

    #[test]
    fn removals_and_refusals() {
        let profile = patched(json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "remove", "path": "displayName"}]
        }))
        .unwrap();
        assert_eq!(profile.display_name, None);
        for (body, scim_type) in [
            (
                json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "remove"}]}),
                "noTarget",
            ),
            (
                json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "move", "path": "x"}]}),
                "invalidSyntax",
            ),
            (json!({"schemas": [PATCH_SCHEMA]}), "invalidSyntax"),
            (
                json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": "maybe"}]}),
                "invalidValue",
            ),
            (
                json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "emails[type eq \"work\".value", "value": "x"}]}),
                "invalidPath",
            ),
            (
                json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "remove", "path": "userName"}]}),
                "mutability",
            ),
        ] {
            let error = patched(body.clone()).unwrap_err();
            assert_eq!(error.scim_type, Some(scim_type), "{body}");
        }
    }
}
