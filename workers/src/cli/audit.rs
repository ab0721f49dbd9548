//! `ferry audit log|verify|checkpoint|key|replay|export`: what auditors use. With `--as`, a user needs `auditor` on the tenant concerned and sees nothing
//! of other tenants; without it the platform operator sees everything.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ferry_engine::app::{AuditFilter, Ferry};
use ferry_engine::audit::{self, bundle, Keys, PublicKey};
use ferry_engine::data_dir::DataDir;
use ferry_schemas::{MigrationId, ResourceId};
use serde_json::json;

use super::backend;
use super::clock_now;
use super::directory::print_json;
use super::directory::{fail, open, Qualified};
use super::exit;
use super::session::{migration_id, refused, ActAs};

/// `ferry audit …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// One line per recorded fact: time, actor, tenant, migration, action, choices, outcome.
    Log(LogArgs),
    /// Verify the whole log against the signed checkpoints, or a bundle offline.
    Verify {
        /// Verify this bundle instead of the data directory (no data directory needed).
        #[arg(long, value_name = "ZIP")]
        bundle: Option<PathBuf>,
        /// With --bundle: the public key the checkpoints must be signed with (from
        /// `ferry audit key`). Without it the bundle's own key is trusted and printed.
        #[arg(long, value_name = "HEX")]
        key: Option<PublicKey>,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign a checkpoint of the log as it is now (also made every FERRY_CHECKPOINT_EVERY
    /// records, default 500).
    Checkpoint {
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the public key that signs checkpoints.
    Key {
        #[command(flatten)]
        act_as: ActAs,
    },
    /// Decide every step of a migration again with the current code and compare with the log.
    Replay {
        /// The migration (or --all).
        migration: Option<String>,
        /// Every import on the log (with --as: of the tenants you audit).
        #[arg(long, conflicts_with = "migration")]
        all: bool,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write one tenant's records, with the proofs and signed checkpoints that let an
    /// external auditor verify them offline (`ferry audit verify --bundle`).
    Export {
        /// The tenant.
        #[arg(long)]
        tenant: ferry_schemas::directory::Name,
        /// Where to write the bundle.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        act_as: ActAs,
    },
}

/// `ferry audit log`.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// Only this tenant's facts.
    #[arg(long)]
    tenant: Option<ferry_schemas::directory::Name>,
    /// Only facts about this environment, `<tenant>/<env>`.
    #[arg(long)]
    env: Option<Qualified>,
    /// Only what this user did, `<tenant>/<user>`.
    #[arg(long)]
    actor: Option<Qualified>,
    /// Only facts naming this resource.
    #[arg(long)]
    resource: Option<ResourceId>,
    /// Only this migration's facts.
    #[arg(long)]
    migration: Option<MigrationId>,
    /// From this time on (RFC 3339).
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// Up to this time (RFC 3339).
    #[arg(long)]
    until: Option<DateTime<Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    act_as: ActAs,
}

/// How `audit log` prints.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// One JSON array.
    Json,
    /// Comma-separated, with a header line.
    Csv,
}

/// Runs an audit command.
pub fn run(data_dir: &Path, command: Command) -> Result<u8, u8> {
    match command {
        Command::Log(args) => log(data_dir, args),
        Command::Verify {
            bundle: Some(path),
            key,
            json,
            ..
        } => verify_bundle(&path, key.as_ref(), json),
        Command::Verify {
            bundle: None,
            act_as,
            json,
            ..
        } => verify(data_dir, &act_as, json),
        Command::Checkpoint { act_as, json } => checkpoint(data_dir, &act_as, json),
        Command::Key { act_as } => {
            say!("{}", backend::open(data_dir, &act_as)?.audit_key()?);
            Ok(exit::OK)
        }
        Command::Replay {
            migration,
            all,
            act_as,
            json,
        } => replay(data_dir, migration, all, &act_as, json),
        Command::Export {
            tenant,
            out,
            act_as,
        } => export(data_dir, &tenant, &out, &act_as),
    }
}

fn log(data_dir: &Path, args: LogArgs) -> Result<u8, u8> {
    let filter = AuditFilter {
        tenant: args.tenant,
        environment: args.env,
        actor: args.actor,
        resource: args.resource,
        migration: args.migration,
        since: args.since,
        until: args.until,
        after: None,
        limit: None,
    };
    let facts = backend::open(data_dir, &args.act_as)?.audit_log(&filter)?;
    match args.format {
        Format::Json => print_json(&facts),
        Format::Csv => {
            say!("position,time,actor,tenant,migration,action,subject,choices,outcome");
            for f in &facts {
                let fields = [
                    f.position.to_string(),
                    f.time.to_rfc3339(),
                    f.actor.clone(),
                    f.tenant.clone().unwrap_or_default(),
                    f.migration.map(|m| m.to_string()).unwrap_or_default(),
                    f.action.clone(),
                    f.subject.clone(),
                    f.choices.clone(),
                    f.outcome.clone(),
                ];
                let quoted: Vec<String> = fields.iter().map(|s| csv(s)).collect();
                say!("{}", quoted.join(","));
            }
        }
        Format::Table => {
            say!(
                "{:>5}  {:<24} {:<18} {:<10} {:<19} {:<30} {:<24} OUTCOME",
                "POS",
                "TIME",
                "ACTOR",
                "TENANT",
                "ACTION",
                "SUBJECT",
                "CHOICES"
            );
            for f in &facts {
                say!(
                    "{:>5}  {:<24} {:<18} {:<10} {:<19} {:<30} {:<24} {}",
                    f.position,
                    f.time.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                    f.actor,
                    f.tenant.as_deref().unwrap_or("-"),
                    f.action,
                    f.subject,
                    f.choices,
                    f.outcome
                );
            }
        }
    }
    Ok(exit::OK)
}

fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

fn verify(data_dir: &Path, act_as: &ActAs, json_out: bool) -> Result<u8, u8> {
    let verified = match backend::through_server(data_dir, act_as)? {
        Some(server) => server.audit_verify()?,
        None => {
            // Never opens the log: opening repairs a torn tail, and an auditor must see the
            // log as it is. A log on Kafka is re-sequenced from the brokers; a fresh folder
            // named with --log kafka becomes its cache.
            let kafka = super::directory::log_settings().kind
                == Some(ferry_engine::data_dir::LogKind::Kafka);
            if kafka && !data_dir.join(DataDir::MARKER).exists() {
                drop(open(data_dir)?);
            }
            Ferry::verify_unopened(data_dir, act_as.user.as_ref()).map_err(refused)?
        }
    };
    if json_out {
        print_json(&verified);
    }
    match (&verified.problem, verified.intact) {
        (_, true) => {
            if !json_out {
                say!(
                    "intact: {} record(s), head {} digest {}, {} signed checkpoint(s) hold",
                    verified.head,
                    verified.head,
                    verified.digest,
                    verified.checkpoints
                );
            }
            Ok(exit::OK)
        }
        (problem, false) => {
            let at = verified
                .position
                .map_or_else(String::new, |p| format!("position {p}: "));
            Err(fail(
                &format!(
                    "the log does not verify: {at}{}",
                    problem.as_deref().unwrap_or("unknown")
                ),
                exit::TAMPERED,
            ))
        }
    }
}

fn verify_bundle(path: &Path, key: Option<&PublicKey>, json_out: bool) -> Result<u8, u8> {
    let bytes = super::input::read(path, super::input::BUNDLE)?;
    match bundle::verify(&bytes, key) {
        Ok(report) => {
            if json_out {
                print_json(&json!({
                    "intact": true, "tenant": report.tenant, "tenant_name": report.tenant_name,
                    "records": report.records, "checkpoints": report.checkpoints,
                    "public_key": report.public_key, "head": report.head,
                }));
            } else {
                say!(
                    "intact: {} record(s) of tenant {} under {} signed checkpoint(s), up to log position {}",
                    report.records, report.tenant_name, report.checkpoints, report.head
                );
                if key.is_none() {
                    say!(
                        "signed by {} — compare it with `ferry audit key`, or pass --key to pin it",
                        report.public_key
                    );
                }
            }
            Ok(exit::OK)
        }
        Err(tampered) => {
            if json_out {
                print_json(&json!({"intact": false, "problem": tampered.0}));
            }
            Err(fail(
                &format!("the bundle does not verify: {tampered}"),
                exit::TAMPERED,
            ))
        }
    }
}

fn checkpoint(data_dir: &Path, act_as: &ActAs, json_out: bool) -> Result<u8, u8> {
    let checkpoint = backend::open(data_dir, act_as)?.audit_checkpoint()?;
    if json_out {
        print_json(&checkpoint);
    } else {
        say!(
            "signed checkpoint at position {} (digest {}, tenants root {})",
            checkpoint.head,
            checkpoint.digest,
            checkpoint.tenants_root
        );
    }
    Ok(exit::OK)
}

/// Signs a checkpoint if `FERRY_CHECKPOINT_EVERY` records (default 500) were appended since
/// the last one. Called after commands that append.
pub fn checkpoint_if_due(data_dir: &Path) {
    let every = std::env::var("FERRY_CHECKPOINT_EVERY")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    // On Kafka the cache knows the head without a connection; the embedded log is opened.
    let on_kafka = DataDir::settings(data_dir).is_ok_and(|s| s.kafka().is_ok_and(|k| k.is_some()));
    let due = if on_kafka {
        let head = ferry_engine::log::KafkaStore::cached_head(&data_dir.join(DataDir::KAFKA_CACHE));
        let (Ok(head), Ok(keys)) = (head, Keys::load_or_create(&audit::dir(data_dir))) else {
            return;
        };
        audit::checkpoint_if_due(data_dir, &keys, head, every, clock_now())
    } else {
        // Quiet: the command itself succeeded; a data directory that no longer opens is
        // reported by the next command.
        let Ok(dir) = DataDir::open_with(
            data_dir,
            Default::default(),
            &super::directory::log_settings(),
        ) else {
            return;
        };
        let head = dir.log().head().map(|h| h.position).unwrap_or(0);
        audit::checkpoint_if_due(data_dir, dir.keys(), head, every, clock_now())
    };
    if let Err(e) = due {
        eprintln!("warning: the automatic audit checkpoint failed: {e}");
    }
}

fn replay(
    data_dir: &Path,
    migration: Option<String>,
    all: bool,
    act_as: &ActAs,
    json_out: bool,
) -> Result<u8, u8> {
    let only = match (migration, all) {
        (Some(id), _) => Some(migration_id(&id)?),
        (None, true) => None,
        (None, false) => return Err(fail("name a migration, or pass --all", exit::INVALID_INPUT)),
    };
    let replayed = backend::open(data_dir, act_as)?.audit_replay(only)?;
    if json_out {
        print_json(&replayed);
    } else if replayed.identical {
        say!(
            "identical: {} step(s) of {} migration(s) decided again with this code give exactly what the log records",
            replayed.steps, replayed.migrations
        );
    } else {
        for d in &replayed.differences {
            say!(
                "migration {} position {}:\n  recorded: {}\n  replayed: {}",
                d.migration,
                d.position,
                d.recorded,
                d.replayed
            );
        }
    }
    if replayed.identical {
        Ok(exit::OK)
    } else {
        Err(fail(
            &format!("{} step(s) replay differently", replayed.differences.len()),
            exit::TAMPERED,
        ))
    }
}

fn export(
    data_dir: &Path,
    tenant: &ferry_schemas::directory::Name,
    out: &Path,
    act_as: &ActAs,
) -> Result<u8, u8> {
    let backend = backend::open(data_dir, act_as)?;
    let bytes = backend.audit_bundle(tenant)?;
    let key = backend.audit_key()?;
    super::output::write(out, &bytes)?;
    say!(
        "wrote the audit bundle of {tenant} to {} (verify it with `ferry audit verify --bundle {} --key {key}`)",
        out.display(),
        out.display()
    );
    Ok(exit::OK)
}
