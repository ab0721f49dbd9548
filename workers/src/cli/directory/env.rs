//! `ferry env create|list`.

use std::path::Path;

use ferry_engine::directory::Command as DirectoryCommand;
use ferry_schemas::directory::Name;
use ferry_schemas::EnvironmentId;
use serde_json::json;

use super::{execute, load, open, print_json, Qualified};
use crate::cli::exit;

/// Environment commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create an environment in a tenant.
    Create {
        /// `<tenant>/<environment>`.
        environment: Qualified,
        /// Make it the tenant's default environment (at most one per tenant; gateways are only
        /// usable there).
        #[arg(long)]
        default: bool,
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Show an environment's contents, now or as of a time or log position (`--as-of`).
    Show(crate::cli::env_show::ShowArgs),
    /// List a tenant's environments.
    List {
        /// The tenant.
        tenant: Name,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an environment command.
pub fn run(data_dir: &Path, command: Command) -> Result<u8, u8> {
    match command {
        // Opens the data directory itself (and maybe folds only part of the log).
        Command::Show(args) => return crate::cli::env_show::show(data_dir, args),
        Command::Create {
            environment,
            default,
            json,
        } => {
            let dir = open(data_dir)?;
            let id = EnvironmentId::new();
            execute(
                &dir,
                DirectoryCommand::CreateEnvironment {
                    id,
                    tenant: environment.tenant.clone(),
                    name: environment.name.clone(),
                    default,
                },
            )?;
            if json {
                print_json(&json!({
                    "id": id,
                    "tenant": environment.tenant,
                    "name": environment.name,
                    "default": default,
                }));
            } else {
                let kind = if default {
                    "default environment"
                } else {
                    "environment"
                };
                println!("created {kind} {environment} ({id})");
            }
        }
        Command::List { tenant, json } => {
            let dir = open(data_dir)?;
            let state = load(&dir)?;
            let t = super::tenant(&state, &tenant)?;
            let envs = state.environments(t.id);
            if json {
                let list: Vec<_> = envs
                    .iter()
                    .map(|e| json!({ "id": e.id, "name": e.name, "default": e.default }))
                    .collect();
                print_json(&json!(list));
            } else {
                println!("{:<24} {:<8} ID", "ENVIRONMENT", "DEFAULT");
                for e in envs {
                    let default = if e.default { "yes" } else { "" };
                    println!("{:<24} {default:<8} {}", e.name, e.id);
                }
            }
        }
    }
    Ok(exit::OK)
}
