//! The CLI while `ferry serve` holds the data directory: every moved command goes through the
//! server (no "in use" error) and prints what it prints without one; with `FERRY_SERVER` and
//! `FERRY_TOKEN` it runs against a remote server as the token's principal.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
    #[allow(dead_code)]
    pub mod server;
}

use common::cli::{bind, connections, customer, export, text, vendor, Ferry};
use common::server::Server;

fn output(f: &Ferry, line: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = f.command(line);
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn commands_run_through_the_server_that_holds_the_data_directory_and_print_the_same() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let server = Server::start(&f);
    // Authoring, import, answers and start, all while the server holds the directory.
    let bob = connections(&f, "cust/prod", "cust/bob");
    let review = f.json_code(3, "import pkg.zip --into cust/prod --as cust/bob");
    let migration = text(&review, "migration");
    f.json(&format!("answer {migration} --as cust/bob {}", bind(&bob)));
    let results = f.json(&format!("start {migration} --as cust/bob --wait"));
    assert_eq!(results["state"], "completed", "{results}");
    // Five at once, while the server's workers run: none is refused.
    let many: Vec<_> = (0..5)
        .map(|_| {
            f.command(&format!("status {migration} --json"))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in many {
        assert!(child.wait_with_output().unwrap().status.success());
    }
    // A directory change through the server's API.
    let set = f.json("user set-license cust/bob plan2-trial");
    assert_eq!(set["license"], "plan2-trial", "{set}");
    let lines = [
        format!("status {migration}"),
        format!("status {migration} --json --as cust/bob"),
        format!("review {migration}"),
        "status --json".to_owned(),
        "tenant list".to_owned(),
        "tenant list --after cust --limit 1 --json".to_owned(),
        "user list cust --json".to_owned(),
        "user set-license cust/bob plan2-trial --json".to_owned(),
        "resource list cust/prod".to_owned(),
        "token list".to_owned(),
        "env list vendor --as cust/bob".to_owned(),
        "audit log --format csv".to_owned(),
        "audit log --tenant cust --format json".to_owned(),
        "audit verify --json".to_owned(),
        "audit replay --all".to_owned(),
        "audit key".to_owned(),
        "env show cust/prod --as-of 5 --json".to_owned(),
        "env show cust/prod".to_owned(),
    ];
    let through: Vec<_> = lines.iter().map(|l| output(&f, l, &[])).collect();
    assert_eq!(server.stop(), 0);
    for (line, served) in lines.iter().zip(&through) {
        assert_eq!(
            &output(&f, line, &[]),
            served,
            "`ferry {line}` differs through the server"
        );
    }
}

#[test]
fn a_remote_cli_acts_as_its_tokens_principal_only() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let bob_token = text(&f.json("token create cust/bob"), "token");
    let server = Server::start(&f);
    let remote = [
        ("FERRY_SERVER", server.url.as_str()),
        ("FERRY_TOKEN", bob_token.as_str()),
    ];
    // A data directory that does not exist here: the remote CLI never opens one.
    let elsewhere = |line: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .env_remove("FERRY_AS")
            .env_remove("FERRY_DATA_DIR")
            .args(["--data-dir", "/nonexistent/ferry"])
            .args(line.split_whitespace())
            .envs(remote)
            .current_dir(f.path(""))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = elsewhere("import pkg.zip --into cust/prod --json");
    assert_eq!(code, 3, "{err}");
    let review: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(review["pending"], 2);
    let migration = text(&review, "migration");
    let (code, _, err) = elsewhere(&format!("review {migration}"));
    assert_eq!(code, 3, "{err}");
    // Bob's token is bob: no operator commands, no acting for others, no other tenant.
    let (code, _, err) = elsewhere("tenant create stolen");
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("operator"), "{err}");
    let (code, _, err) = elsewhere("status --as vendor/ann");
    assert_eq!(code, 4, "{err}");
    let (code, _, _) = elsewhere("resource list vendor/dev");
    assert_eq!(code, 2);
    let (code, _, err) = output(
        &f,
        "status",
        &[
            ("FERRY_SERVER", &server.url),
            ("FERRY_TOKEN", "ferry_bogus"),
        ],
    );
    assert_eq!(code, 4, "{err}");
    let (code, _, err) = output(&f, "status", &[("FERRY_SERVER", &server.url)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("FERRY_TOKEN"), "{err}");
    let imports = f.json("status");
    assert_eq!(imports.as_array().unwrap().len(), 1, "{imports}");
}
