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

/// The order as the first version computed it (a pass over every unplaced resource per
/// level: quadratic on a chain), which logs recorded since rely on: replays decide in it.
fn reference_order(m: &Manifest) -> Vec<&str> {
    let mut placed: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < m.resources.len() {
        let ready: Vec<&str> = m
            .resources
            .iter()
            .filter(|(key, _)| !placed.contains(key.as_str()))
            .filter(|(_, r)| r.depends_on.iter().all(|d| placed.contains(d.as_str())))
            .map(|(key, _)| key.as_str())
            .collect();
        assert!(
            !ready.is_empty(),
            "the reference is only run on acyclic graphs"
        );
        placed.extend(ready.iter().copied());
        order.extend(ready);
    }
    order
}

/// A random acyclic graph of `n` resources, each depending on up to `fan` earlier ones.
fn random_graph(n: usize, fan: u64, seed: u64) -> Manifest {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    let keys: Vec<String> = (0..n)
        .map(|i| format!("k{:04}", next() % 10_000 + i as u64 * 10_000))
        .collect();
    let resources = (0..n)
        .map(|i| {
            let deps: Vec<&str> = (0..next() % (fan + 1))
                .filter(|_| i > 0)
                .map(|_| keys[(next() as usize) % i].as_str())
                .collect();
            (keys[i].as_str(), resource(FLOW_TYPE, &deps))
        })
        .collect();
    manifest(resources)
}

#[test]
fn import_order_is_the_same_as_the_first_versions_on_random_graphs() {
    for seed in 0..200 {
        let m = random_graph(1 + (seed as usize % 40), seed % 6, seed);
        assert_eq!(
            m.import_order().unwrap(),
            reference_order(&m),
            "seed {seed}"
        );
    }
}

#[test]
fn import_order_of_a_long_chain_and_a_dense_graph_is_found() {
    // A chain of 30,000 (took 350 s with the first version) and 1,500 resources each
    // depending on every earlier one (1.1 million edges).
    let keys: Vec<String> = (0..30_000).map(|i| format!("r{i:05}")).collect();
    let chain = manifest(
        (0..keys.len())
            .map(|i| {
                let deps: Vec<&str> = keys[..i].last().map(String::as_str).into_iter().collect();
                (keys[i].as_str(), resource(FLOW_TYPE, &deps))
            })
            .collect(),
    );
    let order = chain.import_order().unwrap();
    assert_eq!(order, keys.iter().map(String::as_str).collect::<Vec<_>>());
    let dense = manifest(
        (0..1_500)
            .map(|i| {
                let deps: Vec<&str> = keys[..i].iter().map(String::as_str).collect();
                (keys[i].as_str(), resource(FLOW_TYPE, &deps))
            })
            .collect(),
    );
    assert_eq!(
        dense.import_order().unwrap(),
        keys[..1_500].iter().map(String::as_str).collect::<Vec<_>>()
    );
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
