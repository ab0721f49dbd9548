//! `ferry tenant create|list`.

use std::path::Path;

use ferry_schemas::directory::Name;

use crate::cli::backend;
use crate::cli::directory::print_json;
use crate::cli::exit;
use crate::cli::session::ActAs;

/// Tenant commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a tenant: the isolation boundary for environments, users and migrations.
    Create {
        /// The tenant's name: lowercase letters, digits and '-'.
        name: Name,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// List tenants by name with their environment and user counts (a user sees their own).
    List {
        /// Only tenants whose names come after this one (the last name of the previous page).
        #[arg(long, value_name = "TENANT")]
        after: Option<Name>,
        /// At most this many tenants (default: every one).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a tenant command.
pub fn run(data_dir: &Path, command: Command) -> Result<u8, u8> {
    match command {
        Command::Create { name, act_as, json } => {
            let backend = backend::open(data_dir, &act_as)?;
            let tenant = backend.create_tenant(name)?;
            if json {
                print_json(&tenant);
            } else {
                say!("created tenant {} ({})", tenant.name, tenant.id);
            }
        }
        Command::List {
            after,
            limit,
            act_as,
            json,
        } => {
            let backend = backend::open(data_dir, &act_as)?;
            let tenants = backend.tenants(after.as_ref(), limit)?;
            let next = limit
                .filter(|limit| tenants.len() == *limit)
                .and(tenants.last())
                .map(|last| {
                    format!(
                        "ferry tenant list --after {} --limit {}",
                        last.name,
                        tenants.len()
                    )
                });
            if json {
                print_json(&tenants);
            } else {
                say!("{:<24} {:>6} {:>6}  ID", "TENANT", "ENVS", "USERS");
                for t in tenants {
                    say!(
                        "{:<24} {:>6} {:>6}  {}",
                        t.name,
                        t.environments,
                        t.users,
                        t.id
                    );
                }
            }
            if let Some(next) = next {
                eprintln!("more tenants may follow: {next}");
            }
        }
    }
    Ok(exit::OK)
}
