//! The directory as a projection of its events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_schemas::directory::{License, Name, Role, Target};
use ferry_schemas::event::Event;
use ferry_schemas::{Digest, EnvironmentId, PrincipalId, TenantId, TokenId};
use serde::{Deserialize, Serialize};

use crate::projections::{self, as_is, prefix, Part, Table};

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Its unique name.
    pub name: Name,
}

/// An environment of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// Its id.
    pub id: EnvironmentId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its name, unique in the tenant.
    pub name: Name,
    /// Whether it is the tenant's default environment.
    pub default: bool,
}

/// A principal (user) of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Its id.
    pub id: PrincipalId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its name, unique in the tenant.
    pub name: Name,
    /// Its license.
    pub license: License,
}

/// A bearer token as recorded: never the token itself, only its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Its id.
    pub id: TokenId,
    /// Who it proves: a principal, or none for the platform operator.
    pub principal: Option<PrincipalId>,
    /// SHA-256 of the whole token.
    pub hash: Digest,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops being accepted.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What an environment imports: its policy and the signing keys it trusts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPolicy {
    /// Only packages signed by a trusted key.
    pub require_signed: bool,
    /// Trusted public keys (hex) and their names.
    pub trusted: BTreeMap<String, String>,
}

/// The whole directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    tenants: Table<TenantId, Tenant>,
    environments: Table<EnvironmentId, Environment>,
    principals: Table<PrincipalId, Principal>,
    grants: Table<(PrincipalId, Role, Target), ()>,
    tokens: Table<TokenId, Token>,
    policies: Table<EnvironmentId, ImportPolicy>,
    /// Name indexes, so lookups stay cheap with thousands of tenants.
    tenant_names: Table<Name, TenantId>,
    environment_names: Table<(TenantId, Name), EnvironmentId>,
    principal_names: Table<(TenantId, Name), PrincipalId>,
}

impl State {
    /// Folds one event into the state. Events that are not about the directory are ignored.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::TenantCreated(e) => {
                self.tenant_names.insert(e.name.clone(), e.tenant);
                self.tenants.insert(
                    e.tenant,
                    Tenant {
                        id: e.tenant,
                        name: e.name.clone(),
                    },
                );
            }
            Event::EnvironmentCreated(e) => {
                self.environment_names
                    .insert((e.tenant, e.name.clone()), e.environment);
                self.environments.insert(
                    e.environment,
                    Environment {
                        id: e.environment,
                        tenant: e.tenant,
                        name: e.name.clone(),
                        default: e.default,
                    },
                );
            }
            Event::PrincipalCreated(e) => {
                self.principal_names
                    .insert((e.tenant, e.name.clone()), e.principal);
                self.principals.insert(
                    e.principal,
                    Principal {
                        id: e.principal,
                        tenant: e.tenant,
                        name: e.name.clone(),
                        license: e.license,
                    },
                );
            }
            Event::LicenseSet(e) => {
                if let Some(principal) = self.principals.get_mut(&e.principal) {
                    principal.license = e.license;
                }
            }
            Event::GrantGiven(e) => {
                self.grants.insert((e.principal, e.role, e.target), ());
            }
            Event::GrantRevoked(e) => {
                self.grants.remove(&(e.principal, e.role, e.target));
            }
            Event::TokenIssued(e) => {
                self.tokens.insert(
                    e.token,
                    Token {
                        id: e.token,
                        principal: e.principal,
                        hash: e.hash,
                        issued_at: e.issued_at,
                        expires_at: e.expires_at,
                        revoked_at: None,
                    },
                );
            }
            Event::TokenRevoked(e) => {
                if let Some(token) = self.tokens.get_mut(&e.token) {
                    token.revoked_at.get_or_insert(e.revoked_at);
                }
            }
            Event::SignerTrusted(e) => {
                self.policies
                    .or_default(e.environment)
                    .trusted
                    .insert(e.key.clone(), e.name.clone());
            }
            Event::SignerDistrusted(e) => {
                if let Some(policy) = self.policies.get_mut(&e.environment) {
                    policy.trusted.remove(&e.key);
                }
            }
            Event::PolicySet(e) => {
                self.policies.or_default(e.environment).require_signed = e.require_signed;
            }
            _ => {}
        }
    }

    /// Puts the rows changed since the last save into `batch`.
    pub(crate) fn save(&self, batch: &mut projections::Save<'_>) -> Result<(), projections::Error> {
        self.tenants.save(prefix::TENANTS, batch)?;
        self.environments.save(prefix::ENVIRONMENTS, batch)?;
        self.principals.save(prefix::PRINCIPALS, batch)?;
        self.grants.save(prefix::GRANTS, batch)?;
        self.tokens.save(prefix::TOKENS, batch)?;
        self.policies.save(prefix::POLICIES, batch)?;
        self.tenant_names.save(prefix::TENANT_NAMES, batch)?;
        self.environment_names
            .save(prefix::ENVIRONMENT_NAMES, batch)?;
        self.principal_names.save(prefix::PRINCIPAL_NAMES, batch)
    }

    /// The save [`State::save`] went into is complete, in `tree` (see [`Table::saved`]).
    pub(crate) fn saved(&mut self, tree: &sled::Tree) {
        self.tenants.saved(tree, prefix::TENANTS, as_is);
        self.environments.saved(tree, prefix::ENVIRONMENTS, as_is);
        self.principals.saved(tree, prefix::PRINCIPALS, as_is);
        self.grants.saved(tree, prefix::GRANTS, as_is);
        self.tokens.saved(tree, prefix::TOKENS, as_is);
        self.policies.saved(tree, prefix::POLICIES, as_is);
        self.tenant_names.saved(tree, prefix::TENANT_NAMES, as_is);
        self.environment_names
            .saved(tree, prefix::ENVIRONMENT_NAMES, as_is);
        self.principal_names
            .saved(tree, prefix::PRINCIPAL_NAMES, as_is);
    }

    /// The state saved in `tree`, read as it is needed.
    pub(crate) fn stored(tree: &sled::Tree) -> State {
        State {
            tenants: Table::stored(tree, prefix::TENANTS, as_is),
            environments: Table::stored(tree, prefix::ENVIRONMENTS, as_is),
            principals: Table::stored(tree, prefix::PRINCIPALS, as_is),
            grants: Table::stored(tree, prefix::GRANTS, as_is),
            tokens: Table::stored(tree, prefix::TOKENS, as_is),
            policies: Table::stored(tree, prefix::POLICIES, as_is),
            tenant_names: Table::stored(tree, prefix::TENANT_NAMES, as_is),
            environment_names: Table::stored(tree, prefix::ENVIRONMENT_NAMES, as_is),
            principal_names: Table::stored(tree, prefix::PRINCIPAL_NAMES, as_is),
        }
    }

    /// Every table, for what the world does with all alike.
    pub(crate) fn parts(&mut self) -> [&mut dyn Part; 9] {
        [
            &mut self.tenants,
            &mut self.environments,
            &mut self.principals,
            &mut self.grants,
            &mut self.tokens,
            &mut self.policies,
            &mut self.tenant_names,
            &mut self.environment_names,
            &mut self.principal_names,
        ]
    }

    /// Every tenant, by name.
    pub fn tenants(&self) -> Vec<&Tenant> {
        self.tenants_after(None, usize::MAX)
    }

    /// At most `limit` tenants after the one called `after`, by name: a page of the name
    /// index, so a page costs the same among a million tenants.
    pub fn tenants_after(&self, after: Option<&Name>, limit: usize) -> Vec<&Tenant> {
        self.tenant_names
            .page(after, limit)
            .filter_map(|(_, id)| self.tenants.get(id))
            .collect()
    }

    /// The tenant called `name`.
    pub fn tenant(&self, name: &Name) -> Option<&Tenant> {
        self.tenants.get(self.tenant_names.get(name)?)
    }

    /// The tenant with this id.
    pub fn tenant_by_id(&self, id: TenantId) -> Option<&Tenant> {
        self.tenants.get(&id)
    }

    /// A tenant's environments, by name: a group of the name index (kept by tenant, then
    /// name), so a tenant's few cost the same among a million others.
    pub fn environments(&self, tenant: TenantId) -> Vec<&Environment> {
        self.environment_names
            .group(&(tenant, smallest_name()))
            .filter_map(|(_, id)| self.environments.get(id))
            .collect()
    }

    /// The environment `name` of `tenant`.
    pub fn environment(&self, tenant: TenantId, name: &Name) -> Option<&Environment> {
        let id = self.environment_names.get(&(tenant, name.clone()))?;
        self.environments.get(id)
    }

    /// The environment with this id.
    pub fn environment_by_id(&self, id: EnvironmentId) -> Option<&Environment> {
        self.environments.get(&id)
    }

    /// A tenant's principals, by name (a range of the name index, as for environments).
    pub fn principals(&self, tenant: TenantId) -> Vec<&Principal> {
        self.principal_names
            .group(&(tenant, smallest_name()))
            .filter_map(|(_, id)| self.principals.get(id))
            .collect()
    }

    /// The principal `name` of `tenant`.
    pub fn principal(&self, tenant: TenantId, name: &Name) -> Option<&Principal> {
        let id = self.principal_names.get(&(tenant, name.clone()))?;
        self.principals.get(id)
    }

    /// The principal with this id.
    pub fn principal_by_id(&self, id: PrincipalId) -> Option<&Principal> {
        self.principals.get(&id)
    }

    /// The roles `principal` holds, with their targets: a range of the grants, which are kept
    /// by principal first.
    pub fn grants_of(&self, principal: PrincipalId) -> Vec<(Role, Target)> {
        let first = (
            principal,
            Role::EnvironmentMaker,
            Target::Environment(EnvironmentId::NIL),
        );
        self.grants
            .group(&first)
            .map(|(&(_, role, target), _)| (role, target))
            .collect()
    }

    /// Whether `principal` holds `role` on `target`.
    pub fn has_grant(&self, principal: PrincipalId, role: Role, target: Target) -> bool {
        self.grants.contains_key(&(principal, role, target))
    }

    /// What `environment` imports (the default: anything, no key trusted).
    pub fn policy(&self, environment: EnvironmentId) -> std::borrow::Cow<'_, ImportPolicy> {
        match self.policies.get(&environment) {
            Some(policy) => std::borrow::Cow::Borrowed(policy),
            None => std::borrow::Cow::Owned(ImportPolicy::default()),
        }
    }

    /// The token with this id.
    pub fn token(&self, id: TokenId) -> Option<&Token> {
        self.tokens.get(&id)
    }

    /// Every token, oldest first (ids are time-ordered).
    pub fn tokens(&self) -> impl Iterator<Item = &Token> {
        self.tokens.values()
    }
}

/// The least valid name ("0": names start with a digit or a letter, and `'0'` sorts first), the
/// start of a tenant's range in the name indexes.
fn smallest_name() -> Name {
    Name::new("0").unwrap_or_else(|_| unreachable!("\"0\" is a valid name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_schemas::directory::{
        EnvironmentCreated, GrantGiven, PrincipalCreated, TenantCreated,
    };

    #[test]
    fn a_tenants_environments_principals_and_grants_are_its_own_by_name_among_many() {
        let mut state = State::default();
        let name = |n: &str| Name::new(n).unwrap();
        let tenants: Vec<TenantId> = (0..50).map(|_| TenantId::new()).collect();
        let mut expected: BTreeMap<TenantId, (Vec<String>, Vec<String>)> = BTreeMap::new();
        let mut someone = None;
        for (i, &tenant) in tenants.iter().enumerate() {
            state.apply(&Event::from(TenantCreated {
                tenant,
                name: name(&format!("t{i}")),
            }));
            // Names in an order that is not their sorted one, "0" (the least name) among them.
            for env in ["prod", "0", "dev", "9z"] {
                state.apply(&Event::from(EnvironmentCreated {
                    environment: EnvironmentId::new(),
                    tenant,
                    name: name(env),
                    default: env == "dev",
                }));
            }
            for user in ["zed", "ann", "0"] {
                let principal = PrincipalId::new();
                state.apply(&Event::from(PrincipalCreated {
                    principal,
                    tenant,
                    name: name(user),
                    license: License::Plan2,
                }));
                for target in [
                    Target::Tenant(tenant),
                    Target::Environment(EnvironmentId::NIL),
                ] {
                    state.apply(&Event::from(GrantGiven {
                        principal,
                        role: Role::Auditor,
                        target,
                    }));
                }
                someone.get_or_insert((principal, tenant));
            }
            expected.insert(
                tenant,
                (
                    ["0", "9z", "dev", "prod"].map(String::from).to_vec(),
                    ["0", "ann", "zed"].map(String::from).to_vec(),
                ),
            );
        }
        for (&tenant, (envs, users)) in &expected {
            let got: Vec<String> = state
                .environments(tenant)
                .iter()
                .inspect(|e| assert_eq!(e.tenant, tenant))
                .map(|e| e.name.to_string())
                .collect();
            assert_eq!(&got, envs);
            let got: Vec<String> = state
                .principals(tenant)
                .iter()
                .inspect(|p| assert_eq!(p.tenant, tenant))
                .map(|p| p.name.to_string())
                .collect();
            assert_eq!(&got, users);
        }
        let (principal, tenant) = someone.unwrap();
        assert_eq!(
            state.grants_of(principal),
            vec![
                (Role::Auditor, Target::Environment(EnvironmentId::NIL)),
                (Role::Auditor, Target::Tenant(tenant)),
            ]
        );
        assert!(state.environments(TenantId::new()).is_empty());
        assert!(state.grants_of(PrincipalId::new()).is_empty());
    }
}
