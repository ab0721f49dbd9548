//! Directory commands and the pure decision that turns each into events or a rejection.

use chrono::{DateTime, Utc};
use ferry_schemas::directory::{
    EnvironmentCreated, GrantGiven, GrantRevoked, License, LicenseSet, Name, PolicySet,
    PrincipalCreated, Role, Scope, SignerDistrusted, SignerTrusted, Target, TenantCreated,
    TokenIssued, TokenRevoked,
};
use ferry_schemas::event::Event;
use ferry_schemas::{Digest, EnvironmentId, PrincipalId, ResourceId, TenantId, TokenId};

use super::State;

/// A grant's target as the operator names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetRef {
    /// `<tenant>/<environment>`.
    Environment {
        /// The environment's tenant.
        tenant: Name,
        /// The environment.
        name: Name,
    },
    /// `<tenant>`.
    Tenant(Name),
    /// `<tenant>/<environment>/<app>`: an app the caller resolved in the environment's
    /// contents (the directory does not hold apps).
    App {
        /// The tenant whose environment holds the app.
        tenant: Name,
        /// The app.
        id: ResourceId,
        /// How the operator named it, for messages.
        described: String,
    },
}

/// A change to the directory, asked for by the platform operator. New ids are minted by the
/// caller, so deciding stays pure and replayable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `ferry tenant create <name>`.
    CreateTenant {
        /// The id the new tenant gets.
        id: TenantId,
        /// Its name.
        name: Name,
    },
    /// `ferry env create <tenant>/<name> [--default]`.
    CreateEnvironment {
        /// The id the new environment gets.
        id: EnvironmentId,
        /// Its tenant.
        tenant: Name,
        /// Its name.
        name: Name,
        /// Make it the tenant's default environment.
        default: bool,
    },
    /// `ferry user create <tenant>/<name> --license <license>`.
    CreateUser {
        /// The id the new principal gets.
        id: PrincipalId,
        /// Its tenant.
        tenant: Name,
        /// Its name.
        name: Name,
        /// Its license.
        license: License,
    },
    /// `ferry user set-license <tenant>/<name> <license>`.
    SetLicense {
        /// Its tenant.
        tenant: Name,
        /// The user.
        name: Name,
        /// The license they hold from now on.
        license: License,
    },
    /// `ferry grant <tenant>/<user> <role> <target>`.
    Grant {
        /// The user's tenant.
        tenant: Name,
        /// The user.
        user: Name,
        /// The role.
        role: Role,
        /// What the role applies to.
        target: TargetRef,
    },
    /// `ferry revoke <tenant>/<user> <role> <target>`.
    Revoke {
        /// The user's tenant.
        tenant: Name,
        /// The user.
        user: Name,
        /// The role.
        role: Role,
        /// What the role applied to.
        target: TargetRef,
    },
    /// `ferry token create [<tenant>/<user> | --operator]`: the caller minted the token and
    /// passes only its hash.
    IssueToken {
        /// The token's id.
        id: TokenId,
        /// The user it proves, `(tenant, user)`; none: the platform operator.
        user: Option<(Name, Name)>,
        /// SHA-256 of the token.
        hash: Digest,
        /// Now.
        issued_at: DateTime<Utc>,
        /// When it stops being accepted.
        expires_at: Option<DateTime<Utc>>,
    },
    /// `ferry token revoke <id>`.
    RevokeToken {
        /// The token.
        id: TokenId,
        /// Now.
        revoked_at: DateTime<Utc>,
    },
    /// `ferry trust add <tenant>/<environment> <key> [--name N]`.
    Trust {
        /// The environment's tenant.
        tenant: Name,
        /// The environment.
        environment: Name,
        /// The public key, 64 hex digits.
        key: String,
        /// What the key is called.
        name: String,
    },
    /// `ferry trust remove <tenant>/<environment> <key>`.
    Distrust {
        /// The environment's tenant.
        tenant: Name,
        /// The environment.
        environment: Name,
        /// The public key.
        key: String,
    },
    /// `ferry env policy <tenant>/<environment> --require-signed | --allow-unsigned`.
    SetPolicy {
        /// The environment's tenant.
        tenant: Name,
        /// The environment.
        environment: Name,
        /// Only packages signed by a trusted key.
        require_signed: bool,
    },
}

/// Why the directory refuses a command. Show it to the operator: each says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The tenant name is taken.
    #[error("tenant {0} already exists; pick another name")]
    TenantExists(Name),
    /// No such tenant.
    #[error("no tenant named {0}")]
    NoSuchTenant(Name),
    /// The environment name is taken in that tenant.
    #[error("environment {tenant}/{name} already exists; pick another name")]
    EnvironmentExists {
        /// The tenant.
        tenant: Name,
        /// The environment.
        name: Name,
    },
    /// The tenant already has a default environment.
    #[error(
        "tenant {tenant} already has a default environment ({existing}); a tenant has at most one"
    )]
    DefaultEnvironmentExists {
        /// The tenant.
        tenant: Name,
        /// Its default environment.
        existing: Name,
    },
    /// No such environment.
    #[error("no environment {tenant}/{name}")]
    NoSuchEnvironment {
        /// The tenant.
        tenant: Name,
        /// The environment.
        name: Name,
    },
    /// The user name is taken in that tenant.
    #[error("user {tenant}/{name} already exists; pick another name")]
    UserExists {
        /// The tenant.
        tenant: Name,
        /// The user.
        name: Name,
    },
    /// No such user.
    #[error("no user {tenant}/{name}")]
    NoSuchUser {
        /// The tenant.
        tenant: Name,
        /// The user.
        name: Name,
    },
    /// The role does not apply to that kind of target.
    #[error("role {role} applies to {expected}, not to {given}")]
    WrongTarget {
        /// The role.
        role: Role,
        /// What it applies to.
        expected: &'static str,
        /// What was given.
        given: &'static str,
    },
    /// Granting again what is already granted.
    #[error("{user} already holds {role} on {target}")]
    AlreadyGranted {
        /// The user, `tenant/name`.
        user: String,
        /// The role.
        role: Role,
        /// The target, as given.
        target: String,
    },
    /// Revoking what was never granted.
    #[error("{user} does not hold {role} on {target}")]
    NotGranted {
        /// The user, `tenant/name`.
        user: String,
        /// The role.
        role: Role,
        /// The target, as given.
        target: String,
    },
    /// Only environment roles cross a tenant boundary.
    #[error("{role} on {target} would cross from tenant {user_tenant} to {target_tenant}; only environment roles may be granted on another tenant's environment")]
    CrossTenant {
        /// The role.
        role: Role,
        /// The target, as given.
        target: String,
        /// The user's tenant.
        user_tenant: Name,
        /// The target's tenant.
        target_tenant: Name,
    },
    /// No such token.
    #[error("no token {0}")]
    NoSuchToken(TokenId),
    /// The token was revoked already.
    #[error("token {0} is already revoked")]
    TokenAlreadyRevoked(TokenId),
    /// A token with this id exists (ids are minted fresh: a repeat of the same request).
    #[error("token {0} already exists")]
    TokenExists(TokenId),
    /// Not an ed25519 public key.
    #[error("{0:?} is not a signing key: a public key is 64 hex digits, as `ferry package keygen` prints it")]
    BadKey(String),
    /// The key is trusted there already.
    #[error("key {key} is already trusted in {environment}")]
    AlreadyTrusted {
        /// The key.
        key: String,
        /// `tenant/environment`.
        environment: String,
    },
    /// The key is not trusted there.
    #[error("key {key} is not trusted in {environment}")]
    NotTrusted {
        /// The key.
        key: String,
        /// `tenant/environment`.
        environment: String,
    },
}

impl Rejection {
    /// Whether the refusal is about something that already exists (a conflict), rather than
    /// input that does not fit.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Rejection::TenantExists(_)
                | Rejection::EnvironmentExists { .. }
                | Rejection::DefaultEnvironmentExists { .. }
                | Rejection::UserExists { .. }
                | Rejection::AlreadyGranted { .. }
                | Rejection::TokenAlreadyRevoked(_)
                | Rejection::AlreadyTrusted { .. }
        )
    }

    /// Whether the refusal says that something named does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Rejection::NoSuchTenant(_)
                | Rejection::NoSuchEnvironment { .. }
                | Rejection::NoSuchUser { .. }
                | Rejection::NoSuchToken(_)
                | Rejection::NotTrusted { .. }
        )
    }
}

/// Decides a command against the directory as it stands.
pub fn decide(state: &State, command: Command) -> Result<Vec<Event>, Rejection> {
    match command {
        Command::CreateTenant { id, name } => {
            if state.tenant(&name).is_some() {
                return Err(Rejection::TenantExists(name));
            }
            Ok(vec![TenantCreated { tenant: id, name }.into()])
        }
        Command::CreateEnvironment {
            id,
            tenant,
            name,
            default,
        } => {
            let t = state
                .tenant(&tenant)
                .ok_or_else(|| Rejection::NoSuchTenant(tenant.clone()))?;
            if state.environment(t.id, &name).is_some() {
                return Err(Rejection::EnvironmentExists { tenant, name });
            }
            if let Some(existing) = state.environments(t.id).into_iter().find(|e| e.default) {
                if default {
                    return Err(Rejection::DefaultEnvironmentExists {
                        tenant,
                        existing: existing.name.clone(),
                    });
                }
            }
            Ok(vec![EnvironmentCreated {
                environment: id,
                tenant: t.id,
                name,
                default,
            }
            .into()])
        }
        Command::CreateUser {
            id,
            tenant,
            name,
            license,
        } => {
            let t = state
                .tenant(&tenant)
                .ok_or_else(|| Rejection::NoSuchTenant(tenant.clone()))?;
            if state.principal(t.id, &name).is_some() {
                return Err(Rejection::UserExists { tenant, name });
            }
            Ok(vec![PrincipalCreated {
                principal: id,
                tenant: t.id,
                name,
                license,
            }
            .into()])
        }
        Command::SetLicense {
            tenant,
            name,
            license,
        } => {
            let t = state
                .tenant(&tenant)
                .ok_or_else(|| Rejection::NoSuchTenant(tenant.clone()))?;
            let user = state
                .principal(t.id, &name)
                .ok_or(Rejection::NoSuchUser { tenant, name })?;
            // Already so: nothing to record, as `kubectl apply` of what is there.
            if user.license == license {
                return Ok(Vec::new());
            }
            Ok(vec![LicenseSet {
                principal: user.id,
                license,
            }
            .into()])
        }
        Command::Grant {
            tenant,
            user,
            role,
            target,
        } => {
            let (principal, target, described) = resolve(state, &tenant, &user, role, &target)?;
            if state.has_grant(principal, role, target) {
                return Err(Rejection::AlreadyGranted {
                    user: format!("{tenant}/{user}"),
                    role,
                    target: described,
                });
            }
            Ok(vec![GrantGiven {
                principal,
                role,
                target,
            }
            .into()])
        }
        Command::Revoke {
            tenant,
            user,
            role,
            target,
        } => {
            let (principal, target, described) = resolve(state, &tenant, &user, role, &target)?;
            if !state.has_grant(principal, role, target) {
                return Err(Rejection::NotGranted {
                    user: format!("{tenant}/{user}"),
                    role,
                    target: described,
                });
            }
            Ok(vec![GrantRevoked {
                principal,
                role,
                target,
            }
            .into()])
        }
        Command::IssueToken {
            id,
            user,
            hash,
            issued_at,
            expires_at,
        } => {
            if state.token(id).is_some() {
                return Err(Rejection::TokenExists(id));
            }
            let principal = match user {
                None => None,
                Some((tenant, name)) => {
                    let t = state
                        .tenant(&tenant)
                        .ok_or_else(|| Rejection::NoSuchTenant(tenant.clone()))?;
                    let p = state
                        .principal(t.id, &name)
                        .ok_or(Rejection::NoSuchUser { tenant, name })?;
                    Some(p.id)
                }
            };
            Ok(vec![TokenIssued {
                token: id,
                principal,
                hash,
                issued_at,
                expires_at,
            }
            .into()])
        }
        Command::RevokeToken { id, revoked_at } => {
            let token = state.token(id).ok_or(Rejection::NoSuchToken(id))?;
            if token.revoked_at.is_some() {
                return Err(Rejection::TokenAlreadyRevoked(id));
            }
            Ok(vec![TokenRevoked {
                token: id,
                revoked_at,
            }
            .into()])
        }
        Command::Trust {
            tenant,
            environment,
            key,
            name,
        } => {
            let env = environment_named(state, &tenant, &environment)?;
            let key = public_key(&key)?;
            if state.policy(env).trusted.contains_key(&key) {
                return Err(Rejection::AlreadyTrusted {
                    key,
                    environment: format!("{tenant}/{environment}"),
                });
            }
            let name = if name.trim().is_empty() {
                key.chars().take(16).collect()
            } else {
                name
            };
            Ok(vec![SignerTrusted {
                environment: env,
                key,
                name,
            }
            .into()])
        }
        Command::Distrust {
            tenant,
            environment,
            key,
        } => {
            let env = environment_named(state, &tenant, &environment)?;
            let key = key.trim().to_ascii_lowercase();
            if !state.policy(env).trusted.contains_key(&key) {
                return Err(Rejection::NotTrusted {
                    key,
                    environment: format!("{tenant}/{environment}"),
                });
            }
            Ok(vec![SignerDistrusted {
                environment: env,
                key,
            }
            .into()])
        }
        Command::SetPolicy {
            tenant,
            environment,
            require_signed,
        } => {
            let env = environment_named(state, &tenant, &environment)?;
            Ok(vec![PolicySet {
                environment: env,
                require_signed,
            }
            .into()])
        }
    }
}

/// The id of environment `tenant/name`.
fn environment_named(
    state: &State,
    tenant: &Name,
    name: &Name,
) -> Result<EnvironmentId, Rejection> {
    let t = state
        .tenant(tenant)
        .ok_or_else(|| Rejection::NoSuchTenant(tenant.clone()))?;
    state
        .environment(t.id, name)
        .map(|e| e.id)
        .ok_or_else(|| Rejection::NoSuchEnvironment {
            tenant: tenant.clone(),
            name: name.clone(),
        })
}

/// A public key as Ferry writes it: 64 lowercase hex digits of a valid ed25519 point.
fn public_key(text: &str) -> Result<String, Rejection> {
    let key = text.trim().to_ascii_lowercase();
    let bytes: Option<[u8; 32]> = hex::decode(&key).ok().and_then(|b| b.try_into().ok());
    match bytes.map(|b| ed25519_dalek::VerifyingKey::from_bytes(&b)) {
        Some(Ok(_)) => Ok(key),
        _ => Err(Rejection::BadKey(
            crate::untrusted::excerpt(text).into_owned(),
        )),
    }
}

/// Finds the grant's principal and target, checking the target fits the role.
fn resolve(
    state: &State,
    tenant: &Name,
    user: &Name,
    role: Role,
    target: &TargetRef,
) -> Result<(PrincipalId, Target, String), Rejection> {
    let t = state
        .tenant(tenant)
        .ok_or_else(|| Rejection::NoSuchTenant(tenant.clone()))?;
    let principal = state
        .principal(t.id, user)
        .ok_or_else(|| Rejection::NoSuchUser {
            tenant: tenant.clone(),
            name: user.clone(),
        })?;
    let wrong = |given| Rejection::WrongTarget {
        role,
        expected: match role.scope() {
            Scope::Environment => "an environment (<tenant>/<environment>)",
            Scope::App => "an app (<tenant>/<environment>/<app>)",
            Scope::Tenant => "a tenant (<tenant>)",
        },
        given,
    };
    match (role.scope(), target) {
        (Scope::Environment, TargetRef::Environment { tenant, name }) => {
            let owner = state
                .tenant(tenant)
                .ok_or_else(|| Rejection::NoSuchTenant(tenant.clone()))?;
            let env =
                state
                    .environment(owner.id, name)
                    .ok_or_else(|| Rejection::NoSuchEnvironment {
                        tenant: tenant.clone(),
                        name: name.clone(),
                    })?;
            Ok((
                principal.id,
                Target::Environment(env.id),
                format!("{tenant}/{name}"),
            ))
        }
        (
            Scope::App,
            TargetRef::App {
                tenant: owner,
                id,
                described,
            },
        ) => {
            same_tenant(role, tenant, owner, described)?;
            Ok((principal.id, Target::App(*id), described.clone()))
        }
        (Scope::Tenant, TargetRef::Tenant(name)) => {
            let target = state
                .tenant(name)
                .ok_or_else(|| Rejection::NoSuchTenant(name.clone()))?;
            same_tenant(role, tenant, name, name.as_str())?;
            Ok((principal.id, Target::Tenant(target.id), name.to_string()))
        }
        (_, TargetRef::Environment { .. }) => Err(wrong("an environment")),
        (_, TargetRef::Tenant(_)) => Err(wrong("a tenant")),
        (_, TargetRef::App { .. }) => Err(wrong("an app")),
    }
}

/// App and tenant roles stay inside the user's tenant.
fn same_tenant(role: Role, user: &Name, target: &Name, described: &str) -> Result<(), Rejection> {
    if user == target {
        return Ok(());
    }
    Err(Rejection::CrossTenant {
        role,
        target: described.to_owned(),
        user_tenant: user.clone(),
        target_tenant: target.clone(),
    })
}

#[cfg(test)]
mod tests;
