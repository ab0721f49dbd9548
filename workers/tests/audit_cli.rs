//! What auditors use, end to end through the real `ferry` binary: who may see what (an auditor
//! of a tenant reads that tenant's trail, views, bundles and replays and nothing of another; a
//! maker sees their tenant's imports but no audit command; the operator sees everything), the
//! audit log's formats and filters, `env show --as-of` against states captured during a
//! scripted history, replay equality, and the signing key. Verification of the log and of
//! bundles: `audit_verify_cli`.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod audit;
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
}

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use common::audit::{facts, one_import, run_import, verified_frames};
use common::cli::{bind, customer, export, import, resource, text, user, vendor, Ferry};
use serde_json::Value;

// Scenarios.

/// Two tenants with a completed import each, and `cust/aud` (plan2, no environment role),
/// auditor of `cust`.
struct Tenants {
    f: Ferry,
    /// The import into `cust/prod`, by `cust/bob`.
    cust: String,
    /// The import into `vendor/prod`, by `vendor/ann`.
    vendor: String,
    /// Bob's connections in `cust/prod`.
    bob: (String, String),
}

fn two_tenants() -> Tenants {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let (cust, bob) = run_import(&f, "cust/prod", "cust/bob");
    f.ok("grant vendor/ann environment-maker vendor/prod");
    let (vendor, _) = run_import(&f, "vendor/prod", "vendor/ann");
    user(&f, "cust/aud", "plan2", &[]);
    f.ok("grant cust/aud auditor cust");
    Tenants {
        f,
        cust,
        vendor,
        bob,
    }
}

// Reading what ferry prints.

/// The distinct values of a string field of `values`.
fn distinct(values: &[Value], field: &str) -> BTreeSet<String> {
    values.iter().map(|v| text(v, field)).collect()
}

/// The migrations `ferry status --as <user>` lists.
fn listed_imports(f: &Ferry, user: &str) -> BTreeSet<String> {
    let list = f.json(&format!("status --as {user}"));
    distinct(list.as_array().unwrap(), "migration")
}

fn time(fact: &Value) -> DateTime<Utc> {
    text(fact, "time").parse().unwrap()
}

/// Splits one CSV line into its fields (quoted fields may hold commas and doubled quotes).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

// Who may see what.

#[test]
fn an_auditor_reads_their_tenants_trail_views_and_bundles_and_nothing_else() {
    let t = two_tenants();
    let f = &t.f;
    let before = f.snapshot(&["cust/prod", "vendor/prod"]);

    let seen = facts(f, "--as cust/aud");
    assert_eq!(distinct(&seen, "tenant"), BTreeSet::from(["cust".into()]));
    assert!(seen.iter().any(|x| x["migration"] == t.cust.as_str()));
    assert_eq!(
        seen,
        facts(f, "--tenant cust"),
        "the auditor sees all of cust"
    );
    assert_eq!(facts(f, "--tenant cust --as cust/aud"), seen);
    // A tenant the auditor does not audit does not exist for them.
    f.refused(
        2,
        "audit log --tenant vendor --as cust/aud",
        &["no tenant named vendor"],
    );

    f.ok("env show cust/prod --as cust/aud");
    f.ok("env show cust/prod --as-of 1 --as cust/aud");
    for line in [
        "env show vendor/prod --as cust/aud",
        "env show vendor/prod --as-of 1 --as cust/aud",
    ] {
        // Another tenant's environment does not exist for cust's auditor.
        f.refused(2, line, &["no environment vendor/prod"]);
    }

    f.ok("audit export --tenant cust --out cust.zip --as cust/aud");
    assert!(f.path("cust.zip").exists());
    let line = "audit export --tenant vendor --out vendor.zip --as cust/aud";
    f.refused(4, line, &["cust/aud", "audit bundle of vendor", "auditor"]);
    assert!(!f.path("vendor.zip").exists(), "a refused export wrote");

    let replayed = f.json(&format!("audit replay {} --as cust/aud", t.cust));
    assert_eq!(replayed["identical"], true, "{replayed}");
    let line = format!("audit replay {} --as cust/aud", t.vendor);
    f.refused(4, &line, &["cust/aud", "replay", "auditor"]);
    assert_eq!(f.json("audit verify --as cust/aud")["intact"], true);
    assert_eq!(f.snapshot(&["cust/prod", "vendor/prod"]), before);
    f.assert_replays();
}

#[test]
fn an_auditor_cannot_import_answer_start_or_publish() {
    let t = two_tenants();
    let f = &t.f;
    let review = f.json_code(3, "import pkg.zip --into cust/prod --as cust/bob");
    let pending = text(&review, "migration");
    let before = f.snapshot(&["cust/prod"]);
    let refusals = [
        "import pkg.zip --into cust/prod --as cust/aud".to_owned(),
        format!("answer {pending} --as cust/aud {}", bind(&t.bob)),
        format!("start {pending} --as cust/aud --wait"),
        "publish cust/prod --app Expenses --as cust/aud".to_owned(),
    ];
    for line in &refusals {
        f.refused(4, line, &["cust/aud", "environment-maker", "cust/prod"]);
    }
    assert_eq!(f.snapshot(&["cust/prod"]), before);
    assert_eq!(
        f.json_code(3, &format!("status {pending}"))["state"],
        "in review"
    );
    f.assert_replays();
}

#[test]
fn a_maker_sees_their_tenants_imports_but_no_audit_command() {
    let t = two_tenants();
    let f = &t.f;
    let before = f.snapshot(&["cust/prod", "vendor/prod"]);
    for line in [
        "audit log --as cust/bob",
        "audit log --tenant cust --as cust/bob",
        "audit export --tenant cust --out cust.zip --as cust/bob",
        "audit verify --as cust/bob",
        &format!("audit replay {} --as cust/bob", t.cust),
    ] {
        f.refused(4, line, &["cust/bob", "auditor"]);
    }
    assert!(!f.path("cust.zip").exists(), "a refused export wrote");

    assert_eq!(
        listed_imports(f, "cust/bob"),
        BTreeSet::from([t.cust.clone()])
    );
    assert_eq!(
        listed_imports(f, "vendor/ann"),
        BTreeSet::from([t.vendor.clone()])
    );
    let own = f.json(&format!("status {} --as cust/bob", t.cust));
    assert_eq!(own["state"], "completed");
    let other = format!("status {} --as cust/bob", t.vendor);
    // Another tenant's import does not exist for bob: not even its existence is shown.
    f.refused(2, &other, &["no import migration"]);
    assert_eq!(f.snapshot(&["cust/prod", "vendor/prod"]), before);
}

#[test]
fn the_operator_sees_every_tenant() {
    let t = two_tenants();
    let f = &t.f;
    let all = facts(f, "");
    let tenants = BTreeSet::from(["cust".to_owned(), "vendor".to_owned()]);
    assert_eq!(distinct(&all, "tenant"), tenants);
    let imports = f.json("status");
    let imports = distinct(imports.as_array().unwrap(), "migration");
    assert_eq!(imports, BTreeSet::from([t.cust.clone(), t.vendor.clone()]));
    f.ok("env show vendor/prod");
    f.ok("env show cust/prod");
    f.ok("audit export --tenant vendor --out vendor.zip");
    f.ok("audit export --tenant cust --out cust.zip");
    let replayed = f.json("audit replay --all");
    assert_eq!(replayed["migrations"], 2, "{replayed}");
    f.assert_replays();
}

#[test]
fn auditor_on_another_tenant_is_refused_at_grant_time() {
    let f = Ferry::new();
    f.ok("tenant create one");
    f.ok("tenant create two");
    user(&f, "one/aud", "plan2", &[]);
    let before = f.log_size();
    f.refused(2, "grant one/aud auditor two", &["cross", "auditor"]);
    assert_eq!(f.log_size(), before);
    f.refused(
        2,
        "audit log --tenant two --as one/aud",
        &["no tenant named two"],
    );
    // Their own tenant without the role: told what is missing.
    f.refused(
        4,
        "audit log --tenant one --as one/aud",
        &["one/aud", "auditor"],
    );
    f.ok("grant one/aud auditor one");
    f.refused(
        2,
        "audit log --tenant two --as one/aud",
        &["no tenant named two"],
    );
}

#[test]
fn replay_all_needs_auditor() {
    let t = two_tenants();
    t.f.refused(
        4,
        "audit replay --all --as cust/bob",
        &["cust/bob", "auditor"],
    );
}

#[test]
fn replay_all_as_an_auditor_covers_only_the_audited_tenant() {
    let t = two_tenants();
    let own = t.f.json(&format!("audit replay {}", t.cust));
    let all = t.f.json("audit replay --all --as cust/aud");
    assert_eq!(
        (&all["migrations"], &all["steps"]),
        (&own["migrations"], &own["steps"]),
        "{all}"
    );
}

// audit log.

#[test]
fn audit_log_lists_every_record_once() {
    let t = two_tenants();
    let f = &t.f;
    let all = facts(f, "");
    let head = f.json("audit verify")["head"].as_u64().unwrap();
    let positions: Vec<u64> = all
        .iter()
        .map(|x| x["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (1..=head).collect::<Vec<_>>());
    assert_eq!(verified_frames(f).len() as u64, head);
    for fact in &all {
        time(fact); // An RFC 3339 time.
        for field in ["actor", "action", "outcome"] {
            assert!(!text(fact, field).is_empty(), "no {field} in {fact}");
        }
    }
    let table = f.ok("audit log");
    assert_eq!(table.lines().count() as u64, head + 1, "{table}");
}

#[test]
fn audit_log_csv_has_a_header_and_one_line_per_fact_quoting_commas() {
    let (f, migration) = one_import();
    let all = facts(&f, "");
    let csv = f.ok("audit log --format csv");
    let mut lines = csv.lines();
    let header = "position,time,actor,tenant,migration,action,subject,choices,outcome";
    assert_eq!(lines.next(), Some(header));
    let rows: Vec<Vec<String>> = lines.map(csv_fields).collect();
    assert_eq!(rows.len(), all.len());
    for (row, fact) in rows.iter().zip(&all) {
        assert_eq!(row.len(), 9, "{row:?}");
        assert_eq!(row[0], fact["position"].to_string());
        assert_eq!(row[1].parse::<DateTime<Utc>>().unwrap(), time(fact));
        let tenant = fact["tenant"].as_str().unwrap_or_default();
        let migration = fact["migration"].as_str().unwrap_or_default();
        let expected = [
            &text(fact, "actor"),
            tenant,
            migration,
            &text(fact, "action"),
            &text(fact, "subject"),
            &text(fact, "choices"),
            &text(fact, "outcome"),
        ];
        assert_eq!(row[2..], expected, "{fact}");
    }
    // "applied 7, failed 0" holds a comma.
    let completed = format!(",{migration},import completed,,,\"applied 7, failed 0\"");
    assert!(csv.lines().any(|l| l.ends_with(&completed)), "{csv}");
}

#[test]
fn audit_log_filters_keep_exactly_the_facts_they_name() {
    let t = two_tenants();
    let f = &t.f;
    let all = facts(f, "");
    let only = |keep: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        all.iter().filter(|x| keep(x)).cloned().collect()
    };

    let mine = facts(f, &format!("--migration {}", t.cust));
    assert_eq!(mine, only(&|x| x["migration"] == t.cust.as_str()));
    let answers: Vec<Value> = mine
        .iter()
        .filter(|x| x["action"] == "answer given")
        .cloned()
        .collect();
    let choices = distinct(&answers, "choices");
    let bound = [&t.bob.0, &t.bob.1].map(|c| format!("Existing:{c}"));
    assert_eq!(choices, BTreeSet::from(bound));

    let bobs = facts(f, "--actor cust/bob");
    assert!(!bobs.is_empty());
    assert_eq!(bobs, only(&|x| x["actor"] == "cust/bob"));

    let envs = f.json("env list cust");
    let prod = text(&envs[0], "id");
    let in_prod = facts(f, "--env cust/prod");
    assert!(in_prod.iter().any(|x| x["action"] == "step applied"));
    assert_eq!(in_prod, only(&|x| x["environment"] == prod.as_str()));

    let connection = facts(f, &format!("--resource {}", t.bob.0));
    let actions = distinct(&connection, "action");
    for action in ["resource created", "answer given", "step applied"] {
        assert!(actions.contains(action), "{action} missing: {actions:?}");
    }
    let names = |x: &Value| {
        x["resources"]
            .as_array()
            .unwrap()
            .contains(&t.bob.0.as_str().into())
    };
    assert_eq!(connection, only(&names));

    assert_eq!(
        facts(f, "--tenant vendor"),
        only(&|x| x["tenant"] == "vendor")
    );
    let (since, until) = (time(&all[all.len() / 3]), time(&all[2 * all.len() / 3]));
    let window = facts(
        f,
        &format!(
            "--since {} --until {}",
            since.to_rfc3339(),
            until.to_rfc3339()
        ),
    );
    assert!(!window.is_empty() && window.len() < all.len());
    assert_eq!(window, only(&|x| (since..=until).contains(&time(x))));
}

// Point-in-time views.

/// What `env show cust/prod` showed at one moment, and the time of the last fact then.
struct Moment {
    shown: Value,
    time: String,
}

fn capture(f: &Ferry) -> Moment {
    let shown = f.json("env show cust/prod");
    let last = facts(f, "").pop().unwrap();
    assert_eq!(
        last["position"], shown["position"],
        "the view is of the head"
    );
    Moment {
        shown,
        time: text(&last, "time"),
    }
}

#[test]
fn env_show_as_of_equals_the_state_captured_at_that_moment() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let mut moments = vec![capture(&f)];
    let (_, bob) = run_import(&f, "cust/prod", "cust/bob");
    moments.push(capture(&f));
    f.ok("app edit vendor/dev Expenses --flow Approve --as vendor/ann");
    f.ok("publish vendor/dev --app Expenses --as vendor/ann");
    export(&f, "pkg2.zip");
    let targets = f.json("resource list cust/prod");
    let id = |kind, name| text(resource(&targets, kind, name).unwrap(), "id");
    let (app, flow) = (id("app", "Expenses"), id("flow", "Approve"));
    let answers = format!("Expenses=update:{app} Approve=update:{flow} {}", bind(&bob));
    let update = import(&f, "pkg2.zip", "cust/prod", "cust/bob", &answers);
    f.json(&format!("start {update} --as cust/bob --wait"));
    moments.push(capture(&f));
    f.json(&format!("publish {update} --as cust/bob"));
    moments.push(capture(&f));
    f.ok("connector create cust/prod shared_sql");
    let now = f.json("env show cust/prod");
    assert_ne!(now["resources"], moments[3].shown["resources"]);
    for pair in moments.windows(2) {
        assert_ne!(pair[0].shown["resources"], pair[1].shown["resources"]);
    }
    for moment in &moments {
        let position = &moment.shown["position"];
        let at = f.json(&format!("env show cust/prod --as-of {position}"));
        assert_eq!(
            at["resources"], moment.shown["resources"],
            "as of {position}"
        );
        assert_eq!(&at, &moment.shown);
        let at = f.json(&format!("env show cust/prod --as-of {}", moment.time));
        assert_eq!(
            at["resources"], moment.shown["resources"],
            "as of {}",
            moment.time
        );
        assert_eq!(&at, &moment.shown);
    }
    let says = ["neither a log position nor an RFC 3339 time"];
    f.refused(2, "env show cust/prod --as-of foo", &says);
    f.assert_replays();
}

// Replay and the key.

#[test]
fn replaying_one_migration_decides_its_steps_again_identically() {
    let (f, migration) = one_import();
    let replayed = f.json(&format!("audit replay {migration}"));
    assert_eq!(replayed["identical"], true, "{replayed}");
    assert_eq!(replayed["migrations"], 1, "{replayed}");
    assert!(replayed["steps"].as_u64().unwrap() > 0, "{replayed}");
    let says = f.ok(&format!("audit replay {migration}"));
    assert!(says.starts_with("identical"), "{says}");
    f.refused(2, "audit replay", &["name a migration", "--all"]);
    f.refused(2, "audit replay not-a-migration", &["not a migration id"]);
    f.assert_replays();
}

#[test]
fn the_audit_key_is_64_hex_digits_and_stable() {
    let f = Ferry::new();
    let key = f.ok("audit key").trim().to_owned();
    assert_eq!(key.len(), 64, "{key}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    f.ok("tenant create one");
    f.ok("audit checkpoint");
    f.ok("init");
    assert_eq!(f.ok("audit key").trim(), key);
    assert_ne!(
        Ferry::new().ok("audit key").trim(),
        key,
        "two data directories, one key"
    );
}
