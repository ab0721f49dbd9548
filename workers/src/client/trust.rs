//! The client's calls for signing-key trust, import policies and answer skeletons.

use ferry_engine::app::{self, PolicyView, Qualified};
use serde_json::json;

use super::Client;

impl Client {
    /// `review <migration> --answers-template`.
    pub fn answers_template(
        &self,
        id: ferry_schemas::MigrationId,
    ) -> app::Result<app::AnswersTemplate> {
        self.get(&format!("/v1/imports/{id}/answers-template"))
    }

    /// `trust list <t>/<e>`.
    pub fn policy(&self, env: &Qualified) -> app::Result<PolicyView> {
        self.get(&format!("{}/policy", Self::environment_path(env)))
    }

    /// `env policy <t>/<e>`.
    pub fn set_policy(&self, env: &Qualified, require_signed: bool) -> app::Result<PolicyView> {
        let path = format!("{}/policy", Self::environment_path(env));
        self.answer(
            self.request("PUT", &path)
                .send_json(json!({ "require_signed": require_signed })),
        )
    }

    /// `trust add <t>/<e> <key>`.
    pub fn trust(&self, env: &Qualified, key: &str, name: &str) -> app::Result<PolicyView> {
        self.post(
            &format!("{}/trust", Self::environment_path(env)),
            &json!({ "key": key, "name": name }),
        )
    }

    /// `trust remove <t>/<e> <key>`.
    pub fn distrust(&self, env: &Qualified, key: &str) -> app::Result<PolicyView> {
        let path = format!("{}/trust/{key}", Self::environment_path(env));
        self.answer(self.get_request("DELETE", &path).call())
    }
}
