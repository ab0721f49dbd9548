//! The directory: tenants, their environments and principals, and grants — all of it events on
//! the `directory` stream.
//!
//! - [`State`] is the directory as a projection of those events ([`State::apply`]).
//! - [`decide`] turns a [`Command`] into events or a [`Rejection`]; pure, no I/O.
//! - [`execute`] is the I/O edge: loads the state from the log, decides, appends with the
//!   expected version, and retries on a concurrent change.
//!
//! ## Invariants
//! - Tenant names are unique on the platform; environment and principal names within a tenant.
//! - A tenant has at most one default environment.
//! - A grant's target matches its role's scope and exists; a principal may hold grants on
//!   other tenants' environments (cross-tenant imports), nothing else crosses a tenant.

mod decide;
mod service;
mod state;

pub use decide::{decide, Command, Rejection, TargetRef};
pub use service::{execute, load, Error, STREAM};
pub(crate) use service::{stream, tenant_of};
pub use state::{Environment, Principal, State, Tenant, Token};
