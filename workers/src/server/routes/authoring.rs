//! `/v1/environments/{tenant}/{environment}/…`: authoring apps, flows, connectors,
//! connections and gateways; exports and their packages.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use aide::generate::GenContext;
use aide::openapi::Operation;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferry_engine::app::{AppSpec, Authored, ConnectionSpec, ExportRequest, ExportView};
use schemars::JsonSchema;
use serde::Deserialize;

use super::imports::MigrationPath;
use super::resources::{EnvironmentPath, ResourcePath};
use crate::server::extract::{parse, AppState, Authed, Body, IdempotencyKey};
use crate::server::problem::Problem;
use crate::server::reply::Created;

/// What an app is made of.
#[derive(Deserialize, JsonSchema, Default)]
pub struct AppBody {
    /// The app's display name (create only).
    #[serde(default)]
    pub name: String,
    /// The canvas document (`.msapp`), base64; omit for a blank one.
    pub document_base64: Option<String>,
    /// Flows it calls (ids or unique names).
    #[serde(default)]
    pub flows: Vec<String>,
    /// Connectors it uses (technical names or ids).
    #[serde(default)]
    pub connectors: Vec<String>,
}

/// A connection reference of a flow bound to a connection.
#[derive(Deserialize, JsonSchema)]
pub struct Binding {
    /// The reference, as the definition names it (`shared_office365`).
    pub reference: String,
    /// The connection (id or account).
    pub connection: String,
}

/// A flow to create.
#[derive(Deserialize, JsonSchema)]
pub struct FlowBody {
    /// Its display name.
    pub name: String,
    /// The Logic Apps workflow, or a whole exported `definition.json`, as JSON text (kept
    /// byte for byte).
    pub definition: String,
    /// Its connection references' bindings.
    #[serde(default)]
    pub connections: Vec<Binding>,
}

/// A connector to register.
#[derive(Deserialize, JsonSchema)]
pub struct ConnectorBody {
    /// Its technical name, e.g. `shared_office365`.
    pub name: String,
    /// Its display name (default: the technical name).
    pub display_name: Option<String>,
    /// A custom connector.
    #[serde(default)]
    pub custom: bool,
}

/// A connection to create.
#[derive(Deserialize, JsonSchema)]
pub struct ConnectionBody {
    /// The connector's technical name.
    pub connector: String,
    /// The account it signs in with.
    pub account: String,
    /// Credentials: stored beside the log, never on it, never returned.
    pub secret: Option<String>,
    /// The gateway it goes through (id or name).
    pub gateway: Option<String>,
}

/// A gateway to register.
#[derive(Deserialize, JsonSchema)]
pub struct GatewayBody {
    /// Its name.
    pub name: String,
}

/// Another suggested import action for a resource.
#[derive(Deserialize, JsonSchema)]
pub struct SuggestedAction {
    /// The resource (id or name).
    pub resource: String,
    /// `new` or `update`.
    pub action: String,
}

/// A comment for the importer.
#[derive(Deserialize, JsonSchema)]
pub struct Comment {
    /// The resource (id or name).
    pub resource: String,
    /// The text.
    pub text: String,
}

/// An export to write.
#[derive(Deserialize, JsonSchema)]
pub struct ExportBody {
    /// The app (id or unique name).
    pub app: String,
    /// The package's display name.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// Suggested actions other than the defaults.
    #[serde(default)]
    pub actions: Vec<SuggestedAction>,
    /// Comments for the importer.
    #[serde(default)]
    pub comments: Vec<Comment>,
    /// Export each app's and flow's unpublished draft where it has one, not what is published.
    #[serde(default)]
    pub drafts: bool,
}

fn spec(body: AppBody) -> Result<AppSpec, Problem> {
    use base64::Engine as _;
    let document = body
        .document_base64
        .map(|text| {
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|e| Problem::invalid("bad-document", format!("document_base64: {e}")))
        })
        .transpose()?;
    Ok(AppSpec {
        document,
        flows: body.flows,
        connectors: body.connectors,
    })
}

async fn create_app(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    Body(body): Body<AppBody>,
) -> Result<Created<Authored>, Problem> {
    let environment = path.qualified()?;
    let name = body.name.clone();
    let spec = spec(body)?;
    s.call(move |f| f.create_app(&caller, &environment, name, spec))
        .await
        .map(Created::new)
}

async fn edit_app(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<ResourcePath>,
    Body(body): Body<AppBody>,
) -> Result<Json<Authored>, Problem> {
    let environment = parse(
        "environment",
        &format!("{}/{}", path.tenant, path.environment),
    )?;
    let spec = spec(body)?;
    s.call(move |f| f.edit_app(&caller, &environment, &path.resource, spec))
        .await
        .map(Json)
}

async fn create_flow(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    Body(body): Body<FlowBody>,
) -> Result<Created<Authored>, Problem> {
    let environment = path.qualified()?;
    let definition = body.definition.into_bytes();
    let bindings: Vec<(String, String)> = body
        .connections
        .into_iter()
        .map(|b| (b.reference, b.connection))
        .collect();
    s.call(move |f| f.create_flow(&caller, &environment, body.name, &definition, &bindings))
        .await
        .map(Created::new)
}

async fn create_connector(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    Body(body): Body<ConnectorBody>,
) -> Result<Created<Authored>, Problem> {
    let environment = path.qualified()?;
    s.call(move |f| {
        f.create_connector(
            &caller,
            &environment,
            body.name,
            body.display_name,
            body.custom,
        )
    })
    .await
    .map(Created::new)
}

async fn create_connection(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    Body(body): Body<ConnectionBody>,
) -> Result<Created<Authored>, Problem> {
    let environment = path.qualified()?;
    let spec = ConnectionSpec {
        connector: body.connector,
        account: body.account,
        secret: body.secret.map(String::into_bytes),
        gateway: body.gateway,
    };
    s.call(move |f| f.create_connection(&caller, &environment, spec))
        .await
        .map(Created::new)
}

async fn create_gateway(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    Body(body): Body<GatewayBody>,
) -> Result<Created<Authored>, Problem> {
    let environment = path.qualified()?;
    s.call(move |f| f.create_gateway(&caller, &environment, body.name))
        .await
        .map(Created::new)
}

async fn export(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    Body(body): Body<ExportBody>,
) -> Result<Created<ExportView>, Problem> {
    let request = ExportRequest {
        idempotency_key,
        environment: path.qualified()?,
        app: body.app,
        name: body.name,
        description: body.description,
        actions: body
            .actions
            .into_iter()
            .map(|a| (a.resource, a.action))
            .collect(),
        comments: body
            .comments
            .into_iter()
            .map(|c| (c.resource, c.text))
            .collect(),
        drafts: body.drafts,
    };
    let (view, _) = s.call(move |f| f.export(&caller, request)).await?;
    Ok(Created {
        location: Some(format!("/v1/exports/{}/package", view.migration)),
        body: view,
    })
}

/// A zip (a package, a bundle) as the reply.
pub struct Zip(Vec<u8>);

impl From<Vec<u8>> for Zip {
    fn from(bytes: Vec<u8>) -> Zip {
        Zip(bytes)
    }
}

impl IntoResponse for Zip {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/zip")], self.0).into_response()
    }
}

impl aide::OperationOutput for Zip {
    type Inner = Vec<u8>;

    fn operation_response(
        _ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Option<aide::openapi::Response> {
        serde_json::from_value(serde_json::json!({
            "description": "a zip: the package or the bundle",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }))
        .ok()
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<aide::openapi::StatusCode>, aide::openapi::Response)> {
        Self::operation_response(ctx, operation)
            .map(|r| vec![(Some(aide::openapi::StatusCode::Code(200)), r)])
            .unwrap_or_default()
    }
}

async fn package(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<MigrationPath>,
) -> Result<Zip, Problem> {
    let id = parse("export", &path.migration)?;
    s.call(move |f| f.export_package(&caller, id))
        .await
        .map(Zip)
}

/// The authoring and export routes.
pub fn routes() -> ApiRouter<AppState> {
    let at = |what: &str| format!("/v1/environments/{{tenant}}/{{environment}}/{what}");
    ApiRouter::new()
        .api_route(
            &at("apps"),
            post_with(create_app, |o| o.id("createApp").summary("Create an app")),
        )
        .api_route(
            &at("apps/{resource}/draft"),
            post_with(edit_app, |o| {
                o.id("editApp").summary("Save a draft of an app")
            }),
        )
        .api_route(
            &at("flows"),
            post_with(create_flow, |o| o.id("createFlow").summary("Create a flow")),
        )
        .api_route(
            &at("connectors"),
            post_with(create_connector, |o| {
                o.id("createConnector").summary("Register a connector")
            }),
        )
        .api_route(
            &at("connections"),
            post_with(create_connection, |o| {
                o.id("createConnection")
                    .summary("Create a connection (its secret is never returned)")
            }),
        )
        .api_route(
            &at("gateways"),
            post_with(create_gateway, |o| {
                o.id("createGateway").summary("Register a gateway")
            }),
        )
        .api_route(
            &at("exports"),
            post_with(export, |o| {
                o.id("exportApp")
                    .summary("Export an app and everything it depends on as a package")
            }),
        )
        .api_route(
            "/v1/exports/{migration}/package",
            get_with(package, |o| {
                o.id("exportPackage").summary("An export's package (zip)")
            }),
        )
}
