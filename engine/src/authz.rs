//! Who may do what: the permission rules of the packaging model, as pure checks over the
//! directory and the environments' contents.
//!
//! - Export: a license, and `can-edit` or `owner` on the app (its owner counts as `owner`).
//! - Import, answer, start, author in an environment: a license, and `environment-maker` or
//!   `environment-admin` on it — which may be another tenant's environment, if granted there.
//! - Publish: a license, and `environment-maker`/`environment-admin` on the environment or
//!   `owner` of the resource.
//!
//! The platform operator (whoever holds the data directory) is not checked here: commands run
//! without `--as` are the operator's, and are recorded as such.

use ferry_schemas::directory::{Role, Target};
use ferry_schemas::{EnvironmentId, PrincipalId};

use crate::directory::State;
use crate::environment::Resource;

/// A refused permission, saying what is missing and how to get it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No such principal.
    #[error("no user with id {0}")]
    UnknownUser(PrincipalId),
    /// The user has no license.
    #[error("{user} has no license; {what} needs plan2 or plan2-trial: the operator gives one with `ferry user set-license {user} plan2`")]
    NoLicense {
        /// `tenant/user`.
        user: String,
        /// What was attempted.
        what: &'static str,
    },
    /// The user lacks a role.
    #[error(
        "{user} may not {what}: it needs {needed} on {target} (ask the operator for {first} there)"
    )]
    MissingRole {
        /// `tenant/user`.
        user: String,
        /// What was attempted.
        what: &'static str,
        /// The roles that would allow it, in words.
        needed: &'static str,
        /// The role to grant.
        first: &'static str,
        /// The target, as the CLI names it.
        target: String,
    },
}

/// The action checked, in words for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Export an app.
    Export,
    /// Import into an environment (and answer, start).
    Import,
    /// Create resources in an environment.
    Author,
    /// Publish a draft.
    Publish,
}

impl Action {
    fn words(self) -> &'static str {
        match self {
            Action::Export => "export this app",
            Action::Import => "import into this environment",
            Action::Author => "create resources in this environment",
            Action::Publish => "publish this draft",
        }
    }
}

/// Names for messages: `tenant/user`, `tenant/env`, `tenant/env/app`.
fn user_name(directory: &State, principal: PrincipalId) -> Result<String, Denied> {
    let p = directory
        .principal_by_id(principal)
        .ok_or(Denied::UnknownUser(principal))?;
    let tenant = directory
        .tenant_by_id(p.tenant)
        .map_or_else(|| "?".to_owned(), |t| t.name.to_string());
    Ok(format!("{tenant}/{}", p.name))
}

fn environment_name(directory: &State, environment: EnvironmentId) -> String {
    directory.environment_by_id(environment).map_or_else(
        || environment.to_string(),
        |e| {
            let tenant = directory
                .tenant_by_id(e.tenant)
                .map_or_else(|| "?".to_owned(), |t| t.name.to_string());
            format!("{tenant}/{}", e.name)
        },
    )
}

fn licensed(directory: &State, principal: PrincipalId, action: Action) -> Result<String, Denied> {
    let user = user_name(directory, principal)?;
    let licensed = directory
        .principal_by_id(principal)
        .is_some_and(|p| p.license.is_licensed());
    if licensed {
        Ok(user)
    } else {
        Err(Denied::NoLicense {
            user,
            what: action.words(),
        })
    }
}

fn maker(directory: &State, principal: PrincipalId, environment: EnvironmentId) -> bool {
    let target = Target::Environment(environment);
    directory.has_grant(principal, Role::EnvironmentMaker, target)
        || directory.has_grant(principal, Role::EnvironmentAdmin, target)
}

/// May `principal` import into, answer, start in, or author in `environment`?
pub fn environment(
    directory: &State,
    principal: PrincipalId,
    environment: EnvironmentId,
    action: Action,
) -> Result<(), Denied> {
    let user = licensed(directory, principal, action)?;
    if maker(directory, principal, environment) {
        return Ok(());
    }
    Err(Denied::MissingRole {
        user,
        what: action.words(),
        needed: "environment-maker or environment-admin",
        first: "environment-maker",
        target: environment_name(directory, environment),
    })
}

/// May `principal` export `app`?
pub fn export(directory: &State, principal: PrincipalId, app: &Resource) -> Result<(), Denied> {
    let user = licensed(directory, principal, Action::Export)?;
    let target = Target::App(app.id);
    if app.owner == Some(principal)
        || directory.has_grant(principal, Role::Owner, target)
        || directory.has_grant(principal, Role::CanEdit, target)
    {
        return Ok(());
    }
    Err(Denied::MissingRole {
        user,
        what: Action::Export.words(),
        needed: "can-edit or owner",
        first: "can-edit",
        target: format!(
            "{}/{}",
            environment_name(directory, app.environment),
            app.name
        ),
    })
}

/// May `principal` publish the draft of `resource`?
pub fn publish(
    directory: &State,
    principal: PrincipalId,
    resource: &Resource,
) -> Result<(), Denied> {
    let user = licensed(directory, principal, Action::Publish)?;
    if maker(directory, principal, resource.environment)
        || resource.owner == Some(principal)
        || directory.has_grant(principal, Role::Owner, Target::App(resource.id))
    {
        return Ok(());
    }
    Err(Denied::MissingRole {
        user,
        what: Action::Publish.words(),
        needed: "environment-maker on its environment, or owner of it",
        first: "environment-maker",
        target: environment_name(directory, resource.environment),
    })
}

/// May `user` (none: the operator) bind `connection` — in an answer or in a flow it authors?
/// A connection owned by another user is theirs to share, not anyone's to use.
pub fn may_bind(user: Option<PrincipalId>, connection: &Resource) -> bool {
    match (user, connection.owner) {
        (None, _) | (_, None) => true,
        (Some(user), Some(owner)) => user == owner,
    }
}

/// May `principal` see `environment` and what it holds? Users of its tenant, and users of
/// another tenant who hold a maker or admin role on it. What a user may not see does not
/// exist for them: refusals say "no such environment", never "not allowed".
pub fn sees(
    directory: &State,
    principal: PrincipalId,
    environment: &crate::directory::Environment,
) -> bool {
    directory
        .principal_by_id(principal)
        .is_some_and(|p| p.tenant == environment.tenant)
        || maker(directory, principal, environment.id)
}
