//! The import review of a legacy package: one [`ReviewItem`] per resource, in import order,
//! with the actions the package allows and suggests and whether the item blocks the import
//! until answered. This is what an import migration records as `PackageValidated`.

use ferry_schemas::event::ReviewItem;
use ferry_schemas::manifest::{Resource, ResourceKind};
use ferry_schemas::resource::{Action, Kind};

use super::legacy::MANIFEST;
use super::{Error, Legacy, Result};

/// The review items of `legacy`, every item after everything it depends on.
pub fn review(legacy: &Legacy) -> Result<Vec<ReviewItem>> {
    legacy
        .import_order
        .iter()
        .filter_map(|key| legacy.manifest.resources.get(key).map(|r| (key, r)))
        .map(|(key, resource)| item(key, resource))
        .collect()
}

fn item(key: &str, resource: &Resource) -> Result<ReviewItem> {
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
    })
}
