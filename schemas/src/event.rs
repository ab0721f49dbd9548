//! Event payloads: past-tense facts, each with a schema version — the migrations' (defined here)
//! and the directory's (defined in [`crate::directory`]).
//!
//! [`Event`] is the closed set of migration events. [`Event::to_new`] turns one into a
//! [`NewEvent`] for the log; [`Event::decode`] reads one back from a record's type, schema
//! version and payload. A payload type whose shape changes gets a new version, and `decode`
//! keeps reading the old versions (upcasting), so the log never needs rewriting.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::directory::{
    EnvironmentCreated, GrantGiven, GrantRevoked, LicenseSet, PolicySet, PrincipalCreated,
    SignerDistrusted, SignerTrusted, TenantCreated, TokenIssued, TokenRevoked,
};
use crate::environment::{Change, DraftPublished, DraftSaved, ResourceCreated, ResourceRemoved};
use crate::provision::{ProvisionRequested, TargetSkipped, WaveFinished};
use crate::resource::{Action, Kind};
use crate::{
    Actor, CorrelationId, Digest, EnvironmentId, EventId, MigrationId, NewEvent, PrincipalId,
    Record, ResourceId, TenantId,
};

/// A user asked to export an app and everything it depends on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExportRequested {
    /// The export migration.
    pub migration: MigrationId,
    /// Where the app lives.
    pub environment: EnvironmentId,
    /// The app to export.
    pub app: ResourceId,
    /// The package's display name.
    pub package_name: String,
    /// The package's description.
    pub description: String,
    /// Per resource, the import action the exporter suggests instead of the default.
    pub suggested_actions: BTreeMap<ResourceId, Action>,
    /// Per resource, the exporter's comment for the importer.
    pub comments: BTreeMap<ResourceId, String>,
    /// Apps and flows with an unpublished draft were exported from the draft, not from the
    /// published version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drafts: bool,
    /// When the request was made.
    pub requested_at: DateTime<Utc>,
}

/// One resource of the export's dependency closure was captured into the package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceCaptured {
    /// The source resource.
    pub resource: ResourceId,
    /// Its kind.
    pub kind: Kind,
    /// Its display name.
    pub display_name: String,
    /// Its key in the package manifest.
    pub manifest_key: String,
    /// The import action the package suggests.
    pub suggested_action: Action,
    /// Manifest keys of the resources it depends on.
    pub depends_on: Vec<String>,
}

/// The export's package was written and stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PackageWritten {
    /// SHA-256 of the package zip: its content address.
    pub package: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Number of resources in the manifest.
    pub resources: u32,
}

/// A migration stopped for good; `code` is stable for scripts, `message` is for people.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MigrationFailed {
    /// Stable, kebab-case reason, e.g. `package-invalid`.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// A user asked to import a stored package into an environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportRequested {
    /// The import migration.
    pub migration: MigrationId,
    /// The target environment.
    pub environment: EnvironmentId,
    /// The stored package's content address.
    pub package: Digest,
    /// The package's display name.
    pub package_name: String,
    /// The user importing; resources the import creates are theirs. None: the operator.
    pub importer: Option<PrincipalId>,
    /// Only review; apply nothing.
    pub dry_run: bool,
    /// When the request was made.
    pub requested_at: DateTime<Utc>,
    /// Who signed the package, as verified when it was read; absent: unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
}

/// The key that signed a package, and what the target environment calls it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Signer {
    /// The ed25519 public key, 64 hex digits.
    pub key: String,
    /// Its name where the environment trusts it; absent: the key is not trusted there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_as: Option<String>,
}

/// One item of an import's review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewItem {
    /// The resource's key in the package manifest.
    pub manifest_key: String,
    /// Its kind.
    pub kind: Kind,
    /// Its display name.
    pub display_name: String,
    /// The actions the package allows.
    pub allowed_actions: Vec<Action>,
    /// The action the package suggests.
    pub suggested_action: Action,
    /// True while the item blocks the import until answered.
    pub needs_input: bool,
    /// Manifest keys of the items it depends on.
    pub depends_on: Vec<String>,
    /// Connectors and connections: the technical name of the connector they need
    /// (`shared_office365`), when the package names it.
    pub connector: Option<String>,
    /// Whether it reaches on-premises data through a gateway.
    pub gateway: bool,
    /// The exporter's comment for the importer.
    pub comment: Option<String>,
    /// The resource an earlier import of the same package item created in this environment:
    /// the update target to suggest (never chosen without an answer).
    pub suggested_target: Option<ResourceId>,
}

/// The package was validated against the target and its review is ready.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PackageValidated {
    /// Every item of the package, in dependency order.
    pub items: Vec<ReviewItem>,
}

/// A user answered one review item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnswerGiven {
    /// The item answered.
    pub manifest_key: String,
    /// The chosen action.
    pub action: Action,
    /// The target resource to update or bind, for `Update` and `Existing`.
    pub target: Option<ResourceId>,
    /// For `New`: the name the created resource gets instead of the package's.
    pub name: Option<String>,
    /// For `Update`: the target's revision when answered; a later change is drift.
    pub target_revision: Option<u64>,
}

/// Every item is answered and the import is executing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportStarted {
    /// Manifest keys in the order they will be applied.
    pub plan: Vec<String>,
    /// Undo every applied step when one fails.
    pub atomic: bool,
}

/// One resource step took effect in the target environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepApplied {
    /// The item applied.
    pub manifest_key: String,
    /// What was done.
    pub action: Action,
    /// The resource in the target that was created, updated (as a draft) or bound; none when a
    /// standard connector is bound that the platform provides everywhere.
    pub target: Option<ResourceId>,
    /// The change to the target environment, committed with this record.
    pub change: Option<Change>,
}

/// An applied step was undone, because a step of an atomic import failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepReverted {
    /// The item undone.
    pub manifest_key: String,
    /// The compensating change to the target environment, committed with this record.
    pub change: Option<Change>,
}

/// One resource step failed; the migration records why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepFailed {
    /// The item that failed.
    pub manifest_key: String,
    /// Stable, kebab-case reason.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// Every step of the import ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportCompleted {
    /// Steps applied.
    pub applied: u32,
    /// Steps failed.
    pub failed: u32,
    /// Whether the applied steps were undone (an atomic import with a failure).
    pub rolled_back: bool,
}

/// A user cancelled the import: one in review ends here; a running one stops at its next step
/// boundary (what it applied stays, or an atomic one undoes it first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportCancelled {
    /// Why, in the user's words (empty: not said).
    pub reason: String,
    /// The dry run was promoted to this real import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_to: Option<MigrationId>,
}

/// Why a record does not decode into an [`Event`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The type is not a migration event, or this build does not know that schema version.
    #[error("unknown event {event_type} v{schema_version}")]
    Unknown {
        /// The record's type.
        event_type: String,
        /// The record's schema version.
        schema_version: u16,
    },
    /// The payload does not fit the type.
    #[error("payload of {event_type} v{schema_version} is invalid: {source}")]
    Payload {
        /// The record's type.
        event_type: String,
        /// The record's schema version.
        schema_version: u16,
        /// What serde found wrong.
        source: serde_json::Error,
    },
}

macro_rules! events {
    ($($variant:ident = $version:literal),* $(,)?) => {
        /// Every event Ferry records.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Event {
            $(
                #[doc = concat!("See [`", stringify!($variant), "`].")]
                $variant($variant),
            )*
        }

        impl Event {
            /// The type name recorded on the log.
            pub fn event_type(&self) -> &'static str {
                match self { $(Event::$variant(_) => stringify!($variant),)* }
            }

            /// The payload's current schema version.
            pub fn schema_version(&self) -> u16 {
                match self { $(Event::$variant(_) => $version,)* }
            }

            /// The payload as JSON.
            pub fn payload(&self) -> serde_json::Value {
                // Serialising plain data with string keys cannot fail.
                match self {
                    $(Event::$variant(e) => serde_json::to_value(e).unwrap_or_default(),)*
                }
            }

            /// Reads an event straight from its payload's JSON text (no intermediate `Value`).
            pub fn decode_json(
                event_type: &str,
                schema_version: u16,
                payload: &str,
            ) -> Result<Event, DecodeError> {
                let mut json = serde_json::Deserializer::from_str(payload);
                let event = Event::decode_from(event_type, schema_version, &mut json)?;
                json.end().map_err(|source| DecodeError::Payload {
                    event_type: event_type.to_owned(),
                    schema_version,
                    source,
                })?;
                Ok(event)
            }

            /// Reads an event back from a record's type, version and payload.
            pub fn decode(
                event_type: &str,
                schema_version: u16,
                payload: &serde_json::Value,
            ) -> Result<Event, DecodeError> {
                Event::decode_from(event_type, schema_version, payload)
            }

            /// The payload type that `event_type` and `schema_version` name, read from any
            /// JSON deserializer.
            fn decode_from<'de, D>(
                event_type: &str,
                schema_version: u16,
                payload: D,
            ) -> Result<Event, DecodeError>
            where
                D: serde::Deserializer<'de, Error = serde_json::Error>,
            {
                match (event_type, schema_version) {
                    $(
                        (stringify!($variant), $version) => {
                            <$variant as Deserialize>::deserialize(payload)
                                .map(Event::$variant)
                                .map_err(|source| DecodeError::Payload {
                                    event_type: event_type.to_owned(),
                                    schema_version,
                                    source,
                                })
                        }
                    )*
                    _ => Err(DecodeError::Unknown {
                        event_type: event_type.to_owned(),
                        schema_version,
                    }),
                }
            }
        }

        impl Event {
            /// The JSON Schema of every payload, keyed `<type>.v<version>`.
            pub fn payload_schemas() -> BTreeMap<String, schemars::Schema> {
                BTreeMap::from([
                    $((
                        concat!(stringify!($variant), ".v", $version).to_owned(),
                        schemars::schema_for!($variant),
                    ),)*
                ])
            }
        }

        $(
            impl From<$variant> for Event {
                fn from(e: $variant) -> Event { Event::$variant(e) }
            }
        )*
    };
}

events! {
    ExportRequested = 1,
    ResourceCaptured = 1,
    PackageWritten = 1,
    MigrationFailed = 1,
    ImportRequested = 1,
    PackageValidated = 1,
    AnswerGiven = 1,
    ImportStarted = 1,
    StepApplied = 1,
    StepFailed = 1,
    StepReverted = 1,
    ImportCompleted = 1,
    ImportCancelled = 1,
    ResourceCreated = 1,
    ResourceRemoved = 1,
    DraftSaved = 1,
    ProvisionRequested = 1,
    TargetSkipped = 1,
    WaveFinished = 1,
    DraftPublished = 1,
    TenantCreated = 1,
    EnvironmentCreated = 1,
    PrincipalCreated = 1,
    GrantGiven = 1,
    GrantRevoked = 1,
    TokenIssued = 1,
    TokenRevoked = 1,
    SignerTrusted = 1,
    SignerDistrusted = 1,
    PolicySet = 1,
    LicenseSet = 1,
}

/// An event read straight from stored body bytes, with where it sits in the log: what
/// projections fold (several times cheaper than a [`Record`], whose payload is a `Value`).
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    /// Global position.
    pub position: u64,
    /// The stream.
    pub stream: crate::StreamId,
    /// Version within the stream.
    pub stream_version: u64,
    /// The event.
    pub event: Event,
}

#[derive(Deserialize)]
struct PlacedBody<'a> {
    position: u64,
    #[serde(borrow)]
    stream: std::borrow::Cow<'a, str>,
    stream_version: u64,
    #[serde(borrow)]
    event_type: std::borrow::Cow<'a, str>,
    schema_version: u16,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

impl Placed {
    /// Decodes stored body bytes.
    pub fn from_body(bytes: &[u8]) -> Result<Placed, DecodeError> {
        let undecodable = |source: serde_json::Error| DecodeError::Payload {
            event_type: "(record)".into(),
            schema_version: 0,
            source,
        };
        let body: PlacedBody<'_> = serde_json::from_slice(bytes).map_err(undecodable)?;
        let stream = crate::StreamId::new(body.stream.into_owned())
            .map_err(|e| undecodable(serde::de::Error::custom(e)))?;
        let event = Event::decode_json(&body.event_type, body.schema_version, body.payload.get())?;
        Ok(Placed {
            position: body.position,
            stream,
            stream_version: body.stream_version,
            event,
        })
    }
}

/// Who, for whom and why: the envelope fields a caller supplies with every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// The tenant the events belong to.
    pub tenant: Option<TenantId>,
    /// Who caused them.
    pub actor: Actor,
    /// The user request they stem from.
    pub correlation_id: CorrelationId,
    /// The event that caused them, if any.
    pub causation_id: Option<EventId>,
}

impl Event {
    /// Wraps the event for appending, with a fresh event id.
    pub fn to_new(&self, context: &Context) -> NewEvent {
        NewEvent {
            event_id: EventId::new(),
            event_type: self.event_type().to_owned(),
            schema_version: self.schema_version(),
            tenant: context.tenant,
            actor: context.actor,
            correlation_id: context.correlation_id,
            causation_id: context.causation_id,
            payload: self.payload(),
        }
    }

    /// Reads the event carried by a record.
    pub fn from_record(record: &Record) -> Result<Event, DecodeError> {
        Event::decode(&record.event_type, record.schema_version, &record.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_round_trips_through_type_version_and_payload() {
        let event = Event::from(StepApplied {
            manifest_key: "k".into(),
            action: Action::Existing,
            target: Some(ResourceId::new()),
            change: None,
        });
        let back = Event::decode(event.event_type(), event.schema_version(), &event.payload());
        assert_eq!(back.unwrap(), event);
    }

    #[test]
    fn unknown_versions_and_bad_payloads_are_errors_not_panics() {
        let unknown = Event::decode("StepApplied", 99, &serde_json::json!({}));
        assert!(matches!(unknown, Err(DecodeError::Unknown { .. })));
        let bad = Event::decode("StepApplied", 1, &serde_json::json!({"manifest_key": 3}));
        assert!(matches!(bad, Err(DecodeError::Payload { .. })));
    }
}
