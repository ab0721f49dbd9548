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
    /// A client's key for this request: a retry with the same key returns the export the
    /// first one recorded (same migration, same package) instead of writing another.
    pub idempotency_key: Option<String>,
    /// Export each app's and flow's unpublished draft where it has one (`--draft`).
    pub drafts: bool,
}

impl Ferry {
    /// `export`: needs a license and can-edit or owner on the app. Returns what was recorded
    /// and the package's bytes (also stored, content-addressed).
    pub fn export(&self, caller: &Caller, request: ExportRequest) -> Result<(ExportView, Vec<u8>)> {
        let environment = request.environment.clone();
        let now = self.now();
        let migration = match &request.idempotency_key {
            Some(key) => {
                MigrationId::derived(format!("export:{:?}:{key}", caller.principal()).as_bytes())
            }
            None => MigrationId::new(),
        };
        let decided = self.world(|w| {
            let env = environment_named(&w.directory, *caller, &environment)?;
            let app = find(w, env.id, &[Kind::App], &request.app)?.clone();
            if let Some(principal) = caller.principal() {
                authz::export(&w.directory, principal, &app)?;
            }
            if let Some(earlier) = w.exports.get(&migration) {
                if earlier.environment != env.id || earlier.app != app.id {
                    return Err(Error::new(
                        super::Kind::Conflict,
                        "idempotency-key-reused",
                        "this Idempotency-Key was used for another app or environment; use a new key",
                    ));
                }
                return Ok(None);
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
                drafts: request.drafts,
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
            Ok(Some((app, env.id, written)))
        })??;
        let Some((app, env, written)) = decided else {
            return self.recorded_export(caller, migration);
        };
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
            drafts: written.drafts,
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
        match self
            .executor()?
            .record(migration, 0, caller.actor(), &events)
        {
            Ok(()) => {}
            // The same idempotency key, raced: the other request recorded it.
            Err(crate::executor::Error::Log(crate::log::Error::Conflict { .. }))
                if request.idempotency_key.is_some() =>
            {
                return self.recorded_export(caller, migration);
            }
            Err(other) => return Err(other.into()),
        }
        let left = self.world(|w| drafts_left(&w.contents, &exported.captured, written.drafts))?;
        let mut view = export_view(migration, &app.name, digest, size, &exported.captured);
        view.drafts = written.drafts;
        view.unpublished_drafts = left;
        Ok((view, exported.bytes))
    }

    /// The export `migration` recorded, as its first request answered it.
    fn recorded_export(
        &self,
        caller: &Caller,
        migration: MigrationId,
    ) -> Result<(ExportView, Vec<u8>)> {
        let bytes = self.export_package(caller, migration)?;
        let records = self
            .data_dir()
            .log()
            .read_stream(
                &ferry_schemas::StreamId::migration(migration),
                1,
                usize::MAX,
            )
            .map_err(Error::from)?;
        let (mut app, mut drafts) = (None, false);
        let mut captured = Vec::new();
        let mut written = None;
        for record in &records {
            match Event::from_record(record).map_err(Error::internal)? {
                Event::ExportRequested(e) => (app, drafts) = (Some(e.app), e.drafts),
                Event::ResourceCaptured(c) => captured.push(c),
                Event::PackageWritten(p) => written = Some((p.package, p.size)),
                _ => {}
            }
        }
        let (name, left) = self.world(|w| {
            let name = app
                .and_then(|id| w.contents.get(id))
                .map(|a| a.name.clone())
                .unwrap_or_default();
            (name, drafts_left(&w.contents, &captured, drafts))
        })?;
        let (digest, size) =
            written.ok_or_else(|| Error::internal("a recorded export without its package"))?;
        let mut view = export_view(migration, &name, digest, size, &captured);
        view.drafts = drafts;
        view.unpublished_drafts = left;
        Ok((view, bytes))
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

/// The apps and flows of `captured` with an unpublished draft the package does not hold
/// (it took their published versions).
fn drafts_left(
    contents: &crate::environment::Contents,
    captured: &[ferry_schemas::event::ResourceCaptured],
    drafts: bool,
) -> Vec<String> {
    if drafts {
        return Vec::new();
    }
    captured
        .iter()
        .filter_map(|c| contents.get(c.resource))
        .filter(|r| r.draft.is_some())
        .map(|r| r.name.clone())
        .collect()
}

fn export_view(
    migration: MigrationId,
    app: &str,
    digest: ferry_schemas::Digest,
    size: u64,
    captured: &[ferry_schemas::event::ResourceCaptured],
) -> ExportView {
    ExportView {
        migration,
        app: app.to_owned(),
        sha256: digest.to_string(),
        size,
        resources: captured
            .iter()
            .map(|c| CapturedView {
                key: c.manifest_key.clone(),
                kind: c.kind,
                name: c.display_name.clone(),
                suggested: c.suggested_action,
                source: c.resource,
            })
            .collect(),
        drafts: false,
        unpublished_drafts: Vec::new(),
    }
}
