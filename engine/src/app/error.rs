//! The application layer's one error: a [`Kind`] front-ends map (to exit codes, to HTTP
//! statuses), a stable `code` scripts match on, and a message that names the thing and the
//! problem. Hints on *which command to run* are the front-end's to add, by code.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::Serialize;

use crate::authz::Denied;
use crate::{data_dir, directory, environment, executor, log, migration, package};

/// What kind of failure it is: how a caller should react.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The request is wrong: fix it and ask again.
    InvalidInput,
    /// Something it names does not exist (or is not visible to the caller).
    NotFound,
    /// The request waits for input first (review items to answer).
    NeedsInput,
    /// No proof of identity, or one that is expired or revoked: present a valid token.
    Unauthenticated,
    /// The caller lacks the license or grant: ask for it.
    Denied,
    /// It conflicts with what exists or with the state it is in: look, then decide again.
    Conflict,
    /// A verification failed: the history does not check out.
    Tampered,
    /// Ferry cannot serve it now (the data directory is held, a broker is down): retry later.
    Unavailable,
    /// A failure that is not the request's fault (I/O, a bug): report it.
    Internal,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 9] = [
        Kind::InvalidInput,
        Kind::NotFound,
        Kind::NeedsInput,
        Kind::Unauthenticated,
        Kind::Denied,
        Kind::Conflict,
        Kind::Tampered,
        Kind::Unavailable,
        Kind::Internal,
    ];

    /// The kind named `name` (as [`Kind::as_str`] spells it).
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The kebab-case name, as in problem+json and `--json` errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::InvalidInput => "invalid-input",
            Kind::NotFound => "not-found",
            Kind::NeedsInput => "needs-input",
            Kind::Unauthenticated => "unauthenticated",
            Kind::Denied => "denied",
            Kind::Conflict => "conflict",
            Kind::Tampered => "tampered",
            Kind::Unavailable => "unavailable",
            Kind::Internal => "internal",
        }
    }
}

/// A use case that did not take effect; nothing was recorded unless the message says so.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// How to react.
    pub kind: Kind,
    /// Stable, kebab-case, e.g. `no-such-migration`.
    pub code: Cow<'static, str>,
    /// What is wrong, naming the thing.
    pub message: String,
}

/// The application layer's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `code`.
    pub fn new(
        kind: Kind,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Error {
        Error {
            kind,
            code: code.into(),
            // Whatever an error quotes of an input, it stays a few lines.
            message: crate::untrusted::bounded(message.into()),
        }
    }

    /// The request is wrong.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Error {
        Error::new(Kind::InvalidInput, code, message)
    }

    /// Something named does not exist, or the caller may not see it.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Error {
        Error::new(Kind::NotFound, code, message)
    }

    /// Only the platform operator may do this.
    pub fn operator_only(what: &str) -> Error {
        Error::new(
            Kind::Denied,
            "operator-only",
            format!("only the platform operator may {what}"),
        )
    }

    /// A failure that is not the caller's fault.
    pub fn internal(message: impl std::fmt::Display) -> Error {
        Error::new(Kind::Internal, "internal", message.to_string())
    }
}

impl From<crate::trust::Refused> for Error {
    fn from(refused: crate::trust::Refused) -> Error {
        Error::new(Kind::Denied, refused.code(), refused.to_string())
    }
}

impl From<Denied> for Error {
    fn from(denied: Denied) -> Error {
        let code = match &denied {
            Denied::UnknownUser(_) => "unknown-user",
            Denied::NoLicense { .. } => "no-license",
            Denied::MissingRole { .. } => "missing-role",
        };
        Error::new(Kind::Denied, code, format!("permission denied: {denied}"))
    }
}

impl From<migration::Rejection> for Error {
    fn from(rejection: migration::Rejection) -> Error {
        use migration::Rejection as R;
        let code = match &rejection {
            R::NoSuchItem(_) => "no-such-item",
            R::AmbiguousItem { .. } => "ambiguous-item",
            R::ActionNotAllowed { .. } => "action-not-allowed",
            R::TargetRequired { .. } => "target-required",
            R::NoSuchTarget { .. } => "no-such-target",
            R::AmbiguousTarget { .. } => "ambiguous-target",
            R::WrongConnector { .. } => "wrong-connector",
            R::NotUsable { .. } => "not-usable",
            R::WrongPhase { .. } => "wrong-phase",
            R::DryRun => "dry-run",
            R::NeedsInput { .. } => "needs-input",
            R::GatewayNeedsDefault { .. } => "gateway-needs-default",
        };
        let kind = match rejection.category() {
            migration::Category::InvalidInput => Kind::InvalidInput,
            migration::Category::Blocked => Kind::NeedsInput,
            migration::Category::Conflict => Kind::Conflict,
        };
        Error::new(kind, code, rejection.to_string())
    }
}

impl From<directory::Rejection> for Error {
    fn from(rejection: directory::Rejection) -> Error {
        use directory::Rejection as R;
        let code = match &rejection {
            R::TenantExists(_) => "tenant-exists",
            R::NoSuchTenant(_) => "no-such-tenant",
            R::EnvironmentExists { .. } => "environment-exists",
            R::DefaultEnvironmentExists { .. } => "default-environment-exists",
            R::NoSuchEnvironment { .. } => "no-such-environment",
            R::UserExists { .. } => "user-exists",
            R::NoSuchUser { .. } => "no-such-user",
            R::WrongTarget { .. } => "wrong-target",
            R::AlreadyGranted { .. } => "already-granted",
            R::NotGranted { .. } => "not-granted",
            R::CrossTenant { .. } => "cross-tenant",
            R::NoSuchToken(_) => "no-such-token",
            R::TokenAlreadyRevoked(_) => "token-revoked",
            R::TokenExists(_) => "token-exists",
            R::BadKey(_) => "bad-key",
            R::AlreadyTrusted { .. } => "already-trusted",
            R::NotTrusted { .. } => "not-trusted",
        };
        let kind = if rejection.is_conflict() {
            Kind::Conflict
        } else if rejection.is_not_found() {
            Kind::NotFound
        } else {
            Kind::InvalidInput
        };
        Error::new(kind, code, rejection.to_string())
    }
}

impl From<environment::author::Rejection> for Error {
    fn from(rejection: environment::author::Rejection) -> Error {
        let kind = match rejection {
            environment::author::Rejection::ConnectorExists(_)
            | environment::author::Rejection::InUse { .. } => Kind::Conflict,
            _ => Kind::InvalidInput,
        };
        Error::new(kind, "authoring-refused", rejection.to_string())
    }
}

impl From<directory::Error> for Error {
    fn from(error: directory::Error) -> Error {
        match error {
            directory::Error::Rejected(rejection) => rejection.into(),
            directory::Error::Log(e) => e.into(),
            other => Error::internal(other),
        }
    }
}

impl From<log::Error> for Error {
    fn from(error: log::Error) -> Error {
        match &error {
            log::Error::Conflict { .. } | log::Error::Changed { .. } => Error::new(
                Kind::Conflict,
                "concurrent-change",
                format!("{error}; someone else changed it first: look again and retry"),
            ),
            // Too large or malformed: what was asked, not the machine, is at fault.
            log::Error::Invalid { reason, .. } => Error::invalid(
                "too-large",
                format!("cannot record this: {reason}; make the input smaller"),
            ),
            log::Error::Locked { .. } => {
                Error::new(Kind::Unavailable, "data-dir-in-use", error.to_string())
            }
            _ => Error::internal(error),
        }
    }
}

impl From<executor::Error> for Error {
    fn from(error: executor::Error) -> Error {
        match error {
            executor::Error::Log(e) => e.into(),
            executor::Error::Directory(r) => r.into(),
            executor::Error::NoSuchMigration(id) => {
                Error::not_found("no-such-migration", format!("no import migration {id}"))
            }
            other => Error::internal(other),
        }
    }
}

impl From<data_dir::Error> for Error {
    fn from(error: data_dir::Error) -> Error {
        match error {
            data_dir::Error::NotInitialised { .. } => {
                Error::invalid("no-data-directory", error.to_string())
            }
            data_dir::Error::Incompatible { .. } => {
                Error::invalid("incompatible-data-directory", error.to_string())
            }
            data_dir::Error::Settings { .. } => Error::invalid("log-settings", error.to_string()),
            data_dir::Error::LogMissing { .. } => {
                Error::new(Kind::Tampered, "log-missing", error.to_string())
            }
            data_dir::Error::Log(e) => e.into(),
            other => Error::internal(other),
        }
    }
}

impl From<package::Error> for Error {
    fn from(error: package::Error) -> Error {
        Error::invalid(
            "package-invalid",
            format!("not a package Ferry can import: {error}"),
        )
    }
}
