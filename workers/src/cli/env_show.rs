//! `ferry env show [--as-of]`: an environment's contents now, or as they stood at a time or a
//! log position, folded from the log. Auditors of the tenant and makers of the environment may
//! see it.

use std::path::Path;

use ferry_engine::app::AsOf;
use ferry_schemas::resource::Kind;

use super::backend;
use super::directory::print_json;
use super::directory::{fail, Qualified};
use super::exit;
use super::session::ActAs;

/// `ferry env show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// `<tenant>/<environment>`.
    environment: Qualified,
    /// The point in history: an RFC 3339 time or a log position.
    #[arg(long, value_name = "TIME|POSITION")]
    as_of: Option<String>,
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry env show`: an environment's contents now, or as of a time or log position.
pub fn show(data_dir: &Path, args: ShowArgs) -> Result<u8, u8> {
    let as_of: Option<AsOf> = args
        .as_of
        .as_deref()
        .map(|text| {
            text.parse::<AsOf>().map_err(|_| {
                fail(
                    &format!("--as-of {text:?} is neither a log position nor an RFC 3339 time"),
                    exit::INVALID_INPUT,
                )
            })
        })
        .transpose()?;
    let view =
        backend::open(data_dir, &args.act_as)?.environment_as_of(&args.environment, as_of)?;
    if args.json {
        print_json(&view);
    } else {
        say!("{} as of log position {}", view.environment, view.position);
        say!(
            "{:<17} {:<32} {:<8} {:<6} ID",
            "KIND",
            "NAME",
            "VERSION",
            "DRAFT"
        );
        for r in &view.resources {
            let version = match r.kind {
                Kind::App | Kind::Flow => r.version.to_string(),
                _ => String::new(),
            };
            say!(
                "{:<17} {:<32} {:<8} {:<6} {}",
                r.kind.to_string(),
                r.name,
                version,
                if r.has_draft { "yes" } else { "" },
                r.id
            );
        }
    }
    Ok(exit::OK)
}
