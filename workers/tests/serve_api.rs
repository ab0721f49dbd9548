//! `ferry serve` end to end, through a real HTTP client: the import path for token holders,
//! the OpenAPI document, idempotent uploads, live results, and the isolation matrix — every
//! documented route with another tenant's token, without a token, with a revoked or expired
//! one — built from the OpenAPI document itself, so a new route is covered as soon as it exists.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
    pub mod server;
}

use common::cli::{connections, customer, export, item, text, user, vendor, Ferry};
use common::server::Server;
use serde_json::{json, Value};

fn token(f: &Ferry, line: &str) -> String {
    text(&f.json(&format!("token create {line}")), "token")
}

#[test]
fn a_package_moves_through_the_api_for_the_holders_of_tokens() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let bob = connections(&f, "cust/prod", "cust/bob");
    let bob_token = token(&f, "cust/bob");
    let server = Server::start(&f);
    let package = std::fs::read(f.path("pkg.zip")).unwrap();

    let uploaded = server.upload(
        "/v1/environments/cust/prod/imports",
        &bob_token,
        &package,
        &[],
    );
    assert_eq!(uploaded.status, 201, "{}", uploaded.text);
    let migration = text(&uploaded.body, "migration");
    assert_eq!(
        uploaded.location.as_deref(),
        Some(&*format!("/v1/imports/{migration}"))
    );
    assert_eq!(uploaded.body["state"], "in review");
    assert_eq!(uploaded.body["pending"], 2);
    let connection = item(&uploaded.body, "a@vendor.example");
    assert_eq!(
        connection["candidates"][0]["id"],
        json!(bob.0),
        "{connection}"
    );

    let early = server.send(
        "POST",
        &format!("/v1/imports/{migration}/start"),
        Some(&bob_token),
        &json!({}),
    );
    assert_eq!(early.status, 409, "{}", early.text);
    assert_eq!(early.body["code"], "needs-input");
    assert_eq!(early.content_type, "application/problem+json");

    let answers = json!({"answers": [
        {"item": "a@vendor.example", "choice": format!("existing:{}", bob.0)},
        {"item": "s@vendor.example", "choice": format!("existing:{}", bob.1)},
    ]});
    let answered = server.send(
        "POST",
        &format!("/v1/imports/{migration}/answers"),
        Some(&bob_token),
        &answers,
    );
    assert_eq!(answered.status, 200, "{}", answered.text);
    assert_eq!(answered.body["pending"], 0);

    let started = server.send(
        "POST",
        &format!("/v1/imports/{migration}/start"),
        Some(&bob_token),
        &json!({}),
    );
    assert_eq!(started.status, 202, "{}", started.text);
    assert_eq!(
        started.location.as_deref(),
        Some(&*format!("/v1/imports/{migration}"))
    );

    // The server's own workers run it; the live stream ends once it is completed.
    let events = server.events(&format!("/v1/imports/{migration}/events"), &bob_token);
    let last = events.last().unwrap();
    assert_eq!(last["state"], "completed", "{events:?}");
    let status = server.get(&format!("/v1/imports/{migration}"), Some(&bob_token));
    assert_eq!(status.body, *last);
    for item in status.body["items"].as_array().unwrap() {
        assert!(
            ["created", "bound", "registered"].contains(&item["outcome"].as_str().unwrap()),
            "{item}"
        );
    }
    let resources = server.get(
        "/v1/environments/cust/prod/resources?kind=app",
        Some(&bob_token),
    );
    assert_eq!(resources.status, 200, "{}", resources.text);
    let apps: Vec<_> = resources
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| text(r, "name"))
        .collect();
    assert_eq!(apps, ["Expenses"]);
    // The CLI's view of the log equals the server's, once the server is gone.
    assert_eq!(server.stop(), 0);
    let cli = f.json(&format!("status {migration}"));
    assert_eq!(cli, status.body);
}

#[test]
fn a_retried_upload_with_the_same_idempotency_key_is_the_same_import() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let bob = token(&f, "cust/bob");
    let server = Server::start(&f);
    let package = std::fs::read(f.path("pkg.zip")).unwrap();
    let path = "/v1/environments/cust/prod/imports";
    let first = server.upload(path, &bob, &package, &[("Idempotency-Key", "k-1")]);
    let again = server.upload(path, &bob, &package, &[("Idempotency-Key", "k-1")]);
    let other = server.upload(path, &bob, &package, &[("Idempotency-Key", "k-2")]);
    assert_eq!((first.status, again.status, other.status), (201, 201, 201));
    assert_eq!(first.body["migration"], again.body["migration"]);
    assert_ne!(first.body["migration"], other.body["migration"]);
    let listed = server.get("/v1/imports", Some(&bob));
    assert_eq!(listed.body.as_array().unwrap().len(), 2, "{}", listed.text);
}

#[test]
fn a_retried_export_with_the_same_idempotency_key_is_the_same_export() {
    let f = Ferry::new();
    vendor(&f);
    f.ok("app create vendor/dev Other --as vendor/ann");
    let ann = token(&f, "vendor/ann");
    let server = Server::start(&f);
    let path = "/v1/environments/vendor/dev/exports";
    let export = |app: &str, key: &str| {
        server.post_with(
            path,
            &ann,
            &json!({"app": app, "name": app}),
            &[("Idempotency-Key", key)],
        )
    };
    let first = export("Expenses", "e-1");
    let again = export("Expenses", "e-1");
    assert_eq!((first.status, again.status), (201, 201), "{}", again.text);
    assert_eq!(
        first.body, again.body,
        "the same migration, package and resources"
    );
    assert_eq!(first.location, again.location);
    let other = export("Expenses", "e-2");
    assert_ne!(first.body["migration"], other.body["migration"]);
    // The key names one request: another app under it is refused, nothing written.
    let reused = export("Other", "e-1");
    assert_eq!(reused.status, 409, "{}", reused.text);
    assert_eq!(reused.body["code"], "idempotency-key-reused");
    let exports: Value = serde_json::from_str(&f.ok("audit log --format json")).unwrap();
    let requested = exports
        .as_array()
        .unwrap()
        .iter()
        .filter(|fact| fact["action"] == "export requested")
        .count();
    assert_eq!(requested, 2, "{exports}");
}

#[test]
fn the_openapi_document_describes_every_route_the_server_answers() {
    let f = Ferry::new();
    let server = Server::start(&f);
    let doc = server.get("/v1/openapi.json", None);
    assert_eq!(doc.status, 200);
    assert!(
        doc.body["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc.text
    );
    let operations = operations(&doc.body);
    assert!(operations.len() >= 25, "{operations:?}");
    for (method, path, operation) in &operations {
        assert!(
            operation["operationId"].is_string(),
            "{method} {path} has no operationId"
        );
        assert!(
            !operation["responses"].as_object().unwrap().is_empty(),
            "{method} {path} documents no response"
        );
        // Every documented route exists: the router answers it with something other than 404
        // or 405 for a made-up id (a problem for the missing thing, or 401 without a token).
        let concrete = fill(path, &Victim::dummy());
        let reply = if method == "GET" {
            server.get(&concrete, None)
        } else {
            server.send(method, &concrete, None, &json!({}))
        };
        assert!(
            ![404, 405].contains(&reply.status) || reply.content_type == "application/problem+json",
            "{method} {path}: {} {}",
            reply.status,
            reply.text
        );
    }
}

/// Every operation of the document: `(METHOD, path, operation)`.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                found.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

/// What the victim tenant holds, to aim every route at.
struct Victim {
    tenant: String,
    environment: String,
    migration: String,
    resource: String,
    token: String,
    /// An export of the victim's.
    export: String,
    /// A provisioning run of the victim's.
    provision: String,
    /// A package, base64, for uploads in JSON.
    package_base64: String,
    /// Strings that must never appear in a reply to the attacker.
    markers: Vec<String>,
}

impl Victim {
    fn dummy() -> Victim {
        Victim {
            tenant: "nobody".into(),
            environment: "nowhere".into(),
            migration: "01a00000-0000-7000-8000-000000000000".into(),
            resource: "01a00000-0000-7000-8000-000000000001".into(),
            token: "01a00000-0000-7000-8000-000000000002".into(),
            export: "01a00000-0000-7000-8000-000000000003".into(),
            package_base64: String::new(),
            provision: "01a00000-0000-7000-8000-000000000004".into(),
            markers: Vec::new(),
        }
    }
}

fn fill(path: &str, victim: &Victim) -> String {
    let path = if path.starts_with("/v1/exports/") {
        path.replace("{migration}", &victim.export)
    } else {
        path.to_owned()
    };
    path.replace("{tenant}", &victim.tenant)
        .replace("{environment}", &victim.environment)
        .replace("{migration}", &victim.migration)
        .replace("{resource}", &victim.resource)
        .replace("{token}", &victim.token)
        .replace("{provision}", &victim.provision)
        .replace("{key}", &"ab".repeat(32))
        .replace("{user}", "bob")
}

/// A plausible body for each operation, aimed at the victim.
fn body(operation: &str, victim: &Victim) -> Value {
    match operation {
        "createTenant" | "createEnvironment" => json!({"name": "attack"}),
        "createUser" => json!({"name": "attack", "license": "plan2"}),
        "setLicense" => json!({"license": "none"}),
        "grant" | "revoke" => {
            json!({"user": "mallory/mal", "role": "environment-maker", "target": format!("{}/{}", victim.tenant, victim.environment)})
        }
        "createToken" => json!({"user": format!("{}/bob", victim.tenant)}),
        "answerImport" => {
            json!({"answers": [{"item": "a@vendor.example", "choice": format!("existing:{}", victim.resource)}]})
        }
        "publishResource" => json!({"resource": victim.resource}),
        "createApp" => json!({"name": "attack"}),
        "editApp" => json!({}),
        "createFlow" => json!({"name": "attack", "definition": "{}"}),
        "createConnector" | "createGateway" => json!({"name": "attack"}),
        "createConnection" => json!({"connector": "shared_office365", "account": "mal@attack"}),
        "exportApp" => json!({"app": victim.resource, "name": "stolen"}),
        // Lifting the victim's policy, trusting the attacker's key there.
        "setImportPolicy" => json!({"require_signed": false}),
        "trustKey" => json!({"key": "ab".repeat(32), "name": "attacker"}),
        // A run of the attacker's own, aimed at the victim's environment.
        "provision" => json!({
            "package_base64": victim.package_base64,
            "targets": format!("tenant,environment\n{},{}\n", victim.tenant, victim.environment),
        }),
        _ => json!({}),
    }
}

#[test]
fn no_route_gives_another_tenants_user_or_a_bad_token_anything_of_a_tenant() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let bob = connections(&f, "cust/prod", "cust/bob");
    let review = f.json_code(3, "import pkg.zip --into cust/prod --as cust/bob");
    let exported = f.json("export vendor/dev --app Expenses --as vendor/ann --name E --out e.zip");
    f.write("targets.csv", b"tenant,environment\ncust,prod\n");
    let provisioned = f.json_code(3, "provision pkg.zip --targets targets.csv");
    f.ok("tenant create mallory");
    f.ok("env create mallory/dev");
    user(&f, "mallory/mal", "plan2", &["mallory/dev"]);
    let bob_token = f.json("token create cust/bob");
    let mal = token(&f, "mallory/mal");
    let revoked = f.json("token create mallory/mal");
    f.ok(&format!("token revoke {}", text(&revoked, "id")));
    let expired = token(&f, "mallory/mal --expires 1s");
    let tenants = f.json("tenant list");
    let cust = tenants
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "cust")
        .unwrap();
    let environments = f.json("env list cust");
    let victim = Victim {
        tenant: "cust".into(),
        environment: "prod".into(),
        migration: text(&review, "migration"),
        resource: bob.0.clone(),
        token: text(&bob_token, "id"),
        export: text(&exported, "migration"),
        provision: text(&provisioned, "provision"),
        package_base64: {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .encode(std::fs::read(f.path("pkg.zip")).unwrap())
        },
        markers: vec![
            text(cust, "id"),
            text(&environments[0], "id"),
            text(&review, "migration"),
            bob.0.clone(),
            bob.1.clone(),
            "cust/bob".into(),
        ],
    };
    let server = Server::start(&f);
    let package = std::fs::read(f.path("pkg.zip")).unwrap();
    let before = server.get(
        &format!("/v1/imports/{}/review", victim.migration),
        Some(&text(&bob_token, "token")),
    );
    assert_eq!(before.status, 200);
    server.wait_until("the short-lived token to expire", |s| {
        s.get("/v1/tenants", Some(&expired)).status == 401
    });

    let doc = server.get("/v1/openapi.json", None).body;
    let open = ["/healthz", "/readyz", "/v1/openapi.json"];
    let mut checked = 0;
    for (method, path, operation) in operations(&doc) {
        if open.contains(&path.as_str()) {
            continue;
        }
        let id = text(&operation, "operationId");
        let concrete = fill(&path, &victim);
        let call = |token: Option<&str>| {
            if id == "importPackage" || id == "inspectPackage" {
                // The server refuses a bad token before it reads a body: send none then, so
                // the refusal is not cut off by a connection reset.
                let body: &[u8] = if token == Some(mal.as_str()) {
                    &package
                } else {
                    &[]
                };
                server.upload(&concrete, token.unwrap_or("none"), body, &[])
            } else if method == "GET" {
                server.get(&concrete, token)
            } else {
                server.send(&method, &concrete, token, &body(&id, &victim))
            }
        };
        for (who, token) in [
            ("no token", None),
            ("a revoked token", Some(text(&revoked, "token"))),
            ("an expired token", Some(expired.clone())),
            ("a malformed token", Some("ferry_nonsense".to_owned())),
        ] {
            let reply = call(token.as_deref());
            assert_eq!(
                reply.status, 401,
                "{method} {path} with {who}: {}",
                reply.text
            );
            assert_eq!(reply.content_type, "application/problem+json");
        }
        let reply = call(Some(&mal));
        if id == "provision" {
            // The attacker's own run: the victim's environment does not exist for it.
            assert_eq!(reply.status, 202, "{}", reply.text);
            let run = text(&reply.body, "provision");
            server.wait_until("the attacker's run to end", |s| {
                s.get(&format!("/v1/provisions/{run}"), Some(&mal)).body["running"] == false
            });
            let targets = server.get(&format!("/v1/provisions/{run}/targets"), Some(&mal));
            let reason = text(&targets.body["targets"][0], "reason");
            assert!(reason.contains("does not exist"), "{reason}");
            checked += 1;
            continue;
        }
        // What the attacker sent may come back (a 404 names the id asked for); nothing else.
        let sent = format!("{concrete} {}", body(&id, &victim));
        let leaked: Vec<_> = victim
            .markers
            .iter()
            .filter(|m| reply.text.contains(m.as_str()) && !sent.contains(m.as_str()))
            .collect();
        assert!(
            [403, 404].contains(&reply.status) || (reply.status == 200 && leaked.is_empty()),
            "{method} {path} as another tenant's user: {} {}",
            reply.status,
            reply.text
        );
        assert!(
            leaked.is_empty(),
            "{method} {path} leaked {leaked:?}: {}",
            reply.text
        );
        checked += 1;
    }
    assert!(checked >= 22, "only {checked} routes checked");
    // Nothing the attacker sent took effect.
    let after = server.get(
        &format!("/v1/imports/{}/review", victim.migration),
        Some(&text(&bob_token, "token")),
    );
    assert_eq!(after.body, before.body);
    let cust_envs = server.get(
        "/v1/tenants/cust/environments",
        Some(&text(&bob_token, "token")),
    );
    assert_eq!(
        cust_envs.body.as_array().unwrap().len(),
        1,
        "{}",
        cust_envs.text
    );
}

/// `POST` as `token`, expecting `status`; returns the body.
fn post(server: &Server, token: &str, path: &str, body: Value, status: u16) -> Value {
    let reply = server.send("POST", path, Some(token), &body);
    assert_eq!(reply.status, status, "POST {path}: {}", reply.text);
    reply.body
}

#[test]
fn the_demo_scenario_runs_end_to_end_for_clients_holding_tokens() {
    let f = Ferry::new();
    let operator = token(&f, "--operator");
    let server = Server::start(&f);
    let op = |path: &str, body: Value| post(&server, &operator, path, body, 201);
    // The operator sets up both tenants and hands out tokens, all through the API.
    op("/v1/tenants", json!({"name": "vendor"}));
    op("/v1/tenants", json!({"name": "cust"}));
    op(
        "/v1/tenants/vendor/environments",
        json!({"name": "dev", "default": true}),
    );
    op("/v1/tenants/cust/environments", json!({"name": "prod"}));
    op(
        "/v1/tenants/vendor/users",
        json!({"name": "ann", "license": "plan2"}),
    );
    op(
        "/v1/tenants/cust/users",
        json!({"name": "bob", "license": "plan2"}),
    );
    op(
        "/v1/grants",
        json!({"user": "vendor/ann", "role": "environment-maker", "target": "vendor/dev"}),
    );
    op(
        "/v1/grants",
        json!({"user": "cust/bob", "role": "environment-maker", "target": "cust/prod"}),
    );
    let ann = text(&op("/v1/tokens", json!({"user": "vendor/ann"})), "token");
    let bob = text(
        &op(
            "/v1/tokens",
            json!({"user": "cust/bob", "expires_in_seconds": 3600}),
        ),
        "token",
    );

    // The vendor's maker builds the app and exports it.
    let dev = "/v1/environments/vendor/dev";
    let ann_post =
        |what: &str, body: Value| post(&server, &ann, &format!("{dev}/{what}"), body, 201);
    ann_post("connectors", json!({"name": "shared_office365"}));
    let o365 = text(
        &ann_post(
            "connections",
            json!({"connector": "shared_office365", "account": "a@vendor.example", "secret": "s3cret-never-shown"}),
        ),
        "id",
    );
    let workflow = std::str::from_utf8(common::cli::WORKFLOW).unwrap();
    ann_post(
        "flows",
        json!({"name": "Approve", "definition": workflow, "connections": [{"reference": "shared_office365", "connection": o365}]}),
    );
    ann_post(
        "apps",
        json!({"name": "Expenses", "flows": ["Approve"], "connectors": ["shared_office365"]}),
    );
    let exported = server.send(
        "POST",
        &format!("{dev}/exports"),
        Some(&ann),
        &json!({"app": "Expenses", "name": "Expenses"}),
    );
    assert_eq!(exported.status, 201, "{}", exported.text);
    let package = server.get(exported.location.as_deref().unwrap(), Some(&ann));
    assert_eq!(package.status, 200);
    assert_eq!(package.content_type, "application/zip");
    // Bob may not download the vendor's package.
    assert_eq!(
        server
            .get(exported.location.as_deref().unwrap(), Some(&bob))
            .status,
        404
    );

    // The customer's maker imports it with their own connection, and it runs in the server.
    let prod = "/v1/environments/cust/prod";
    let mine = text(
        &post(
            &server,
            &bob,
            &format!("{prod}/connections"),
            json!({"connector": "shared_office365", "account": "bob@cust.example"}),
            201,
        ),
        "id",
    );
    let zip = download(&server, exported.location.as_deref().unwrap(), &ann);
    let review = server.upload(&format!("{prod}/imports"), &bob, &zip, &[]);
    assert_eq!(review.status, 201, "{}", review.text);
    let migration = text(&review.body, "migration");
    post(
        &server,
        &bob,
        &format!("/v1/imports/{migration}/answers"),
        json!({"answers": [{"item": "a@vendor.example", "choice": format!("existing:{mine}")}]}),
        200,
    );
    post(
        &server,
        &bob,
        &format!("/v1/imports/{migration}/start"),
        json!({}),
        202,
    );
    let done = server.events(&format!("/v1/imports/{migration}/events"), &bob);
    assert_eq!(done.last().unwrap()["state"], "completed", "{done:?}");
    let app = text(item(done.last().unwrap(), "Expenses"), "target");

    // An update: ann edits the app (a draft), publishes, exports again; bob takes it as a draft.
    let edited = post(
        &server,
        &ann,
        &format!("{dev}/apps/Expenses/draft"),
        json!({"flows": ["Approve"]}),
        200,
    );
    assert_eq!(edited["draft"], true);
    post(
        &server,
        &ann,
        &format!("{dev}/publish"),
        json!({"resource": "Expenses"}),
        200,
    );
    let again = server.send(
        "POST",
        &format!("{dev}/exports"),
        Some(&ann),
        &json!({"app": "Expenses", "name": "Expenses 2.0", "actions": [{"resource": "Expenses", "action": "update"}]}),
    );
    assert_eq!(again.status, 201, "{}", again.text);
    let zip = download(&server, again.location.as_deref().unwrap(), &ann);
    let update = server.upload(&format!("{prod}/imports"), &bob, &zip, &[]);
    let update_id = text(&update.body, "migration");
    let answers: Vec<Value> = update.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["needs_input"] == true)
        .map(|i| {
            let choice = match i["suggested_target"].as_str() {
                Some(target) => format!("update:{target}"),
                None => format!("existing:{mine}"),
            };
            json!({"item": i["key"], "choice": choice})
        })
        .collect();
    post(
        &server,
        &bob,
        &format!("/v1/imports/{update_id}/answers"),
        json!({"answers": answers}),
        200,
    );
    post(
        &server,
        &bob,
        &format!("/v1/imports/{update_id}/start"),
        json!({"atomic": true}),
        202,
    );
    let done = server.events(&format!("/v1/imports/{update_id}/events"), &bob);
    let results = done.last().unwrap();
    assert_eq!(results["state"], "completed", "{results}");
    assert_eq!(
        item(results, "Expenses")["outcome"],
        "draft created",
        "{results}"
    );
    let before = server
        .get(&format!("{prod}/resources/{app}"), Some(&bob))
        .body;
    assert_eq!(before["has_draft"], true, "{before}");
    let published = post(
        &server,
        &bob,
        &format!("/v1/imports/{update_id}/publish"),
        json!({}),
        200,
    );
    assert!(
        published
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == json!(app)),
        "{published}"
    );
    let after = server
        .get(&format!("{prod}/resources/{app}"), Some(&bob))
        .body;
    assert_eq!(after["has_draft"], false, "{after}");
    assert_eq!(after["version"], before["version"].as_u64().unwrap() + 1);
    // No reply ever carried the credential.
    assert!(!server
        .get(&format!("{dev}/resources"), Some(&ann))
        .text
        .contains("s3cret"));
    assert_eq!(server.stop(), 0);
    f.assert_replays();
}

fn download(server: &Server, path: &str, token: &str) -> Vec<u8> {
    server.bytes(path, token)
}
