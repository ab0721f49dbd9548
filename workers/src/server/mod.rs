//! `ferry serve`: one long-lived process that owns the data directory (or joins the Kafka
//! log), keeps the projections live, runs the worker pool continuously and serves the HTTP API
//! over the application layer. Handlers only parse, call and render; every rule is in
//! `ferry_engine::app`.
//!
//! ## Invariants
//! - Every route but the probes and the OpenAPI document acts as its bearer token's caller.
//! - On the shutdown signal the server stops taking requests, lets the ones in flight answer,
//!   stops the workers at a step boundary, removes its address file and returns.

mod extract;
mod live;
pub(crate) mod metrics;
mod problem;
mod reply;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use ferry_engine::app::Ferry;
use serde::{Deserialize, Serialize};

pub use extract::AppState;
pub use problem::Problem;
pub use routes::{api, ProvisionState};

use crate::pool::{self, Until};

/// Live results streams followed at once (each waits on the log on a blocking thread).
const LIVE_STREAMS: usize = 128;

/// How long requests in flight may take to answer once the server stops.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The file a running server writes in its data directory, so local commands find it.
pub const ADDRESS_FILE: &str = "server.json";

/// What the address file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Where the server listens, e.g. `http://127.0.0.1:7878`.
    pub url: String,
    /// The server's process id.
    pub pid: u32,
    /// The operator's credential for this run: the file is readable by its owner only, and
    /// whoever can read the data directory is the operator anyway.
    pub token: String,
}

/// How to serve.
#[derive(Clone, Debug)]
pub struct Options {
    /// Workers running migrations in the server.
    pub workers: usize,
    /// Sign a checkpoint every this many records.
    pub checkpoint_every: u64,
}

/// Why the server stopped short.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The application layer failed at start (the log, the projections).
    #[error(transparent)]
    App(#[from] ferry_engine::app::Error),
    /// The listener or the address file failed.
    #[error("{what}: {source}")]
    Io {
        /// What Ferry was doing.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The worker pool failed.
    #[error(transparent)]
    Pool(#[from] ferry_engine::executor::Error),
}

/// Serves `ferry` on `listener` until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    ferry: Ferry,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let local = listener.local_addr().map_err(|source| Error::Io {
        what: "cannot read the listening address".into(),
        source,
    })?;
    let local_token = local_token()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let state = AppState::new(ferry.clone(), local_token.clone(), stopped.clone())?;
    let ready = state.ready.clone();
    let running = state.running.clone();
    // Fold the log before answering as ready; the probes answer meanwhile.
    let opening = ferry.clone();
    let executor = tokio::task::spawn_blocking(move || {
        let executor = opening.executor()?;
        opening.catch_up()?;
        Ok::<_, ferry_engine::app::Error>(executor)
    })
    .await
    .map_err(|e| Error::Io {
        what: "the projections could not be built".into(),
        source: std::io::Error::other(e.to_string()),
    })??;
    ready.store(true, std::sync::atomic::Ordering::SeqCst);

    let signal = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    // On Kafka, servers and workers on many machines share the migrations through the
    // workers' group.
    let dir = ferry.clone();
    let (share, joined) = tokio::task::spawn_blocking(move || {
        pool::share_of(dir.data_dir(), std::time::Duration::from_secs(30))
    })
    .await
    .map_err(|e| Error::Io {
        what: "joining the workers' group failed".into(),
        source: std::io::Error::other(e.to_string()),
    })?
    .map_err(|e| Error::App(e.into()))?;
    if let Some(joined) = joined {
        tracing::info!("{joined}");
    }
    let pool = tokio::spawn(pool::run(
        executor,
        share,
        options.workers,
        Until::Shutdown,
        Arc::new(|moment| match moment {
            pool::Moment::Stepped {
                migration,
                first: true,
            } => tracing::info!(%migration, "running migration"),
            pool::Moment::Stepped { .. } => {}
            pool::Moment::Ended(migration) => tracing::info!(%migration, "migration put down"),
        }),
        signal(stopped.clone()),
    ));
    let address = write_address(ferry.data_dir().path(), local, local_token)?;
    tokio::spawn(checkpoints(
        ferry.clone(),
        options.checkpoint_every,
        signal(stopped.clone()),
    ));
    tokio::spawn(async move {
        shutdown.await;
        // Provisioning runs stop between targets; the next start continues them.
        running
            .stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = stop.send(true);
    });
    let router = router(state);
    let serving = axum::serve(listener, router).with_graceful_shutdown(signal(stopped.clone()));
    // Requests in flight get a bounded time to answer once the server stops.
    let deadline = async {
        signal(stopped).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let served = tokio::select! {
        served = serving => served,
        () = deadline => Ok(()),
    };
    let pooled = pool.await;
    let _ = std::fs::remove_file(&address);
    served.map_err(|source| Error::Io {
        what: "the server failed".into(),
        source,
    })?;
    match pooled {
        Ok(result) => result.map(|_| ()).map_err(Error::from),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Ok(()),
    }
}

impl AppState {
    /// The state of a server over `ferry` whose operator credential is `local_token`; it
    /// answers as ready once `ready` is set.
    pub fn new(
        ferry: Ferry,
        local_token: String,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Result<AppState, Error> {
        let (_, doc) = api();
        let openapi = serde_json::to_string(&doc).unwrap_or_else(|_| "{}".into());
        Ok(AppState {
            ferry,
            ready: Arc::new(AtomicBool::new(false)),
            openapi: Arc::new(openapi),
            local_token: Arc::new(local_token),
            running: Arc::new(routes::Running::default()),
            metrics: Arc::new(metrics::Metrics::new().map_err(|e| Error::Io {
                what: "cannot set up the metrics".into(),
                source: std::io::Error::other(e.to_string()),
            })?),
            streams: Arc::new(tokio::sync::Semaphore::new(LIVE_STREAMS)),
            packages: Arc::new(tokio::sync::Semaphore::new(1)),
            stopping,
        })
    }
}

/// Every route of the API with its layers, over `state`: what `run` serves (and what the
/// fuzzer of request bodies sends requests to without a socket).
pub fn router(state: AppState) -> axum::Router {
    let (router, _) = api();
    router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::observe,
        ))
        .layer(axum::middleware::from_fn(extract::read_small_bodies))
        .with_state(state)
}

/// Signs the audit checkpoints that fall due while the server runs, and saves the projections
/// and the log's snapshot when due (every 2 s it looks).
async fn checkpoints(ferry: Ferry, every: u64, stopped: impl Future<Output = ()>) {
    tokio::pin!(stopped);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tokio::select! {
            () = &mut stopped => return,
            _ = tick.tick() => {}
        }
        let ferry = ferry.clone();
        let due = tokio::task::spawn_blocking(move || {
            // What makes a restart after a kill quick: derived, so a failure only warns.
            if let Err(error) = ferry.save_derived() {
                tracing::warn!(%error, "saving the projections or the log's snapshot failed");
            }
            ferry.checkpoint_if_due(every)
        })
        .await;
        if let Ok(Err(error)) = due {
            tracing::warn!(%error, "the automatic audit checkpoint failed");
        }
    }
}

/// A fresh random credential for the local operator.
fn local_token() -> Result<String, Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| Error::Io {
        what: "no randomness for the local credential".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(format!("ferry-local_{}", hex::encode(secret)))
}

/// Writes the address file (owner-only, temporary file, rename) and returns its path.
fn write_address(data_dir: &Path, local: SocketAddr, token: String) -> Result<PathBuf, Error> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = data_dir.join(ADDRESS_FILE);
    let address = Address {
        url: format!("http://{local}"),
        pid: std::process::id(),
        token,
    };
    let temporary = data_dir.join(format!("{ADDRESS_FILE}.tmp"));
    let io = |source| Error::Io {
        what: format!("cannot write {}", path.display()),
        source,
    };
    let text = serde_json::to_string(&address).unwrap_or_default();
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    std::fs::rename(&temporary, &path).map_err(io)?;
    Ok(path)
}

/// The running server's address, if the data directory names one.
pub fn address(data_dir: &Path) -> Option<Address> {
    let text = std::fs::read_to_string(data_dir.join(ADDRESS_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}
