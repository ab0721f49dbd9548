//! The migration path end to end through the real `ferry` binary: a vendor exports an app with
//! its flow, connectors and connections; a customer tenant imports it, answers the review,
//! runs it and later takes an update as a draft. Around that path: the permission rules (each
//! refusal exits 4, says what is missing and changes nothing), answers refused for targets that
//! do not fit, drift since the review, atomic rollback, the gateway rule, dry runs and the
//! foreground worker. Credentials never appear in any output, package or log.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
}

use std::io::Read;

use common::cli::{
    bind, connections, customer, export, first_import, import, item, outcomes, resource, text,
    user, vendor, Ferry, SECRET, WORKFLOW,
};
use serde_json::{json, Value};

/// What `ferry worker` said of its migrations (on Kafka it first says which group it joined).
fn said_by_worker(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| !l.starts_with("joined the workers' group"))
        .collect()
}

fn assert_no_secret(bytes: &[u8], what: &str) {
    let found = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
    assert!(!found, "the secret appears in {what}");
}

/// Neither the raw zip nor any entry, decompressed, holds the secret.
fn assert_package_has_no_secret(f: &Ferry, package: &str) {
    let bytes = std::fs::read(f.path(package)).unwrap();
    assert_no_secret(&bytes, package);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).unwrap();
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).unwrap();
        assert_no_secret(&contents, &format!("{package}: {:?}", entry.name()));
    }
}

#[test]
fn an_app_moves_to_another_tenant_and_its_update_lands_as_a_draft() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let bob = connections(&f, "cust/prod", "cust/bob");

    let review = f.json_code(3, "import pkg.zip --into cust/prod --as cust/bob");
    let migration = text(&review, "migration");
    assert_eq!(review["state"], "in review");
    assert_eq!(review["pending"], 2);
    for (name, id, account) in [
        ("a@vendor.example", &bob.0, "cust.bob@o365"),
        ("s@vendor.example", &bob.1, "cust.bob@sp"),
    ] {
        let connection = item(&review, name);
        assert_eq!(connection["needs_input"], true, "{connection}");
        assert_eq!(
            connection["candidates"],
            json!([{"id": id, "name": account}])
        );
    }
    for other in review["items"].as_array().unwrap() {
        if other["kind"] != "connection" {
            assert_eq!(other["needs_input"], false, "{other}");
            assert_eq!(other["suggested_target"], Value::Null, "{other}");
        }
    }
    let key = text(item(&review, "a@vendor.example"), "key");
    f.refused(
        3,
        &format!("start {migration} --as cust/bob"),
        &["2 item(s) need input", &key],
    );
    let start = format!("start {migration} --as cust/bob --wait");
    f.ok(&format!("answer {migration} --as cust/bob {}", bind(&bob)));
    let results = f.json(&start);
    assert_eq!(results["state"], "completed");
    for (name, outcome) in outcomes(&results) {
        // bob's connections registered their standard connectors; the logic flows connector
        // the app calls its flow through is the import's to register.
        let expected = match name.as_str() {
            "Expenses" | "Approve" => "created",
            "Logic flows" => "registered",
            _ => "bound",
        };
        assert_eq!(outcome, expected, "{name}: {results}");
    }
    assert_eq!(item(&results, "a@vendor.example")["target"], bob.0.as_str());
    // Done is done: no second start, no late answers.
    f.refused(5, &start, &["completed", "only possible once"]);
    let late = format!("answer {migration} --as cust/bob {}", bind(&bob));
    f.refused(5, &late, &["completed", "in review"]);
    let app = text(item(&results, "Expenses"), "target");
    let flow = text(item(&results, "Approve"), "target");
    let contents = f.json("resource list cust/prod");
    let imported = resource(&contents, "app", "Expenses").unwrap();
    assert_eq!(imported["id"], app.as_str());
    assert_eq!(imported["version"], 1);
    assert_eq!(imported["has_draft"], false);
    assert_eq!(
        resource(&contents, "flow", "Approve").unwrap()["id"],
        flow.as_str()
    );

    // The results page as a table and as the identity map.
    let table = f.ok(&format!("status {migration}"));
    assert!(
        table.contains("completed") && table.contains(&app),
        "{table}"
    );
    let map = f.ok(&format!("status {migration} --map"));
    for i in results["items"].as_array().unwrap() {
        let (key, target) = (text(i, "key"), text(i, "target"));
        assert!(
            map.lines().any(|l| l.contains(&key) && l.contains(&target)),
            "{key} → {target} missing from the map:\n{map}"
        );
    }
    assert_eq!(f.json(&format!("status {migration} --map")), results);

    // The vendor's next version: a draft, published, exported again.
    f.ok(
        "app edit vendor/dev Expenses --flow Approve --connector shared_office365 \
         --connector shared_sharepointonline --as vendor/ann",
    );
    let published = f.json("publish vendor/dev --app Expenses --as vendor/ann");
    assert_eq!(published[0]["version"], 2);
    export(&f, "pkg2.zip");

    // The second import meets the identity map of the first.
    let review = f.json_code(3, "import pkg2.zip --into cust/prod --as cust/bob");
    let update = text(&review, "migration");
    assert_eq!(item(&review, "Expenses")["suggested_target"], app.as_str());
    assert_eq!(item(&review, "Approve")["suggested_target"], flow.as_str());
    // Every count of what needs input agrees: the review, the status list, the audit log
    // (which once left out the updates only an answer can aim).
    let marked = review["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["needs_input"] == true)
        .count();
    assert_eq!(review["pending"], marked, "{review}");
    let listed = f.json("status --limit 1");
    assert_eq!(listed[0]["pending"], marked, "{listed}");
    let facts = f.ok(&format!("audit log --migration {update} --format json"));
    let validated = serde_json::from_str::<Value>(&facts).unwrap();
    let validated = validated
        .as_array()
        .unwrap()
        .iter()
        .find(|x| text(x, "subject").contains("needing input"))
        .cloned()
        .unwrap();
    assert!(
        text(&validated, "subject").ends_with(&format!(", {marked} needing input")),
        "{validated} against {marked} marked in the review"
    );
    let answered = f.json(&format!(
        "answer {update} --as cust/bob Expenses=update:{app} Approve=update:{flow} {}",
        bind(&bob)
    ));
    assert_eq!(answered["pending"], 0);
    let results = f.json(&format!("start {update} --as cust/bob --wait"));
    assert_eq!(results["state"], "completed");
    for (name, id) in [("Expenses", &app), ("Approve", &flow)] {
        let updated = item(&results, name);
        assert_eq!(updated["outcome"], "draft created", "{updated}");
        assert_eq!(updated["target"], id.as_str());
    }
    let contents = f.json("resource list cust/prod");
    let apps = contents.as_array().unwrap().iter();
    assert_eq!(apps.filter(|r| r["kind"] == "app").count(), 1, "{contents}");
    let shown = f.json(&format!("resource show cust/prod {app}"));
    assert_eq!(shown["version"], 1, "what users run is untouched: {shown}");
    assert_eq!(shown["has_draft"], true);
    assert!(shown["draft"].is_object(), "{shown}");
    assert_ne!(shown["draft"], shown["published"]);
    let draft = shown["draft"].clone();

    // Publishing the import's drafts needs rights; bob has them.
    user(&f, "cust/eve", "plan2", &[]);
    let before = f.snapshot(&["cust/prod"]);
    f.refused(
        4,
        &format!("publish {update} --as cust/eve"),
        &["cust/eve", "publish", "environment-maker"],
    );
    assert_eq!(f.snapshot(&["cust/prod"]), before);
    let published = f.json(&format!("publish {update} --as cust/bob"));
    assert_eq!(published.as_array().unwrap().len(), 2, "{published}");
    assert!(published
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["version"] == 2));
    let shown = f.json(&format!("resource show cust/prod {app}"));
    assert_eq!(shown["version"], 2);
    assert_eq!(shown["has_draft"], false);
    assert_eq!(shown["draft"], Value::Null);
    assert_eq!(shown["published"], draft);

    // Credentials: stored, never shown, never exported, never on the log.
    let vendor_connections = f.json("resource list vendor/dev --kind connection");
    for connection in vendor_connections.as_array().unwrap() {
        assert_eq!(connection["has_secret"], true);
        let show = format!("resource show vendor/dev {}", text(connection, "id"));
        f.json(&show);
        assert!(f.ok(&show).contains("never shown"));
    }
    f.ok("resource list vendor/dev");
    f.ok(&format!("review {update}"));
    assert_no_secret(f.transcript().as_bytes(), "the output of a command");
    assert_package_has_no_secret(&f, "pkg.zip");
    assert_package_has_no_secret(&f, "pkg2.zip");
    for log in f.log_files() {
        assert_no_secret(&std::fs::read(&log).unwrap(), &log.display().to_string());
    }
    f.assert_replays();
}

#[test]
fn import_without_a_license_or_environment_maker_is_denied_and_changes_nothing() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    user(&f, "cust/nolicense", "none", &["cust/prod"]);
    user(&f, "cust/nomaker", "plan2", &[]);
    let before = f.snapshot(&["cust/prod"]);

    f.refused(
        4,
        "import pkg.zip --into cust/prod --as cust/nolicense",
        &["cust/nolicense", "no license", "plan2"],
    );
    f.refused(
        4,
        "import pkg.zip --into cust/prod --as cust/nomaker",
        &["cust/nomaker", "environment-maker", "cust/prod"],
    );
    assert_eq!(f.snapshot(&["cust/prod"]), before);

    f.ok("grant cust/nomaker environment-maker cust/prod");
    let review = f.json_code(3, "import pkg.zip --into cust/prod --as cust/nomaker");
    assert_eq!(review["state"], "in review");
    f.assert_replays();
}

#[test]
fn a_user_of_another_tenant_imports_only_once_granted_there() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    // Maker at home is no right in another tenant.
    user(&f, "vendor/vic", "plan2", &["vendor/dev"]);
    let before = f.snapshot(&["cust/prod", "vendor/dev"]);
    // Another tenant's environment is not even shown to exist without a role on it.
    f.refused(
        2,
        "import pkg.zip --into cust/prod --as vendor/vic",
        &["no environment cust/prod", "hold a role on"],
    );
    assert_eq!(f.snapshot(&["cust/prod", "vendor/dev"]), before);

    f.ok("grant vendor/vic environment-maker cust/prod");
    let vic = connections(&f, "cust/prod", "vendor/vic");
    let migration = import(&f, "pkg.zip", "cust/prod", "vendor/vic", &bind(&vic));
    let results = f.json(&format!("start {migration} --as vendor/vic --wait"));
    assert_eq!(results["state"], "completed", "{results}");
    let users = f.json("user list vendor");
    let vic = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "vic");
    let contents = f.json("resource list cust/prod");
    let app = resource(&contents, "app", "Expenses").unwrap();
    assert_eq!(app["owner"], vic.unwrap()["id"], "{app}");
    // Once the grant is revoked, the import into cust/prod is out of vic's sight too.
    f.ok("revoke vendor/vic environment-maker cust/prod");
    f.refused(
        2,
        &format!("review {migration} --as vendor/vic"),
        &["no import migration"],
    );
    f.assert_replays();
}

#[test]
fn export_needs_can_edit_or_owner_and_a_license() {
    let f = Ferry::new();
    vendor(&f);
    user(&f, "vendor/vic", "plan2", &["vendor/dev"]);
    user(&f, "vendor/zed", "none", &[]);
    f.ok("grant vendor/zed owner vendor/dev/Expenses");
    let export = |user: &str| {
        format!("export vendor/dev --app Expenses --as {user} --name Expenses --out out.zip")
    };
    let before = f.snapshot(&["vendor/dev"]);

    f.refused(
        4,
        &export("vendor/vic"),
        &["vendor/vic", "can-edit", "vendor/dev/Expenses"],
    );
    f.refused(4, &export("vendor/zed"), &["vendor/zed", "no license"]);
    assert!(
        !f.path("out.zip").exists(),
        "a refused export wrote a package"
    );
    assert_eq!(f.snapshot(&["vendor/dev"]), before);

    f.ok("grant vendor/vic can-edit vendor/dev/Expenses");
    f.ok(&export("vendor/vic"));
    assert!(f.path("out.zip").exists());
}

#[test]
fn publish_without_rights_is_denied_and_the_draft_stays() {
    let f = Ferry::new();
    let app = vendor(&f);
    f.ok("app edit vendor/dev Expenses --flow Approve --as vendor/ann");
    user(&f, "vendor/vic", "plan2", &[]);
    user(&f, "vendor/zed", "none", &[]);
    f.ok("grant vendor/zed owner vendor/dev/Expenses");
    let publish = |user: &str| format!("publish vendor/dev --app Expenses --as {user}");
    let before = f.snapshot(&["vendor/dev"]);

    f.refused(
        4,
        &publish("vendor/vic"),
        &["vendor/vic", "publish", "environment-maker"],
    );
    f.refused(4, &publish("vendor/zed"), &["vendor/zed", "no license"]);
    assert_eq!(f.snapshot(&["vendor/dev"]), before);
    let shown = f.json(&format!("resource show vendor/dev {app}"));
    assert_eq!(
        (&shown["version"], &shown["has_draft"]),
        (&json!(1), &json!(true))
    );

    assert_eq!(f.json(&publish("vendor/ann"))[0]["version"], 2);
}

#[test]
fn answer_and_start_need_environment_maker_on_the_target() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    user(&f, "cust/nomaker", "plan2", &[]);
    user(&f, "cust/nolicense", "none", &["cust/prod"]);
    let bob = connections(&f, "cust/prod", "cust/bob");
    let review = f.json_code(3, "import pkg.zip --into cust/prod --as cust/bob");
    let migration = text(&review, "migration");
    let answers = bind(&bob);

    let before = f.snapshot(&["cust/prod"]);
    f.refused(
        4,
        &format!("answer {migration} --as cust/nomaker {answers}"),
        &["cust/nomaker", "environment-maker", "cust/prod"],
    );
    f.refused(
        4,
        &format!("answer {migration} --as cust/nolicense {answers}"),
        &["cust/nolicense", "no license"],
    );
    assert_eq!(f.snapshot(&["cust/prod"]), before);

    f.ok(&format!("answer {migration} --as cust/bob {answers}"));
    let before = f.snapshot(&["cust/prod"]);
    f.refused(
        4,
        &format!("start {migration} --as cust/nomaker --wait"),
        &["cust/nomaker", "environment-maker", "cust/prod"],
    );
    f.refused(
        4,
        &format!("start {migration} --as cust/nolicense"),
        &["cust/nolicense", "no license"],
    );
    assert_eq!(f.snapshot(&["cust/prod"]), before);
    assert_eq!(f.json(&format!("status {migration}"))["state"], "in review");
    f.assert_replays();
}

#[test]
fn answers_naming_targets_that_do_not_fit_are_refused() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    user(&f, "cust/carol", "plan2", &["cust/prod"]);
    let bob = connections(&f, "cust/prod", "cust/bob");
    let carol = connections(&f, "cust/prod", "cust/carol");
    let review = f.json_code(3, "import pkg.zip --into cust/prod --as cust/bob");
    let migration = text(&review, "migration");
    let before = f.snapshot(&["cust/prod"]);
    let refused = |answer: &str, says: &[&str]| {
        f.refused(
            2,
            &format!("answer {migration} --as cust/bob {answer}"),
            says,
        );
    };

    refused(
        &format!("a@vendor.example=existing:{}", bob.1),
        &["shared_sharepointonline", "needs shared_office365"],
    );
    refused(
        "a@vendor.example=existing:ghost@cust.example",
        &["no connection", "ghost@cust.example"],
    );
    refused(
        &format!("a@vendor.example=update:{}", bob.0),
        &["Update is not allowed", "Existing"],
    );
    refused(
        &format!("a@vendor.example=existing:{}", carol.0),
        &["cust.carol@o365", "another user"],
    );
    // Another tenant's connection is not in the target environment at all.
    let vendors = f.json("resource list vendor/dev --kind connection");
    let vendors = text(&vendors[0], "id");
    refused(
        &format!("a@vendor.example=existing:{vendors}"),
        &["no connection", &vendors],
    );
    refused("Expenses=update:NoSuchApp", &["no app", "NoSuchApp"]);
    refused(
        &format!("Nothing=existing:{}", bob.0),
        &["no item", "Nothing"],
    );

    assert_eq!(f.snapshot(&["cust/prod"]), before);
    let review = f.json_code(3, &format!("review {migration}"));
    assert_eq!(review["pending"], 2);
    let items = review["items"].as_array().unwrap();
    assert!(items.iter().all(|i| i["answer"].is_null()), "{review}");
    f.assert_replays();
}

#[test]
fn an_update_target_changed_since_the_review_fails_its_step() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let (app, flow, bob) = first_import(&f);
    let answers = format!("Expenses=update:{app} Approve=update:{flow} {}", bind(&bob));
    let migration = import(&f, "pkg.zip", "cust/prod", "cust/bob", &answers);

    // The operator saves a draft of the target app after bob's review.
    f.ok(&format!("app edit cust/prod {app}"));
    let edited = f.json(&format!("resource show cust/prod {app}"));
    assert_eq!(edited["has_draft"], true);

    let results = f.json_code(1, &format!("start {migration} --as cust/bob --wait"));
    let failed = item(&results, "Expenses");
    assert_eq!(failed["outcome"], "failed", "{results}");
    assert_eq!(failed["error_code"], "changed-since-review");
    assert!(
        text(failed, "message").contains("changed since the review"),
        "{failed}"
    );
    assert_eq!(item(&results, "Approve")["outcome"], "draft created");
    // The operator's draft is not overwritten.
    assert_eq!(f.json(&format!("resource show cust/prod {app}")), edited);
    f.expect(1, &format!("status {migration}"));
    f.assert_replays();
}

#[test]
fn an_atomic_import_rolls_back_what_it_applied_when_a_step_fails() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let bob = connections(&f, "cust/prod", "cust/bob");
    f.ok("app create cust/prod Expenses");
    let app = text(&f.json("resource show cust/prod Expenses"), "id");
    let answers = format!("Expenses=update:{app} {}", bind(&bob));
    let migration = import(&f, "pkg.zip", "cust/prod", "cust/bob", &answers);
    f.ok(&format!("app edit cust/prod {app}"));
    let before = f.json("resource list cust/prod");

    let start = format!("start {migration} --as cust/bob --atomic --wait");
    let results = f.json_code(1, &start);
    assert_eq!(results["atomic"], true);
    assert_eq!(results["state"], "rolled back", "{results}");
    assert_eq!(results["rolled_back"], true, "{results}");
    let failed = item(&results, "Expenses");
    assert_eq!(failed["error_code"], "changed-since-review", "{failed}");
    for (name, outcome) in outcomes(&results) {
        let expected = match name.as_str() {
            "Expenses" => "failed",
            // The flow was created and the logic flows connector registered: both undone.
            "Approve" | "Logic flows" => "rolled back",
            _ => "bound",
        };
        assert_eq!(outcome, expected, "{name}: {results}");
    }
    assert_eq!(f.json("resource list cust/prod"), before);
    assert_eq!(f.json_code(1, &format!("status {migration}")), results);
    f.assert_replays();
}

#[test]
fn a_connection_through_a_gateway_imports_only_into_a_default_environment() {
    let f = Ferry::new();
    f.ok("tenant create vendor");
    f.ok("env create vendor/dev --default");
    user(&f, "vendor/ann", "plan2", &["vendor/dev"]);
    // The seed's rule holds when a gateway is made, not only when it is used.
    f.ok("env create vendor/test");
    let before = f.log_size();
    f.refused(
        2,
        "gateway create vendor/test gw0",
        &["vendor/test is not its tenant's default environment"],
    );
    assert_eq!(f.log_size(), before);
    f.ok("gateway create vendor/dev gw1 --as vendor/ann");
    f.ok("connector create vendor/dev shared_sql --as vendor/ann");
    let sql = f.json(
        "connection create vendor/dev --connector shared_sql --account sql@vendor.example \
         --gateway gw1 --as vendor/ann",
    );
    f.write("wf.json", WORKFLOW);
    f.ok(&format!(
        "flow create vendor/dev Sync --definition wf.json --connection shared_sql={} --as vendor/ann",
        text(&sql, "id")
    ));
    f.ok("app create vendor/dev Inventory --flow Sync --as vendor/ann");
    f.ok("export vendor/dev --app Inventory --name Inventory --out gw.zip --as vendor/ann");
    f.ok("tenant create cust");
    f.ok("env create cust/prod");
    f.ok("env create cust/main --default");
    user(&f, "cust/bob", "plan2", &["cust/prod", "cust/main"]);
    let import_into = |env: &str| {
        let bobs = f.json(&format!(
            "connection create {env} --connector shared_sql --account bob@sql --as cust/bob"
        ));
        let review = f.json_code(3, &format!("import gw.zip --into {env} --as cust/bob"));
        let connection = item(&review, "sql@vendor.example");
        assert_eq!(connection["gateway"], true, "{review}");
        let answer = format!("sql@vendor.example=existing:{}", text(&bobs, "id"));
        import(&f, "gw.zip", env, "cust/bob", &answer)
    };

    let blocked = import_into("cust/prod");
    let before = f.snapshot(&["cust/prod"]);
    f.refused(
        3,
        &format!("start {blocked} --as cust/bob --wait"),
        &["gateway", "default environment"],
    );
    assert_eq!(f.snapshot(&["cust/prod"]), before);
    assert_eq!(f.json(&format!("status {blocked}"))["state"], "in review");

    let allowed = import_into("cust/main");
    let results = f.json(&format!("start {allowed} --as cust/bob --wait"));
    assert_eq!(results["state"], "completed", "{results}");
    let contents = f.json("resource list cust/main");
    assert!(
        resource(&contents, "app", "Inventory").is_some(),
        "{contents}"
    );
    f.assert_replays();
}

#[test]
fn a_dry_run_records_the_review_and_refuses_to_start() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let bob = connections(&f, "cust/prod", "cust/bob");
    let line = "import pkg.zip --into cust/prod --as cust/bob --dry-run";
    let review = f.json_code(3, line);
    assert_eq!(review["dry_run"], true);
    let migration = text(&review, "migration");
    f.ok(&format!("answer {migration} --as cust/bob {}", bind(&bob)));
    let recorded = f.json(&format!("review {migration}"));
    assert_eq!(recorded["dry_run"], true);
    assert_eq!(recorded["pending"], 0);

    let before = f.snapshot(&["cust/prod"]);
    f.refused(
        5,
        &format!("start {migration} --as cust/bob --wait"),
        &["dry run"],
    );
    f.refused(
        5,
        &format!("start {migration}"),
        &["dry run", "ferry promote"],
    );
    assert_eq!(f.snapshot(&["cust/prod"]), before);
    assert_eq!(f.json(&format!("status {migration}"))["state"], "in review");

    // Promoted, it is a real import with the dry run's answers; the dry run is cancelled,
    // naming it, and a second promote gives the same import.
    let real = f.json(&format!("promote {migration} --as cust/bob"));
    let promoted = text(&real, "migration");
    assert_ne!(promoted, migration);
    assert_eq!(
        (real["dry_run"].clone(), real["pending"].clone()),
        (json!(false), json!(0))
    );
    let dry = f.json(&format!("status {migration}"));
    assert_eq!(dry["state"], "cancelled", "{dry}");
    assert_eq!(dry["promoted_to"], promoted.as_str());
    assert_eq!(
        text(
            &f.json(&format!("promote {migration} --as cust/bob")),
            "migration"
        ),
        promoted
    );
    assert_eq!(
        f.snapshot(&["cust/prod"]).contents,
        before.contents,
        "promoting applies nothing"
    );
    let results = f.json(&format!("start {promoted} --as cust/bob --wait"));
    assert_eq!(results["state"], "completed", "{results}");
    f.assert_replays();
}

#[test]
fn an_import_is_cancelled_in_review_or_running_and_then_nothing_more_runs() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let bob = connections(&f, "cust/prod", "cust/bob");
    let before = f.snapshot(&["cust/prod"]);

    // In review: it ends; start is refused; the audit log says who and why.
    let reviewed = import(&f, "pkg.zip", "cust/prod", "cust/bob", &bind(&bob));
    user(&f, "cust/eve", "plan2", &[]);
    f.refused(
        4,
        &format!("cancel {reviewed} --as cust/eve"),
        &["environment-maker"],
    );
    let cancelled = f.json(&format!(
        "cancel {reviewed} --as cust/bob --reason wrong-customer"
    ));
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["cancelled"], "wrong-customer");
    f.refused(
        5,
        &format!("start {reviewed} --as cust/bob"),
        &["cancelled"],
    );
    f.refused(
        5,
        &format!("cancel {reviewed} --as cust/bob"),
        &["cancelled"],
    );
    let listed = f.json("status --state cancelled");
    assert_eq!(listed[0]["migration"], reviewed.as_str(), "{listed}");
    let facts = f.ok(&format!("audit log --migration {reviewed} --format json"));
    let facts: Value = serde_json::from_str(&facts).unwrap();
    assert!(
        facts
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["action"] == "import cancelled" && x["actor"] == "cust/bob"),
        "{facts}"
    );

    // Started (atomic or not) and cancelled before a worker ran it: no worker runs it.
    for atomic in ["", " --atomic"] {
        let started = import(&f, "pkg.zip", "cust/prod", "cust/bob", &bind(&bob));
        f.ok(&format!("start {started} --as cust/bob{atomic}"));
        let view = f.json(&format!("cancel {started} --as cust/bob"));
        assert_eq!(view["state"], "cancelled", "{view}");
        assert_eq!(
            said_by_worker(&f.ok("worker --until-idle")),
            ["nothing to run"]
        );
        assert!(outcomes(&f.json(&format!("status {started}")))
            .iter()
            .all(|(_, o)| o == "pending"));
    }
    assert_eq!(f.snapshot(&["cust/prod"]).contents, before.contents);
    f.assert_replays();
}

#[test]
fn the_worker_runs_a_started_import_to_completion() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let bob = connections(&f, "cust/prod", "cust/bob");
    let migration = import(&f, "pkg.zip", "cust/prod", "cust/bob", &bind(&bob));

    let started = f.json(&format!("start {migration} --as cust/bob"));
    assert_eq!(started["state"], "running");
    let status = f.json(&format!("status {migration}"));
    assert_eq!(status["state"], "running");
    assert!(
        outcomes(&status).iter().all(|(_, o)| o == "pending"),
        "{status}"
    );
    let contents = f.json("resource list cust/prod");
    assert!(resource(&contents, "app", "Expenses").is_none());

    // Each migration is said as it starts and ends, in items (never in internal steps).
    let ran = f.ok("worker --until-idle");
    let lines = said_by_worker(&ran);
    let said = format!("{migration} \"Expenses\" into cust/prod:");
    assert!(
        lines[0].starts_with(&said) && lines[0].ends_with("running, 7 item(s)"),
        "{ran}"
    );
    assert!(
        lines[1].starts_with(&format!("{said} completed, 7 item(s): ")),
        "{ran}"
    );
    assert_eq!(lines[2..], ["ran 1 migration(s): 1 completed"], "{ran}");
    let status = f.json(&format!("status {migration}"));
    assert_eq!(status["state"], "completed", "{status}");
    let contents = f.json("resource list cust/prod");
    assert!(
        resource(&contents, "app", "Expenses").is_some(),
        "{contents}"
    );
    assert!(
        resource(&contents, "flow", "Approve").is_some(),
        "{contents}"
    );
    assert_eq!(f.json("worker --until-idle")["migrations"], json!([]));
    assert_eq!(
        said_by_worker(&f.ok("worker --until-idle")),
        ["nothing to run"]
    );
    f.assert_replays();
}
