//! The audit trail: one fact per record — when, who, for which tenant and migration, what
//! happened, the choices recorded and the outcome — in words an auditor reads, with the ids a
//! script filters on.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ferry_schemas::directory::{Role, Target};
use ferry_schemas::environment::Change;
use ferry_schemas::event::Event;
use ferry_schemas::{Actor, EnvironmentId, MigrationId, PrincipalId, Record, ResourceId, TenantId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::directory::State;

/// One recorded fact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Fact {
    /// Its position on the log.
    pub position: u64,
    /// When it was recorded.
    pub time: DateTime<Utc>,
    /// `operator`, `system`, or `<tenant>/<user>`.
    pub actor: String,
    /// The principal, when a user acted.
    #[serde(skip)]
    pub principal: Option<PrincipalId>,
    /// The tenant's name, if the fact belongs to one.
    pub tenant: Option<String>,
    /// The tenant's id.
    #[serde(skip)]
    pub tenant_id: Option<TenantId>,
    /// The migration, if the fact is part of one.
    pub migration: Option<MigrationId>,
    /// The environment concerned, if any.
    pub environment: Option<EnvironmentId>,
    /// What happened, e.g. `answer given`.
    pub action: String,
    /// What it was about, e.g. an item or resource name.
    pub subject: String,
    /// The choices recorded (answers, suggested actions, roles).
    pub choices: String,
    /// `ok`, or what failed.
    pub outcome: String,
    /// Resources it names.
    pub resources: Vec<ResourceId>,
}

/// Folds records into facts, remembering which environment each migration targets.
#[derive(Default)]
pub struct Trail {
    migrations: HashMap<MigrationId, EnvironmentId>,
}

fn grant(fact: &mut Fact, directory: &State, principal: PrincipalId, role: Role, target: Target) {
    fact.subject = directory
        .principal_by_id(principal)
        .map(|p| p.name.to_string())
        .unwrap_or_default();
    let target = match target {
        Target::Environment(id) => {
            fact.environment = Some(id);
            directory
                .environment_by_id(id)
                .map_or(id.to_string(), |env| env.name.to_string())
        }
        Target::App(id) => {
            fact.resources.push(id);
            format!("app {id}")
        }
        Target::Tenant(id) => directory
            .tenant_by_id(id)
            .map_or(id.to_string(), |t| t.name.to_string()),
    };
    fact.choices = format!("{role} on {target}");
}

fn words(event_type: &str) -> String {
    let mut out = String::new();
    for (i, c) in event_type.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

impl Trail {
    /// The fact `record` states; names come from `directory` (the directory as it stands).
    pub fn fact(&mut self, record: &Record, directory: &State) -> Fact {
        let event = Event::from_record(record).ok();
        let migration = record.stream.migration_id();
        let mut fact = Fact {
            position: record.position,
            time: record.recorded_at,
            actor: match record.actor {
                Actor::Operator => "operator".into(),
                Actor::System => "system".into(),
                Actor::Principal { principal } => directory.principal_by_id(principal).map_or_else(
                    || principal.to_string(),
                    |p| {
                        let tenant = directory
                            .tenant_by_id(p.tenant)
                            .map(|t| t.name.to_string())
                            .unwrap_or_default();
                        format!("{tenant}/{}", p.name)
                    },
                ),
            },
            principal: match record.actor {
                Actor::Principal { principal } => Some(principal),
                _ => None,
            },
            tenant: record
                .tenant
                .and_then(|t| directory.tenant_by_id(t))
                .map(|t| t.name.to_string()),
            tenant_id: record.tenant,
            migration,
            environment: migration.and_then(|m| self.migrations.get(&m).copied()),
            action: words(&record.event_type),
            subject: String::new(),
            choices: String::new(),
            outcome: "ok".into(),
            resources: Vec::new(),
        };
        let Some(event) = event else {
            fact.outcome = "undecodable".into();
            return fact;
        };
        self.describe(&event, &mut fact, directory);
        fact
    }

    fn describe(&mut self, event: &Event, fact: &mut Fact, directory: &State) {
        let change = |fact: &mut Fact, change: &Change| {
            fact.environment = Some(change.environment());
            fact.resources.push(change.resource());
        };
        match event {
            Event::TenantCreated(e) => fact.subject = e.name.to_string(),
            Event::EnvironmentCreated(e) => {
                fact.subject = e.name.to_string();
                fact.environment = Some(e.environment);
                fact.choices = if e.default {
                    "default".into()
                } else {
                    String::new()
                };
            }
            Event::PrincipalCreated(e) => {
                fact.subject = e.name.to_string();
                fact.choices = format!(
                    "license {}",
                    serde_json::to_value(e.license)
                        .unwrap_or_default()
                        .as_str()
                        .unwrap_or_default()
                );
            }
            Event::LicenseSet(e) => {
                fact.subject = directory
                    .principal_by_id(e.principal)
                    .map_or_else(|| e.principal.to_string(), |p| p.name.to_string());
                fact.choices = format!("license {}", e.license.as_str());
            }
            Event::GrantGiven(e) => grant(fact, directory, e.principal, e.role, e.target),
            Event::GrantRevoked(e) => grant(fact, directory, e.principal, e.role, e.target),
            Event::TokenIssued(e) => {
                fact.subject = format!("token {}", e.token);
                fact.choices = match e.principal {
                    None => "for the operator".to_owned(),
                    Some(p) => format!(
                        "for {}",
                        directory
                            .principal_by_id(p)
                            .map_or_else(|| p.to_string(), |p| p.name.to_string())
                    ),
                };
                if let Some(expires) = e.expires_at {
                    fact.choices
                        .push_str(&format!(", expires {}", expires.to_rfc3339()));
                }
            }
            Event::TokenRevoked(e) => fact.subject = format!("token {}", e.token),
            Event::SignerTrusted(e) => {
                fact.environment = Some(e.environment);
                fact.subject = format!("signing key {}", e.name);
                fact.choices = format!("key {}", e.key);
            }
            Event::SignerDistrusted(e) => {
                fact.environment = Some(e.environment);
                fact.subject = format!("signing key {}", e.key);
            }
            Event::PolicySet(e) => {
                fact.environment = Some(e.environment);
                fact.subject = "import policy".to_owned();
                fact.choices = if e.require_signed {
                    "signed packages only".to_owned()
                } else {
                    "unsigned packages allowed".to_owned()
                };
            }
            Event::ResourceCreated(e) => {
                fact.subject = format!("{} {}", e.kind, e.name);
                fact.environment = Some(e.environment);
                fact.resources.push(e.resource);
            }
            Event::ResourceRemoved(e) => {
                fact.environment = Some(e.environment);
                fact.resources.push(e.resource);
            }
            Event::DraftSaved(e) => {
                fact.environment = Some(e.environment);
                fact.resources.push(e.resource);
            }
            Event::DraftPublished(e) => {
                fact.environment = Some(e.environment);
                fact.resources.push(e.resource);
                fact.choices = format!("version {}", e.version);
            }
            Event::ExportRequested(e) => {
                if let Some(m) = fact.migration {
                    self.migrations.insert(m, e.environment);
                }
                fact.environment = Some(e.environment);
                fact.resources.push(e.app);
                fact.subject = e.package_name.clone();
                let actions: Vec<String> = e
                    .suggested_actions
                    .iter()
                    .map(|(r, a)| format!("{r}={a}"))
                    .collect();
                fact.choices = actions.join(" ");
            }
            Event::ResourceCaptured(e) => {
                fact.subject = format!("{} {}", e.kind, e.display_name);
                fact.resources.push(e.resource);
                fact.choices = e.suggested_action.to_string();
            }
            Event::PackageWritten(e) => fact.subject = format!("sha256 {}", e.package),
            Event::ImportRequested(e) => {
                self.migrations.insert(e.migration, e.environment);
                fact.environment = Some(e.environment);
                fact.subject = e.package_name.clone();
                let signed = match &e.signer {
                    None => "unsigned".to_owned(),
                    Some(s) => match &s.trusted_as {
                        Some(name) => format!("signed by {name} ({})", s.key),
                        None => format!("signed by untrusted key {}", s.key),
                    },
                };
                fact.choices = if e.dry_run {
                    format!("dry run, {signed}")
                } else {
                    signed
                };
            }
            Event::PackageValidated(e) => {
                let pending = e
                    .items
                    .iter()
                    .filter(|i| crate::migration::needs_input(i))
                    .count();
                fact.subject = format!("{} item(s), {pending} needing input", e.items.len());
            }
            Event::AnswerGiven(e) => {
                fact.subject = e.manifest_key.clone();
                fact.resources.extend(e.target);
                fact.choices = match (e.target, &e.name) {
                    (Some(target), _) => format!("{}:{target}", e.action),
                    (None, Some(name)) => format!("{}:{name}", e.action),
                    (None, None) => e.action.to_string(),
                };
            }
            Event::ImportStarted(e) => {
                fact.choices = if e.atomic {
                    "atomic".into()
                } else {
                    String::new()
                };
                fact.subject = format!("{} step(s)", e.plan.len());
            }
            Event::StepApplied(e) => {
                fact.subject = e.manifest_key.clone();
                fact.choices = e.action.to_string();
                fact.resources.extend(e.target);
                if let Some(c) = &e.change {
                    change(fact, c);
                }
            }
            Event::StepFailed(e) => {
                fact.subject = e.manifest_key.clone();
                fact.outcome = format!("failed: {}", e.code);
            }
            Event::StepReverted(e) => {
                fact.subject = e.manifest_key.clone();
                if let Some(c) = &e.change {
                    change(fact, c);
                }
            }
            Event::ImportCompleted(e) => {
                fact.outcome = format!(
                    "applied {}, failed {}{}",
                    e.applied,
                    e.failed,
                    if e.rolled_back { ", rolled back" } else { "" }
                );
            }
            Event::MigrationFailed(e) => fact.outcome = format!("failed: {}", e.code),
            Event::ImportCancelled(e) => {
                fact.choices = match e.promoted_to {
                    Some(real) => format!("promoted to {real}"),
                    None => String::new(),
                };
                fact.outcome = e.reason.clone();
            }
            Event::ProvisionRequested(e) => {
                fact.subject = format!("{} into {} target(s)", e.package_name, e.target_count);
                fact.choices = format!(
                    "waves {:?}, max failure {}‰{}",
                    e.waves,
                    e.max_failure_permille,
                    if e.create_envs { ", create envs" } else { "" }
                );
            }
            Event::TargetSkipped(e) => {
                fact.subject = format!("target {}", e.index + 1);
                fact.outcome = format!("failed: {}", e.code);
            }
            Event::WaveFinished(e) => {
                fact.subject = format!("wave {}", e.wave + 1);
                fact.outcome = format!(
                    "done {}, failed {}, blocked {}{}",
                    e.done,
                    e.failed,
                    e.blocked,
                    if e.stopped { ", stopped" } else { "" }
                );
            }
        }
    }
}
