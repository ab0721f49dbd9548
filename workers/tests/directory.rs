//! The directory through the real binary: init, tenants, environments, users, grants — all
//! persisted on the log between invocations, with documented exit codes.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::path::Path;
use std::process::{Command, Output};

fn ferry(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(data_dir: &Path, args: &[&str]) -> String {
    let out = ferry(data_dir, args);
    assert!(
        out.status.success(),
        "ferry {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn refused(data_dir: &Path, args: &[&str], code: i32, says: &str) {
    let out = ferry(data_dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "ferry {args:?}: {stderr}");
    assert!(
        stderr.contains(says),
        "ferry {args:?} said {stderr:?}, not {says:?}"
    );
}

#[test]
fn commands_before_init_are_refused_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    refused(&data, &["tenant", "list"], 2, "ferry init");
    assert!(!data.exists());
}

#[test]
fn the_directory_persists_across_invocations_and_refuses_what_breaks_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(data, &["init"]);
    ok(data, &["tenant", "create", "vendor"]);
    ok(data, &["tenant", "create", "customer"]);
    refused(data, &["tenant", "create", "vendor"], 5, "already exists");
    ok(data, &["env", "create", "vendor/dev"]);
    ok(data, &["env", "create", "customer/prod", "--default"]);
    refused(
        data,
        &["env", "create", "customer/test", "--default"],
        5,
        "default environment (prod)",
    );
    refused(
        data,
        &["env", "create", "ghost/prod"],
        2,
        "no tenant named ghost",
    );
    ok(
        data,
        &["user", "create", "vendor/ann", "--license", "plan2"],
    );
    ok(data, &["user", "create", "vendor/bob", "--license", "none"]);
    // A user may hold a role on another tenant's environment.
    ok(
        data,
        &["grant", "vendor/ann", "environment-maker", "customer/prod"],
    );
    ok(data, &["grant", "vendor/ann", "auditor", "vendor"]);
    refused(
        data,
        &["grant", "vendor/ann", "auditor", "vendor"],
        5,
        "already holds",
    );
    refused(
        data,
        &["grant", "vendor/ann", "auditor", "customer/prod"],
        2,
        "applies to a tenant",
    );
    refused(
        data,
        &["grant", "vendor/zed", "auditor", "vendor"],
        2,
        "no user vendor/zed",
    );
    ok(data, &["revoke", "vendor/ann", "auditor", "vendor"]);
    refused(
        data,
        &["revoke", "vendor/ann", "auditor", "vendor"],
        2,
        "does not hold",
    );

    let users: serde_json::Value =
        serde_json::from_str(&ok(data, &["user", "list", "vendor", "--json"])).unwrap();
    assert_eq!(users[0]["name"], "ann");
    assert_eq!(users[0]["license"], "plan2");
    assert_eq!(
        users[0]["grants"],
        serde_json::json!([{"role": "environment-maker", "target": "customer/prod"}])
    );
    assert_eq!(users[1]["name"], "bob");
    assert_eq!(users[1]["license"], "none");

    let tenants: serde_json::Value =
        serde_json::from_str(&ok(data, &["tenant", "list", "--json"])).unwrap();
    let summary: Vec<(String, u64, u64)> = tenants
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["environments"].as_u64().unwrap(),
                t["users"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("customer".into(), 1, 0), ("vendor".into(), 1, 2)]
    );
    let envs: serde_json::Value =
        serde_json::from_str(&ok(data, &["env", "list", "customer", "--json"])).unwrap();
    assert_eq!(envs[0]["default"], true);
}

#[test]
fn tenants_are_listed_by_name_a_page_at_a_time_and_the_pages_make_the_whole_list() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(data, &["init"]);
    // Names whose order is not their creation order, one with environments and a user.
    let mut names: Vec<String> = (0..23).map(|i| format!("t{}", (i * 7) % 23)).collect();
    for name in &names {
        ok(data, &["tenant", "create", name]);
    }
    ok(data, &["env", "create", "t5/prod"]);
    ok(data, &["env", "create", "t5/test"]);
    ok(data, &["user", "create", "t5/ann", "--license", "plan2"]);
    names.sort();
    let list = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec!["tenant", "list", "--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&ok(data, &all)).unwrap()
    };
    let whole = list(&[]);
    let whole_names: Vec<&str> = whole.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(whole_names, names);

    // Page after page (each a new process on the saved projections) until a short one.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec!["--limit", "5"];
        if let Some(after) = &after {
            args.extend(["--after", after.as_str()]);
        }
        let page = list(&args);
        assert!(page.len() <= 5);
        after = page.last().map(|t| t["name"].as_str().unwrap().to_owned());
        let short = page.len() < 5;
        paged.extend(page);
        if short {
            break;
        }
    }
    assert_eq!(
        paged, whole,
        "the pages are the whole list, counts included"
    );
    let t5 = whole.iter().find(|t| t["name"] == "t5").unwrap();
    assert_eq!(
        (t5["environments"].as_u64(), t5["users"].as_u64()),
        (Some(2), Some(1))
    );

    // A full page says how to get the next; the last does not.
    let out = ferry(data, &["tenant", "list", "--limit", "3"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("ferry tenant list --after t10 --limit 3"),
        "{said}"
    );
    let out = ferry(data, &["tenant", "list", "--after", "t8"]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        2,
        "header and t9"
    );
}

#[test]
fn a_typo_is_answered_with_the_nearest_names_the_caller_may_see() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(data, &["init"]);
    for line in [
        "tenant create northwind",
        "tenant create contoso",
        "env create northwind/prod",
        "env create northwind/test",
        "env create contoso/prod",
        "user create northwind/ann --license plan2",
        "user create contoso/bob --license plan2",
    ] {
        ok(data, &line.split(' ').collect::<Vec<_>>());
    }
    refused(
        data,
        &["env", "list", "northwnd"],
        2,
        "no tenant named northwnd (did you mean northwind?)",
    );
    refused(
        data,
        &["resource", "list", "northwnd/prod"],
        2,
        "(did you mean northwind/prod?)",
    );
    refused(
        data,
        &["resource", "list", "northwind/prd"],
        2,
        "(did you mean northwind/prod?)",
    );
    refused(
        data,
        &["tenant", "list", "--as", "northwind/an"],
        2,
        "(did you mean northwind/ann?)",
    );
    // Nothing far off is offered, and a user is offered only what they may see.
    let far = ferry(data, &["resource", "list", "fabrikam/prod"]);
    assert!(!String::from_utf8_lossy(&far.stderr).contains("did you mean"));
    let out = ferry(
        data,
        &["resource", "list", "northwnd/prod", "--as", "contoso/bob"],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        !said.contains("northwind"),
        "another tenant's name leaked: {said}"
    );
}

#[test]
fn with_json_an_error_is_one_json_object_on_stderr_and_the_exit_code_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(data, &["init"]);
    ok(data, &["tenant", "create", "northwind"]);
    let error = |args: &[&str], code: i32| -> serde_json::Value {
        let out = ferry(data, args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        serde_json::from_str::<serde_json::Value>(&stderr).unwrap()["error"].clone()
    };
    let missing = error(&["env", "list", "northwnd", "--json"], 2);
    assert_eq!(missing["code"], "no-such-tenant");
    assert_eq!(missing["kind"], "not-found");
    assert!(missing["message"]
        .as_str()
        .unwrap()
        .contains("did you mean northwind?"));
    assert!(missing["hint"]
        .as_str()
        .unwrap()
        .contains("ferry tenant list"));
    let taken = error(&["tenant", "create", "northwind", "--json"], 5);
    assert_eq!(
        (taken["code"].as_str(), taken["kind"].as_str()),
        (Some("tenant-exists"), Some("conflict"))
    );
    let unreadable = error(
        &["provision", "none.zip", "--targets", "none.csv", "--json"],
        2,
    );
    assert_eq!(unreadable["kind"], "invalid-input");
    // Without --json, the same failure is a line of text.
    refused(
        data,
        &["tenant", "create", "northwind"],
        5,
        "error: tenant northwind already exists",
    );
}

#[test]
fn bad_names_are_refused_by_the_argument_parser() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["init"]);
    refused(
        dir.path(),
        &["tenant", "create", "Not_A_Name"],
        2,
        "not a valid name",
    );
    refused(
        dir.path(),
        &["env", "create", "no-slash"],
        2,
        "not <tenant>/<name>",
    );
}
