//! `ferry grant` and `ferry revoke`.

use std::path::Path;

use ferry_engine::directory::{Command as DirectoryCommand, TargetRef};
use ferry_schemas::directory::Role;
use serde_json::json;

use super::{execute, open, print_json, Qualified};
use crate::cli::exit;
use crate::cli::resource::find;
use crate::cli::session::Session;
use ferry_schemas::resource::Kind;

/// A role as typed.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum RoleArg {
    /// May create resources in and import into an environment (target: `<tenant>/<env>`).
    EnvironmentMaker,
    /// Administers an environment (target: `<tenant>/<env>`).
    EnvironmentAdmin,
    /// May edit and export an app (target: an app).
    CanEdit,
    /// May run an app (target: an app).
    CanUse,
    /// Owns an app (target: an app).
    Owner,
    /// Reads a tenant's audit trail (target: `<tenant>`).
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(arg: RoleArg) -> Role {
        match arg {
            RoleArg::EnvironmentMaker => Role::EnvironmentMaker,
            RoleArg::EnvironmentAdmin => Role::EnvironmentAdmin,
            RoleArg::CanEdit => Role::CanEdit,
            RoleArg::CanUse => Role::CanUse,
            RoleArg::Owner => Role::Owner,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

/// `<tenant>/<user> <role> <target>`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user, `<tenant>/<user>`.
    user: Qualified,
    /// The role.
    #[arg(value_enum)]
    role: RoleArg,
    /// What the role applies to: `<tenant>/<environment>` for environment roles (it may be
    /// another tenant's environment), `<tenant>/<environment>/<app id or name>` for app roles,
    /// `<tenant>` for auditor.
    target: String,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    json: bool,
}

/// Resolves `<tenant>/<environment>/<app>` in the environment's contents.
fn app_target(data_dir: &Path, environment: &str, app: &str) -> Result<TargetRef, u8> {
    let environment: Qualified = environment
        .parse()
        .map_err(|e| super::fail(&format!("target {e}"), exit::INVALID_INPUT))?;
    let session = Session::open(data_dir)?;
    let env = session.environment(&environment)?;
    let id = session
        .read(|w| find(&w.contents, env, &[Kind::App], app).map(|r| r.id))?
        .map_err(|message| super::fail(&message, exit::INVALID_INPUT))?;
    Ok(TargetRef::App {
        tenant: environment.tenant.clone(),
        id,
        described: format!("{environment}/{app}"),
    })
}

/// Grants (`revoke` false) or revokes a role.
pub fn run(data_dir: &Path, args: Args, revoke: bool) -> Result<u8, u8> {
    let target = match args.target.splitn(3, '/').collect::<Vec<_>>().as_slice() {
        [environment_tenant, environment, app] => app_target(
            data_dir,
            &format!("{environment_tenant}/{environment}"),
            app,
        )?,
        _ => match args.target.parse::<Qualified>() {
            Ok(q) => TargetRef::Environment {
                tenant: q.tenant,
                name: q.name,
            },
            Err(_) => match args.target.parse() {
                Ok(tenant) => TargetRef::Tenant(tenant),
                Err(e) => return Err(super::fail(&format!("target {e}"), exit::INVALID_INPUT)),
            },
        },
    };
    let dir = open(data_dir)?;
    let role = Role::from(args.role);
    let (tenant, user) = (args.user.tenant.clone(), args.user.name.clone());
    let command = if revoke {
        DirectoryCommand::Revoke {
            tenant,
            user,
            role,
            target,
        }
    } else {
        DirectoryCommand::Grant {
            tenant,
            user,
            role,
            target,
        }
    };
    execute(&dir, command)?;
    let verb = if revoke { "revoked" } else { "granted" };
    if args.json {
        print_json(&json!({
            "action": verb, "user": args.user.to_string(), "role": role, "target": args.target,
        }));
    } else {
        println!(
            "{verb} {role} on {} {} {}",
            args.target,
            if revoke { "from" } else { "to" },
            args.user
        );
    }
    Ok(exit::OK)
}
