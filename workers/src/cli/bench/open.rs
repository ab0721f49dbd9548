//! Opening a data directory: the standalone CLI's point queries with the saved projections
//! against the same query when they must first be rebuilt from the log (what every command
//! did before they were saved), and a page of `tenant list` (the directory alone).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ferry_engine::data_dir::DataDir;

use super::err;

/// What [`measure`] found, in milliseconds (medians).
pub(super) struct Opens {
    /// `resource list <one environment>` with the projections saved.
    pub saved: f64,
    /// The same, the projections removed before each run.
    pub rebuilt: f64,
    /// `status <one import>` with the projections saved.
    pub status: f64,
    /// `tenant list --limit 100`: a page of the directory.
    pub tenants: f64,
    /// `ferry serve` started to its first answered readiness probe (caught up with the log).
    pub restart: f64,
}

/// Median milliseconds of `runs` runs of `ferry --data-dir D <args>`, `before` run ahead of
/// each (not timed). Exit codes 0 and 3 (blocked) count as answers.
pub(super) fn cli_median(
    data: &Path,
    args: &[&str],
    runs: usize,
    before: impl Fn(),
) -> Result<f64, u8> {
    let exe = std::env::current_exe().map_err(err)?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        before();
        let at = Instant::now();
        let out = Command::new(&exe)
            .env_remove("FERRY_SERVER")
            .env_remove("FERRY_TOKEN")
            .env_remove("FERRY_AS")
            .arg("--data-dir")
            .arg(data)
            .args(args)
            .output()
            .map_err(err)?;
        if !out.status.success() && out.status.code() != Some(3) {
            return Err(err(format!(
                "`ferry {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        times.push(at.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The point queries on `data` (provisioned targets `t0/prod`…, the first one's import
/// `import`), 5 runs each.
pub(super) fn measure(data: &Path, import: &str) -> Result<Opens, u8> {
    let query = ["resource", "list", "t0/prod", "--json"];
    // Whatever the provisioning left unsaved is saved by this first run.
    cli_median(data, &query, 1, || {})?;
    let saved = cli_median(data, &query, 5, || {})?;
    let status = cli_median(data, &["status", import, "--json"], 5, || {})?;
    let tenants = cli_median(
        data,
        &["tenant", "list", "--limit", "100", "--json"],
        5,
        || {},
    )?;
    let restart = restart_median(data, 3)?;
    let folder = data.join(DataDir::PROJECTIONS);
    let rebuilt = cli_median(data, &query, 5, || {
        let _ = std::fs::remove_dir_all(&folder);
    })?;
    Ok(Opens {
        saved,
        rebuilt,
        status,
        tenants,
        restart,
    })
}

/// Median milliseconds from starting `ferry serve` on `data` to the first `GET /readyz`
/// answered 200 (the projections caught up with the log), over `runs` restarts; each server
/// is stopped with SIGTERM, as an operator's restart would.
fn restart_median(data: &Path, runs: usize) -> Result<f64, u8> {
    use std::io::BufRead as _;
    let exe = std::env::current_exe().map_err(err)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let at = Instant::now();
        let mut server = Command::new(&exe)
            .arg("--data-dir")
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(err)?;
        let answered = (|| {
            let stdout = server.stdout.take().ok_or_else(|| err("no stdout"))?;
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map_err(err)?;
            let url: serde_json::Value = serde_json::from_str(&line).map_err(err)?;
            let url = url["url"]
                .as_str()
                .ok_or_else(|| err("`ferry serve` printed no url"))?;
            let ready = format!("{url}/readyz");
            let deadline = Instant::now() + std::time::Duration::from_secs(600);
            while Instant::now() < deadline {
                if agent.get(&ready).call().is_ok_and(|r| r.status() == 200) {
                    return Ok(at.elapsed().as_secs_f64() * 1000.0);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(err("`ferry serve` was not ready within 10 minutes"))
        })();
        let _ = Command::new("kill").arg(server.id().to_string()).status();
        let _ = server.wait();
        times.push(answered?);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
