//! The API's client: the same use cases as `ferry_engine::app::Ferry`, over HTTP, returning
//! the same views and errors (a problem's kind and code become an `app::Error`'s). The CLI
//! uses it when a server holds the data directory, or when `FERRY_SERVER` names one.

use std::time::Duration;

use ferry_engine::app::{
    self, AppSpec, AsOf, AuditFilter, Authored, ConnectionSpec, ContentsView, EnvironmentView,
    ExportRequest, ExportView, GrantRequest, GrantView, ImportFilter, ImportRequest, ImportSummary,
    IssuedToken, Kind, ProvisionListed, ProvisionPublished, ProvisionStart, ProvisionStatus,
    ProvisionSummary, Published, Qualified, ReplayView, ResourceDetail, ResourceView, ReviewView,
    StatusView, TenantView, TokenView, UserView, VerifyView,
};
use ferry_engine::audit::facts::Fact;
use ferry_engine::audit::Checkpoint;
use ferry_schemas::directory::{License, Name};
use ferry_schemas::resource::Kind as ResourceKind;
use ferry_schemas::{MigrationId, ProvisionId, TokenId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

mod trust;

/// A server, and who the client is there.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: String,
    act_as: Option<String>,
    agent: ureq::Agent,
}

fn unavailable(base: &str, e: impl std::fmt::Display) -> app::Error {
    app::Error::new(
        Kind::Unavailable,
        "server-unreachable",
        format!("cannot reach the Ferry server at {base}: {e}"),
    )
}

fn segment(text: &str) -> String {
    // Names and ids are URL-safe; a free-form reference (a display name) may not be.
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client {
    /// A client of the server at `base` (`http://host:port`) proving itself with `token`;
    /// `act_as` makes an operator's token act for that user.
    pub fn new(base: &str, token: &str, act_as: Option<&Qualified>) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            act_as: act_as.map(ToString::to_string),
            agent,
        }
    }

    /// The server's URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: &str, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "POST" => self.agent.post(url),
            "PUT" => self.agent.put(url),
            _ => self.agent.patch(url),
        };
        request = request.header("Authorization", format!("Bearer {}", self.token));
        if let Some(user) = &self.act_as {
            request = request.header("Ferry-Act-As", user);
        }
        request
    }

    fn get_request(
        &self,
        method: &str,
        path: &str,
    ) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "DELETE" => self.agent.delete(url),
            _ => self.agent.get(url),
        };
        request = request.header("Authorization", format!("Bearer {}", self.token));
        if let Some(user) = &self.act_as {
            request = request.header("Ferry-Act-As", user);
        }
        request
    }

    fn answer<T: DeserializeOwned>(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> app::Result<T> {
        let mut response = sent.map_err(|e| unavailable(&self.base, e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(|e| unavailable(&self.base, e))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| {
                app::Error::internal(format!("the server's answer does not read: {e}"))
            });
        }
        Err(problem(status, &text))
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> app::Result<T> {
        self.answer(self.get_request("GET", path).call())
    }

    fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> app::Result<T> {
        self.answer(self.request("POST", path).send_json(body))
    }

    /// `tenant create`.
    pub fn create_tenant(&self, name: Name) -> app::Result<TenantView> {
        self.post("/v1/tenants", &json!({ "name": name }))
    }

    /// `tenant list`: every page of it after `after`, up to `limit` tenants.
    pub fn tenants(
        &self,
        after: Option<&Name>,
        limit: Option<usize>,
    ) -> app::Result<Vec<TenantView>> {
        const PAGE: usize = 1_000;
        let wanted = limit.unwrap_or(usize::MAX);
        let mut tenants: Vec<TenantView> = Vec::new();
        let mut after = after.map(ToString::to_string);
        loop {
            let size = PAGE.min(wanted - tenants.len());
            let mut path = format!("/v1/tenants?limit={size}");
            if let Some(after) = &after {
                path.push_str(&format!("&after={}", segment(after)));
            }
            let page: Vec<TenantView> = self.get(&path)?;
            let full = page.len() == size;
            after = page.last().map(|t| t.name.clone()).or(after);
            tenants.extend(page);
            if !full || tenants.len() >= wanted {
                return Ok(tenants);
            }
        }
    }

    /// `env create`.
    pub fn create_environment(
        &self,
        env: &Qualified,
        default: bool,
    ) -> app::Result<EnvironmentView> {
        self.post(
            &format!("/v1/tenants/{}/environments", env.tenant),
            &json!({ "name": env.name, "default": default }),
        )
    }

    /// `env list`.
    pub fn environments(&self, tenant: &Name) -> app::Result<Vec<EnvironmentView>> {
        self.get(&format!("/v1/tenants/{tenant}/environments"))
    }

    /// `user create`.
    pub fn create_user(&self, user: &Qualified, license: License) -> app::Result<UserView> {
        self.post(
            &format!("/v1/tenants/{}/users", user.tenant),
            &json!({ "name": user.name, "license": license }),
        )
    }

    /// `user set-license`.
    pub fn set_license(&self, user: &Qualified, license: License) -> app::Result<UserView> {
        self.post(
            &format!("/v1/tenants/{}/users/{}/license", user.tenant, user.name),
            &json!({ "license": license }),
        )
    }

    /// `user list`.
    pub fn users(&self, tenant: &Name) -> app::Result<Vec<UserView>> {
        self.get(&format!("/v1/tenants/{tenant}/users"))
    }

    /// `grant` / `revoke`.
    pub fn grant(&self, request: GrantRequest, revoke: bool) -> app::Result<GrantView> {
        let path = if revoke {
            "/v1/grants/revoke"
        } else {
            "/v1/grants"
        };
        self.post(
            path,
            &json!({ "user": request.user.to_string(), "role": request.role, "target": request.target }),
        )
    }

    /// `token create`.
    pub fn create_token(
        &self,
        user: Option<&Qualified>,
        lifetime: Option<chrono::Duration>,
    ) -> app::Result<IssuedToken> {
        self.post(
            "/v1/tokens",
            &json!({
                "user": user.map(ToString::to_string),
                "expires_in_seconds": lifetime.map(|l| l.num_seconds()),
            }),
        )
    }

    /// `token list`.
    pub fn tokens(&self, tenant: Option<&Name>) -> app::Result<Vec<TokenView>> {
        match tenant {
            Some(tenant) => self.get(&format!("/v1/tokens?tenant={tenant}")),
            None => self.get("/v1/tokens"),
        }
    }

    /// `token revoke`.
    pub fn revoke_token(&self, id: TokenId) -> app::Result<TokenView> {
        self.answer(
            self.get_request("DELETE", &format!("/v1/tokens/{id}"))
                .call(),
        )
    }

    /// `resource delete`.
    pub fn delete_resource(&self, env: &Qualified, reference: &str) -> app::Result<Authored> {
        self.answer(
            self.get_request(
                "DELETE",
                &format!(
                    "{}/resources/{}",
                    Self::environment_path(env),
                    segment(reference)
                ),
            )
            .call(),
        )
    }

    fn environment_path(env: &Qualified) -> String {
        format!("/v1/environments/{}/{}", env.tenant, env.name)
    }

    /// `resource list`.
    pub fn resources(
        &self,
        env: &Qualified,
        kind: Option<ResourceKind>,
    ) -> app::Result<Vec<ResourceView>> {
        let kind = kind
            .and_then(|k| serde_json::to_value(k).ok())
            .and_then(|v| v.as_str().map(|k| format!("?kind={k}")))
            .unwrap_or_default();
        self.get(&format!("{}/resources{kind}", Self::environment_path(env)))
    }

    /// `resource show`.
    pub fn resource(&self, env: &Qualified, reference: &str) -> app::Result<ResourceDetail> {
        self.get(&format!(
            "{}/resources/{}",
            Self::environment_path(env),
            segment(reference)
        ))
    }

    /// `import`.
    pub fn import(&self, request: ImportRequest) -> app::Result<ReviewView> {
        let answers: Vec<Value> = request
            .answers
            .iter()
            .map(|(item, choice)| json!({ "item": item, "choice": choice }))
            .collect();
        let mut path = format!(
            "{}/imports?dry_run={}",
            Self::environment_path(&request.into),
            request.dry_run
        );
        if !answers.is_empty() {
            path.push_str("&answers=");
            path.push_str(&segment(&Value::from(answers).to_string()));
        }
        let mut sent = self
            .request("POST", &path)
            .header("Content-Type", "application/zip");
        if let Some(key) = &request.idempotency_key {
            sent = sent.header("Idempotency-Key", key);
        }
        self.answer(sent.send(&request.package[..]))
    }

    /// `review`.
    pub fn review(&self, id: MigrationId) -> app::Result<ReviewView> {
        self.get(&format!("/v1/imports/{id}/review"))
    }

    /// `answer`.
    pub fn answer_import(
        &self,
        id: MigrationId,
        answers: &[(String, String)],
    ) -> app::Result<ReviewView> {
        let answers: Vec<Value> = answers
            .iter()
            .map(|(item, choice)| json!({ "item": item, "choice": choice }))
            .collect();
        self.post(
            &format!("/v1/imports/{id}/answers"),
            &json!({ "answers": answers }),
        )
    }

    /// `start`.
    pub fn start(&self, id: MigrationId, atomic: bool) -> app::Result<StatusView> {
        self.post(
            &format!("/v1/imports/{id}/start"),
            &json!({ "atomic": atomic }),
        )
    }

    /// `cancel`.
    pub fn cancel(&self, id: MigrationId, reason: &str) -> app::Result<StatusView> {
        self.post(
            &format!("/v1/imports/{id}/cancel"),
            &json!({ "reason": reason }),
        )
    }

    /// `promote`.
    pub fn promote(&self, id: MigrationId) -> app::Result<ReviewView> {
        self.post(&format!("/v1/imports/{id}/promote"), &json!({}))
    }

    /// `status <id>`.
    pub fn status(&self, id: MigrationId) -> app::Result<StatusView> {
        self.get(&format!("/v1/imports/{id}"))
    }

    /// `status`: every page of the filter's imports, up to its limit.
    pub fn imports(&self, filter: &ImportFilter) -> app::Result<Vec<ImportSummary>> {
        let wanted = filter.limit.unwrap_or(app::DEFAULT_IMPORTS);
        let mut imports: Vec<ImportSummary> = Vec::new();
        let mut before = filter.before;
        loop {
            let size = app::MAX_IMPORTS.min(wanted - imports.len());
            let mut path = format!("/v1/imports?limit={size}");
            let mut add = |name: &str, value: Option<String>| {
                if let Some(value) = value {
                    path.push_str(&format!("&{name}={}", segment(&value)));
                }
            };
            add("tenant", filter.tenant.as_ref().map(ToString::to_string));
            add(
                "environment",
                filter.environment.as_ref().map(ToString::to_string),
            );
            add("state", filter.state.clone());
            add("since", filter.since.map(|t| t.to_rfc3339()));
            add("before", before.map(|id| id.to_string()));
            let page: Vec<ImportSummary> = self.get(&path)?;
            let full = page.len() == size;
            before = page.last().map(|i| i.migration).or(before);
            imports.extend(page);
            if !full || imports.len() >= wanted {
                return Ok(imports);
            }
        }
    }

    /// Waits for the import to finish (completed or failed), reading its live results.
    pub fn wait(&self, id: MigrationId) -> app::Result<StatusView> {
        use std::io::BufRead as _;
        let mut response = self
            .get_request("GET", &format!("/v1/imports/{id}/events"))
            .header("Accept", "text/event-stream")
            .config()
            .timeout_global(None)
            .build()
            .call()
            .map_err(|e| unavailable(&self.base, e))?;
        if response.status().as_u16() != 200 {
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            return Err(problem(status, &text));
        }
        let reader = std::io::BufReader::new(response.body_mut().as_reader());
        let mut last = None;
        for line in reader.lines() {
            let line = line.map_err(|e| unavailable(&self.base, e))?;
            if let Some(data) = line.strip_prefix("data:") {
                last = Some(serde_json::from_str(data.trim()).map_err(|e| {
                    app::Error::internal(format!("the server's event does not read: {e}"))
                })?);
            }
        }
        match last {
            Some(view) => Ok(view),
            None => self.status(id),
        }
    }

    /// `publish <migration>`.
    pub fn publish_import(&self, id: MigrationId) -> app::Result<Vec<Published>> {
        self.post(&format!("/v1/imports/{id}/publish"), &json!({}))
    }

    /// `publish <t>/<e> --app`.
    pub fn publish(&self, env: &Qualified, reference: &str) -> app::Result<Published> {
        self.post(
            &format!("{}/publish", Self::environment_path(env)),
            &json!({ "resource": reference }),
        )
    }

    fn app_body(name: Option<&str>, spec: &AppSpec) -> Value {
        use base64::Engine as _;
        json!({
            "name": name.unwrap_or_default(),
            "document_base64": spec.document.as_ref().map(|d| base64::engine::general_purpose::STANDARD.encode(d)),
            "flows": spec.flows,
            "connectors": spec.connectors,
        })
    }

    /// `app create`.
    pub fn create_app(
        &self,
        env: &Qualified,
        name: String,
        spec: AppSpec,
    ) -> app::Result<Authored> {
        self.post(
            &format!("{}/apps", Self::environment_path(env)),
            &Self::app_body(Some(&name), &spec),
        )
    }

    /// `app edit`.
    pub fn edit_app(&self, env: &Qualified, app: &str, spec: AppSpec) -> app::Result<Authored> {
        self.post(
            &format!(
                "{}/apps/{}/draft",
                Self::environment_path(env),
                segment(app)
            ),
            &Self::app_body(None, &spec),
        )
    }

    /// `flow create`.
    pub fn create_flow(
        &self,
        env: &Qualified,
        name: String,
        definition: &[u8],
        connections: &[(String, String)],
    ) -> app::Result<Authored> {
        let definition = std::str::from_utf8(definition).map_err(|_| {
            app::Error::invalid(
                "bad-definition",
                "the flow definition is not UTF-8 JSON text",
            )
        })?;
        let connections: Vec<Value> = connections
            .iter()
            .map(|(reference, connection)| json!({ "reference": reference, "connection": connection }))
            .collect();
        self.post(
            &format!("{}/flows", Self::environment_path(env)),
            &json!({ "name": name, "definition": definition, "connections": connections }),
        )
    }

    /// `connector create`.
    pub fn create_connector(
        &self,
        env: &Qualified,
        technical: String,
        display_name: Option<String>,
        custom: bool,
    ) -> app::Result<Authored> {
        self.post(
            &format!("{}/connectors", Self::environment_path(env)),
            &json!({ "name": technical, "display_name": display_name, "custom": custom }),
        )
    }

    /// `connection create`.
    pub fn create_connection(
        &self,
        env: &Qualified,
        spec: ConnectionSpec,
    ) -> app::Result<Authored> {
        let secret = spec
            .secret
            .map(|s| {
                String::from_utf8(s).map_err(|_| {
                    app::Error::invalid(
                        "bad-secret",
                        "a secret sent to a server must be UTF-8 text",
                    )
                })
            })
            .transpose()?;
        self.post(
            &format!("{}/connections", Self::environment_path(env)),
            &json!({ "connector": spec.connector, "account": spec.account, "secret": secret, "gateway": spec.gateway }),
        )
    }

    /// `gateway create`.
    pub fn create_gateway(&self, env: &Qualified, name: String) -> app::Result<Authored> {
        self.post(
            &format!("{}/gateways", Self::environment_path(env)),
            &json!({ "name": name }),
        )
    }

    /// `export`: the export, then its package.
    pub fn export(&self, request: ExportRequest) -> app::Result<(ExportView, Vec<u8>)> {
        let actions: Vec<Value> = request
            .actions
            .iter()
            .map(|(resource, action)| json!({ "resource": resource, "action": action }))
            .collect();
        let comments: Vec<Value> = request
            .comments
            .iter()
            .map(|(resource, text)| json!({ "resource": resource, "text": text }))
            .collect();
        let view: ExportView = self.post(
            &format!("{}/exports", Self::environment_path(&request.environment)),
            &json!({
                "app": request.app, "name": request.name, "description": request.description,
                "actions": actions, "comments": comments, "drafts": request.drafts,
            }),
        )?;
        let mut response = self
            .get_request("GET", &format!("/v1/exports/{}/package", view.migration))
            .call()
            .map_err(|e| unavailable(&self.base, e))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| unavailable(&self.base, e))?;
        if status != 200 {
            return Err(problem(status, &String::from_utf8_lossy(&bytes)));
        }
        Ok((view, bytes))
    }

    fn bytes(&self, path: &str) -> app::Result<Vec<u8>> {
        let mut response = self
            .get_request("GET", path)
            .call()
            .map_err(|e| unavailable(&self.base, e))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| unavailable(&self.base, e))?;
        if status != 200 {
            return Err(problem(status, &String::from_utf8_lossy(&bytes)));
        }
        Ok(bytes)
    }

    /// `audit log`: every page of it.
    pub fn audit_log(&self, filter: &AuditFilter) -> app::Result<Vec<Fact>> {
        const PAGE: usize = 10_000;
        let mut query = Vec::new();
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                query.push(format!("{name}={}", segment(&value)));
            }
        };
        add("tenant", filter.tenant.as_ref().map(ToString::to_string));
        add("env", filter.environment.as_ref().map(ToString::to_string));
        add("actor", filter.actor.as_ref().map(ToString::to_string));
        add("resource", filter.resource.map(|r| r.to_string()));
        add("migration", filter.migration.map(|m| m.to_string()));
        add("since", filter.since.map(|t| t.to_rfc3339()));
        add("until", filter.until.map(|t| t.to_rfc3339()));
        let mut facts: Vec<Fact> = Vec::new();
        let mut after = filter.after;
        let wanted = filter.limit.unwrap_or(usize::MAX);
        loop {
            let mut page_query = query.clone();
            page_query.push(format!("limit={PAGE}"));
            if let Some(after) = after {
                page_query.push(format!("after={after}"));
            }
            let page: Vec<Fact> = self.get(&format!("/v1/audit/log?{}", page_query.join("&")))?;
            let full = page.len() == PAGE;
            after = page.last().map(|f| f.position).or(after);
            facts.extend(page);
            if !full || facts.len() >= wanted {
                facts.truncate(wanted);
                return Ok(facts);
            }
        }
    }

    /// `audit verify`.
    pub fn audit_verify(&self) -> app::Result<VerifyView> {
        self.get("/v1/audit/verify")
    }

    /// `audit checkpoint`.
    pub fn audit_checkpoint(&self) -> app::Result<Checkpoint> {
        self.post("/v1/audit/checkpoints", &json!({}))
    }

    /// `audit key`.
    pub fn audit_key(&self) -> app::Result<String> {
        let key: Value = self.get("/v1/audit/key")?;
        Ok(key["public_key"].as_str().unwrap_or_default().to_owned())
    }

    /// `audit replay`.
    pub fn audit_replay(&self, only: Option<MigrationId>) -> app::Result<ReplayView> {
        self.post("/v1/audit/replay", &json!({ "migration": only }))
    }

    /// `audit export`.
    pub fn audit_bundle(&self, tenant: &Name) -> app::Result<Vec<u8>> {
        self.bytes(&format!("/v1/audit/bundles/{tenant}"))
    }

    /// `env show [--as-of]`.
    pub fn environment_as_of(
        &self,
        env: &Qualified,
        as_of: Option<AsOf>,
    ) -> app::Result<ContentsView> {
        let query = match as_of {
            None => String::new(),
            Some(AsOf::Position(p)) => format!("?as_of={p}"),
            Some(AsOf::Time(t)) => format!("?as_of={}", segment(&t.to_rfc3339())),
        };
        self.get(&format!("{}/contents{query}", Self::environment_path(env)))
    }

    /// `provision`: the server runs it; this waits until it stops running.
    pub fn provision(&self, start: ProvisionStart) -> app::Result<ProvisionSummary> {
        use base64::Engine as _;
        let state: crate::server::ProvisionState = match start {
            ProvisionStart::Resume(id) => {
                self.post(&format!("/v1/provisions/{id}/resume"), &json!({}))?
            }
            ProvisionStart::New(request) => {
                let text = |bytes: Vec<u8>, what: &str| {
                    String::from_utf8(bytes).map_err(|_| {
                        app::Error::invalid(
                            "provision-invalid",
                            format!("the {what} is not UTF-8 text"),
                        )
                    })
                };
                self.post(
                    "/v1/provisions",
                    &json!({
                        "package_base64": base64::engine::general_purpose::STANDARD.encode(&request.package),
                        "targets": text(request.targets, "targets file")?,
                        "template": request.template.map(|t| text(t, "answer template")).transpose()?,
                        "waves": request.waves,
                        "max_failure_permille": request.max_failure_permille,
                        "create_envs": request.create_envs,
                        "concurrency": request.concurrency,
                    }),
                )?
            }
        };
        let id = state.summary.provision;
        let mut state = state;
        while state.running {
            // The server runs it; its totals are read again until it stops.
            std::thread::sleep(Duration::from_millis(250));
            state = self.get(&format!("/v1/provisions/{id}"))?;
        }
        match state.error {
            Some(problem) => Err(app::Error::new(
                Kind::parse(&problem.title).unwrap_or(Kind::Internal),
                problem.code,
                problem.detail,
            )),
            None => Ok(state.summary),
        }
    }

    /// `provision status`.
    pub fn provisions(&self) -> app::Result<Vec<ProvisionListed>> {
        self.get("/v1/provisions")
    }

    /// `provision status <id>`.
    pub fn provision_status(&self, id: ProvisionId) -> app::Result<ProvisionStatus> {
        self.get(&format!("/v1/provisions/{id}/targets"))
    }

    /// `provision publish`.
    pub fn publish_provision(&self, id: ProvisionId) -> app::Result<ProvisionPublished> {
        self.post(&format!("/v1/provisions/{id}/publish"), &json!({}))
    }
}

/// A problem+json reply as the application layer's error.
fn problem(status: u16, text: &str) -> app::Error {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let kind = body["title"]
        .as_str()
        .and_then(Kind::parse)
        .unwrap_or(match status {
            401 => Kind::Unauthenticated,
            403 => Kind::Denied,
            404 => Kind::NotFound,
            409 => Kind::Conflict,
            400..=499 => Kind::InvalidInput,
            503 => Kind::Unavailable,
            _ => Kind::Internal,
        });
    let code = body["code"].as_str().unwrap_or("http-error").to_owned();
    let detail = body["detail"].as_str().map_or_else(
        || format!("the server answered {status}: {text}"),
        str::to_owned,
    );
    app::Error::new(kind, code, detail)
}
