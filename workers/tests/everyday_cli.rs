//! What makers and operators meet in their first hour, end to end through the real `ferry`
//! binary: review labels, connectors and the exporter's comments; only usable candidates; the
//! answers template; answers that do not fit recording nothing; licenses set by the operator;
//! authoring that keeps what it is not told to change; exports of drafts; the imports list
//! with its filters and pages.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
}

use common::cli::{
    bind, connections, customer, export, first_import, import, item, text, user, vendor, Ferry,
    WORKFLOW,
};
use serde_json::{json, Value};

/// The digest of the canvas document (`.msapp`) in `version` (`published`, `draft`) of a
/// `resource show`.
fn document(shown: &Value, version: &str) -> String {
    let files = shown[version]["files"].as_object().unwrap();
    let (_, digest) = files
        .iter()
        .find(|(name, _)| name.ends_with(".msapp"))
        .unwrap_or_else(|| panic!("no document in the {version}: {shown}"));
    digest.as_str().unwrap().to_owned()
}

/// What the vendor's Expenses app uses (`common::cli::vendor`): an edit that keeps it says
/// it again.
const USES: &str = "--flow Approve --connector shared_office365";

#[test]
fn app_create_json_is_one_document_when_it_registers_the_logic_flows_connector() {
    let f = Ferry::new();
    f.ok("tenant create vendor");
    f.ok("env create vendor/dev");
    f.write("wf.json", WORKFLOW);
    f.json("flow create vendor/dev Approve --definition wf.json");
    let created = f.json("app create vendor/dev Expenses --flow Approve");
    assert_eq!(created["kind"], "app");
}

#[test]
fn an_import_whose_answers_do_not_fit_records_nothing() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    f.write("bad.toml", b"\"no such item\" = \"new\"\n");
    let before = f.log_size();
    f.refused(
        2,
        "import pkg.zip --into cust/prod --as cust/bob --answers bad.toml",
        &["no item \"no such item\""],
    );
    // Not even an import "in review": the request, its review and its answers are one append.
    assert_eq!(f.log_size(), before);
    assert_eq!(f.json("status").as_array().unwrap().len(), 0);
}

#[test]
fn the_answers_template_lists_what_needs_input_and_filled_in_it_answers_the_import() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let bob = connections(&f, "cust/prod", "cust/bob");
    let review = f.json_code(3, "import pkg.zip --into cust/prod --as cust/bob");
    let migration = text(&review, "migration");
    let template = f.ok(&format!(
        "review {migration} --as cust/bob --answers-template"
    ));
    // Valid TOML with every pending item, unanswered.
    let parsed: toml::Table = toml::from_str(&template).unwrap();
    let answers = parsed["answers"].as_table().unwrap();
    assert_eq!(answers.len(), 2, "{template}");
    assert!(
        answers.values().all(|v| v.as_str() == Some("")),
        "{template}"
    );
    assert!(
        template.contains("(connector shared_office365)"),
        "{template}"
    );
    assert!(
        template.contains(&format!("existing:{}", bob.0)),
        "{template}"
    );
    // Left as it is, it answers nothing; filled in with the first candidate of each, it
    // answers everything.
    let mut filled = String::new();
    let mut candidate = None;
    for line in template.lines() {
        if let Some(rest) = line
            .trim_start_matches('#')
            .trim()
            .strip_prefix("existing:")
        {
            candidate.get_or_insert_with(|| rest.split_whitespace().next().unwrap().to_owned());
        }
        match line.strip_suffix(" = \"\"") {
            Some(key) => {
                let id = candidate.take().unwrap();
                filled.push_str(&format!("{key} = \"existing:{id}\"\n"));
            }
            None => filled.push_str(&format!("{line}\n")),
        }
    }
    f.write("answers.toml", filled.as_bytes());
    let answered = f.json(&format!(
        "answer {migration} --as cust/bob --answers-file answers.toml"
    ));
    assert_eq!(answered["pending"], 0, "{answered}");
    let results = f.json(&format!("start {migration} --as cust/bob --wait"));
    assert_eq!(results["state"], "completed", "{results}");
}

#[test]
fn the_review_labels_each_item_shows_its_connector_and_the_exporters_comment_and_offers_only_what_the_importer_may_bind(
) {
    let f = Ferry::new();
    vendor(&f);
    f.ok(
        "export vendor/dev --app Expenses --as vendor/ann --name Expenses --out pkg.zip \
         --comment a@vendor.example=Bind_to_your_Outlook_service_account",
    );
    let inspected = f.ok("package inspect pkg.zip");
    assert!(
        inspected.contains("Bind_to_your_Outlook_service_account"),
        "{inspected}"
    );
    customer(&f);
    let bob = connections(&f, "cust/prod", "cust/bob");
    // Ben's own connection of the same connector: not Bob's to use, so never offered to him.
    user(&f, "cust/ben", "plan2", &["cust/prod"]);
    let ben = connections(&f, "cust/prod", "cust/ben");

    let review = f
        .expect(3, "import pkg.zip --into cust/prod --as cust/bob")
        .stdout;
    for shown in [
        "connection/office365",
        "connection/sharepointonline",
        "shared_sharepointonline",
        "the exporter says: Bind_to_your_Outlook_service_account",
        &bob.0,
        &bob.1,
    ] {
        assert!(review.contains(shown), "{shown:?} not in\n{review}");
    }
    for hidden in [&ben.0, &ben.1] {
        assert!(!review.contains(hidden), "{hidden} offered in\n{review}");
    }
    let migration = review.split_whitespace().nth(1).unwrap().to_owned();
    let json = f.json_code(3, &format!("review {migration} --as cust/bob"));
    let item = |label: &str| {
        json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["label"] == label)
            .unwrap_or_else(|| panic!("no item {label} in {json}"))
            .clone()
    };
    let o365 = item("connection/office365");
    assert_eq!(o365["connector"], "shared_office365");
    assert_eq!(o365["comment"], "Bind_to_your_Outlook_service_account");
    assert_eq!(o365["candidates"].as_array().unwrap().len(), 1, "{o365}");

    // An item is answered by its label.
    let answered = f.json(&format!(
        "answer {migration} --as cust/bob connection/office365=existing:{} \
         connection/sharepointonline=existing:{}",
        bob.0, bob.1
    ));
    assert_eq!(answered["pending"], 0, "{answered}");
}

#[test]
fn a_users_license_is_set_by_the_operator_and_what_it_allows_follows_at_once() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    user(&f, "cust/cal", "none", &["cust/prod"]);
    let import = "import pkg.zip --into cust/prod --as cust/cal";
    // The refusal names the command that lifts it.
    f.refused(
        4,
        import,
        &["no license", "ferry user set-license cust/cal plan2"],
    );
    f.refused(
        4,
        "user set-license cust/cal plan2 --as cust/bob",
        &["operator"],
    );

    let set = f.json("user set-license cust/cal plan2");
    assert_eq!(set["license"], "plan2", "{set}");
    assert_eq!(set["name"], "cal", "{set}");
    // Setting the license held records nothing.
    let before = f.log_size();
    f.ok("user set-license cust/cal plan2");
    assert_eq!(f.log_size(), before);
    let users = f.json("user list cust");
    let cal = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "cal");
    assert_eq!(cal.unwrap()["license"], "plan2", "{users}");
    f.refused(2, "user set-license cust/cla plan2", &["cal"]);

    // Allowed now: the import is recorded and waits for its connections.
    f.json_code(3, import);
    let audit = f.ok("audit log --tenant cust");
    assert!(audit.contains("license plan2"), "{audit}");
}

#[test]
fn an_app_edited_without_a_document_keeps_its_own() {
    let f = Ferry::new();
    vendor(&f);
    f.write(
        "canvas.msapp",
        b"PK\x03\x04 the maker's own canvas document",
    );
    f.ok("app create vendor/dev Canvas --document canvas.msapp --as vendor/ann");
    f.ok("app edit vendor/dev Canvas --flow Approve --as vendor/ann");
    let shown = f.json("resource show vendor/dev Canvas");
    // The draft has the flow and still the maker's document, not a blank one.
    assert_eq!(
        document(&shown, "draft"),
        document(&shown, "published"),
        "{shown}"
    );
    assert_ne!(
        shown["draft"]["references"],
        shown["published"]["references"]
    );
}

#[test]
fn the_imports_are_listed_newest_first_with_where_who_and_when_filtered_and_a_page_at_a_time() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    first_import(&f);
    let completed = text(&f.json("status --state completed")[0], "migration");
    let mut ids = vec![completed.clone()];
    for _ in 0..3 {
        let review = f.json_code(3, "import pkg.zip --into cust/prod --as cust/bob");
        ids.push(text(&review, "migration"));
    }
    let review = f.json_code(3, "import pkg.zip --into vendor/prod");
    ids.push(text(&review, "migration"));
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    let listed = |line: &str| -> Vec<String> {
        f.json(line)
            .as_array()
            .unwrap()
            .iter()
            .map(|i| text(i, "migration"))
            .collect()
    };
    assert_eq!(listed("status"), newest_first);
    let all = f.json("status");
    let vendors = &all[0];
    assert_eq!(vendors["environment_name"], "vendor/prod", "{all}");
    assert_eq!(vendors["importer"], "operator", "{all}");
    assert_eq!(all[1]["importer"], "cust/bob", "{all}");
    assert!(all[1]["requested_at"].is_string(), "{all}");

    assert_eq!(listed("status --tenant vendor"), newest_first[..1]);
    assert_eq!(listed("status --env cust/prod"), newest_first[1..]);
    assert_eq!(listed("status --state completed"), newest_first[4..]);
    assert_eq!(
        listed("status --state in-review --tenant cust"),
        newest_first[1..4]
    );
    assert_eq!(listed("status --since 1h"), newest_first);
    assert!(listed("status --since 2999-01-01T00:00:00Z").is_empty());
    f.refused(2, "status --state finished", &["completed", "in review"]);
    f.refused(2, "status --since yesterday", &["90m"]);
    // A user sees their tenant's imports only.
    assert_eq!(listed("status --as cust/bob"), newest_first[1..]);
    f.refused(2, "status --tenant vendor --as cust/bob", &["no tenant"]);

    // Pages: the table says how to get the next one, and the pages make the whole list.
    let table = f.ok("status --limit 2");
    for column in ["STARTED", "BY", "ENVIRONMENT", "cust/bob", "vendor/prod"] {
        assert!(table.contains(column), "{column} not in\n{table}");
    }
    let more = format!("ferry status --before {}", newest_first[1]);
    assert!(table.contains(&more), "{table}");
    let mut paged = listed("status --limit 2");
    paged.extend(listed(&format!(
        "status --limit 2 --before {}",
        newest_first[1]
    )));
    paged.extend(listed(&format!(
        "status --limit 2 --before {}",
        newest_first[3]
    )));
    assert_eq!(paged, newest_first);
}

#[test]
fn an_app_with_a_draft_exports_its_published_version_and_says_so_or_its_draft_with_draft() {
    let f = Ferry::new();
    vendor(&f);
    f.write(
        "next.msapp",
        b"PK\x03\x04 the next version, not published yet",
    );
    f.ok(&format!(
        "app edit vendor/dev Expenses --document next.msapp {USES} --as vendor/ann"
    ));
    let shown = f.json("resource show vendor/dev Expenses");
    let (published, draft) = (document(&shown, "published"), document(&shown, "draft"));
    assert_ne!(published, draft);

    let line = "export vendor/dev --app Expenses --as vendor/ann --name Expenses";
    let told = f.ok(&format!("{line} --out told.zip"));
    assert!(
        told.contains("note: \"Expenses\" has an unpublished draft") && told.contains("--draft"),
        "{told}"
    );
    let plain = f.json(&format!("{line} --out pkg.zip"));
    assert_eq!(plain["drafts"], false);
    assert_eq!(plain["unpublished_drafts"], json!(["Expenses"]), "{plain}");
    let drafted = f.json(&format!("{line} --draft --out draft.zip"));
    assert_eq!(drafted["drafts"], true);
    assert_eq!(drafted["unpublished_drafts"], json!([]), "{drafted}");

    // Each package holds the documents it says: imported (each into its own environment),
    // the app runs that version.
    customer(&f);
    f.ok("env create cust/qa");
    f.ok("grant cust/bob environment-maker cust/qa");
    for (package, env, expected) in [
        ("pkg.zip", "cust/prod", &published),
        ("draft.zip", "cust/qa", &draft),
    ] {
        let bob = connections(&f, env, "cust/bob");
        let migration = import(&f, package, env, "cust/bob", &bind(&bob));
        let results = f.json(&format!("start {migration} --as cust/bob --wait"));
        let app = text(item(&results, "Expenses"), "target");
        let shown = f.json(&format!("resource show {env} {app}"));
        assert_eq!(
            &document(&shown, "published"),
            expected,
            "{package}: {shown}"
        );
    }
}

#[test]
fn an_update_shows_what_it_would_change_in_its_target_or_that_nothing_changes() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let (app, flow, bob) = first_import(&f);

    // The same package again, answered as updates of what the first import made: nothing
    // would change.
    let updates = format!("Expenses=update:{app} Approve=update:{flow} {}", bind(&bob));
    let again = import(&f, "pkg.zip", "cust/prod", "cust/bob", &updates);
    let review = f.json(&format!("review {again}"));
    for (name, target) in [("Expenses", &app), ("Approve", &flow)] {
        let update = &item(&review, name)["update"];
        assert_eq!(update["target"], target.as_str(), "{review}");
        assert_eq!(update["changes"], json!([]), "{name}: {update}");
    }
    let table = f.ok(&format!("review {again}"));
    assert!(
        table.contains(&format!("update of \"Expenses\" ({app}): no change")),
        "{table}"
    );

    // The vendor's next version has another canvas document: that is what the update changes.
    f.write("next.msapp", b"PK\x03\x04 version two of the canvas");
    f.ok(&format!(
        "app edit vendor/dev Expenses --document next.msapp {USES} --as vendor/ann"
    ));
    f.ok("publish vendor/dev --app Expenses --as vendor/ann");
    export(&f, "pkg2.zip");
    let next = import(&f, "pkg2.zip", "cust/prod", "cust/bob", &updates);
    let review = f.json(&format!("review {next}"));
    let changes = item(&review, "Expenses")["update"]["changes"].clone();
    // The canvas document, and the app's own json that names it; nothing it uses.
    let changes = changes.as_array().unwrap();
    assert!(
        changes
            .iter()
            .all(|c| c["aspect"] == "document" && c["now"].is_string() && c["now"] != c["then"]),
        "{changes:?}"
    );
    assert!(
        changes.iter().any(|c| text(c, "name").ends_with(".msapp")),
        "{changes:?}"
    );
    assert_eq!(item(&review, "Approve")["update"]["changes"], json!([]));
    let table = f.ok(&format!("review {next}"));
    assert!(table.contains("      ~ document "), "{table}");
}

#[test]
fn authoring_registers_a_connections_standard_connector_and_refuses_a_flow_using_an_unbound_one() {
    let f = Ferry::new();
    f.ok("tenant create t");
    f.ok("env create t/dev --default");
    // A standard connector nobody registered: the connection registers it, once.
    let made = f.json("connection create t/dev --connector shared_office365 --account a@t.example");
    assert!(made["registered"].is_string(), "{made}");
    let connection = text(&made, "id");
    let again =
        f.json("connection create t/dev --connector shared_office365 --account b@t.example");
    assert!(again.get("registered").is_none(), "{again}");
    let said = f.ok("connection create t/dev --connector shared_sql --account c@t.example");
    assert!(said.contains("registered its standard connector"), "{said}");
    f.refused(
        2,
        "connection create t/dev --connector contoso_api --account d@t.example",
        &["custom connector", "contoso_api", "register it first"],
    );

    // A flow whose workflow uses a connection reference it does not bind is refused.
    f.write(
        "uses.json",
        br#"{"actions":{"Send":{"inputs":{"host":{"connection":{"name":"@parameters('$connections')['shared_office365']['connectionId']"}}}}}}"#,
    );
    let before = f.log_size();
    f.refused(
        2,
        "flow create t/dev Notify --definition uses.json",
        &["\"shared_office365\"", "--connection"],
    );
    assert_eq!(f.log_size(), before, "a refused flow records nothing");
    f.ok(&format!(
        "flow create t/dev Notify --definition uses.json --connection shared_office365={connection}"
    ));
    f.ok("app create t/dev Portal --flow Notify");
    // The export finds every connector it needs (it was refused when none was registered).
    let exported = f.json("export t/dev --app Portal --name Portal --out portal.zip");
    let resources = exported["resources"].as_array().unwrap();
    assert!(
        resources
            .iter()
            .any(|r| r["kind"] == "connector" && r["name"] == "shared_office365"),
        "{exported}"
    );
}

#[test]
fn a_connection_or_gateway_nothing_uses_is_deleted_with_its_credentials_and_its_history_stays() {
    let f = Ferry::new();
    f.ok("tenant create t");
    f.ok("env create t/dev --default");
    f.ok("user create t/u1 --license plan2");
    f.ok("user create t/u2 --license plan2");
    f.ok("grant t/u1 environment-maker t/dev");
    f.ok("grant t/u2 environment-maker t/dev");
    f.write("secret.txt", b"hunter2");
    f.ok("gateway create t/dev gw --as t/u1");
    let line = "connection create t/dev --connector shared_sql --account sql@t.example \
                --secret-file secret.txt --gateway gw --as t/u1";
    let sql = text(&f.json(line), "id");
    let secret = f.data_dir().join("secrets").join(&sql);
    assert!(secret.exists());
    f.write(
        "uses.json",
        br#"{"actions":{"Q":{"inputs":{"host":{"connection":{"referenceName":"sql"}}}}}}"#,
    );
    f.ok(&format!(
        "flow create t/dev Report --definition uses.json --connection sql={sql} --as t/u1"
    ));

    // What something uses stays, and says what uses it; another user's stays theirs.
    f.refused(
        5,
        "resource delete t/dev gw --as t/u1",
        &["gateway \"gw\"", "connection \"sql@t.example\""],
    );
    f.refused(
        5,
        &format!("resource delete t/dev {sql} --as t/u1"),
        &["flow \"Report\""],
    );
    let mine = text(
        &f.json(
            "connection create t/dev --connector shared_sql --account other@t.example --as t/u1",
        ),
        "id",
    );
    f.refused(
        4,
        &format!("resource delete t/dev {mine} --as t/u2"),
        &["another user"],
    );
    f.refused(
        2,
        "resource delete t/dev Report --as t/u1",
        &["no connection or gateway", "Report"],
    );

    // Unused, it goes; the log keeps its history and still verifies.
    let before = f.log_size();
    let deleted = f.json(&format!("resource delete t/dev {mine} --as t/u1"));
    assert_eq!(deleted["id"], mine.as_str());
    assert!(
        f.log_size() > before,
        "the deletion is recorded, nothing rewritten"
    );
    let listed = f.json("resource list t/dev");
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == mine.as_str()),
        "{listed}"
    );
    f.refused(
        2,
        &format!("resource delete t/dev {mine} --as t/u1"),
        &[&mine],
    );
    assert_eq!(f.json("audit verify")["intact"], true);
    // A connection with credentials: deleted, the file of its credentials is erased too.
    let line = "connection create t/dev --connector shared_sql --account spare@t.example \
                --secret-file secret.txt --as t/u1";
    let spare = text(&f.json(line), "id");
    let spare_secret = f.data_dir().join("secrets").join(&spare);
    assert!(spare_secret.exists());
    f.ok("resource delete t/dev spare@t.example --as t/u1");
    assert!(
        !spare_secret.exists(),
        "the credentials of a deleted connection are erased"
    );
    assert!(secret.exists(), "the ones still in use stay");
}
