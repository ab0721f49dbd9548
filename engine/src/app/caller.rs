//! Who is asking: the platform operator, or a tenant's user — proven by a bearer token (the
//! API), or named by the operator acting for them (`--as` on the machine that holds the data).

use std::fmt;
use std::str::FromStr;

use ferry_schemas::directory::Name;
use ferry_schemas::{Actor, PrincipalId};

/// The caller of a use case. Every use case checks its permissions against it and records it
/// as the actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    /// The platform operator: allowed everything, recorded as `operator`.
    Operator,
    /// A tenant's user: checked against their license and grants, recorded as themselves.
    User(PrincipalId),
}

impl Caller {
    /// The actor recorded for what this caller does.
    pub fn actor(self) -> Actor {
        match self {
            Caller::Operator => Actor::Operator,
            Caller::User(principal) => Actor::Principal { principal },
        }
    }

    /// The user, unless the operator calls.
    pub fn principal(self) -> Option<PrincipalId> {
        match self {
            Caller::Operator => None,
            Caller::User(principal) => Some(principal),
        }
    }
}

/// `<tenant>/<name>`: an environment or a user, as people type it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Qualified {
    /// The tenant.
    pub tenant: Name,
    /// The environment or user.
    pub name: Name,
}

impl FromStr for Qualified {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tenant, name) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not <tenant>/<name>"))?;
        Ok(Qualified {
            tenant: tenant.parse().map_err(|e| format!("{e}"))?,
            name: name.parse().map_err(|e| format!("{e}"))?,
        })
    }
}

impl fmt::Display for Qualified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.name)
    }
}
