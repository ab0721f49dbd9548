//! The benchmark's setup (not measured): the vendor's 10-resource package, authored and
//! exported through the engine, and N target tenants with the connections it needs, appended in
//! large batches.

use std::sync::atomic::{AtomicU32, Ordering};

use ferry_engine::directory;
use ferry_engine::environment::{author, documents, Contents};
use ferry_engine::executor::Executor;
use ferry_engine::export;
use ferry_engine::log::{Expected, Store};
use ferry_schemas::directory::{EnvironmentCreated, Name, TenantCreated};
use ferry_schemas::environment::ResourceCreated;
use ferry_schemas::event::{Context, Event};
use ferry_schemas::resource::Kind;
use ferry_schemas::{
    Actor, CorrelationId, EnvironmentId, MigrationId, NewEvent, ResourceId, StreamId, TenantId,
};

use super::err;

pub(super) const CONNECTORS: [&str; 3] = [
    "shared_office365",
    "shared_sharepointonline",
    "shared_teams",
];

fn context(tenant: Option<TenantId>) -> Context {
    Context {
        tenant,
        actor: Actor::Operator,
        correlation_id: CorrelationId::new(),
        causation_id: None,
    }
}

/// The vendor's 10-resource package: an app calling two flows; 4 connectors (three used by
/// connections, and the flows' own), 3 connections.
pub(super) fn vendor_package(executor: &Executor) -> Result<Vec<u8>, u8> {
    let env = EnvironmentId::new();
    let name = |n: &str| Name::new(n).map_err(err);
    executor
        .directory(directory::Command::CreateTenant {
            id: TenantId::new(),
            name: name("vendor")?,
        })
        .map_err(err)?
        .map_err(err)?;
    executor
        .directory(directory::Command::CreateEnvironment {
            id: env,
            tenant: name("vendor")?,
            name: name("dev")?,
            default: true,
        })
        .map_err(err)?
        .map_err(err)?;
    let create = |created: ResourceCreated| -> Result<(), u8> {
        executor
            .author(env, Actor::Operator, |w| {
                author::create(&w.directory, &w.contents, created.clone())
            })
            .map_err(err)?
            .map_err(err)
            .map(|_| ())
    };
    let resource = |kind, name: &str, connector: Option<&str>| ResourceCreated {
        environment: env,
        resource: ResourceId::new(),
        kind,
        name: name.to_owned(),
        owner: None,
        connector: connector.map(str::to_owned),
        has_secret: false,
        gateway: None,
        definition: None,
    };
    let mut connections = Vec::new();
    for connector in CONNECTORS.iter().chain([&documents::LOGIC_FLOWS]) {
        create(resource(Kind::Connector, connector, Some(connector)))?;
    }
    for connector in CONNECTORS {
        let connection = resource(Kind::Connection, "ops@vendor.example", Some(connector));
        connections.push(connection.resource);
        create(connection)?;
    }
    let contents = executor.read(|w| w.contents.clone()).map_err(err)?;
    let get = |id| {
        contents
            .get(id)
            .cloned()
            .ok_or_else(|| err("a resource vanished"))
    };
    let mut flows = Vec::new();
    for (n, pair) in [[0, 1], [1, 2]].iter().enumerate() {
        let id = ResourceId::new();
        let refs: Vec<(String, ferry_engine::environment::Resource)> = pair
            .iter()
            .map(|i| Ok((CONNECTORS[*i].to_owned(), get(connections[*i])?)))
            .collect::<Result<_, u8>>()?;
        let refs: Vec<(String, &ferry_engine::environment::Resource)> =
            refs.iter().map(|(r, c)| (r.clone(), c)).collect();
        let docs = documents::flow(
            id,
            &format!("flow {n}"),
            br#"{"triggers":{},"actions":{}}"#,
            &refs,
        )
        .map_err(err)?;
        for (_, bytes) in &docs.files {
            executor.blobs().put(bytes).map_err(err)?;
        }
        create(ResourceCreated {
            resource: id,
            definition: Some(docs.definition),
            ..resource(Kind::Flow, &format!("flow {n}"), None)
        })?;
        flows.push(id);
    }
    let contents = executor.read(|w| w.contents.clone()).map_err(err)?;
    let get = |id| {
        contents
            .get(id)
            .cloned()
            .ok_or_else(|| err("a resource vanished"))
    };
    let logic = contents
        .of(env)
        .into_iter()
        .find(|r| r.connector.as_deref() == Some(documents::LOGIC_FLOWS))
        .cloned();
    let uses: Vec<_> = flows.iter().map(|f| get(*f)).collect::<Result<_, _>>()?;
    let uses: Vec<&ferry_engine::environment::Resource> = uses.iter().collect();
    let app = ResourceId::new();
    let msapp = documents::blank_msapp("Portal").map_err(err)?;
    let docs = documents::app(app, "Portal", msapp, &uses, logic.as_ref());
    for (_, bytes) in &docs.files {
        executor.blobs().put(bytes).map_err(err)?;
    }
    create(ResourceCreated {
        resource: app,
        definition: Some(docs.definition),
        ..resource(Kind::App, "Portal", None)
    })?;
    let contents = executor.read(|w| w.contents.clone()).map_err(err)?;
    let request = export::Request {
        package_name: "Portal".into(),
        migration: MigrationId::new(),
        ..export::Request::default()
    };
    let app = get_app(&contents, app)?;
    export::write(&contents, &app, &request, |d| {
        executor.blobs().get(d).map_err(|e| e.to_string())
    })
    .map_err(err)
    .map(|e| e.bytes)
}

fn get_app(contents: &Contents, id: ResourceId) -> Result<ferry_engine::environment::Resource, u8> {
    contents
        .get(id)
        .cloned()
        .ok_or_else(|| err("the app vanished"))
}

/// N tenants with an environment and the three connections the package needs, appended in
/// large batches (setup, not measured).
pub(super) fn targets(store: &dyn Store, first: u32, count: u32) -> Result<String, u8> {
    let mut csv = String::from("tenant,environment\n");
    let directory = StreamId::new(directory::STREAM).map_err(err)?;
    let mut version = store.stream_version(&directory).map_err(err)?;
    let mut batch: Vec<NewEvent> = Vec::new();
    let mut envs = Vec::new();
    for i in first..first + count {
        let tenant = TenantId::new();
        let env = EnvironmentId::new();
        let t = Name::new(format!("t{i}")).map_err(err)?;
        let e = Name::new("prod").map_err(err)?;
        batch.push(
            Event::from(TenantCreated {
                tenant,
                name: t.clone(),
            })
            .to_new(&context(Some(tenant))),
        );
        batch.push(
            Event::from(EnvironmentCreated {
                environment: env,
                tenant,
                name: e,
                default: true,
            })
            .to_new(&context(Some(tenant))),
        );
        csv.push_str(&format!("t{i},prod\n"));
        envs.push((tenant, env, i));
        if batch.len() >= 2000 || i + 1 == first + count {
            let n = batch.len() as u64;
            store
                .append(
                    &directory,
                    Expected::Exact(version),
                    std::mem::take(&mut batch),
                )
                .map_err(err)?;
            version += n;
        }
    }
    // Connections: one append per environment stream, from several threads (group commit).
    let next = AtomicU32::new(0);
    let failed = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((tenant, env, n)) = envs.get(i) else {
                    return;
                };
                let events: Vec<NewEvent> = CONNECTORS
                    .iter()
                    .map(|c| {
                        Event::from(ResourceCreated {
                            environment: *env,
                            resource: ResourceId::new(),
                            kind: Kind::Connection,
                            name: format!("ops@t{n}.example"),
                            owner: None,
                            connector: Some((*c).to_owned()),
                            has_secret: false,
                            gateway: None,
                            definition: None,
                        })
                        .to_new(&context(Some(*tenant)))
                    })
                    .collect();
                if let Err(e) =
                    store.append(&StreamId::environment(*env), Expected::Exact(0), events)
                {
                    *failed
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
                    return;
                }
            });
        }
    });
    if let Some(e) = failed
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(err(e));
    }
    Ok(csv)
}
