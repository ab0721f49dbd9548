//! Graph helpers, classification and round-trip of unknown fields.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use super::*;

fn resource(kind: &str, deps: &[&str]) -> Resource {
    Resource {
        id: None,
        name: None,
        resource_type: kind.into(),
        suggested_creation_type: None,
        creation_type: Some("Existing, New, Update".into()),
        details: ResourceDetails::default(),
        configurable_by: None,
        hierarchy: None,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        extra: Extra::new(),
    }
}

fn manifest(resources: Vec<(&str, Resource)>) -> Manifest {
    Manifest {
        schema: "1.0".into(),
        details: PackageDetails::default(),
        resources: resources
            .into_iter()
            .map(|(k, r)| (k.to_string(), r))
            .collect(),
        extra: Extra::new(),
    }
}

#[test]
fn import_order_puts_dependencies_first() {
    let m = manifest(vec![
        ("a", resource(APP_TYPE, &["f", "c", "c"])),
        ("f", resource(FLOW_TYPE, &["c"])),
        ("c", resource(API_TYPE, &[])),
    ]);
    assert_eq!(m.import_order(), Ok(vec!["c", "f", "a"]));
    assert_eq!(m.roots(), vec!["a"]);
}

#[test]
fn import_order_names_the_dangling_key() {
    let m = manifest(vec![("a", resource(APP_TYPE, &["zz"]))]);
    assert_eq!(
        m.import_order(),
        Err(GraphProblem::Dangling {
            resource: "a".into(),
            missing: "zz".into()
        })
    );
}

#[test]
fn import_order_detects_a_cycle() {
    let m = manifest(vec![
        ("a", resource(FLOW_TYPE, &["b"])),
        ("b", resource(FLOW_TYPE, &["a"])),
    ]);
    assert!(matches!(m.import_order(), Err(GraphProblem::Cycle { .. })));
}

#[test]
fn classifies_custom_connectors_and_actions() {
    let custom = resource(API_TYPE, &[]);
    assert!(custom.is_custom_connector() && custom.needs_binding());
    let mut standard = resource(API_TYPE, &[]);
    standard.name = Some("shared_office365".into());
    assert!(!standard.is_custom_connector() && !standard.needs_binding());
    assert_eq!(custom.allowed_actions(), vec!["Existing", "New", "Update"]);
    assert_eq!(ResourceKind::of("Microsoft.Other/x"), ResourceKind::Other);
}

#[test]
fn unknown_fields_round_trip() {
    let json = r#"{"schema":"1.0","details":{"displayName":"x","zz":1},
        "resources":{"k":{"type":"Microsoft.PowerApps/apps","dependsOn":["k2","k2"],"new":true},
        "k2":{"type":"Microsoft.PowerApps/apis","id":"i","name":"n"}},"later":[1]}"#;
    let m: Manifest = serde_json::from_str(json).unwrap();
    assert_eq!(m.resources["k"].depends_on, vec!["k2", "k2"]);
    let again: Manifest = serde_json::from_slice(&serde_json::to_vec(&m).unwrap()).unwrap();
    assert_eq!(m, again);
    assert!(again.extra.contains_key("later"));
    assert!(again.resources["k"].extra.contains_key("new"));
}
