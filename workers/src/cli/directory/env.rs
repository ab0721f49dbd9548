//! `ferry env create|list`.

use std::path::Path;

use ferry_schemas::directory::Name;

use super::Qualified;
use crate::cli::backend;
use crate::cli::directory::print_json;
use crate::cli::exit;
use crate::cli::session::ActAs;

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
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Show an environment's contents, now or as of a time or log position (`--as-of`).
    Show(crate::cli::env_show::ShowArgs),
    /// Show or set what an environment imports: `--require-signed` (only packages signed by
    /// a key `ferry trust add` trusts there) or `--allow-unsigned` (the default).
    Policy(crate::cli::trust::PolicyArgs),
    /// List a tenant's environments.
    List {
        /// The tenant.
        tenant: Name,
        #[command(flatten)]
        act_as: ActAs,
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
        Command::Policy(args) => return crate::cli::trust::policy(data_dir, args),
        Command::Create {
            environment,
            default,
            act_as,
            json,
        } => {
            let backend = backend::open(data_dir, &act_as)?;
            let created = backend.create_environment(&environment, default)?;
            if json {
                print_json(&created);
            } else {
                let kind = if default {
                    "default environment"
                } else {
                    "environment"
                };
                say!("created {kind} {environment} ({})", created.id);
            }
        }
        Command::List {
            tenant,
            act_as,
            json,
        } => {
            let backend = backend::open(data_dir, &act_as)?;
            let envs = backend.environments(&tenant)?;
            if json {
                print_json(&envs);
            } else {
                say!("{:<24} {:<8} ID", "ENVIRONMENT", "DEFAULT");
                for e in envs {
                    let default = if e.default { "yes" } else { "" };
                    say!("{:<24} {default:<8} {}", e.name, e.id);
                }
            }
        }
    }
    Ok(exit::OK)
}
