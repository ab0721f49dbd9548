//! Running the real `ferry` binary in a throwaway data directory, for end-to-end tests.
//!
//! [`Ferry`] keeps a transcript of everything the binary printed, so a test can assert that
//! something (a secret) never appeared in any output. [`Snapshot`] captures what a refused
//! command must leave untouched: the imports, environments' contents and the log's size.
//! The scenario builders at the end set up the vendor and customer tenants of the migration
//! tests: [`vendor`], [`export`], [`customer`], [`connections`], [`import`].

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// What one invocation did.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// A data directory (initialised) and a work directory for packages and input files.
pub struct Ferry {
    dir: tempfile::TempDir,
    transcript: RefCell<String>,
    /// Global arguments put before every command (the Kafka log's flags).
    global: Vec<String>,
}

impl Ferry {
    /// A fresh, initialised data directory.
    ///
    /// `FERRY_TEST_LOG=kafka` puts it on the Kafka log instead: on tansu when
    /// `FERRY_TEST_BROKERS` names it, else on the in-process mock cluster — so a whole suite runs
    /// on Kafka unchanged (`ops/test.sh` does so for the migration suite).
    pub fn new() -> Ferry {
        if std::env::var("FERRY_TEST_LOG").as_deref() == Ok("kafka") {
            return Self::on_test_kafka();
        }
        Self::with_global(Vec::new())
    }

    fn on_test_kafka() -> Ferry {
        let prefix = super::kafka::prefix("suite");
        let brokers = match std::env::var("FERRY_TEST_BROKERS") {
            Ok(brokers) if !brokers.is_empty() => brokers,
            _ => super::kafka::mock(&prefix),
        };
        Self::on_kafka(&brokers, &prefix)
    }

    /// The files holding the log's records: the log file, or on Kafka this process's cache.
    pub fn log_files(&self) -> Vec<PathBuf> {
        let folder = if self.on_kafka_log() {
            "kafka-cache"
        } else {
            "log"
        };
        files(&self.data_dir().join(folder))
    }

    /// Whether the log is on Kafka.
    fn on_kafka_log(&self) -> bool {
        self.global.iter().any(|a| a == "kafka")
    }

    /// A fresh data directory on the Kafka log at `brokers`, topics named `<prefix>…`.
    #[allow(dead_code)] // Not every test binary runs on Kafka.
    pub fn on_kafka(brokers: &str, prefix: &str) -> Ferry {
        Self::with_global(
            [
                "--log",
                "kafka",
                "--brokers",
                brokers,
                "--topic-prefix",
                prefix,
            ]
            .map(String::from)
            .to_vec(),
        )
    }

    fn with_global(global: Vec<String>) -> Ferry {
        let ferry = Ferry {
            dir: tempfile::tempdir().unwrap(),
            transcript: RefCell::new(String::new()),
            global,
        };
        ferry.ok("init");
        ferry
    }

    /// `ferry <command line>` as configured for this data directory, not started yet.
    pub fn command(&self, line: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
        command
            .env_remove("FERRY_AS")
            .env_remove("FERRY_DATA_DIR")
            .env_remove("FERRY_LOG")
            .env_remove("FERRY_BROKERS")
            .env_remove("FERRY_TOPIC_PREFIX")
            .env_remove("FERRY_TRACE")
            .env_remove("FERRY_SERVER")
            .env_remove("FERRY_TOKEN")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(&self.global)
            .args(line.split_whitespace())
            .current_dir(self.dir.path());
        command
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A file in the work directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file in the work directory.
    pub fn write(&self, name: &str, contents: &[u8]) {
        std::fs::write(self.path(name), contents).unwrap();
    }

    /// Runs `ferry --data-dir <data> <command line>`, in the work directory: the command
    /// line is split on whitespace, so file arguments are names relative to it.
    pub fn run(&self, line: &str) -> Run {
        let out = self.command(line).output().unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        };
        let mut transcript = self.transcript.borrow_mut();
        transcript.push_str(&run.stdout);
        transcript.push_str(&run.stderr);
        run
    }

    /// Runs `line`, asserting exit code `code`.
    pub fn expect(&self, code: i32, line: &str) -> Run {
        let run = self.run(line);
        assert_eq!(
            run.code, code,
            "ferry {line} exited {} (expected {code})\nstdout: {}\nstderr: {}",
            run.code, run.stdout, run.stderr
        );
        run
    }

    /// Runs `line`, asserting success; returns stdout.
    pub fn ok(&self, line: &str) -> String {
        self.expect(0, line).stdout
    }

    /// Runs `line --json`, asserting exit code `code`; stdout must be exactly one JSON value.
    pub fn json_code(&self, code: i32, line: &str) -> Value {
        let line = format!("{line} --json");
        let run = self.expect(code, &line);
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "ferry {line} printed no single JSON value ({e}): {}",
                run.stdout
            )
        })
    }

    /// Runs `line --json`, asserting success.
    pub fn json(&self, line: &str) -> Value {
        self.json_code(0, line)
    }

    /// Runs `line`, asserting exit code `code` and a message on stderr containing every one
    /// of `says`; returns stderr.
    pub fn refused(&self, code: i32, line: &str, says: &[&str]) -> String {
        let run = self.expect(code, line);
        for words in says {
            assert!(
                run.stderr.contains(words),
                "ferry {line} said {:?}, which does not mention {words:?}",
                run.stderr
            );
        }
        run.stderr
    }

    /// Everything every invocation printed so far.
    pub fn transcript(&self) -> String {
        self.transcript.borrow().clone()
    }

    /// The total size of the log's files.
    pub fn log_size(&self) -> u64 {
        if self.on_kafka_log() {
            // The records, as the log's head (bytes are the file store's measure).
            let verified = self.json("audit verify");
            return verified["head"].as_u64().unwrap();
        }
        files(&self.data_dir().join("log"))
            .iter()
            .map(|p| p.metadata().unwrap().len())
            .sum()
    }

    /// What a refused command must not change, as seen from `environments`.
    pub fn snapshot(&self, environments: &[&str]) -> Snapshot {
        Snapshot {
            imports: self.json("status"),
            contents: environments
                .iter()
                .map(|env| self.json(&format!("resource list {env}")))
                .collect(),
            log_size: self.log_size(),
        }
    }

    /// Asserts that `ferry audit replay --all` finds every import on the log decided again,
    /// with the current code, exactly as recorded; and that it replayed steps if any import
    /// started.
    pub fn assert_replays(&self) {
        let replayed = self.json("audit replay --all");
        assert_eq!(replayed["identical"], true, "{replayed}");
        let imports = self.json("status");
        let started = imports
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["state"] != "in review" && i["state"] != "cancelled");
        if started {
            let steps = replayed["steps"].as_u64().unwrap();
            assert!(steps > 0, "imports ran, yet no step replayed: {replayed}");
        }
    }
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The imports, environments' contents and log size at one moment.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    imports: Value,
    /// What each environment holds.
    pub contents: Vec<Value>,
    log_size: u64,
}

/// The review or status item named `name` (display name), which must be unique.
pub fn item<'v>(report: &'v Value, name: &str) -> &'v Value {
    let found: Vec<&Value> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one item {name:?} in {report}");
    found[0]
}

/// A string field of a JSON value.
pub fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field:?} in {value}"))
        .to_owned()
}

/// The resource named `name` of an environment's `resource list --json`.
pub fn resource<'v>(list: &'v Value, kind: &str, name: &str) -> Option<&'v Value> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind && r["name"] == name)
}

// The vendor → customer scenario.

/// The vendor's credentials: must never be printed, exported or logged.
pub const SECRET: &str = "vendor-token-7f1c9e-never-print-me";

/// A small Logic Apps workflow.
pub const WORKFLOW: &[u8] = br#"{"triggers":{},"actions":{}}"#;

/// Tenant `vendor` with `dev` (default) and `prod`; `vendor/ann` (plan2, environment-maker on
/// dev) owns two connections with credentials, the flow "Approve" bound to them and the app
/// "Expenses" calling the flow. Returns the app's id.
pub fn vendor(f: &Ferry) -> String {
    f.ok("tenant create vendor");
    f.ok("env create vendor/dev --default");
    f.ok("env create vendor/prod");
    user(f, "vendor/ann", "plan2", &["vendor/dev"]);
    f.ok("connector create vendor/dev shared_office365 --as vendor/ann");
    f.ok("connector create vendor/dev shared_sharepointonline --as vendor/ann");
    f.write("secret.txt", SECRET.as_bytes());
    let connection = |connector: &str, account: &str| {
        let line = format!(
            "connection create vendor/dev --connector {connector} --account {account} \
             --secret-file secret.txt --as vendor/ann"
        );
        text(&f.json(&line), "id")
    };
    let o365 = connection("shared_office365", "a@vendor.example");
    let sharepoint = connection("shared_sharepointonline", "s@vendor.example");
    f.write("wf.json", WORKFLOW);
    f.json(&format!(
        "flow create vendor/dev Approve --definition wf.json --connection shared_office365={o365} \
         --connection shared_sharepointonline={sharepoint} --as vendor/ann"
    ));
    f.ok("app create vendor/dev Expenses --flow Approve --connector shared_office365 --as vendor/ann");
    text(&f.json("resource show vendor/dev Expenses"), "id")
}

/// `vendor/ann` exports "Expenses" to `out` in the work directory.
pub fn export(f: &Ferry, out: &str) {
    let exported = f.json(&format!(
        "export vendor/dev --app Expenses --as vendor/ann --name Expenses --out {out}"
    ));
    // Connectors (office365, sharepoint, logic flows), two connections, the flow, the app.
    assert_eq!(
        exported["resources"].as_array().unwrap().len(),
        7,
        "{exported}"
    );
}

/// Creates `user` with `license` and environment-maker on each of `maker_on`.
pub fn user(f: &Ferry, user: &str, license: &str, maker_on: &[&str]) {
    f.ok(&format!("user create {user} --license {license}"));
    for env in maker_on {
        f.ok(&format!("grant {user} environment-maker {env}"));
    }
}

/// The customer: tenant `cust` with `prod` (not default) and `cust/bob` (plan2, maker there).
pub fn customer(f: &Ferry) {
    f.ok("tenant create cust");
    f.ok("env create cust/prod");
    user(f, "cust/bob", "plan2", &["cust/prod"]);
}

/// `user`'s own office365 and sharepoint connections in `env` (no credentials), named
/// `<tenant>.<user>@o365` and `…@sp`.
pub fn connections(f: &Ferry, env: &str, user: &str) -> (String, String) {
    let account = user.replace('/', ".");
    let create = |connector: &str, suffix: &str| {
        let line = format!(
            "connection create {env} --connector {connector} --account {account}@{suffix} --as {user}"
        );
        text(&f.json(&line), "id")
    };
    (
        create("shared_office365", "o365"),
        create("shared_sharepointonline", "sp"),
    )
}

/// The answers binding the package's two connections to `(o365, sharepoint)`.
pub fn bind(connections: &(String, String)) -> String {
    format!(
        "a@vendor.example=existing:{} s@vendor.example=existing:{}",
        connections.0, connections.1
    )
}

/// Imports `package` into `env` as `user` (blocked on its connections) and records
/// `answers`, which answer everything; returns the migration id.
pub fn import(f: &Ferry, package: &str, env: &str, user: &str, answers: &str) -> String {
    let review = f.json_code(3, &format!("import {package} --into {env} --as {user}"));
    let migration = text(&review, "migration");
    let answered = f.json(&format!("answer {migration} --as {user} {answers}"));
    assert_eq!(answered["pending"], 0, "{answered}");
    migration
}

/// Runs the whole first import of pkg.zip into `cust/prod` as bob; returns the target app's
/// and flow's ids and bob's connections.
pub fn first_import(f: &Ferry) -> (String, String, (String, String)) {
    let bob = connections(f, "cust/prod", "cust/bob");
    let migration = import(f, "pkg.zip", "cust/prod", "cust/bob", &bind(&bob));
    let results = f.json(&format!("start {migration} --as cust/bob --wait"));
    assert_eq!(results["state"], "completed", "{results}");
    (
        text(item(&results, "Expenses"), "target"),
        text(item(&results, "Approve"), "target"),
        bob,
    )
}

/// `(name, outcome)` of every item of a results page.
pub fn outcomes(results: &Value) -> Vec<(String, String)> {
    results["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (text(i, "name"), text(i, "outcome")))
        .collect()
}
