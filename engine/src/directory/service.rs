//! The directory's I/O edge: load the state from the log, decide, append.

use std::time::Duration;

use ferry_schemas::event::{Context, Event};
use ferry_schemas::{Actor, CorrelationId, StreamId, TenantId};

use super::{decide, Command, Rejection, State};
use crate::log::{self, Expected, Store};

/// The name of the directory's stream.
pub const STREAM: &str = "directory";

/// Why a directory command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory refuses the command; show the reason, which says what to do.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The log failed; see [`log::Error`].
    #[error(transparent)]
    Log(#[from] log::Error),
    /// A record on the directory stream does not decode: the log holds something this build
    /// does not understand. Upgrade Ferry, or restore the data directory.
    #[error("directory record at position {position} does not decode: {reason}")]
    Undecodable {
        /// The record's position.
        position: u64,
        /// What is wrong.
        reason: String,
    },
}

pub(crate) fn stream() -> StreamId {
    // "directory" satisfies StreamId's rules.
    StreamId::new(STREAM).unwrap_or_else(|_| unreachable!("valid stream id"))
}

/// The directory as of the log's current end, and the version of its stream.
pub fn load(store: &dyn Store) -> Result<(State, u64), Error> {
    const BATCH: usize = 1024;
    let stream = stream();
    let mut state = State::default();
    let mut version = 0;
    loop {
        let records = store.read_stream(&stream, version + 1, BATCH)?;
        if records.is_empty() {
            return Ok((state, version));
        }
        for record in &records {
            let event = Event::from_record(record).map_err(|e| Error::Undecodable {
                position: record.position,
                reason: e.to_string(),
            })?;
            state.apply(&event);
            version = record.stream_version;
        }
    }
}

/// Runs a directory command for the platform operator and returns the events recorded.
/// A concurrent change to the directory makes it decide again on the new state.
pub fn execute(store: &dyn Store, command: Command) -> Result<Vec<Event>, Error> {
    const ATTEMPTS: usize = 16;
    let stream = stream();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (state, version) = load(store)?;
        let events = decide(&state, command.clone())?;
        if events.is_empty() {
            return Ok(events);
        }
        let context = Context {
            tenant: tenant_of(&state, &events),
            actor: Actor::Operator,
            correlation_id: CorrelationId::new(),
            causation_id: None,
        };
        let new = events.iter().map(|e| e.to_new(&context)).collect();
        match store.append(&stream, Expected::Exact(version), new) {
            Ok(_) => return Ok(events),
            Err(log::Error::Conflict { actual, .. }) if attempt < ATTEMPTS => {
                // Decide again on the change that won, once readers can see it.
                log::await_version(store, &stream, actual, Duration::from_secs(10))?;
            }
            Err(other) => return Err(other.into()),
        }
    }
}

/// The tenant a directory change belongs to, for the envelope (audit per tenant).
pub(crate) fn tenant_of(state: &State, events: &[Event]) -> Option<TenantId> {
    let principal_tenant = |id| state.principal_by_id(id).map(|p| p.tenant);
    events.iter().find_map(|event| match event {
        Event::TenantCreated(e) => Some(e.tenant),
        Event::EnvironmentCreated(e) => Some(e.tenant),
        Event::PrincipalCreated(e) => Some(e.tenant),
        Event::LicenseSet(e) => principal_tenant(e.principal),
        Event::GrantGiven(e) => principal_tenant(e.principal),
        Event::GrantRevoked(e) => principal_tenant(e.principal),
        Event::TokenIssued(e) => e.principal.and_then(principal_tenant),
        Event::SignerTrusted(e) => state.environment_by_id(e.environment).map(|e| e.tenant),
        Event::SignerDistrusted(e) => state.environment_by_id(e.environment).map(|e| e.tenant),
        Event::PolicySet(e) => state.environment_by_id(e.environment).map(|e| e.tenant),
        Event::TokenRevoked(e) => state
            .token(e.token)
            .and_then(|t| t.principal)
            .and_then(principal_tenant),
        _ => None,
    })
}
