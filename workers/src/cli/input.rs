//! Files named on the command line, read as the untrusted input they are: each kind of file
//! has a cap, a file is read only up to just past it (so `/dev/zero` or a 100 MB CSV costs
//! the cap, not the machine), and every error names the file, what it was for and the cap.

use std::io::Read;
use std::path::Path;

use super::directory::fail;
use super::exit;

/// What a file is for, and the most bytes Ferry reads of it.
#[derive(Clone, Copy, Debug)]
pub struct Input {
    /// What the file is, in an error: "targets file".
    pub what: &'static str,
    /// The most bytes it may have.
    pub limit: u64,
}

/// A package zip: the codec's own cap.
pub const PACKAGE: Input = Input {
    what: "package",
    limit: ferry_engine::package::Limits::DEFAULT.max_archive_bytes,
};
/// A provisioning's targets CSV (a million targets fit).
pub const TARGETS: Input = Input {
    what: "targets file",
    limit: 64 << 20,
};
/// An answers file.
pub const ANSWERS: Input = Input {
    what: "answers file",
    limit: 1 << 20,
};
/// A provisioning's answer template.
pub const TEMPLATE: Input = Input {
    what: "answer template",
    limit: 1 << 20,
};
/// A flow definition.
pub const FLOW_DEFINITION: Input = Input {
    what: "flow definition",
    limit: 16 << 20,
};
/// A canvas app document.
pub const CANVAS_DOCUMENT: Input = Input {
    what: "canvas document",
    limit: 16 << 20,
};
/// A connection's secret.
pub const SECRET: Input = Input {
    what: "secret file",
    limit: 64 << 10,
};
/// A package signing key.
pub const SIGNING_KEY: Input = Input {
    what: "signing key",
    limit: 4 << 10,
};
/// An audit bundle.
pub const BUNDLE: Input = Input {
    what: "audit bundle",
    limit: 128 << 20,
};

/// Reads `path` as `input`, or says why not.
pub fn read(path: &Path, input: Input) -> Result<Vec<u8>, u8> {
    let cannot = |e: std::io::Error| {
        fail(
            &format!("cannot read the {} {}: {e}", input.what, path.display()),
            exit::INVALID_INPUT,
        )
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(input.limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > input.limit {
        return Err(fail(
            &format!(
                "the {} {} is larger than {} (the most Ferry reads of a {}); check it is the file you meant",
                input.what,
                path.display(),
                size(input.limit),
                input.what
            ),
            exit::INVALID_INPUT,
        ));
    }
    Ok(bytes)
}

/// Reads `path` as `input`, as UTF-8 text.
pub fn read_text(path: &Path, input: Input) -> Result<String, u8> {
    String::from_utf8(read(path, input)?).map_err(|e| {
        fail(
            &format!(
                "the {} {} is not UTF-8 text (byte {} is not); check it is the file you meant",
                input.what,
                path.display(),
                e.utf8_error().valid_up_to()
            ),
            exit::INVALID_INPUT,
        )
    })
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}
