//! A package as an upload or `--package` gives it: read (zip, manifest, links, checksums,
//! signature), then everything done with it before an import is recorded (the review, the
//! inspect report, the import order).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let limits = ferry_engine::package::Limits::DEFAULT;
        if let Ok(package) = ferry_engine::package::read(data, &limits) {
            let _ = ferry_engine::package::inspect::Report::new(&package);
            if let ferry_engine::package::Contents::Legacy(legacy) = &package.contents {
                let _ = ferry_engine::package::review(legacy);
            }
        }
    });
}
