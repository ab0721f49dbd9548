//! `ferry grant` and `ferry revoke`.

use std::path::Path;

use ferry_engine::app::GrantRequest;
use ferry_schemas::directory::Role;

use super::Qualified;
use crate::cli::backend;
use crate::cli::directory::print_json;
use crate::cli::exit;
use crate::cli::session::ActAs;

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
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    json: bool,
}

/// Grants (`revoke` false) or revokes a role.
pub fn run(data_dir: &Path, args: Args, revoke: bool) -> Result<u8, u8> {
    let backend = backend::open(data_dir, &args.act_as)?;
    let request = GrantRequest {
        user: args.user.clone(),
        role: Role::from(args.role),
        target: args.target.clone(),
    };
    let done = backend.grant(request, revoke)?;
    if args.json {
        print_json(&done);
    } else {
        say!(
            "{} {} on {} {} {}",
            done.action,
            done.role,
            done.target,
            if revoke { "from" } else { "to" },
            done.user
        );
    }
    Ok(exit::OK)
}
