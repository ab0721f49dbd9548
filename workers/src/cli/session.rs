//! What commands acting on environments and migrations share: the open data directory with
//! its executor, `--as` resolved to a principal, `<tenant>/<env>` resolved to an environment,
//! and engine errors mapped to exit codes.

use std::path::Path;
use std::sync::Arc;

use ferry_engine::authz::{self, Denied};
use ferry_engine::data_dir::DataDir;
use ferry_engine::executor::{self, Executor};
use ferry_engine::migration::{Category, Rejection};
use ferry_engine::world::World;
use ferry_schemas::{Actor, EnvironmentId, MigrationId, PrincipalId};

use super::directory::{fail, open, Qualified};
use super::exit;

/// `--as <tenant>/<user>` (or `FERRY_AS`): the tenant user a command acts for. Without it, the
/// platform operator acts.
#[derive(Debug, Clone, clap::Args)]
pub struct ActAs {
    /// Act as this tenant user, `<tenant>/<user>`; checked against their license and grants
    /// and recorded as the actor. Without it the platform operator acts.
    #[arg(long = "as", env = "FERRY_AS", value_name = "TENANT/USER")]
    pub user: Option<Qualified>,
}

/// An open data directory and its executor.
pub struct Session {
    /// The data directory.
    pub dir: DataDir,
    /// Runs migrations and authoring against the log.
    pub executor: Arc<Executor>,
}

impl Session {
    /// Opens the data directory at `path`.
    pub fn open(path: &Path) -> Result<Session, u8> {
        let dir = open(path)?;
        let executor = Executor::new(dir.store(), dir.blobs().clone()).map_err(engine_error)?;
        Ok(Session {
            dir,
            executor: Arc::new(executor),
        })
    }

    /// Runs `f` on the projections as of the log's end.
    pub fn read<T>(&self, f: impl FnOnce(&World) -> T) -> Result<T, u8> {
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

    /// The principal `--as` names, if any.
    pub fn principal(&self, act_as: &ActAs) -> Result<Option<PrincipalId>, u8> {
        let Some(user) = &act_as.user else {
            return Ok(None);
        };
        let found = self.read(|w| {
            let tenant = w.directory.tenant(&user.tenant)?;
            w.directory.principal(tenant.id, &user.name).map(|p| p.id)
        })?;
        found.map(Some).ok_or_else(|| {
            fail(
                &format!(
                    "no user {user}; `ferry user list {}` shows them",
                    user.tenant
                ),
                exit::INVALID_INPUT,
            )
        })
    }

    /// Checks that `principal` (if any: the operator may do anything) may act on `environment`.
    pub fn check_environment(
        &self,
        principal: Option<PrincipalId>,
        environment: EnvironmentId,
        action: authz::Action,
    ) -> Result<(), u8> {
        let Some(principal) = principal else {
            return Ok(());
        };
        self.read(|w| authz::environment(&w.directory, principal, environment, action))?
            .map_err(denied)
    }

    /// An import migration by id.
    pub fn migration(&self, id: &str) -> Result<MigrationId, u8> {
        let id: MigrationId = id.parse().map_err(|_| {
            fail(
                &format!("{id:?} is not a migration id; `ferry status` lists them"),
                exit::INVALID_INPUT,
            )
        })?;
        if self.read(|w| w.imports.contains_key(&id))? {
            Ok(id)
        } else {
            Err(fail(
                &format!("no import migration {id}; `ferry status` lists them"),
                exit::INVALID_INPUT,
            ))
        }
    }
}

/// The actor recorded for a command run for `principal` (None: the operator).
pub fn actor(principal: Option<PrincipalId>) -> Actor {
    principal.map_or(Actor::Operator, |principal| Actor::Principal { principal })
}

/// Prints a permission refusal; exit code 4.
pub fn denied(denied: Denied) -> u8 {
    fail(&format!("permission denied: {denied}"), exit::DENIED)
}

/// Prints a migration refusal with its exit code.
pub fn rejected(rejection: &Rejection) -> u8 {
    let code = match rejection.category() {
        Category::InvalidInput => exit::INVALID_INPUT,
        Category::Blocked => exit::BLOCKED,
        Category::Conflict => exit::CONFLICT,
    };
    fail(&rejection.to_string(), code)
}

/// Prints an engine failure; a conflict on the log means someone else moved first.
pub fn engine_error(error: executor::Error) -> u8 {
    let code = match &error {
        executor::Error::Log(ferry_engine::log::Error::Conflict { .. }) => exit::CONFLICT,
        executor::Error::NoSuchMigration(_) => exit::INVALID_INPUT,
        _ => exit::FAILURE,
    };
    fail(&error.to_string(), code)
}
