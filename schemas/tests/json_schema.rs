//! The JSON Schema files under `schemas/json/` are generated from the Rust types. This test
//! fails when the two drift apart; regenerate with
//! `FERRY_UPDATE_SCHEMAS=1 cargo test -p ferry-schemas --test json_schema`.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::path::PathBuf;

use ferry_schemas::event::Event;
use ferry_schemas::manifest::{Checksums, FlowsManifest, Manifest, Provenance};
use ferry_schemas::solution::SolutionSummary;
use ferry_schemas::Record;
use schemars::{schema_for, Schema};

fn check(name: &str, schema: &Schema) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("json")
        .join(name);
    let generated = serde_json::to_string_pretty(schema).unwrap() + "\n";
    if std::env::var_os("FERRY_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} has drifted from the Rust types; regenerate it with \
         FERRY_UPDATE_SCHEMAS=1 cargo test -p ferry-schemas --test json_schema",
        path.display()
    );
}

#[test]
fn manifest_schema_matches_the_rust_types() {
    check("manifest.schema.json", &schema_for!(Manifest));
    check("flows-manifest.schema.json", &schema_for!(FlowsManifest));
    check("provenance.schema.json", &schema_for!(Provenance));
    check("checksums.schema.json", &schema_for!(Checksums));
    check(
        "solution-summary.schema.json",
        &schema_for!(SolutionSummary),
    );
}

#[test]
fn record_envelope_schema_matches_the_rust_types() {
    check("record.schema.json", &schema_for!(Record));
}

#[test]
fn event_payload_schemas_match_the_rust_types() {
    let payloads = serde_json::to_value(Event::payload_schemas()).unwrap();
    check("events.schema.json", &Schema::try_from(payloads).unwrap());
}

#[test]
fn a_real_record_has_every_field_the_envelope_schema_requires() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("json/record.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let event = ferry_schemas::NewEvent {
        event_id: ferry_schemas::EventId::new(),
        event_type: "Tested".into(),
        schema_version: 1,
        tenant: None,
        actor: ferry_schemas::Actor::Operator,
        correlation_id: ferry_schemas::CorrelationId::new(),
        causation_id: None,
        payload: serde_json::json!({}),
    };
    let (record, _) = Record::seal(
        event.prepare(),
        ferry_schemas::StreamId::new("s").unwrap(),
        1,
        1,
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        ferry_schemas::Digest::ZERO,
        None,
    );
    let json = serde_json::to_value(&record).unwrap();
    for field in schema["required"].as_array().unwrap() {
        assert!(
            json.get(field.as_str().unwrap()).is_some(),
            "record lacks {field}"
        );
    }
    for key in json.as_object().unwrap().keys() {
        assert!(
            schema["properties"].get(key).is_some(),
            "schema lacks {key}"
        );
    }
}
