//! `ferry tenant create|list`.

use std::path::Path;

use ferry_engine::directory::Command as DirectoryCommand;
use ferry_schemas::directory::Name;
use ferry_schemas::TenantId;
use serde_json::json;

use super::{execute, load, open, print_json};
use crate::cli::exit;

/// Tenant commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a tenant: the isolation boundary for environments, users and migrations.
    Create {
        /// The tenant's name: lowercase letters, digits and '-'.
        name: Name,
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// List every tenant with its environment and user counts.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a tenant command.
pub fn run(data_dir: &Path, command: Command) -> Result<u8, u8> {
    let dir = open(data_dir)?;
    match command {
        Command::Create { name, json } => {
            let id = TenantId::new();
            execute(
                &dir,
                DirectoryCommand::CreateTenant {
                    id,
                    name: name.clone(),
                },
            )?;
            if json {
                print_json(&json!({ "id": id, "name": name }));
            } else {
                println!("created tenant {name} ({id})");
            }
        }
        Command::List { json } => {
            let state = load(&dir)?;
            let rows: Vec<_> = state
                .tenants()
                .into_iter()
                .map(|t| {
                    (
                        t,
                        state.environments(t.id).len(),
                        state.principals(t.id).len(),
                    )
                })
                .collect();
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|(t, envs, users)| {
                        json!({ "id": t.id, "name": t.name, "environments": envs, "users": users })
                    })
                    .collect();
                print_json(&json!(list));
            } else {
                println!("{:<24} {:>6} {:>6}  ID", "TENANT", "ENVS", "USERS");
                for (t, envs, users) in rows {
                    println!("{:<24} {envs:>6} {users:>6}  {}", t.name, t.id);
                }
            }
        }
    }
    Ok(exit::OK)
}
