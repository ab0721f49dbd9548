//! `ferry serve`: the HTTP API, the projections and the workers in one long-lived process.

use std::net::SocketAddr;
use std::path::Path;

use serde::Serialize;

use super::directory::fail;
use super::directory::print_json;
use super::exit;
use super::session::{open_app, refused};
use crate::server;

/// `ferry serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to listen: `HOST:PORT` (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// Workers running migrations.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Print the first line as JSON: `{"url": …}`.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Listening<'a> {
    url: &'a str,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(data_dir: &Path, args: Args) -> Result<u8, u8> {
    let ferry = open_app(data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            fail(
                &format!("cannot start the server's runtime: {e}"),
                exit::FAILURE,
            )
        })?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| {
                fail(
                    &format!("cannot listen on {}: {e}", args.listen),
                    exit::FAILURE,
                )
            })?;
        let local = listener.local_addr().map_err(|e| {
            fail(
                &format!("cannot read the listening address: {e}"),
                exit::FAILURE,
            )
        })?;
        let url = format!("http://{local}");
        if args.json {
            print_json(&Listening { url: &url });
        } else {
            say!("{url}");
        }
        let options = server::Options {
            workers: args.workers,
            checkpoint_every: std::env::var("FERRY_CHECKPOINT_EVERY")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(500),
        };
        server::run(listener, ferry, options, crate::pool::terminated())
            .await
            .map_err(|e| match e {
                server::Error::App(e) => refused(e),
                other => fail(&other.to_string(), exit::FAILURE),
            })
    })?;
    Ok(exit::OK)
}
