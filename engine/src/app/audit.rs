//! What auditors use: the trail (filtered, paged), verification against the signed
//! checkpoints, replay, bundles, checkpoints, the key, and an environment as of a time. A
//! user needs `auditor` on the tenant concerned and sees nothing of other tenants; the
//! operator sees everything.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use ferry_schemas::directory::{Name, Role, Target};
use ferry_schemas::{MigrationId, PrincipalId, ResourceId, TenantId};

use super::directory::{environment_named, operator, principal_label};
use super::views::{ContentsView, DifferenceView, ReplayView, ResourceView, VerifyView};
use super::{Caller, Error, Ferry, Kind, Qualified, Result};
use crate::audit::{self, bundle, facts::Fact, facts::Trail, replay, Checkpoint, Keys};
use crate::authz::{self, Action};
use crate::data_dir::DataDir;
use crate::directory::State;
use crate::world::World;

/// `audit log` filters; every one given must hold.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this tenant's facts.
    pub tenant: Option<Name>,
    /// Only facts about this environment.
    pub environment: Option<Qualified>,
    /// Only what this user did.
    pub actor: Option<Qualified>,
    /// Only facts naming this resource.
    pub resource: Option<ResourceId>,
    /// Only this migration's facts.
    pub migration: Option<MigrationId>,
    /// From this time on.
    pub since: Option<DateTime<Utc>>,
    /// Up to this time.
    pub until: Option<DateTime<Utc>>,
    /// Only facts after this log position (paging: the last position of the previous page).
    pub after: Option<u64>,
    /// At most this many facts.
    pub limit: Option<usize>,
}

/// The point in history `env show --as-of` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// A log position.
    Position(u64),
    /// The last record at or before this time.
    Time(DateTime<Utc>),
}

impl std::str::FromStr for AsOf {
    type Err = Error;

    fn from_str(text: &str) -> Result<AsOf> {
        if let Ok(position) = text.parse() {
            return Ok(AsOf::Position(position));
        }
        text.parse().map(AsOf::Time).map_err(|_| {
            Error::invalid(
                "bad-as-of",
                format!("{text:?} is neither a log position nor an RFC 3339 time"),
            )
        })
    }
}

/// The tenants `principal` audits.
fn audited(directory: &State, principal: PrincipalId) -> BTreeSet<TenantId> {
    directory
        .grants_of(principal)
        .into_iter()
        .filter_map(|(role, target)| match (role, target) {
            (Role::Auditor, Target::Tenant(t)) => Some(t),
            _ => None,
        })
        .collect()
}

/// The tenants the caller may audit; none: all (the operator).
fn scope(directory: &State, caller: Caller) -> Option<BTreeSet<TenantId>> {
    caller.principal().map(|p| audited(directory, p))
}

fn not_auditor(directory: &State, caller: Caller, what: &str) -> Error {
    let user = principal_label(directory, caller.principal());
    Error::new(
        Kind::Denied,
        "not-auditor",
        format!("permission denied: {user} may not {what}: it needs auditor on the tenant"),
    )
}

impl Ferry {
    /// `audit log`: one fact per record, oldest first.
    pub fn audit_log(&self, caller: &Caller, filter: &AuditFilter) -> Result<Vec<Fact>> {
        // The directory is all the trail needs: a copy, not the whole projections.
        let directory = self.world(|w| w.directory.clone())?;
        let mut tenants = scope(&directory, *caller);
        let own = super::directory::caller_tenant(&directory, *caller);
        if let Some(name) = &filter.tenant {
            let no_tenant =
                || Error::not_found("no-such-tenant", format!("no tenant named {name}"));
            let tenant = directory.tenant(name).ok_or_else(no_tenant)?;
            // Another tenant a user does not audit does not exist for them.
            if tenants.as_ref().is_some_and(|t| !t.contains(&tenant.id)) && own != Some(tenant.id) {
                return Err(no_tenant());
            }
            if tenants.as_ref().is_some_and(|t| !t.contains(&tenant.id)) {
                return Err(not_auditor(
                    &directory,
                    *caller,
                    &format!("read the audit log of {name}"),
                ));
            }
            tenants = Some(BTreeSet::from([tenant.id]));
        }
        if tenants.as_ref().is_some_and(BTreeSet::is_empty) {
            return Err(not_auditor(&directory, *caller, "read an audit log"));
        }
        let environment = filter
            .environment
            .as_ref()
            .map(|e| environment_named(&directory, *caller, e).map(|e| e.id))
            .transpose()?;
        let actor = filter
            .actor
            .as_ref()
            .map(|user| {
                directory
                    .tenant(&user.tenant)
                    // A user names only users of the tenants they audit.
                    .filter(|t| tenants.as_ref().is_none_or(|set| set.contains(&t.id)))
                    .and_then(|t| directory.principal(t.id, &user.name))
                    .map(|p| p.id)
                    .ok_or_else(|| Error::not_found("no-such-user", format!("no user {user}")))
            })
            .transpose()?;
        let from = filter.after.unwrap_or(0).saturating_add(1);
        let records = self
            .data_dir()
            .log()
            .read_all(1, usize::MAX)
            .map_err(Error::from)?;
        let mut trail = Trail::default();
        let limit = filter.limit.unwrap_or(usize::MAX);
        Ok(records
            .iter()
            // Every record is folded (the trail remembers migrations' environments); only
            // those past `after` are kept.
            .map(|r| trail.fact(r, &directory))
            .filter(|f| f.position >= from)
            // A fact belongs to its record's tenant and to the tenant of the environment it
            // concerns: a grant on tb/prod given to a user of ta shows in both tenants' trails.
            .filter(|f| {
                tenants.as_ref().is_none_or(|t| {
                    f.tenant_id.is_some_and(|id| t.contains(&id))
                        || f.environment
                            .and_then(|e| directory.environment_by_id(e))
                            .is_some_and(|e| t.contains(&e.tenant))
                })
            })
            .filter(|f| environment.is_none_or(|e| f.environment == Some(e)))
            .filter(|f| actor.is_none_or(|a| f.principal == Some(a)))
            .filter(|f| filter.resource.is_none_or(|r| f.resources.contains(&r)))
            .filter(|f| filter.migration.is_none_or(|m| f.migration == Some(m)))
            .filter(|f| filter.since.is_none_or(|t| f.time >= t))
            .filter(|f| filter.until.is_none_or(|t| f.time <= t))
            .take(limit)
            .collect())
    }

    /// `audit verify`, for an open data directory (the server's): the log file is walked
    /// read-only, not through the open log.
    pub fn audit_verify(&self, caller: &Caller) -> Result<VerifyView> {
        if let Caller::User(principal) = caller {
            let refused = self.world(|w| {
                audited(&w.directory, *principal)
                    .is_empty()
                    .then(|| not_auditor(&w.directory, *caller, "verify the log"))
            })?;
            if let Some(refused) = refused {
                return Err(refused);
            }
        }
        let key = self.data_dir().keys().public();
        let verified = audit::verify(self.data_dir().path(), &key).map_err(Error::internal)?;
        Ok(verify_view(verified))
    }

    /// `audit checkpoint` (operator): signs the log's head now.
    pub fn audit_checkpoint(&self, caller: &Caller) -> Result<Checkpoint> {
        operator(caller, "sign checkpoints")?;
        audit::checkpoint(self.data_dir().path(), self.data_dir().keys(), self.now())
            .map_err(Error::internal)
    }

    /// Signs a checkpoint when `every` records were appended since the last one (what a
    /// long-running server does on its own; commands do it after they append).
    pub fn checkpoint_if_due(&self, every: u64) -> Result<Option<Checkpoint>> {
        let head = self.data_dir().log().head().map_err(Error::from)?.position;
        audit::checkpoint_if_due(
            self.data_dir().path(),
            self.data_dir().keys(),
            head,
            every,
            self.now(),
        )
        .map_err(Error::internal)
    }

    /// `audit key`: the public key that signs checkpoints (public by design).
    pub fn audit_key(&self, _caller: &Caller) -> Result<String> {
        Ok(self.data_dir().keys().public().to_string())
    }

    /// `audit replay <migration> | --all`: decides every step again with this build.
    pub fn audit_replay(&self, caller: &Caller, only: Option<MigrationId>) -> Result<ReplayView> {
        // Which tenant each import belongs to, and the caller's scope: not the projections.
        let (tenant_of, tenants, denied) = self.world(|w| {
            let tenant_of: std::collections::HashMap<MigrationId, Option<TenantId>> = w
                .imports
                .values()
                .map(|i| {
                    let tenant = w
                        .directory
                        .environment_by_id(i.environment)
                        .map(|e| e.tenant);
                    (i.id, tenant)
                })
                .collect();
            let tenants = scope(&w.directory, *caller);
            let denied = not_auditor(&w.directory, *caller, "replay these migrations");
            (tenant_of, tenants, denied)
        })?;
        if let Some(id) = only {
            if !tenant_of.contains_key(&id) {
                return Err(Error::not_found(
                    "no-such-migration",
                    format!("no import migration {id}"),
                ));
            }
        }
        let tenant_of = |id: MigrationId| tenant_of.get(&id).copied().flatten();
        if let Some(tenants) = &tenants {
            let refused = match only {
                Some(id) => !tenant_of(id).is_some_and(|t| tenants.contains(&t)),
                None => tenants.is_empty(),
            };
            if refused {
                return Err(denied);
            }
        }
        let wanted = |id: MigrationId| {
            only.is_none_or(|o| o == id)
                && tenants
                    .as_ref()
                    .is_none_or(|set| tenant_of(id).is_some_and(|t| set.contains(&t)))
        };
        let replayed = replay::replay_where(self.data_dir().log(), self.data_dir().blobs(), wanted)
            .map_err(Error::internal)?;
        Ok(ReplayView {
            identical: replayed.differences.is_empty(),
            migrations: replayed.migrations,
            steps: replayed.steps,
            differences: replayed
                .differences
                .into_iter()
                .map(|d| DifferenceView {
                    migration: d.migration,
                    position: d.position,
                    recorded: d.recorded,
                    replayed: d.replayed,
                })
                .collect(),
        })
    }

    /// `audit export --tenant T`: one tenant's records with their proofs, as a bundle zip.
    pub fn audit_bundle(&self, caller: &Caller, tenant: &Name) -> Result<Vec<u8>> {
        let id = self.world(|w| {
            let id = w.directory.tenant(tenant).map(|t| t.id).ok_or_else(|| {
                Error::not_found("no-such-tenant", format!("no tenant named {tenant}"))
            })?;
            if scope(&w.directory, *caller).is_some_and(|t| !t.contains(&id)) {
                return Err(not_auditor(
                    &w.directory,
                    *caller,
                    &format!("export the audit bundle of {tenant}"),
                ));
            }
            Ok(id)
        })??;
        bundle::export(
            self.data_dir().path(),
            self.data_dir().keys(),
            id,
            tenant.as_str(),
            self.now(),
        )
        .map_err(Error::internal)
    }

    /// `env show [--as-of]`: what an environment held, now or at a point of its history;
    /// for auditors of its tenant and its makers.
    pub fn environment_as_of(
        &self,
        caller: &Caller,
        environment: &Qualified,
        as_of: Option<AsOf>,
    ) -> Result<ContentsView> {
        let now = self.world(|w| {
            let env = environment_named(&w.directory, *caller, environment)?;
            if let Some(principal) = caller.principal() {
                let auditor = audited(&w.directory, principal).contains(&env.tenant);
                if !auditor {
                    authz::environment(&w.directory, principal, env.id, Action::Author)?;
                }
            }
            Ok::<_, Error>(env.id)
        })??;
        let view = |world: &World| ContentsView {
            environment: environment.to_string(),
            position: world.position(),
            resources: world
                .contents
                .of(now)
                .into_iter()
                .map(ResourceView::from)
                .collect(),
        };
        let store = self.data_dir().log();
        match as_of {
            None => self.world(view),
            Some(AsOf::Position(position)) => World::as_of(store, |r| r.position <= position)
                .map(|w| view(&w))
                .map_err(Error::internal),
            Some(AsOf::Time(time)) => World::as_of(store, |r| r.recorded_at <= time)
                .map(|w| view(&w))
                .map_err(Error::internal),
        }
    }

    /// `audit verify` on a data directory that is not open — and must not be: opening repairs
    /// a torn tail, and an auditor must see the log as it is. `as_user`, when given, must
    /// audit some tenant.
    pub fn verify_unopened(path: &Path, as_user: Option<&Qualified>) -> Result<VerifyView> {
        if !path.join(DataDir::MARKER).exists() {
            return Err(Error::invalid(
                "no-data-directory",
                format!("no Ferry data directory at {}", path.display()),
            ));
        }
        let on_kafka = DataDir::settings(path)
            .and_then(|s| s.kafka())
            .is_ok_and(|kafka| kafka.is_some());
        let events = audit::log_file(path);
        if !on_kafka && !events.exists() {
            return Err(crate::data_dir::Error::LogMissing {
                path: path.to_path_buf(),
                log: events,
            }
            .into());
        }
        let key = Keys::load_or_create(&audit::dir(path))
            .map_err(Error::internal)?
            .public();
        if let Some(user) = as_user {
            let mut world = World::default();
            audit::walk(path, |_, body| {
                if let Ok(record) = ferry_schemas::Record::from_body(body) {
                    let _ = world.apply(&record);
                }
            })
            .map_err(Error::internal)?;
            let principal = world
                .directory
                .tenant(&user.tenant)
                .and_then(|t| world.directory.principal(t.id, &user.name))
                .map(|p| p.id)
                .ok_or_else(|| Error::not_found("no-such-user", format!("no user {user}")))?;
            if audited(&world.directory, principal).is_empty() {
                return Err(not_auditor(
                    &world.directory,
                    Caller::User(principal),
                    "verify the log",
                ));
            }
        }
        let verified = audit::verify(path, &key).map_err(Error::internal)?;
        Ok(verify_view(verified))
    }
}

fn verify_view(verified: audit::Verified) -> VerifyView {
    VerifyView {
        intact: verified.finding.is_none(),
        head: verified.head,
        digest: verified.digest.to_string(),
        checkpoints: verified.checkpoints,
        position: verified.finding.as_ref().and_then(|f| f.position),
        problem: verified.finding.map(|f| f.problem),
    }
}
