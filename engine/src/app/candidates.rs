//! Which resources of the target could answer a review item: the review shows them, and an
//! answer is checked by the same pure rules in `migration::answer`.

use ferry_schemas::resource::Kind;

use crate::environment::{Contents, Resource};
use crate::migration::{Import, Item};

/// Resources of the import's environment that could answer `item`, the suggested one first.
pub(super) fn of<'c>(import: &Import, item: &Item, contents: &'c Contents) -> Vec<&'c Resource> {
    let mut found: Vec<&Resource> = contents
        .of(import.environment)
        .into_iter()
        .filter(|r| r.kind == item.review.kind)
        .filter(|r| match item.review.kind {
            Kind::Connection | Kind::Connector => {
                custom_connection(import, item) || r.connector == item.review.connector
            }
            _ => true,
        })
        .collect();
    found.sort_by_key(|r| Some(r.id) != item.review.suggested_target);
    found
}

/// A connection to a custom connector: any connection may fit, the package names no connector.
fn custom_connection(import: &Import, item: &Item) -> bool {
    item.review.kind == Kind::Connection
        && item
            .review
            .depends_on
            .iter()
            .filter_map(|k| import.item(k))
            .any(|d| d.review.kind == Kind::CustomConnector)
}
