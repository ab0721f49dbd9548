//! `ferry token create|list|revoke`: bearer tokens for the API (operator only).

use std::path::Path;

use ferry_engine::app::TokenView;
use ferry_schemas::directory::Name;
use ferry_schemas::TokenId;

use super::backend;
use super::directory::print_json;
use super::directory::{fail, Qualified};
use super::exit;
use super::session::ActAs;

/// Token commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Issue a bearer token for a user (or `--operator`), printed once: only its hash is kept.
    Create {
        /// The user the token proves, `<tenant>/<user>`.
        #[arg(required_unless_present = "operator", conflicts_with = "operator")]
        user: Option<Qualified>,
        /// A token for the platform operator instead.
        #[arg(long)]
        operator: bool,
        /// How long it is valid: `90m`, `12h`, `30d`; without it, until revoked.
        #[arg(long, value_parser = super::span::span, value_name = "DURATION")]
        expires: Option<chrono::Duration>,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON: `{"token": …, "id": …, …}`.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never the tokens themselves), optionally one tenant's users'.
    List {
        /// Only this tenant's users' tokens.
        tenant: Option<Name>,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: every request bearing it is refused from now on.
    Revoke {
        /// The token's id (from `token list`).
        id: TokenId,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn row(token: &TokenView) -> String {
    let state = match (&token.revoked_at, &token.expires_at) {
        (Some(at), _) => format!("revoked {}", at.to_rfc3339()),
        (None, Some(at)) => format!("expires {}", at.to_rfc3339()),
        (None, None) => "no expiry".to_owned(),
    };
    format!("{:<36} {:<28} {state}", token.id, token.principal)
}

/// Runs a token command.
pub fn run(data_dir: &Path, command: Command) -> Result<u8, u8> {
    match command {
        Command::Create {
            user,
            operator,
            expires,
            act_as,
            json,
        } => {
            let backend = backend::open(data_dir, &act_as)?;
            if operator == user.is_some() {
                return Err(fail(
                    "name a user <tenant>/<user>, or pass --operator",
                    exit::INVALID_INPUT,
                ));
            }
            let issued = backend.create_token(user.as_ref(), expires)?;
            if json {
                print_json(&issued);
            } else {
                say!("{}", issued.token);
                eprintln!(
                    "token {} for {}: shown once, keep it secret (send it as `Authorization: Bearer …`, or set FERRY_TOKEN)",
                    issued.view.id, issued.view.principal
                );
            }
        }
        Command::List {
            tenant,
            act_as,
            json,
        } => {
            let backend = backend::open(data_dir, &act_as)?;
            let tokens = backend.tokens(tenant.as_ref())?;
            if json {
                print_json(&tokens);
            } else {
                say!("{:<36} {:<28} STATE", "TOKEN", "FOR");
                for token in &tokens {
                    say!("{}", row(token));
                }
            }
        }
        Command::Revoke { id, act_as, json } => {
            let backend = backend::open(data_dir, &act_as)?;
            let revoked = backend.revoke_token(id)?;
            if json {
                print_json(&revoked);
            } else {
                say!("revoked token {} of {}", revoked.id, revoked.principal);
            }
        }
    }
    Ok(exit::OK)
}
