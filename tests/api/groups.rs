//! The directory of groups: who may use which route, the privacy rules of rosters and counts,
//! bad inputs, search and pagination, and the lead's roster CSV.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, error_fields, spawn_app};

/// The group every access and privacy test looks at (join policy `approval`).
const SLUG: &str = "pride";
/// Another group, led by `other_lead`.
const OTHER: &str = "veterans";

/// Everyone whose view of `pride` the tests compare.
struct Cast {
    admin: TestUser,
    hr: TestUser,
    lead: TestUser,
    other_lead: TestUser,
    outsider: TestUser,
    public_member: TestUser,
    members_member: TestUser,
    private_member: TestUser,
    ally: TestUser,
    pending: TestUser,
}

impl Cast {
    /// Every signed-in viewer, with a label for the assertion messages.
    fn viewers(&self) -> Vec<(&'static str, &TestUser)> {
        vec![
            ("employee without membership", &self.outsider),
            ("active member (public)", &self.public_member),
            ("active member (members)", &self.members_member),
            ("active member (private)", &self.private_member),
            ("ally", &self.ally),
            ("pending member", &self.pending),
            ("lead of this group", &self.lead),
            ("lead of another group", &self.other_lead),
            ("hr", &self.hr),
            ("admin", &self.admin),
        ]
    }

    fn is_manager(&self, user: &TestUser) -> bool {
        user.id == self.lead.id || user.id == self.admin.id
    }

    /// Who holds a membership of `pride`, with the type and visibility they chose.
    fn members(&self) -> Vec<(&TestUser, &'static str, &'static str)> {
        vec![
            (&self.lead, "member", "public"),
            (&self.public_member, "member", "public"),
            (&self.members_member, "member", "members"),
            (&self.private_member, "member", "private"),
            (&self.ally, "ally", "members"),
            (&self.pending, "member", "public"),
        ]
    }
}

/// `pride` (approval) with a public lead, active members of each visibility, an ally and a
/// pending request (public, which still shows it to nobody but leads and admins);
/// `veterans` (open) led by `other_lead`.
async fn cast(app: &TestApp) -> Cast {
    let admin = app.admin().await;
    let hr = app.hr().await;
    app.create_group(&admin, SLUG, "Pride Network", "approval")
        .await;
    app.create_group(&admin, OTHER, "Veterans Network", "open")
        .await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, SLUG).await;
    let other_lead = app.user("Otto Otherlead").await;
    app.make_lead(&admin, &other_lead, OTHER).await;
    let outsider = app.user("Olga Outsider").await;
    let public_member = app.user("Paul Public").await;
    let members_member = app.user("Mia Members").await;
    let private_member = app.user("Pia Private").await;
    let ally = app.user("Al Ally").await;
    let pending = app.user("Pat Pending").await;
    for (user, kind, visibility) in [
        (&public_member, "member", "public"),
        (&members_member, "member", "members"),
        (&private_member, "member", "private"),
        (&ally, "ally", "members"),
    ] {
        let m = app.join(user, SLUG, kind, Some(visibility)).await;
        assert_eq!(m["status"], "pending", "{m}");
        let m = app
            .change_member(&lead, SLUG, user, json!({"status": "active"}))
            .await;
        assert_eq!(m["status"], "active", "{m}");
    }
    let m = app.join(&pending, SLUG, "member", Some("public")).await;
    assert_eq!(m["status"], "pending", "{m}");
    Cast {
        admin,
        hr,
        lead,
        other_lead,
        outsider,
        public_member,
        members_member,
        private_member,
        ally,
        pending,
    }
}

fn ids(users: &[&TestUser]) -> BTreeSet<Uuid> {
    users.iter().map(|u| u.id).collect()
}

#[tokio::test]
async fn anonymous_callers_get_401_on_every_route() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let member = c.public_member.id;
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/groups".into(), None),
        ("GET", "/api/v1/groups?q=pride".into(), None),
        (
            "POST",
            "/api/v1/groups".into(),
            Some(json!({"slug": "new-group", "name": "N", "tagline": "T", "mission": "M"})),
        ),
        ("GET", format!("/api/v1/groups/{SLUG}"), None),
        ("GET", "/api/v1/groups/no-such-group".into(), None),
        (
            "PATCH",
            format!("/api/v1/groups/{SLUG}"),
            Some(json!({"name": "X"})),
        ),
        (
            "POST",
            format!("/api/v1/groups/{SLUG}/archive"),
            Some(json!({})),
        ),
        (
            "PUT",
            format!("/api/v1/groups/{SLUG}/membership"),
            Some(json!({"type": "member"})),
        ),
        ("DELETE", format!("/api/v1/groups/{SLUG}/membership"), None),
        ("GET", format!("/api/v1/groups/{SLUG}/members"), None),
        ("GET", format!("/api/v1/groups/{SLUG}/members.csv"), None),
        (
            "PATCH",
            format!("/api/v1/groups/{SLUG}/members/{member}"),
            Some(json!({"role": "lead"})),
        ),
        (
            "DELETE",
            format!("/api/v1/groups/{SLUG}/members/{member}"),
            None,
        ),
    ];
    for (method, path, body) in &routes {
        for token in [None, Some("not-a-token")] {
            let (status, problem) = app
                .request(method.parse().unwrap(), path, token, body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {problem}"
            );
        }
    }
    // Nothing changed.
    assert_eq!(app.membership_rows(SLUG).await.len(), 6);
    let (_, group) = app
        .get(&format!("/api/v1/groups/{SLUG}"), Some(&c.admin.token))
        .await;
    assert_eq!(group["name"], "Pride Network");
    assert_eq!(group["archived"], false);
}

#[tokio::test]
async fn every_signed_in_role_may_browse_and_only_leads_and_admins_manage() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    for (who, user) in c.viewers() {
        let token = Some(user.token.as_str());
        let manager = c.is_manager(user);

        let (status, body) = app.get("/api/v1/groups", token).await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        let (status, body) = app.get(&format!("/api/v1/groups/{SLUG}"), token).await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        let (status, body) = app
            .get(&format!("/api/v1/groups/{SLUG}/members"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");

        // The roster CSV: the group's leads and admins.
        let (status, body) = app
            .get(&format!("/api/v1/groups/{SLUG}/members.csv"), token)
            .await;
        let expected = if manager {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, expected, "members.csv as {who}: {body}");

        // Editing the group's page: the group's leads and admins.
        let tagline = format!("Edited by {who}");
        let (status, body) = app
            .patch(
                &format!("/api/v1/groups/{SLUG}"),
                token,
                json!({ "tagline": tagline }),
            )
            .await;
        if manager {
            assert_eq!(status, StatusCode::OK, "{who}: {body}");
            assert_eq!(body["tagline"], tagline.as_str());
        } else {
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "PATCH group as {who}: {body}"
            );
        }

        // Creating a group: admins only.
        let slug = format!("made-by-{}", &user.id.simple().to_string()[..8]);
        let (status, body) = app
            .post(
                "/api/v1/groups",
                token,
                json!({"slug": slug, "name": "New group", "tagline": "T", "mission": "M"}),
            )
            .await;
        if user.id == c.admin.id {
            assert_eq!(status, StatusCode::CREATED, "{body}");
            assert_eq!(body["slug"], slug.as_str());
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "POST group as {who}: {body}");
        }

        // Archiving: admins only (the admin's turn comes at the end).
        if user.id != c.admin.id {
            let (status, body) = app
                .post(&format!("/api/v1/groups/{SLUG}/archive"), token, json!({}))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "archive as {who}: {body}");
        }

        // Joining: every employee. Those who hold a membership get it back unchanged (200);
        // the others ask to join (201, pending in this approval group) and leave again (204).
        let held = c.members().into_iter().find(|(u, _, _)| u.id == user.id);
        match held {
            Some((_, kind, visibility)) => {
                let (status, body) = app
                    .put(
                        &format!("/api/v1/groups/{SLUG}/membership"),
                        token,
                        json!({"type": kind, "visibility": visibility}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{who}: {body}");
                assert_eq!(body["type"], kind);
                assert_eq!(body["visibility"], visibility);
            }
            None => {
                let (status, body) = app
                    .put(
                        &format!("/api/v1/groups/{SLUG}/membership"),
                        token,
                        json!({"type": "ally"}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{who}: {body}");
                assert_eq!(body["status"], "pending");
                let (status, body) = app
                    .delete(&format!("/api/v1/groups/{SLUG}/membership"), token)
                    .await;
                assert_eq!(status, StatusCode::NO_CONTENT, "{who}: {body}");
            }
        }

        // Approving, promoting and removing: the group's leads and admins. For anyone else the
        // 403 is the same whether or not the target is a member (no existence oracle).
        let targets = [
            c.private_member.id.to_string(),
            c.pending.id.to_string(),
            c.outsider.id.to_string(),
            Uuid::new_v4().to_string(),
            "not-a-uuid".to_string(),
        ];
        if manager {
            let path = format!("/api/v1/groups/{SLUG}/members/{}", c.public_member.id);
            let (status, body) = app.patch(&path, token, json!({"role": "member"})).await;
            assert_eq!(status, StatusCode::OK, "{who}: {body}");
            assert_eq!(body["role"], "member");
            // A request made just now, declined by this manager.
            let applicant = app.user("Applicant").await;
            app.join(&applicant, SLUG, "member", None).await;
            let path = format!("/api/v1/groups/{SLUG}/members/{}", applicant.id);
            let (status, body) = app.delete(&path, token).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{who}: {body}");
        } else {
            let mut answers = Vec::new();
            for target in &targets {
                let path = format!("/api/v1/groups/{SLUG}/members/{target}");
                for change in [json!({"status": "active"}), json!({"role": "lead"})] {
                    answers.push(app.patch(&path, token, change).await);
                }
                answers.push(app.delete(&path, token).await);
            }
            let first = &answers[0];
            assert_eq!(first.0, StatusCode::FORBIDDEN, "{who}: {}", first.1);
            for answer in &answers {
                assert_eq!(
                    answer, first,
                    "{who}: the 403 must not depend on the target"
                );
            }
        }
    }
    // Nobody but the managers changed anybody: the roster is as it was.
    let rows: BTreeSet<Uuid> = app.membership_rows(SLUG).await.into_iter().collect();
    let expected: Vec<&TestUser> = c.members().into_iter().map(|(u, _, _)| u).collect();
    assert_eq!(rows, ids(&expected));
    let (_, pending) = app
        .get(&format!("/api/v1/groups/{SLUG}"), Some(&c.pending.token))
        .await;
    assert_eq!(pending["my_membership"]["status"], "pending");
    let (_, lead) = app
        .get(&format!("/api/v1/groups/{SLUG}"), Some(&c.lead.token))
        .await;
    assert_eq!(lead["my_membership"]["role"], "lead");
    assert_eq!(lead["leads"].as_array().unwrap().len(), 1);

    // Leaving: every employee, members or not.
    for (who, user) in c.viewers() {
        let (status, body) = app
            .delete(
                &format!("/api/v1/groups/{SLUG}/membership"),
                Some(&user.token),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{who}: {body}");
    }
    assert!(app.membership_rows(SLUG).await.is_empty());

    // And the admin archives.
    let (status, body) = app
        .post(
            &format!("/api/v1/groups/{SLUG}/archive"),
            Some(&c.admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["archived"], true);
    assert!(
        app.audit_actions()
            .await
            .contains(&"group.archived".to_string())
    );
}

/// What one viewer must see of `pride`.
struct View<'a> {
    who: &'static str,
    viewer: &'a TestUser,
    entries: Vec<&'a TestUser>,
    member_count: i64,
    ally_count: i64,
    contact: bool,
}

#[tokio::test]
async fn rosters_and_counts_follow_the_privacy_rules_exactly() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    // Visible to every employee: the active public entries (the lead and Paul).
    let public = vec![&c.lead, &c.public_member];
    // Visible to active members whose own membership is `public` or `members`: those and the
    // active `members` entries.
    let to_members = vec![&c.lead, &c.public_member, &c.members_member, &c.ally];
    let everything: Vec<&TestUser> = c.members().into_iter().map(|(u, _, _)| u).collect();
    let views = vec![
        View {
            who: "employee without membership",
            viewer: &c.outsider,
            entries: public.clone(),
            member_count: 2,
            ally_count: 0,
            contact: false,
        },
        View {
            who: "hr",
            viewer: &c.hr,
            entries: public.clone(),
            member_count: 2,
            ally_count: 0,
            contact: false,
        },
        View {
            who: "lead of another group",
            viewer: &c.other_lead,
            entries: public.clone(),
            member_count: 2,
            ally_count: 0,
            contact: false,
        },
        View {
            who: "pending member (sees their own request)",
            viewer: &c.pending,
            entries: vec![&c.lead, &c.public_member, &c.pending],
            member_count: 2,
            ally_count: 0,
            contact: false,
        },
        View {
            who: "active member (public)",
            viewer: &c.public_member,
            entries: to_members.clone(),
            member_count: 3,
            ally_count: 1,
            contact: false,
        },
        View {
            who: "active member (members)",
            viewer: &c.members_member,
            entries: to_members.clone(),
            member_count: 3,
            ally_count: 1,
            contact: false,
        },
        View {
            // Reciprocity: hidden from the members, Pia does not see their `members` entries.
            who: "active member (private: public entries and their own)",
            viewer: &c.private_member,
            entries: vec![&c.lead, &c.public_member, &c.private_member],
            member_count: 3,
            ally_count: 0,
            contact: false,
        },
        View {
            // `members` entries are for members: an ally sees public entries and their own.
            who: "ally",
            viewer: &c.ally,
            entries: vec![&c.lead, &c.public_member, &c.ally],
            member_count: 2,
            ally_count: 1,
            contact: false,
        },
        View {
            who: "lead of this group",
            viewer: &c.lead,
            entries: everything.clone(),
            member_count: 4,
            ally_count: 1,
            contact: true,
        },
        View {
            who: "admin",
            viewer: &c.admin,
            entries: everything.clone(),
            member_count: 4,
            ally_count: 1,
            contact: true,
        },
    ];
    assert_eq!(views.len(), c.viewers().len());
    let chosen: Vec<(Uuid, &str, &str)> = c
        .members()
        .into_iter()
        .map(|(u, kind, visibility)| (u.id, kind, visibility))
        .collect();

    for view in &views {
        let who = view.who;
        let token = Some(view.viewer.token.as_str());
        // The roster.
        let (status, roster) = app
            .get(&format!("/api/v1/groups/{SLUG}/members"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{who}: {roster}");
        assert_eq!(roster["next_cursor"], Value::Null);
        let entries = roster["items"].as_array().unwrap();
        let seen: Vec<Uuid> = entries
            .iter()
            .map(|e| e["user_id"].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(seen.len(), view.entries.len(), "{who}: {roster}");
        assert_eq!(
            seen.iter().copied().collect::<BTreeSet<_>>(),
            ids(&view.entries),
            "{who}: {roster}"
        );
        for entry in entries {
            let id: Uuid = entry["user_id"].as_str().unwrap().parse().unwrap();
            let (_, kind, visibility) = chosen.iter().find(|(u, _, _)| *u == id).unwrap();
            assert_eq!(entry["type"], *kind, "{who}: {entry}");
            for key in ["display_name", "role", "status", "joined_at"] {
                assert!(entry[key].is_string(), "{who}: {key} missing in {entry}");
            }
            let expected_status = if id == c.pending.id {
                "pending"
            } else {
                "active"
            };
            assert_eq!(entry["status"], expected_status, "{who}: {entry}");
            let expected_role = if id == c.lead.id { "lead" } else { "member" };
            assert_eq!(entry["role"], expected_role, "{who}: {entry}");
            if view.contact {
                assert!(
                    entry["email"].as_str().unwrap().ends_with("@example.com"),
                    "{who}: {entry}"
                );
                assert_eq!(entry["department"], "Engineering", "{who}: {entry}");
                assert_eq!(entry["location"], "Lisbon", "{who}: {entry}");
                assert_eq!(entry["visibility"], *visibility, "{who}: {entry}");
            } else {
                for key in ["email", "department", "location", "visibility"] {
                    assert!(
                        entry.get(key).is_none(),
                        "{who} must not see {key}: {entry}"
                    );
                }
            }
        }

        // The counts, in the detail and in the list, count only what this viewer may see.
        let (status, detail) = app.get(&format!("/api/v1/groups/{SLUG}"), token).await;
        assert_eq!(status, StatusCode::OK, "{who}: {detail}");
        assert_eq!(detail["member_count"], view.member_count, "{who}: {detail}");
        assert_eq!(detail["ally_count"], view.ally_count, "{who}: {detail}");
        assert_eq!(
            detail["leads"],
            json!([{"id": c.lead.id, "display_name": "Lena Lead"}]),
            "{who}"
        );
        let (status, list) = app.get("/api/v1/groups", token).await;
        assert_eq!(status, StatusCode::OK, "{who}: {list}");
        let item = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["slug"] == SLUG)
            .unwrap_or_else(|| panic!("{who}: {list}"));
        assert_eq!(item["member_count"], view.member_count, "{who}: {item}");
        assert_eq!(item["ally_count"], view.ally_count, "{who}: {item}");

        // The viewer's own membership, in both.
        let mine = chosen.iter().find(|(u, _, _)| *u == view.viewer.id);
        match mine {
            None => {
                assert_eq!(detail["my_membership"], Value::Null, "{who}");
                assert_eq!(item["my_membership"], Value::Null, "{who}");
            }
            Some((_, kind, visibility)) => {
                for m in [&detail["my_membership"], &item["my_membership"]] {
                    assert_eq!(m["type"], *kind, "{who}: {m}");
                    assert_eq!(m["visibility"], *visibility, "{who}: {m}");
                    let status = if view.viewer.id == c.pending.id {
                        "pending"
                    } else {
                        "active"
                    };
                    assert_eq!(m["status"], status, "{who}: {m}");
                }
            }
        }
    }

    // The lead's roster CSV lists what the lead sees (every entry, pending included).
    let (status, csv) = app
        .get(
            &format!("/api/v1/groups/{SLUG}/members.csv"),
            Some(&c.lead.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let csv = csv.as_str().unwrap();
    assert_eq!(csv.lines().count(), 1 + everything.len(), "{csv}");
    for user in &everything {
        assert!(csv.contains(&user.id.to_string()), "{csv}");
    }
    assert!(!csv.contains(&c.outsider.id.to_string()));
    // Contact details leaving the service are recorded: who, which group, how many rows.
    // (Written when the download's body is dropped, so it is waited for.)
    let audits = app.wait_for_audits("report.members_csv", 1).await;
    let (actor, target, details) = audits[0].clone();
    assert_eq!((actor, target.as_deref()), (Some(c.lead.id), Some(SLUG)));
    assert_eq!(details["rows"], everything.len());
}

#[tokio::test]
async fn the_privacy_rules_follow_changes_at_once() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let token = c.outsider.token.as_str();
    // Paul makes his membership private: the outsider no longer sees it, nor counts it.
    let m = app
        .join(&c.public_member, SLUG, "member", Some("private"))
        .await;
    assert_eq!(m["visibility"], "private");
    assert_eq!(app.roster_ids(SLUG, token).await, vec![c.lead.id]);
    let (_, detail) = app
        .get(&format!("/api/v1/groups/{SLUG}"), Some(token))
        .await;
    assert_eq!(detail["member_count"], 1);
    // Mia goes public as an ally: the outsider sees her, counted as an ally.
    app.join(&c.members_member, SLUG, "ally", Some("public"))
        .await;
    let seen: BTreeSet<Uuid> = app.roster_ids(SLUG, token).await.into_iter().collect();
    assert_eq!(seen, ids(&[&c.lead, &c.members_member]));
    let (_, detail) = app
        .get(&format!("/api/v1/groups/{SLUG}"), Some(token))
        .await;
    assert_eq!(
        (
            detail["member_count"].as_i64(),
            detail["ally_count"].as_i64()
        ),
        (Some(1), Some(1))
    );
    // The pending request is approved: now a member, the former pending sees `members` entries.
    app.change_member(&c.lead, SLUG, &c.pending, json!({"status": "active"}))
        .await;
    let seen: BTreeSet<Uuid> = app
        .roster_ids(SLUG, &c.pending.token)
        .await
        .into_iter()
        .collect();
    assert_eq!(
        seen,
        ids(&[&c.lead, &c.members_member, &c.ally, &c.pending])
    );
    // A demoted lead loses the full view at once.
    let co_lead = &c.members_member;
    app.change_member(&c.lead, SLUG, co_lead, json!({"role": "lead"}))
        .await;
    assert_eq!(app.roster_ids(SLUG, &co_lead.token).await.len(), 6);
    app.change_member(&c.lead, SLUG, co_lead, json!({"role": "member"}))
        .await;
    let seen: BTreeSet<Uuid> = app
        .roster_ids(SLUG, &co_lead.token)
        .await
        .into_iter()
        .collect();
    // Demoted, Mia is an ally again, and an ally sees public entries only (and her own).
    assert_eq!(seen, ids(&[&c.lead, &c.members_member, &c.pending]));
    let (_, roster) = app
        .get(
            &format!("/api/v1/groups/{SLUG}/members"),
            Some(&co_lead.token),
        )
        .await;
    assert!(roster["items"][0].get("email").is_none());
}

#[tokio::test]
async fn bad_inputs_to_the_group_routes() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let admin = Some(c.admin.token.as_str());
    let lead = Some(c.lead.token.as_str());
    let member = c.public_member.id;

    // Unknown and malformed slugs: 404 on every route, for admins too.
    for slug in ["no-such-group", "Bad_Slug", "x", "PRIDE", "pride%20x"] {
        let routes: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("/api/v1/groups/{slug}"), None),
            (
                "PATCH",
                format!("/api/v1/groups/{slug}"),
                Some(json!({"name": "X"})),
            ),
            (
                "POST",
                format!("/api/v1/groups/{slug}/archive"),
                Some(json!({})),
            ),
            (
                "PUT",
                format!("/api/v1/groups/{slug}/membership"),
                Some(json!({"type": "member"})),
            ),
            ("DELETE", format!("/api/v1/groups/{slug}/membership"), None),
            ("GET", format!("/api/v1/groups/{slug}/members"), None),
            ("GET", format!("/api/v1/groups/{slug}/members.csv"), None),
            (
                "PATCH",
                format!("/api/v1/groups/{slug}/members/{member}"),
                Some(json!({"role": "lead"})),
            ),
            (
                "DELETE",
                format!("/api/v1/groups/{slug}/members/{member}"),
                None,
            ),
        ];
        for (method, path, body) in &routes {
            for token in [admin, Some(c.outsider.token.as_str())] {
                let (status, problem) = app
                    .request(method.parse().unwrap(), path, token, body.clone())
                    .await;
                let forbidden_first = *method == "POST" && token != admin;
                let expected = if forbidden_first {
                    // Archiving is for admins: a non-admin learns nothing about the slug.
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::NOT_FOUND
                };
                assert_eq!(status, expected, "{method} {path}: {problem}");
            }
        }
    }

    // Creating: a bad slug, a taken slug, missing or bad fields.
    let good = json!({"slug": "new-group", "name": "New", "tagline": "T", "mission": "M"});
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = [
        (
            with("slug", json!("Bad_Slug")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "slug",
        ),
        (
            with("slug", json!("a")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "slug",
        ),
        (
            with("slug", json!("a".repeat(65))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "slug",
        ),
        (without("slug"), StatusCode::UNPROCESSABLE_ENTITY, "slug"),
        (without("name"), StatusCode::UNPROCESSABLE_ENTITY, "name"),
        (
            with("name", json!("   ")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            with("name", json!("x".repeat(101))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            without("tagline"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "tagline",
        ),
        (
            without("mission"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "mission",
        ),
        (
            with("join_policy", json!("invite")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "join_policy",
        ),
        (with("name", json!(5)), StatusCode::BAD_REQUEST, "name"),
        (with("slug", json!(["a"])), StatusCode::BAD_REQUEST, "slug"),
        (
            with("join_policy", json!(true)),
            StatusCode::BAD_REQUEST,
            "join_policy",
        ),
    ];
    for (body, expected, field) in cases {
        let (status, problem) = app.post("/api/v1/groups", admin, body.clone()).await;
        assert_eq!(status, expected, "{body} -> {problem}");
        assert!(
            error_fields(&problem).contains(&field.to_string()),
            "{body} -> {problem}"
        );
    }
    let (status, problem) = app
        .post("/api/v1/groups", admin, with("slug", json!(SLUG)))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let groups: i64 = sqlx::query_scalar("SELECT count(*) FROM groups")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(groups, 2, "nothing was created");
    let (status, created) = app.post("/api/v1/groups", admin, good.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["join_policy"], "open", "open is the default");
    assert_eq!(created["description"], "");
    assert_eq!(created["member_count"], 0);
    assert_eq!(created["leads"], json!([]));
    let (status, _) = app.post("/api/v1/groups", admin, good).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Editing: present fields must be valid; the slug cannot change.
    let path = format!("/api/v1/groups/{SLUG}");
    let cases = [
        (
            json!({"name": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"tagline": "x".repeat(201)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "tagline",
        ),
        (
            json!({"mission": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "mission",
        ),
        (
            json!({"join_policy": "closed"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "join_policy",
        ),
        (
            json!({"slug": "renamed"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "slug",
        ),
        (json!({"name": 1}), StatusCode::BAD_REQUEST, "name"),
    ];
    for (body, expected, field) in cases {
        let (status, problem) = app.patch(&path, lead, body.clone()).await;
        assert_eq!(status, expected, "{body} -> {problem}");
        assert!(
            error_fields(&problem).contains(&field.to_string()),
            "{body} -> {problem}"
        );
    }
    let (status, edited) = app
        .patch(
            &path,
            lead,
            json!({"name": "Pride", "description": "All welcome.", "join_policy": "open"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["name"], "Pride");
    assert_eq!(edited["description"], "All welcome.");
    assert_eq!(edited["join_policy"], "open");
    assert_eq!(
        edited["mission"], "What Pride Network is for.",
        "unsent fields stay"
    );

    // List parameters.
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=ten",
        "cursor=garbage!!",
        "cursor=bm90LWEtY3Vyc29y",
    ] {
        for path in [
            format!("/api/v1/groups?{query}"),
            format!("/api/v1/groups?q=pride&{query}"),
            format!("/api/v1/groups/{SLUG}/members?{query}"),
        ] {
            let (status, problem) = app.get(&path, admin).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path}: {problem}"
            );
            let field = if query.starts_with("limit") {
                "limit"
            } else {
                "cursor"
            };
            assert_eq!(error_fields(&problem), [field], "{path}: {problem}");
        }
    }
    // A roster's cursor is not a list's cursor, and the other way round.
    let (_, roster) = app
        .get(&format!("/api/v1/groups/{SLUG}/members?limit=1"), admin)
        .await;
    let roster_cursor = roster["next_cursor"].as_str().unwrap().to_string();
    let (status, _) = app
        .get(&format!("/api/v1/groups?cursor={roster_cursor}"), admin)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Words that are not search terms are no search at all.
    let (status, list) = app.get("/api/v1/groups?q=%27%20%26%20!%20:*", admin).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn search_finds_prefixes_and_ranks_names_first() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let token = Some(admin.token.as_str());
    let make =
        |slug: &'static str, name: &'static str, tagline: &'static str, mission: &'static str| {
            let body = json!({"slug": slug, "name": name, "tagline": tagline, "mission": mission});
            let app = &app;
            async move {
                let (status, created) = app.post("/api/v1/groups", token, body).await;
                assert_eq!(status, StatusCode::CREATED, "{created}");
            }
        };
    make(
        "families",
        "Military Families",
        "Families who serve too",
        "We support veterans and the people who love them.",
    )
    .await;
    make(
        "veterans",
        "Veterans Network",
        "Served together",
        "For those who served in the armed forces.",
    )
    .await;
    make(
        "pride",
        "Pride Network",
        "LGBTQIA+ colleagues",
        "A community for everyone.",
    )
    .await;
    make(
        "abilities",
        "Abilities",
        "Disability and neurodiversity",
        "Making work accessible to all.",
    )
    .await;
    let search = |q: &'static str| {
        let app = &app;
        async move {
            let (status, list) = app.get(&format!("/api/v1/groups?q={q}"), token).await;
            assert_eq!(status, StatusCode::OK, "{list}");
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["slug"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    // A name match ranks above a match in the mission only, whatever the alphabet says.
    assert_eq!(search("veteran").await, ["veterans", "families"]);
    assert_eq!(search("veterans").await, ["veterans", "families"]);
    // Prefixes of words match.
    assert_eq!(search("vet").await, ["veterans", "families"]);
    assert_eq!(search("VETER").await, ["veterans", "families"]);
    assert_eq!(search("neuro").await, ["abilities"]);
    // Taglines count; every word must match.
    assert_eq!(search("lgbt").await, ["pride"]);
    assert_eq!(search("pride%20network").await, ["pride"]);
    let mut networks = search("netw").await;
    networks.sort();
    assert_eq!(networks, ["pride", "veterans"]);
    assert!(search("zebra").await.is_empty());
    // Archived groups are never found.
    let (status, _) = app
        .post("/api/v1/groups/veterans/archive", token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(search("vet").await, ["families"]);
    // No search: every group, by name.
    assert_eq!(search("").await, ["abilities", "families", "pride"]);
}

#[tokio::test]
async fn keyset_pagination_yields_every_group_once_in_order() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let reader = app.user("Reader").await;
    for i in 1..=25 {
        let name = if i == 13 {
            "Circle 13 Community".to_string()
        } else {
            format!("Circle {i:02}")
        };
        let mission = match i % 3 {
            0 => "Our community meets weekly; community comes first.",
            1 => "A community of practice.",
            _ => "Colleagues who care.",
        };
        let (status, body) = app
            .post(
                "/api/v1/groups",
                Some(&admin.token),
                json!({"slug": format!("circle-{i:02}"), "name": name, "tagline": "A circle of colleagues", "mission": mission}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = app
        .post(
            "/api/v1/groups/circle-05/archive",
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let slugs = |items: Vec<Value>| -> Vec<String> {
        items
            .iter()
            .map(|g| g["slug"].as_str().unwrap().to_string())
            .collect()
    };

    // No search: by name, pages of 10, 10 and 4 (circle-05 is archived).
    let expected: Vec<String> = (1..=25)
        .filter(|i| *i != 5)
        .map(|i| format!("circle-{i:02}"))
        .collect();
    for token in [&admin.token, &reader.token] {
        let (_, first) = app.get("/api/v1/groups?limit=10", Some(token)).await;
        assert_eq!(first["items"].as_array().unwrap().len(), 10);
        assert!(first["next_cursor"].is_string());
        let all = slugs(app.all_pages("/api/v1/groups", token, 10).await);
        assert_eq!(all, expected);
        let all = slugs(app.all_pages("/api/v1/groups", token, 1).await);
        assert_eq!(all, expected);
        // Exactly 24: the last page is full, and has no next page.
        let all = slugs(app.all_pages("/api/v1/groups", token, 12).await);
        assert_eq!(all, expected);
    }
    let (_, one_page) = app.get("/api/v1/groups", Some(&reader.token)).await;
    assert_eq!(
        one_page["items"].as_array().unwrap().len(),
        20,
        "the default limit"
    );

    // With a search: every match once, in the same order as one big page, best match first.
    let (_, whole) = app
        .get("/api/v1/groups?q=community&limit=100", Some(&reader.token))
        .await;
    assert_eq!(whole["next_cursor"], Value::Null);
    let whole = slugs(whole["items"].as_array().unwrap().clone());
    let matching: BTreeSet<String> = (1..=25)
        .filter(|i| *i != 5 && (i % 3 != 2 || *i == 13))
        .map(|i| format!("circle-{i:02}"))
        .collect();
    assert_eq!(whole.iter().cloned().collect::<BTreeSet<_>>(), matching);
    assert_eq!(whole.len(), matching.len());
    assert_eq!(
        whole[0], "circle-13",
        "the name match ranks first: {whole:?}"
    );
    // Two mentions in the mission rank above one.
    let position = |slug: &str| whole.iter().position(|s| s == slug).unwrap();
    assert!(position("circle-24") < position("circle-01"), "{whole:?}");
    for limit in [1, 3, 10] {
        let paged = slugs(
            app.all_pages("/api/v1/groups?q=community", &reader.token, limit)
                .await,
        );
        assert_eq!(paged, whole, "limit {limit}");
    }
}

#[tokio::test]
async fn roster_pagination_yields_every_visible_entry_once_in_order() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "circle", "Circle", "open").await;
    let outsider = app.user("Zed Outsider").await;
    let mut everyone = Vec::new();
    let mut public = Vec::new();
    for i in (1..=25).rev() {
        let user = app.user(&format!("Member {i:02}")).await;
        let visibility = if i % 5 == 0 { "private" } else { "public" };
        app.join(&user, "circle", "member", Some(visibility)).await;
        everyone.push((format!("Member {i:02}"), user.id));
        if visibility == "public" {
            public.push((format!("Member {i:02}"), user.id));
        }
    }
    // Two people of the same name are ordered by id.
    let twin = app.user("Member 07").await;
    app.join(&twin, "circle", "ally", Some("public")).await;
    everyone.push(("Member 07".into(), twin.id));
    public.push(("Member 07".into(), twin.id));
    everyone.sort();
    public.sort();
    let expected = |list: &[(String, Uuid)]| list.iter().map(|(_, id)| *id).collect::<Vec<_>>();
    for limit in [1, 7, 10, 100] {
        let ids = |items: Vec<Value>| -> Vec<Uuid> {
            items
                .iter()
                .map(|e| e["user_id"].as_str().unwrap().parse().unwrap())
                .collect()
        };
        let seen = ids(app
            .all_pages("/api/v1/groups/circle/members", &admin.token, limit)
            .await);
        assert_eq!(seen, expected(&everyone), "admin, limit {limit}");
        let seen = ids(app
            .all_pages("/api/v1/groups/circle/members", &outsider.token, limit)
            .await);
        assert_eq!(seen, expected(&public), "outsider, limit {limit}");
    }
    let (_, first) = app
        .get("/api/v1/groups/circle/members", Some(&admin.token))
        .await;
    assert_eq!(
        first["items"].as_array().unwrap().len(),
        20,
        "the default limit"
    );
}

/// The user ids of roster entries, in the order given.
fn entry_ids(items: &[Value]) -> Vec<Uuid> {
    items
        .iter()
        .map(|e| e["user_id"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn roster_pages_keep_name_order_ties_and_the_privacy_rules_across_pages() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "circle", "Circle", "approval")
        .await;
    let lead = app.user("Lee Lead").await;
    app.make_lead(&admin, &lead, "circle").await;
    // (user, name, type, visibility, approved): six namesakes of every visibility, pending
    // requests that share a name with active members, allies.
    let visibilities = ["public", "members", "private"];
    let mut people: Vec<(TestUser, String, &str, &str, bool)> = Vec::new();
    for (name, n, kind, approved) in [
        ("Sam Same", 6, "member", true),
        ("Sam Same", 3, "member", false),
        ("Member", 8, "member", true),
        ("Al Ally", 2, "ally", true),
    ] {
        for i in 0..n {
            let name = match name {
                "Member" => format!("Member {i}"),
                same => same.to_string(),
            };
            let user = app.user(&name).await;
            app.join(&user, "circle", kind, Some(visibilities[i % 3]))
                .await;
            if approved {
                app.change_member(&lead, "circle", &user, json!({"status": "active"}))
                    .await;
            }
            people.push((user, name, kind, visibilities[i % 3], approved));
        }
    }
    let outsider = app.user("Olga Outsider").await;
    // The lead and the people whose entries pass `shown`, by name then id.
    let expected = |shown: &dyn Fn(&str, bool) -> bool| -> Vec<Uuid> {
        let mut entries: Vec<(String, Uuid)> = people
            .iter()
            .filter(|(_, _, _, visibility, approved)| shown(visibility, *approved))
            .map(|(u, name, ..)| (name.clone(), u.id))
            .chain([("Lee Lead".to_string(), lead.id)])
            .collect();
        entries.sort();
        entries.into_iter().map(|(_, id)| id).collect()
    };
    let everyone = expected(&|_, _| true);
    let public_active = expected(&|visibility, approved| approved && visibility == "public");
    // An active member whose own membership is `members` sees `members` entries too.
    let members_view = expected(&|visibility, approved| approved && visibility != "private");
    let (member, ..) = people
        .iter()
        .find(|(_, name, _, visibility, approved)| {
            name.starts_with("Member") && *visibility == "members" && *approved
        })
        .unwrap();
    for (who, token, expected) in [
        ("admin", &admin.token, &everyone),
        ("lead", &lead.token, &everyone),
        ("outsider", &outsider.token, &public_active),
        ("member", &member.token, &members_view),
    ] {
        let (_, whole) = app
            .get("/api/v1/groups/circle/members?limit=100", Some(token))
            .await;
        assert_eq!(whole["next_cursor"], Value::Null);
        let whole = entry_ids(whole["items"].as_array().unwrap());
        assert_eq!(&whole, expected, "{who}: one page, by name then id");
        for limit in [1, 2, 3, 5, 7] {
            let paged = app
                .all_pages("/api/v1/groups/circle/members", token, limit)
                .await;
            assert_eq!(&entry_ids(&paged), expected, "{who}, limit {limit}");
            let pending = paged.iter().filter(|e| e["status"] == "pending").count();
            let expect_pending = if who == "admin" || who == "lead" {
                3
            } else {
                0
            };
            assert_eq!(pending, expect_pending, "{who}, limit {limit}");
        }
    }

    // A cursor is opaque: anything but one this roster gave out is refused, naming the field.
    let encode =
        |raw: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
    for forged in [
        encode(br#"["Sam Same"]"#),
        encode(br#"["Sam Same","not-a-uuid"]"#),
        encode(br#"["Sam Same","00000000-0000-0000-0000-000000000000",1]"#),
        encode(br#"[1,2]"#),
        encode(br#"{"name":"Sam Same"}"#),
        encode(br#"["Sam\u0000Same","00000000-0000-0000-0000-000000000000"]"#),
        encode(&[0xff, 0xfe, b'[']),
        "%2F%2F%2F".to_string(),
    ] {
        let (status, problem) = app
            .get(
                &format!("/api/v1/groups/circle/members?cursor={forged}"),
                Some(&lead.token),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{forged}: {problem}"
        );
        assert_eq!(error_fields(&problem), ["cursor"], "{forged}: {problem}");
    }
    // A well-formed key is only a position: the page starts after it, and shows no more than
    // the caller may see.
    let after_sams = encode(br#"["Sam Same","ffffffff-ffff-ffff-ffff-ffffffffffff"]"#);
    let (status, page) = app
        .get(
            &format!("/api/v1/groups/circle/members?limit=100&cursor={after_sams}"),
            Some(&outsider.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"], json!([]), "nothing sorts after Sam Same");
    let before_sams = encode(br#"["Sam Same","00000000-0000-0000-0000-000000000000"]"#);
    let (_, page) = app
        .get(
            &format!("/api/v1/groups/circle/members?limit=100&cursor={before_sams}"),
            Some(&outsider.token),
        )
        .await;
    let sams: Vec<Uuid> = public_active
        .iter()
        .copied()
        .filter(|id| {
            people
                .iter()
                .any(|(u, name, ..)| u.id == *id && name == "Sam Same")
        })
        .collect();
    assert_eq!(entry_ids(page["items"].as_array().unwrap()), sams);
}

/// Every membership's sort key equals its member's display name: the count of those that do
/// not.
async fn stale_sort_names(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.sort_name IS DISTINCT FROM u.display_name",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// Renames a user (`$1`) to `$2`.
const RENAME: &str = "UPDATE users SET display_name = $2 WHERE id = $1";

async fn rename(app: &TestApp, user: &TestUser, name: &str) {
    sqlx::query(RENAME)
        .bind(user.id)
        .bind(name)
        .execute(&app.pool)
        .await
        .unwrap();
}

/// A statement of a race, bound and ready to run on any connection.
type Statement = sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Runs `first` in a transaction and keeps it open, starts `second` on another connection,
/// waits until `second` is blocked on a lock `first` holds, then commits `first` and waits for
/// `second` to finish: `second` runs against what `first` wrote.
async fn second_waits_for_first(app: &TestApp, first: Statement, second: Statement) {
    let mut held = app.pool.begin().await.unwrap();
    first.execute(&mut *held).await.unwrap();
    let waiting = {
        let pool = app.pool.clone();
        tokio::spawn(async move {
            second.execute(&pool).await.unwrap();
        })
    };
    app.wait_for_lock_waiters(1).await;
    held.commit().await.unwrap();
    waiting.await.unwrap();
}

#[tokio::test]
async fn a_rename_moves_the_member_in_every_roster_at_once_even_during_a_join() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "circle", "Circle", "open").await;
    app.create_group(&admin, "square", "Square", "open").await;
    let anna = app.user("Anna").await;
    let bert = app.user("Bert").await;
    let carl = app.user("Carl").await;
    for user in [&anna, &bert, &carl] {
        app.join(user, "circle", "member", Some("public")).await;
    }
    app.join(&anna, "square", "ally", Some("private")).await;
    assert_eq!(
        app.roster_ids("circle", &admin.token).await,
        [anna.id, bert.id, carl.id]
    );

    rename(&app, &anna, "Zoe").await;
    assert_eq!(
        app.roster_ids("circle", &admin.token).await,
        [bert.id, carl.id, anna.id]
    );
    assert_eq!(stale_sort_names(&app).await, 0);
    // No statement can store another name.
    sqlx::query("UPDATE memberships SET sort_name = 'Aaron' WHERE user_id = $1")
        .bind(bert.id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(stale_sort_names(&app).await, 0);
    assert_eq!(
        app.roster_ids("circle", &admin.token).await,
        [bert.id, carl.id, anna.id]
    );

    // A membership written while a rename of its member is under way, either way round.
    let square: Uuid = sqlx::query_scalar("SELECT id FROM groups WHERE slug = 'square'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let insert = "INSERT INTO memberships (group_id, user_id, type, status, visibility)
                  VALUES ($1, $2, 'member', 'active', 'public')";
    // The join first: the rename waits for it, then renames its row too.
    second_waits_for_first(
        &app,
        sqlx::query(insert).bind(square).bind(bert.id),
        sqlx::query(RENAME).bind(bert.id).bind("Bea"),
    )
    .await;
    assert_eq!(stale_sort_names(&app).await, 0);
    // The rename first: the join waits for it, then takes the new name.
    second_waits_for_first(
        &app,
        sqlx::query(RENAME).bind(carl.id).bind("Cleo"),
        sqlx::query(insert).bind(square).bind(carl.id),
    )
    .await;
    assert_eq!(stale_sort_names(&app).await, 0);
    assert_eq!(
        app.roster_ids("circle", &admin.token).await,
        [bert.id, carl.id, anna.id]
    );
    assert_eq!(
        app.roster_ids("square", &admin.token).await,
        [bert.id, carl.id, anna.id]
    );
}

#[tokio::test]
async fn the_roster_csv_is_a_dated_attachment_safe_for_spreadsheets() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let sneaky = app.user("Sneaky").await;
    app.join(&sneaky, "pride", "member", Some("private")).await;
    let plus = app.user("Plus").await;
    app.join(&plus, "pride", "ally", None).await;
    for (user, name) in [
        (&sneaky, r#"=HYPERLINK("http://x","y")"#),
        (&plus, "+1 Plus, Comma"),
    ] {
        sqlx::query("UPDATE users SET display_name = $2 WHERE id = $1")
            .bind(user.id)
            .bind(name)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    app.settle().await;

    for manager in [&lead, &admin] {
        let before = time::OffsetDateTime::now_utc().date();
        let response = app
            .client
            .get(format!("{}/api/v1/groups/pride/members.csv", app.base))
            .bearer_auth(&manager.token)
            .send()
            .await
            .unwrap();
        let after = time::OffsetDateTime::now_utc().date();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/csv; charset=utf-8"
        );
        // Contact details: no cache along the way may keep a copy, and no browser may sniff it.
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let disposition = response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            [before, after]
                .iter()
                .any(|d| disposition
                    == format!("attachment; filename=\"belong-pride-members-{d}.csv\"")),
            "{disposition}"
        );
        let body = response.text().await.unwrap();
        let lines: Vec<&str> = body.split_terminator("\r\n").collect();
        assert_eq!(
            lines[0],
            "user_id,display_name,email,department,location,type,role,status,visibility,joined_at"
        );
        assert_eq!(lines.len(), 4, "{body}");
        let row = |user: &TestUser| {
            *lines
                .iter()
                .find(|l| l.starts_with(&user.id.to_string()))
                .unwrap_or_else(|| panic!("{body}"))
        };
        // The formula comes out as text: quoted, with a leading apostrophe.
        let sneaky_row = row(&sneaky);
        let expected = format!(
            r#"{},"'=HYPERLINK(""http://x"",""y"")",{},Engineering,Lisbon,member,member,active,private,"#,
            sneaky.id, sneaky.email
        );
        assert!(sneaky_row.starts_with(&expected), "{sneaky_row}");
        assert!(row(&plus).contains("\"'+1 Plus, Comma\""), "{}", row(&plus));
        assert!(
            row(&lead).contains(",member,lead,active,public,"),
            "{}",
            row(&lead)
        );
    }
}

#[tokio::test]
async fn creating_a_group_is_audited_and_a_refused_creation_is_not() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let employee = app.user("Em Ployee").await;
    app.create_group(&admin, SLUG, "Pride", "open").await;
    let body = json!({"slug": SLUG, "name": "Pride again", "tagline": "t", "mission": "m",
                      "join_policy": "open"});
    let (status, _) = app.post("/api/v1/groups", Some(&admin.token), body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let body = json!({"slug": OTHER, "name": "Veterans", "tagline": "t", "mission": "m",
                      "join_policy": "open"});
    let (status, _) = app
        .post("/api/v1/groups", Some(&employee.token), body)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let rows: Vec<(Option<Uuid>, Option<String>)> = sqlx::query_as(
        "SELECT actor_id, target FROM audit_log WHERE action = 'group.created' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows, [(Some(admin.id), Some(SLUG.to_string()))]);
    // Admins read it in the audit log.
    let (status, log) = app.get("/api/v1/admin/audit", Some(&admin.token)).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let created: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "group.created")
        .collect();
    assert_eq!(created.len(), 1, "{log}");
    assert_eq!(created[0]["target"], SLUG, "{log}");
}
