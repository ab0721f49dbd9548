//! `ferry user create|list`.

use std::path::Path;

use ferry_schemas::directory::{License, Name};

use super::Qualified;
use crate::cli::backend;
use crate::cli::directory::print_json;
use crate::cli::exit;
use crate::cli::session::ActAs;

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
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Set a user's license (what export and import need). Setting the one they hold
    /// changes nothing.
    SetLicense {
        /// `<tenant>/<user>`.
        user: Qualified,
        /// The license they hold from now on.
        #[arg(value_enum)]
        license: LicenseArg,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's users with their licenses and grants.
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

/// Runs a user command.
pub fn run(data_dir: &Path, command: Command) -> Result<u8, u8> {
    match command {
        Command::Create {
            user,
            license,
            act_as,
            json,
        } => {
            let backend = backend::open(data_dir, &act_as)?;
            let created = backend.create_user(&user, License::from(license))?;
            if json {
                print_json(&created);
            } else {
                say!(
                    "created user {user} ({}) with license {}",
                    created.id,
                    created.license
                );
            }
        }
        Command::SetLicense {
            user,
            license,
            act_as,
            json,
        } => {
            let backend = backend::open(data_dir, &act_as)?;
            let user_view = backend.set_license(&user, License::from(license))?;
            if json {
                print_json(&user_view);
            } else {
                say!("user {user} now has license {}", user_view.license);
            }
        }
        Command::List {
            tenant,
            act_as,
            json,
        } => {
            let backend = backend::open(data_dir, &act_as)?;
            let users = backend.users(&tenant)?;
            if json {
                print_json(&users);
            } else {
                say!("{:<20} {:<12} GRANTS", "USER", "LICENSE");
                for p in users {
                    let grants: Vec<String> = p
                        .grants
                        .iter()
                        .map(|g| format!("{} on {}", g.role, g.target))
                        .collect();
                    let grants = if grants.is_empty() {
                        "-".into()
                    } else {
                        grants.join(", ")
                    };
                    say!("{:<20} {:<12} {grants}", p.name, p.license);
                }
            }
        }
    }
    Ok(exit::OK)
}
