//! `ferry rebuild`: drop the saved projections and fold them anew from the log, with a
//! progress bar on a terminal.

use std::io::IsTerminal as _;
use std::path::Path;

use ferry_engine::app::Caller;

use super::directory::print_json;
use super::session::{open_app, refused};

/// `ferry rebuild`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `ferry rebuild`.
pub fn run(data_dir: &Path, args: Args) -> Result<u8, u8> {
    let ferry = open_app(data_dir)?;
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "rebuilding [{bar:30}] {pos}/{len} records {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let rebuilt = ferry
        .rebuild(&Caller::Operator, &mut |folded, head| {
            if let Some(bar) = &bar {
                bar.set_length(head);
                bar.set_position(folded);
            }
        })
        .map_err(refused)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if args.json {
        print_json(&rebuilt);
    } else {
        say!(
            "rebuilt the projections from {} record(s) in {:.2} s",
            rebuilt.records,
            rebuilt.seconds
        );
    }
    Ok(super::exit::OK)
}
