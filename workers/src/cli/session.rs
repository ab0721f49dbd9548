//! What commands share: Ferry opened on the data directory, `--as` resolved to the caller, and
//! the application layer's errors printed with a hint and mapped to exit codes.

use std::path::Path;
use std::sync::Arc;

use ferry_engine::app::{self, Caller, Ferry, Kind};
use ferry_engine::executor::{self, Executor};
use ferry_engine::world::World;
use ferry_schemas::{EnvironmentId, MigrationId};

use super::directory::{fail, log_settings, Qualified};
use super::exit;

/// `--as <tenant>/<user>` (or `FERRY_AS`): the tenant user a command acts for. Without it, the
/// platform operator acts.
#[derive(Debug, Clone, clap::Args)]
pub struct ActAs {
    /// Act as this tenant user, `<tenant>/<user>`; checked against their license and grants
    /// and recorded as the actor. Without it the platform operator acts.
    #[arg(id = "as", long = "as", env = "FERRY_AS", value_name = "TENANT/USER")]
    pub user: Option<Qualified>,
}

/// Opens Ferry on the data directory at `path`, with this command line's log settings.
pub fn open_app(path: &Path) -> Result<Ferry, u8> {
    Ferry::open(app::Options::new(path).log(log_settings())).map_err(|error| {
        match super::backend::local_server(path) {
            Some(server) if error.code == "data-dir-in-use" => fail(
                &format!(
                    "the server at {} (pid {}) holds {}; this command does not run through a server yet: stop the server to run it",
                    server.url,
                    server.pid,
                    path.display()
                ),
                exit::FAILURE,
            ),
            _ => refused(error),
        }
    })
}

/// The caller `--as` names: that user, or the operator.
pub fn caller(ferry: &Ferry, act_as: &ActAs) -> Result<Caller, u8> {
    match &act_as.user {
        None => Ok(Caller::Operator),
        // Whoever runs the CLI on the data directory is the operator.
        Some(user) => ferry.act_as(&Caller::Operator, user).map_err(refused),
    }
}

/// The exit code for an error of `kind`.
pub fn exit_code(kind: Kind) -> u8 {
    match kind {
        Kind::InvalidInput | Kind::NotFound => exit::INVALID_INPUT,
        Kind::NeedsInput => exit::BLOCKED,
        Kind::Unauthenticated | Kind::Denied => exit::DENIED,
        Kind::Conflict => exit::CONFLICT,
        Kind::Tampered => exit::TAMPERED,
        Kind::Unavailable | Kind::Internal => exit::FAILURE,
    }
}

/// What to run next, for the errors a command line can help with.
fn hint(error: &app::Error) -> Option<&'static str> {
    Some(match error.code.as_ref() {
        "no-such-migration" => "`ferry status` lists the imports",
        "no-such-environment" => "`ferry env list <tenant>` shows a tenant's environments",
        "no-such-user" => "`ferry user list <tenant>` shows a tenant's users",
        "no-such-tenant" => "`ferry tenant list` shows the tenants",
        "no-such-resource" => "`ferry resource list <tenant>/<environment>` shows what is there",
        "no-such-token" => "`ferry token list` shows the tokens",
        "no-such-provision" => "`ferry provision status` lists the runs",
        "no-such-item" => "`ferry review <migration>` lists the items",
        "no-such-target" => "`ferry resource list <tenant>/<environment>` shows what is there",
        "not-usable" => "`ferry connection create` makes your own",
        "needs-input" => "answer them with `ferry answer <migration> <item>=<choice>`",
        "dry-run" => "import again without --dry-run",
        "no-license" => "the operator sets licenses with `ferry user create`",
        "missing-role" => {
            "the operator grants roles with `ferry grant <tenant>/<user> <role> <target>`"
        }
        "not-granted" => "`ferry user list <tenant>` shows the grants",
        "no-data-directory" => "run `ferry init` first, or pass --data-dir",
        "no-answers" => "pass <item>=<choice> or --answers-file",
        "operator-only" => "run it without --as (and without FERRY_AS), as the operator",
        "data-dir-in-use" => {
            "stop the process that holds it, or run the command through its server"
        }
        _ => return None,
    })
}

/// Prints an application error (`error: …`, with a hint) and returns its exit code.
pub fn refused(error: app::Error) -> u8 {
    super::report::error(
        error.kind,
        &error.code,
        &error.message,
        hint(&error),
        exit_code(error.kind),
    )
}

/// The executor over an open data directory, for what reads the projections directly (the
/// demo's narration).
pub struct Session {
    /// Runs migrations and authoring against the log.
    pub executor: Arc<Executor>,
}

impl Session {
    /// Opens the data directory at `path`.
    pub fn open(path: &Path) -> Result<Session, u8> {
        let ferry = open_app(path)?;
        let executor = ferry.executor().map_err(refused)?;
        Ok(Session { executor })
    }

    /// Runs `f` on the projections as of the log's end.
    pub fn read<T>(&self, f: impl Fn(&World) -> T) -> Result<T, u8> {
        self.executor.read(f).map_err(engine_error)
    }

    /// The environment `<tenant>/<env>`.
    pub fn environment(&self, name: &Qualified) -> Result<EnvironmentId, u8> {
        self.read(|w| {
            let tenant = w.directory.tenant(&name.tenant)?;
            w.directory.environment(tenant.id, &name.name).map(|e| e.id)
        })?
        .ok_or_else(|| {
            fail(
                &format!(
                    "no environment {name}; `ferry env list {}` shows them",
                    name.tenant
                ),
                exit::INVALID_INPUT,
            )
        })
    }
}

/// A migration id as typed.
pub fn migration_id(text: &str) -> Result<MigrationId, u8> {
    text.parse().map_err(|_| {
        fail(
            &format!("{text:?} is not a migration id; `ferry status` lists them"),
            exit::INVALID_INPUT,
        )
    })
}

/// Prints an engine failure; a conflict on the log means someone else moved first.
pub fn engine_error(error: executor::Error) -> u8 {
    refused(error.into())
}
