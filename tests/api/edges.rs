//! The edges of the protocol and of parsing: slow and careless clients, spoken to with raw
//! sockets where an HTTP client would hide what goes over the wire. Every error answer is
//! checked to be problem+json.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// An answer read off the wire: status, lower-cased head, body.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn parse(bytes: &[u8]) -> Raw {
        let text = String::from_utf8_lossy(bytes).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {text:?}"));
        Raw {
            status,
            head: head.to_ascii_lowercase(),
            body: body.to_string(),
        }
    }

    /// Asserts a problem+json answer with `status` and answers its body.
    fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        assert!(
            self.head
                .contains("\r\ncontent-type: application/problem+json"),
            "{self:?}"
        );
        let problem: Value =
            serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"));
        assert_eq!(problem["status"], status, "{problem}");
        problem
    }
}

/// Sends `request` on a new connection and reads until the server closes it (or `within`).
async fn exchange(app: &TestApp, request: &[u8], within: Duration) -> Raw {
    let mut socket = TcpStream::connect(addr(app)).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = timeout(within, socket.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "no complete answer within {within:?}; got {:?}",
        String::from_utf8_lossy(&answer)
    );
    Raw::parse(&answer)
}

/// Reads from `socket` until the server closes it, failing after `deadline`.
async fn closed_by_server(socket: &mut TcpStream, deadline: Instant) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return seen,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open"),
        }
    }
}

#[tokio::test]
async fn clients_that_never_finish_their_headers_are_disconnected() {
    let app = spawn_app_with(|s| s.server.header_read_timeout_secs = 1).await;
    let mut slow = Vec::new();
    for i in 0..30 {
        let mut socket = TcpStream::connect(addr(&app)).await.unwrap();
        if i % 3 != 0 {
            socket
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        slow.push(socket);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for socket in &mut slow {
        closed_by_server(socket, deadline).await;
    }
    // The service still answers.
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_one_to_close() {
    let app = spawn_app_with(|s| {
        s.server.max_connections = 2;
        s.server.header_read_timeout_secs = 60;
    })
    .await;
    let mut first = TcpStream::connect(addr(&app)).await.unwrap();
    first.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let mut second = TcpStream::connect(addr(&app)).await.unwrap();
    second
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut third = TcpStream::connect(addr(&app)).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // Both places are taken: the third connection is not served while they are.
    let early = timeout(Duration::from_millis(700), third.read_to_end(&mut answer)).await;
    assert!(early.is_err(), "served beyond the cap: {answer:?}");
    drop(first);
    timeout(Duration::from_secs(10), third.read_to_end(&mut answer))
        .await
        .expect("a freed place serves the waiting connection")
        .unwrap();
    assert_eq!(Raw::parse(&answer).status, 200);
    drop(second);
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_at_once() {
    let app = spawn_app_with(|s| s.server.request_timeout_secs = 20).await;
    let quick = Duration::from_secs(5);
    let plain = exchange(
        &app,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 99999999999\r\n\r\n{}",
        quick,
    )
    .await;
    plain.problem(413);
    let expecting = exchange(
        &app,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 99999999999\r\nExpect: 100-continue\r\n\r\n",
        quick,
    )
    .await;
    assert!(!expecting.head.contains("100 continue"), "{expecting:?}");
    expecting.problem(413);
    // Within the limit, 100-continue still works.
    let body = r#"{"email":"nobody@example.com","password":"wrong password here"}"#;
    let mut socket = TcpStream::connect(addr(&app)).await.unwrap();
    socket
        .write_all(
            format!(
                "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = timeout(quick, socket.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 100"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    socket.write_all(body.as_bytes()).await.unwrap();
    let mut rest = Vec::new();
    timeout(quick, socket.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    let rest = String::from_utf8_lossy(&rest);
    let final_answer = &rest[rest.find("HTTP/1.1 4").unwrap()..];
    Raw::parse(final_answer.as_bytes()).problem(401);
}

#[tokio::test]
async fn a_request_that_runs_out_of_time_is_408() {
    let app = spawn_app_with(|s| s.server.request_timeout_secs = 1).await;
    let answer = exchange(
        &app,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 40\r\nConnection: close\r\n\r\n{\"",
        Duration::from_secs(10),
    )
    .await;
    answer.problem(408);
}

#[tokio::test]
async fn requests_hyper_cannot_parse_are_answered_as_problems() {
    let app = spawn_app().await;
    let within = Duration::from_secs(10);
    let bad_bytes = exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n",
        within,
    )
    .await;
    bad_bytes.problem(400);
    let bad_name = exchange(&app, b"GET /healthz HTTP/1.1\r\nHo st: x\r\n\r\n", within).await;
    bad_name.problem(400);
    let long_uri = format!(
        "GET /api/v1/groups?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(9000)
    );
    exchange(&app, long_uri.as_bytes(), within)
        .await
        .problem(414);
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    exchange(&app, big_header.as_bytes(), within)
        .await
        .problem(431);
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n");
    exchange(&app, many.as_bytes(), within).await.problem(431);
    // The service is unharmed.
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn request_ids_are_echoed_only_when_short_and_plain() {
    let app = spawn_app().await;
    let id_of = |sent: &str| {
        let request = app
            .client
            .get(format!("{}/healthz", app.base))
            .header("x-request-id", sent);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(id_of("trace-1234.abc").await, "trace-1234.abc");
    for unfit in ["x".repeat(5000), "a b".into(), "<script>".into()] {
        let got = id_of(&unfit).await;
        assert_ne!(got, unfit);
        assert!(uuid::Uuid::parse_str(&got).is_ok(), "{got}");
    }
}

/// Sends `body` as it is, with a JSON content type; error answers must be problem+json.
async fn send_text(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    if status.is_client_error() || status.is_server_error() {
        assert!(
            content_type.starts_with("application/problem+json"),
            "{status} as {content_type:?}: {text}"
        );
    }
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn names_body(problem: &Value) -> bool {
    problem["errors"]
        .as_array()
        .is_some_and(|errors| errors.iter().any(|e| e["field"] == "body"))
}

#[tokio::test]
async fn a_body_is_one_json_object_and_nothing_more() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let member = app.user("Mo Member").await;
    let join = "/api/v1/groups/pride/membership";
    for body in [
        r#"{"type":"ally"} xx"#,
        r#"{"type":"ally"}{"type":"member"}"#,
        r#"["ally","private"]"#,
        "[]",
        r#""ally""#,
    ] {
        let (status, problem) = send_text(
            &app,
            reqwest::Method::PUT,
            join,
            Some(&member.token),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert!(names_body(&problem), "{body}: {problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(!detail.contains("struct"), "{detail}");
    }
    assert!(app.membership_rows("pride").await.is_empty());
    app.register("sam@example.com").await;
    let (status, problem) = send_text(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/login",
        None,
        Some(r#"["sam@example.com","correct horse battery"]"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(names_body(&problem), "{problem}");
    // Whitespace around the object is fine.
    let (status, _) = send_text(
        &app,
        reqwest::Method::PUT,
        join,
        Some(&member.token),
        Some(" {\"type\":\"ally\"}\n"),
    )
    .await;
    assert!(status.is_success(), "{status}");
}

#[tokio::test]
async fn events_state_their_audience_and_instants_their_offset() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let path = "/api/v1/groups/pride/events";
    let start = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let at = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let date = start.date().to_string();
    let cases = [
        (
            json!({"title": "Picnic", "starts_at": at(start), "ends_at": at(start + time::Duration::hours(2))}),
            "audience",
        ),
        (
            json!({"title": "Picnic", "starts_at": date, "ends_at": at(start + time::Duration::hours(2)), "audience": "members"}),
            "starts_at",
        ),
        (
            json!({"title": "Picnic", "starts_at": at(start),
                   "ends_at": format!("{date}T23:00:00"), "audience": "members"}),
            "ends_at",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = app.post(path, Some(&admin.token), body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{body}: {problem}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    // An offset other than Z is one instant like any other.
    let (status, event) = app
        .post(
            path,
            Some(&admin.token),
            json!({"title": "Picnic", "starts_at": format!("{date}T18:00:00+02:00"),
                   "ends_at": format!("{date}T20:00:00+02:00"), "audience": "members"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    assert_eq!(event["starts_at"], json!(format!("{date}T16:00:00Z")));
}

#[tokio::test]
async fn optional_bodies_may_be_left_out() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let mentor = app.user("Mina Mentor").await;
    app.join(&mentor, "pride", "member", Some("public")).await;
    let mentee = app.user("Tess Mentee").await;
    app.join(&mentee, "pride", "member", Some("members")).await;
    let (status, offer) = app
        .post(
            "/api/v1/groups/pride/mentoring-offers",
            Some(&admin.token),
            json!({"title": "Careers", "slots": 2, "mentor_id": mentor.id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{offer}");
    let requests = format!(
        "/api/v1/mentoring-offers/{}/requests",
        offer["id"].as_str().unwrap()
    );
    let (status, request) = send_text(
        &app,
        reqwest::Method::POST,
        &requests,
        Some(&mentee.token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(request["status"], "pending");
    // A body that is sent still follows the rules.
    let other = app.user("Otto Other").await;
    app.join(&other, "pride", "ally", None).await;
    let (status, problem) = send_text(
        &app,
        reqwest::Method::POST,
        &requests,
        Some(&other.token),
        Some("[]"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let start = time::OffsetDateTime::now_utc() + time::Duration::days(3);
    let at = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (status, event) = app
        .post(
            "/api/v1/groups/pride/events",
            Some(&admin.token),
            json!({"title": "Coffee", "starts_at": at(start),
                   "ends_at": at(start + time::Duration::hours(1)), "audience": "everyone"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let rsvp = format!("/api/v1/events/{}/rsvp", event["id"].as_str().unwrap());
    let (status, answer) =
        send_text(&app, reqwest::Method::PUT, &rsvp, Some(&mentee.token), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "going");
    let (status, answer) = send_text(
        &app,
        reqwest::Method::PUT,
        &rsvp,
        Some(&other.token),
        Some("{}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn a_wrong_password_is_not_called_a_missing_token() {
    let app = spawn_app().await;
    app.register("sam@example.com").await;
    let (status, problem) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "sam@example.com", "password": "not the password at all"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let detail = problem["detail"].as_str().unwrap();
    assert!(!detail.contains("token"), "{detail}");
    assert!(detail.contains("password"), "{detail}");
    // Nor is a refresh token that is not (or no longer) good.
    let (status, problem) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": "not-a-refresh-token"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let detail = problem["detail"].as_str().unwrap();
    assert!(!detail.contains("access token"), "{detail}");
    assert!(detail.contains("refresh token"), "{detail}");
}

#[tokio::test]
async fn names_cannot_hide_or_reverse_text() {
    let app = spawn_app().await;
    let register = |email: &'static str, name: &'static str| {
        app.post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": "correct horse battery", "display_name": name}),
        )
    };
    for (i, name) in [
        "\u{202e}gnp.exe\u{202c} Bob",
        "Bob\u{2066}",
        "Bo\u{200b}b",
        "\u{feff}Bob",
        "Bob\u{7}",
    ]
    .into_iter()
    .enumerate()
    {
        let email: &'static str = Box::leak(format!("bob{i}@example.com").into_boxed_str());
        let (status, problem) = register(email, name).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name:?}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], "display_name", "{problem}");
    }
    // Scripts that need the joiners keep them.
    let (status, user) = register("mina@example.com", "می\u{200c}خواهم").await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let admin = app.admin().await;
    // The rule is the one for all text: a group's name too.
    let (status, problem) = app
        .post(
            "/api/v1/groups",
            Some(&admin.token),
            json!({"slug": "pride", "name": "Pride\u{202e}", "tagline": "t", "mission": "m",
                   "join_policy": "open"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "name", "{problem}");
}

#[tokio::test]
async fn one_mailbox_is_one_account_however_its_domain_is_written() {
    let app = spawn_app().await;
    let register = |email: &str| {
        app.post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": "correct horse battery", "display_name": "Sami Kim"}),
        )
    };
    let (status, user) = register("sami.kim@bélong.example").await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["email"], "sami.kim@xn--blong-bsa.example");
    let (status, problem) = register("Sami.Kim@XN--BLONG-BSA.example").await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, problem) = register("sami.kim@BÉLONG.example").await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    for email in ["sami.kim@xn--blong-bsa.example", "sami.kim@bélong.example"] {
        let (status, tokens) = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{email}: {tokens}");
    }
    // A local part mixing alphabets imitates another address: refused.
    let (status, problem) = register("\u{0455}ami.kim@bélong.example").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "email", "{problem}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}
