//! Where a command's use case runs: in this process on the data directory, or through a
//! `ferry serve` — the one that holds the data directory (found by its address file), or a
//! remote one named by `--server` / `FERRY_SERVER`. Both return the same views and errors, so
//! every command prints the same either way.

use std::path::Path;

use ferry_engine::app::{
    self, AppSpec, AsOf, AuditFilter, Authored, Caller, ConnectionSpec, ContentsView,
    EnvironmentView, ExportRequest, ExportView, Ferry, GrantRequest, GrantView, ImportFilter,
    ImportRequest, ImportSummary, IssuedToken, ProvisionListed, ProvisionPublished,
    ProvisionStatus, Published, Qualified, ReplayView, ResourceDetail, ResourceView, ReviewView,
    StatusView, TenantView, TokenView, UserView, VerifyView,
};
use ferry_engine::audit::facts::Fact;
use ferry_engine::audit::Checkpoint;
use ferry_schemas::directory::{License, Name};
use ferry_schemas::resource::Kind;
use ferry_schemas::{MigrationId, ProvisionId, TokenId};

use super::directory::fail;
use super::exit;
use super::session::{caller, open_app, refused, ActAs};
use crate::client::Client;
use crate::server;

/// `--server` / `--token` (or `FERRY_SERVER` / `FERRY_TOKEN`): a remote server and the token
/// that proves who this client is there.
#[derive(Clone, Debug, Default)]
pub struct Remote {
    /// `http://host:port`.
    pub server: Option<String>,
    /// A bearer token.
    pub token: Option<String>,
}

static REMOTE: std::sync::RwLock<Option<Remote>> = std::sync::RwLock::new(None);

/// Sets the command line's remote settings.
pub fn use_remote(remote: Remote) {
    *REMOTE.write().unwrap_or_else(|e| e.into_inner()) = Some(remote);
}

fn remote() -> Remote {
    REMOTE
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// The server holding `data_dir`, if one runs: its address file names a live process.
pub fn local_server(data_dir: &Path) -> Option<server::Address> {
    let address = server::address(data_dir)?;
    // A file left by a killed server may name a pid another program has now: only a live
    // `ferry` process counts (`serve`, or a bench serving in-process).
    let command = std::fs::read(format!("/proc/{}/cmdline", address.pid)).ok()?;
    let exe = command.split(|b| *b == 0).next().unwrap_or_default();
    exe.ends_with(b"ferry").then_some(address)
}

/// Where the use cases run.
pub enum Backend {
    /// In this process.
    Local {
        /// Ferry on the data directory.
        ferry: Ferry,
        /// Who acts.
        caller: Caller,
    },
    /// Through a server.
    Remote(Client),
}

/// The backend for a command acting as `act_as`.
pub fn open(data_dir: &Path, act_as: &ActAs) -> Result<Backend, u8> {
    if let Some(server) = through_server(data_dir, act_as)? {
        return Ok(server);
    }
    let ferry = open_app(data_dir)?;
    let caller = caller(&ferry, act_as)?;
    Ok(Backend::Local { ferry, caller })
}

/// The server this command goes through, if any: `--server`, or the one holding `data_dir`.
pub fn through_server(data_dir: &Path, act_as: &ActAs) -> Result<Option<Backend>, u8> {
    let remote = remote();
    if let Some(server) = remote.server.filter(|s| !s.trim().is_empty()) {
        let token = remote.token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
            fail(
                &format!("talking to {server} needs a token: pass --token or set FERRY_TOKEN (`ferry token create` makes one)"),
                exit::INVALID_INPUT,
            )
        })?;
        return Ok(Some(Backend::Remote(Client::new(
            &server,
            &token,
            act_as.user.as_ref(),
        ))));
    }
    // The data directory's owner is the operator: the server left its credential there.
    Ok(local_server(data_dir).map(|address| {
        Backend::Remote(Client::new(
            &address.url,
            &address.token,
            act_as.user.as_ref(),
        ))
    }))
}

macro_rules! dispatch {
    ($self:ident, $local:ident($($arg:expr),*), $remote:ident($($rarg:expr),*)) => {
        match $self {
            Backend::Local { ferry, caller } => ferry.$local(caller, $($arg),*),
            Backend::Remote(client) => client.$remote($($rarg),*),
        }
        .map_err(refused)
    };
}

impl Backend {
    /// Whether the use cases run through a server.
    pub fn is_remote(&self) -> bool {
        matches!(self, Backend::Remote(_))
    }

    /// Ferry itself, for what only runs in this process (workers, `start --wait`).
    pub fn local(&self) -> Option<&Ferry> {
        match self {
            Backend::Local { ferry, .. } => Some(ferry),
            Backend::Remote(_) => None,
        }
    }

    /// `review <migration> --answers-template`.
    pub fn answers_template(
        &self,
        id: ferry_schemas::MigrationId,
    ) -> Result<ferry_engine::app::AnswersTemplate, u8> {
        dispatch!(self, answers_template(id), answers_template(id))
    }

    /// `trust list <t>/<e>`.
    pub fn policy(&self, env: &Qualified) -> Result<ferry_engine::app::PolicyView, u8> {
        dispatch!(self, policy(env), policy(env))
    }

    /// `env policy <t>/<e>`.
    pub fn set_policy(
        &self,
        env: &Qualified,
        require_signed: bool,
    ) -> Result<ferry_engine::app::PolicyView, u8> {
        dispatch!(
            self,
            set_policy(env, require_signed),
            set_policy(env, require_signed)
        )
    }

    /// `trust add <t>/<e> <key>`.
    pub fn trust(
        &self,
        env: &Qualified,
        key: &str,
        name: &str,
    ) -> Result<ferry_engine::app::PolicyView, u8> {
        dispatch!(self, trust(env, key, name), trust(env, key, name))
    }

    /// `trust remove <t>/<e> <key>`.
    pub fn distrust(
        &self,
        env: &Qualified,
        key: &str,
    ) -> Result<ferry_engine::app::PolicyView, u8> {
        dispatch!(self, distrust(env, key), distrust(env, key))
    }

    /// `tenant create`.
    pub fn create_tenant(&self, name: Name) -> Result<TenantView, u8> {
        dispatch!(
            self,
            create_tenant(name.clone()),
            create_tenant(name.clone())
        )
    }

    /// `tenant list`.
    pub fn tenants(
        &self,
        after: Option<&Name>,
        limit: Option<usize>,
    ) -> Result<Vec<TenantView>, u8> {
        dispatch!(self, tenants(after, limit), tenants(after, limit))
    }

    /// `env create`.
    pub fn create_environment(
        &self,
        env: &Qualified,
        default: bool,
    ) -> Result<EnvironmentView, u8> {
        dispatch!(
            self,
            create_environment(env, default),
            create_environment(env, default)
        )
    }

    /// `env list`.
    pub fn environments(&self, tenant: &Name) -> Result<Vec<EnvironmentView>, u8> {
        dispatch!(self, environments(tenant), environments(tenant))
    }

    /// `user create`.
    pub fn create_user(&self, user: &Qualified, license: License) -> Result<UserView, u8> {
        dispatch!(self, create_user(user, license), create_user(user, license))
    }

    /// `user set-license`.
    pub fn set_license(&self, user: &Qualified, license: License) -> Result<UserView, u8> {
        dispatch!(self, set_license(user, license), set_license(user, license))
    }

    /// `user list`.
    pub fn users(&self, tenant: &Name) -> Result<Vec<UserView>, u8> {
        dispatch!(self, users(tenant), users(tenant))
    }

    /// `grant` / `revoke`.
    pub fn grant(&self, request: GrantRequest, revoke: bool) -> Result<GrantView, u8> {
        dispatch!(
            self,
            grant(request.clone(), revoke),
            grant(request.clone(), revoke)
        )
    }

    /// `token create`.
    pub fn create_token(
        &self,
        user: Option<&Qualified>,
        lifetime: Option<chrono::Duration>,
    ) -> Result<IssuedToken, u8> {
        dispatch!(
            self,
            create_token(user, lifetime),
            create_token(user, lifetime)
        )
    }

    /// `token list`.
    pub fn tokens(&self, tenant: Option<&Name>) -> Result<Vec<TokenView>, u8> {
        dispatch!(self, tokens(tenant), tokens(tenant))
    }

    /// `token revoke`.
    pub fn revoke_token(&self, id: TokenId) -> Result<TokenView, u8> {
        dispatch!(self, revoke_token(id), revoke_token(id))
    }

    /// `resource list`.
    pub fn resources(&self, env: &Qualified, kind: Option<Kind>) -> Result<Vec<ResourceView>, u8> {
        dispatch!(self, resources(env, kind), resources(env, kind))
    }

    /// `resource show`.
    pub fn resource(&self, env: &Qualified, reference: &str) -> Result<ResourceDetail, u8> {
        dispatch!(self, resource(env, reference), resource(env, reference))
    }

    /// `resource delete`.
    pub fn delete_resource(&self, env: &Qualified, reference: &str) -> Result<Authored, u8> {
        dispatch!(
            self,
            delete_resource(env, reference),
            delete_resource(env, reference)
        )
    }

    /// `import`, with the errors left to the caller to word.
    pub fn import(&self, request: ImportRequest) -> app::Result<ReviewView> {
        match self {
            Backend::Local { ferry, caller } => ferry.import(caller, request),
            Backend::Remote(client) => client.import(request),
        }
    }

    /// `review`.
    pub fn review(&self, id: MigrationId) -> Result<ReviewView, u8> {
        dispatch!(self, review(id), review(id))
    }

    /// `answer`.
    pub fn answer(&self, id: MigrationId, answers: &[(String, String)]) -> Result<ReviewView, u8> {
        dispatch!(self, answer(id, answers), answer_import(id, answers))
    }

    /// `start`.
    pub fn start(&self, id: MigrationId, atomic: bool) -> Result<StatusView, u8> {
        dispatch!(self, start(id, atomic), start(id, atomic))
    }

    /// `cancel`.
    pub fn cancel(&self, id: MigrationId, reason: &str) -> Result<StatusView, u8> {
        dispatch!(self, cancel(id, reason), cancel(id, reason))
    }

    /// `promote`.
    pub fn promote(&self, id: MigrationId) -> Result<ReviewView, u8> {
        dispatch!(self, promote(id), promote(id))
    }

    /// `status <id>`.
    pub fn status(&self, id: MigrationId) -> Result<StatusView, u8> {
        dispatch!(self, status(id), status(id))
    }

    /// `status`.
    pub fn imports(&self, filter: &ImportFilter) -> Result<Vec<ImportSummary>, u8> {
        dispatch!(self, imports(filter), imports(filter))
    }

    /// Through a server: waits until its workers finished the import.
    pub fn wait(&self, id: MigrationId) -> Result<StatusView, u8> {
        match self {
            Backend::Local { ferry, caller } => ferry.status(caller, id),
            Backend::Remote(client) => client.wait(id),
        }
        .map_err(refused)
    }

    /// `publish <migration>`.
    pub fn publish_import(&self, id: MigrationId) -> Result<Vec<Published>, u8> {
        dispatch!(self, publish_import(id), publish_import(id))
    }

    /// `publish <t>/<e> --app`.
    pub fn publish(&self, env: &Qualified, reference: &str) -> Result<Published, u8> {
        dispatch!(self, publish(env, reference), publish(env, reference))
    }

    /// `app create`.
    pub fn create_app(&self, env: &Qualified, name: String, spec: AppSpec) -> Result<Authored, u8> {
        dispatch!(
            self,
            create_app(env, name.clone(), spec.clone()),
            create_app(env, name.clone(), spec.clone())
        )
    }

    /// `app edit`.
    pub fn edit_app(&self, env: &Qualified, app: &str, spec: AppSpec) -> Result<Authored, u8> {
        dispatch!(
            self,
            edit_app(env, app, spec.clone()),
            edit_app(env, app, spec.clone())
        )
    }

    /// `flow create`.
    pub fn create_flow(
        &self,
        env: &Qualified,
        name: String,
        definition: &[u8],
        connections: &[(String, String)],
    ) -> Result<Authored, u8> {
        dispatch!(
            self,
            create_flow(env, name.clone(), definition, connections),
            create_flow(env, name.clone(), definition, connections)
        )
    }

    /// `connector create`.
    pub fn create_connector(
        &self,
        env: &Qualified,
        technical: String,
        display_name: Option<String>,
        custom: bool,
    ) -> Result<Authored, u8> {
        dispatch!(
            self,
            create_connector(env, technical.clone(), display_name.clone(), custom),
            create_connector(env, technical.clone(), display_name.clone(), custom)
        )
    }

    /// `connection create`.
    pub fn create_connection(&self, env: &Qualified, spec: ConnectionSpec) -> Result<Authored, u8> {
        dispatch!(
            self,
            create_connection(env, spec.clone()),
            create_connection(env, spec.clone())
        )
    }

    /// `gateway create`.
    pub fn create_gateway(&self, env: &Qualified, name: String) -> Result<Authored, u8> {
        dispatch!(
            self,
            create_gateway(env, name.clone()),
            create_gateway(env, name.clone())
        )
    }

    /// `export`.
    pub fn export(&self, request: ExportRequest) -> Result<(ExportView, Vec<u8>), u8> {
        dispatch!(self, export(request.clone()), export(request.clone()))
    }

    /// `audit log`.
    pub fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<Fact>, u8> {
        dispatch!(self, audit_log(filter), audit_log(filter))
    }

    /// `audit verify` on an open data directory, or through a server.
    pub fn audit_verify(&self) -> Result<VerifyView, u8> {
        dispatch!(self, audit_verify(), audit_verify())
    }

    /// `audit checkpoint`.
    pub fn audit_checkpoint(&self) -> Result<Checkpoint, u8> {
        dispatch!(self, audit_checkpoint(), audit_checkpoint())
    }

    /// `audit key`.
    pub fn audit_key(&self) -> Result<String, u8> {
        dispatch!(self, audit_key(), audit_key())
    }

    /// `audit replay`.
    pub fn audit_replay(&self, only: Option<MigrationId>) -> Result<ReplayView, u8> {
        dispatch!(self, audit_replay(only), audit_replay(only))
    }

    /// `audit export`.
    pub fn audit_bundle(&self, tenant: &Name) -> Result<Vec<u8>, u8> {
        dispatch!(self, audit_bundle(tenant), audit_bundle(tenant))
    }

    /// `env show`.
    pub fn environment_as_of(
        &self,
        env: &Qualified,
        as_of: Option<AsOf>,
    ) -> Result<ContentsView, u8> {
        dispatch!(
            self,
            environment_as_of(env, as_of),
            environment_as_of(env, as_of)
        )
    }

    /// `provision status`.
    pub fn provisions(&self) -> Result<Vec<ProvisionListed>, u8> {
        dispatch!(self, provisions(), provisions())
    }

    /// `provision status <id>`.
    pub fn provision_status(&self, id: ProvisionId) -> Result<ProvisionStatus, u8> {
        dispatch!(self, provision_status(id), provision_status(id))
    }

    /// `provision publish`.
    pub fn publish_provision(&self, id: ProvisionId) -> Result<ProvisionPublished, u8> {
        dispatch!(self, publish_provision(id), publish_provision(id))
    }
}
