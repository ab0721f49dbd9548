//! Short labels for an import's items, unique within the import: `kind/name`, as kubectl
//! names a resource. A package's keys are GUIDs and its names repeat (one account's
//! connections of three connectors share the account's name), so the review shows a label
//! that says what the item is and can be typed in an answer.
//!
//! - A connection or a connector is named by its connector (`connection/sharepointonline`),
//!   since its display name is an account or a product name; anything else by its display
//!   name (`app/order-portal`), lowercased, other characters as `-`, at most 40 characters.
//! - A label taken already gets `-2`, `-3`… in item order. Labels depend on the package's
//!   items alone, so an import's labels never change.

use std::collections::HashSet;

use ferry_schemas::resource::Kind;

use super::state::Item;

/// The most characters of a name kept in a label.
const NAME_CHARS: usize = 40;

/// Every item's label, in item order.
pub fn labels(items: &[Item]) -> Vec<String> {
    let mut taken = HashSet::with_capacity(items.len());
    items
        .iter()
        .map(|item| {
            let base = base(item);
            let mut label = base.clone();
            let mut n = 2;
            while taken.contains(&label) {
                label = format!("{base}-{n}");
                n += 1;
            }
            taken.insert(label.clone());
            label
        })
        .collect()
}

fn base(item: &Item) -> String {
    let review = &item.review;
    let name = match (review.kind, &review.connector) {
        (Kind::Connection | Kind::Connector, Some(connector)) => {
            connector.strip_prefix("shared_").unwrap_or(connector)
        }
        _ => &review.display_name,
    };
    format!("{}/{}", review.kind, slug(name))
}

/// `text` lowercased, every run of other characters than ASCII letters and digits as one
/// `-`, none at the ends; `item` when nothing is left.
fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in text.chars() {
        if out.len() >= NAME_CHARS {
            break;
        }
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    if out.is_empty() {
        out.push_str("item");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_schemas::event::ReviewItem;
    use ferry_schemas::resource::Action;

    fn item(kind: Kind, name: &str, connector: Option<&str>) -> Item {
        Item {
            review: ReviewItem {
                manifest_key: format!("{name}-{kind}"),
                kind,
                display_name: name.into(),
                allowed_actions: vec![Action::Existing],
                suggested_action: Action::Existing,
                needs_input: true,
                depends_on: Vec::new(),
                connector: connector.map(str::to_owned),
                gateway: false,
                comment: None,
                suggested_target: None,
            },
            answer: None,
            outcome: None,
        }
    }

    #[test]
    fn connections_are_named_by_their_connector_and_repeats_are_numbered() {
        let items = [
            item(
                Kind::Connection,
                "admin@contoso.com",
                Some("shared_sharepointonline"),
            ),
            item(
                Kind::Connection,
                "admin@contoso.com",
                Some("shared_office365"),
            ),
            item(
                Kind::Connection,
                "ann@contoso.com",
                Some("shared_office365"),
            ),
            item(
                Kind::Connector,
                "SharePoint",
                Some("shared_sharepointonline"),
            ),
            item(Kind::App, "Order Portal (v2) ✓", None),
            item(Kind::Flow, "Order Portal (v2)", None),
            item(Kind::Flow, "order-portal-v2", None),
            item(Kind::Flow, "✓✓", None),
        ];
        assert_eq!(
            labels(&items),
            [
                "connection/sharepointonline",
                "connection/office365",
                "connection/office365-2",
                "connector/sharepointonline",
                "app/order-portal-v2",
                "flow/order-portal-v2",
                "flow/order-portal-v2-2",
                "flow/item",
            ]
        );
    }

    #[test]
    fn a_label_is_short_whatever_the_name() {
        let long = "x".repeat(10_000);
        let [label] = &labels(&[item(Kind::App, &long, None)])[..] else {
            panic!("one label");
        };
        assert_eq!(label.len(), "app/".len() + NAME_CHARS);
    }

    #[test]
    fn labels_stay_unique_when_a_name_looks_numbered() {
        let items = [
            item(Kind::Flow, "a", None),
            item(Kind::Flow, "a 2", None),
            item(Kind::Flow, "a", None),
        ];
        let labels = labels(&items);
        assert_eq!(labels, ["flow/a", "flow/a-2", "flow/a-3"]);
    }
}
