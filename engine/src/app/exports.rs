//! Export: an app and everything it depends on, written as a package, stored, and recorded as
//! an export migration.

use ferry_schemas::event::{Event, ExportRequested, PackageWritten};
use ferry_schemas::resource::{Action, Kind};
use ferry_schemas::{MigrationId, ResourceId};

use super::directory::{environment_named, principal_label};
use super::imports::find;
use super::views::{CapturedView, ExportView};
use super::{Caller, Error, Ferry, Qualified, Result};
use crate::authz;
use crate::export::{self, Request};
use crate::migration::Choice;

/// `export`: what to write.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    /// The source environment.
    pub environment: Qualified,
    /// The app (id or unique name).
    pub app: String,
    /// The package's display name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// `(resource, new|update)`: another suggested import action for a resource.
    pub actions: Vec<(String, String)>,
    /// `(resource, text)`: a comment for the importer.
    pub comments: Vec<(String, String)>,
}

impl Ferry {
    /// `export`: needs a license and can-edit or owner on the app. Returns what was recorded
    /// and the package's bytes (also stored, content-addressed).
    pub fn export(&self, caller: &Caller, request: ExportRequest) -> Result<(ExportView, Vec<u8>)> {
        let environment = request.environment.clone();
        let now = self.now();
        let migration = MigrationId::new();
        let (app, env, written) = self.world(|w| {
            let env = environment_named(&w.directory, *caller, &environment)?;
            let app = find(w, env.id, &[Kind::App], &request.app)?.clone();
            if let Some(principal) = caller.principal() {
                authz::export(&w.directory, principal, &app)?;
            }
            let resolve = |reference: &str| -> Result<ResourceId> {
                find(w, env.id, &Kind::ALL, reference).map(|r| r.id)
            };
            let mut written = Request {
                package_name: request.name.clone(),
                description: request.description.clone(),
                migration,
                created_time: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                source_tenant: environment.tenant.to_string(),
                source_environment: environment.to_string(),
                creator: principal_label(&w.directory, caller.principal()),
                ..Request::default()
            };
            for (resource, action) in &request.actions {
                let action = match (Choice::parse(action), Action::parse(action)) {
                    (Some(Choice::New(None)), _) => Action::New,
                    (_, Some(Action::Update)) => Action::Update,
                    _ => {
                        return Err(Error::invalid(
                            "bad-action",
                            format!("{resource}={action}: the suggested action is new or update"),
                        ))
                    }
                };
                written.actions.insert(resolve(resource)?, action);
            }
            for (resource, comment) in &request.comments {
                written.comments.insert(resolve(resource)?, comment.clone());
            }
            Ok((app, env.id, written))
        })??;
        let blobs = self.data_dir().blobs().clone();
        let exported = self
            .world(|w| {
                export::write(&w.contents, &app, &written, |digest| {
                    blobs.get(digest).map_err(|e| e.to_string())
                })
            })?
            .map_err(|e| match e {
                export::Error::Package(_) | export::Error::Document { .. } => Error::internal(e),
                other => Error::invalid("export-refused", other.to_string()),
            })?;
        let digest = blobs.put(&exported.bytes).map_err(Error::internal)?;
        let mut events = vec![Event::from(ExportRequested {
            migration,
            environment: env,
            app: app.id,
            package_name: written.package_name.clone(),
            description: written.description.clone(),
            suggested_actions: written.actions.clone(),
            comments: written.comments.clone(),
            requested_at: now,
        })];
        events.extend(exported.captured.iter().cloned().map(Event::from));
        let size = exported.bytes.len() as u64;
        events.push(
            PackageWritten {
                package: digest,
                size,
                resources: u32::try_from(exported.captured.len()).unwrap_or(u32::MAX),
            }
            .into(),
        );
        self.executor()?
            .record(migration, 0, caller.actor(), &events)?;
        let view = ExportView {
            migration,
            app: app.name.clone(),
            sha256: digest.to_string(),
            size,
            resources: exported
                .captured
                .iter()
                .map(|c| CapturedView {
                    key: c.manifest_key.clone(),
                    kind: c.kind,
                    name: c.display_name.clone(),
                    suggested: c.suggested_action,
                    source: c.resource,
                })
                .collect(),
        };
        Ok((view, exported.bytes))
    }

    /// An export's package, for whoever may export its app.
    pub fn export_package(&self, caller: &Caller, migration: MigrationId) -> Result<Vec<u8>> {
        let not_found = || Error::not_found("no-such-export", format!("no export {migration}"));
        let digest = self.world(|w| {
            let export = w.exports.get(&migration).ok_or_else(not_found)?;
            let app = w.contents.get(export.app).ok_or_else(not_found)?;
            if let Some(principal) = caller.principal() {
                // Not allowed to export it: not shown to exist either.
                authz::export(&w.directory, principal, app).map_err(|_| not_found())?;
            }
            export.package.ok_or_else(|| {
                Error::new(
                    super::Kind::Conflict,
                    "export-unfinished",
                    format!("export {migration} wrote no package"),
                )
            })
        })??;
        self.data_dir()
            .blobs()
            .get(&digest)
            .map_err(Error::internal)
    }
}
