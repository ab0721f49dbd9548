//! Given a directory, when a command is decided, then these events or that rejection.

use ferry_schemas::directory::{GrantGiven, License, Name, Role, Target};
use ferry_schemas::event::Event;
use ferry_schemas::{EnvironmentId, PrincipalId, TenantId};

use super::super::State;
use super::{decide, Command, Rejection, TargetRef};

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

/// Applies each command's events in turn; panics on a rejection.
fn given(commands: Vec<Command>) -> State {
    let mut state = State::default();
    for command in commands {
        for event in decide(&state, command).unwrap() {
            state.apply(&event);
        }
    }
    state
}

fn tenant(n: &str) -> Command {
    Command::CreateTenant {
        id: TenantId::new(),
        name: name(n),
    }
}

fn env(t: &str, n: &str, default: bool) -> Command {
    Command::CreateEnvironment {
        id: EnvironmentId::new(),
        tenant: name(t),
        name: name(n),
        default,
    }
}

fn user(t: &str, n: &str) -> Command {
    Command::CreateUser {
        id: PrincipalId::new(),
        tenant: name(t),
        name: name(n),
        license: License::Plan2,
    }
}

fn grant(t: &str, u: &str, role: Role, target: TargetRef) -> Command {
    Command::Grant {
        tenant: name(t),
        user: name(u),
        role,
        target,
    }
}

fn env_ref(t: &str, e: &str) -> TargetRef {
    TargetRef::Environment {
        tenant: name(t),
        name: name(e),
    }
}

#[test]
fn a_tenant_name_is_taken_once() {
    let state = given(vec![tenant("acme")]);
    assert_eq!(
        decide(&state, tenant("acme")),
        Err(Rejection::TenantExists(name("acme")))
    );
}

#[test]
fn a_tenant_has_at_most_one_default_environment() {
    let state = given(vec![tenant("acme"), env("acme", "prod", true)]);
    assert_eq!(
        decide(&state, env("acme", "dev", true)),
        Err(Rejection::DefaultEnvironmentExists {
            tenant: name("acme"),
            existing: name("prod")
        })
    );
    assert!(decide(&state, env("acme", "dev", false)).is_ok());
}

#[test]
fn environments_and_users_need_their_tenant() {
    let state = State::default();
    assert_eq!(
        decide(&state, env("ghost", "prod", false)),
        Err(Rejection::NoSuchTenant(name("ghost")))
    );
    assert_eq!(
        decide(&state, user("ghost", "ann")),
        Err(Rejection::NoSuchTenant(name("ghost")))
    );
}

#[test]
fn a_user_may_be_granted_a_role_on_another_tenants_environment() {
    let state = given(vec![
        tenant("vendor"),
        tenant("customer"),
        env("customer", "prod", true),
        user("vendor", "ops"),
    ]);
    let events = decide(
        &state,
        grant(
            "vendor",
            "ops",
            Role::EnvironmentMaker,
            env_ref("customer", "prod"),
        ),
    )
    .unwrap();
    let Event::GrantGiven(given) = &events[0] else {
        panic!("expected GrantGiven, got {events:?}");
    };
    let prod = state.tenant(&name("customer")).unwrap().id;
    let prod = state.environment(prod, &name("prod")).unwrap().id;
    assert_eq!(given.target, Target::Environment(prod));
}

#[test]
fn a_role_only_applies_to_its_kind_of_target() {
    let state = given(vec![
        tenant("acme"),
        env("acme", "prod", false),
        user("acme", "ann"),
    ]);
    let rejected = decide(
        &state,
        grant("acme", "ann", Role::Auditor, env_ref("acme", "prod")),
    );
    assert!(matches!(
        rejected,
        Err(Rejection::WrongTarget {
            role: Role::Auditor,
            ..
        })
    ));
    let rejected = decide(
        &state,
        grant(
            "acme",
            "ann",
            Role::EnvironmentMaker,
            TargetRef::Tenant(name("acme")),
        ),
    );
    assert!(matches!(rejected, Err(Rejection::WrongTarget { .. })));
}

#[test]
fn granting_twice_or_revoking_what_was_never_granted_is_refused() {
    let make = || {
        grant(
            "acme",
            "ann",
            Role::EnvironmentMaker,
            env_ref("acme", "prod"),
        )
    };
    let state = given(vec![
        tenant("acme"),
        env("acme", "prod", false),
        user("acme", "ann"),
        make(),
    ]);
    assert!(matches!(
        decide(&state, make()),
        Err(Rejection::AlreadyGranted { .. })
    ));

    let revoke = || Command::Revoke {
        tenant: name("acme"),
        user: name("ann"),
        role: Role::EnvironmentMaker,
        target: env_ref("acme", "prod"),
    };
    let mut state = state;
    for event in decide(&state, revoke()).unwrap() {
        state.apply(&event);
    }
    let ann = state
        .principal(state.tenant(&name("acme")).unwrap().id, &name("ann"))
        .unwrap();
    assert!(state.grants_of(ann.id).is_empty());
    assert!(matches!(
        decide(&state, revoke()),
        Err(Rejection::NotGranted { .. })
    ));
}

#[test]
fn app_roles_take_an_app_and_only_app_roles_do() {
    let state = given(vec![tenant("acme"), tenant("other"), user("acme", "ann")]);
    let app = TargetRef::App {
        tenant: name("acme"),
        id: ferry_schemas::ResourceId::new(),
        described: "acme/prod/expenses".into(),
    };
    let events = decide(&state, grant("acme", "ann", Role::CanEdit, app.clone())).unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event::GrantGiven(GrantGiven {
            role: Role::CanEdit,
            target: Target::App(_),
            ..
        })]
    ));
    let rejected = decide(&state, grant("acme", "ann", Role::EnvironmentMaker, app));
    assert!(matches!(rejected, Err(Rejection::WrongTarget { .. })));
}

#[test]
fn only_environment_roles_cross_a_tenant_boundary() {
    let state = given(vec![tenant("acme"), tenant("other"), user("acme", "ann")]);
    let foreign_app = TargetRef::App {
        tenant: name("other"),
        id: ferry_schemas::ResourceId::new(),
        described: "other/prod/expenses".into(),
    };
    let rejected = decide(&state, grant("acme", "ann", Role::Owner, foreign_app));
    assert!(
        matches!(rejected, Err(Rejection::CrossTenant { .. })),
        "{rejected:?}"
    );
    let rejected = decide(
        &state,
        grant(
            "acme",
            "ann",
            Role::Auditor,
            TargetRef::Tenant(name("other")),
        ),
    );
    assert!(
        matches!(rejected, Err(Rejection::CrossTenant { .. })),
        "{rejected:?}"
    );
    let own = decide(
        &state,
        grant(
            "acme",
            "ann",
            Role::Auditor,
            TargetRef::Tenant(name("acme")),
        ),
    );
    assert!(own.is_ok(), "{own:?}");
}
