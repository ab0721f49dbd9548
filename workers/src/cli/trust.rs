//! `ferry trust add|list|remove` and `ferry env policy`: which signing keys an environment
//! trusts, and whether it imports only packages they signed.

use std::path::Path;

use ferry_engine::app::PolicyView;

use super::backend;
use super::directory::{print_json, Qualified};
use super::exit;
use super::session::ActAs;

/// Trust commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Trust a package signing key in an environment (operator).
    Add {
        /// `<tenant>/<environment>`.
        environment: Qualified,
        /// The public key, as `ferry package keygen` prints it (64 hex digits).
        key: String,
        /// What reviews and audits call the key (say, the vendor).
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// An environment's import policy and the keys it trusts.
    List {
        /// `<tenant>/<environment>`.
        environment: Qualified,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting a key in an environment (operator).
    Remove {
        /// `<tenant>/<environment>`.
        environment: Qualified,
        /// The public key.
        key: String,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `ferry env policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// `<tenant>/<environment>`.
    environment: Qualified,
    /// Import only packages signed by a key trusted there (`ferry trust add`).
    #[arg(long, conflicts_with = "allow_unsigned")]
    require_signed: bool,
    /// Import unsigned packages too (the default); they are marked unsigned in reviews and audits.
    #[arg(long)]
    allow_unsigned: bool,
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs a trust command.
pub fn run(data_dir: &Path, command: Command) -> Result<u8, u8> {
    let (view, json) = match command {
        Command::Add {
            environment,
            key,
            name,
            act_as,
            json,
        } => (
            backend::open(data_dir, &act_as)?.trust(&environment, &key, &name)?,
            json,
        ),
        Command::List {
            environment,
            act_as,
            json,
        } => (
            backend::open(data_dir, &act_as)?.policy(&environment)?,
            json,
        ),
        Command::Remove {
            environment,
            key,
            act_as,
            json,
        } => (
            backend::open(data_dir, &act_as)?.distrust(&environment, &key)?,
            json,
        ),
    };
    show(&view, json);
    Ok(exit::OK)
}

/// Runs `ferry env policy`.
pub fn policy(data_dir: &Path, args: PolicyArgs) -> Result<u8, u8> {
    let backend = backend::open(data_dir, &args.act_as)?;
    let view = if args.require_signed || args.allow_unsigned {
        backend.set_policy(&args.environment, args.require_signed)?
    } else {
        backend.policy(&args.environment)?
    };
    show(&view, args.json);
    Ok(exit::OK)
}

fn show(view: &PolicyView, json: bool) {
    if json {
        print_json(view);
        return;
    }
    let policy = if view.require_signed {
        "only packages signed by a trusted key"
    } else {
        "any package (unsigned ones are marked so)"
    };
    say!("{} imports {policy}", view.environment);
    if view.trusted.is_empty() {
        say!("no trusted keys");
    } else {
        say!("{:<24} KEY", "NAME");
        for t in &view.trusted {
            say!("{:<24} {}", t.name, t.key);
        }
    }
}
