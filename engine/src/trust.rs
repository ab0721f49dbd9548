//! Which packages an environment imports: its policy (`require_signed`) and the signing keys
//! it trusts, as pure checks over the directory. The same rule for an import, a provisioning
//! target and every front-end.
//!
//! - Policy set: only a package whose signature verified, by a key trusted in the target
//!   environment, is imported; unsigned, untrusted and (already at reading) tampered packages
//!   are refused with the reason.
//! - No policy: every package is imported; the import records who signed it, or that no one
//!   did, so reviews and audits show it.

use ferry_schemas::event::Signer;
use ferry_schemas::EnvironmentId;

use crate::directory::State;

/// Why an environment refuses a package.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The environment takes signed packages only, and this one is unsigned.
    #[error(
        "{environment} imports only packages signed by a key it trusts; this package is unsigned"
    )]
    Unsigned {
        /// `tenant/environment`.
        environment: String,
    },
    /// Signed, but by a key the environment does not trust.
    #[error("{environment} imports only packages signed by a key it trusts; this package is signed by key {key}, which it does not trust")]
    Untrusted {
        /// `tenant/environment`.
        environment: String,
        /// The signer's key.
        key: String,
    },
}

impl Refused {
    /// The stable code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::Unsigned { .. } => "unsigned-package",
            Refused::Untrusted { .. } => "untrusted-signer",
        }
    }
}

/// Whether `environment` imports a package signed by `signer` (None: unsigned); the signer as
/// the import records it (with the name the environment knows the key by).
pub fn admits(
    directory: &State,
    environment: EnvironmentId,
    signer: Option<&str>,
) -> Result<Option<Signer>, Refused> {
    let policy = directory.policy(environment);
    let named = || {
        directory
            .environment_by_id(environment)
            .map(|e| {
                let tenant = directory
                    .tenant_by_id(e.tenant)
                    .map_or_else(String::new, |t| t.name.to_string());
                format!("{tenant}/{}", e.name)
            })
            .unwrap_or_else(|| environment.to_string())
    };
    let signer = signer.map(|key| Signer {
        key: key.to_owned(),
        trusted_as: policy.trusted.get(key).cloned(),
    });
    if policy.require_signed {
        match &signer {
            None => {
                return Err(Refused::Unsigned {
                    environment: named(),
                })
            }
            Some(s) if s.trusted_as.is_none() => {
                return Err(Refused::Untrusted {
                    environment: named(),
                    key: s.key.clone(),
                })
            }
            Some(_) => {}
        }
    }
    Ok(signer)
}
