//! `ferry demo`: the product's scenario on a fresh data directory, narrated. Every step is a
//! real `ferry` command run in this process through the same parser and code paths as the
//! binary; the demo only decides which command comes next, reading the state like a user
//! reading the previous command's output would.

use std::fs;
use std::path::{Path, PathBuf};

use ferry_engine::environment::Resource;
use ferry_engine::migration::Import;
use ferry_schemas::resource::Kind;

use super::directory::{fail, Qualified};
use super::exit;
use super::session::Session;

/// `ferry demo`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// The flow's Logic Apps workflow: a button that sends an approval mail and logs to a list.
const WORKFLOW: &str = r#"{"$schema":"https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#","contentVersion":"1.0.0.0","triggers":{"manual":{"type":"Request","kind":"Button"}},"actions":{"Send_approval_email":{"type":"OpenApiConnection","inputs":{"host":{"connectionName":"shared_office365"}}},"Log_to_list":{"type":"OpenApiConnection","inputs":{"host":{"connectionName":"shared_sharepointonline"}}}}}"#;

/// Marks a folder as made by the demo, so a later demo may replace it.
const MARKER: &str = ".ferry-demo";
const DEFAULT_DIR: &str = "ferry-demo";

struct Demo {
    dir: PathBuf,
    files: PathBuf,
}

/// Runs the demo in `data_dir` (default `./ferry-demo`), which must be new, empty, or an
/// earlier demo's.
pub fn run(data_dir: Option<&Path>, _args: &Args) -> Result<u8, u8> {
    let dir = data_dir.map_or_else(|| PathBuf::from(DEFAULT_DIR), Path::to_path_buf);
    prepare(&dir)?;
    // On Kafka, each demo gets its own topics: the brokers may hold an earlier demo's story.
    let mut log = super::directory::log_settings();
    if log.kafka().is_ok_and(|k| k.is_some()) && log.topic_prefix.is_none() {
        let stamp = super::clock_now().format("%Y%m%d%H%M%S%3f");
        log.topic_prefix = Some(format!("ferry-demo-{stamp}."));
        super::directory::use_log(log);
    }
    let demo = Demo {
        files: dir.join("demo-files"),
        dir,
    };
    fs::create_dir_all(&demo.files).map_err(|e| io(&demo.files, &e))?;
    demo.scenario()?;
    say!();
    say!(
        "Done. The data directory is {}; try `ferry --data-dir {} status` or `ferry --data-dir {} resource list contoso/prod`.",
        demo.dir.display(),
        demo.dir.display(),
        demo.dir.display()
    );
    Ok(exit::OK)
}

fn io(path: &Path, e: &std::io::Error) -> u8 {
    fail(&format!("{}: {e}", path.display()), exit::FAILURE)
}

/// Clears an earlier demo's folder; refuses to touch anything else that is not empty.
fn prepare(dir: &Path) -> Result<(), u8> {
    let Ok(mut entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    if entries.next().is_none() {
        return Ok(());
    }
    if !dir.join(MARKER).exists() {
        return Err(fail(
            &format!(
                "{} is not empty and not an earlier demo's; pass --data-dir with a new folder",
                dir.display()
            ),
            exit::CONFLICT,
        ));
    }
    fs::remove_dir_all(dir).map_err(|e| io(dir, &e))
}

impl Demo {
    fn say(&self, text: &str) {
        say!();
        say!("── {text}");
    }

    /// Runs `ferry <args>` and checks its exit code is one of `expected`.
    fn ferry(&self, args: &[&str], expected: &[u8]) -> Result<(), u8> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains(' ') {
                    format!("{a:?}")
                } else {
                    (*a).to_owned()
                }
            })
            .collect();
        say!("$ ferry {}", shown.join(" "));
        let dir = self.dir.display().to_string();
        let argv = ["ferry", "--data-dir", dir.as_str()]
            .into_iter()
            .chain(args.iter().copied());
        let code = super::run_args(argv).map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
        if expected.contains(&code) {
            Ok(())
        } else {
            Err(fail(
                &format!("the demo expected exit code {expected:?} from that command, got {code}"),
                exit::FAILURE,
            ))
        }
    }

    fn file(&self, name: &str, content: &str) -> Result<String, u8> {
        let path = self.files.join(name);
        fs::write(&path, content).map_err(|e| io(&path, &e))?;
        Ok(path.display().to_string())
    }

    /// Reads the state between commands (each command opens the data directory itself).
    fn read<T>(&self, f: impl FnOnce(&Session) -> Result<T, u8>) -> Result<T, u8> {
        let session = Session::open(&self.dir)?;
        f(&session)
    }

    fn latest_import(&self) -> Result<Import, u8> {
        self.read(|s| s.read(|w| w.imports.values().last().cloned()))?
            .ok_or_else(|| fail("the import left no migration", exit::FAILURE))
    }

    /// The id of the first resource of `environment` that `wanted` accepts.
    fn id_where(
        &self,
        environment: &str,
        wanted: impl Fn(&Resource) -> bool,
    ) -> Result<String, u8> {
        let name: Qualified = environment
            .parse()
            .map_err(|e: String| fail(&e, exit::FAILURE))?;
        self.read(|s| {
            let env = s.environment(&name)?;
            s.read(|w| {
                w.contents
                    .of(env)
                    .into_iter()
                    .find(|r| wanted(r))
                    .map(|r| r.id.to_string())
            })
        })?
        .ok_or_else(|| {
            fail(
                &format!("the demo found nothing it needs in {environment}"),
                exit::FAILURE,
            )
        })
    }

    /// `<key>=existing:<id>` for every connection item: the importer's connection of the same
    /// connector, as the review's candidates list them.
    fn connection_answers(&self, import: &Import) -> Result<Vec<String>, u8> {
        self.read(|s| {
            s.read(|w| {
                import
                    .items
                    .iter()
                    .filter(|i| i.review.kind == Kind::Connection)
                    .filter_map(|i| {
                        let target = w.contents.of(import.environment).into_iter().find(|r| {
                            r.kind == Kind::Connection && r.connector == i.review.connector
                        })?;
                        Some(format!("{}=existing:{}", i.review.manifest_key, target.id))
                    })
                    .collect()
            })
        })
    }

    fn ferry_as(&self, user: &str, args: &[&str], expected: &[u8]) -> Result<(), u8> {
        self.ferry(&[args, &["--as", user]].concat(), expected)
    }

    fn connection(
        &self,
        user: &str,
        environment: &str,
        connector: &str,
        account: &str,
    ) -> Result<(), u8> {
        let secret = self.file(
            &format!("{}-token.txt", user.replace('/', "-")),
            &format!("demo-credential-for-{user}"),
        )?;
        let args = [
            "connection",
            "create",
            environment,
            "--connector",
            connector,
        ];
        let rest = ["--account", account, "--secret-file", &secret];
        self.ferry_as(user, &[&args[..], &rest].concat(), &[exit::OK])
    }

    /// Imports `package` as `user` (blocked: it needs answers), answers with the user's own
    /// connections plus `more(import)`, and returns the import's id.
    fn import(
        &self,
        user: &str,
        package: &str,
        into: &str,
        more: impl Fn(&Import) -> Vec<String>,
    ) -> Result<String, u8> {
        self.ferry_as(user, &["import", package, "--into", into], &[exit::BLOCKED])?;
        let import = self.latest_import()?;
        let mut answers = self.connection_answers(&import)?;
        answers.extend(more(&import));
        let id = import.id.to_string();
        self.say("Each item that needs input gets an answer; the review shows the choices.");
        let args: Vec<&str> = ["answer", id.as_str()]
            .into_iter()
            .chain(answers.iter().map(String::as_str))
            .collect();
        self.ferry_as(user, &args, &[exit::OK])?;
        Ok(id)
    }

    fn scenario(&self) -> Result<(), u8> {
        const CONNECTORS: [&str; 2] = ["shared_office365", "shared_sharepointonline"];
        let (maya, omar) = ("vendor/maya", "contoso/omar");
        self.say("A data directory: Ferry's log, blobs and secrets, no server.");
        self.ferry(&["init"], &[exit::OK])?;
        let marker = self.dir.join(MARKER);
        fs::write(&marker, "made by `ferry demo`\n").map_err(|e| io(&marker, &e))?;

        self.say("The vendor: a tenant with Dev and Prod, and a maker licensed to build in Dev.");
        self.ferry(&["tenant", "create", "vendor"], &[exit::OK])?;
        self.ferry(&["env", "create", "vendor/dev", "--default"], &[exit::OK])?;
        self.ferry(&["env", "create", "vendor/prod"], &[exit::OK])?;
        self.ferry(&["user", "create", maya, "--license", "plan2"], &[exit::OK])?;
        self.ferry(
            &["grant", maya, "environment-maker", "vendor/dev"],
            &[exit::OK],
        )?;

        self.say("Maya builds an app in Dev that calls a flow, which uses two connections.");
        let mut flow = vec!["flow", "create", "vendor/dev", "Approve expense"];
        let workflow = self.file("approve-expense.json", WORKFLOW)?;
        flow.extend(["--definition", &workflow]);
        let mut bindings = Vec::new();
        for connector in CONNECTORS {
            self.ferry_as(
                maya,
                &["connector", "create", "vendor/dev", connector],
                &[exit::OK],
            )?;
            self.connection(maya, "vendor/dev", connector, "maya@vendor.example")?;
            let id = self.id_where("vendor/dev", |r| {
                r.kind == Kind::Connection && r.connector.as_deref() == Some(connector)
            })?;
            bindings.push(format!("{connector}={id}"));
        }
        for binding in &bindings {
            flow.extend(["--connection", binding]);
        }
        self.ferry_as(maya, &flow, &[exit::OK])?;
        let app = [
            "app",
            "create",
            "vendor/dev",
            "Expenses",
            "--flow",
            "Approve expense",
        ];
        self.ferry_as(
            maya,
            &[&app[..], &["--connector", CONNECTORS[0]]].concat(),
            &[exit::OK],
        )?;
        self.ferry(&["resource", "list", "vendor/dev"], &[exit::OK])?;

        self.say("Maya exports the app: the package holds the app, the flow and what they need, never the credentials.");
        let package_v1 = self.files.join("expenses-1.0.zip").display().to_string();
        let export = ["export", "vendor/dev", "--app", "Expenses"];
        let v1 = [
            "--name",
            "Expenses 1.0",
            "--description",
            "Expense approvals",
        ];
        self.ferry_as(
            maya,
            &[&export[..], &v1, &["--out", &package_v1]].concat(),
            &[exit::OK],
        )?;

        self.say("A new customer: Contoso gets a tenant, a production environment and its own connections.");
        self.ferry(&["tenant", "create", "contoso"], &[exit::OK])?;
        self.ferry(&["env", "create", "contoso/prod", "--default"], &[exit::OK])?;
        self.ferry(&["user", "create", omar, "--license", "plan2"], &[exit::OK])?;
        self.ferry(
            &["grant", omar, "environment-maker", "contoso/prod"],
            &[exit::OK],
        )?;
        for connector in CONNECTORS {
            self.connection(omar, "contoso/prod", connector, "omar@contoso.example")?;
        }

        self.say("Omar imports the package. The review marks what needs input: the connections to bind (exit code 3).");
        let id = self.import(omar, &package_v1, "contoso/prod", |_| Vec::new())?;
        self.say("He starts the import; workers apply one step per resource, in dependency order.");
        self.ferry_as(omar, &["start", &id, "--wait"], &[exit::OK])?;
        self.ferry(&["status", &id, "--map"], &[exit::OK])?;

        self.say("Maya changes the app in Dev (a draft), publishes it, and exports version 2.");
        let edit = [
            "app",
            "edit",
            "vendor/dev",
            "Expenses",
            "--flow",
            "Approve expense",
        ];
        let uses = ["--connector", CONNECTORS[0], "--connector", CONNECTORS[1]];
        self.ferry_as(maya, &[&edit[..], &uses].concat(), &[exit::OK])?;
        self.ferry_as(
            maya,
            &["publish", "vendor/dev", "--app", "Expenses"],
            &[exit::OK],
        )?;
        let package_v2 = self.files.join("expenses-2.0.zip").display().to_string();
        let v2 = ["--name", "Expenses 2.0", "--action", "Expenses=update"];
        let comment = ["--comment", "Expenses=Adds SharePoint lookups"];
        self.ferry_as(
            maya,
            &[&export[..], &v2, &comment, &["--out", &package_v2]].concat(),
            &[exit::OK],
        )?;

        self.say("Omar imports version 2. Ferry's identity map suggests updating what the first import created.");
        let id = self.import(omar, &package_v2, "contoso/prod", |import| {
            import
                .items
                .iter()
                .filter(|i| matches!(i.review.kind, Kind::App | Kind::Flow))
                .filter_map(|i| {
                    let target = i.review.suggested_target?;
                    Some(format!("{}=update:{target}", i.review.manifest_key))
                })
                .collect()
        })?;
        self.say("The update lands as drafts: what Contoso's users run is untouched until it is published.");
        self.ferry_as(omar, &["start", &id, "--wait"], &[exit::OK])?;
        self.ferry(
            &["resource", "list", "contoso/prod", "--kind", "app"],
            &[exit::OK],
        )?;
        self.ferry_as(omar, &["publish", &id], &[exit::OK])?;
        self.ferry(&["resource", "list", "contoso/prod"], &[exit::OK])?;

        self.say(
            "The audit trail: every fact above is a record on the log, with its actor and choices.",
        );
        self.ferry(&["audit", "log"], &[exit::OK])?;
        self.say("Nothing was tampered with: the hash chain and the signed checkpoints hold.");
        self.ferry(&["audit", "checkpoint"], &[exit::OK])?;
        self.ferry(&["audit", "verify"], &[exit::OK])
    }
}
