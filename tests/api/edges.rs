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
