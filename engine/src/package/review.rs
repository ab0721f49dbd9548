//! The import review of a legacy package: one [`ReviewItem`] per resource, in import order,
//! with the actions the package allows and suggests and whether the item blocks the import
//! until answered. This is what an import migration records as `PackageValidated`.

use ferry_schemas::event::ReviewItem;
use ferry_schemas::manifest::{Resource, ResourceKind};
use ferry_schemas::resource::{Action, Kind};

use super::legacy::MANIFEST;
use super::{Error, Legacy, Result};

/// Ferry's addition to a connection's `details`: the gateway it needs (other readers ignore it).
pub const GATEWAY: &str = "ferryGateway";
/// Ferry's addition to a resource's `details`: the exporter's comment.
pub const COMMENT: &str = "ferryComment";

/// The review items of `legacy`, every item after everything it depends on.
pub fn review(legacy: &Legacy) -> Result<Vec<ReviewItem>> {
    legacy
        .import_order
        .iter()
        .filter_map(|key| legacy.manifest.resources.get(key).map(|r| (key, r)))
        .map(|(key, resource)| item(legacy, key, resource))
        .collect()
}

/// The technical name of the connector an api or connection resource stands for: a standard
/// api's `name`, else the name a flow's connection reference gives it (custom connectors are
/// named nowhere else).
fn connector_name(legacy: &Legacy, key: &str, resource: &Resource) -> Option<String> {
    let api_key = match resource.kind() {
        ResourceKind::Api => key,
        ResourceKind::Connection => resource.dependencies().into_iter().find(|dep| {
            legacy
                .manifest
                .resources
                .get(*dep)
                .is_some_and(|r| r.kind() == ResourceKind::Api)
        })?,
        _ => return None,
    };
    let api = legacy.manifest.resources.get(api_key)?;
    let from_flows = || {
        legacy
            .flows
            .iter()
            .flat_map(|flow| &flow.connections)
            .find(|c| c.api.as_deref() == Some(api_key))
            .and_then(|c| c.api_name.clone())
    };
    api.name.clone().or_else(from_flows)
}

fn item(legacy: &Legacy, key: &str, resource: &Resource) -> Result<ReviewItem> {
    let malformed = |problem: String| Error::Malformed {
        entry: MANIFEST.into(),
        problem: format!("resource {key}: {problem}"),
    };
    let kind = match resource.kind() {
        ResourceKind::App => Kind::App,
        ResourceKind::Flow => Kind::Flow,
        ResourceKind::Api if resource.is_custom_connector() => Kind::CustomConnector,
        ResourceKind::Api => Kind::Connector,
        ResourceKind::Connection => Kind::Connection,
        ResourceKind::Other => {
            return Err(malformed(format!(
                "type {:?} is not a resource Ferry can import",
                resource.resource_type
            )))
        }
    };
    let parse = |word: &str| {
        Action::parse(word).ok_or_else(|| malformed(format!("unknown import action {word:?}")))
    };
    let mut allowed = resource
        .allowed_actions()
        .into_iter()
        .map(parse)
        .collect::<Result<Vec<_>>>()?;
    let suggested = match resource.suggested_creation_type.as_deref() {
        Some(word) => parse(word)?,
        None => allowed.first().copied().unwrap_or(Action::Existing),
    };
    // Standard connectors carry no creationType: the platform selects the existing one.
    if allowed.is_empty() {
        allowed.push(suggested);
    }
    if !allowed.contains(&suggested) {
        return Err(malformed(format!(
            "suggested action {suggested} is not among the allowed ones"
        )));
    }
    Ok(ReviewItem {
        manifest_key: key.to_owned(),
        kind,
        display_name: resource.details.display_name.clone().unwrap_or_default(),
        allowed_actions: allowed,
        suggested_action: suggested,
        needs_input: resource.needs_binding(),
        depends_on: resource
            .dependencies()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        connector: connector_name(legacy, key, resource),
        gateway: resource.details.extra.contains_key(GATEWAY),
        comment: resource
            .details
            .extra
            .get(COMMENT)
            .and_then(|c| c.as_str())
            .map(str::to_owned),
        suggested_target: None,
    })
}
