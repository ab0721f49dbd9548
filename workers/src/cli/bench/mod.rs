//! `ferry bench`: the figures of the provisioning issue, each next to a baseline measured in
//! the same run on the same machine, as a table and a JSON line.
//!
//! 1. Provisioning N targets × a 10-resource package through the real path (run, template,
//!    worker pool, log, projections) vs the same decisions with their resource writes done
//!    directly: one JSON line per target appended to a plain file with `fdatasync`, from the
//!    same number of threads — no log, no events, no workers.
//! 2. Log appends from 64 writers vs a raw file written with the same bytes in the same batches
//!    (`write` + `fdatasync` per batch).
//! 3. `audit verify` and a full projection rebuild vs reading the log file and hashing it.
//!    Per target count also: the standalone CLI's point query (`resource list <one env>`)
//!    with the saved projections vs the same when they are rebuilt from the log first, and
//!    a server's restart to its first ready answer.
//! 4. With `--kafka <brokers>` only: appends through the Kafka log vs raw idempotent produce of
//!    the same messages to the same broker, and provisioning on Kafka vs embedded (see
//!    [`kafka`]).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Instant;

use ferry_engine::app::{self, Caller, Execution, Ferry, ProvisionRequest, ProvisionStart};
use ferry_engine::audit;
use ferry_engine::data_dir::{DataDir, LogSettings};
use ferry_engine::environment::Contents;
use ferry_engine::log::{Expected, FileStore, Options, Store};
use ferry_engine::migration::{self, Choice, Import, Request};
use ferry_engine::package::{self, Contents as PackageContents, Limits};
use ferry_engine::provision;
use ferry_engine::world::World;
use ferry_schemas::environment::{Change, ResourceCreated};
use ferry_schemas::event::Event;
use ferry_schemas::resource::Kind;
use ferry_schemas::{
    Actor, CorrelationId, EnvironmentId, EventId, MigrationId, NewEvent, ResourceId, StreamId,
};
use serde_json::json;

mod api;
mod kafka;
mod open;
mod setup;

use super::directory::{fail, print_json};
use super::{clock_now, exit};
use setup::{targets, vendor_package, CONNECTORS};

/// `ferry bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Target counts to provision (each a fresh data directory).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    targets: Vec<u32>,
    /// Targets imported at once (and baseline threads).
    #[arg(long, default_value_t = 64)]
    concurrency: u32,
    /// Where the scratch data directories go (default: the system's temp folder).
    #[arg(long)]
    scratch: Option<std::path::PathBuf>,
    /// Only print the JSON line.
    #[arg(long)]
    json: bool,
    /// Keep the scratch data directories (their folder is printed on stderr) to query them
    /// by hand afterwards.
    #[arg(long)]
    keep: bool,
    /// Also measure the log on Kafka on these brokers (`host:port[,…]`): appends vs raw
    /// idempotent produce of the same messages, provisioning on Kafka vs embedded.
    #[arg(long, value_name = "BROKERS")]
    kafka: Option<String>,
    /// Kafka: targets provisioned on Kafka and, for comparison, on an embedded data directory.
    #[arg(long, default_value_t = 200, requires = "kafka")]
    kafka_targets: u32,
    /// Kafka: events appended (one per append) in each round, spread over the writers.
    #[arg(long, default_value_t = 5000, requires = "kafka")]
    kafka_events: u32,
    /// Kafka: concurrent writers, each appending to its own stream.
    #[arg(long, default_value_t = 64, requires = "kafka")]
    kafka_writers: u32,
    /// Kafka: the prefix P of the bench's topics, `<P>append.*`, `<P>raw.*` and
    /// `<P>provision.*` (default: `ferry-bench-<unix ms>-<pid>.`, new for every run).
    #[arg(long, value_name = "P", requires = "kafka")]
    kafka_topic_prefix: Option<String>,
    /// Measure the service instead: an import's status over HTTP under load (while a
    /// provisioning runs) against a trivial handler, and `ferry status` through a server
    /// against the standalone CLI.
    #[arg(long)]
    api: bool,
    /// API: targets provisioned before measuring, one history per size (45 ≈ 1,000 records,
    /// 10,000 ≈ 220,000).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "45,10000",
        requires = "api"
    )]
    api_history: Vec<u32>,
    /// API: concurrent clients.
    #[arg(long, default_value_t = 32, requires = "api")]
    api_clients: usize,
    /// API: requests per client and per route.
    #[arg(long, default_value_t = 200, requires = "api")]
    api_requests: usize,
    /// API: targets of the provisioning that runs while the clients read.
    #[arg(long, default_value_t = 2000, requires = "api")]
    api_background: u32,
    /// API: `ferry status` runs per mode (the median is reported).
    #[arg(long, default_value_t = 15, requires = "api")]
    api_cli_runs: usize,
}

fn err(e: impl std::fmt::Display) -> u8 {
    fail(&e.to_string(), exit::FAILURE)
}

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

struct Provisioned {
    seconds: f64,
    done: usize,
    steps: u64,
    /// The first target's import.
    first: ferry_schemas::MigrationId,
}

/// Provisions `count` targets through the real path, on a data directory made at `path` with
/// the log `settings` name; returns the measured part.
fn provision(
    path: &Path,
    settings: &LogSettings,
    count: u32,
    concurrency: u32,
) -> Result<(Provisioned, Vec<u8>), u8> {
    DataDir::init_with(path, Options::default(), settings).map_err(err)?;
    let ferry = Ferry::open(app::Options::new(path).log(settings.clone())).map_err(err)?;
    let executor = ferry.executor().map_err(err)?;
    let package_bytes = vendor_package(&executor)?;
    let csv = targets(ferry.data_dir().log(), 0, count)?;
    let template = "[[bind]]\naccount = \"ops@{tenant}.example\"\n";
    let request = ProvisionRequest {
        package: package_bytes.clone(),
        targets: csv.into_bytes(),
        template: Some(template.as_bytes().to_vec()),
        waves: Vec::new(),
        max_failure_permille: 1000,
        create_envs: false,
        concurrency,
    };
    let started = Instant::now();
    // The real path: the application layer's provisioning, as `ferry provision` runs it.
    let summary = ferry
        .provision(
            &Caller::Operator,
            ProvisionStart::New(request),
            Execution::Here,
            &app::Quiet,
            &AtomicBool::new(false),
        )
        .map_err(err)?;
    let seconds = started.elapsed().as_secs_f64();
    let done = summary.done;
    let first = provision::migration_of(summary.provision, 0);
    let steps = executor
        .read(|w| {
            w.imports
                .values()
                .flat_map(|i| &i.items)
                .filter(|i| i.outcome.is_some())
                .count() as u64
        })
        .map_err(err)?;
    Ok((
        Provisioned {
            seconds,
            done,
            steps,
            first,
        },
        package_bytes,
    ))
}

/// The baseline: the same decisions on in-memory contents, each target's resource writes
/// appended as JSON lines to a plain file with one `fdatasync` per target, from `threads`
/// threads. No log, no events, no workers.
fn direct(path: &Path, package_bytes: &[u8], count: u32, threads: u32) -> Result<f64, u8> {
    std::fs::create_dir_all(path).map_err(err)?;
    let package = package::read(package_bytes, &Limits::default()).map_err(err)?;
    let PackageContents::Legacy(legacy) = &package.contents else {
        return Err(err("the bench package is not a legacy package"));
    };
    let items = package::review(legacy).map_err(err)?;
    let file = path.join("resources.jsonl");
    std::fs::File::create(&file).map_err(err)?;
    let next = AtomicU32::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                // Each thread appends (O_APPEND keeps lines whole) and syncs on its own handle.
                let Ok(mut out) = std::fs::OpenOptions::new().append(true).open(&file) else {
                    return;
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return;
                    }
                    let lines = direct_target(&package, &items, i);
                    let _ = out.write_all(&lines).and_then(|()| out.sync_data());
                }
            });
        }
    });
    Ok(started.elapsed().as_secs_f64())
}

/// One target decided in memory: its environment with connections, the import decided to the
/// end; returns the resources it created as JSON lines.
fn direct_target(
    package: &package::Package,
    items: &[ferry_schemas::event::ReviewItem],
    i: u32,
) -> Vec<u8> {
    let env = EnvironmentId::new();
    let mut contents = Contents::default();
    for c in CONNECTORS {
        contents.apply(&Event::from(ResourceCreated {
            environment: env,
            resource: ResourceId::new(),
            kind: Kind::Connection,
            name: format!("ops@t{i}.example"),
            owner: None,
            connector: Some(c.to_owned()),
            has_secret: false,
            gateway: None,
            definition: None,
        }));
    }
    let id = MigrationId::new();
    let request = Request {
        id,
        environment: env,
        package: ferry_schemas::Digest::of(b""),
        package_name: "Portal".into(),
        importer: None,
        dry_run: false,
        requested_at: clock_now(),
        signer: None,
        items: items.to_vec(),
    };
    let mut import = Import::new(id);
    for e in migration::request(request, &contents) {
        import.apply(&e);
    }
    let pending: Vec<_> = import
        .pending()
        .iter()
        .map(|p| (p.review.manifest_key.clone(), p.review.connector.clone()))
        .collect();
    for (key, connector) in pending {
        let target = contents
            .of(env)
            .into_iter()
            .find(|r| r.connector == connector)
            .map(|r| r.id);
        if let Some(target) = target {
            if let Ok(e) = migration::answer(
                &import,
                &key,
                Choice::Existing(target.to_string()),
                &contents,
            ) {
                import.apply(&e);
            }
        }
    }
    if let Ok(e) = migration::start(&import, false, true) {
        import.apply(&e);
    }
    let mut lines = Vec::new();
    while let Some(step) = migration::next_step(&import, &contents, package, ResourceId::new()) {
        if let Event::StepApplied(applied) = &step.event {
            if let Some(Change::Created(created)) = &applied.change {
                lines.extend(serde_json::to_vec(created).unwrap_or_default());
                lines.push(b'\n');
            }
        }
        import.apply(&step.event);
        contents.apply(&step.event);
    }
    lines
}

/// The event of the append figures: about 300 bytes.
fn bench_event(n: u32) -> NewEvent {
    NewEvent {
        event_id: EventId::new(),
        event_type: "Benched".into(),
        schema_version: 1,
        tenant: None,
        actor: Actor::System,
        correlation_id: CorrelationId::new(),
        causation_id: None,
        payload: json!({"n": n, "pad": "x".repeat(200)}),
    }
}

struct Appends {
    ferry: f64,
    raw: f64,
    events: u64,
    batch: f64,
}

/// 64 writers × `rounds` appends of one event to Ferry's log, then the same bytes written to a
/// raw file in the same number of batches, `write` + `fdatasync` each.
fn appends(path: &Path, rounds: u32) -> Result<Appends, u8> {
    const WRITERS: u32 = 64;
    std::fs::create_dir_all(path).map_err(err)?;
    let store = FileStore::open(&path.join("log"), Options::default()).map_err(err)?;
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let store = &store;
            s.spawn(move || {
                let stream =
                    StreamId::new(format!("bench-{w}")).unwrap_or_else(|_| unreachable!("valid"));
                for r in 0..rounds {
                    let _ = store.append(&stream, Expected::Any, vec![bench_event(r)]);
                }
            });
        }
    });
    let ferry = started.elapsed().as_secs_f64();
    let (syncs, _) = store.sync_stats();
    drop(store);
    let bytes = std::fs::read(path.join("log").join(FileStore::FILE_NAME)).map_err(err)?;
    let batches = syncs.max(1) as usize;
    let chunk = bytes.len().div_ceil(batches);
    let mut raw_file = std::fs::File::create(path.join("raw")).map_err(err)?;
    let started = Instant::now();
    for part in bytes.chunks(chunk.max(1)) {
        raw_file.write_all(part).map_err(err)?;
        raw_file.sync_data().map_err(err)?;
    }
    let raw = started.elapsed().as_secs_f64();
    let events = u64::from(WRITERS * rounds);
    Ok(Appends {
        ferry,
        raw,
        events,
        batch: events as f64 / syncs.max(1) as f64,
    })
}

struct Reads {
    verify: f64,
    rebuild: f64,
    raw: f64,
    records: u64,
}

/// `audit verify` and a projection rebuild of the data directory at `path`, vs a raw read and
/// SHA-256 of the same file.
fn reads(path: &Path) -> Result<Reads, u8> {
    let key = {
        let dir = DataDir::open(path, Options::default()).map_err(err)?;
        dir.keys().public()
    };
    let started = Instant::now();
    let verified = audit::verify(path, &key).map_err(err)?;
    let verify = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let store = FileStore::open(&path.join("log"), Options::default()).map_err(err)?;
    let world = World::load(&store).map_err(err)?;
    let rebuild = started.elapsed().as_secs_f64();
    drop((world, store));
    let started = Instant::now();
    let bytes = std::fs::read(audit::log_file(path)).map_err(err)?;
    std::hint::black_box(ferry_schemas::Digest::of(&bytes));
    let raw = started.elapsed().as_secs_f64();
    Ok(Reads {
        verify,
        rebuild,
        raw,
        records: verified.head,
    })
}

/// Runs the benchmark and prints the table and the JSON line.
pub fn run(args: Args) -> Result<u8, u8> {
    let scratch = tempfile_dir(args.scratch.as_deref())?;
    if args.api {
        let reported = api_report(&scratch, &args);
        let _ = std::fs::remove_dir_all(&scratch);
        return reported;
    }
    let mut provisioning = Vec::new();
    let mut last_data = None;
    for &count in &args.targets {
        let data = scratch.join(format!("provision-{count}"));
        let (ferry, package) = provision(&data, &LogSettings::default(), count, args.concurrency)?;
        let baseline = direct(
            &scratch.join(format!("direct-{count}")),
            &package,
            count,
            args.concurrency,
        )?;
        let rss = peak_rss_mib();
        let opened = open::measure(&data, &ferry.first.to_string())?;
        provisioning.push(json!({
            "open_query_saved_ms": opened.saved,
            "open_query_rebuilt_ms": opened.rebuilt,
            "open_status_ms": opened.status,
            "open_tenant_list_ms": opened.tenants,
            "restart_to_ready_ms": opened.restart,
            "targets": count,
            "done": ferry.done,
            "seconds": ferry.seconds,
            "targets_per_s": f64::from(count) / ferry.seconds,
            "steps_per_s": ferry.steps as f64 / ferry.seconds,
            "baseline_seconds": baseline,
            "baseline_targets_per_s": f64::from(count) / baseline,
            "ratio": baseline / ferry.seconds,
            "peak_rss_mib": rss,
        }));
        last_data = Some(data);
    }
    // Appends are noisy on a shared VM: five paired rounds (Ferry, then raw, on fresh files),
    // and the round with the median ratio is reported.
    let mut rounds = (0..5)
        .map(|round| appends(&scratch.join(format!("appends-{round}")), 200))
        .collect::<Result<Vec<_>, u8>>()?;
    rounds.sort_by(|a, b| (a.raw / a.ferry).total_cmp(&(b.raw / b.ferry)));
    let appended = rounds.swap_remove(2);
    let read = match &last_data {
        Some(data) => Some(reads(data)?),
        None => None,
    };
    let on_kafka = match &args.kafka {
        Some(brokers) => Some(kafka::run(
            &scratch,
            &kafka::Plan {
                brokers: brokers.clone(),
                prefix: args
                    .kafka_topic_prefix
                    .clone()
                    .unwrap_or_else(kafka::unique_prefix),
                writers: args.kafka_writers.max(1),
                events: args.kafka_events,
                targets: args.kafka_targets,
                concurrency: args.concurrency,
            },
        )?),
        None => None,
    };
    let mut report = json!({
        "provisioning": provisioning,
        "appends": {
            "events": appended.events, "events_per_fsync": appended.batch,
            "ferry_seconds": appended.ferry, "raw_seconds": appended.raw,
            "ratio": appended.raw / appended.ferry,
        },
        "reads": read.as_ref().map(|r| json!({
            "records": r.records,
            "verify_seconds": r.verify, "rebuild_seconds": r.rebuild, "raw_read_hash_seconds": r.raw,
            "verify_events_per_s": r.records as f64 / r.verify,
            "rebuild_events_per_s": r.records as f64 / r.rebuild,
            "verify_ratio": r.raw / r.verify, "rebuild_ratio": r.raw / r.rebuild,
        })),
    });
    if let Some(on_kafka) = &on_kafka {
        report["kafka"] = on_kafka.clone();
    }
    if !args.json {
        say!(
            "{:<38} {:>12} {:>12} {:>8}",
            "measure",
            "ferry",
            "baseline",
            "ratio"
        );
        for p in &provisioning {
            say!(
                "{:<38} {:>10.0}/s {:>10.0}/s {:>8.2}   ({} done, {:.1}s, {:.0} steps/s, peak RSS {:.0} MiB)",
                format!("provision {} targets × 10 resources", p["targets"]),
                p["targets_per_s"].as_f64().unwrap_or_default(),
                p["baseline_targets_per_s"].as_f64().unwrap_or_default(),
                p["ratio"].as_f64().unwrap_or_default(),
                p["done"],
                p["seconds"].as_f64().unwrap_or_default(),
                p["steps_per_s"].as_f64().unwrap_or_default(),
                p["peak_rss_mib"].as_f64().unwrap_or_default(),
            );
        }
        for p in &provisioning {
            say!(
                "{:<38} {:>10.0}ms {:>12} {:>8}   (`ferry serve` started to its first ready answer, median of 3)",
                format!("server restart, {} targets", p["targets"]),
                p["restart_to_ready_ms"].as_f64().unwrap_or_default(),
                "",
                "",
            );
        }
        for p in &provisioning {
            let (saved, rebuilt) = (
                p["open_query_saved_ms"].as_f64().unwrap_or_default(),
                p["open_query_rebuilt_ms"].as_f64().unwrap_or_default(),
            );
            say!(
                "{:<38} {:>10.0}ms {:>10.0}ms {:>8.2}   (baseline: projections rebuilt first; status {:.0}ms, tenant list page {:.0}ms)",
                format!("open + resource list, {} targets", p["targets"]),
                saved,
                rebuilt,
                rebuilt / saved,
                p["open_status_ms"].as_f64().unwrap_or_default(),
                p["open_tenant_list_ms"].as_f64().unwrap_or_default(),
            );
        }
        say!(
            "{:<38} {:>10.0}/s {:>10.0}/s {:>8.2}   ({:.1} events per fsync)",
            "appends, 64 writers (median of 5)",
            appended.events as f64 / appended.ferry,
            appended.events as f64 / appended.raw,
            appended.raw / appended.ferry,
            appended.batch
        );
        if let Some(r) = &read {
            say!(
                "{:<38} {:>10.0}/s {:>10.0}/s {:>8.2}",
                "audit verify (events)",
                r.records as f64 / r.verify,
                r.records as f64 / r.raw,
                r.raw / r.verify
            );
            say!(
                "{:<38} {:>10.0}/s {:>10.0}/s {:>8.2}",
                "projection rebuild (events)",
                r.records as f64 / r.rebuild,
                r.records as f64 / r.raw,
                r.raw / r.rebuild
            );
        }
        if let Some(on_kafka) = &on_kafka {
            kafka::print(on_kafka);
        }
    }
    print_json(&report);
    if args.keep {
        eprintln!("the data directories are kept in {}", scratch.display());
    } else {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    Ok(exit::OK)
}

fn tempfile_dir(base: Option<&Path>) -> Result<std::path::PathBuf, u8> {
    let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let dir = base.join(format!("ferry-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(err)?;
    Ok(dir)
}

/// `ferry bench --api`: the service's table and JSON line.
fn api_report(scratch: &Path, args: &Args) -> Result<u8, u8> {
    let plan = api::Plan {
        histories: args.api_history.clone(),
        clients: args.api_clients.max(1),
        requests: args.api_requests.max(1),
        background: args.api_background,
        cli_runs: args.api_cli_runs.max(1),
    };
    let report = api::run(&scratch.join("api"), &plan)?;
    if !args.json {
        let load = &report["under_load"];
        let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
        say!(
            "{:<52} {:>10} {:>10} {:>8}",
            "measure",
            "ferry",
            "baseline",
            "ratio"
        );
        say!(
            "{:<52} {:>8.2}ms {:>8.2}ms {:>8.2}",
            format!(
                "GET status p50, {} clients, provisioning runs",
                load["clients"]
            ),
            f(&load["status"]["p50_ms"]),
            f(&load["trivial"]["p50_ms"]),
            f(&load["p50_ratio"])
        );
        say!(
            "{:<52} {:>8.2}ms {:>8.2}ms {:>8.2}",
            "GET status p99 (baseline: GET /healthz, same server)",
            f(&load["status"]["p99_ms"]),
            f(&load["trivial"]["p99_ms"]),
            f(&load["p99_ratio"])
        );
        say!(
            "{:<52} {:>8.0}/s {:>8.0}/s {:>8.2}   ({} targets provisioned meanwhile)",
            "GET status requests/s",
            f(&load["status"]["requests_per_s"]),
            f(&load["trivial"]["requests_per_s"]),
            f(&load["status"]["requests_per_s"]) / f(&load["trivial"]["requests_per_s"]),
            load["provisioned_meanwhile"]
        );
        for h in report["cli_status"].as_array().into_iter().flatten() {
            say!(
                "{:<52} {:>8.1}ms {:>8.1}ms {:>8.2}",
                format!(
                    "ferry status via server vs standalone, {} records",
                    h["records"]
                ),
                f(&h["status_through_server_ms"]),
                f(&h["status_standalone_ms"]),
                f(&h["ratio"])
            );
        }
    }
    print_json(&json!({ "api": report }));
    Ok(exit::OK)
}
