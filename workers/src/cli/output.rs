//! Files Ferry writes where the command line says (`--out`): a new file or a regular file
//! replaced whole — written to a temporary file beside it, fsynced, renamed over it, the
//! folder fsynced — so a reader never sees half a package. Anything else at that path (a
//! device such as `/dev/full`, a folder, a symlink, a FIFO) is refused, never replaced.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use super::directory::fail;
use super::exit;

/// Writes `bytes` to `path` as a whole, or says why not.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), u8> {
    if let Ok(existing) = std::fs::symlink_metadata(path) {
        let kind = existing.file_type();
        if !kind.is_file() {
            let what = if kind.is_dir() {
                "a folder"
            } else if kind.is_symlink() {
                "a symbolic link"
            } else if kind.is_char_device() || kind.is_block_device() {
                "a device"
            } else if kind.is_fifo() {
                "a named pipe"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "not a regular file"
            };
            return Err(fail(
                &format!(
                    "--out {} is {what}; Ferry writes only a new file or replaces a regular one: name a file path",
                    path.display()
                ),
                exit::INVALID_INPUT,
            ));
        }
    }
    let file_name = path.file_name().ok_or_else(|| {
        fail(
            &format!("--out {} is not a file path", path.display()),
            exit::INVALID_INPUT,
        )
    })?;
    let failed = |e: std::io::Error| {
        fail(
            &format!("cannot write {}: {e}", path.display()),
            exit::FAILURE,
        )
    };
    let tmp = path.with_file_name(format!(".{}.ferry-tmp", file_name.to_string_lossy()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            failed(e)
        })?;
    // The rename is durable once the folder is.
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(folder)
        .and_then(|f| f.sync_all())
        .map_err(failed)
}
