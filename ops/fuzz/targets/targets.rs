//! A provisioning targets file (CSV with a header and answer columns).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = ferry_engine::provision::targets::parse(text);
        }
    });
}
