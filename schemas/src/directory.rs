//! The directory's vocabulary: tenants, environments, principals, licenses, roles and grants,
//! and the events that change them. Every directory change is an event on the `directory`
//! stream; the directory itself is a projection of those events.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use crate::{Digest, EnvironmentId, PrincipalId, ResourceId, TenantId, TokenId};

/// A short name of a tenant, environment or user, as typed on the command line (`acme/prod`).
///
/// ## Invariants
/// 1 to 63 characters: lowercase ASCII letters, digits and `-`, starting with a letter or digit.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

/// Why a string is not a valid [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid name: use 1 to 63 lowercase letters, digits and '-', starting with a letter or digit")]
pub struct NameError(pub String);

impl Name {
    /// Validates a name.
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        let valid = (1..=63).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-');
        if valid {
            Ok(Self(name))
        } else {
            Err(NameError(name))
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` honours width and alignment, so names line up in tables.
        f.pad(&self.0)
    }
}

impl FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> Self {
        name.0
    }
}

/// A principal's license. Exporting and importing need one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum License {
    /// The full plan.
    Plan2,
    /// The trial plan: counts as a license.
    Plan2Trial,
    /// No license.
    None,
}

impl License {
    /// Whether this license allows exporting and importing.
    pub fn is_licensed(self) -> bool {
        !matches!(self, License::None)
    }

    /// The command-line spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            License::Plan2 => "plan2",
            License::Plan2Trial => "plan2-trial",
            License::None => "none",
        }
    }
}

/// A role a principal holds on a target.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// May create resources and import into an environment.
    EnvironmentMaker,
    /// Administers an environment.
    EnvironmentAdmin,
    /// May edit (and so export) an app.
    CanEdit,
    /// May run an app.
    CanUse,
    /// Owns an app.
    Owner,
    /// May read a tenant's audit log, views and bundles.
    Auditor,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 6] = [
        Role::EnvironmentMaker,
        Role::EnvironmentAdmin,
        Role::CanEdit,
        Role::CanUse,
        Role::Owner,
        Role::Auditor,
    ];

    /// The command-line spelling, e.g. `environment-maker`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::EnvironmentMaker => "environment-maker",
            Role::EnvironmentAdmin => "environment-admin",
            Role::CanEdit => "can-edit",
            Role::CanUse => "can-use",
            Role::Owner => "owner",
            Role::Auditor => "auditor",
        }
    }

    /// What kind of target the role is granted on.
    pub fn scope(self) -> Scope {
        match self {
            Role::EnvironmentMaker | Role::EnvironmentAdmin => Scope::Environment,
            Role::CanEdit | Role::CanUse | Role::Owner => Scope::App,
            Role::Auditor => Scope::Tenant,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The kind of target a role applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// An environment.
    Environment,
    /// An app.
    App,
    /// A whole tenant.
    Tenant,
}

/// What a grant applies to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum Target {
    /// An environment (possibly of another tenant: that is how cross-tenant imports are allowed).
    Environment(EnvironmentId),
    /// An app.
    App(ResourceId),
    /// A tenant.
    Tenant(TenantId),
}

/// A tenant was created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TenantCreated {
    /// The new tenant.
    pub tenant: TenantId,
    /// Its name, unique on the platform.
    pub name: Name,
}

/// An environment was created in a tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentCreated {
    /// The new environment.
    pub environment: EnvironmentId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its name, unique in the tenant.
    pub name: Name,
    /// Whether it is the tenant's default environment (at most one is).
    pub default: bool,
}

/// A principal (user) was created in a tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PrincipalCreated {
    /// The new principal.
    pub principal: PrincipalId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its name, unique in the tenant.
    pub name: Name,
    /// Its license.
    pub license: License,
}

/// A principal was given a role on a target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GrantGiven {
    /// Who receives the role.
    pub principal: PrincipalId,
    /// The role.
    pub role: Role,
    /// What it applies to.
    pub target: Target,
}

/// A principal's role on a target was taken away.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GrantRevoked {
    /// Who loses the role.
    pub principal: PrincipalId,
    /// The role.
    pub role: Role,
    /// What it applied to.
    pub target: Target,
}

/// A bearer token was issued. Only the SHA-256 of the token is recorded: the token itself is
/// shown once, to whoever asked for it, and is never stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenIssued {
    /// The token's id (also the first part of the token, so it can be looked up).
    pub token: TokenId,
    /// Who the token proves: a principal, or none for the platform operator.
    pub principal: Option<PrincipalId>,
    /// SHA-256 of the whole token.
    pub hash: Digest,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops being accepted; none: never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A bearer token was revoked: it is refused from now on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRevoked {
    /// The token.
    pub token: TokenId,
    /// When it was revoked.
    pub revoked_at: DateTime<Utc>,
}

/// A package signing key is trusted in an environment: packages it signed may be imported
/// there where the policy asks for signed packages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignerTrusted {
    /// The environment.
    pub environment: EnvironmentId,
    /// The ed25519 public key, 64 hex digits.
    pub key: String,
    /// What the key is called in reviews and audits (say, the vendor's name).
    pub name: String,
}

/// A signing key is no longer trusted in an environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignerDistrusted {
    /// The environment.
    pub environment: EnvironmentId,
    /// The public key.
    pub key: String,
}

/// A user's license changed (`ferry user set-license`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LicenseSet {
    /// The user.
    pub principal: PrincipalId,
    /// The license they hold from now on.
    pub license: License,
}

/// An environment's import policy changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicySet {
    /// The environment.
    pub environment: EnvironmentId,
    /// Only packages signed by a key trusted there are imported.
    pub require_signed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_lowercase_slugs() {
        assert!(Name::new("acme-2").is_ok());
        for bad in ["", "Acme", "a b", "-x", "a/b", &"x".repeat(64)] {
            assert!(Name::new(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn every_role_has_a_scope_and_round_trips_through_json() {
        for role in Role::ALL {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
        assert_eq!(Role::Auditor.scope(), Scope::Tenant);
    }
}
