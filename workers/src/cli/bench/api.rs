//! `ferry bench --api`: the service's read path. With a provisioning running in the server,
//! 32 clients read an import's status over HTTP, against the same clients calling a trivial
//! handler of the same server (`/healthz`); and `ferry status <id>` run through a running
//! server against the standalone CLI, at each history size.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_engine::app::{self, Caller, Execution, Ferry, ProvisionRequest, ProvisionStart};
use ferry_engine::data_dir::LogSettings;
use serde_json::{json, Value};

use super::setup::targets;
use super::{err, provision};
use crate::server;

/// What to measure.
pub(super) struct Plan {
    /// Targets provisioned before measuring, one history per size.
    pub histories: Vec<u32>,
    /// Concurrent HTTP clients.
    pub clients: usize,
    /// Requests per client and per route.
    pub requests: usize,
    /// Targets of the provisioning that runs while the clients read.
    pub background: u32,
    /// `ferry status` runs per mode.
    pub cli_runs: usize,
}

/// A server running in this process, on its own runtime.
struct Running {
    url: String,
    token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(ferry: Ferry) -> Result<Running, u8> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, listening) = std::sync::mpsc::channel();
        let data_dir = ferry.data_dir().path().to_path_buf();
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
                    return;
                };
                let _ = ready.send(());
                let options = server::Options {
                    workers: 4,
                    checkpoint_every: 500,
                };
                let _ = server::run(listener, ferry, options, async move {
                    let _ = stopped.await;
                })
                .await;
            });
        });
        listening
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| err("the bench's server did not start"))?;
        // The address file appears once the projections are folded.
        let deadline = Instant::now() + Duration::from_secs(600);
        let address = loop {
            if let Some(address) = server::address(&data_dir) {
                break address;
            }
            if Instant::now() > deadline {
                return Err(err("the bench's server never became ready"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(Running {
            url: address.url,
            token: address.token,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Latencies of `clients` × `requests` GETs of `path`, and the requests per second.
fn load(url: &str, token: &str, path: &str, clients: usize, requests: usize) -> (Vec<f64>, f64) {
    let started = Instant::now();
    let mut latencies: Vec<f64> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let mut seen = Vec::with_capacity(requests);
                    for _ in 0..requests {
                        let at = Instant::now();
                        let answered = agent
                            .get(format!("{url}{path}"))
                            .header("Authorization", format!("Bearer {token}"))
                            .call()
                            .ok()
                            .and_then(|mut r| r.body_mut().read_to_vec().ok().map(|_| r.status()));
                        if answered.is_some_and(|s| s.is_success()) {
                            seen.push(at.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                    seen
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let rate = latencies.len() as f64 / elapsed;
    (latencies, rate)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Median milliseconds of `runs` runs of `ferry --data-dir D status <id> --json`.
fn cli_status(data: &Path, id: &str, runs: usize) -> Result<f64, u8> {
    super::open::cli_median(data, &["status", id, "--json"], runs, || {})
}

/// Runs the plan; returns the JSON report's `api` object.
pub(super) fn run(scratch: &Path, plan: &Plan) -> Result<Value, u8> {
    let mut histories = Vec::new();
    let mut under_load = Value::Null;
    for (n, &size) in plan.histories.iter().enumerate() {
        let data = scratch.join(format!("api-{size}"));
        let (_, package) = provision(&data, &LogSettings::default(), size, 64)?;
        let ferry = Ferry::open(app::Options::new(&data)).map_err(err)?;
        let records = ferry.data_dir().log().head().map_err(err)?.position;
        let id = ferry
            .imports(
                &Caller::Operator,
                &app::ImportFilter {
                    limit: Some(1),
                    ..app::ImportFilter::default()
                },
            )
            .map_err(err)?
            .first()
            .map(|i| i.migration.to_string())
            .ok_or_else(|| err("the bench's history has no import"))?;
        let background = if n == 0 {
            Some(targets(ferry.data_dir().log(), size, plan.background)?)
        } else {
            None
        };
        let server = Running::start(ferry.clone())?;
        let through = cli_status(&data, &id, plan.cli_runs)?;
        if let Some(csv) = background {
            // A provisioning runs in the server's process while the clients read.
            let stop = Arc::new(AtomicBool::new(false));
            let runner = {
                let (ferry, stop) = (ferry.clone(), stop.clone());
                let package = package.clone();
                std::thread::spawn(move || {
                    let request = ProvisionRequest {
                        package,
                        targets: csv.into_bytes(),
                        template: Some(b"[[bind]]\naccount = \"ops@{tenant}.example\"\n".to_vec()),
                        waves: Vec::new(),
                        max_failure_permille: 1000,
                        create_envs: false,
                        concurrency: 16,
                    };
                    ferry.provision(
                        &Caller::Operator,
                        ProvisionStart::New(request),
                        Execution::Here,
                        &app::Quiet,
                        &stop,
                    )
                })
            };
            let (status, status_rate) = load(
                &server.url,
                &server.token,
                &format!("/v1/imports/{id}"),
                plan.clients,
                plan.requests,
            );
            let (trivial, trivial_rate) = load(
                &server.url,
                &server.token,
                "/healthz",
                plan.clients,
                plan.requests,
            );
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let provisioned = runner
                .join()
                .ok()
                .and_then(Result::ok)
                .map_or(0, |s| s.done);
            let (p50, p99) = (percentile(&status, 0.5), percentile(&status, 0.99));
            let (t50, t99) = (percentile(&trivial, 0.5), percentile(&trivial, 0.99));
            under_load = json!({
                "clients": plan.clients,
                "records": records,
                "status": {"p50_ms": p50, "p99_ms": p99, "requests_per_s": status_rate, "answered": status.len()},
                "trivial": {"p50_ms": t50, "p99_ms": t99, "requests_per_s": trivial_rate, "answered": trivial.len()},
                "p50_ratio": t50 / p50,
                "p99_ratio": t99 / p99,
                "provisioned_meanwhile": provisioned,
            });
        }
        server.stop();
        drop(ferry);
        let standalone = cli_status(&data, &id, plan.cli_runs)?;
        histories.push(json!({
            "records": records,
            "status_through_server_ms": through,
            "status_standalone_ms": standalone,
            "ratio": standalone / through,
        }));
    }
    Ok(json!({"under_load": under_load, "cli_status": histories}))
}
