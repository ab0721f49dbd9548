//! Seeing an environment's contents: `resource list` and `resource show`.

use ferry_schemas::resource::Kind;

use super::directory::environment_named;
use super::imports::find;
use super::views::{ResourceDetail, ResourceView};
use super::{Caller, Ferry, Qualified, Result};

impl Ferry {
    /// `resource list <t>/<e> [--kind K]`, for whoever may see the environment.
    pub fn resources(
        &self,
        caller: &Caller,
        environment: &Qualified,
        kind: Option<Kind>,
    ) -> Result<Vec<ResourceView>> {
        self.world(|w| {
            let env = environment_named(&w.directory, *caller, environment)?;
            Ok(w.contents
                .of(env.id)
                .into_iter()
                .filter(|r| kind.is_none_or(|k| r.kind == k))
                .map(ResourceView::from)
                .collect())
        })?
    }

    /// `resource show <t>/<e> <id|name>`.
    pub fn resource(
        &self,
        caller: &Caller,
        environment: &Qualified,
        reference: &str,
    ) -> Result<ResourceDetail> {
        self.world(|w| {
            let env = environment_named(&w.directory, *caller, environment)?;
            find(w, env.id, &Kind::ALL, reference).map(ResourceDetail::from)
        })?
    }
}
