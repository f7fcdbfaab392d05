//! The access matrix: every operation of the served OpenAPI document, tried by each of seven
//! callers, against the outcome the product's rules give (not what the server happens to say).
//!
//! `MATRIX` has a row for each operation, and for some operations one per case (an event for
//! members only and one for everyone; another person's request and one in another group).
//! Its columns are the callers: anonymous; an employee in no group; an active member of group
//! G (visible to `members`); a lead of G; a lead of another group H, with nothing in G; HR; an
//! admin. Paths name G's objects or another person: the lead of H acts on G, the member on
//! someone else's request, the admin on another account. `ok` is any 2xx; a number is that
//! status exactly.
//!
//! The test reads `/api/openapi.json` from the running server and fails, naming them, on
//! operations without a row and rows whose operation the document no longer has, so a route
//! cannot ship without its access rule written down here. It then runs every row for every
//! caller, checks what the privacy rules hide in the answers that succeed (rosters, counts,
//! members-only events, calendar feeds, exports), and reports every difference at once.
//! Rows that change what others see (archiving, joining, leaving, approving, removing,
//! cancelling, closing, deciding, a new notice) run on a scene of their own for each caller.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, TestUser, spawn_app};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Anonymous,
    Employee,
    Member,
    LeadG,
    LeadH,
    Hr,
    Admin,
}

use Role::{Admin, Anonymous, Employee, Hr, LeadG, LeadH, Member};

/// The columns of `MATRIX`, in order.
const ROLES: [Role; 7] = [Anonymous, Employee, Member, LeadG, LeadH, Hr, Admin];

impl Role {
    fn name(self) -> &'static str {
        match self {
            Anonymous => "anonymous",
            Employee => "employee",
            Member => "member of G",
            LeadG => "lead of G",
            LeadH => "lead of H",
            Hr => "hr",
            Admin => "admin",
        }
    }
}

/// One operation (or one case of it) and what each caller gets.
struct Row {
    method: &'static str,
    path: &'static str,
    case: &'static str,
    /// Runs on a new scene for each caller: a success changes what the next caller would find.
    fresh: bool,
    /// Seven outcomes, one per role of `ROLES`: `ok` (any 2xx) or a status.
    expect: &'static str,
}

const fn row(
    method: &'static str,
    path: &'static str,
    case: &'static str,
    expect: &'static str,
) -> Row {
    Row {
        method,
        path,
        case,
        fresh: false,
        expect,
    }
}

const fn fresh(
    method: &'static str,
    path: &'static str,
    case: &'static str,
    expect: &'static str,
) -> Row {
    let mut row = row(method, path, case, expect);
    row.fresh = true;
    row
}

/// The case of a row on the archived group (or its event, or its offer) of the shared scene,
/// in which the member is a member and the lead of G its lead.
const ARCHIVED: &str = "archived";

/// Who may do what, from the product's rules (docs/api.md, docs/privacy.md): `401` without a
/// token; `403` signed in but not allowed; `404` for what the caller may not know exists
/// (members-only events of a group they are not in, someone else's mentoring request, an
/// archived group).
#[rustfmt::skip]
const MATRIX: &[Row] = &[
    // (method, path, case)                                                                       anon empl mem. lead lead hr   admin
    //                                                                                                      of G of G of H
    row("POST",     "/api/v1/auth/register",                   "a new email",                    "ok   ok   ok   ok   ok   ok   ok"),
    row("POST",     "/api/v1/auth/login",                      "the right password",             "ok   ok   ok   ok   ok   ok   ok"),
    row("POST",     "/api/v1/auth/refresh",                    "an unspent refresh token",       "ok   ok   ok   ok   ok   ok   ok"),
    row("POST",     "/api/v1/auth/logout",                     "a refresh token",                "ok   ok   ok   ok   ok   ok   ok"),
    row("GET",      "/api/v1/me",                              "",                               "401  ok   ok   ok   ok   ok   ok"),

    row("GET",      "/api/v1/admin/users",                     "",                               "401  403  403  403  403  403  ok"),
    row("PUT",      "/api/v1/admin/users/{id}/roles",          "another person",                 "401  403  403  403  403  403  ok"),
    row("POST",     "/api/v1/admin/users/{id}/deactivate",     "another person",                 "401  403  403  403  403  403  ok"),
    row("GET",      "/api/v1/admin/audit",                     "",                               "401  403  403  403  403  403  ok"),

    row("GET",      "/api/v1/groups",                          "",                               "401  ok   ok   ok   ok   ok   ok"),
    row("POST",     "/api/v1/groups",                          "",                               "401  403  403  403  403  403  ok"),
    row("GET",      "/api/v1/groups/{slug}",                   "G",                              "401  ok   ok   ok   ok   ok   ok"),
    row("GET",      "/api/v1/groups/{slug}",                   ARCHIVED,                         "401  404  404  404  404  404  ok"),
    row("PATCH",    "/api/v1/groups/{slug}",                   "G",                              "401  403  403  ok   403  403  ok"),
    fresh("POST",   "/api/v1/groups/{slug}/archive",           "G",                              "401  403  403  403  403  403  ok"),
    fresh("PUT",    "/api/v1/groups/{slug}/membership",        "G",                              "401  ok   ok   ok   ok   ok   ok"),
    row("PUT",      "/api/v1/groups/{slug}/membership",        ARCHIVED,                         "401  404  404  404  404  404  409"),
    fresh("DELETE", "/api/v1/groups/{slug}/membership",        "G",                              "401  ok   ok   ok   ok   ok   ok"),
    row("GET",      "/api/v1/groups/{slug}/members",           "G",                              "401  ok   ok   ok   ok   ok   ok"),
    row("GET",      "/api/v1/groups/{slug}/members",           ARCHIVED,                         "401  404  404  404  404  404  ok"),
    row("GET",      "/api/v1/groups/{slug}/members.csv",       "G",                              "401  403  403  ok   403  403  ok"),
    fresh("PATCH",  "/api/v1/groups/{slug}/members/{user_id}", "approve another's request",      "401  403  403  ok   403  403  ok"),
    fresh("PATCH",  "/api/v1/groups/{slug}/members/{user_id}", "a member of H, not of G",        "401  403  403  404  403  403  404"),
    fresh("DELETE", "/api/v1/groups/{slug}/members/{user_id}", "another member",                 "401  403  403  ok   403  403  ok"),
    fresh("DELETE", "/api/v1/groups/{slug}/members/{user_id}", "a member of H, not of G",        "401  403  403  404  403  403  404"),
    row("GET",      "/api/v1/groups/{slug}/privacy-notice",    "G",                              "401  ok   ok   ok   ok   ok   ok"),
    fresh("PUT",    "/api/v1/groups/{slug}/privacy-notice",    "G",                              "401  403  403  ok   403  403  ok"),

    row("GET",      "/api/v1/groups/{slug}/events",            "G",                              "401  ok   ok   ok   ok   ok   ok"),
    row("GET",      "/api/v1/groups/{slug}/events",            ARCHIVED,                         "401  404  404  404  404  404  ok"),
    row("POST",     "/api/v1/groups/{slug}/events",            "G",                              "401  403  403  ok   403  403  ok"),
    row("GET",      "/api/v1/events/{id}",                     "members only",                   "401  404  ok   ok   404  404  ok"),
    row("GET",      "/api/v1/events/{id}",                     "for everyone",                   "401  ok   ok   ok   ok   ok   ok"),
    row("GET",      "/api/v1/events/{id}",                     ARCHIVED,                         "401  404  404  404  404  404  ok"),
    row("PATCH",    "/api/v1/events/{id}",                     "members only",                   "401  404  403  ok   404  404  ok"),
    row("PATCH",    "/api/v1/events/{id}",                     "for everyone",                   "401  403  403  ok   403  403  ok"),
    fresh("POST",   "/api/v1/events/{id}/cancel",              "members only",                   "401  404  403  ok   404  404  ok"),
    fresh("POST",   "/api/v1/events/{id}/cancel",              "for everyone",                   "401  403  403  ok   403  403  ok"),
    row("PUT",      "/api/v1/events/{id}/rsvp",                "members only",                   "401  404  ok   ok   404  404  403"),
    row("PUT",      "/api/v1/events/{id}/rsvp",                "for everyone",                   "401  ok   ok   ok   ok   ok   ok"),
    row("DELETE",   "/api/v1/events/{id}/rsvp",                "members only",                   "401  404  ok   ok   404  404  ok"),
    row("DELETE",   "/api/v1/events/{id}/rsvp",                "for everyone",                   "401  ok   ok   ok   ok   ok   ok"),
    row("GET",      "/api/v1/events/{id}/attendees",           "members only",                   "401  404  403  ok   404  404  ok"),
    row("GET",      "/api/v1/events/{id}/attendees",           "for everyone",                   "401  403  403  ok   403  403  ok"),
    row("GET",      "/api/v1/events/{id}/ics",                 "members only",                   "401  404  ok   ok   404  404  ok"),
    row("GET",      "/api/v1/events/{id}/ics",                 "for everyone",                   "401  ok   ok   ok   ok   ok   ok"),
    row("GET",      "/api/v1/me/calendar",                     "",                               "401  ok   ok   ok   ok   ok   ok"),
    row("POST",     "/api/v1/me/calendar/rotate",              "",                               "401  ok   ok   ok   ok   ok   ok"),
    row("GET",      "/ical/{token}",                           "own feed (anonymous: nobody's)", "404  ok   ok   ok   ok   ok   ok"),
    row("GET",      "/ical/{token}",                           "the member's feed",              "ok   ok   ok   ok   ok   ok   ok"),

    row("GET",      "/api/v1/groups/{slug}/mentoring-offers",  "G",                              "401  ok   ok   ok   ok   ok   ok"),
    row("GET",      "/api/v1/groups/{slug}/mentoring-offers",  ARCHIVED,                         "401  404  404  404  404  404  ok"),
    row("POST",     "/api/v1/groups/{slug}/mentoring-offers",  "G",                              "401  403  403  ok   403  403  ok"),
    fresh("POST",   "/api/v1/mentoring-offers/{id}/close",     "another member mentors",         "401  403  403  ok   403  403  ok"),
    row("POST",     "/api/v1/mentoring-offers/{id}/requests",  "another member mentors",         "401  403  ok   ok   403  403  403"),
    row("POST",     "/api/v1/mentoring-offers/{id}/requests",  ARCHIVED,                         "401  404  404  404  404  404  403"),
    row("GET",      "/api/v1/mentoring-offers/{id}/requests",  "another member mentors",         "401  403  403  ok   403  403  ok"),
    row("GET",      "/api/v1/mentoring-offers/{id}/requests",  "an offer in H",                  "401  403  403  403  ok   403  ok"),
    fresh("PATCH",  "/api/v1/mentoring-requests/{id}",         "accept the member's request",    "401  404  403  ok   404  404  403"),
    fresh("PATCH",  "/api/v1/mentoring-requests/{id}",         "withdraw the member's request",  "401  404  ok   403  404  404  403"),
    fresh("PATCH",  "/api/v1/mentoring-requests/{id}",         "accept a request in H",          "401  404  404  404  ok   404  403"),
    row("GET",      "/api/v1/me/mentoring",                    "",                               "401  ok   ok   ok   ok   ok   ok"),

    row("GET",      "/api/v1/reports/groups.csv",              "",                               "401  403  403  403  403  ok   ok"),
    row("GET",      "/api/v1/reports/memberships.csv",         "G",                              "401  403  403  403  403  ok   ok"),
    row("GET",      "/api/v1/reports/breakdown.csv",           "by department",                  "401  403  403  403  403  ok   ok"),

    row("GET",      "/healthz",                                "",                               "ok   ok   ok   ok   ok   ok   ok"),
    row("GET",      "/readyz",                                 "",                               "ok   ok   ok   ok   ok   ok   ok"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Any 2xx.
    Allowed,
    Status(u16),
}

impl Outcome {
    fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "ok" => Ok(Outcome::Allowed),
            n => n
                .parse::<u16>()
                .ok()
                .filter(|n| (100..600).contains(n))
                .map(Outcome::Status)
                .ok_or_else(|| format!("{raw:?} is neither `ok` nor a status")),
        }
    }

    fn admits(self, status: StatusCode) -> bool {
        match self {
            Outcome::Allowed => status.is_success(),
            Outcome::Status(n) => status.as_u16() == n,
        }
    }

    fn show(self) -> String {
        match self {
            Outcome::Allowed => "2xx".into(),
            Outcome::Status(n) => n.to_string(),
        }
    }
}

impl Row {
    fn label(&self) -> String {
        if self.case.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {} [{}]", self.method, self.path, self.case)
        }
    }

    fn outcomes(&self) -> Result<Vec<Outcome>, String> {
        let outcomes = self
            .expect
            .split_whitespace()
            .map(Outcome::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if outcomes.len() != ROLES.len() {
            return Err(format!(
                "{} outcomes, one per role wanted ({})",
                outcomes.len(),
                ROLES.len()
            ));
        }
        Ok(outcomes)
    }
}

/// The seven callers (six people and nobody), created once, and the account whose password
/// the sign-in rows use.
struct World {
    app: TestApp,
    employee: TestUser,
    member: TestUser,
    lead_g: TestUser,
    lead_h: TestUser,
    hr: TestUser,
    admin: TestUser,
    /// Registered through the API, with `PASSWORD`.
    account: String,
    counter: AtomicUsize,
}

impl World {
    async fn new() -> World {
        let app = spawn_app().await;
        let admin = app.admin().await;
        let hr = app.hr().await;
        let employee = app.user("Emil Employee").await;
        let member = app.user("Mia Member").await;
        let lead_g = app.user("Gia Lead").await;
        let lead_h = app.user("Hal Lead").await;
        let account = "matrix-account@example.com".to_string();
        app.register(&account).await;
        World {
            app,
            employee,
            member,
            lead_g,
            lead_h,
            hr,
            admin,
            account,
            counter: AtomicUsize::new(0),
        }
    }

    fn user(&self, role: Role) -> Option<&TestUser> {
        match role {
            Anonymous => None,
            Employee => Some(&self.employee),
            Member => Some(&self.member),
            LeadG => Some(&self.lead_g),
            LeadH => Some(&self.lead_h),
            Hr => Some(&self.hr),
            Admin => Some(&self.admin),
        }
    }

    fn token(&self, role: Role) -> Option<&str> {
        self.user(role).map(|u| u.token.as_str())
    }

    /// A word no other scene or row uses (and that no other is a prefix of, for searches).
    fn unique(&self) -> String {
        format!("m{}x", self.counter.fetch_add(1, Ordering::Relaxed))
    }

    async fn send(&self, method: &str, req: &Req, token: Option<&str>) -> Answer {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .app
            .client
            .request(method, format!("{}{}", self.app.base, req.path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = &req.body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        Answer { status, text }
    }

    /// Signs the registered account in through the API: a new refresh token.
    async fn refresh_token(&self) -> String {
        let body = self.app.login(&self.account).await;
        body["refresh_token"].as_str().unwrap().to_string()
    }

    /// The caller's own calendar feed token, from the address the API gives them.
    async fn feed_token(&self, role: Role) -> String {
        match self.user(role) {
            // Well formed, held by nobody.
            None => "A".repeat(43),
            Some(user) => {
                let (status, body) = self.app.get("/api/v1/me/calendar", Some(&user.token)).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                let url = body["url"].as_str().unwrap();
                url.rsplit('/').next().unwrap().to_string()
            }
        }
    }
}

struct Answer {
    status: StatusCode,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

struct Req {
    path: String,
    body: Option<Value>,
}

fn at(path: &str) -> Option<Req> {
    Some(Req {
        path: path.to_string(),
        body: None,
    })
}

fn with(path: &str, body: Value) -> Option<Req> {
    Some(Req {
        path: path.to_string(),
        body: Some(body),
    })
}

fn later(days: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// G and H, with the callers' standing in them, the other people routes take, and the
/// objects they act on. Built through the API, by the admin wherever someone must be allowed.
/// Group H (`open`) is led by the lead of H; `outsider` is a member of H only, who asked for
/// mentoring there (`request_h`).
struct Scene {
    /// Group G (`approval`): the lead of G leads it, the member is an active member visible
    /// to `members`; `public` is an active member shown to all, `private` one shown to its
    /// leads only, `pending` a request waiting for approval.
    g: String,
    /// Archived, with the member and the lead of G in it (the shared scene only).
    archived: Option<Archived>,
    public: TestUser,
    private: TestUser,
    pending: TestUser,
    outsider: TestUser,
    members_event: String,
    members_title: String,
    everyone_event: String,
    /// Mentored by `public`; the member has asked (`request`).
    offer: String,
    /// Mentored by `public`; nobody has asked.
    free_offer: String,
    request: String,
    /// The lead of H's offer in H, and the outsider's request for it.
    offer_h: String,
    request_h: String,
}

/// An archived group in which the member is a member and the lead of G its lead, with an
/// event for everyone and a mentoring offer made before it was archived.
struct Archived {
    slug: String,
    event: String,
    event_title: String,
    offer: String,
}

async fn join_active(
    app: &TestApp,
    admin: &TestUser,
    user: &TestUser,
    slug: &str,
    visibility: &str,
) {
    let joined = app.join(user, slug, "member", Some(visibility)).await;
    if joined["status"] == "pending" {
        app.change_member(admin, slug, user, json!({"status": "active"}))
            .await;
    }
}

async fn post_id(app: &TestApp, path: &str, token: &str, body: Value) -> String {
    let (status, created) = app.post(path, Some(token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
    created["id"].as_str().unwrap().to_string()
}

fn event_body(title: &str, audience: &str) -> Value {
    json!({"title": title, "starts_at": later(30), "ends_at": later(31), "audience": audience})
}

impl World {
    async fn scene(&self, with_archived: bool) -> Scene {
        let app = &self.app;
        let admin = &self.admin;
        let tag = self.unique();
        let (g, h) = (format!("g-{tag}"), format!("h-{tag}"));
        app.create_group(admin, &g, &format!("Group {tag}"), "approval")
            .await;
        app.create_group(admin, &h, &format!("Other {tag}"), "open")
            .await;
        app.make_lead(admin, &self.lead_g, &g).await;
        app.make_lead(admin, &self.lead_h, &h).await;
        join_active(app, admin, &self.member, &g, "members").await;
        let public = app.user("Pia Public").await;
        join_active(app, admin, &public, &g, "public").await;
        let private = app.user("Pete Private").await;
        join_active(app, admin, &private, &g, "private").await;
        let pending = app.user("Quinn Pending").await;
        app.join(&pending, &g, "member", None).await;
        let outsider = app.user("Xan Outsider").await;
        app.join(&outsider, &h, "member", Some("public")).await;

        let events = format!("/api/v1/groups/{g}/events");
        let members_title = format!("Members only {tag}");
        let members_event = post_id(
            app,
            &events,
            &admin.token,
            event_body(&members_title, "members"),
        )
        .await;
        let everyone_title = format!("Open to all {tag}");
        let everyone_event = post_id(
            app,
            &events,
            &admin.token,
            event_body(&everyone_title, "everyone"),
        )
        .await;

        let offers = format!("/api/v1/groups/{g}/mentoring-offers");
        let offer_body = json!({"title": "Careers", "slots": 2, "mentor_id": public.id});
        let offer = post_id(app, &offers, &admin.token, offer_body.clone()).await;
        let free_offer = post_id(app, &offers, &admin.token, offer_body).await;
        let request = post_id(
            app,
            &format!("/api/v1/mentoring-offers/{offer}/requests"),
            &self.member.token,
            json!({"message": "Please"}),
        )
        .await;
        let offer_h = post_id(
            app,
            &format!("/api/v1/groups/{h}/mentoring-offers"),
            &admin.token,
            json!({"title": "Careers in H", "slots": 2, "mentor_id": self.lead_h.id}),
        )
        .await;
        let request_h = post_id(
            app,
            &format!("/api/v1/mentoring-offers/{offer_h}/requests"),
            &outsider.token,
            json!({}),
        )
        .await;

        let archived = if with_archived {
            let slug = format!("a-{tag}");
            app.create_group(admin, &slug, &format!("Archived {tag}"), "open")
                .await;
            app.make_lead(admin, &self.lead_g, &slug).await;
            join_active(app, admin, &self.member, &slug, "members").await;
            let event_title = format!("Archived event {tag}");
            let event = post_id(
                app,
                &format!("/api/v1/groups/{slug}/events"),
                &admin.token,
                event_body(&event_title, "everyone"),
            )
            .await;
            let offer = post_id(
                app,
                &format!("/api/v1/groups/{slug}/mentoring-offers"),
                &admin.token,
                json!({"title": "Old", "slots": 1, "mentor_id": self.lead_g.id}),
            )
            .await;
            let (status, body) = app
                .post(
                    &format!("/api/v1/groups/{slug}/archive"),
                    Some(&admin.token),
                    json!({}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            Some(Archived {
                slug,
                event,
                event_title,
                offer,
            })
        } else {
            None
        };
        Scene {
            g,
            archived,
            public,
            private,
            pending,
            outsider,
            members_event,
            members_title,
            everyone_event,
            offer,
            free_offer,
            request,
            offer_h,
            request_h,
        }
    }

    /// The request a row makes for `role` in `scene`: ids of G, or of another person or
    /// group where that is the point. `None` for a row this function does not know.
    async fn request(&self, row: &Row, role: Role, s: &Scene) -> Option<Req> {
        let archived = s.archived.as_ref();
        let slug = match row.case {
            ARCHIVED => archived.map_or("no-archived-group", |a| a.slug.as_str()),
            _ => s.g.as_str(),
        };
        let event = match row.case {
            "members only" => &s.members_event,
            ARCHIVED => archived.map_or("no-archived-event", |a| a.event.as_str()),
            _ => &s.everyone_event,
        };
        let offer = match row.case {
            "an offer in H" => &s.offer_h,
            ARCHIVED => archived.map_or("no-archived-offer", |a| a.offer.as_str()),
            _ => &s.offer,
        };
        let group = format!("/api/v1/groups/{slug}");
        match (row.method, row.path) {
            ("POST", "/api/v1/auth/register") => with(
                row.path,
                json!({"email": format!("new-{}@example.com", self.unique()), "password": PASSWORD,
                       "display_name": "New Person"}),
            ),
            ("POST", "/api/v1/auth/login") => with(
                row.path,
                json!({"email": self.account, "password": PASSWORD}),
            ),
            ("POST", "/api/v1/auth/refresh" | "/api/v1/auth/logout") => with(
                row.path,
                json!({"refresh_token": self.refresh_token().await}),
            ),
            ("PUT", "/api/v1/admin/users/{id}/roles") => {
                let other = self.app.user("Rory Roles").await;
                with(
                    &format!("/api/v1/admin/users/{}/roles", other.id),
                    json!({"roles": ["hr"]}),
                )
            }
            ("POST", "/api/v1/admin/users/{id}/deactivate") => {
                let other = self.app.user("Dana Departing").await;
                at(&format!("/api/v1/admin/users/{}/deactivate", other.id))
            }
            ("GET", "/api/v1/groups") => {
                // The search finds G (and the archived group, which it must leave out) among
                // the groups of other scenes.
                let word = s.g.trim_start_matches("g-");
                at(&format!("/api/v1/groups?q={word}&limit=100"))
            }
            ("POST", "/api/v1/groups") => {
                let tag = self.unique();
                with(
                    row.path,
                    json!({"slug": format!("new-{tag}"), "name": format!("New {tag}"),
                           "tagline": "A new group", "mission": "To meet.", "join_policy": "open"}),
                )
            }
            ("GET", "/api/v1/groups/{slug}") => at(&group),
            ("PATCH", "/api/v1/groups/{slug}") => with(&group, json!({"tagline": "Changed"})),
            ("POST", "/api/v1/groups/{slug}/archive") => at(&format!("{group}/archive")),
            ("PUT", "/api/v1/groups/{slug}/membership") => {
                with(&format!("{group}/membership"), json!({"type": "member"}))
            }
            ("DELETE", "/api/v1/groups/{slug}/membership") => at(&format!("{group}/membership")),
            ("GET", "/api/v1/groups/{slug}/members") => at(&format!("{group}/members?limit=100")),
            ("GET", "/api/v1/groups/{slug}/members.csv") => at(&format!("{group}/members.csv")),
            ("PATCH" | "DELETE", "/api/v1/groups/{slug}/members/{user_id}") => {
                let target = match row.case {
                    "approve another's request" => s.pending.id,
                    "another member" => s.public.id,
                    _ => s.outsider.id,
                };
                let path = format!("{group}/members/{target}");
                match row.method {
                    "PATCH" => with(&path, json!({"status": "active"})),
                    _ => at(&path),
                }
            }
            ("GET", "/api/v1/groups/{slug}/privacy-notice") => {
                at(&format!("{group}/privacy-notice"))
            }
            ("PUT", "/api/v1/groups/{slug}/privacy-notice") => with(
                &format!("{group}/privacy-notice"),
                json!({"text": "Who sees what."}),
            ),
            ("GET", "/api/v1/groups/{slug}/events") => at(&format!("{group}/events?limit=100")),
            ("POST", "/api/v1/groups/{slug}/events") => with(
                &format!("{group}/events"),
                event_body("Another", "everyone"),
            ),
            ("GET", "/api/v1/events/{id}") => at(&format!("/api/v1/events/{event}")),
            ("PATCH", "/api/v1/events/{id}") => with(
                &format!("/api/v1/events/{event}"),
                json!({"description": "Changed"}),
            ),
            (_, "/api/v1/events/{id}/cancel")
            | (_, "/api/v1/events/{id}/rsvp")
            | (_, "/api/v1/events/{id}/attendees")
            | (_, "/api/v1/events/{id}/ics") => at(&row.path.replace("{id}", event)),
            ("GET", "/ical/{token}") => {
                let holder = match row.case {
                    "the member's feed" => Member,
                    _ => role,
                };
                at(&format!("/ical/{}", self.feed_token(holder).await))
            }
            ("GET", "/api/v1/groups/{slug}/mentoring-offers") => {
                at(&format!("{group}/mentoring-offers?limit=100"))
            }
            ("POST", "/api/v1/groups/{slug}/mentoring-offers") => with(
                &format!("{group}/mentoring-offers"),
                json!({"title": "More", "slots": 1, "mentor_id": self.lead_g.id}),
            ),
            ("POST", "/api/v1/mentoring-offers/{id}/requests") => {
                // Nobody has asked for the free offer yet.
                let offer = if row.case == ARCHIVED {
                    offer
                } else {
                    &s.free_offer
                };
                at(&format!("/api/v1/mentoring-offers/{offer}/requests"))
            }
            (
                _,
                "/api/v1/mentoring-offers/{id}/close" | "/api/v1/mentoring-offers/{id}/requests",
            ) => at(&row.path.replace("{id}", offer)),
            ("PATCH", "/api/v1/mentoring-requests/{id}") => {
                let (request, status) = match row.case {
                    "accept the member's request" => (&s.request, "accepted"),
                    "withdraw the member's request" => (&s.request, "withdrawn"),
                    _ => (&s.request_h, "accepted"),
                };
                with(
                    &format!("/api/v1/mentoring-requests/{request}"),
                    json!({"status": status}),
                )
            }
            ("GET", "/api/v1/reports/memberships.csv") => at(&format!("{}?group={slug}", row.path)),
            ("GET", "/api/v1/reports/breakdown.csv") => at(&format!("{}?by=department", row.path)),
            // Routes that take nothing but the caller.
            (
                "GET",
                "/api/v1/me"
                | "/api/v1/admin/users"
                | "/api/v1/admin/audit"
                | "/api/v1/me/calendar"
                | "/api/v1/me/mentoring"
                | "/api/v1/reports/groups.csv"
                | "/healthz"
                | "/readyz",
            )
            | ("POST", "/api/v1/me/calendar/rotate") => at(row.path),
            _ => None,
        }
    }

    /// What the privacy rules hide in an answer that succeeded: `Err` says what leaked or went
    /// missing.
    fn check(&self, row: &Row, role: Role, s: &Scene, answer: &Answer) -> Result<(), String> {
        let leads_or_admin = matches!(role, LeadG | Admin);
        match (row.method, row.path, row.case) {
            ("GET", "/api/v1/groups/{slug}/members", "G") => {
                let body = answer.json();
                let items = body["items"].as_array().cloned().unwrap_or_default();
                let seen: BTreeSet<String> = items
                    .iter()
                    .filter_map(|e| e["user_id"].as_str().map(str::to_string))
                    .collect();
                let mut problems = Vec::new();
                for (name, id, _, visible) in self.roster(s) {
                    let shown = seen.contains(&id.to_string());
                    if shown != visible.contains(&role) {
                        problems.push(format!(
                            "{name} {}",
                            if shown { "shown" } else { "missing" }
                        ));
                    }
                }
                let details = items.iter().any(|e| e.get("email").is_some());
                if details != leads_or_admin {
                    problems.push(format!(
                        "email {}",
                        if details { "shown" } else { "missing" }
                    ));
                }
                problems_to_result(problems)
            }
            ("GET", "/api/v1/groups/{slug}", "G") => self.member_count(role, s, &answer.json()),
            ("GET", "/api/v1/groups", _) => {
                let body = answer.json();
                let items = body["items"].as_array().cloned().unwrap_or_default();
                let listed = |slug: &str| items.iter().find(|i| i["slug"] == slug);
                if let Some(archived) = &s.archived {
                    if listed(&archived.slug).is_some() {
                        return Err("the archived group listed".into());
                    }
                }
                match listed(&s.g) {
                    Some(item) => self.member_count(role, s, item),
                    None => Err("G missing from the directory".into()),
                }
            }
            ("GET", "/api/v1/me", _) => {
                // Your own memberships, and none of an archived group.
                let body = answer.json();
                let slugs: BTreeSet<&str> = body["memberships"]
                    .as_array()
                    .map(|m| m.iter().filter_map(|m| m["group_slug"].as_str()).collect())
                    .unwrap_or_default();
                let mut problems = Vec::new();
                if slugs.contains(s.g.as_str()) != matches!(role, Member | LeadG) {
                    problems.push(format!("memberships {slugs:?}"));
                }
                if let Some(archived) = &s.archived {
                    if slugs.contains(archived.slug.as_str()) {
                        problems.push("the archived group among the memberships".into());
                    }
                }
                problems_to_result(problems)
            }
            ("GET", "/api/v1/groups/{slug}/events", "G") => {
                let body = answer.json();
                let ids: BTreeSet<String> = body["items"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|e| e["id"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut problems = Vec::new();
                let members = ids.contains(&s.members_event);
                if members != matches!(role, Member | LeadG | Admin) {
                    problems.push(format!(
                        "members-only event {}",
                        if members { "listed" } else { "missing" }
                    ));
                }
                if !ids.contains(&s.everyone_event) {
                    problems.push("event for everyone missing".into());
                }
                problems_to_result(problems)
            }
            ("GET", "/ical/{token}", "own feed (anonymous: nobody's)") => {
                // A feed holds the events of the holder's own groups: G's members-only event
                // is in the member's and the lead's, and in nobody else's (admins included);
                // an archived group's events are in nobody's.
                let mut problems = Vec::new();
                let listed = answer.text.contains(&s.members_title);
                if listed != matches!(role, Member | LeadG) {
                    problems.push(format!(
                        "members-only event {}",
                        if listed {
                            "in the feed"
                        } else {
                            "missing from the feed"
                        }
                    ));
                }
                if let Some(archived) = &s.archived {
                    if answer.text.contains(&archived.event_title) {
                        problems.push("the archived group's event in the feed".into());
                    }
                }
                problems_to_result(problems)
            }
            ("GET", "/api/v1/groups/{slug}/members.csv", _) => {
                // The roster as the lead sees it: everyone, pending and private included.
                let problems = self
                    .roster(s)
                    .into_iter()
                    .filter(|(_, _, email, _)| !answer.text.contains(email.as_str()))
                    .map(|(name, ..)| format!("{name} missing"))
                    .collect();
                problems_to_result(problems)
            }
            ("GET", "/api/v1/reports/memberships.csv", _) => {
                // HR's export names only public memberships.
                let problems = self
                    .roster(s)
                    .into_iter()
                    .filter_map(|(name, _, email, visible)| {
                        let public = visible.contains(&Employee);
                        let named = answer.text.contains(email.as_str());
                        (named != public)
                            .then(|| format!("{name} {}", if named { "named" } else { "missing" }))
                    })
                    .collect();
                problems_to_result(problems)
            }
            _ => Ok(()),
        }
    }

    /// G's roster entries: name, id, email, and the roles that may see the entry.
    fn roster(&self, s: &Scene) -> Vec<(&'static str, Uuid, String, Vec<Role>)> {
        let signed_in = vec![Employee, Member, LeadG, LeadH, Hr, Admin];
        vec![
            (
                "the lead (public)",
                self.lead_g.id,
                self.lead_g.email.clone(),
                signed_in.clone(),
            ),
            (
                "a public member",
                s.public.id,
                s.public.email.clone(),
                signed_in,
            ),
            (
                "the member (members)",
                self.member.id,
                self.member.email.clone(),
                vec![Member, LeadG, Admin],
            ),
            (
                "a private member",
                s.private.id,
                s.private.email.clone(),
                vec![LeadG, Admin],
            ),
            (
                "a pending request",
                s.pending.id,
                s.pending.email.clone(),
                vec![LeadG, Admin],
            ),
        ]
    }

    /// `member_count` counts the active members the caller may see, and no other.
    fn member_count(&self, role: Role, s: &Scene, group: &Value) -> Result<(), String> {
        let expected = self
            .roster(s)
            .into_iter()
            .filter(|(name, ..)| *name != "a pending request")
            .filter(|(.., visible)| visible.contains(&role))
            .count();
        match group["member_count"].as_u64() {
            Some(n) if n as usize == expected => Ok(()),
            other => Err(format!("member_count {other:?}, {expected} visible")),
        }
    }
}

fn problems_to_result(problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Every operation of the served OpenAPI document, as `METHOD path`.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ] {
                if item.get(method).is_some() {
                    operations.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    operations
}

struct Mismatch {
    row: String,
    role: Role,
    expected: String,
    got: String,
    detail: String,
}

fn table(mismatches: &[Mismatch]) -> String {
    let width = mismatches.iter().map(|m| m.row.len()).max().unwrap_or(0);
    let mut out = String::new();
    for m in mismatches {
        let _ = writeln!(
            out,
            "  {:width$}  {:11}  expected {:4} got {:4}  {}",
            m.row,
            m.role.name(),
            m.expected,
            m.got,
            m.detail
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_each_role_as_the_rules_say() {
    let world = World::new().await;

    // The table and the served document list the same operations.
    let (status, document) = world.app.get("/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let served = operations(&document);
    assert!(served.len() > 40, "{served:?}");
    let tabled: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let mut stale = String::new();
    for (method, path) in served.difference(&tabled) {
        let _ = writeln!(stale, "  no row for {method} {path}");
    }
    for (method, path) in tabled.difference(&served) {
        let _ = writeln!(
            stale,
            "  a row for {method} {path}, which the document lacks"
        );
    }
    for row in MATRIX {
        if let Err(e) = row.outcomes() {
            let _ = writeln!(stale, "  {}: {e}", row.label());
        }
    }
    assert!(
        stale.is_empty(),
        "the access matrix and the OpenAPI document disagree:\n{stale}"
    );

    // Every row for every role.
    let shared = world.scene(true).await;
    let mut mismatches = Vec::new();
    let mut calls = 0;
    for row in MATRIX {
        let outcomes = row.outcomes().unwrap();
        // A row that changes what the next caller finds runs on a scene of its own for each
        // (built together: they touch nothing in common).
        let own: Vec<Scene> = if row.fresh {
            join_all(ROLES.map(|_| world.scene(false))).await
        } else {
            Vec::new()
        };
        for (i, (role, expected)) in ROLES.into_iter().zip(outcomes).enumerate() {
            let scene = own.get(i).unwrap_or(&shared);
            let Some(req) = world.request(row, role, scene).await else {
                mismatches.push(Mismatch {
                    row: row.label(),
                    role,
                    expected: expected.show(),
                    got: "-".into(),
                    detail: "no request is written for this row".into(),
                });
                continue;
            };
            let answer = world.send(row.method, &req, world.token(role)).await;
            calls += 1;
            let verdict = if !expected.admits(answer.status) {
                // The start of the answer, on one line.
                Err(answer
                    .text
                    .chars()
                    .take(160)
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect())
            } else if answer.status.is_success() {
                world.check(row, role, scene, &answer)
            } else {
                Ok(())
            };
            if let Err(detail) = verdict {
                mismatches.push(Mismatch {
                    row: row.label(),
                    role,
                    expected: expected.show(),
                    got: answer.status.as_u16().to_string(),
                    detail: format!("{}: {detail}", req.path),
                });
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {calls} calls differ from the access rules:\n{}",
        mismatches.len(),
        table(&mismatches)
    );
}
