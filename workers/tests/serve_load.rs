//! `ferry serve` under load and under kill -9: fifty clients importing, answering, starting
//! and reading while a provisioning of 2,000 targets runs in the server (every request
//! answered, every step once, replay identical); a server killed mid-provisioning resumes it
//! after a restart without importing any target twice.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
    #[allow(dead_code)]
    pub mod server;
}

use std::sync::atomic::{AtomicUsize, Ordering};

use common::cli::{text, user, Ferry, WORKFLOW};
use common::server::Server;
use serde_json::{json, Value};

/// A package that needs no input: an app calling a flow that uses no connection.
fn package(f: &Ferry) -> Vec<u8> {
    f.ok("tenant create vendor");
    f.ok("env create vendor/dev --default");
    user(f, "vendor/ann", "plan2", &["vendor/dev"]);
    f.write("wf.json", WORKFLOW);
    f.ok("flow create vendor/dev Approve --definition wf.json --as vendor/ann");
    f.ok("app create vendor/dev Portal --flow Approve --as vendor/ann");
    f.ok("export vendor/dev --app Portal --as vendor/ann --name Portal --out portal.zip");
    std::fs::read(f.path("portal.zip")).unwrap()
}

fn targets(count: usize) -> String {
    let mut csv = String::from("tenant,environment\n");
    for n in 0..count {
        csv.push_str(&format!("t{n:05},prod\n"));
    }
    csv
}

fn provision(server: &Server, operator: &str, package: &[u8], count: usize) -> String {
    use base64::Engine as _;
    let started = server.send(
        "POST",
        "/v1/provisions",
        Some(operator),
        &json!({
            "package_base64": base64::engine::general_purpose::STANDARD.encode(package),
            "targets": targets(count),
            "create_envs": true,
            "concurrency": 16,
        }),
    );
    assert_eq!(started.status, 202, "{}", started.text);
    text(&started.body, "provision")
}

fn wait_for_run(server: &Server, operator: &str, id: &str) -> Value {
    let path = format!("/v1/provisions/{id}");
    server.wait_within("the provisioning run to end", 900, |s| {
        s.get(&path, Some(operator)).body["running"] == false
    });
    server.get(&path, Some(operator)).body
}

fn load_targets() -> usize {
    std::env::var("FERRY_LOAD_TARGETS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn fifty_clients_are_all_answered_while_a_provisioning_runs_and_nothing_runs_twice() {
    let f = Ferry::new();
    let package = package(&f);
    f.ok("tenant create cust");
    for n in 0..50 {
        f.ok(&format!("env create cust/e{n:02}"));
    }
    user(&f, "cust/bob", "plan2", &[]);
    for n in 0..50 {
        f.ok(&format!("grant cust/bob environment-maker cust/e{n:02}"));
    }
    let operator = text(&f.json("token create --operator"), "token");
    let bob = text(&f.json("token create cust/bob"), "token");
    let server = Server::start(&f);
    let count = load_targets();
    let run = provision(&server, &operator, &package, count);

    let answered = AtomicUsize::new(0);
    let imports: Vec<String> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..50)
            .map(|n| {
                let (server, bob, package, answered, run, operator) =
                    (&server, &bob, &package, &answered, &run, &operator);
                scope.spawn(move || {
                    let ok = |reply: &common::server::Reply, what: &str| {
                        assert!(
                            (200..300).contains(&reply.status),
                            "client {n}: {what}: {} {}",
                            reply.status,
                            reply.text
                        );
                        answered.fetch_add(1, Ordering::Relaxed);
                    };
                    let env = format!("/v1/environments/cust/e{n:02}");
                    let review = server.upload(&format!("{env}/imports"), bob, package, &[]);
                    ok(&review, "upload");
                    let id = text(&review.body, "migration");
                    // Nothing to answer in this package: an empty answer is refused, a real
                    // one would be recorded; both are requests that must be answered.
                    let refused = server.send(
                        "POST",
                        &format!("/v1/imports/{id}/answers"),
                        Some(bob),
                        &json!({"answers": []}),
                    );
                    assert_eq!(refused.status, 400, "client {n}: {}", refused.text);
                    answered.fetch_add(1, Ordering::Relaxed);
                    ok(
                        &server.get(&format!("/v1/imports/{id}/review"), Some(bob)),
                        "review",
                    );
                    ok(
                        &server.send(
                            "POST",
                            &format!("/v1/imports/{id}/start"),
                            Some(bob),
                            &json!({}),
                        ),
                        "start",
                    );
                    ok(
                        &server.get(&format!("/v1/provisions/{run}"), Some(operator)),
                        "run state",
                    );
                    ok(
                        &server.get(&format!("{env}/resources"), Some(bob)),
                        "resources",
                    );
                    ok(
                        &server.get(&format!("/v1/imports/{id}"), Some(bob)),
                        "status",
                    );
                    id
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert_eq!(answered.load(Ordering::Relaxed), 50 * 7);
    let state = wait_for_run(&server, &operator, &run);
    assert_eq!(state["done"], count, "{state}");
    assert_eq!(state["error"], Value::Null, "{state}");
    for id in &imports {
        let done = server.events(&format!("/v1/imports/{id}/events"), &bob);
        assert_eq!(done.last().unwrap()["state"], "completed", "{id}: {done:?}");
    }
    assert_eq!(server.stop(), 0);
    // Every step once: replaying every decision from the log gives what it records, and no
    // item of any import has two outcomes.
    let replay = f.json("audit replay --all");
    assert_eq!(replay["identical"], true, "{replay}");
    assert_eq!(replay["migrations"], count + 50, "{replay}");
    assert_eq!(f.json("audit verify")["intact"], true);
}

#[test]
fn a_server_killed_mid_provisioning_resumes_it_and_imports_no_target_twice() {
    let f = Ferry::new();
    let package = package(&f);
    let operator = text(&f.json("token create --operator"), "token");
    let server = Server::start(&f);
    let count = 1000;
    let run = provision(&server, &operator, &package, count);
    server.wait_until("some targets to be done", |s| {
        s.get(&format!("/v1/provisions/{run}"), Some(&operator))
            .body["done"]
            .as_u64()
            .is_some_and(|d| d >= 40)
    });
    drop(server); // SIGKILL
    let server = Server::start(&f);
    let at_restart = server
        .get(&format!("/v1/provisions/{run}"), Some(&operator))
        .body;
    assert_eq!(at_restart["running"], false, "{at_restart}");
    assert!(
        at_restart["done"].as_u64().unwrap() < count as u64,
        "the kill came after the run ended: {at_restart}"
    );
    let resumed = server.send(
        "POST",
        &format!("/v1/provisions/{run}/resume"),
        Some(&operator),
        &json!({}),
    );
    assert_eq!(resumed.status, 202, "{}", resumed.text);
    let state = wait_for_run(&server, &operator, &run);
    assert_eq!(state["done"], count, "{state}");
    assert_eq!(server.stop(), 0);
    let replay = f.json("audit replay --all");
    assert_eq!(replay["identical"], true, "{replay}");
    // One import per target: the imports are the run's, each recorded once.
    assert_eq!(replay["migrations"], count, "{replay}");
    let imports = f.json(&format!("status --limit {count}"));
    assert_eq!(imports.as_array().unwrap().len(), count);
    assert!(imports
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["state"] == "completed"));
    assert_eq!(f.json("audit verify")["intact"], true);
}

#[test]
fn a_provisioning_runs_totals_stream_live_until_the_run_is_settled() {
    let f = Ferry::new();
    let package = package(&f);
    let operator = text(&f.json("token create --operator"), "token");
    let server = Server::start(&f);
    let count = 120;
    let run = provision(&server, &operator, &package, count);
    let events = server.events(&format!("/v1/provisions/{run}/events"), &operator);
    assert!(events.len() >= 2, "{events:?}");
    let done: Vec<u64> = events.iter().map(|e| e["done"].as_u64().unwrap()).collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");
    assert_eq!(events[0]["provision"], run.as_str());
    let last = events.last().unwrap();
    assert_eq!(
        (&last["running"], &last["done"], &last["not_run"]),
        (&json!(false), &json!(count), &json!(0)),
        "{last}"
    );
    // The same as a plain read, once settled; and a settled run's stream is one event.
    let state = server
        .get(&format!("/v1/provisions/{run}"), Some(&operator))
        .body;
    assert_eq!(&state, last);
    let again = server.events(&format!("/v1/provisions/{run}/events"), &operator);
    assert_eq!(again, vec![state]);
    // Another tenant's user has no stream of it.
    f.ok("tenant create cust");
    user(&f, "cust/eve", "plan2", &[]);
    let eve = text(&f.json("token create cust/eve"), "token");
    assert_eq!(
        server
            .get(&format!("/v1/provisions/{run}/events"), Some(&eve))
            .status,
        404
    );
    assert_eq!(server.stop(), 0);
}
