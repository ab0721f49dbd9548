//! Opening a data directory: the standalone CLI's point queries with the saved projections
//! against the same query when they must first be rebuilt from the log (what every command
//! did before they were saved), and `tenant list` (the directory alone).

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
    /// `tenant list` (every tenant: the directory stream).
    pub tenants: f64,
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
    let tenants = cli_median(data, &["tenant", "list", "--json"], 5, || {})?;
    let folder = data.join(DataDir::PROJECTIONS);
    let rebuilt = cli_median(data, &query, 5, || {
        let _ = std::fs::remove_dir_all(&folder);
    })?;
    Ok(Opens {
        saved,
        rebuilt,
        status,
        tenants,
    })
}
