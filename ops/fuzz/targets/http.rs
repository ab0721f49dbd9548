//! A request to `ferry serve`'s API as any client could send it: every route of the OpenAPI
//! document, with or without the operator's token, with path parameters and a query string the
//! fuzzer chooses, and any body. Sent to the server's own router (its layers included) over
//! one data directory, so requests build on each other. Each process the fuzzer forks makes its
//! own directory on its first request (a directory made before the fork would be shared by
//! processes whose memory of it differs), and a fresh one every few hundred requests (see
//! [`REQUESTS_PER_DIRECTORY`]).
//!
//! An input is `[route][flags][segment…]\n[body…]`: `route` picks a route of the document
//! (modulo their number); flag 1 sends the operator's token, flag 2 fills every path parameter
//! with `segment` (else `acme`, `prod` and the like, which the setup created), flag 4 appends
//! `segment` as the query string. A panic, an answer 500 or an answer that does not come
//! within the fuzzer's time is a finding.
//!
//! `http --seeds DIR [PACKAGE]` writes one input per route into DIR (a zip route gets PACKAGE);
//! `FERRY_FUZZ_SHOW=1` prints each request's answer; `FERRY_FUZZ_SLOW=FILE` notes there every
//! request over 20 ms (which routes slow a campaign down).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt as _;

/// What the path parameters are when the fuzzer does not choose them.
fn known(parameter: &str) -> &'static str {
    match parameter {
        "tenant" => "acme",
        "env" | "environment" => "prod",
        "user" => "ann",
        _ => "00000000-0000-0000-0000-000000000001",
    }
}

struct Route {
    method: Method,
    path: String,
    zip: bool,
}

fn routes(openapi: &str) -> Vec<Route> {
    let doc: serde_json::Value = serde_json::from_str(openapi).expect("the server's document");
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let zip = operation["requestBody"]["content"]
                .get("application/zip")
                .is_some();
            routes.push(Route {
                method,
                path: path.clone(),
                zip,
            });
        }
    }
    routes.sort_by(|a, b| (&a.path, a.method.as_str()).cmp(&(&b.path, b.method.as_str())));
    routes
}

/// `template` with every `{parameter}` replaced.
fn fill(template: &str, segment: Option<&str>) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let name = &rest[open + 1..close.min(rest.len())];
        match segment {
            Some(segment) => path.push_str(&encode(segment)),
            None => path.push_str(known(name)),
        }
        rest = rest.get(close + 1..).unwrap_or("");
    }
    path.push_str(rest);
    path
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Requests one data directory serves before a fresh one replaces it. The fuzzer runs one
/// process for as long as no input crashes or hangs it, so without this its history would
/// grow without end, and the routes whose work grows with history (`audit verify`, `audit
/// replay`, bundles) with it: what must take under a second is one request on a history of a
/// few hundred, not one on whatever the campaign has piled up.
const REQUESTS_PER_DIRECTORY: u32 = 500;

struct Server {
    dir: std::path::PathBuf,
    runtime: tokio::runtime::Runtime,
    /// Taken when the server goes: Ferry (its log, its sled store) closes before its
    /// directory is removed.
    router: Option<axum::Router>,
    token: String,
    routes: Vec<Route>,
}

impl Server {
    fn start() -> Server {
        // In memory when the machine has a tmpfs: fsyncs there cost nothing.
        let base = std::path::Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = base.join(format!("ferry-fuzz-http-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ferry_engine::data_dir::DataDir::init(&dir, ferry_engine::log::Options::default())
            .expect("a data directory");
        let ferry = ferry_engine::app::Ferry::open(ferry_engine::app::Options::new(&dir))
            .expect("Ferry opens");
        let token = "ferry-local_fuzz".to_owned();
        let (_stop, stopping) = tokio::sync::watch::channel(false);
        std::mem::forget(_stop);
        let state = ferry_workers::server::AppState::new(ferry, token.clone(), stopping)
            .expect("the server's state");
        state.ready.store(true, std::sync::atomic::Ordering::SeqCst);
        let routes = routes(&state.openapi);
        // Few threads: the fuzzer's `-m` limits the address space, which every thread's
        // stack takes from.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(64)
            .thread_stack_size(512 << 10)
            .enable_all()
            .build()
            .expect("a runtime");
        let server = Server {
            dir,
            runtime,
            router: Some(ferry_workers::server::router(state)),
            token,
            routes,
        };
        for (path, body) in [
            ("/v1/tenants", r#"{"name":"acme"}"#),
            (
                "/v1/tenants/acme/environments",
                r#"{"name":"prod","default":true}"#,
            ),
            ("/v1/tenants/acme/environments", r#"{"name":"dev"}"#),
            (
                "/v1/tenants/acme/users",
                r#"{"name":"ann","license":"plan2"}"#,
            ),
        ] {
            let status = server.send(Method::POST, path, true, body.as_bytes().to_vec());
            assert!(
                status.is_some_and(|s| s.is_success()),
                "the setup's POST {path} answered {status:?}"
            );
        }
        server
    }

    fn send(&self, method: Method, uri: &str, authed: bool, body: Vec<u8>) -> Option<StatusCode> {
        let mut request = Request::builder().method(method).uri(uri);
        if authed {
            request = request.header("authorization", format!("Bearer {}", self.token));
        }
        let request = request
            .header("content-type", "application/json")
            .header("content-length", body.len())
            .body(Body::from(body))
            .ok()?;
        let router = self.router.clone()?;
        self.runtime.block_on(async move {
            let response = router.oneshot(request).await.expect("infallible");
            let status = response.status();
            let streams = response
                .headers()
                .get("content-type")
                .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
            // A live stream runs until its migration ends; what it opened with is enough.
            if !streams {
                axum::body::to_bytes(response.into_body(), 256 << 20)
                    .await
                    .expect("the body of an answer");
            }
            Some(status)
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.router.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_seeds(dir: &std::path::Path, package: Option<&std::path::Path>) {
    let server = Server::start();
    let package = package.map(|p| std::fs::read(p).expect("the seed package"));
    std::fs::create_dir_all(dir).expect("the seed folder");
    let json = br#"{"name":"beta","default":true,"license":"plan2","tenant":"acme","environment":"prod","user":"ann","role":"maker"}"#;
    for (i, route) in server.routes.iter().enumerate() {
        let mut input = vec![i as u8, 1, b'\n'];
        match (&package, route.zip) {
            (Some(zip), true) => input.extend_from_slice(zip),
            _ => input.extend_from_slice(json),
        }
        std::fs::write(dir.join(format!("route-{i:03}")), input).expect("a seed");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--seeds") {
        let dir = std::path::Path::new(args.get(2).expect("--seeds DIR"));
        write_seeds(dir, args.get(3).map(std::path::Path::new));
        return;
    }
    // FERRY_FUZZ_SHOW=1 prints each request's answer (to see how deep the seeds go).
    let show = std::env::var_os("FERRY_FUZZ_SHOW").is_some();
    // A request that panics ends the process, so nothing half-done is seen again.
    let mut serving = (None::<Server>, 0u32);
    if args.get(1).map(String::as_str) == Some("--replay") {
        // The inputs one after another in one process, as the fuzzer's persistent mode sends
        // them: a finding that needs the requests before it is seen again.
        for path in &args[2..] {
            let data = std::fs::read(path).expect("an input");
            let started = std::time::Instant::now();
            request(&mut serving, &data, show);
            eprintln!("{path}: {} ms", started.elapsed().as_millis());
        }
        return;
    }
    let mut serving = std::panic::AssertUnwindSafe(serving);
    afl::fuzz!(|data: &[u8]| request(&mut serving, data, show));
}

/// Sends the request `data` describes (see the module's documentation).
fn request(serving: &mut (Option<Server>, u32), data: &[u8], show: bool) {
    let [route, flags, rest @ ..] = data else {
        return;
    };
    let (slot, served) = serving;
    *served += 1;
    if *served % REQUESTS_PER_DIRECTORY == 0 {
        // Closed (it saves and closes its stores) before the next one opens: one server's
        // threads and caches at a time, within the fuzzer's address-space limit.
        *slot = None;
    }
    let server = slot.get_or_insert_with(Server::start);
    let route = &server.routes[usize::from(*route) % server.routes.len()];
    let (segment, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(end) => (&rest[..end.min(200)], &rest[end + 1..]),
        None => (&rest[..rest.len().min(200)], &[][..]),
    };
    let segment = String::from_utf8_lossy(segment);
    let mut uri = fill(&route.path, (flags & 2 != 0).then_some(&*segment));
    if flags & 4 != 0 {
        uri.push('?');
        uri.push_str(&segment.replace(['#', ' '], "%20"));
    }
    let started = std::time::Instant::now();
    let Some(status) = server.send(route.method.clone(), &uri, flags & 1 != 0, body.to_vec())
    else {
        return;
    };
    // FERRY_FUZZ_SLOW=FILE notes every request over 20 ms there (which routes slow a campaign).
    if let Some(file) = std::env::var_os("FERRY_FUZZ_SLOW") {
        let took = started.elapsed();
        if took > std::time::Duration::from_millis(20) {
            use std::io::Write as _;
            if let Ok(mut out) = std::fs::OpenOptions::new().create(true).append(true).open(file) {
                let _ = writeln!(
                    out,
                    "{} ms {} {uri} ({} body bytes) -> {status} after {served} requests",
                    took.as_millis(),
                    route.method,
                    body.len()
                );
            }
        }
    }
    if show {
        eprintln!("{} {uri} -> {status}", route.method);
    }
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{} {uri} answered 500",
        route.method
    );
}
