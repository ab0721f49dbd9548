//! `ferry user create|list`.

use std::path::Path;

use ferry_engine::directory::{Command as DirectoryCommand, State};
use ferry_schemas::directory::{License, Name, Target};
use ferry_schemas::PrincipalId;
use serde_json::json;

use super::{execute, load, open, print_json, Qualified};
use crate::cli::exit;

/// A license as typed: `plan2`, `plan2-trial` or `none`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LicenseArg {
    /// The full plan.
    Plan2,
    /// The trial plan.
    Plan2Trial,
    /// No license: the user can neither export nor import.
    None,
}

impl From<LicenseArg> for License {
    fn from(arg: LicenseArg) -> License {
        match arg {
            LicenseArg::Plan2 => License::Plan2,
            LicenseArg::Plan2Trial => License::Plan2Trial,
            LicenseArg::None => License::None,
        }
    }
}

/// User commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a user (principal) in a tenant.
    Create {
        /// `<tenant>/<user>`.
        user: Qualified,
        /// The user's license.
        #[arg(long, value_enum)]
        license: LicenseArg,
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's users with their licenses and grants.
    List {
        /// The tenant.
        tenant: Name,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a user command.
pub fn run(data_dir: &Path, command: Command) -> Result<u8, u8> {
    let dir = open(data_dir)?;
    match command {
        Command::Create {
            user,
            license,
            json,
        } => {
            let id = PrincipalId::new();
            let license = License::from(license);
            execute(
                &dir,
                DirectoryCommand::CreateUser {
                    id,
                    tenant: user.tenant.clone(),
                    name: user.name.clone(),
                    license,
                },
            )?;
            if json {
                print_json(&json!({
                    "id": id, "tenant": user.tenant, "name": user.name, "license": license,
                }));
            } else {
                println!(
                    "created user {user} ({id}) with license {}",
                    license.as_str()
                );
            }
        }
        Command::List { tenant, json } => {
            let state = load(&dir)?;
            let t = super::tenant(&state, &tenant)?;
            let users = state.principals(t.id);
            if json {
                let list: Vec<_> = users
                    .iter()
                    .map(|p| {
                        let grants: Vec<_> = state
                            .grants_of(p.id)
                            .into_iter()
                            .map(|(role, target)| {
                                json!({ "role": role, "target": describe(&state, target) })
                            })
                            .collect();
                        json!({ "id": p.id, "name": p.name, "license": p.license, "grants": grants })
                    })
                    .collect();
                print_json(&json!(list));
            } else {
                println!("{:<20} {:<12} GRANTS", "USER", "LICENSE");
                for p in users {
                    let grants: Vec<String> = state
                        .grants_of(p.id)
                        .into_iter()
                        .map(|(role, target)| format!("{role} on {}", describe(&state, target)))
                        .collect();
                    let grants = if grants.is_empty() {
                        "-".into()
                    } else {
                        grants.join(", ")
                    };
                    println!("{:<20} {:<12} {grants}", p.name, p.license.as_str());
                }
            }
        }
    }
    Ok(exit::OK)
}

/// A grant target the way the operator names it: `tenant/env` or `tenant`.
fn describe(state: &State, target: Target) -> String {
    match target {
        Target::Environment(id) => state
            .environment_by_id(id)
            .and_then(|e| Some(format!("{}/{}", state.tenant_by_id(e.tenant)?.name, e.name)))
            .unwrap_or_else(|| id.to_string()),
        Target::Tenant(id) => state
            .tenant_by_id(id)
            .map_or_else(|| id.to_string(), |t| t.name.to_string()),
        Target::App(id) => format!("app {id}"),
    }
}
