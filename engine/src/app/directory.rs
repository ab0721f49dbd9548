//! Directory use cases: tenants, environments, users and grants (the operator's), the lists
//! every caller may read within their tenant, and who may see which environment.

use ferry_schemas::directory::{License, Name, Role, Target};
use ferry_schemas::resource::Kind;
use ferry_schemas::{EnvironmentId, PrincipalId, TenantId};

use super::suggest;
use super::views::{EnvironmentView, GrantHeld, GrantView, TenantView, UserView};
use super::{Caller, Error, Ferry, Qualified, Result};
use crate::directory::{self, Command, Environment, State, TargetRef, Tenant};
use crate::environment::Lookup;

/// `grant` / `revoke`: a role for a user on a target.
#[derive(Clone, Debug)]
pub struct GrantRequest {
    /// The user, `<tenant>/<user>`.
    pub user: Qualified,
    /// The role.
    pub role: Role,
    /// `<tenant>/<environment>` for environment roles (another tenant's too),
    /// `<tenant>/<environment>/<app id or name>` for app roles, `<tenant>` for auditor.
    pub target: String,
}

impl Ferry {
    /// The operator acting for `user` (`--as`): checked and recorded as that user. Only the
    /// operator may act for another.
    pub fn act_as(&self, caller: &Caller, user: &Qualified) -> Result<Caller> {
        if *caller != Caller::Operator {
            return Err(Error::new(
                super::Kind::Denied,
                "act-as-denied",
                "only the operator may act for another user",
            ));
        }
        self.directory(|state| user_named(state, user).map(Caller::User))?
    }

    /// `tenant create` (operator).
    pub fn create_tenant(&self, caller: &Caller, name: Name) -> Result<TenantView> {
        operator(caller, "create tenants")?;
        let id = TenantId::new();
        directory::execute(
            self.data_dir().log(),
            Command::CreateTenant {
                id,
                name: name.clone(),
            },
        )?;
        Ok(TenantView {
            id,
            name: name.to_string(),
            environments: 0,
            users: 0,
        })
    }

    /// `tenant list`: every tenant for the operator, their own for a user; by name, at most
    /// `limit` after the one called `after` (paging: the last name of the previous page).
    pub fn tenants(
        &self,
        caller: &Caller,
        after: Option<&Name>,
        limit: Option<usize>,
    ) -> Result<Vec<TenantView>> {
        let limit = limit.unwrap_or(usize::MAX);
        self.directory(|state| {
            let tenants = match caller {
                Caller::Operator => state.tenants_after(after, limit),
                Caller::User(_) => caller_tenant(state, *caller)
                    .and_then(|id| state.tenant_by_id(id))
                    .filter(|t| after.is_none_or(|after| t.name > *after) && limit > 0)
                    .into_iter()
                    .collect(),
            };
            tenants
                .into_iter()
                .map(|t| TenantView {
                    id: t.id,
                    name: t.name.to_string(),
                    environments: state.environments(t.id).len(),
                    users: state.principals(t.id).len(),
                })
                .collect()
        })
    }

    /// `env create` (operator).
    pub fn create_environment(
        &self,
        caller: &Caller,
        environment: &Qualified,
        default: bool,
    ) -> Result<EnvironmentView> {
        operator(caller, "create environments")?;
        let id = EnvironmentId::new();
        directory::execute(
            self.data_dir().log(),
            Command::CreateEnvironment {
                id,
                tenant: environment.tenant.clone(),
                name: environment.name.clone(),
                default,
            },
        )?;
        Ok(EnvironmentView {
            id,
            tenant: environment.tenant.to_string(),
            name: environment.name.to_string(),
            default,
        })
    }

    /// `env list <tenant>`: a user lists only their own tenant's.
    pub fn environments(&self, caller: &Caller, tenant: &Name) -> Result<Vec<EnvironmentView>> {
        self.directory(|state| {
            let t = visible_tenant(state, *caller, tenant)?;
            Ok(state
                .environments(t)
                .into_iter()
                .map(|e| EnvironmentView {
                    id: e.id,
                    tenant: tenant.to_string(),
                    name: e.name.to_string(),
                    default: e.default,
                })
                .collect())
        })?
    }

    /// `user create` (operator).
    pub fn create_user(
        &self,
        caller: &Caller,
        user: &Qualified,
        license: License,
    ) -> Result<UserView> {
        operator(caller, "create users")?;
        let id = PrincipalId::new();
        directory::execute(
            self.data_dir().log(),
            Command::CreateUser {
                id,
                tenant: user.tenant.clone(),
                name: user.name.clone(),
                license,
            },
        )?;
        Ok(UserView {
            id,
            tenant: user.tenant.to_string(),
            name: user.name.to_string(),
            license: license.as_str().to_owned(),
            grants: Vec::new(),
        })
    }

    /// `user set-license <tenant>/<user> <license>` (operator): the license the user holds
    /// from now on (what export and import need). Setting the one they hold records nothing.
    pub fn set_license(
        &self,
        caller: &Caller,
        user: &Qualified,
        license: License,
    ) -> Result<UserView> {
        operator(caller, "set licenses")?;
        self.directory(|state| user_named(state, user))??;
        directory::execute(
            self.data_dir().log(),
            Command::SetLicense {
                tenant: user.tenant.clone(),
                name: user.name.clone(),
                license,
            },
        )?;
        self.users(caller, &user.tenant)?
            .into_iter()
            .find(|u| u.name == user.name.as_str())
            .ok_or_else(|| Error::not_found("no-such-user", format!("no user {user}")))
    }

    /// `user list <tenant>`: a user lists only their own tenant's.
    pub fn users(&self, caller: &Caller, tenant: &Name) -> Result<Vec<UserView>> {
        self.directory(|state| {
            let t = visible_tenant(state, *caller, tenant)?;
            Ok(state
                .principals(t)
                .into_iter()
                .map(|p| UserView {
                    id: p.id,
                    tenant: tenant.to_string(),
                    name: p.name.to_string(),
                    license: p.license.as_str().to_owned(),
                    grants: state
                        .grants_of(p.id)
                        .into_iter()
                        .map(|(role, target)| GrantHeld {
                            role: role.as_str().to_owned(),
                            target: match target {
                                // Another tenant's environment is named only to those who
                                // may see it.
                                Target::Environment(id)
                                    if !state
                                        .environment_by_id(id)
                                        .is_some_and(|e| sees_environment(state, *caller, e)) =>
                                {
                                    "an environment of another tenant".to_owned()
                                }
                                _ => describe(state, target),
                            },
                        })
                        .collect(),
                })
                .collect())
        })?
    }

    /// `grant` (`revoke` false) or `revoke` (operator).
    pub fn grant(&self, caller: &Caller, request: GrantRequest, revoke: bool) -> Result<GrantView> {
        operator(caller, "give or take away roles")?;
        let target = self.target(&request.target)?;
        let (tenant, user, role) = (
            request.user.tenant.clone(),
            request.user.name.clone(),
            request.role,
        );
        let command = if revoke {
            Command::Revoke {
                tenant,
                user,
                role,
                target,
            }
        } else {
            Command::Grant {
                tenant,
                user,
                role,
                target,
            }
        };
        directory::execute(self.data_dir().log(), command)?;
        Ok(GrantView {
            action: if revoke { "revoked" } else { "granted" }.to_owned(),
            user: request.user.to_string(),
            role: role.as_str().to_owned(),
            target: request.target,
        })
    }

    /// A grant target as typed: `<t>/<e>/<app>`, `<t>/<e>` or `<t>`.
    fn target(&self, text: &str) -> Result<TargetRef> {
        let bad = |e: String| Error::invalid("bad-target", format!("target {e}"));
        match text.splitn(3, '/').collect::<Vec<_>>().as_slice() {
            [tenant, environment, app] => {
                let environment: Qualified =
                    format!("{tenant}/{environment}").parse().map_err(bad)?;
                let id = self.world(|w| {
                    let env = environment_named(&w.directory, Caller::Operator, &environment)?;
                    match w.contents.find(env.id, Some(Kind::App), app) {
                        Ok(found) => Ok(found.id),
                        Err(Lookup::Ambiguous(_)) => Err(Error::invalid(
                            "ambiguous-target",
                            format!("{app:?} names several apps in {environment}; use an id"),
                        )),
                        Err(Lookup::NotFound) => Err(Error::not_found(
                            "no-such-resource",
                            format!("no app {app:?} in {environment}"),
                        )),
                    }
                })??;
                Ok(TargetRef::App {
                    tenant: environment.tenant.clone(),
                    id,
                    described: text.to_owned(),
                })
            }
            [_, _] => {
                let q: Qualified = text.parse().map_err(bad)?;
                Ok(TargetRef::Environment {
                    tenant: q.tenant,
                    name: q.name,
                })
            }
            _ => Ok(TargetRef::Tenant(
                text.parse().map_err(|e| bad(format!("{e}")))?,
            )),
        }
    }
}

/// Refuses anyone but the operator.
pub(super) fn operator(caller: &Caller, what: &str) -> Result<()> {
    match caller {
        Caller::Operator => Ok(()),
        Caller::User(_) => Err(Error::operator_only(what)),
    }
}

/// The caller's own tenant (none for the operator).
pub(super) fn caller_tenant(state: &State, caller: Caller) -> Option<TenantId> {
    caller
        .principal()
        .and_then(|p| state.principal_by_id(p))
        .map(|p| p.tenant)
}

/// A tenant the caller may read: the operator any, a user their own.
pub(super) fn visible_tenant(state: &State, caller: Caller, name: &Name) -> Result<TenantId> {
    let not_found = || {
        let near = similar_tenants(state, caller, name);
        Error::not_found(
            "no-such-tenant",
            format!("no tenant named {name}{}", suggest::did_you_mean(&near)),
        )
    };
    let tenant = state.tenant(name).ok_or_else(not_found)?;
    match caller {
        Caller::Operator => Ok(tenant.id),
        Caller::User(_) if caller_tenant(state, caller) == Some(tenant.id) => Ok(tenant.id),
        Caller::User(_) => Err(not_found()),
    }
}

/// The tenants named like `typo` that the caller may see: any for the operator, their own for
/// a user.
fn similar_tenants(state: &State, caller: Caller, typo: &Name) -> Vec<String> {
    match caller {
        Caller::Operator => suggest::tenants(state, typo),
        Caller::User(_) => {
            let own = caller_tenant(state, caller).and_then(|t| state.tenant_by_id(t));
            suggest::nearest(typo.as_str(), own.map(|t| t.name.as_str()))
        }
    }
}

/// Whether the caller may see `environment` and what it holds: the operator; users of its
/// tenant; users of another tenant granted a role on it.
pub(super) fn sees_environment(state: &State, caller: Caller, environment: &Environment) -> bool {
    match caller {
        Caller::Operator => true,
        Caller::User(principal) => crate::authz::sees(state, principal, environment),
    }
}

/// The environment `<tenant>/<environment>`, if the caller may see it.
pub(super) fn environment_named<'s>(
    state: &'s State,
    caller: Caller,
    name: &Qualified,
) -> Result<&'s Environment> {
    state
        .tenant(&name.tenant)
        .and_then(|t| state.environment(t.id, &name.name))
        .filter(|e| sees_environment(state, caller, e))
        .ok_or_else(|| {
            let message = match caller {
                Caller::Operator => format!("no environment {name}"),
                // Whether it exists elsewhere is not the user's to learn.
                Caller::User(_) => format!(
                    "no environment {name} among those you may see (your tenant's, and those you hold a role on)"
                ),
            };
            let near = similar_environments(state, caller, name);
            let message = format!("{message}{}", suggest::did_you_mean(&near));
            Error::not_found("no-such-environment", message)
        })
}

/// The `<tenant>/<environment>` names like `name` that the caller may see: the environments of
/// its tenant named alike, or, where no tenant has that name, the same environment of the
/// tenants named alike.
fn similar_environments(state: &State, caller: Caller, name: &Qualified) -> Vec<String> {
    let visible = |tenant: &Tenant| -> Vec<String> {
        state
            .environments(tenant.id)
            .into_iter()
            .filter(|e| sees_environment(state, caller, e))
            .map(|e| format!("{}/{}", tenant.name, e.name))
            .collect()
    };
    let wanted = name.to_string();
    let candidates: Vec<String> = match state.tenant(&name.tenant) {
        Some(tenant) => visible(tenant),
        None => similar_tenants(state, caller, &name.tenant)
            .iter()
            .filter_map(|t| state.tenant(&Name::new(t).ok()?))
            .flat_map(visible)
            .collect(),
    };
    suggest::nearest(&wanted, candidates.iter().map(String::as_str))
}

/// The user `<tenant>/<user>`, or not found with the nearest names of its tenant.
fn user_named(state: &State, user: &Qualified) -> Result<PrincipalId> {
    if let Some(p) = state
        .tenant(&user.tenant)
        .and_then(|t| state.principal(t.id, &user.name))
    {
        return Ok(p.id);
    }
    let near = state
        .tenant(&user.tenant)
        .map(|t| {
            let names: Vec<_> = state
                .principals(t.id)
                .iter()
                .map(|p| format!("{}/{}", t.name, p.name))
                .collect();
            suggest::nearest(&user.to_string(), names.iter().map(String::as_str))
        })
        .unwrap_or_default();
    Err(Error::not_found(
        "no-such-user",
        format!("no user {user}{}", suggest::did_you_mean(&near)),
    ))
}

/// `<tenant>/<environment>` of an environment id, for messages and views.
pub(super) fn environment_label(state: &State, id: EnvironmentId) -> String {
    state
        .environment_by_id(id)
        .and_then(|e| Some(format!("{}/{}", state.tenant_by_id(e.tenant)?.name, e.name)))
        .unwrap_or_else(|| id.to_string())
}

/// `<tenant>/<user>` of a principal, or `operator`.
pub(super) fn principal_label(state: &State, principal: Option<PrincipalId>) -> String {
    match principal {
        None => "operator".to_owned(),
        Some(id) => state
            .principal_by_id(id)
            .and_then(|p| Some(format!("{}/{}", state.tenant_by_id(p.tenant)?.name, p.name)))
            .unwrap_or_else(|| id.to_string()),
    }
}

/// A grant target the way the operator names it.
fn describe(state: &State, target: Target) -> String {
    match target {
        Target::Environment(id) => environment_label(state, id),
        Target::Tenant(id) => state
            .tenant_by_id(id)
            .map_or_else(|| id.to_string(), |t| t.name.to_string()),
        Target::App(id) => format!("app {id}"),
    }
}
