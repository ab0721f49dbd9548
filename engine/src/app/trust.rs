//! Signed packages and each environment's import policy: the keys an environment trusts and
//! whether it imports only packages signed by one of them (`crate::trust` decides imports).
//! Changing them is the operator's; whoever sees an environment sees its policy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::directory::{environment_named, operator};
use super::{Caller, Ferry, Qualified, Result};
use crate::directory::{self, Command};

/// An environment's import policy as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyView {
    /// `<tenant>/<environment>`.
    pub environment: String,
    /// Only packages signed by a trusted key are imported.
    pub require_signed: bool,
    /// The trusted keys, by key.
    pub trusted: Vec<TrustedKey>,
}

/// A trusted signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TrustedKey {
    /// The ed25519 public key, 64 hex digits.
    pub key: String,
    /// What it is called in reviews and audits.
    pub name: String,
}

impl Ferry {
    /// `trust add <t>/<e> <key> [--name N]` (operator).
    pub fn trust(
        &self,
        caller: &Caller,
        environment: &Qualified,
        key: &str,
        name: &str,
    ) -> Result<PolicyView> {
        operator(caller, "trust signing keys")?;
        self.change_policy(
            caller,
            environment,
            Command::Trust {
                tenant: environment.tenant.clone(),
                environment: environment.name.clone(),
                key: key.to_owned(),
                name: name.to_owned(),
            },
        )
    }

    /// `trust remove <t>/<e> <key>` (operator).
    pub fn distrust(
        &self,
        caller: &Caller,
        environment: &Qualified,
        key: &str,
    ) -> Result<PolicyView> {
        operator(caller, "stop trusting signing keys")?;
        self.change_policy(
            caller,
            environment,
            Command::Distrust {
                tenant: environment.tenant.clone(),
                environment: environment.name.clone(),
                key: key.to_owned(),
            },
        )
    }

    /// `env policy <t>/<e> --require-signed | --allow-unsigned` (operator).
    pub fn set_policy(
        &self,
        caller: &Caller,
        environment: &Qualified,
        require_signed: bool,
    ) -> Result<PolicyView> {
        operator(caller, "set import policies")?;
        self.change_policy(
            caller,
            environment,
            Command::SetPolicy {
                tenant: environment.tenant.clone(),
                environment: environment.name.clone(),
                require_signed,
            },
        )
    }

    /// `trust list <t>/<e>`: an environment's policy and trusted keys.
    pub fn policy(&self, caller: &Caller, environment: &Qualified) -> Result<PolicyView> {
        self.directory(|state| {
            let env = environment_named(state, *caller, environment)?;
            let policy = state.policy(env.id);
            Ok(PolicyView {
                environment: environment.to_string(),
                require_signed: policy.require_signed,
                trusted: policy
                    .trusted
                    .iter()
                    .map(|(key, name)| TrustedKey {
                        key: key.clone(),
                        name: name.clone(),
                    })
                    .collect(),
            })
        })?
    }

    fn change_policy(
        &self,
        caller: &Caller,
        environment: &Qualified,
        command: Command,
    ) -> Result<PolicyView> {
        directory::execute(self.data_dir().log(), command)?;
        self.policy(caller, environment)
    }
}
