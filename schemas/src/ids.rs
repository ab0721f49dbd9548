//! Identifier newtypes.
//!
//! Every id is a UUID in its own type, so a tenant id can never be passed where an environment
//! id is expected. Ids minted by Ferry are UUID v7 (time-ordered), which keeps index keys and
//! log scans roughly in creation order. A [`StreamId`] names one stream of the log.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered (UUID v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The id derived from `seed`: the same seed always gives the same id (a UUID v8
            /// from SHA-256), so a step retried after a crash names the same thing again.
            pub fn derived(seed: &[u8]) -> Self {
                let digest = crate::Digest::of(seed);
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&digest.as_bytes()[..16]);
                Self(Uuid::new_v8(bytes))
            }

            /// The nil UUID: a placeholder before the real id is known, never a real id.
            pub const NIL: Self = Self(Uuid::nil());

            /// The short human prefix used in messages, e.g. `tenant`.
            pub const PREFIX: &'static str = $prefix;
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// A tenant: the isolation boundary. Nothing but explicit grants crosses it.
    TenantId,
    "tenant"
);
uuid_id!(
    /// An environment inside a tenant.
    EnvironmentId,
    "environment"
);
uuid_id!(
    /// A principal (user) of a tenant.
    PrincipalId,
    "principal"
);
uuid_id!(
    /// A resource in an environment: app, flow, connector, custom connector, connection, gateway.
    ResourceId,
    "resource"
);
uuid_id!(
    /// An export or import migration; also the id of its stream.
    MigrationId,
    "migration"
);
uuid_id!(
    /// One recorded event. Appending an event id twice is idempotent.
    EventId,
    "event"
);
uuid_id!(
    /// A provisioning run: one package into many target environments.
    ProvisionId,
    "provision"
);
uuid_id!(
    /// A bearer token: what an API caller shows to prove who it is. Only its hash is kept.
    TokenId,
    "token"
);
uuid_id!(
    /// Ties together every event caused, directly or not, by one user request.
    CorrelationId,
    "correlation"
);

/// The name of one stream of the log, e.g. `migration-<uuid>` or `directory`.
///
/// ## Invariants
/// Non-empty, at most [`StreamId::MAX_LEN`] bytes, only ASCII letters, digits and `-_.:/`.
/// These keep stream ids safe as file names, index keys and Kafka keys.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

/// Why a string is not a valid [`StreamId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    /// The stream id is empty.
    #[error("stream id is empty")]
    Empty,
    /// The stream id is longer than [`StreamId::MAX_LEN`].
    #[error("stream id is {0} bytes long; the limit is {max}", max = StreamId::MAX_LEN)]
    TooLong(usize),
    /// The stream id holds a character outside the allowed set.
    #[error("stream id {0:?} holds {1:?}; use ASCII letters, digits and -_.:/")]
    BadChar(String, char),
}

impl StreamId {
    /// The longest stream id accepted, in bytes.
    pub const MAX_LEN: usize = 200;

    /// Validates and wraps a stream name.
    pub fn new(name: impl Into<String>) -> Result<Self, StreamIdError> {
        let name = name.into();
        if name.is_empty() {
            return Err(StreamIdError::Empty);
        }
        if name.len() > Self::MAX_LEN {
            return Err(StreamIdError::TooLong(name.len()));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-_.:/".contains(*c)))
        {
            return Err(StreamIdError::BadChar(name, c));
        }
        Ok(Self(name))
    }

    /// The stream of one migration.
    pub fn migration(id: MigrationId) -> Self {
        Self(format!("migration-{id}"))
    }

    /// The migration whose stream this is, if it is one.
    pub fn migration_id(&self) -> Option<MigrationId> {
        self.0.strip_prefix("migration-")?.parse().ok()
    }

    /// The stream of one provisioning run.
    pub fn provision(id: ProvisionId) -> Self {
        Self(format!("provision-{id}"))
    }

    /// The provisioning run whose stream this is, if it is one.
    pub fn provision_id(&self) -> Option<ProvisionId> {
        self.0.strip_prefix("provision-")?.parse().ok()
    }

    /// The stream of one environment's authored changes.
    pub fn environment(id: EnvironmentId) -> Self {
        Self(format!("env-{id}"))
    }

    /// The environment whose authored-changes stream this is, if it is one.
    pub fn environment_id(&self) -> Option<EnvironmentId> {
        self.0.strip_prefix("env-")?.parse().ok()
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for StreamId {
    type Error = StreamIdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<StreamId> for String {
    fn from(id: StreamId) -> Self {
        id.0
    }
}

impl FromStr for StreamId {
    type Err = StreamIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_id_rejects_what_is_unsafe_as_a_key() {
        assert_eq!(StreamId::new(""), Err(StreamIdError::Empty));
        assert!(matches!(
            StreamId::new("a b"),
            Err(StreamIdError::BadChar(_, ' '))
        ));
        assert!(matches!(
            StreamId::new("x".repeat(201)),
            Err(StreamIdError::TooLong(201))
        ));
        assert_eq!(
            StreamId::new("migration-1").map(String::from),
            Ok("migration-1".into())
        );
    }

    #[test]
    fn ids_round_trip_through_json_as_plain_uuids() {
        let id = TenantId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), id);
    }

    #[test]
    fn minted_ids_are_v7() {
        assert_eq!(MigrationId::new().as_uuid().get_version_num(), 7);
    }
}
