//! A growing history of interleaved tenants in an open data directory, and the seeded
//! randomness that drives it: shared by the audit tests (`audit_bundles`, `audit_log`).
//!
//! The random choices come from a xorshift generator whose seed is printed; set
//! `FERRY_TAMPER_SEED` to replay them (ids and recorded times are fresh on every run).
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeDelta, Utc};
use ferry_engine::audit::bundle;
use ferry_engine::audit::{self, Checkpoint, PublicKey};
use ferry_engine::data_dir::DataDir;
use ferry_engine::directory::{self, Command};
use ferry_engine::environment::author;
use ferry_engine::executor::Executor;
use ferry_engine::log::Options;
use ferry_schemas::directory::{License, Name};
use ferry_schemas::environment::ResourceCreated;
use ferry_schemas::resource::Kind;
use ferry_schemas::{Actor, EnvironmentId, PrincipalId, ResourceId, TenantId};

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/// xorshift64*: small, seedable, good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `FERRY_TAMPER_SEED`, else from the clock; prints the seed either way.
    pub fn seeded(test: &str) -> Rng {
        let seed = std::env::var("FERRY_TAMPER_SEED")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("{test}: seed {seed} (replay with FERRY_TAMPER_SEED={seed})");
        // xorshift must not start at zero.
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15).max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.next() as u8;
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// A growing history of interleaved tenants in an open data directory

pub struct Tenant {
    pub id: TenantId,
    pub name: Name,
    pub environments: Vec<EnvironmentId>,
    pub users: usize,
    /// How many records on the log carry this tenant.
    pub records: u64,
}

/// An open data directory that tenants' records are appended to, with checkpoints signed and
/// bundles exported while it is open (they read the log without its lock).
pub struct History {
    pub path: PathBuf,
    pub dir: DataDir,
    pub executor: Executor,
    pub tenants: Vec<Tenant>,
    /// The clock of checkpoints: one second further at each, so no two are alike.
    pub time: DateTime<Utc>,
}

/// A scratch folder, in memory when the system has one: these tests are about what the audit
/// code reads, not about durability, and fsyncs of hundreds of data directories would
/// dominate their time.
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new()
            .prefix("ferry-audit")
            .tempdir_in(shm)
        {
            return dir;
        }
    }
    tempfile::tempdir().unwrap()
}

pub fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

impl History {
    pub fn new(path: &Path) -> History {
        let (dir, created) = DataDir::init(path, Options::default()).unwrap();
        assert!(created);
        let executor = Executor::new(dir.store(), dir.blobs().clone()).unwrap();
        History {
            path: path.to_path_buf(),
            dir,
            executor,
            tenants: Vec::new(),
            time: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    pub fn key(&self) -> PublicKey {
        self.dir.keys().public()
    }

    pub fn head(&self) -> u64 {
        self.dir.log().head().unwrap().position
    }

    pub fn directory(&mut self, t: usize, command: Command) {
        directory::execute(self.dir.log(), command).unwrap();
        self.tenants[t].records += 1;
    }

    /// A new tenant with its default environment (two records).
    pub fn add_tenant(&mut self) -> usize {
        let t = self.tenants.len();
        self.tenants.push(Tenant {
            id: TenantId::new(),
            name: name(&format!("tenant-{t}")),
            environments: Vec::new(),
            users: 0,
            records: 0,
        });
        let (id, tenant) = (self.tenants[t].id, self.tenants[t].name.clone());
        self.directory(t, Command::CreateTenant { id, name: tenant });
        self.add_environment(t);
        t
    }

    pub fn add_environment(&mut self, t: usize) {
        let id = EnvironmentId::new();
        let tenant = &mut self.tenants[t];
        let command = Command::CreateEnvironment {
            id,
            tenant: tenant.name.clone(),
            name: name(&format!("env-{}", tenant.environments.len())),
            default: tenant.environments.is_empty(),
        };
        tenant.environments.push(id);
        self.directory(t, command);
    }

    pub fn add_user(&mut self, t: usize) {
        let tenant = &mut self.tenants[t];
        tenant.users += 1;
        let command = Command::CreateUser {
            id: PrincipalId::new(),
            tenant: tenant.name.clone(),
            name: name(&format!("user-{}", tenant.users)),
            license: License::Plan2,
        };
        self.directory(t, command);
    }

    pub fn add_resource(&mut self, t: usize, rng: &mut Rng) {
        let tenant = &self.tenants[t];
        let environment = tenant.environments[rng.below(tenant.environments.len())];
        let (kind, connector) = match rng.below(3) {
            0 => (Kind::Gateway, None),
            1 => (Kind::Connection, Some("shared_office365".to_owned())),
            _ => (Kind::App, None),
        };
        let created = ResourceCreated {
            environment,
            resource: ResourceId::new(),
            kind,
            name: format!("{kind:?} {}", rng.next() % 10_000),
            owner: None,
            connector,
            has_secret: false,
            gateway: None,
            definition: None,
        };
        self.executor
            .author(environment, Actor::Operator, |w| {
                author::create(&w.directory, &w.contents, created.clone())
            })
            .unwrap()
            .unwrap();
        self.tenants[t].records += 1;
    }

    /// One more record of tenant `t`: mostly resources, sometimes an environment or a user.
    pub fn step(&mut self, t: usize, rng: &mut Rng) {
        match rng.below(6) {
            0 => self.add_environment(t),
            1 => self.add_user(t),
            _ => self.add_resource(t, rng),
        }
    }

    pub fn tick(&mut self) -> DateTime<Utc> {
        self.time += TimeDelta::seconds(1);
        self.time
    }

    pub fn checkpoint(&mut self) -> Checkpoint {
        let at = self.tick();
        audit::checkpoint(&self.path, self.dir.keys(), at).unwrap()
    }

    pub fn export(&mut self, t: usize) -> Vec<u8> {
        let at = self.tick();
        let tenant = &self.tenants[t];
        bundle::export(
            &self.path,
            self.dir.keys(),
            tenant.id,
            tenant.name.as_str(),
            at,
        )
        .unwrap()
    }
}

/// `tenants` tenants with `per_tenant` records each, interleaved at random, and `checkpoints`
/// checkpoints signed at even intervals between them (with the data directory open).
pub fn interleaved(
    path: &Path,
    rng: &mut Rng,
    tenants: usize,
    per_tenant: u64,
    checkpoints: usize,
) -> History {
    let mut history = History::new(path);
    for _ in 0..tenants {
        history.add_tenant();
    }
    let every = tenants as u64 * per_tenant / (checkpoints as u64 + 1);
    let mut signed = 0;
    while history.tenants.iter().any(|t| t.records < per_tenant) {
        let t = rng.below(history.tenants.len());
        if history.tenants[t].records >= per_tenant {
            continue;
        }
        history.step(t, rng);
        if signed < checkpoints && history.head() >= every * (signed as u64 + 1) {
            history.checkpoint();
            signed += 1;
        }
    }
    assert_eq!(signed, checkpoints);
    history
}
