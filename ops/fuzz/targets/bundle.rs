//! An audit bundle as `ferry audit verify --bundle` reads it.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = ferry_engine::audit::bundle::verify(data, None);
    });
}
