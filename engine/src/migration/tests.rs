//! Unit tests of the import decisions, driven like production: request → answers → start →
//! steps, each step's event folded into both the import and the target's contents. The package
//! is a real legacy export (an app, three flows, five connectors, three connections).

use std::collections::BTreeMap;

use chrono::DateTime;
use ferry_schemas::environment::{
    Change, Definition, DraftRestored, DraftSaved, ResourceCreated, ResourceRemoved,
};
use ferry_schemas::event::{Event, ReviewItem, StepReverted};
use ferry_schemas::resource::{Action, Kind};
use ferry_schemas::{Digest, EnvironmentId, MigrationId, PrincipalId, ResourceId};

use super::*;
use crate::environment::{Contents, Resource};
use crate::package::{Contents as PackageContents, Legacy, Limits, Package};

const EVENTS: &str =
    "pnp__powerapps-samples__samples_sharepoint-events_solution_EventRegistrationApp.zip";
const TEAMS: &str = "pnp__powerautomate-samples__samples_teams-invites-via-graph-api_solution_team-guest-management-via-graph-api_20210501141125.zip";

// Manifest keys of the EventRegistrationApp package, in import order.
const SP_API: &str = "dd66a3d1-fb7e-431b-838c-39bfa529bd8f";
const OUTLOOK_CONN: &str = "1968075b-6ad8-4ebf-a2e9-fe60d1f2cd2b";
const SP_CONN_A: &str = "7b24798a-9b92-4b8d-8170-860ea1f7cf0b";
const SP_CONN_B: &str = "fe371bd7-f6a2-4a6e-8627-e7fe8a7ecc63";
const UPLOAD_FLOW: &str = "2d87e393-32bf-4a75-972f-76bc142af7a2"; // uses SP_CONN_A
const EMAIL_FLOW: &str = "8c20bd9f-e44f-41a7-a381-bb6ee714d594"; // SP_CONN_B, OUTLOOK_CONN
const REGISTER_FLOW: &str = "b5ae78b2-877d-4ae8-9d67-08adfe2f61aa"; // SP_CONN_A, OUTLOOK_CONN
const APP: &str = "e9a51ff4-ebc1-4515-bde5-43c3c22185ae"; // calls the three flows
const FLOWS: [&str; 3] = [UPLOAD_FLOW, EMAIL_FLOW, REGISTER_FLOW];

fn read(file: &str) -> Package {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/real-packages"
    );
    let path = std::path::Path::new(dir).join(file);
    crate::package::read_file(&path, &Limits::default()).unwrap()
}

fn legacy(package: &Package) -> &Legacy {
    let PackageContents::Legacy(legacy) = &package.contents else {
        panic!("not a legacy package")
    };
    legacy
}

fn review(package: &Package) -> Vec<ReviewItem> {
    crate::package::review(legacy(package)).unwrap()
}

/// A stand-in definition with one document.
fn definition(name: &str) -> Definition {
    let files = BTreeMap::from([(name.to_owned(), Digest::of(name.as_bytes()))]);
    Definition {
        files,
        references: BTreeMap::new(),
    }
}

/// The target environment: the importer's connections, someone else's, and a registered
/// SharePoint connector.
struct World {
    package: Package,
    contents: Contents,
    env: EnvironmentId,
    me: PrincipalId,
}

impl World {
    fn new() -> World {
        let (env, me) = (EnvironmentId::new(), PrincipalId::new());
        let mut w = World {
            package: read(EVENTS),
            contents: Contents::default(),
            env,
            me,
        };
        let (o365, sp) = (Some("shared_office365"), Some("shared_sharepointonline"));
        w.create(Kind::Connection, "Outlook (me)", Some(me), o365);
        w.create(Kind::Connection, "SharePoint (me)", Some(me), sp);
        w.create(Kind::Connection, "SharePoint 2 (me)", Some(me), sp);
        let bob = Some(PrincipalId::new());
        w.create(Kind::Connection, "Bob's SharePoint", bob, sp);
        w.create(Kind::Connector, "SharePoint", None, sp);
        w
    }

    fn create(
        &mut self,
        kind: Kind,
        name: &str,
        owner: Option<PrincipalId>,
        connector: Option<&str>,
    ) -> ResourceId {
        let resource = ResourceId::new();
        let definition = matches!(kind, Kind::App | Kind::Flow).then(|| definition(name));
        self.contents
            .apply(&Event::ResourceCreated(ResourceCreated {
                environment: self.env,
                resource,
                kind,
                name: name.to_owned(),
                owner,
                connector: connector.map(str::to_owned),
                has_secret: true,
                gateway: None,
                definition,
            }));
        resource
    }

    fn id(&self, name: &str) -> ResourceId {
        self.contents.find(self.env, None, name).unwrap().id
    }

    /// A draft saved in the environment itself, outside any import.
    fn save_draft(&mut self, resource: ResourceId, draft: Definition) {
        let replaced = self.contents.get(resource).unwrap().draft.clone();
        let env = self.env;
        let saved = DraftSaved {
            environment: env,
            resource,
            draft,
            replaced,
        };
        self.contents.apply(&Event::DraftSaved(saved));
    }

    fn request(&self, items: Vec<ReviewItem>, dry_run: bool) -> Import {
        let id = MigrationId::new();
        let request = Request {
            id,
            environment: self.env,
            package: Digest::of(b"package"),
            package_name: "Event Registration".into(),
            importer: Some(self.me),
            dry_run,
            requested_at: DateTime::UNIX_EPOCH,
            signer: None,
            items,
        };
        let mut import = Import::new(id);
        for event in super::request(request, &self.contents) {
            import.apply(&event);
        }
        import
    }

    fn give(&self, import: &mut Import, item: &str, choice: &str) {
        let event = answer(import, item, Choice::parse(choice).unwrap(), &self.contents).unwrap();
        import.apply(&event);
    }

    fn bind_all(&self, import: &mut Import) {
        self.give(import, OUTLOOK_CONN, "existing:Outlook (me)");
        self.give(import, SP_CONN_A, "existing:SharePoint (me)");
        self.give(import, SP_CONN_B, "existing:SharePoint 2 (me)");
    }

    /// Every step until `next_step` has nothing left, folded into the import and the contents.
    fn run(&mut self, import: &mut Import) -> Vec<Step> {
        let mut steps = Vec::new();
        while let Some(step) = next_step(import, &self.contents, &self.package, ResourceId::new()) {
            import.apply(&step.event);
            self.contents.apply(&step.event);
            steps.push(step);
            assert!(steps.len() < 100, "the import never completes");
        }
        steps
    }

    fn finished(&self, import: &Import) -> bool {
        next_step(import, &self.contents, &self.package, ResourceId::new()).is_none()
    }

    /// The environment's resources. Every change bumps a revision, an undo too: all else must
    /// be as it was.
    fn snapshot(&self) -> Vec<Resource> {
        let unrevised = |r: &Resource| Resource {
            revision: 0,
            ..r.clone()
        };
        self.contents
            .of(self.env)
            .into_iter()
            .map(unrevised)
            .collect()
    }
}

fn started(import: &mut Import, atomic: bool) {
    import.apply(&start(import, atomic, false).unwrap());
}

/// The step that applied `key`, or failed it.
fn step<'a>(steps: &'a [Step], key: &str) -> &'a Step {
    let of_key = |s: &&Step| match &s.event {
        Event::StepApplied(e) => e.manifest_key == key,
        Event::StepFailed(e) => e.manifest_key == key,
        _ => false,
    };
    steps.iter().find(of_key).unwrap()
}

fn created(steps: &[Step], key: &str) -> ResourceCreated {
    let event = &step(steps, key).event;
    match event {
        Event::StepApplied(e) => match &e.change {
            Some(Change::Created(c)) => c.clone(),
            _ => panic!("{key} created nothing: {event:?}"),
        },
        _ => panic!("{key} failed: {event:?}"),
    }
}

fn failure_code(steps: &[Step], key: &str) -> String {
    match &step(steps, key).event {
        Event::StepFailed(e) => e.code.clone(),
        other => panic!("{key} did not fail: {other:?}"),
    }
}

/// The final event's (applied, failed, rolled back).
fn completed(steps: &[Step]) -> (u32, u32, bool) {
    match &steps.last().unwrap().event {
        Event::ImportCompleted(e) => (e.applied, e.failed, e.rolled_back),
        other => panic!("expected ImportCompleted last, got {other:?}"),
    }
}

#[test]
fn items_needing_input_block_start_until_answered() {
    let w = World::new();
    let mut import = w.request(review(&w.package), false);
    let refused = start(&import, false, false).unwrap_err();
    assert_eq!(refused.category(), Category::Blocked);
    let keys = vec![OUTLOOK_CONN.into(), SP_CONN_A.into(), SP_CONN_B.into()];
    assert_eq!(refused, Rejection::NeedsInput { keys });

    w.bind_all(&mut import);
    assert!(start(&import, false, false).is_ok());

    // A custom connector to bind and a flow the package suggests updating block as well.
    let import = w.request(review(&read(TEAMS)), false);
    let Err(Rejection::NeedsInput { keys }) = start(&import, false, false) else {
        panic!("not blocked")
    };
    let blocking = [
        "a39149c1-6f61-41a9-8114-3350a09d93b5", // the custom connector
        "4358c77a-79ba-46fb-8d06-c0e54e84ccc9", // four connections
        "7ac7f551-0fa0-4b0e-b5ca-b05878ef14c5",
        "ca8bff8a-0798-4e7b-9752-e4cc858dd0cd",
        "e3094389-3309-4770-afd6-e599bbd33b80",
        "c7c9bd68-9656-4099-8d60-0c1cb9b47415", // the flow the package suggests updating
    ];
    assert_eq!(keys, blocking);
}

#[test]
fn answers_are_checked_against_the_target() {
    let w = World::new();
    let import = w.request(review(&w.package), false);
    let give = |item: &str, choice: &str| {
        answer(&import, item, Choice::parse(choice).unwrap(), &w.contents)
    };
    let refuse = |item: &str, choice: &str| give(item, choice).unwrap_err();

    let wrong = Rejection::WrongConnector {
        item: OUTLOOK_CONN.into(),
        target: "SharePoint (me)".into(),
        expected: "shared_office365".into(),
        actual: "shared_sharepointonline".into(),
    };
    assert_eq!(refuse(OUTLOOK_CONN, "existing:SharePoint (me)"), wrong);
    let missing = Rejection::NoSuchTarget {
        item: SP_CONN_A.into(),
        kind: Kind::Connection,
        target: "Nobody's".into(),
    };
    assert_eq!(refuse(SP_CONN_A, "existing:Nobody's"), missing);
    let gone = format!("existing:{}", ResourceId::new());
    let refused = refuse(SP_CONN_A, &gone);
    assert!(
        matches!(refused, Rejection::NoSuchTarget { .. }),
        "{refused:?}"
    );
    let update = Rejection::ActionNotAllowed {
        item: SP_CONN_A.into(),
        action: Action::Update,
        allowed: vec![Action::Existing],
    };
    assert_eq!(refuse(SP_CONN_A, "update:SharePoint (me)"), update);
    let bobs = format!("existing:{}", w.id("Bob's SharePoint"));
    let not_usable = Rejection::NotUsable {
        item: SP_CONN_A.into(),
        target: "Bob's SharePoint".into(),
    };
    assert_eq!(refuse(SP_CONN_A, &bobs), not_usable);

    // Items and targets may be named by a unique display name.
    let Ok(Event::AnswerGiven(given)) = give("Upload event image", "new:Uploader") else {
        panic!("not answered by display name")
    };
    assert_eq!(given.manifest_key, UPLOAD_FLOW);
    assert_eq!(given.name.as_deref(), Some("Uploader"));
    let Ok(Event::AnswerGiven(given)) = give(OUTLOOK_CONN, "existing:Outlook (me)") else {
        panic!("not bound by display name")
    };
    assert_eq!(given.target, Some(w.id("Outlook (me)")));
    let both = Rejection::AmbiguousItem {
        name: "Event Registration".into(),
        labels: vec![
            "flow/event-registration".into(),
            "app/event-registration".into(),
        ],
    };
    // A label names one item whatever the names.
    let Ok(Event::AnswerGiven(given)) = give("flow/event-registration", "new") else {
        panic!("not answered by label")
    };
    assert_eq!(given.manifest_key, REGISTER_FLOW);
    assert_eq!(refuse("Event Registration", "new"), both);
}

#[test]
fn choice_parses_the_three_answer_forms_only() {
    let named = Choice::New(Some("Other name".into()));
    assert_eq!(Choice::parse("new"), Some(Choice::New(None)));
    assert_eq!(Choice::parse("new:Other name"), Some(named));
    assert_eq!(Choice::parse("update:x"), Some(Choice::Update("x".into())));
    let existing = Choice::Existing("x".into());
    assert_eq!(Choice::parse("existing:x"), Some(existing));
    for refused in ["update", "update:", "existing", "delete:x"] {
        assert_eq!(Choice::parse(refused), None, "{refused}");
    }
}

#[test]
fn full_run_creates_apps_and_flows_from_the_package_bytes() {
    let mut w = World::new();
    let mut import = w.request(review(&w.package), false);
    w.bind_all(&mut import);
    started(&mut import, false);
    let steps = w.run(&mut import);

    let applied = |i: &Item| matches!(i.outcome, Some(Outcome::Applied { .. }));
    assert!(import.items.iter().all(applied), "{:#?}", import.items);
    let (files, legacy) = (&w.package.files, legacy(&w.package));
    let bound = BTreeMap::from([
        (OUTLOOK_CONN, w.id("Outlook (me)")),
        (SP_CONN_A, w.id("SharePoint (me)")),
        (SP_CONN_B, w.id("SharePoint 2 (me)")),
    ]);
    for flow in &legacy.flows {
        let c = created(&steps, &flow.resource);
        assert_eq!((c.kind, c.owner), (Kind::Flow, Some(w.me)));
        let def = c.definition.unwrap();
        let digest = Digest::of(&files[&flow.definition]);
        let only = BTreeMap::from([("definition.json".into(), digest)]);
        assert_eq!(def.files, only);
        for c in &flow.connections {
            let connection = bound[c.connection.as_deref().unwrap()];
            assert_eq!(def.references[&c.reference], connection, "{}", c.reference);
        }
        assert_eq!(def.references.len(), flow.connections.len());
        let r = w.contents.get(c.resource).unwrap();
        assert_eq!((&r.published, &r.draft), (&Some(def), &None));
        let blobs = &step(&steps, &flow.resource).blobs;
        assert_eq!(blobs, std::slice::from_ref(&files[&flow.definition]));
    }

    let app = &legacy.apps[0];
    let c = created(&steps, APP);
    assert_eq!((c.kind, c.name.as_str()), (Kind::App, "Event Registration"));
    let def = c.definition.unwrap();
    let (folder, _) = app.definition.rsplit_once('/').unwrap();
    for path in [&app.definition, &app.document] {
        let name = &path[folder.len() + 1..];
        let digest = Digest::of(&files[path]);
        assert_eq!(def.files.get(name), Some(&digest), "{name}");
    }
    let in_folder = files.keys().filter(|p| p.starts_with(folder)).count();
    assert_eq!(def.files.len(), in_folder);
    for flow in FLOWS {
        let imported = created(&steps, flow).resource;
        assert_eq!(def.references.get(flow), Some(&imported), "{flow}");
    }
    assert_eq!(def.references.get(SP_API), Some(&w.id("SharePoint")));
    let here = |id: &ResourceId| w.contents.get(*id).is_some_and(|r| r.environment == w.env);
    assert!(def.references.values().all(here));
    assert_eq!(w.contents.get(c.resource).unwrap().published, Some(def));

    assert_eq!(completed(&steps), (12, 0, false));
    assert_eq!(import.phase, Phase::Completed);
    assert!(w.finished(&import));
}

#[test]
fn second_import_suggests_what_the_first_created() {
    let mut w = World::new();
    let mut first = w.request(review(&w.package), false);
    let unsuggested = |i: &Item| i.review.suggested_target.is_none();
    assert!(first.items.iter().all(unsuggested));
    w.bind_all(&mut first);
    started(&mut first, false);
    let steps = w.run(&mut first);

    let second = w.request(review(&w.package), false);
    for item in &second.items {
        let key = item.review.manifest_key.as_str();
        let imported = (key == APP || FLOWS.contains(&key)).then(|| created(&steps, key).resource);
        assert_eq!(item.review.suggested_target, imported, "{key}");
    }
}

/// An import that updates an existing app, which has a draft, instead of creating one.
fn updating_app(w: &mut World) -> (Import, ResourceId) {
    let app = w.create(Kind::App, "Event Registration (prod)", Some(w.me), None);
    w.save_draft(app, definition("old draft"));
    let mut import = w.request(review(&w.package), false);
    w.bind_all(&mut import);
    w.give(&mut import, APP, &format!("update:{app}"));
    let answer = import.item(APP).unwrap().answer.clone().unwrap();
    let revision = w.contents.get(app).unwrap().revision;
    let reviewed = (Some(app), Some(revision));
    assert_eq!((answer.target, answer.target_revision), reviewed);
    (import, app)
}

#[test]
fn update_saves_a_draft_and_keeps_the_published_version() {
    let mut w = World::new();
    let (mut import, app) = updating_app(&mut w);
    let published = w.contents.get(app).unwrap().published.clone();
    started(&mut import, false);
    let steps = w.run(&mut import);

    let Event::StepApplied(e) = &step(&steps, APP).event else {
        panic!("the update failed: {steps:#?}")
    };
    assert_eq!((e.action, e.target), (Action::Update, Some(app)));
    let Some(Change::DraftSaved(saved)) = &e.change else {
        panic!("no draft saved: {e:?}")
    };
    assert_eq!(saved.replaced, Some(definition("old draft")));
    let msapp = Digest::of(&w.package.files[&legacy(&w.package).apps[0].document]);
    assert!(saved.draft.files.values().any(|d| *d == msapp));
    let r = w.contents.get(app).unwrap();
    assert_eq!(r.published, published);
    assert_eq!(r.draft.as_ref(), Some(&saved.draft));
    assert_eq!(completed(&steps), (12, 0, false));
}

#[test]
fn update_of_a_target_changed_since_review_fails() {
    let mut w = World::new();
    let (mut import, app) = updating_app(&mut w);
    started(&mut import, false);
    w.save_draft(app, definition("someone else's draft"));
    let steps = w.run(&mut import);

    assert_eq!(failure_code(&steps, APP), "changed-since-review");
    let r = w.contents.get(app).unwrap();
    assert_eq!(r.draft, Some(definition("someone else's draft")));
    assert_eq!(completed(&steps), (11, 1, false));
}

#[test]
fn atomic_import_undoes_applied_steps_newest_first() {
    let mut w = World::new();
    let (mut import, app) = updating_app(&mut w);
    let flow = w.create(Kind::Flow, "Uploader (prod)", Some(w.me), None);
    w.save_draft(flow, definition("flow draft"));
    w.give(&mut import, UPLOAD_FLOW, &format!("update:{flow}"));
    w.save_draft(app, definition("drift")); // the app's step, the last, will fail
    let before = w.snapshot();
    started(&mut import, true);
    let steps = w.run(&mut import);

    assert_eq!(failure_code(&steps, APP), "changed-since-review");
    let reverted: Vec<&StepReverted> = steps
        .iter()
        .filter_map(|s| match &s.event {
            Event::StepReverted(e) => Some(e),
            _ => None,
        })
        .collect();
    let keys: Vec<&str> = reverted.iter().map(|e| e.manifest_key.as_str()).collect();
    assert_eq!(keys[..3], [REGISTER_FLOW, EMAIL_FLOW, UPLOAD_FLOW]);
    let at = |key: &str| {
        import
            .items
            .iter()
            .position(|i| i.review.manifest_key == key)
    };
    let newest_first = keys.windows(2).all(|k| at(k[0]) > at(k[1]));
    assert!(newest_first, "{keys:?}");
    let resource = created(&steps, REGISTER_FLOW).resource;
    let removed = Change::Removed(ResourceRemoved {
        environment: w.env,
        resource,
    });
    assert_eq!(reverted[0].change, Some(removed));
    let draft = Some(definition("flow draft"));
    let restored = DraftRestored {
        environment: w.env,
        resource: flow,
        draft,
    };
    assert_eq!(reverted[2].change, Some(Change::DraftRestored(restored)));
    for item in &import.items {
        let left =
            matches!(&item.outcome, Some(Outcome::Applied { change, .. }) if change.is_some());
        assert!(!left, "{} was left applied", item.review.manifest_key);
    }

    let (_, failed, rolled_back) = completed(&steps);
    assert_eq!((failed, rolled_back), (1, true));
    assert_eq!(w.snapshot(), before);
    assert!(w.finished(&import));
}

#[test]
fn gateway_items_need_the_default_environment() {
    let w = World::new();
    let mut items = review(&w.package);
    for item in &mut items {
        item.gateway = item.manifest_key == SP_CONN_A;
    }
    let mut import = w.request(items, false);
    w.bind_all(&mut import);

    let refused = start(&import, false, false).unwrap_err();
    assert_eq!(refused.category(), Category::Blocked);
    let keys = vec![SP_CONN_A.into()];
    assert_eq!(refused, Rejection::GatewayNeedsDefault { keys });
    assert!(start(&import, false, true).is_ok());
}

#[test]
fn dry_run_never_starts() {
    let w = World::new();
    let mut import = w.request(review(&w.package), true);
    w.bind_all(&mut import);
    let refused = start(&import, false, true).unwrap_err();
    assert_eq!(refused, Rejection::DryRun);
    assert_eq!(refused.category(), Category::Conflict);
    assert!(w.finished(&import));
}

#[test]
fn flows_fail_when_their_connection_binding_disappeared() {
    let mut w = World::new();
    let mut import = w.request(review(&w.package), false);
    w.bind_all(&mut import);
    started(&mut import, false);
    let resource = w.id("SharePoint (me)");
    let gone = Change::Removed(ResourceRemoved {
        environment: w.env,
        resource,
    });
    let manifest_key = "another import".into();
    w.contents.apply(&Event::StepReverted(StepReverted {
        manifest_key,
        change: Some(gone),
    }));
    let steps = w.run(&mut import);

    assert_eq!(failure_code(&steps, SP_CONN_A), "target-missing");
    assert_eq!(failure_code(&steps, UPLOAD_FLOW), "dependency-failed");
    assert_eq!(failure_code(&steps, REGISTER_FLOW), "dependency-failed");
    assert_eq!(failure_code(&steps, APP), "dependency-failed"); // it calls those flows
    let email = created(&steps, EMAIL_FLOW).definition.unwrap(); // its bindings are there
    let sharepoint2 = w.id("SharePoint 2 (me)");
    assert_eq!(email.references["shared_sharepointonline_1"], sharepoint2);
    assert_eq!(completed(&steps), (8, 4, false));
}

#[test]
fn rolled_back_reimport_keeps_the_identity_of_the_earlier_import() {
    let mut w = World::new();
    let mut first = w.request(review(&w.package), false);
    w.bind_all(&mut first);
    started(&mut first, false);
    let steps = w.run(&mut first);
    // The re-import creates the flows anew (the default), then the app's update fails.
    let (mut second, app) = updating_app(&mut w);
    w.save_draft(app, definition("drift"));
    started(&mut second, true);
    assert!(completed(&w.run(&mut second)).2);

    let third = w.request(review(&w.package), false);
    for flow in FLOWS {
        let suggested = third.item(flow).unwrap().review.suggested_target;
        assert_eq!(suggested, Some(created(&steps, flow).resource), "{flow}");
    }
}

#[test]
fn custom_connector_and_its_connection_must_agree_in_any_answer_order() {
    const GRAPH_API: &str = "a39149c1-6f61-41a9-8114-3350a09d93b5";
    const GRAPH_CONN: &str = "7ac7f551-0fa0-4b0e-b5ca-b05878ef14c5";
    let mut w = World::new();
    let me = Some(w.me);
    w.create(Kind::CustomConnector, "Graph", None, Some("graph_one"));
    w.create(Kind::CustomConnector, "Graph v2", None, Some("graph_two"));
    w.create(Kind::Connection, "Graph (me)", me, Some("graph_one"));
    let mut import = w.request(review(&read(TEAMS)), false);
    let others = [
        ("4358c77a-79ba-46fb-8d06-c0e54e84ccc9", "shared_teams"),
        ("ca8bff8a-0798-4e7b-9752-e4cc858dd0cd", "shared_approvals"),
        (
            "e3094389-3309-4770-afd6-e599bbd33b80",
            "shared_microsoftforms",
        ),
    ];
    for (key, connector) in others {
        w.create(Kind::Connection, connector, me, Some(connector));
        w.give(&mut import, key, &format!("existing:{connector}"));
    }
    w.give(&mut import, "c7c9bd68-9656-4099-8d60-0c1cb9b47415", "new");
    let bind = |import: &Import, item: &str, target: &str| {
        answer(import, item, Choice::Existing(target.into()), &w.contents)
    };

    // Custom connector first: a connection of another custom connector is refused...
    let mut api_first = import.clone();
    api_first.apply(&bind(&api_first, GRAPH_API, "Graph v2").unwrap());
    let refused = bind(&api_first, GRAPH_CONN, "Graph (me)");
    assert!(matches!(refused, Err(Rejection::WrongConnector { .. })));
    // ...so with the connection answered first, the same pair must not start either.
    import.apply(&bind(&import, GRAPH_CONN, "Graph (me)").unwrap());
    let late = bind(&import, GRAPH_API, "Graph v2");
    let accepted = late.map(|e| import.apply(&e)).is_ok() && start(&import, false, false).is_ok();
    assert!(
        !accepted,
        "a connection of Graph would run bound to Graph v2"
    );
}

/// Runs `count` steps of a started import (they are applied to the contents too).
fn run_some(w: &mut World, import: &mut Import, count: usize) {
    for _ in 0..count {
        let step = next_step(import, &w.contents, &w.package, ResourceId::new()).unwrap();
        import.apply(&step.event);
        w.contents.apply(&step.event);
    }
}

#[test]
fn a_cancelled_import_stops_at_its_next_step_and_an_atomic_one_undoes_what_it_applied() {
    for atomic in [false, true] {
        let mut w = World::new();
        let mut import = w.request(review(&w.package), false);
        w.bind_all(&mut import);
        let before = w.snapshot();
        started(&mut import, atomic);
        run_some(&mut w, &mut import, 9);
        let applied = |i: &Import| {
            i.items
                .iter()
                .filter(|i| matches!(i.outcome, Some(Outcome::Applied { .. })))
                .count()
        };
        assert_eq!(applied(&import), 9);
        import.apply(&cancel(&import, "wrong customer", None).unwrap());
        let steps = w.run(&mut import);
        assert_eq!(state_name(&import), "cancelled");
        assert_eq!(import.cancelled.as_deref(), Some("wrong customer"));
        assert!(
            !steps
                .iter()
                .any(|s| matches!(s.event, Event::StepApplied(_))),
            "nothing runs after the cancel: {steps:#?}"
        );
        if atomic {
            assert!(import.rolled_back);
            assert_eq!(
                w.snapshot(),
                before,
                "an atomic import leaves the target as it was"
            );
            assert!(completed(&steps).2);
        } else {
            assert!(steps.is_empty(), "{steps:#?}");
            assert_eq!(applied(&import), 9, "what ran stays");
        }
        assert!(
            cancel(&import, "again", None).is_err(),
            "a cancelled import is final"
        );
    }
    // In review, a dry run too: it ends at once and never starts.
    let w = World::new();
    let mut dry = w.request(review(&w.package), true);
    dry.apply(&cancel(&dry, "", None).unwrap());
    assert_eq!(state_name(&dry), "cancelled");
    assert!(start(&dry, false, true).is_err());
}
