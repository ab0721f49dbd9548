//! A real `ferry serve` process over a test data directory, and a real HTTP client for it.
//!
//! [`Server::start`] runs the binary with `--listen 127.0.0.1:0`, reads the URL it prints as
//! its first line and waits until `/readyz` answers 200. [`Server::stop`] sends SIGTERM and
//! returns the exit status; dropping a running server kills it.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cli::Ferry;

/// A running server.
pub struct Server {
    child: Option<Child>,
    /// Kept open: the server may print more, and a closed pipe would stop it.
    _stdout: BufReader<ChildStdout>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    agent: ureq::Agent,
}

/// One answer: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body, as JSON.
    pub body: Value,
    /// The body as text.
    pub text: String,
    /// The `Location` header, if any.
    pub location: Option<String>,
    /// The `Content-Type` header.
    pub content_type: String,
}

impl Server {
    /// Starts `ferry serve` on `f`'s data directory.
    pub fn start(f: &Ferry) -> Server {
        // The request log goes to a file of the work directory, as JSON lines.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(f.path("server.log"))
            .unwrap();
        let mut child = f
            .command("serve --listen 127.0.0.1:0 --json --workers 4 --log-format json")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let listening: Value = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("the first line {first:?} is not JSON: {e}"));
        let url = listening["url"].as_str().unwrap().to_owned();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let server = Server {
            child: Some(child),
            _stdout: stdout,
            url,
            agent,
        };
        server.wait_until("ready", |s| s.get("/readyz", None).status == 200);
        server
    }

    /// Waits (bounded: 60 s) until `condition` holds.
    pub fn wait_until(&self, what: &str, condition: impl Fn(&Server) -> bool) {
        self.wait_within(what, 60, condition);
    }

    /// Waits (bounded: `seconds`) until `condition` holds.
    pub fn wait_within(&self, what: &str, seconds: u64, condition: impl Fn(&Server) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while !condition(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn reply(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut response = result.unwrap();
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let location = header("location");
        let content_type = header("content-type").unwrap_or_default();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text,
            location,
            content_type,
        }
    }

    /// `GET path` with `token` (none: no Authorization header).
    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        Self::reply(request.call())
    }

    /// `GET path`'s body as bytes (a package).
    pub fn bytes(&self, path: &str, token: &str) -> Vec<u8> {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.body_mut().read_to_vec().unwrap()
    }

    /// `method path` with a JSON body.
    pub fn send(&self, method: &str, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let url = format!("{}{path}", self.url);
        let mut request = match method {
            "POST" => self.agent.post(url),
            "PUT" => self.agent.put(url),
            "DELETE" => {
                let mut request = self.agent.delete(url);
                if let Some(token) = token {
                    request = request.header("Authorization", format!("Bearer {token}"));
                }
                return Self::reply(request.call());
            }
            other => panic!("no such method {other}"),
        };
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        Self::reply(request.send_json(body))
    }

    /// `POST path` with a JSON body and extra headers.
    pub fn post_with(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {token}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::reply(request.send_json(body))
    }

    /// `POST path` with raw bytes and extra headers.
    pub fn upload(&self, path: &str, token: &str, bytes: &[u8], headers: &[(&str, &str)]) -> Reply {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/zip");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::reply(request.send(bytes))
    }

    /// Reads the Server-Sent Events at `path` until the stream ends; returns each event's
    /// data, parsed.
    pub fn events(&self, path: &str, token: &str) -> Vec<Value> {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "text/event-stream")
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let reader = BufReader::new(response.body_mut().as_reader());
        reader
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| line.strip_prefix("data:").map(|d| d.trim().to_owned()))
            .map(|data| serde_json::from_str(&data).unwrap())
            .collect()
    }

    /// Sends SIGTERM and waits for the process; returns its exit code.
    pub fn stop(mut self) -> i32 {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
