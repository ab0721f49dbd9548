//! An answer template (TOML), and the error a person would be shown for it.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = ferry_engine::provision::template::parse(text);
            if let Err(e) = toml::from_str::<toml::Table>(text) {
                let said = ferry_engine::untrusted::toml_error(&e, text);
                assert!(said.len() < 1_000, "a TOML error stays short");
            }
        }
    });
}
