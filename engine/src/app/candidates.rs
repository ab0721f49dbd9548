//! Which resources of the target could answer a review item: the review shows them, and an
//! answer is checked by the same pure rules in `migration::answer` — a candidate offered is
//! one the importer may pick (the right connector, a connection they may use).

use ferry_schemas::resource::Action;

use crate::environment::{Contents, Resource};
use crate::migration::{self, Import, Item};

/// Resources of the import's environment that could answer `item`, the suggested one first.
pub(super) fn of<'c>(import: &Import, item: &Item, contents: &'c Contents) -> Vec<&'c Resource> {
    let binds = item.review.allowed_actions.contains(&Action::Existing);
    let mut found: Vec<&Resource> = contents
        .of(import.environment)
        .into_iter()
        .filter(|r| r.kind == item.review.kind)
        .filter(|r| !binds || migration::fits(import, item, r, contents))
        .collect();
    found.sort_by_key(|r| Some(r.id) != item.review.suggested_target);
    found
}
