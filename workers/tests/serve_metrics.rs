//! `ferry serve` for operators: `GET /metrics` in Prometheus's text format (requests by route
//! and status, migrations, log appends and durability latency) and one structured log line per
//! request, through a real server and a real HTTP client.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
    #[allow(dead_code)]
    pub mod server;
}

use common::cli::{customer, export, text, vendor, Ferry};
use common::server::Server;
use serde_json::Value;

fn token(f: &Ferry, line: &str) -> String {
    text(&f.json(&format!("token create {line}")), "token")
}

#[test]
fn the_operator_scrapes_requests_migrations_and_the_logs_latency_and_every_request_is_logged() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let bob = token(&f, "cust/bob");
    let operator = token(&f, "--operator");
    let server = Server::start(&f);
    let package = std::fs::read(f.path("pkg.zip")).unwrap();
    let uploaded = server.upload("/v1/environments/cust/prod/imports", &bob, &package, &[]);
    assert_eq!(uploaded.status, 201, "{}", uploaded.text);

    assert_eq!(server.get("/metrics", Some(&bob)).status, 403);
    assert_eq!(server.get("/metrics", None).status, 401);
    let scraped = server.get("/metrics", Some(&operator));
    assert_eq!(scraped.status, 200);
    assert!(
        scraped.content_type.starts_with("text/plain"),
        "{}",
        scraped.content_type
    );
    let value = |name: &str| -> f64 {
        let line = scraped
            .text
            .lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .unwrap_or_else(|| panic!("no {name} in\n{}", scraped.text));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let upload = "ferry_http_requests_total{method=\"POST\",\
                  route=\"/v1/environments/{tenant}/{environment}/imports\",status=\"201\"}";
    assert_eq!(value(upload), 1.0);
    assert_eq!(value("ferry_migrations{state=\"in review\"}"), 1.0);
    // The import's one append since the server started, made durable once at least.
    assert!(value("ferry_log_appends_total") >= 1.0);
    assert!(value("ferry_log_records_appended_total") >= 1.0);
    let durable = if scraped.text.contains("ferry_log_produce_duration_seconds") {
        "ferry_log_produce_duration_seconds"
    } else {
        "ferry_log_fsync_duration_seconds"
    };
    assert!(value(&format!("{durable}_count")) >= 1.0);
    assert_eq!(
        value(&format!("{durable}_bucket{{le=\"+Inf\"}}")),
        value(&format!("{durable}_count"))
    );
    assert_eq!(value("ferry_log{measure=\"projection_lag\"}"), 0.0);

    // Every request is one JSON line of the server's log, with its route and status.
    let logged = std::fs::read_to_string(f.path("server.log")).unwrap();
    let requests: Vec<Value> = logged
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "request")
        .collect();
    assert!(
        requests.iter().any(
            |r| r["route"] == "/v1/environments/{tenant}/{environment}/imports"
                && r["status"] == "201"
        ),
        "{logged}"
    );
    assert!(requests.iter().any(|r| r["status"] == "403"));
}
